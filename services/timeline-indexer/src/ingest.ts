/**
 * The one ingest pipeline (issue #9 item 2): HTTP `POST /timeline/events` and the bus consumers
 * both end in {@link storeTenantBatch}, one multi-row write of one tenant's events inside that
 * tenant's transaction (RLS applies). Dedupe is `(tenant, eventId)` for as long as the event is
 * stored — the primary key of `timeline.event_ids`, not a broker's window — and the first write
 * wins: a later copy (even with other contents) is reported `duplicate` and changes nothing.
 */
import { StellaError } from '@stella/core/errors';
import type { Tx } from '@stella/platform/db';
import type { EventEnvelope, EventProblem } from '@stella/platform/bus';
import { recordArrivals } from './arrivals.js';
import { recordEvidence } from './evidence.js';

/** What became of one event of a batch. */
export interface IngestOutcome {
  eventId: string;
  status: 'stored' | 'duplicate';
  source: string;
  /** Its position in the `(tenant, source)` ingest sequence (decimal string: int8); stored events only. */
  ingestSeq?: string;
}

const RFC3339_PARTS =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * The ordering key of an event: its `occurredAt` as epoch milliseconds (fraction truncated). A
 * leap second (`:60`, RFC 3339 §5.7) counts as the first millisecond after it, as PostgreSQL and
 * JavaScript dates have no leap seconds. Expects a string `validateEvent` accepted.
 */
