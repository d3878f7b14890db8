/**
 * Transactional outbox (DESIGN.md §3 "Services publish through a transactional outbox, so an
 * event is sent if and only if its transaction committed"; docs/events.md "Outbox").
 *
 * - `appendToOutbox(tx, event)` inserts the event into `stella_platform.outbox` inside the
 *   caller's business transaction: rollback → no row → never published.
 * - `startOutboxRelay(db, bus)` claims committed rows with `FOR UPDATE SKIP LOCKED` (so relays in
 *   many replicas share the table without double-sending), publishes them in id order, deletes
 *   the published ones in the same transaction, and backs off when the bus fails.
 *
 * A publish that succeeded but whose delete did not commit (crash, DB failover) is published
 * again later: at-least-once overall, which the bus's `(tenant, eventId)` dedupe window and the
 * consumers' dedupe absorb.
 */
import { StellaError, isStellaError } from '@stella/core/errors';
import type { Db, Queryable } from '../db/index.js';
import { eventProblems, validateEvent, type EventEnvelope } from './event-envelope.js';
import { sleep, type EventBus } from './event-bus.js';

/**
 * Enqueues `event` in the caller's transaction (a `withTenant` transaction for tenant events:
 * RLS then refuses an event of another tenant). Validates first: `EVENT_INVALID` leaves nothing
 * behind. Resolves false when the same `(tenant, eventId)` is already queued.
 */
export async function appendToOutbox(tx: Queryable, event: EventEnvelope): Promise<boolean> {
  const e = validateEvent(event);
  const r = await tx.query(
    'INSERT INTO stella_platform.outbox (tenant_id, event_id, kind, envelope) VALUES ($1, $2, $3, $4::json) ON CONFLICT (tenant_id, event_id) DO NOTHING',
    [e.tenant, e.eventId, e.kind, JSON.stringify(e)],
  );
  return r.rowCount === 1;
}

/** Options of {@link startOutboxRelay}, with defaults. */
export interface OutboxRelayOptions {
  /** Rows claimed per transaction. Default 100. */
  batchSize?: number;
  /** Idle poll period. Default 250 ms; `notify()` wakes the relay earlier. */
  pollIntervalMs?: number;
  /** Backoff after a bus failure: `min(retryBaseMs * 2^(n-1), retryMaxMs)`. Defaults 200 ms / 30 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Reports failures (bus down, DB down, dead rows); default: one JSON line on stderr. */
  onError?: (err: unknown, context: { eventId?: string; tenant?: string; attempts?: number }) => void;
}

/** Outcome of one relay pass. */
export interface RelayPassResult {
  /** Rows published and deleted. */
  published: number;
  /** True when the bus refused a publish (the pass stopped there). */
  failed: boolean;
  /** Rows marked dead (not an envelope any more; kept for operators). */
  dead: number;
}

/** A running relay. */
export interface OutboxRelay {
  /** Wakes the relay now (e.g. right after a commit that appended events). */
  notify(): void;
  /** One claim-publish-delete pass (what the loop runs); exposed for tests and CLI tools. */
  runOnce(): Promise<RelayPassResult>;
  /**
   * Stops the loop after the in-flight pass. With `drain`, first keeps publishing until nothing
   * due is left or `timeoutMs` (default 10 s) passes.
   */
  stop(opts?: { drain?: boolean; timeoutMs?: number }): Promise<void>;
}

type OutboxRow = { id: string; tenant_id: string; event_id: string; envelope: unknown; attempts: number };

function defaultOnError(err: unknown, context: Record<string, unknown>): void {
  const error =
    err instanceof Error
      ? { name: err.name, message: err.message, code: (err as { code?: unknown }).code }
      : String(err);
  process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'outbox relay', ...context, error })}\n`);
}

/** Starts the relay loop; see the module comment. */
export function startOutboxRelay(db: Db, bus: EventBus, options: OutboxRelayOptions = {}): OutboxRelay {
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const retryBaseMs = options.retryBaseMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  const onError = options.onError ?? defaultOnError;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    throw new StellaError('CONFIG_INVALID', 'outbox batchSize must be an integer in [1, 10000]');
  const backoff = (n: number) => Math.min(retryBaseMs * 2 ** Math.min(Math.max(n - 1, 0), 30), retryMaxMs);

  async function runOnce(): Promise<RelayPassResult> {
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<OutboxRow>(
        `SELECT id, tenant_id, event_id, envelope, attempts FROM stella_platform.outbox
          WHERE dead_at IS NULL AND next_attempt_at <= now()
          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      const sent: string[] = [];
      let failed = false;
      let dead = 0;
      for (const row of rows) {
        const ctx = { eventId: row.event_id, tenant: row.tenant_id, attempts: row.attempts + 1 };
        const problems = eventProblems(row.envelope);
        if (problems.length > 0) {
          // Someone wrote the table without appendToOutbox: retrying cannot help.
          dead++;
          await tx.query('UPDATE stella_platform.outbox SET dead_at = now(), last_error = $2 WHERE id = $1', [
            row.id,
            `EVENT_INVALID: ${JSON.stringify(problems)}`,
          ]);
          onError(
            new StellaError('EVENT_INVALID', 'outbox row is not a valid envelope; marked dead', {
              details: { problems },
            }),
            ctx,
          );
          continue;
        }
        try {
          await bus.publish(validateEvent(row.envelope));
          sent.push(row.id);
        } catch (err) {
          if (isStellaError(err, 'EVENT_INVALID')) {
            dead++;
            await tx.query('UPDATE stella_platform.outbox SET dead_at = now(), last_error = $2 WHERE id = $1', [
              row.id,
              `EVENT_INVALID: ${err.message}`,
            ]);
            onError(err, ctx);
            continue;
          }
          // Bus trouble: record it on the row, delay this row, and stop the pass so later rows
          // keep their order behind it (the loop backs off as a whole).
          failed = true;
          await tx.query(
            `UPDATE stella_platform.outbox SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE id = $1`,
            [row.id, err instanceof Error ? err.message.slice(0, 2000) : String(err), backoff(row.attempts + 1)],
          );
          onError(err, ctx);
          break;
        }
      }
      if (sent.length > 0) await tx.query('DELETE FROM stella_platform.outbox WHERE id = ANY($1::bigint[])', [sent]);
      return { published: sent.length, failed, dead };
    });
  }

  let stopping = false;
  let wake = new AbortController();
  let failures = 0;
  const loop = (async () => {
    while (!stopping) {
      let more = false;
      try {
        const r = await runOnce();
        failures = r.failed ? failures + 1 : 0;
        more = !r.failed && r.published + r.dead === batchSize;
      } catch (err) {
        failures++;
        onError(err, {});
      }
      if (stopping) break;
      if (more) continue;
      await sleep(failures > 0 ? backoff(failures) : pollIntervalMs, wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    }
  })();

  return {
    notify() {
      wake.abort();
    },
    runOnce,
    async stop(opts = {}) {
      if (opts.drain) {
        const end = Date.now() + (opts.timeoutMs ?? 10_000);
        // Let the loop keep going; wait until a pass finds nothing due (or time runs out).
        while (Date.now() < end) {
          wake.abort();
          const { rows } = await db.query<{ n: string }>(
            'SELECT count(*) AS n FROM stella_platform.outbox WHERE dead_at IS NULL AND next_attempt_at <= now()',
          );
          if (Number(rows[0]?.n ?? 0) === 0) break;
          await sleep(Math.min(50, pollIntervalMs));
        }
      }
      stopping = true;
      wake.abort();
      await loop;
    },
  };
}
