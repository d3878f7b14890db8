/**
 * One scheduler pass (the leader calls it every STELLA_EXPORT_SCHEDULER_TICK_MS; ADR 0020): every
 * due schedule is handled in its own tenant transaction that locks the schedule row, re-checks
 * that it is still due, records the fire under its key and creates the run — so a fire is a run
 * and its fire row, both or neither.
 *
 * Cron: the due fires are those in [next_fire_at, now]. One found within
 * STELLA_EXPORT_MISSED_FIRE_GRACE_MS of its time is on time and starts a run; older ones were
 * missed (no scheduler ran) and follow the schedule's policy: `skip` records one skipped fire
 * (with the count) and starts nothing, `catchUpOnce` starts one run for the latest missed fire.
 * Then next_fire_at moves to the first fire after now.
 *
 * Event: the kinds' ledger head is compared with the head last fired for. A new head is noted
 * (seen_head, seen_at); once it has stayed the same for the quiet period the schedule fires, keyed
 * by (schedule, seen_at + quiet) and by the head. Changes that arrive while no scheduler runs
 * are seen at the next pass and fire once — an event trigger always catches up once.
 *
 * Idempotency: the fire row's primary key (tenant, schedule, scheduled time), and for event
 * fires the unique (tenant, schedule, ledger head). A fire that meets its key (two leaders for a
 * moment, a replayed pass) creates no run.
 */
import { monotonicFactory } from 'ulid';
import { isStellaError } from '@stella/core/errors';
import type { Db } from '@stella/platform/db';
import type { TenantTx } from '@stella/platform/service';
import type { ExportMetrics } from '../metrics.js';
import { getProfile } from '../profiles/profile.repository.js';
import type { ExportEngine } from '../runs/export-engine.js';
import { appendEvent, insertRun } from '../runs/run.repository.js';
import type { ExportSettings } from '../settings.js';
import { systemTransaction } from '../system-tx.js';
import { firesBetween, lastFireBefore, nextFire } from './cron.js';
import {
  advanceCron,
  dueSchedules,
  getSchedule,
  kindsHead,
  noteEventHead,
  recordFire,
  suspendSchedule,
  type ScheduleRow,
} from './schedule.repository.js';

const ulid = monotonicFactory();
/** Missed fires are counted up to this many (a `missed` of this value means "at least"). */
const MISSED_COUNT_CAP = 10_000;
export const SCHEDULER_ACTOR = 'system:export-scheduler';

export interface SchedulerEnv {
  readonly db: Db;
  readonly engine: Pick<ExportEngine, 'openLedger'>;
  readonly settings: Pick<ExportSettings, 'missedFireGraceMs' | 'maxAttempts'>;
  readonly log: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  readonly metrics?: ExportMetrics;
  /** Who fires (recorded on every fire row): the leader's id. */
  readonly firedBy: string;
}

export type FireResult =
  | { tenant: string; scheduleId: string; result: 'run'; runId: string; scheduledFor: Date; missed: number }
  | { tenant: string; scheduleId: string; result: 'skipped'; scheduledFor: Date; missed: number }
  | { tenant: string; scheduleId: string; result: 'duplicate'; scheduledFor: Date }
  | { tenant: string; scheduleId: string; result: 'suspended'; code: string };

/** Handles every due schedule once; returns what each fire did (nothing for schedules not due yet). */
export async function runSchedulerPass(env: SchedulerEnv, now = new Date()): Promise<FireResult[]> {
  const out: FireResult[] = [];
  for (const s of await dueSchedules(env.db, now)) {
    try {
      const r = await fireSchedule(env, s.tenant, s.scheduleId, now);
      if (r) {
        out.push(r);
        env.metrics?.fires.inc({ trigger: s.trigger, result: r.result });
      }
    } catch (err) {
      // One broken schedule must not starve the others; the next pass retries it (same key).
      env.log.warn({ err, tenant: s.tenant, scheduleId: s.scheduleId }, 'export schedule fire failed');
    }
  }
  return out;
}