export function occurredAtMs(occurredAt: string): number {
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

/** Every digest an event mentions: its evidence digests and digest-shaped subject or attribute values. */
export function digestsOf(event: EventEnvelope): string[] {
  const found = new Set<string>();
  for (const ref of event.evidence ?? []) {
    found.add(ref.digest);
    if (ref.manifestDigest) found.add(ref.manifestDigest);
  }
  if (event.subject && DIGEST_RE.test(event.subject)) found.add(event.subject);
  for (const v of Object.values(event.attributes ?? {})) if (typeof v === 'string' && DIGEST_RE.test(v)) found.add(v);
  return [...found].sort();
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/**
 * Stores one tenant's batch in `tx` (a `withTenant(tenant)` transaction) and reports each
 * event's outcome in input order. The events must be valid envelopes of `tenant`
 * ({@link assertStorable} too); a SQL failure rolls the whole batch back, so the caller acks or
 * answers only after `tx` committed.
 *
 * Ingest sequence: the `(tenant, source)` counter rows are locked (in source order, so two
 * batches cannot deadlock) before anything else, so concurrent ingests of one source serialize
 * and sequence order is commit order. A duplicate of an event stored concurrently under another
 * source (a misbehaving producer) loses the race on `event_ids` and leaves one unused number.
 */
export async function storeTenantBatch(
  tx: Tx,
  tenant: string,
  events: readonly EventEnvelope[],
): Promise<IngestOutcome[]> {
  if (events.length === 0) return [];
  for (const e of events) if (e.tenant !== tenant) throw new Error(`event ${e.eventId} is not of tenant ${tenant}`);
  const sources = [...new Set(events.map((e) => e.source))].sort();
  const locked = await tx.query<{ source: string; last_seq: string }>(
    `INSERT INTO timeline.source_sequences (source, last_seq)
     SELECT s, 0 FROM unnest($1::text[]) AS s ORDER BY s
     ON CONFLICT (tenant_id, source) DO UPDATE SET last_seq = timeline.source_sequences.last_seq
     RETURNING source, last_seq::text`,
    [sources],
  );
  const next = new Map(locked.rows.map((r) => [r.source, BigInt(r.last_seq)]));
  const ids = events.map((e) => e.eventId);
  // One primary-key probe per id. LATERAL … LIMIT 1 keeps the planner from turning this into a
  // join or an `= ANY` filter over the whole tenant's index: without statistics (autovacuum off,
  // or a table that grew since its last ANALYZE) that plan scanned every id of the tenant — 480 ms
  // per 500-event batch at 350,000 events — where the probes take ~1.5 ms (docs/timeline.md
  // "Capacity model").
  const existing = await tx.query<{ event_id: string }>(
    `SELECT x.event_id FROM unnest($2::text[]) AS u(id),
       LATERAL (SELECT e.event_id FROM timeline.event_ids e WHERE e.tenant_id = $1 AND e.event_id = u.id LIMIT 1) x`,
    [tenant, ids],
  );
  const seen = new Set(existing.rows.map((r) => r.event_id));
  // `at`: the ordering key as ISO text (dates are sent as text on both drivers).
  const fresh: { event: EventEnvelope; seq: bigint; at: string }[] = [];
  const outcomes: IngestOutcome[] = events.map((event) => {
    if (seen.has(event.eventId)) return { eventId: event.eventId, status: 'duplicate', source: event.source };
    seen.add(event.eventId);
    const seq = next.get(event.source)! + 1n;
    next.set(event.source, seq);
    fresh.push({ event, seq, at: new Date(occurredAtMs(event.occurredAt)).toISOString() });
    return { eventId: event.eventId, status: 'stored', source: event.source, ingestSeq: String(seq) };
  });
  if (fresh.length === 0) return outcomes;

  // Sorted by event id, so two batches sharing ids wait on each other instead of deadlocking.
  const byId = [...fresh].sort((a, b) => (a.event.eventId < b.event.eventId ? -1 : 1));
  const inserted = await tx.query<{ event_id: string }>(
    `INSERT INTO timeline.event_ids (event_id, occurred_at, source, ingest_seq)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])
     ON CONFLICT DO NOTHING RETURNING event_id`,
    [
      byId.map((f) => f.event.eventId),
      byId.map((f) => f.at),
      byId.map((f) => f.event.source),
      byId.map((f) => String(f.seq)),
    ],
  );
  await tx.query(
    `UPDATE timeline.source_sequences SET last_seq = u.q
     FROM unnest($1::text[], $2::bigint[]) AS u(s, q) WHERE source = u.s`,
    [[...next.keys()], [...next.values()].map(String)],
  );
  const won = new Set(inserted.rows.map((r) => r.event_id));
  const rows = fresh.filter((f) => won.has(f.event.eventId));
  for (const o of outcomes) {
    if (o.status === 'stored' && !won.has(o.eventId)) {
      o.status = 'duplicate';
      delete o.ingestSeq;
    }
  }
  if (rows.length === 0) return outcomes;

  const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
  await tx.query(
    `INSERT INTO timeline.events (occurred_at, source, ingest_seq, event_id, kind, subject, correlation_id, trace_id, actor)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
    [
      col((r) => r.at),
      col((r) => r.event.source),
      col((r) => String(r.seq)),
      col((r) => r.event.eventId),
      col((r) => r.event.kind),
      col((r) => r.event.subject ?? null),
      col((r) => r.event.correlationId ?? null),
      col((r) => r.event.traceId ?? null),
      col((r) => r.event.actor ?? null),
    ],
  );
  await tx.query(
    `INSERT INTO timeline.event_details (occurred_at, event_id, occurred_at_text, attributes, payload, evidence)
     SELECT o, e, t, a::json, p::json, v::json FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(o, e, t, a, p, v)`,
    [
      col((r) => r.at),
      col((r) => r.event.eventId),
      col((r) => r.event.occurredAt),
      col((r) => json(r.event.attributes)),
      col((r) => json(r.event.payload)),
      col((r) => json(r.event.evidence)),
    ],
  );
  const digests = rows.flatMap((r) => digestsOf(r.event).map((d) => ({ d, r })));
  if (digests.length > 0) {
    await tx.query(
      `INSERT INTO timeline.event_digests (digest, occurred_at, source, ingest_seq)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])`,
      [
        digests.map((x) => x.d),
        digests.map((x) => x.r.at),
        digests.map((x) => x.r.event.source),
        digests.map((x) => String(x.r.seq)),
      ],
    );
  }
  const links = rows.flatMap((r) => (r.event.evidence ?? []).map((ref, i) => ({ ref, i, r })));
  if (links.length > 0) {
    await tx.query(
      `INSERT INTO timeline.evidence_links (occurred_at, event_id, ordinal, digest, bundle_id, manifest_digest, attestation_subject)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])`,
      [
        links.map((l) => l.r.at),
        links.map((l) => l.r.event.eventId),
        links.map((l) => l.i),
        links.map((l) => l.ref.digest),
        links.map((l) => l.ref.bundleId ?? null),
        links.map((l) => l.ref.manifestDigest ?? null),
        links.map((l) => l.ref.attestationSubject ?? null),
      ],
    );
  }
  // Bundles and holds from evidence.* events, then the arrival numbers of the stream — last,
  // because their row lock is held to COMMIT and orders the tenant's commits (arrivals.ts).
  await recordEvidence(tx, rows);
  await recordArrivals(tx, rows);
  return outcomes;
}
