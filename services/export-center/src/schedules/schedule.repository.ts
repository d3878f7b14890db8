/**
 * SQL of export schedules and their fires (the only place that knows export_center.export_schedules
 * and export_schedule_fires). Tenant functions take a tenant transaction (RLS); `dueSchedules` is
 * the scheduler leader's one cross-tenant read (owner role, policy `scheduler_read`, 0006).
 */
import { StellaError } from '@stella/core/errors';
import type { Db, Queryable } from '@stella/platform/db';
import { formatDuration } from '../duration.js';
import type { SourceKind } from '../sources/source-record.js';
import type { MissedFirePolicy, ScheduleSpec } from './schedule.js';

export type ScheduleRow = {
  schedule_id: string;
  profile_id: string;
  name: string;
  trigger: 'cron' | 'event';
  cron: string | null;
  time_zone: string | null;
  kinds: SourceKind[] | null;
  quiet_seconds: number | null;
  missed_fires: MissedFirePolicy;
  enabled: boolean;
  next_fire_at: Date | null;
  seen_head: string | null;
  seen_at: Date | null;
  fired_head: string | null;
  last_fire_at: Date | null;
  last_run_id: string | null;
  suspended_code: string | null;
  suspended_message: string | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
};

const COLUMNS = `schedule_id, profile_id, name, trigger, cron, time_zone, kinds, quiet_seconds, missed_fires, enabled,
  next_fire_at, seen_head::text AS seen_head, seen_at, fired_head::text AS fired_head, last_fire_at, last_run_id,
  suspended_code, suspended_message, created_at, created_by, updated_at`;

/** The schedule as the API shows it. */
export function scheduleView(r: ScheduleRow) {
  return {
    id: r.schedule_id,
    profileId: r.profile_id,
    name: r.name,
    ...(r.trigger === 'cron'
      ? { cron: r.cron!, timeZone: r.time_zone! }
      : { event: { kinds: r.kinds!, quietPeriod: formatDuration(r.quiet_seconds!) } }),
    missedFires: r.missed_fires,
    enabled: r.enabled,
    ...(r.next_fire_at && r.trigger === 'cron' ? { nextFireAt: r.next_fire_at.toISOString() } : {}),
    ...(r.last_fire_at ? { lastFireAt: r.last_fire_at.toISOString() } : {}),
    ...(r.last_run_id ? { lastRunId: r.last_run_id } : {}),
    ...(r.suspended_code ? { suspended: { code: r.suspended_code, message: r.suspended_message ?? '' } } : {}),
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    updatedAt: r.updated_at.toISOString(),
  };
}
export type ScheduleView = ReturnType<typeof scheduleView>;

export function scheduleNotFound(id: string): StellaError {
  return new StellaError('EXPORT_SCHEDULE_NOT_FOUND', `no export schedule ${id}`, { details: { scheduleId: id } });
}

/**
 * The highest ledger sequence among the tenant's records of `kinds` (and the global advisories
 * when `advisory` is one): what an event trigger watches. RLS narrows the read to the tenant.
 */
export async function kindsHead(tx: Queryable, kinds: readonly string[]): Promise<bigint> {
  const r = await tx.query<{ head: string }>(
    `SELECT coalesce(max(ledger_seq), 0)::text AS head FROM export_center.source_records WHERE kind = ANY($1::text[])`,
    [[...kinds]],
  );
  return BigInt(r.rows[0]!.head);
}

/** Trigger columns of a spec; `nextFireAt` for cron, the current kinds head for event triggers. */
function triggerParams(spec: ScheduleSpec, state: { nextFireAt?: Date; head?: bigint }) {
  const t = spec.trigger;
  return t.type === 'cron'
    ? [t.type, t.cron, t.timeZone, null, null, state.nextFireAt ?? null, null]
    : [t.type, null, null, [...t.kinds], t.quietSeconds, null, (state.head ?? 0n).toString()];
}

export async function insertSchedule(
  tx: Queryable,
  id: string,
  spec: ScheduleSpec,
  state: { nextFireAt?: Date; head?: bigint },
  actor: string,
): Promise<ScheduleRow> {
  const r = await tx.query<ScheduleRow>(
    `INSERT INTO export_center.export_schedules
       (schedule_id, profile_id, name, missed_fires, enabled, created_by,
        trigger, cron, time_zone, kinds, quiet_seconds, next_fire_at, fired_head)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11, $12, $13::bigint) RETURNING ${COLUMNS}`,
    [id, spec.profileId, spec.name, spec.missedFires, spec.enabled, actor, ...triggerParams(spec, state)],
  );
  return r.rows[0]!;
}

