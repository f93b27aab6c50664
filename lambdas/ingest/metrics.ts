/**
 * Request-scoped metrics for the webhook. Every metric whose only dimension is `channel` goes
 * into ONE EMF document per request (the shared Powertools instance, flushed after the
 * request), instead of one document per metric: a `singleMetric()` per call costs more CPU
 * than the rest of a one-message request. Metrics with more dimensions (`reason`) keep their
 * own document through `emitMetric`, so dimensions never mix.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS, type MetricName } from '../shared/metrics-catalogue.js';

export type MetricSink = (name: MetricName, value: number, dimensions: Record<string, string>) => void;

/** A metric sink batching channel-only metrics on `metrics`; others go through `emit`. */
export function batchedMetricSink(metrics: Metrics, emit: MetricSink): MetricSink {
  // The channel dimension of the document being filled; publishing starts a new document
  // without dimensions, so it is added once per document (Powertools warns on re-adding).
  let documentChannel: string | undefined;
  return (name, value, dimensions) => {
    const def = METRICS[name];
    const keys = Object.keys(dimensions);
    const channel = dimensions.channel;
    if (
      channel !== undefined &&
      keys.length === 1 &&
      def.dimensions.length === 1 &&
      def.dimensions[0] === 'channel'
    ) {
      // One request has one channel, so the document-wide dimension is right for all of them.
      if (!metrics.hasStoredMetrics() || documentChannel !== channel) {
        metrics.addDimension('channel', channel);
        documentChannel = channel;
      }
      metrics.addMetric(def.name, MetricUnit[def.unit], value);
      return;
    }
    emit(name, value, dimensions);
  };
}

/** Publishes the request's batched metrics (no-op, and no Powertools warning, when none). */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
