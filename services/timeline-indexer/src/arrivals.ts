/**
 * The arrival order of a tenant's timeline: the resume key of `GET /timeline/stream` (issue #9
 * item 3). The timeline's own order (occurredAt, source, sequence) cannot be resumed — an event
 * that arrives late with an older occurredAt sorts before a position already sent — so every
 * stored event also gets a per-tenant arrival number.
 *
 * Why numbers cannot be missed: a bigserial is handed out at insert, not at commit, so arrival
 * 42 could commit after 43 and a reader resuming after 43 would never see it. Here the numbers
 * come from the `timeline.tenant_arrivals` row, locked by the last statement of the ingest
 * transaction and held until its COMMIT: the next transaction of the tenant reads the counter
 * only after the previous one committed (PostgreSQL releases row locks after the commit is
 * visible). A reader that sees arrival N therefore sees every arrival below N, and the counter
 * row it reads in the same snapshot is an exact upper bound. Cost: a tenant's ingest
 * transactions serialize from this statement to their COMMIT — one small insert and the commit.
 */
import type { Tx } from '@stella/platform/db';
import type { StoredEvent } from './evidence.js';

/**
 * Numbers `rows` (in the order given) after the tenant's last arrival. Must be the last
 * statement that takes a lock in the ingest transaction: a lock taken after it could wait on a
 * transaction that waits for this row (a deadlock).
 */
export async function recordArrivals(tx: Tx, rows: readonly StoredEvent[]): Promise<void> {
  if (rows.length === 0) return;
  // One statement: take the counter row (held to COMMIT) and number the rows after it.
  await tx.query(
    `WITH c AS (
       INSERT INTO timeline.tenant_arrivals (last_arrival) VALUES ($1::bigint)
       ON CONFLICT (tenant_id) DO UPDATE SET last_arrival = timeline.tenant_arrivals.last_arrival + $1::bigint
       RETURNING last_arrival
     )
     INSERT INTO timeline.event_arrivals (arrival_seq, occurred_at, source, ingest_seq)
     SELECT c.last_arrival - $1::bigint + u.ord, u.o, u.s, u.q
     FROM c, unnest($2::timestamptz[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(o, s, q, ord)`,
    [String(rows.length), rows.map((x) => x.at), rows.map((x) => x.event.source), rows.map((x) => String(x.seq))],
  );
}

/** The tenant's last committed arrival number (0 before its first event), as this snapshot sees it. */
export async function lastArrival(tx: Tx, tenant: string): Promise<bigint> {
  const r = await tx.query<{ last_arrival: string }>(
    'SELECT last_arrival::text FROM timeline.tenant_arrivals WHERE tenant_id = $1',
    [tenant],
  );
  return r.rows[0] ? BigInt(r.rows[0].last_arrival) : 0n;
}
