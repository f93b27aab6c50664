/**
 * chat-relay's public API: the `ChatRelay` construct and its props, the deployable
 * `ChatRelayStack`, prop validation, and the responder contract types (`TurnContext`,
 * `Reply`…) a `lambda` responder implements.
 */

export { QUEUE_DEFINITIONS, TABLE_DEFINITIONS } from '../lambdas/contracts/definitions.js';
export {
  METRIC_LIST,
  METRICS,
  METRICS_NAMESPACE,
  type MetricName,
} from '../lambdas/contracts/metrics.js';
export {
  BEDROCK_MODEL_ID_PATTERN,
  bedrockTarget,
  DEFAULT_BEDROCK_MODEL_ID,
  grantBedrockInvoke,
} from './bedrock.js';
export { ChatRelay } from './chat-relay.js';
export type {
  BedrockResponderConfig,
  EchoResponderConfig,
  LambdaResponderConfig,
  ResponderConfig,
} from './conversation.js';
export { RelayConversation } from './conversation.js';
export { RelayDelivery } from './delivery.js';
export {
  FUNCTION_DEFAULTS,
  RelayFunction,
  type RelayFunctionDefaults,
  type RelayLogLevel,
} from './function-defaults.js';
export { ACCESS_LOG_FIELDS, RelayIngest, WEBHOOK_ROUTE_PATH } from './ingest.js';
export { ChatRelayMedia, type ChatRelayMediaProps, DEFAULT_MEDIA_MAX_BYTES } from './media.js';
export {
  type ChatRelayMetricOptions,
  ChatRelayMonitoring,
  ChatRelayMonitoringError,
  type ChatRelayMonitoringProps,
  type ChatRelayMonitoringThresholds,
  chatRelayMetric,
  chatRelayMetricSearch,
  chatRelayMetricTotal,
  DEFAULT_MONITORING_THRESHOLDS,
  validateMonitoringSettings,
} from './monitoring.js';
export {
  type ApiBaseUrls,
  CHAT_RELAY_DEFAULTS,
  type ChatRelayMediaOptions,
  type ChatRelayMonitoringOptions,
  type ChatRelayProps,
  ChatRelayPropsError,
  type FunctionSizing,
  type FunctionSizings,
  type MaxReceiveCounts,
  type RateLimits,
  validateChatRelayProps,
} from './props.js';
export { RelayQueue, RelayQueues, visibilityTimeoutSeconds } from './queues.js';
export {
  type ChatRelayContext,
  ChatRelayStack,
  type ChatRelayStackProps,
  CONTEXT_KEYS,
  readChatRelayContext,
} from './stack.js';
export { RelayStorage } from './storage.js';
export { DEFAULT_SECRET_PREFIX, grantTenantSecretsRead, tenantSecretsArnPattern } from './tenant-secrets.js';
