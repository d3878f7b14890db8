/**
 * Export schedules (issue #11 §1, EXPORT-SVC-37-003): a profile run on a cron expression in an
 * explicit IANA time zone, or when sources of some kinds changed and then stayed quiet for a
 * while. Validation reports every problem at once as `EXPORT_SCHEDULE_INVALID` with
 * `details.problems` (`{path, message, cronField?}`: an invalid cron names its field).
 */
import { StellaError } from '@stella/core/errors';
import { parseDuration } from '../duration.js';
import { SOURCE_KINDS, type SourceKind } from '../sources/source-record.js';
import { checkCron } from './cron.js';
import { isTimeZone } from './cron.js';

export const MISSED_FIRE_POLICIES = ['skip', 'catchUpOnce'] as const;
export type MissedFirePolicy = (typeof MISSED_FIRE_POLICIES)[number];

export type ScheduleTrigger =
  | { readonly type: 'cron'; readonly cron: string; readonly timeZone: string }
  | { readonly type: 'event'; readonly kinds: readonly SourceKind[]; readonly quietSeconds: number };

export interface ScheduleSpec {
  readonly profileId: string;
  readonly name: string;
  readonly trigger: ScheduleTrigger;
  readonly missedFires: MissedFirePolicy;
  readonly enabled: boolean;
}

export interface ScheduleProblem {
  path: string;
  message: string;
  cronField?: string;
}

const BODY_KEYS = ['profileId', 'name', 'cron', 'timeZone', 'event', 'missedFires', 'enabled'];
const ID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
// eslint-disable-next-line no-control-regex
const NAME = /^[^\u0000-\u001f\u007f]{1,200}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function scheduleInvalid(problems: ScheduleProblem[]): StellaError {
  return new StellaError(
    'EXPORT_SCHEDULE_INVALID',
    `the schedule is invalid: ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`,
    { details: { problems } },
  );
}

/** Validates a create/replace body; throws EXPORT_SCHEDULE_INVALID listing every problem. */
export function validateSchedule(body: unknown, opts: { minIntervalS: number }): ScheduleSpec {
  if (!isObject(body)) throw scheduleInvalid([{ path: '', message: 'must be an object' }]);
  const problems: ScheduleProblem[] = [];
  for (const k of Object.keys(body))
    if (!BODY_KEYS.includes(k)) problems.push({ path: `/${k}`, message: 'is not a schedule field' });
  if (typeof body.profileId !== 'string' || !ID.test(body.profileId))
    problems.push({ path: '/profileId', message: 'must be a profile id (ULID)' });
  if (body.name !== undefined && (typeof body.name !== 'string' || !NAME.test(body.name)))
    problems.push({ path: '/name', message: 'must be 1–200 characters without control characters' });
  const missed = body.missedFires ?? 'skip';
  if (!(MISSED_FIRE_POLICIES as readonly unknown[]).includes(missed))
    problems.push({ path: '/missedFires', message: `must be one of ${MISSED_FIRE_POLICIES.join(', ')}` });
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean')
    problems.push({ path: '/enabled', message: 'must be a boolean' });

  let trigger: ScheduleTrigger | undefined;
  if ((body.cron === undefined) === (body.event === undefined)) {
    problems.push({ path: '', message: 'needs exactly one trigger: `cron` (with `timeZone`) or `event`' });
  } else if (body.cron !== undefined) {
    const zoneOk = isTimeZone(body.timeZone);
    if (body.timeZone === undefined)
      problems.push({
        path: '/timeZone',
        message: 'is required with `cron` (an IANA time zone, e.g. `Europe/Berlin` or `UTC`)',
      });
    else if (!zoneOk) problems.push({ path: '/timeZone', message: 'is not an IANA time zone this server knows' });
    if (typeof body.cron !== 'string' || body.cron.trim() === '' || body.cron.length > 200)
      problems.push({ path: '/cron', message: 'must be a cron expression of at most 200 characters' });
    else {
      const p = checkCron(body.cron, zoneOk ? (body.timeZone as string) : 'UTC', opts.minIntervalS);
      if (p) problems.push({ path: '/cron', message: p.message, ...(p.field ? { cronField: p.field } : {}) });
      else if (zoneOk)
        trigger = { type: 'cron', cron: body.cron.trim().replace(/\s+/g, ' '), timeZone: body.timeZone as string };
    }
  } else {
    if (body.timeZone !== undefined) problems.push({ path: '/timeZone', message: 'applies to `cron` schedules only' });
    const ev = body.event;
    if (!isObject(ev)) problems.push({ path: '/event', message: 'must be {kinds, quietPeriod}' });
    else {
      for (const k of Object.keys(ev))
        if (k !== 'kinds' && k !== 'quietPeriod') problems.push({ path: `/event/${k}`, message: 'is not allowed' });
      const kinds = ev.kinds;
      const kindsOk =
        Array.isArray(kinds) &&
        kinds.length > 0 &&
        kinds.every((k) => (SOURCE_KINDS as readonly unknown[]).includes(k)) &&
        new Set(kinds).size === kinds.length;
      if (!kindsOk)
        problems.push({ path: '/event/kinds', message: `must be distinct source kinds (${SOURCE_KINDS.join(', ')})` });
      const quiet = parseDuration(ev.quietPeriod);
      if (quiet === undefined)
        problems.push({
          path: '/event/quietPeriod',
          message: 'must be a positive ISO 8601 duration in days, hours, minutes or seconds (e.g. PT5M)',
        });
      if (kindsOk && quiet !== undefined)
        trigger = { type: 'event', kinds: [...(kinds as SourceKind[])].sort(), quietSeconds: quiet };
    }
  }
  if (problems.length || !trigger) throw scheduleInvalid(problems);
  return {
    profileId: body.profileId as string,
    name: (body.name as string | undefined) ?? '',
    trigger,
    missedFires: missed as MissedFirePolicy,
    enabled: (body.enabled as boolean | undefined) ?? true,
  };
}
