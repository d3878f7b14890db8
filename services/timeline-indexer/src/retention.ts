/**
 * Per-tenant timeline retention (issue #9 items 4 and 7). An event expires when its occurredAt is
 * older than its tenant's retention — the tenant's own setting (`PUT /timeline/retention`,
 * routes/retention.ts) if it has one, else the configuration's —; an event linked to a bundle under a legal hold in force
 * (evidence.ts) never expires while the hold lasts. Runs as the owner under the maintenance
 * lock (partitions.ts).
 *
 * 1. Whole ranges first: a range partition is dropped when every tenant that has events in it
 *    has them all expired. Its held events are moved out first — copied, the partitions dropped,
 *    the copies inserted again, so they land in DEFAULT (no partition covers the range any more)
 *    and stay where every query already looks. The range goes to `timeline.dropped_ranges`, so
 *    it is never created again.
 * 2. Then row by row, in batches: a tenant's expired, unheld events in partitions other tenants
 *    still need, and in DEFAULT (released holds, events far from now).
 *
 * Dedupe after purge: a purged event's id leaves `timeline.event_ids` with it. "First write wins
 * for as long as the event exists" still holds; a copy published again after the purge is a new
 * event (and, being as old, is purged by the next run). Keeping the ids of purged events would
 * keep the one table that grows without bound.
 */
import type { Db, Tx } from '@stella/platform/db';
import {
  listRangePartitions,
  PARTITIONED_TABLES,
  sqlTime,
  withMaintenanceLock,
  type RangePartition,
} from './partitions.js';

export interface RetentionPolicy {
  /** Days an event is kept after its occurredAt; 0 keeps it forever. */
  defaultDays: number;
  /** Per-tenant overrides from the configuration (0 = forever). */
  tenants: ReadonlyMap<string, number>;
  /**
   * The tenants' own settings (`PUT /timeline/retention`, `timeline.retention_settings`): seconds,
   * or null for forever. They win over the configuration; {@link purgeExpired} reads them.
   */
  settings?: ReadonlyMap<string, number | null>;
}

/** Bounds of a tenant's own window: one hour to 36,500 days (the table's CHECK says the same). */
export const MIN_KEEP_SECONDS = 3600;
export const MAX_KEEP_SECONDS = 36_500 * 86_400;
/**
 * ISO 8601 durations of fixed-length parts only (days, hours, minutes, seconds: `P30D`,
 * `PT12H`), the grammar of the Evidence Locker's retention (services/evidence-locker/src/
 * retention/duration.ts). Years and months are refused: their length depends on the date.
 */
export const DURATION_PATTERN = '^P(?!$)(\\d{1,6}D)?(T(?=\\d)(\\d{1,7}H)?(\\d{1,9}M)?(\\d{1,10}S)?)?$';
const DURATION = new RegExp(DURATION_PATTERN);

/** Seconds of `text`, or undefined when it is not a duration of that form. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const n = (part: string | undefined) => (part ? Number(part.slice(0, -1)) : 0);
  const seconds = n(m[1]) * 86_400 + n(m[3]) * 3600 + n(m[4]) * 60 + n(m[5]);
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** The one canonical spelling of `seconds` (largest units first, zero parts left out). */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/** Every tenant's own setting, as the owner (under the maintenance lock). */
export async function loadRetentionSettings(tx: Tx): Promise<Map<string, number | null>> {
  const r = await tx.query<{ tenant_id: string; keep_seconds: string | null }>(
    'SELECT tenant_id, keep_seconds::text AS keep_seconds FROM timeline.retention_settings',
  );
  return new Map(r.rows.map((x) => [x.tenant_id, x.keep_seconds === null ? null : Number(x.keep_seconds)]));
}

