/**
 * The bus consumers of the timeline (issue #9 item 2): `subscriptions` batch subscriptions of one
 * durable group (`timeline-indexer` by default) on the platform EventBus (`subscribeBatch`), so
 * the same code consumes the in-process bus, NATS JetStream (`stella.events.>`, pull batches)
 * and Redis Streams (`stella:events`, `XREADGROUP COUNT n`). Several replicas share the group;
 * `(tenant, eventId)` dedupe makes a redelivery harmless.
 *
 * One fetch = one handler call = one multi-row write per tenant (`storeTenantBatch`), and the
 * bus acknowledges the batch's messages only after that returned, i.e. after the commit.
 * In-flight work is bounded by `subscriptions × batchSize` (plus one prefetched batch per
 * subscription on NATS): while the database is slow every subscription sits in its handler and
 * fetches nothing more — the backpressure the issue asks for, counted by
 * `stella_timeline_ingest_saturated_seconds_total`.
 */
import type {
  BatchDelivery,
  BatchResult,
  DeadLetter,
  EventBus,
  EventEnvelope,
  Subscription,
} from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import type { BackgroundWorker } from '@stella/platform/service';
import { recordDeadLetter, deadLetterReason } from './dead-letters.js';
import { assertStorable, storeTenantBatch } from './ingest.js';
import type { TimelineMetrics } from './metrics.js';

export interface TimelineConsumerOptions {
  /** The worker's name (`stella serve` lists it). */
  name: string;
  group: string;
  /** Batch subscriptions of the group in this process (fetches overlap with writes). */
  subscriptions: number;
  /** Most messages one fetch — one write per tenant — carries. */
  batchSize: number;
  /** Attempts before an event whose batch keeps failing is dead-lettered. */
  maxDeliveries?: number;
  /** Called after a dead letter was recorded (or failed to be); tests wait on it. */
  onDeadLettered?: (dead: DeadLetter, recorded: boolean) => void;
  /** Where a failure to record a dead letter is reported. */
  warn?: (msg: string, err: unknown) => void;
}

/**
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the rows
 * themselves are at fault, so the same batch would fail again on every redelivery. Anything else
 * (connection lost, serialization, lock timeout, …) is worth redelivering as it is.
 */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

export function timelineConsumer(
  db: Db,
  bus: EventBus,
  metrics: TimelineMetrics,
  o: TimelineConsumerOptions,
): BackgroundWorker {
  let subs: Subscription[] = [];
  let busy = 0;
  let saturatedSince: number | undefined;
  const enter = () => {
    if (++busy === o.subscriptions) saturatedSince = performance.now();
  };
  const leave = () => {
    if (busy-- === o.subscriptions && saturatedSince !== undefined) {
      metrics.saturatedSeconds.inc((performance.now() - saturatedSince) / 1000);
      saturatedSince = undefined;
    }
  };

  const onDeadLetter = (dead: DeadLetter) => {
    metrics.deadLetters.inc({ reason: deadLetterReason(dead) });
    // The port's dead-letter callback is synchronous and the adapter settles the message right
    // after it; the row is written best effort (a failure is logged, the stream still moves on).
    recordDeadLetter(db, dead).then(
      () => o.onDeadLettered?.(dead, true),
      (err: unknown) => {
        o.warn?.('could not record a timeline dead letter', err);
        o.onDeadLettered?.(dead, false);
      },
    );
  };

  /** Stores `events` (one tenant's) in one transaction; counts stored and duplicate outcomes. */
  const store = async (tenant: string, events: EventEnvelope[]): Promise<void> => {
    const end = metrics.batchSeconds.startTimer({ path: 'bus' });
    const outcomes = await db.withTenant(tenant, (tx) => storeTenantBatch(tx, tenant, events));
    end();
    const stored = outcomes.reduce((n, x) => n + (x.status === 'stored' ? 1 : 0), 0);
    metrics.stored.inc({ path: 'bus' }, stored);
    metrics.duplicates.inc({ path: 'bus' }, outcomes.length - stored);
  };

  const handle = async (batch: readonly BatchDelivery[]): Promise<BatchResult> => {
    enter();
    metrics.inFlight.inc(batch.length);
    try {
      const byTenant = new Map<string, { events: EventEnvelope[]; index: number[] }>();
      for (let i = 0; i < batch.length; i++) {
        const { event, meta } = batch[i]!;
        try {
          assertStorable(event);
        } catch (error) {
          // Poison, not a transient failure: dead-letter it now (then ack) instead of retrying.
          // The handler sees the decoded event, so `raw` is its JSON re-encoding.
          const dead = { ...meta, event, raw: JSON.stringify(event), error };
          metrics.deadLetters.inc({ reason: deadLetterReason(dead) });
          await recordDeadLetter(db, dead);
          o.onDeadLettered?.(dead, true);
          continue;
        }
        let g = byTenant.get(event.tenant);
        if (!g) byTenant.set(event.tenant, (g = { events: [], index: [] }));
        g.events.push(event);
        g.index.push(i);
      }
      const failed = new Map<number, unknown>();
      // Tenants write concurrently (each in its own RLS transaction); a failure fails only its own.
      await Promise.all(
        [...byTenant].map(async ([tenant, g]) => {
          try {
            await store(tenant, g.events);
          } catch (err) {
            if (!isDataError(err) || g.events.length === 1) {
              for (const i of g.index) failed.set(i, err);
              return;
            }
            // One event's rows break the batch: store them one by one, so that only the
            // culprit is redelivered (and, out of attempts, dead-lettered).
            for (let k = 0; k < g.events.length; k++) {
              await store(tenant, [g.events[k]!]).catch((e: unknown) => failed.set(g.index[k]!, e));
            }
          }
        }),
      );
      return failed.size > 0 ? { failed } : undefined;
    } finally {
      metrics.inFlight.dec(batch.length);
      leave();
    }
  };

  return {
    name: o.name,
    async start() {
      metrics.inFlightLimit.set(o.subscriptions * o.batchSize);
      metrics.watchLag(o.group, () => bus.groupLag(o.group));
      for (let i = 0; i < o.subscriptions; i++) {
        subs.push(
          await bus.subscribeBatch(o.group, handle, {
            batchSize: o.batchSize,
            onDeadLetter,
            ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
          }),
        );
      }
    },
    async stop() {
      const open = subs;
      subs = [];
      await Promise.all(open.map((s) => s.close()));
    },
  };
}
