/**
 * The event bus port (DESIGN.md §3 "Events", docs/events.md). Three adapters implement it —
 * in-process, NATS JetStream and Redis Streams — with the same observable contract, checked by
 * one suite (`testing/bus-contract.ts`):
 *
 * - at-least-once: a delivery is acknowledged only after the handler's promise resolves, so a
 *   handler commits its own DB work first; a crash or a throw before that means redelivery;
 * - consumer groups are durable and named per service: every group gets every event, and the
 *   consumers of one group share the work;
 * - per-consumer order follows publish order for one publisher, except around redeliveries;
 * - consumers must be idempotent on `(tenant, eventId)` (see `dedupe-store.ts`).
 *
 * Two ways to consume: `subscribe` calls a handler per message; `subscribeBatch` hands one
 * handler call every message a fetch returned (up to `batchSize`: a JetStream pull batch, one
 * `XREADGROUP COUNT n`), so a consumer can commit them in one transaction. Both settle each
 * message on its own — ack after the handler, retry or dead-letter on failure — by the same rules.
 */
import { StellaError } from '@stella/core/errors';
import type { EventEnvelope } from './event-envelope.js';

/** What a handler learns about one delivery besides the event. */
export interface DeliveryMeta {
  /** The consumer group this delivery belongs to. */
  group: string;
  /** 1 for the first delivery, then 2, 3, … (counts crashes and throws alike). */
  attempt: number;
  /** Adapter-native id of the message (memory sequence, JetStream stream sequence, Redis entry id). */
  messageId: string;
}

/** Called once per delivery; resolve = done (ack), throw = retry later (no ack). */
export type EventHandler = (event: EventEnvelope, meta: DeliveryMeta) => Promise<void>;

/** One message of a batch: the decoded event and what the handler learns about its delivery. */
export interface BatchDelivery {
  readonly event: EventEnvelope;
  readonly meta: DeliveryMeta;
}

/**
 * What a batch handler reports: nothing (every message done: ack them all) or the messages that
 * failed, by their index in the batch — those are retried (or dead-lettered once out of attempts)
 * exactly as a throwing single handler's would be, the others are acknowledged. A throw fails
 * the whole batch.
 */
export type BatchResult = void | { failed: ReadonlyMap<number, unknown> };

/**
 * Called with 1..`batchSize` deliveries (poison and filtered-out kinds never reach it); every
 * message is acknowledged only after the returned promise resolved, so the handler commits first.
 */
export type BatchHandler = (batch: readonly BatchDelivery[]) => Promise<BatchResult>;

/** Where a consumer group stands on the broker (the consumer-lag metric). */
export interface GroupLag {
  /**
   * Messages of the stream the group has not been handed yet (JetStream `num_pending`, Redis
   * `XINFO GROUPS` `lag`); `undefined` when the broker cannot tell (Redis after `XDEL`).
   */
  pending: number | undefined;
  /** Handed out and not acknowledged yet (JetStream `num_ack_pending`, Redis `XPENDING` count). */
  unacknowledged: number;
}

/** A message given up on after `maxDeliveries` attempts, or one that is not a valid envelope. */
export interface DeadLetter {
  group: string;
  messageId: string;
  attempt: number;
  /** The decoded event, when the bytes were a valid envelope. */
  event?: EventEnvelope;
  /** The raw bytes as UTF-8 text (for poison messages). */
  raw: string;
  error: unknown;
}

/** Options of {@link EventBus.subscribe}; every field has a documented default. */
export interface SubscribeOptions {
  /**
   * Only these kinds reach the handler; other events of the group are acknowledged unseen.
   * Filtering is client-side on every adapter (NATS 2.9 allows ONE filter subject per consumer;
   * see docs/events.md), so all consumers of one group must use the same `kinds`.
   */
  kinds?: readonly string[];
  /** Attempts before a failing message is dead-lettered (acknowledged and reported). Default 5. */
  maxDeliveries?: number;
  /** Retry delay after a throw: `min(retryBaseMs * 2^(attempt-1), retryMaxMs)`. Default 250 ms. */
  retryBaseMs?: number;
  /** Upper bound of the retry delay. Default 10 000 ms. */
  retryMaxMs?: number;
  /** Messages fetched per round trip; with `subscribeBatch`, the most one handler call gets. Default 64. */
  batchSize?: number;
  /** Where a newly created group starts: every retained event (`all`, default) or only new ones. */
  startFrom?: 'all' | 'new';
  /** Called when a message is dead-lettered; defaults to the bus's `onDeadLetter`. */
  onDeadLetter?: (dead: DeadLetter) => void;
}

/** A running subscription. */
export interface Subscription {
  readonly group: string;
  /**
   * Stops fetching, waits up to the bus's `drainTimeoutMs` for the in-flight handler, then
   * detaches. A handler still running after that is abandoned: its message stays unacknowledged
   * and is redelivered to another consumer of the group.
   */
  close(): Promise<void>;
}

