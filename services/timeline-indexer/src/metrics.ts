/**
 * The indexer's Prometheus metrics (issue #9 item 2): ingest rate, duplicates, dead letters,
 * in-flight events and batch latency, by ingest path (`http`, `bus`). They live in their own
 * registry; the composition root can merge it into `/metrics` (docs/timeline.md "Metrics").
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type IngestPath = 'http' | 'bus';

export interface TimelineMetrics {
  readonly registry: Registry;
  readonly stored: Counter<'path'>;
  readonly duplicates: Counter<'path'>;
  readonly deadLetters: Counter<'reason'>;
  /** Events handed to the bus ingest batcher and not yet committed (or failed). */
  readonly inFlight: Gauge;
  readonly batchSeconds: Histogram<'path'>;
}

export function createTimelineMetrics(registry = new Registry()): TimelineMetrics {
  const registers = [registry];
  return {
    registry,
    stored: new Counter({
      name: 'stella_timeline_events_stored_total',
      help: 'Events stored on the timeline, by ingest path.',
      labelNames: ['path'],
      registers,
    }),
    duplicates: new Counter({
      name: 'stella_timeline_events_duplicate_total',
      help: 'Events received again for a (tenant, eventId) already stored (not stored twice), by ingest path.',
      labelNames: ['path'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'stella_timeline_dead_letters_total',
      help: 'Bus messages written to timeline.dead_letters, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'stella_timeline_ingest_in_flight',
      help: 'Bus events received and not yet committed; bounded by the consumer concurrency (backpressure).',
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'stella_timeline_ingest_batch_seconds',
      help: 'Duration of one ingest batch transaction, by ingest path.',
      labelNames: ['path'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}
