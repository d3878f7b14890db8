/**
 * What the timeline can store beyond what `validateEvent` (DESIGN.md §3) accepts, and the
 * ordering key it sorts by — a module of its own so that producers check exactly what the
 * indexer checks before they publish (`stella timeline publish`, also `--via bus`, where a
 * refused event would otherwise only surface as a dead letter). No database or bus code here:
 * `@stella/timeline-indexer/storable` is cheap to import.
 */
import { StellaError } from '@stella/core/errors';
import type { EventEnvelope, EventProblem } from '@stella/platform/bus';

const RFC3339_PARTS =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * The ordering key of an event: its `occurredAt` as epoch milliseconds (fraction truncated). A
 * leap second (`:60`, RFC 3339 §5.7) counts as the first millisecond after it, as PostgreSQL and
 * JavaScript dates have no leap seconds. Expects a string `validateEvent` accepted.
 */
export function occurredAtMs(occurredAt: string): number {
  // Fast path for the form producers send (`Date#toISOString`: 24 characters, milliseconds, Z):
  // Date.parse reads exactly that format (ECMA-262 §21.4.1.32) and gives NaN for what it does not
  // accept (a leap second, 't'), which then takes the general path below.
  if (occurredAt.length === 24 && occurredAt.charCodeAt(19) === 46 && occurredAt.charCodeAt(23) === 90) {
    const t = Date.parse(occurredAt);
    if (t === t) return t; // not NaN
  }
  const m = RFC3339_PARTS.exec(occurredAt)!;
  const t = new Date(0);
  t.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  t.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3)));
  const offsetMin = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  return t.getTime() - offsetMin * 60_000;
}

const MIN_STORABLE_MS = -62135596800000; // 0001-01-01T00:00:00Z
const MAX_STORABLE_MS = 253402300800000; // 10000-01-01T00:00:00Z
const hasNul = (s: string | undefined) => s !== undefined && s.includes('\u0000');

/**
 * What a valid envelope may still carry that the timeline cannot store: PostgreSQL `text` holds
 * no NUL character, and the sort key must be a UTC date-time of years 0001–9999 (RFC 3339 allows
 * year 0000, and an offset can move 9999-12-31 into year 10000). Such an event is rejected (HTTP 400) or dead-lettered (bus), never half-stored.
 */
export function storageProblems(event: EventEnvelope): EventProblem[] {
  const problems: EventProblem[] = [];
  for (const key of ['source', 'subject', 'correlationId', 'actor'] as const) {
    if (hasNul(event[key])) problems.push({ path: `/${key}`, message: 'must not contain NUL characters' });
  }
  event.evidence?.forEach((ref, i) => {
    for (const key of ['bundleId', 'attestationSubject'] as const) {
      if (hasNul(ref[key]))
        problems.push({ path: `/evidence/${i}/${key}`, message: 'must not contain NUL characters' });
    }
  });
  // The sort key is sent as ISO text, which PostgreSQL reads only for UTC years 0001–9999 (an
  // offset can carry 9999-12-31T23:59:59-01:00 into year 10000).
  const ms = occurredAtMs(event.occurredAt);
  if (!(ms >= MIN_STORABLE_MS && ms < MAX_STORABLE_MS))
    problems.push({ path: '/occurredAt', message: 'must fall in the UTC years 0001–9999' });
  return problems;
}

/** Throws `EVENT_INVALID` (like `validateEvent`) when {@link storageProblems} finds any. */
export function assertStorable(event: EventEnvelope): void {
  const problems = storageProblems(event);
  if (problems.length > 0)
    throw new StellaError('EVENT_INVALID', `event cannot be stored: ${problems[0]!.path} ${problems[0]!.message}`, {
      details: { problems },
    });
}
