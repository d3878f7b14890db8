/**
 * Range partitions of the timeline, created ahead of time (issue #9 item 7). The five tables
 * keyed by occurredAt are partitioned alike (0002, 0003), so one time range is one partition of
 * each. Runs as the owner (`db.transaction`, the `maintenance_all` policy of 0003) under a
 * transaction advisory lock, so replicas can all run it: one works, the others skip.
 *
 * A range is created when it is current or within `ahead` intervals, or when rows of it wait in
 * the DEFAULT partition (an upgraded database, an event far from now) — those rows are moved into
 * the new partition in the same transaction (PostgreSQL refuses a partition whose rows sit in
 * DEFAULT). Ranges that retention dropped (`timeline.dropped_ranges`) are never created again:
 * their held events live on in DEFAULT.
 */
import type { Db, Tx } from '@stella/platform/db';

export type PartitionInterval = 'day' | 'week' | 'month';
export const PARTITION_INTERVALS: readonly PartitionInterval[] = ['day', 'week', 'month'];

/** The tables partitioned by occurred_at, parents first in no particular dependency order. */
export const PARTITIONED_TABLES = [
  'events',
  'event_details',
  'event_digests',
  'evidence_links',
  'event_arrivals',
] as const;

/** Key of the maintenance advisory lock: the migration runner's 'STEL' class, 9 = issue #9. */
export const MAINTENANCE_LOCK: readonly [number, number] = [0x5354454c, 9];

export interface TimeRange {
  from: Date;
  to: Date;
}

/** The interval of `interval` that contains `t`, in UTC (weeks start on Monday, as `date_trunc`). */
export function rangeOf(t: Date, interval: PartitionInterval): TimeRange {
  const from = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), interval === 'month' ? 1 : t.getUTCDate()));
  if (interval === 'week') from.setUTCDate(from.getUTCDate() - ((from.getUTCDay() + 6) % 7));
  return { from, to: nextStart(from, interval) };
}

function nextStart(from: Date, interval: PartitionInterval): Date {
  const to = new Date(from);
  if (interval === 'month') to.setUTCMonth(to.getUTCMonth() + 1);
  else to.setUTCDate(to.getUTCDate() + (interval === 'week' ? 7 : 1));
  return to;
}

