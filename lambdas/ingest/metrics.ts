/**
 * Request-scoped metrics for the webhook. Every metric whose only dimension is `channel` goes
 * into ONE EMF document per request and channel (the shared Powertools instance, published at
 * the end of the request), instead of one document per metric: a `singleMetric()` per call
 * costs more CPU than the rest of a one-message request. Metrics with more dimensions
 * (`reason`) keep their own document through `emitMetric`, so dimensions never mix.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS, type MetricName } from '../shared/metrics-catalogue.js';

export type MetricSink = (name: MetricName, value: number, dimensions: Record<string, string>) => void;

/** A metric sink that holds channel-only metrics until {@link BatchedMetrics.flush}. */
export interface BatchedMetrics {
  /** Counts a catalogued metric: channel-only ones are held, others go to `emit` at once. */
  readonly metric: MetricSink;
  /** Publishes the held metrics, one EMF document per channel; a no-op when none are held. */
  flush(): void;
}

interface Held {
  readonly name: string;
  readonly unit: (typeof MetricUnit)[keyof typeof MetricUnit];
  readonly value: number;
}

/**
 * Batches channel-only metrics for `metrics`; others go through `emit`.
 *
 * The metrics are held here, not in the Powertools instance, and dimension + metrics + publish
 * happen in one synchronous step at flush: requests in flight together in one process (the
 * local stack runs one webhook module for every request) then never overwrite each other's
 * `channel` dimension, which made Powertools warn `Dimension "channel" has already been
 * added` per request and counted one channel's metrics under another.
 */
export function batchedMetrics(metrics: Metrics, emit: MetricSink): BatchedMetrics {
  const held = new Map<string, Held[]>();
  return {
    metric(name, value, dimensions) {
      const def = METRICS[name];
      const channel = dimensions.channel;
      if (
        channel !== undefined &&
        Object.keys(dimensions).length === 1 &&
        def.dimensions.length === 1 &&
        def.dimensions[0] === 'channel'
      ) {
        const entry = { name: def.name, unit: MetricUnit[def.unit], value };
        const list = held.get(channel);
        if (list) list.push(entry);
        else held.set(channel, [entry]);
        return;
      }
      emit(name, value, dimensions);
    },
    flush() {
      if (held.size === 0) return;
      try {
        for (const [channel, entries] of held) {
          metrics.addDimension('channel', channel);
          for (const { name, unit, value } of entries) metrics.addMetric(name, unit, value);
          metrics.publishStoredMetrics();
        }
      } finally {
        held.clear();
      }
    },
  };
}