/** The port. */
export interface EventBus {
  /** Which adapter this is (`memory`, `nats`, `redis`). */
  readonly kind: 'memory' | 'nats' | 'redis';
  /**
   * Validates and publishes one event; resolves once the broker has it durably (JetStream
   * PubAck, Redis XADD reply). `EVENT_INVALID` → nothing published; broker down → `BUS_UNAVAILABLE`.
   * Republishing the same `(tenant, eventId)` within the dedupe window is a no-op.
   */
  publish(event: EventEnvelope): Promise<void>;
  /** Joins (creating if needed) the durable consumer group `group` and starts delivering. */
  subscribe(group: string, handler: EventHandler, opts?: SubscribeOptions): Promise<Subscription>;
  /**
   * Like `subscribe`, but every fetch (up to `batchSize` messages) goes to one handler call; see
   * {@link BatchHandler}. One handler call at a time per subscription: while it runs, the
   * subscription fetches nothing beyond one more batch (backpressure).
   */
  subscribeBatch(group: string, handler: BatchHandler, opts?: SubscribeOptions): Promise<Subscription>;
  /**
   * How far `group` is behind the stream (for a consumer-lag metric). `undefined` when the group
   * does not exist (yet); broker down → `BUS_UNAVAILABLE`.
   */
  groupLag(group: string): Promise<GroupLag | undefined>;
  /** Throws `BUS_UNAVAILABLE` when the broker does not answer. */
  ping(): Promise<void>;
  /** Closes every subscription (see {@link Subscription.close}) and the connection. */
  close(): Promise<void>;
}

/** Options shared by every adapter. */
export interface BusOptions {
  /** How long `close()` waits for in-flight handlers. Default 5 000 ms. */
  drainTimeoutMs?: number;
  /** Publish-side dedupe window for `(tenant, eventId)`. Default 120 000 ms (JetStream's default). */
  dedupeWindowMs?: number;
  /**
   * Unacknowledged deliveries older than this go to another consumer (JetStream `ack_wait`,
   * Redis XAUTOCLAIM min-idle, memory timer). Default 30 000 ms.
   */
  ackWaitMs?: number;
  /** Default dead-letter sink; the default logs one JSON line to stderr. */
  onDeadLetter?: (dead: DeadLetter) => void;
}

// Durable consumer names become JetStream consumer names and Redis group names: keep them to a
// charset valid in both (JetStream forbids '.', '*', '>' and whitespace in durable names).
const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Throws `VALIDATION_FAILED` unless `group` is a valid durable group name. */
export function assertGroupName(group: string): void {
  if (typeof group !== 'string' || !GROUP_RE.test(group)) {
    throw new StellaError(
      'VALIDATION_FAILED',
      `invalid consumer group name ${JSON.stringify(group)}: must match ${GROUP_RE.source}`,
      {
        details: { group },
      },
    );
  }
}

/** Resolved subscribe options (internal to the adapters). */
export interface ResolvedSubscribeOptions {
  kinds: ReadonlySet<string> | undefined;
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  batchSize: number;
  startFrom: 'all' | 'new';
  onDeadLetter: (dead: DeadLetter) => void;
}

/** The default dead-letter sink: one JSON line on stderr, so log shipping picks it up. */
export function logDeadLetter(dead: DeadLetter): void {
  const error =
    dead.error instanceof Error ? { name: dead.error.name, message: dead.error.message } : String(dead.error);
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'event dead-lettered', group: dead.group, messageId: dead.messageId, attempt: dead.attempt, tenant: dead.event?.tenant, eventId: dead.event?.eventId, kind: dead.event?.kind, error })}\n`,
  );
}

/** Applies defaults and checks bounds (internal to the adapters). */
export function resolveSubscribeOptions(opts: SubscribeOptions | undefined, bus: BusOptions): ResolvedSubscribeOptions {
  const o = opts ?? {};
  const int = (name: string, v: number | undefined, def: number, min: number, max: number): number => {
    const x = v ?? def;
    if (!Number.isInteger(x) || x < min || x > max) {
      throw new StellaError('VALIDATION_FAILED', `subscribe option ${name} must be an integer in [${min}, ${max}]`, {
        details: { [name]: v },
      });
    }
    return x;
  };
  if (o.kinds !== undefined) {
    for (const k of o.kinds) {
      if (!/^[a-z][a-z0-9_.-]*$/.test(k))
        throw new StellaError('VALIDATION_FAILED', `invalid kind filter ${JSON.stringify(k)}`, {
          details: { kind: k },
        });
    }
  }
  return {
    kinds: o.kinds === undefined ? undefined : new Set(o.kinds),
    maxDeliveries: int('maxDeliveries', o.maxDeliveries, 5, 1, 1000),
    retryBaseMs: int('retryBaseMs', o.retryBaseMs, 250, 0, 3_600_000),
    retryMaxMs: int('retryMaxMs', o.retryMaxMs, 10_000, 0, 3_600_000),
    batchSize: int('batchSize', o.batchSize, 64, 1, 10_000),
    startFrom: o.startFrom ?? 'all',
    onDeadLetter: o.onDeadLetter ?? bus.onDeadLetter ?? logDeadLetter,
  };
}

/** Retry delay after the `attempt`-th failed delivery (bounded exponential backoff). */
export function retryDelayMs(attempt: number, o: Pick<ResolvedSubscribeOptions, 'retryBaseMs' | 'retryMaxMs'>): number {
  return Math.min(o.retryBaseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30), o.retryMaxMs);
}

/** Resolved bus options (internal to the adapters). */
export function resolveBusOptions(
  o: BusOptions | undefined,
): Required<Omit<BusOptions, 'onDeadLetter'>> & Pick<BusOptions, 'onDeadLetter'> {
  return {
    drainTimeoutMs: o?.drainTimeoutMs ?? 5_000,
    dedupeWindowMs: o?.dedupeWindowMs ?? 120_000,
    ackWaitMs: o?.ackWaitMs ?? 30_000,
    onDeadLetter: o?.onDeadLetter,
  };
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Waits for `p` at most `ms`; true when it settled in time. Never rejects. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