/** `STELLA_TIMELINE_RETENTION_TENANTS`: `tenant=days` pairs separated by commas. */
export function parseTenantRetention(raw: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of raw.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})=(\d{1,6})$/.exec(part);
    if (!m) throw new Error(`expected tenant=days pairs separated by commas, got '${part}'`);
    if (out.has(m[1]!)) throw new Error(`tenant ${m[1]} is listed twice`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const DAY_MS = 86_400_000;

/** How long the tenant's events are kept (ms), or undefined when forever. */
export function keepMsOf(policy: RetentionPolicy, tenant: string): number | undefined {
  const own = policy.settings?.get(tenant);
  if (own !== undefined) return own === null ? undefined : own * 1000;
  const days = policy.tenants.get(tenant) ?? policy.defaultDays;
  return days === 0 ? undefined : days * DAY_MS;
}

/** The tenant's cutoff (events before it are expired), or undefined when it keeps events forever. */
export function cutoffOf(policy: RetentionPolicy, tenant: string, now: Date): Date | undefined {
  const keep = keepMsOf(policy, tenant);
  return keep === undefined ? undefined : new Date(now.getTime() - keep);
}

/** SQL: is the event `e` (any table alias with tenant_id, occurred_at, event_id) linked to held evidence? */
export const HELD = (e: string) => `EXISTS (SELECT 1 FROM timeline.evidence_links l
  JOIN timeline.evidence_holds h ON h.tenant_id = l.tenant_id AND h.bundle_id = l.bundle_id AND h.held
  WHERE l.tenant_id = ${e}.tenant_id AND l.occurred_at = ${e}.occurred_at AND l.event_id = ${e}.event_id)`;

export interface PurgeReport {
  /** `events` partitions dropped. */
  dropped: string[];
  /** Held events moved from dropped partitions into DEFAULT. */
  movedHeld: number;
  /** Events deleted row by row. */
  purged: number;
}

/** Rows deleted per statement in the row-by-row pass. */
const BATCH = 5000;

export async function purgeExpired(
  db: Db,
  configured: RetentionPolicy,
  now: Date,
  maxBatches = 20,
): Promise<PurgeReport> {
  const report: PurgeReport = { dropped: [], movedHeld: 0, purged: 0 };
  // The tenants' own settings as they are at the start of this run.
  const settings = await withMaintenanceLock(db, (tx) => loadRetentionSettings(tx));
  if (settings === undefined) return report; // another replica is working
  const policy: RetentionPolicy = { ...configured, settings };
  const candidates = (await withMaintenanceLock(db, (tx) => listRangePartitions(tx))) ?? [];
  for (const p of candidates) {
    if (p.to > now) break;
    const moved = await withMaintenanceLock(db, (tx) => dropIfExpired(tx, p, policy, now));
    if (moved !== undefined && moved !== false) {
      report.dropped.push(p.name);
      report.movedHeld += moved;
    }
  }
  const tenants =
    (await withMaintenanceLock(db, async (tx) =>
      (
        await tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM timeline.source_sequences ORDER BY 1')
      ).rows.map((r) => r.tenant_id),
    )) ?? [];
  let batches = 0;
  for (const tenant of tenants) {
    const cutoff = cutoffOf(policy, tenant, now);
    if (!cutoff) continue;
    for (; batches < maxBatches; batches++) {
      const n = await withMaintenanceLock(db, (tx) => purgeBatch(tx, tenant, cutoff));
      if (!n) break;
      report.purged += n;
      if (n < BATCH) break;
    }
  }
  return report;
}

/** The distinct tenants of a partition: a loose index scan of its primary key (tenant_id first). */
async function tenantsIn(tx: Tx, partition: string): Promise<string[]> {
  const r = await tx.query<{ id: string }>(
    `WITH RECURSIVE t(id) AS (
       SELECT min(tenant_id) FROM timeline.${partition}
       UNION ALL
       SELECT (SELECT min(tenant_id) FROM timeline.${partition} WHERE tenant_id > t.id) FROM t WHERE t.id IS NOT NULL
     ) SELECT id FROM t WHERE id IS NOT NULL`,
  );
  return r.rows.map((x) => x.id);
}

/**
 * Drops range `p` when all of its events have expired; returns the number of held events moved
 * into DEFAULT, or false when the range must stay.
 */
async function dropIfExpired(tx: Tx, p: RangePartition, policy: RetentionPolicy, now: Date): Promise<number | false> {
  const still = await listRangePartitions(tx);
  if (!still.some((s) => s.name === p.name)) return false;
  const tenants = await tenantsIn(tx, p.name);
  const expired = (t: string) => {
    const c = cutoffOf(policy, t, now);
    return c !== undefined && p.to <= c;
  };
  const defaultCutoff = policy.defaultDays === 0 ? undefined : new Date(now.getTime() - policy.defaultDays * DAY_MS);
  // An empty range goes only when the default retention would have expired it too.
  if (tenants.length === 0 ? !(defaultCutoff && p.to <= defaultCutoff) : !tenants.every(expired)) return false;
  const suffix = p.name.slice('events'.length);
  await tx.query(
    `CREATE TEMP TABLE tl_held ON COMMIT DROP AS
       SELECT e.tenant_id, e.occurred_at, e.event_id, e.source, e.ingest_seq FROM timeline.events${suffix} e WHERE ${HELD('e')}`,
  );
  const n = Number((await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM tl_held')).rows[0]!.n);
  // Copies of every row of the held events, in each table.
  const keep: Record<(typeof PARTITIONED_TABLES)[number], string> = {
    events: 'USING (tenant_id, occurred_at, event_id)',
    event_details: 'USING (tenant_id, occurred_at, event_id)',
    evidence_links: 'USING (tenant_id, occurred_at, event_id)',
    event_digests: 'USING (tenant_id, occurred_at, source, ingest_seq)',
    event_arrivals: 'USING (tenant_id, occurred_at, source, ingest_seq)',
  };
  if (n > 0)
    for (const table of PARTITIONED_TABLES)
      await tx.query(
        `CREATE TEMP TABLE tl_keep_${table} ON COMMIT DROP AS
           SELECT x.* FROM timeline.${table}${suffix} x JOIN tl_held ${keep[table]}`,
      );
  // The ids of the events that go (held events keep theirs: they still exist).
  await tx.query(
    `DELETE FROM timeline.event_ids i USING timeline.events${suffix} e
     WHERE i.tenant_id = e.tenant_id AND i.event_id = e.event_id AND i.occurred_at = e.occurred_at
       AND NOT EXISTS (SELECT 1 FROM tl_held h WHERE h.tenant_id = e.tenant_id AND h.event_id = e.event_id)`,
  );
  for (const table of PARTITIONED_TABLES) await tx.query(`DROP TABLE timeline.${table}${suffix}`);
  if (n > 0)
    for (const table of PARTITIONED_TABLES)
      await tx.query(`INSERT INTO timeline.${table} SELECT * FROM tl_keep_${table}`);
  await tx.query(
    `INSERT INTO timeline.dropped_ranges (range_from, range_to) VALUES (${sqlTime(p.from)}, ${sqlTime(p.to)})
     ON CONFLICT DO NOTHING`,
  );
  return n;
}

/** Deletes up to {@link BATCH} of the tenant's expired, unheld events from every table; returns how many. */
async function purgeBatch(tx: Tx, tenant: string, cutoff: Date): Promise<number> {
  await tx.query(
    `CREATE TEMP TABLE tl_victims ON COMMIT DROP AS
       SELECT tenant_id, occurred_at, source, ingest_seq, event_id FROM timeline.events WITH NO DATA`,
  );
  await tx.query(
    `INSERT INTO tl_victims SELECT e.tenant_id, e.occurred_at, e.source, e.ingest_seq, e.event_id FROM timeline.events e
     WHERE e.tenant_id = $1 AND e.occurred_at < $2 AND NOT ${HELD('e')}
     ORDER BY e.occurred_at LIMIT ${BATCH}`,
    [tenant, cutoff.toISOString()],
  );
  const n = Number((await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM tl_victims')).rows[0]!.n);
  if (n === 0) return 0;
  const byEvent = `(tenant_id, occurred_at, event_id) IN (SELECT tenant_id, occurred_at, event_id FROM tl_victims)`;
  const byPlace = `(tenant_id, occurred_at, source, ingest_seq) IN (SELECT tenant_id, occurred_at, source, ingest_seq FROM tl_victims)`;
  await tx.query(`DELETE FROM timeline.events WHERE ${byPlace}`);
  await tx.query(`DELETE FROM timeline.event_details WHERE ${byEvent}`);
  await tx.query(`DELETE FROM timeline.evidence_links WHERE ${byEvent}`);
  await tx.query(`DELETE FROM timeline.event_digests WHERE ${byPlace}`);
  await tx.query(`DELETE FROM timeline.event_arrivals WHERE ${byPlace}`);
  await tx.query(`DELETE FROM timeline.event_ids WHERE ${byEvent}`);
  return n;
}
