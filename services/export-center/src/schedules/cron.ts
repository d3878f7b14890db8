/**
 * Cron expressions in an explicit IANA time zone, through `croner` (Vixie-cron syntax plus an
 * optional leading seconds field; DST gaps and overlaps resolved by croner: a time that does not
 * exist that day fires at the first instant after the gap, a repeated one fires once).
 *
 * Validation names the cron field at fault (`minute`, `hour`, …): croner reports the whole
 * pattern, so each field is checked alone against an otherwise all-`*` pattern.
 */
import { Cron } from 'croner';

const FIELDS_5 = ['minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] as const;
const FIELDS_6 = ['second', ...FIELDS_5] as const;

export interface CronProblem {
  /** The cron field at fault, when one is (`second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek`). */
  field?: string;
  message: string;
}

/** True when `zone` is an IANA time zone name this runtime knows (`UTC` included). */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone.length === 0 || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function compile(pattern: string, timeZone: string): Cron {
  // `paused`: the object only computes times; nothing is ever scheduled on the event loop.
  return new Cron(pattern, { timezone: timeZone, paused: true });
}

/**
 * Checks `pattern` (5 fields, or 6 with seconds first; `@hourly`-style nicknames too) in
 * `timeZone`; returns the problem or undefined. Refuses patterns that never fire and, below
 * `minIntervalS`, patterns that fire too often.
 */
export function checkCron(pattern: string, timeZone: string, minIntervalS: number): CronProblem | undefined {
  const fields = pattern.trim().split(/\s+/);
  if (!pattern.trim().startsWith('@') && fields.length !== 5 && fields.length !== 6)
    return {
      message: `must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), not ${fields.length}`,
    };
  let cron: Cron;
  try {
    cron = compile(pattern, timeZone);
  } catch (err) {
    const names = fields.length === 6 ? FIELDS_6 : FIELDS_5;
    for (let i = 0; i < fields.length && !pattern.trim().startsWith('@'); i++) {
      try {
        compile(fields.map((f, j) => (j === i ? f : '*')).join(' '), timeZone);
      } catch {
        return { field: names[i], message: `${names[i]} field ${JSON.stringify(fields[i])} is invalid` };
      }
    }
    return { message: (err as Error).message.replace(/^CronPattern: /, '') };
  }
  const next = cron.nextRuns(6, new Date());
  if (next.length === 0) return { message: 'never fires (no date matches every field)' };
  for (let i = 1; i < next.length; i++) {
    const gap = (next[i]!.getTime() - next[i - 1]!.getTime()) / 1000;
    if (gap < minIntervalS)
      return {
        ...(fields.length === 6 ? { field: 'second' } : {}),
        message: `fires every ${gap} s; the shortest interval allowed is ${minIntervalS} s (STELLA_EXPORT_SCHEDULE_MIN_INTERVAL_S)`,
      };
  }
  return undefined;
}

/** The first fire strictly after `after`, or undefined when the pattern never fires again. */
export function nextFire(pattern: string, timeZone: string, after: Date): Date | undefined {
  return compile(pattern, timeZone).nextRun(after) ?? undefined;
}

/** The last fire strictly before `before` (croner works in whole seconds), or undefined. */
export function lastFireBefore(pattern: string, timeZone: string, before: Date): Date | undefined {
  return compile(pattern, timeZone).previousRuns(1, before)[0];
}

/**
 * The fires in [from, until] in order. `from` itself is listed when `fromIsFire` (a stored next
 * fire time is one); otherwise listing starts at the first fire after it. At most `cap` are
 * listed (`truncated`: there are more).
 */
export function firesBetween(
  pattern: string,
  timeZone: string,
  from: Date,
  until: Date,
  cap = 1000,
  fromIsFire = true,
): { fires: Date[]; truncated: boolean } {
  const cron = compile(pattern, timeZone);
  const fires: Date[] = [];
  let t: Date | null = fromIsFire ? from : cron.nextRun(from);
  while (t && t.getTime() <= until.getTime()) {
    if (fires.length === cap) return { fires, truncated: true };
    fires.push(t);
    t = cron.nextRun(t);
  }
  return { fires, truncated: false };
}