async function fireSchedule(env: SchedulerEnv, tenant: string, scheduleId: string, now: Date) {
  // The tenant's ledger head, read before the fire's transaction (the reader has its own), as
  // POST /v1/exports/runs does: the run exports what was committed up to here.
  const pinned = await env.engine.openLedger(env.db, tenant).head();
  return systemTransaction(env.db, tenant, SCHEDULER_ACTOR, async (tx): Promise<FireResult | undefined> => {
    const s = await getSchedule(tx, scheduleId, { forUpdate: true }).catch((err: unknown) => {
      if (isStellaError(err) && err.code === 'EXPORT_SCHEDULE_NOT_FOUND') return undefined; // deleted meanwhile
      throw err;
    });
    if (!s || !s.enabled || s.suspended_code) return undefined;
    return s.trigger === 'cron' ? fireCron(env, tx, s, now, pinned) : fireEvent(env, tx, s, now, pinned);
  });
}

async function fireCron(
  env: SchedulerEnv,
  tx: TenantTx,
  s: ScheduleRow,
  now: Date,
  pinned: bigint,
): Promise<FireResult | undefined> {
  // Re-checked under the row lock: another leader may have handled it since dueSchedules.
  if (!s.next_fire_at || s.next_fire_at.getTime() > now.getTime()) return undefined;
  const from = s.next_fire_at;
  const graceStart = new Date(now.getTime() - env.settings.missedFireGraceMs);
  // Missed: the fires in [next_fire_at, graceStart). Counted up to a cap; after a long downtime
  // the latest of them is found directly, so the count is "at least" but the time is exact.
  let missed: Date[] = [];
  let missedCount = 0;
  if (from.getTime() < graceStart.getTime()) {
    const m = firesBetween(s.cron!, s.time_zone!, from, new Date(graceStart.getTime() - 1), MISSED_COUNT_CAP);
    missed = m.fires.filter((f) => f.getTime() < graceStart.getTime());
    missedCount = missed.length;
    if (m.truncated) {
      const latest = lastFireBefore(s.cron!, s.time_zone!, graceStart);
      if (latest) missed.push(latest);
    }
  }
  // On time: the fires in [max(next_fire_at, graceStart), now] (a grace's worth at most).
  const fromOnTime = from.getTime() >= graceStart.getTime();
  const onTimeFrom = fromOnTime ? from : new Date(graceStart.getTime() - 1000);
  const onTime = firesBetween(s.cron!, s.time_zone!, onTimeFrom, now, 1000, fromOnTime).fires.filter(
    (f) => f.getTime() >= graceStart.getTime() && f.getTime() >= from.getTime(),
  );
  const next = nextFire(s.cron!, s.time_zone!, now) ?? null;

  // Missed fires fold into one fire row at the latest of them; on-time fires each start a run.
  const plan: { at: Date; missed: number; run: boolean }[] = [];
  if (missed.length) {
    const latest = missed[missed.length - 1]!;
    const catchUp = s.missed_fires === 'catchUpOnce';
    plan.push({ at: latest, missed: catchUp ? missedCount - 1 : missedCount, run: catchUp });
  }
  for (const at of onTime) plan.push({ at, missed: 0, run: true });

  let result: FireResult | undefined;
  let lastRun: string | undefined;
  for (const p of plan) {
    const r = p.run
      ? await startRun(env, tx, s, { scheduledFor: p.at, missed: p.missed, ledgerSeq: pinned })
      : await skipFire(env, tx, s, p.at, p.missed);
    if (r.result === 'suspended') return r;
    if (r.result === 'run') lastRun = r.runId;
    result = r;
  }
  await advanceCron(tx, s.schedule_id, next, result ? { at: now, ...(lastRun ? { runId: lastRun } : {}) } : undefined);
  return result;
}

async function fireEvent(
  env: SchedulerEnv,
  tx: TenantTx,
  s: ScheduleRow,
  now: Date,
  pinned: bigint,
): Promise<FireResult | undefined> {
  const head = await kindsHead(tx, s.kinds!);
  if (head <= BigInt(s.fired_head!)) return undefined;
  if (s.seen_head === null || BigInt(s.seen_head) !== head || !s.seen_at) {
    // Something changed since the last look: (re)start the quiet period.
    await noteEventHead(tx, s.schedule_id, { seenHead: head, seenAt: now });
    return undefined;
  }
  const quietEnds = new Date(s.seen_at.getTime() + s.quiet_seconds! * 1000);
  if (quietEnds.getTime() > now.getTime()) return undefined;
  // The run reads at least the head that triggered it (the pinned tenant head may be older only
  // if this head was committed in between; every sequence up to it is committed either way).
  const r = await startRun(env, tx, s, {
    scheduledFor: quietEnds,
    missed: 0,
    ledgerSeq: pinned > head ? pinned : head,
    ledgerHead: head,
  });
  if (r.result === 'suspended') return r;
  await noteEventHead(tx, s.schedule_id, {
    seenHead: head,
    seenAt: s.seen_at,
    firedHead: head,
    ...(r.result === 'run' ? { fired: { at: now, runId: r.runId } } : {}),
  });
  return r;
}