/** Replaces a live schedule's definition; its trigger state starts afresh (next fire, kinds head). */
export async function replaceSchedule(
  tx: Queryable,
  id: string,
  spec: ScheduleSpec,
  state: { nextFireAt?: Date; head?: bigint },
): Promise<ScheduleRow> {
  const r = await tx.query<ScheduleRow>(
    `UPDATE export_center.export_schedules SET profile_id = $2, name = $3, missed_fires = $4, enabled = $5,
       trigger = $6, cron = $7, time_zone = $8, kinds = $9::text[], quiet_seconds = $10, next_fire_at = $11,
       fired_head = $12::bigint, seen_head = NULL, seen_at = NULL, suspended_code = NULL, suspended_message = NULL,
       updated_at = now()
     WHERE schedule_id = $1 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
    [id, spec.profileId, spec.name, spec.missedFires, spec.enabled, ...triggerParams(spec, state)],
  );
  if (!r.rows[0]) throw scheduleNotFound(id);
  return r.rows[0];
}

/** A live schedule of the tenant (RLS), or EXPORT_SCHEDULE_NOT_FOUND. */
export async function getSchedule(tx: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<ScheduleRow> {
  const r = await tx.query<ScheduleRow>(
    `SELECT ${COLUMNS} FROM export_center.export_schedules WHERE schedule_id = $1 AND deleted_at IS NULL${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!r.rows[0]) throw scheduleNotFound(id);
  return r.rows[0];
}

export async function listSchedules(tx: Queryable, q: { profileId?: string }): Promise<ScheduleRow[]> {
  const r = await tx.query<ScheduleRow>(
    `SELECT ${COLUMNS} FROM export_center.export_schedules WHERE deleted_at IS NULL
       ${q.profileId ? 'AND profile_id = $1' : ''} ORDER BY schedule_id`,
    q.profileId ? [q.profileId] : [],
  );
  return r.rows;
}

export async function deleteSchedule(tx: Queryable, id: string): Promise<void> {
  const r = await tx.query(
    'UPDATE export_center.export_schedules SET deleted_at = now(), updated_at = now() WHERE schedule_id = $1 AND deleted_at IS NULL',
    [id],
  );
  if (r.rowCount === 0) throw scheduleNotFound(id);
}

/** Live, enabled, unsuspended schedules whose cron fire is due, and every event schedule (owner read). */
export async function dueSchedules(
  db: Db,
  now: Date,
  limit = 500,
): Promise<{ tenant: string; scheduleId: string; trigger: 'cron' | 'event' }[]> {
  const r = await db.query<{ tenant_id: string; schedule_id: string; trigger: 'cron' | 'event' }>(
    `SELECT tenant_id, schedule_id, trigger FROM export_center.export_schedules
     WHERE deleted_at IS NULL AND enabled AND suspended_code IS NULL
       AND (trigger = 'event' OR next_fire_at <= $1)
     ORDER BY next_fire_at NULLS LAST, tenant_id, schedule_id LIMIT $2`,
    [now, limit],
  );
  return r.rows.map((x) => ({ tenant: x.tenant_id, scheduleId: x.schedule_id, trigger: x.trigger }));
}

/**
 * Records one fire; false when (schedule, scheduled time) — or, for an event fire, (schedule,
 * ledger head) — was already recorded: a retried or duplicated fire, which must start nothing.
 */
export async function recordFire(
  tx: Queryable,
  fire: {
    scheduleId: string;
    scheduledFor: Date;
    ledgerHead?: bigint;
    outcome: 'run' | 'skipped';
    missed: number;
    runId?: string;
    firedBy: string;
  },
): Promise<boolean> {
  const r = await tx.query(
    `INSERT INTO export_center.export_schedule_fires (schedule_id, scheduled_for, ledger_head, outcome, missed, run_id, fired_by)
     VALUES ($1, $2, $3::bigint, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [
      fire.scheduleId,
      fire.scheduledFor,
      fire.ledgerHead?.toString() ?? null,
      fire.outcome,
      fire.missed,
      fire.runId ?? null,
      fire.firedBy,
    ],
  );
  return r.rowCount === 1;
}

export async function advanceCron(
  tx: Queryable,
  id: string,
  next: Date | null,
  fired: { at: Date; runId?: string } | undefined,
): Promise<void> {
  await tx.query(
    `UPDATE export_center.export_schedules SET next_fire_at = $2,
       last_fire_at = coalesce($3, last_fire_at), last_run_id = coalesce($4, last_run_id)
     WHERE schedule_id = $1`,
    [id, next, fired?.at ?? null, fired?.runId ?? null],
  );
}

export async function noteEventHead(
  tx: Queryable,
  id: string,
  state: { seenHead: bigint; seenAt: Date; firedHead?: bigint; fired?: { at: Date; runId: string } },
): Promise<void> {
  await tx.query(
    `UPDATE export_center.export_schedules SET seen_head = $2::bigint, seen_at = $3,
       fired_head = coalesce($4::bigint, fired_head), last_fire_at = coalesce($5, last_fire_at),
       last_run_id = coalesce($6, last_run_id)
     WHERE schedule_id = $1`,
    [
      id,
      state.seenHead.toString(),
      state.seenAt,
      state.firedHead?.toString() ?? null,
      state.fired?.at ?? null,
      state.fired?.runId ?? null,
    ],
  );
}

export async function suspendSchedule(tx: Queryable, id: string, code: string, message: string): Promise<void> {
  await tx.query(
    'UPDATE export_center.export_schedules SET suspended_code = $2, suspended_message = $3, updated_at = now() WHERE schedule_id = $1',
    [id, code, message.slice(0, 2000)],
  );
}

export type FireRow = {
  scheduled_for: Date;
  ledger_head: string | null;
  outcome: 'run' | 'skipped';
  missed: number;
  run_id: string | null;
  fired_at: Date;
  fired_by: string;
};

export function fireView(f: FireRow) {
  return {
    scheduledFor: f.scheduled_for.toISOString(),
    outcome: f.outcome,
    missed: f.missed,
    ...(f.ledger_head !== null ? { ledgerHead: f.ledger_head } : {}),
    ...(f.run_id ? { runId: f.run_id } : {}),
    firedAt: f.fired_at.toISOString(),
    firedBy: f.fired_by,
  };
}

/** The schedule's latest fires, newest first. */
export async function listFires(tx: Queryable, id: string, limit: number): Promise<FireRow[]> {
  const r = await tx.query<FireRow>(
    `SELECT scheduled_for, ledger_head::text AS ledger_head, outcome, missed, run_id, fired_at, fired_by
     FROM export_center.export_schedule_fires WHERE schedule_id = $1 ORDER BY scheduled_for DESC LIMIT $2`,
    [id, limit],
  );
  return r.rows;
}
