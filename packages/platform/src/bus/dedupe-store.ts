/**
 * Consumer-side dedupe by `(tenant, eventId)` (DESIGN.md §3: unique forever). Delivery is
 * at-least-once on every adapter — redelivery after a crash between commit and ack, a second
 * outbox relay, a republish after the broker's dedupe window — so a consumer records what it
 * processed IN THE SAME TRANSACTION as its own writes: either both commit or neither does, and
 * a replay finds the record and does nothing.
 */
import { StellaError } from '@stella/core/errors';
import type { Db, Tx } from '../db/index.js';
import type { EventEnvelope } from './event-envelope.js';
import type { DeliveryMeta, EventHandler } from './event-bus.js';

/** The dedupe port; `Ctx` is what the work receives (a tenant transaction for Postgres). */
export interface DedupeStore<Ctx = unknown> {
  /**
   * Runs `work` unless `(consumer, event.tenant, event.eventId)` is already recorded, and records
   * it atomically with the work. Resolves true when the work ran, false for a replay. When `work`
   * throws nothing is recorded (and the error propagates, so the bus redelivers).
   */
  once(consumer: string, event: EventEnvelope, work: (ctx: Ctx) => Promise<void>): Promise<boolean>;
}

/** In-memory dedupe for the embedded bus and tests; forgets everything on restart. */
export class MemoryDedupeStore implements DedupeStore<undefined> {
  private readonly done = new Set<string>();
  private readonly running = new Map<string, Promise<unknown>>();

  async once(consumer: string, event: EventEnvelope, work: (ctx: undefined) => Promise<void>): Promise<boolean> {
    const key = `${consumer}\u0000${event.tenant}\u0000${event.eventId}`;
    // A concurrent duplicate waits for the first attempt, like a second INSERT waits on a row lock.
    while (this.running.has(key)) await this.running.get(key)!.catch(() => undefined);
    if (this.done.has(key)) return false;
    const p = work(undefined);
    this.running.set(key, p);
    try {
      await p;
      this.done.add(key);
      return true;
    } finally {
      this.running.delete(key);
    }
  }

  /** How many `(consumer, tenant, eventId)` records are held. */
  get size(): number {
    return this.done.size;
  }
}

const CONSUMER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Postgres dedupe on `stella_platform.processed_events` (platform migration 0002). The work runs
 * in `db.withTenant(event.tenant, …)`, so its writes are RLS-checked against the event's tenant
 * and commit together with the dedupe row.
 */
export class PgDedupeStore implements DedupeStore<Tx> {
  constructor(private readonly db: Db) {}

  async once(consumer: string, event: EventEnvelope, work: (tx: Tx) => Promise<void>): Promise<boolean> {
    if (!CONSUMER_RE.test(consumer)) {
      throw new StellaError(
        'VALIDATION_FAILED',
        `invalid dedupe consumer name ${JSON.stringify(consumer)}: must match ${CONSUMER_RE.source}`,
        { details: { consumer } },
      );
    }
    return this.db.withTenant(event.tenant, async (tx) => {
      // A concurrent duplicate blocks here on the first one's uncommitted row, then conflicts
      // (first committed) or inserts (first rolled back): exactly one of them does the work.
      const r = await tx.query(
        'INSERT INTO stella_platform.processed_events (consumer, tenant_id, event_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [consumer, event.tenant, event.eventId],
      );
      if (r.rowCount === 0) return false;
      await work(tx);
      return true;
    });
  }
}

/**
 * Deletes dedupe records older than `olderThanMs` (owner role, all tenants) and returns how many.
 * Keep them longer than the bus retention (JetStream `max_age`, Redis MAXLEN horizon) plus the
 * outbox retry horizon, or a very late redelivery would be processed twice.
 */
export async function pruneProcessedEvents(db: Db, olderThanMs: number): Promise<number> {
  const r = await db.transaction((tx) =>
    tx.query(
      'DELETE FROM stella_platform.processed_events WHERE processed_at < now() - make_interval(secs => $1::double precision / 1000)',
      [olderThanMs],
    ),
  );
  return r.rowCount;
}

/** A handler whose DB work runs once per `(consumer, tenant, eventId)`. */
export type DedupedWork<Ctx> = (event: EventEnvelope, ctx: Ctx, meta: DeliveryMeta) => Promise<void>;

function isDedupeStore(x: unknown): x is DedupeStore<unknown> {
  return typeof (x as { once?: unknown }).once === 'function';
}

/**
 * Wraps `work` into a bus handler that is idempotent per `(consumer, tenant, eventId)`.
 * Given a `Db`, the work gets the tenant transaction that also records the event (Postgres);
 * given a store, it gets that store's context.
 */
export function dedupedHandler(db: Db, consumer: string, work: DedupedWork<Tx>): EventHandler;
export function dedupedHandler<Ctx>(store: DedupeStore<Ctx>, consumer: string, work: DedupedWork<Ctx>): EventHandler;
export function dedupedHandler(
  storeOrDb: Db | DedupeStore<unknown>,
  consumer: string,
  work: DedupedWork<any>,
): EventHandler {
  const store: DedupeStore<unknown> = isDedupeStore(storeOrDb) ? storeOrDb : new PgDedupeStore(storeOrDb);
  return async (event, meta) => {
    await store.once(consumer, event, (ctx) => work(event, ctx, meta));
  };
}
