/**
 * The monitoring of a chat-relay, one concern per file (the layout of cdk-monitoring-constructs):
 * the construct, its props, the alarm topic, the alarm set, the dashboard sections, the
 * thresholds, the metric helpers and the validation.
 */
export { type AlarmTopic, createAlarmTopic } from './alarm-topic.js';
export { type AlarmSet, createAlarmSet } from './alarms.js';
export { addDashboardSections } from './dashboard.js';
export * from './metrics.js';
export { ChatRelayMonitoring } from './monitoring.js';
export * from './props.js';
export * from './thresholds.js';
export { resolveThresholds, validateMonitoringSettings } from './validation.js';
