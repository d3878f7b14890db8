/**
 * The one ingest pipeline (issue #9 item 2): HTTP `POST /timeline/events` and the bus consumers
 * both end in {@link storeTenantBatch}, one multi-row write of one tenant's events inside that
 * tenant's transaction (RLS applies). Dedupe is `(tenant, eventId)` for as long as the event is
 * stored — the primary key of `timeline.event_ids`, not a broker's window — and the first write
 * wins: a later copy (even with other contents) is reported `duplicate` and changes nothing.
 */
import type { Tx } from '@stella/platform/db';
import type { EventEnvelope } from '@stella/platform/bus';
import { recordArrivals } from './arrivals.js';
import { recordEvidence, type StoredEvent } from './evidence.js';
import { occurredAtMs } from './storable/index.js';

// The storage checks and the ordering key live in storable/ (producers import them too).
export { assertStorable, occurredAtMs, storageProblems } from './storable/index.js';

/** What became of one event of a batch. */
export interface IngestOutcome {
  eventId: string;
  status: 'stored' | 'duplicate';
  source: string;
  /** Its position in the `(tenant, source)` ingest sequence (decimal string: int8); stored events only. */
  ingestSeq?: string;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

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

/**
 * Details (attributes, payload, evidence, the producer's occurredAt text) of at most this many
 * bytes of JSON are stored inline in `timeline.events.details`; larger ones in an
 * `event_details` row (migration 0005). 1 KiB keeps an inline row well below PostgreSQL's
 * TOAST threshold (~2 KiB) beside a long subject, so the hot table's rows stay one heap tuple.
 */
export const DETAILS_INLINE_MAX = 1024;

/**
 * The inline details text of an event (0005): the members it has, `occurredAt` only when the
 * producer's text is not the ordering key's ISO form `at` (query.ts puts it back either way).
 */
export function inlineDetails(e: EventEnvelope, at: string): string {
  const d: { occurredAt?: string; attributes?: unknown; payload?: unknown; evidence?: unknown } = {};
  if (e.occurredAt !== at) d.occurredAt = e.occurredAt;
  if (e.attributes !== undefined) d.attributes = e.attributes;
  if (e.payload !== undefined) d.payload = e.payload;
  if (e.evidence !== undefined) d.evidence = e.evidence;
  return JSON.stringify(d);
}

/**
 * The ingest statement: numbers the batch's new events and writes their `event_ids` and
 * `events` rows (plus an `event_details` row for those whose details are too large to inline)
 * and the sequence counters, in one round trip. `$1` is the tenant, `$2` … `$11` the batch's
 * columns in input order (`$10` the inline details or NULL, `$11` the large ones' details JSON
 * or NULL), `$12`/`$13` the locked counters' sources and values. An event is new when its id is
 * not in `event_ids` (one primary-key probe per id: a scalar subquery with LIMIT 1, which the
 * planner cannot flatten into a scan of the tenant's whole index — docs/timeline.md "Capacity
 * model") and it is the first of its id in the batch. `ON CONFLICT DO NOTHING` settles a race
 * with a concurrent batch (first commit wins); the loser's number stays unused. Returns the
 * winners' input positions (1-based) and sequence numbers.
 */
const INGEST_SQL = `WITH input AS (
  SELECT * FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::text[], $11::text[])
    WITH ORDINALITY AS u(id, at, source, kind, subject, corr, trace, actor, inline, big, ord)
), fresh AS (
  SELECT DISTINCT ON (i.id) i.* FROM input i
  WHERE (SELECT 1 FROM timeline.event_ids x WHERE x.tenant_id = $1 AND x.event_id = i.id LIMIT 1) IS NULL
  ORDER BY i.id, i.ord
), numbered AS (
  SELECT f.*, c.last + row_number() OVER (PARTITION BY f.source ORDER BY f.ord) AS seq
  FROM fresh f JOIN unnest($12::text[], $13::bigint[]) AS c(source, last) ON c.source = f.source
), ids AS (
  INSERT INTO timeline.event_ids (event_id, occurred_at, source, ingest_seq)
  SELECT id, at, source, seq FROM numbered ORDER BY id
  ON CONFLICT DO NOTHING RETURNING event_id
), counters AS (
  UPDATE timeline.source_sequences q SET last_seq = m.seq
  FROM (SELECT source, max(seq) AS seq FROM numbered GROUP BY source) m
  WHERE q.tenant_id = $1 AND q.source = m.source
), won AS (
  SELECT n.* FROM numbered n JOIN ids ON ids.event_id = n.id
), ev AS (
  INSERT INTO timeline.events (occurred_at, source, ingest_seq, event_id, kind, subject, correlation_id, trace_id, actor, details)
  SELECT at, source, seq, id, kind, subject, corr, trace, actor, inline FROM won
), det AS (
  INSERT INTO timeline.event_details (occurred_at, event_id, occurred_at_text, attributes, payload, evidence)
  SELECT at, id, b->>'occurredAt', b->'attributes', b->'payload', b->'evidence'
  FROM won, LATERAL (SELECT big::json AS b) x WHERE big IS NOT NULL
)
SELECT ord::int AS ord, seq::text AS seq FROM won`;

/**
 * Stores one tenant's batch in `tx` (a `withTenant(tenant)` transaction) and reports each
 * event's outcome in input order. The events must be valid envelopes of `tenant`
 * ({@link assertStorable} too); a SQL failure rolls the whole batch back, so the caller acks or
 * answers only after `tx` committed.
 *
 * Round trips: the counter lock, {@link INGEST_SQL}, the digests and evidence links (only when
 * the batch has any), the evidence derivations (evidence events only), the arrivals.
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
  // `at`: the ordering key as ISO text (dates are sent as text on both drivers).
  const at = events.map((e) => new Date(occurredAtMs(e.occurredAt)).toISOString());
  const col = <T>(f: (e: EventEnvelope) => T) => events.map(f);
  // Inline details when small (0005); the large ones go to event_details with the producer's
  // occurredAt text always (its column is NOT NULL there).
  const inline: (string | null)[] = [];
  const big: (string | null)[] = [];
  events.forEach((e, i) => {
    const d = inlineDetails(e, at[i]!);
    const small = d.length <= DETAILS_INLINE_MAX && Buffer.byteLength(d) <= DETAILS_INLINE_MAX;
    inline.push(small ? d : null);
    big.push(
      small
        ? null
        : JSON.stringify({
            occurredAt: e.occurredAt,
            attributes: e.attributes,
            payload: e.payload,
            evidence: e.evidence,
          }),
    );
  });
  const won = await tx.query<{ ord: number; seq: string }>(INGEST_SQL, [
    tenant,
    col((e) => e.eventId),
    at,
    col((e) => e.source),
    col((e) => e.kind),
    col((e) => e.subject ?? null),
    col((e) => e.correlationId ?? null),
    col((e) => e.traceId ?? null),
    col((e) => e.actor ?? null),
    inline,
    big,
    locked.rows.map((r) => r.source),
    locked.rows.map((r) => r.last_seq),
  ]);
  const seqAt = new Map(won.rows.map((r) => [Number(r.ord) - 1, r.seq]));
  const rows: StoredEvent[] = [];
  const outcomes: IngestOutcome[] = events.map((event, i) => {
    const seq = seqAt.get(i);
    if (seq === undefined) return { eventId: event.eventId, status: 'duplicate', source: event.source };
    rows.push({ event, at: at[i]!, seq: BigInt(seq) });
    return { eventId: event.eventId, status: 'stored', source: event.source, ingestSeq: seq };
  });
  if (rows.length === 0) return outcomes;

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
