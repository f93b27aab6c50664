/**
 * chat-relay's public API (the jsii entry point): the `ChatRelay` construct and its props, the
 * responder factories, the media and monitoring constructs, and the deployable
 * `ChatRelayStack`. The responder contract types a `lambda` responder implements (`TurnContext`,
 * `Reply`…) and the shared definitions are plain TypeScript in `chat-relay/contracts`
 * (lambdas/contracts/), outside the jsii API.
 */
export {
  BEDROCK_MODEL_ID_PATTERN,
  bedrockTarget,
  DEFAULT_BEDROCK_MODEL_ID,
  grantBedrockInvoke,
} from './bedrock.js';
export { ChatRelay, DlqName } from './chat-relay.js';
export {
  ChatRelayKnowledge,
  type ChatRelayKnowledgeProps,
  type ChatRelayKnowledgeSettings,
  KNOWLEDGE_PREFIX,
  KNOWLEDGE_TENANT_ATTRIBUTE,
  KnowledgeEmbeddingModel,
} from './knowledge.js';
export {
  ChatRelayMedia,
  type ChatRelayMediaProps,
  type ChatRelayMediaSettings,
  DEFAULT_MEDIA_MAX_BYTES,
} from './media.js';
export {
  type ChatRelayMetricOptions,
  type ChatRelayMetricSearchOptions,
  type ChatRelayMetricTotalOptions,
  type ChatRelayMonitoredQueue,
  ChatRelayMonitoring,
  type ChatRelayMonitoringMedia,
  type ChatRelayMonitoringProps,
  type ChatRelayMonitoringSettings,
  type ChatRelayMonitoringThresholds,
  chatRelayMetric,
  chatRelayMetricSearch,
  chatRelayMetricTotal,
  DEFAULT_MONITORING_THRESHOLDS,
  MetricsInsightsFunction,
  validateMonitoringSettings,
} from './monitoring/index.js';
export {
  type ApiBaseUrls,
  CHAT_RELAY_DEFAULTS,
  type ChatRelayKnowledgeOptions,
  type ChatRelayMediaOptions,
  type ChatRelayMonitoringOptions,
  type ChatRelayProps,
  type FunctionSizing,
  type FunctionSizings,
  LogLevel,
  type MaxReceiveCounts,
  type RateLimits,
  validateChatRelayProps,
} from './props.js';
export { type BedrockResponderOptions, Responder, ResponderType } from './responder.js';
export {
  type ChatRelayContext,
  ChatRelayStack,
  type ChatRelayStackProps,
  CONTEXT_KEYS,
  readChatRelayContext,
} from './stack.js';
export { DEFAULT_SECRET_PREFIX } from './tenant-secrets.js';