async function skipFire(
  env: SchedulerEnv,
  tx: TenantTx,
  s: ScheduleRow,
  at: Date,
  missed: number,
): Promise<FireResult> {
  const base = { tenant: tx.tenant, scheduleId: s.schedule_id, scheduledFor: at };
  if (
    !(await recordFire(tx, {
      scheduleId: s.schedule_id,
      scheduledFor: at,
      outcome: 'skipped',
      missed,
      firedBy: env.firedBy,
    }))
  )
    return { ...base, result: 'duplicate' };
  await tx.audit({
    action: 'export.schedule.fire',
    resource: s.schedule_id,
    outcome: 'ok',
    details: { scheduledFor: at.toISOString(), outcome: 'skipped', missed, policy: s.missed_fires },
  });
  env.log.warn({ tenant: tx.tenant, scheduleId: s.schedule_id, missed }, 'export schedule: missed fires skipped');
  return { ...base, result: 'skipped', missed };
}

/** The fire row and its run, in the caller's transaction; a deleted profile suspends the schedule. */
async function startRun(
  env: SchedulerEnv,
  tx: TenantTx,
  s: ScheduleRow,
  fire: { scheduledFor: Date; missed: number; ledgerSeq: bigint; ledgerHead?: bigint },
): Promise<FireResult> {
  const base = { tenant: tx.tenant, scheduleId: s.schedule_id };
  let profile;
  try {
    profile = await getProfile(tx, s.profile_id);
  } catch (err) {
    if (!isStellaError(err) || err.code !== 'EXPORT_PROFILE_NOT_FOUND') throw err;
    // Retrying cannot bring the profile back: stop firing and say why on the schedule.
    await suspendSchedule(tx, s.schedule_id, err.code, `profile ${s.profile_id} was deleted`);
    await tx.audit({
      action: 'export.schedule.suspend',
      resource: s.schedule_id,
      outcome: 'failed',
      details: { code: err.code, profileId: s.profile_id },
    });
    return { ...base, result: 'suspended', code: err.code };
  }
  const runId = ulid();
  const recorded = await recordFire(tx, {
    scheduleId: s.schedule_id,
    scheduledFor: fire.scheduledFor,
    ...(fire.ledgerHead !== undefined ? { ledgerHead: fire.ledgerHead } : {}),
    outcome: 'run',
    missed: fire.missed,
    runId,
    firedBy: env.firedBy,
  });
  if (!recorded) return { ...base, result: 'duplicate', scheduledFor: fire.scheduledFor };
  const run = await insertRun(tx, {
    id: runId,
    profileId: profile.id,
    profileVersion: profile.version,
    ledgerSeq: fire.ledgerSeq,
    maxAttempts: env.settings.maxAttempts,
    actor: SCHEDULER_ACTOR,
  });
  await appendEvent(tx, runId, 'status', { status: 'queued', attempt: 0, scheduleId: s.schedule_id });
  const details = {
    scheduleId: s.schedule_id,
    scheduledFor: fire.scheduledFor.toISOString(),
    missed: fire.missed,
    profileId: profile.id,
    profileVersion: profile.version,
    ledgerSeq: fire.ledgerSeq.toString(),
  };
  await tx.audit({ action: 'export.run.create', resource: runId, details });
  await tx.publish({
    kind: 'export.requested',
    subject: runId,
    attributes: {
      runId,
      profileId: profile.id,
      profileVersion: profile.version,
      adapter: profile.adapter,
      ledgerSeq: fire.ledgerSeq.toString(),
      scheduleId: s.schedule_id,
      scheduledFor: details.scheduledFor,
    },
  });
  return { ...base, result: 'run', runId: run.run_id, scheduledFor: fire.scheduledFor, missed: fire.missed };
}
