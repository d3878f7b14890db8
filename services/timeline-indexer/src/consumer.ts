/**
 * The bus consumers of the timeline (issue #9 item 2): `concurrency` subscriptions of one durable
 * group (`timeline-indexer` by default) on the platform EventBus, so the same code consumes the
 * in-process bus, NATS JetStream (`stella.events.>`) and Redis Streams (`stella:events`). Several
 * replicas share the group; `(tenant, eventId)` dedupe makes a redelivery harmless.
 */
import type { DeadLetter, EventBus, Subscription } from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import type { BackgroundWorker } from '@stella/platform/service';
import { recordDeadLetter, deadLetterReason } from './dead-letters.js';
import { assertStorable } from './ingest.js';
import { IngestBatcher } from './ingest-batcher.js';
import type { TimelineMetrics } from './metrics.js';

export interface TimelineConsumerOptions {
  /** The worker's name (`stella serve` lists it). */
  name: string;
  group: string;
  /** Subscriptions of the group in this process = the bound on events in flight. */
  concurrency: number;
  maxBatch: number;
  flushMs: number;
  /** Attempts before an event whose batch keeps failing is dead-lettered. */
  maxDeliveries?: number;
  /** Called after a dead letter was recorded (or failed to be); tests wait on it. */
  onDeadLettered?: (dead: DeadLetter, recorded: boolean) => void;
  /** Where a failure to record a dead letter is reported. */
  warn?: (msg: string, err: unknown) => void;
}

export function timelineConsumer(
  db: Db,
  bus: EventBus,
  metrics: TimelineMetrics,
  o: TimelineConsumerOptions,
): BackgroundWorker {
  const batcher = new IngestBatcher(db, { maxBatch: o.maxBatch, flushMs: o.flushMs }, metrics);
  let subs: Subscription[] = [];
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
  return {
    name: o.name,
    async start() {
      for (let i = 0; i < o.concurrency; i++) {
        subs.push(
          await bus.subscribe(
            o.group,
            async (event, meta) => {
              try {
                assertStorable(event);
              } catch (error) {
                // Poison, not a transient failure: dead-letter it now (then ack) instead of retrying.
                // The handler sees the decoded event, so `raw` is its JSON re-encoding.
                const dead = { ...meta, event, raw: JSON.stringify(event), error };
                metrics.deadLetters.inc({ reason: deadLetterReason(dead) });
                await recordDeadLetter(db, dead);
                o.onDeadLettered?.(dead, true);
                return;
              }
              await batcher.submit(event);
            },
            {
              // Each subscription runs one handler at a time; a message buffered behind it would
              // age towards the broker's ack wait before its handler even starts (and be
              // redelivered needlessly), so fetch one at a time: the parallelism is `concurrency`.
              batchSize: 1,
              onDeadLetter,
              ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
            },
          ),
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