/** `events_p20260301`: the table and the range's first day (UTC). */
export function partitionName(table: string, r: TimeRange): string {
  return `${table}_p${r.from.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** A timestamp literal for DDL (partition bounds take no parameters); from a Date, so never injected. */
export const sqlTime = (d: Date) => `'${d.toISOString()}'::timestamptz`;

/** Runs `fn` in an owner transaction holding the maintenance lock; undefined when another holds it. */
export async function withMaintenanceLock<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T | undefined> {
  return db.transaction(async (tx) => {
    const got = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS ok', [
      ...MAINTENANCE_LOCK,
    ]);
    if (!got.rows[0]!.ok) return undefined;
    // Bounds print in UTC; a DDL lock that waits long would queue every query behind it.
    await tx.query("SELECT set_config('TimeZone', 'UTC', true), set_config('lock_timeout', '5s', true)");
    return fn(tx);
  });
}

export interface RangePartition extends TimeRange {
  /** The partition of timeline.events; the other tables' partitions share the suffix. */
  name: string;
}

/** The range partitions of timeline.events, oldest first (needs TimeZone UTC: {@link withMaintenanceLock}). */
export async function listRangePartitions(tx: Tx): Promise<RangePartition[]> {
  const r = await tx.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'timeline.events'::regclass`,
  );
  const ts = (s: string) => new Date(s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
  return r.rows
    .flatMap((row) => {
      const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(row.bound);
      return m ? [{ name: row.name, from: ts(m[1]!), to: ts(m[2]!) }] : [];
    })
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

export interface PartitionSettings {
  interval: PartitionInterval;
  /** Intervals created beyond the current one. */
  ahead: number;
}

/** Most ranges one run creates for rows found in DEFAULT (the next run continues). */
const MAX_BACKFILL = 24;

/**
 * Creates the missing partitions for `now` and the `ahead` intervals after it, and for rows
 * waiting in DEFAULT. Returns the names of the `events` partitions created (empty when another
 * replica holds the lock).
 */
export async function ensurePartitions(db: Db, s: PartitionSettings, now: Date): Promise<string[]> {
  const plan = await withMaintenanceLock(db, async (tx) => {
    const existing = await listRangePartitions(tx);
    const dropped = await tx.query<{ range_from: Date; range_to: Date }>(
      'SELECT range_from, range_to FROM timeline.dropped_ranges',
    );
    const wanted: TimeRange[] = [];
    let r = rangeOf(now, s.interval);
    for (let i = 0; i <= s.ahead; i++, r = { from: r.to, to: nextStart(r.to, s.interval) }) wanted.push(r);
    // Rows in DEFAULT whose range could get a partition. DEFAULT stays small once ranges exist ahead.
    const waiting = await tx.query<{ at: Date }>(
      `SELECT DISTINCT date_trunc($1, occurred_at) AS at FROM timeline.events_default ORDER BY 1 LIMIT $2`,
      [s.interval, MAX_BACKFILL * 4],
    );
    for (const w of waiting.rows) wanted.push(rangeOf(w.at, s.interval));
    const overlaps = (a: TimeRange, b: TimeRange) => a.from < b.to && b.from < a.to;
    const out: TimeRange[] = [];
    for (const w of wanted) {
      if (existing.some((e) => overlaps(e, w))) continue;
      if (dropped.rows.some((d) => overlaps({ from: d.range_from, to: d.range_to }, w))) continue;
      if (out.some((o) => overlaps(o, w))) continue;
      out.push(w);
    }
    return out.slice(0, s.ahead + 1 + MAX_BACKFILL);
  });
  const created: string[] = [];
  for (const range of plan ?? []) {
    const done = await withMaintenanceLock(db, async (tx) => {
      // Re-checked under the lock: a replica may have created it since the plan.
      if ((await listRangePartitions(tx)).some((e) => e.from < range.to && range.from < e.to)) return false;
      await createRangePartition(tx, db.appRole, range);
      return true;
    });
    if (done) created.push(partitionName('events', range));
  }
  return created;
}

/**
 * One range partition of each table, with the rows of that range moved out of DEFAULT, RLS and
 * both policies as 0002/0003 give every partition, and no UPDATE/DELETE for the app role.
 */
export async function createRangePartition(tx: Tx, appRole: string, r: TimeRange): Promise<void> {
  const app = `"${appRole}"`; // ROLE_NAME_PATTERN: a plain identifier
  const inRange = `occurred_at >= ${sqlTime(r.from)} AND occurred_at < ${sqlTime(r.to)}`;
  for (const table of PARTITIONED_TABLES) {
    const name = partitionName(table, r);
    await tx.query(
      `CREATE TEMP TABLE tl_moving ON COMMIT DROP AS
       WITH moved AS (DELETE FROM timeline.${table}_default WHERE ${inRange} RETURNING *) SELECT * FROM moved`,
    );
    await tx.query(
      `CREATE TABLE timeline.${name} PARTITION OF timeline.${table} FOR VALUES FROM (${sqlTime(r.from)}) TO (${sqlTime(r.to)})`,
    );
    await tx.query(`ALTER TABLE timeline.${name} ENABLE ROW LEVEL SECURITY`);
    await tx.query(`ALTER TABLE timeline.${name} FORCE ROW LEVEL SECURITY`);
    await tx.query(`CREATE POLICY tenant_isolation ON timeline.${name} TO ${app}
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))`);
    await tx.query(`CREATE POLICY maintenance_all ON timeline.${name} TO CURRENT_USER USING (true) WITH CHECK (true)`);
    await tx.query(`REVOKE UPDATE, DELETE ON timeline.${name} FROM ${app}`);
    await tx.query(`INSERT INTO timeline.${name} SELECT * FROM tl_moving`);
    await tx.query('DROP TABLE tl_moving');
  }
}
