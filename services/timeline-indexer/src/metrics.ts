/**
 * The indexer's Prometheus metrics (issue #9 item 2): ingest rate, duplicates, dead letters,
 * in-flight events and their bound, backpressure, batch latency and consumer lag. They live in
 * the registry they are given (the app's, so they appear on `/metrics`; docs/timeline.md
 * "Metrics").
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GroupLag } from '@stella/platform/bus';

export type IngestPath = 'http' | 'bus';

export interface TimelineMetrics {
  readonly registry: Registry;
  readonly stored: Counter<'path'>;
  readonly duplicates: Counter<'path'>;
  readonly deadLetters: Counter<'reason'>;
  /** Bus events handed to the consumer's handlers and not yet committed (or failed). */
  readonly inFlight: Gauge;
  /** The bound on {@link inFlight}: subscriptions × batch size. */
  readonly inFlightLimit: Gauge;
  /** Time every subscription of a consumer was waiting on the database (no fetching). */
  readonly saturatedSeconds: Counter;
  readonly batchSeconds: Histogram<'path'>;
  /**
   * Database reads of `GET /timeline/stream`, by kind: `poll` (a tenant's last arrival, once per
   * tick per tenant and process), `shared` (new arrivals for every stream of a tenant at once),
   * `catch_up` (one stream reading alone until it reaches the shared position).
   */
  readonly streamReads: Counter<'kind'>;
  /** Open `GET /timeline/stream` connections in this process. */
  readonly streamConnections: Gauge;
  /**
   * Reports `probe`'s answer as the consumer lag of `group` at every scrape. A probe that fails or
   * answers `undefined` leaves the group's series out of that scrape.
   */
  watchLag(group: string, probe: () => Promise<GroupLag | undefined>): void;
}

export function createTimelineMetrics(registry = new Registry()): TimelineMetrics {
  const registers = [registry];
  const probes = new Map<string, () => Promise<GroupLag | undefined>>();
  const lagGauge = (name: string, help: string, pick: (l: GroupLag) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['group'],
      registers,
      async collect() {
        // Asked at scrape time (one broker round trip per group and gauge), so the number is
        // current and nothing polls the broker between scrapes.
        const lags = await Promise.all(
          [...probes].map(async ([group, probe]) => [group, await probe().catch(() => undefined)] as const),
        );
        this.reset();
        for (const [group, lag] of lags) {
          const v = lag && pick(lag);
          if (v !== undefined) this.set({ group }, v);
        }
      },
    });
  lagGauge(
    'stella_timeline_consumer_lag',
    'Bus messages the consumer group has not been handed yet (JetStream num_pending, Redis XINFO GROUPS lag).',
    (l) => l.pending,
  );
  lagGauge(
    'stella_timeline_consumer_unacknowledged',
    'Bus messages handed to the consumer group and not acknowledged yet (JetStream num_ack_pending, Redis pending).',
    (l) => l.unacknowledged,
  );
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
      help: 'Bus events received and not yet committed; bounded by stella_timeline_ingest_in_flight_limit.',
      registers,
    }),
    inFlightLimit: new Gauge({
      name: 'stella_timeline_ingest_in_flight_limit',
      help: 'Most bus events a consumer holds in its handlers (subscriptions times batch size).',
      registers,
    }),
    saturatedSeconds: new Counter({
      name: 'stella_timeline_ingest_saturated_seconds_total',
      help: 'Seconds during which every consumer subscription was waiting on the database, so none fetched more (backpressure).',
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'stella_timeline_ingest_batch_seconds',
      help: 'Duration of one ingest batch transaction, by ingest path.',
      labelNames: ['path'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    streamReads: new Counter({
      name: 'stella_timeline_stream_reads_total',
      help: 'Database reads of GET /timeline/stream: poll (per tenant and tick), shared (for all streams of a tenant), catch_up (one stream alone).',
      labelNames: ['kind'],
      registers,
    }),
    streamConnections: new Gauge({
      name: 'stella_timeline_stream_connections',
      help: 'Open GET /timeline/stream connections in this process.',
      registers,
    }),
    watchLag(group, probe) {
      probes.set(group, probe);
    },
  };
}
