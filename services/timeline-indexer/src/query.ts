/**
 * Reading the timeline (issue #9 item 3). Every function runs inside a tenant transaction, so RLS
 * limits it to that tenant; each statement also names `tenant_id` so the planner uses the
 * tenant-first indexes. Order is `(occurred_at, source, ingest_seq)`: occurredAt (to the
 * millisecond), then the source, then that source's ingest sequence — unique per tenant, so
 * pages are deterministic and a keyset cursor is exact.
 */
import { createHash } from 'node:crypto';
import { StellaError } from '@stella/core/errors';
import type { Tx } from '@stella/platform/db';
import type { EventAttributeValue, EventEnvelope, EventEvidenceRef } from '@stella/platform/bus';

export interface TimelineFilters {
  kind?: string;
  source?: string;
  subject?: string;
  correlationId?: string;
  traceId?: string;
  digest?: string;
  /** Inclusive lower bound of occurredAt (RFC 3339). */
  from?: string;
  /** Exclusive upper bound of occurredAt (RFC 3339). */
  to?: string;
}

/** A stored event: the envelope as sent, plus where it sits on the timeline. */
export interface TimelineEvent extends EventEnvelope {
  /** Position in the `(tenant, source)` ingest sequence (decimal string). */
  ingestSeq: string;
  ingestedAt: string;
  /**
   * Case ids of the legal holds in force on evidence bundles this event links to (evidence.ts);
   * absent when none. Such an event is exempt from retention.
   */
  legalHolds?: string[];
}

export interface TimelinePage {
  events: TimelineEvent[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

type Row = {
  event_id: string;
  tenant_id: string;
  kind: string;
  source: string;
  occurred_at: Date;
  ingest_seq: string;
  subject: string | null;
  correlation_id: string | null;
  trace_id: string | null;
  actor: string | null;
  ingested_at: Date;
  /** The inline details text (migration 0005); NULL: the event_details row has them. */
  details: string | null;
  occurred_at_text: string | null;
  attributes: Record<string, EventAttributeValue> | null;
  payload: unknown;
  evidence: EventEvidenceRef[] | null;
  legal_holds: string[] | null;
};

const COLUMNS = `e.event_id, e.tenant_id, e.kind, e.source, e.occurred_at, e.ingest_seq::text AS ingest_seq, e.subject,
  e.correlation_id, e.trace_id, e.actor, e.ingested_at, e.details, d.occurred_at_text, d.attributes, d.payload, d.evidence,
  (SELECT array_agg(DISTINCT h.case_id ORDER BY h.case_id) FROM timeline.evidence_links l
     JOIN timeline.evidence_holds h ON h.tenant_id = l.tenant_id AND h.bundle_id = l.bundle_id AND h.held
     WHERE l.tenant_id = e.tenant_id AND l.occurred_at = e.occurred_at AND l.event_id = e.event_id) AS legal_holds`;
// An event's details are inline in `events.details` (0005) or, when large or stored before
// 0005, in its `event_details` row: the row is looked up only when the column is NULL (the
// `e.details IS NULL` qual gates the probe, so an inline event costs no details lookup at all).
const DETAILS_JOIN = `LEFT JOIN timeline.event_details d
  ON e.details IS NULL AND d.tenant_id = e.tenant_id AND d.occurred_at = e.occurred_at AND d.event_id = e.event_id`;
// The same join as one primary-key probe per row of a page: LATERAL … LIMIT 1 cannot be turned
// into a hash join over every details partition (what the planner chose for a page of 100 at
// 20,000 events: a sequential scan of all of event_details, 7.5 ms instead of 0.4 ms).
const DETAILS_PROBE = `LEFT JOIN LATERAL (SELECT d.occurred_at_text, d.attributes, d.payload, d.evidence
  FROM timeline.event_details d
  WHERE e.details IS NULL AND d.tenant_id = e.tenant_id AND d.occurred_at = e.occurred_at AND d.event_id = e.event_id
  LIMIT 1) d ON true`;

/** The members of an inline details text (ingest.ts `inlineDetails`). */
interface InlineDetails {
  occurredAt?: string;
  attributes?: Record<string, EventAttributeValue> | null;
  payload?: unknown;
  evidence?: EventEvidenceRef[] | null;
}

/** The columns that hold an event's details: `events.details`, or the `event_details` row's. */
export type DetailsColumns = {
  occurred_at: Date;
  details: string | null;
  occurred_at_text: string | null;
  attributes: Record<string, EventAttributeValue> | null;
  payload: unknown;
  evidence: EventEvidenceRef[] | null;
};

/** The details of a row, from whichever place holds them; JSON null reads as absent in both. */
export function detailsOf(r: DetailsColumns): {
  occurredAt: string;
  attributes: Record<string, EventAttributeValue> | null;
  payload: unknown;
  evidence: EventEvidenceRef[] | null;
} {
  if (r.details === null)
    return { occurredAt: r.occurred_at_text!, attributes: r.attributes, payload: r.payload, evidence: r.evidence };
  const d = JSON.parse(r.details) as InlineDetails;
  return {
    occurredAt: d.occurredAt ?? r.occurred_at.toISOString(),
    attributes: d.attributes ?? null,
    payload: d.payload ?? null,
    evidence: d.evidence ?? null,
  };
}

function toEvent(r: Row): TimelineEvent {
  const d = detailsOf(r);
  const e: TimelineEvent = {
    eventId: r.event_id,
    tenant: r.tenant_id,
    kind: r.kind,
    source: r.source,
    occurredAt: d.occurredAt,
    ingestSeq: r.ingest_seq,
    ingestedAt: r.ingested_at.toISOString(),
  };
  if (r.subject !== null) e.subject = r.subject;
  if (r.correlation_id !== null) e.correlationId = r.correlation_id;
  if (r.trace_id !== null) e.traceId = r.trace_id;
  if (r.actor !== null) e.actor = r.actor;
  if (d.attributes !== null) e.attributes = d.attributes;
  if (d.payload !== null) e.payload = d.payload;
  if (d.evidence !== null) e.evidence = d.evidence;
  if (r.legal_holds !== null && r.legal_holds.length > 0) e.legalHolds = r.legal_holds;
  return e;
}

/** The keyset position after an event: `(occurred_at ms, source, ingest_seq)`. */
interface Position {
  at: number;
  source: string;
  seq: string;
}

// The cursor names the filters it was issued for: reusing it with other filters is a 400, not a
// silently wrong page.
function filtersKey(f: TimelineFilters): string {
  const keys = ['kind', 'source', 'subject', 'correlationId', 'traceId', 'digest', 'from', 'to'] as const;
  const canonical = JSON.stringify(keys.map((k) => f[k] ?? null));
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

/** Opaque cursor: base64url of `[1, at, source, seq, filtersKey]`. */
export function encodeCursor(p: Position, f: TimelineFilters): string {
  return Buffer.from(JSON.stringify([1, p.at, p.source, p.seq, filtersKey(f)]), 'utf8').toString('base64url');
}

function badCursor(reason: string): StellaError {
  return new StellaError('VALIDATION_FAILED', `invalid cursor: ${reason}`, { details: { field: 'cursor', reason } });
}

/** Decodes a cursor from {@link encodeCursor}; `VALIDATION_FAILED` (400) for anything else. */
export function decodeCursor(cursor: string, f: TimelineFilters): Position {
  let v: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw new Error('charset');
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('not a cursor returned by this API');
  }
  if (
    !Array.isArray(v) ||
    v.length !== 5 ||
    v[0] !== 1 ||
    !Number.isSafeInteger(v[1]) ||
    typeof v[2] !== 'string' ||
    typeof v[3] !== 'string' ||
    !/^[1-9]\d{0,18}$/.test(v[3]) ||
    typeof v[4] !== 'string'
  )
    throw badCursor('not a cursor returned by this API');
  if (v[4] !== filtersKey(f)) throw badCursor('it was issued for other filters');
  return { at: v[1] as number, source: v[2] as string, seq: v[3] as string };
}

/**
 * The SQL conditions of `f` on `timeline.events e`; `p` adds a parameter and returns its
 * placeholder. Shared by the page query and the stream, so both filter the same way.
 */
export function filterConditions(f: TimelineFilters, p: (v: unknown) => string): string[] {
  const where: string[] = [];
  if (f.kind !== undefined) where.push(`e.kind = ${p(f.kind)}`);
  if (f.source !== undefined) where.push(`e.source = ${p(f.source)}`);
  if (f.subject !== undefined) {
    // md5(subject) is what events_subject_idx holds (a subject can outgrow an index row).
    const ref = p(f.subject);
    where.push(`md5(e.subject) = md5(${ref}) AND e.subject = ${ref}`);
  }
  if (f.correlationId !== undefined) where.push(`e.correlation_id = ${p(f.correlationId)}`);
  if (f.traceId !== undefined) where.push(`e.trace_id = ${p(f.traceId)}`);
  if (f.from !== undefined) where.push(`e.occurred_at >= ${p(f.from)}::timestamptz`);
  if (f.to !== undefined) where.push(`e.occurred_at < ${p(f.to)}::timestamptz`);
  if (f.digest !== undefined)
    where.push(`EXISTS (SELECT 1 FROM timeline.event_digests g WHERE g.tenant_id = e.tenant_id AND g.digest = ${p(f.digest)}
      AND g.occurred_at = e.occurred_at AND g.source = e.source AND g.ingest_seq = e.ingest_seq)`);
  return where;
}

/**
 * The statement {@link listTimeline} runs for a page (exported so the bench can `EXPLAIN` exactly
 * it). Throws `VALIDATION_FAILED` for a bad cursor.
 */
export function timelinePageQuery(
  tenant: string,
  f: TimelineFilters,
  limit: number,
  cursor?: string,
): { sql: string; params: unknown[] } {
  const after = cursor === undefined ? undefined : decodeCursor(cursor, f);
  const params: unknown[] = [tenant];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ['e.tenant_id = $1', ...filterConditions(f, p)];
  if (after)
    where.push(
      `(e.occurred_at, e.source, e.ingest_seq) > (${p(new Date(after.at).toISOString())}::timestamptz, ${p(after.source)}, ${p(after.seq)}::bigint)`,
    );
  // The page is chosen on timeline.events alone (a LIMIT subquery is planned on its own, as an
  // ordered scan of the filter's index), then its details are probed row by row: joined first,
  // the planner prefers hashing both tables whole. Plans: docs/timeline.md "Indexes and plans".
  const sql = `SELECT ${COLUMNS} FROM (
       SELECT * FROM timeline.events e WHERE ${where.join(' AND ')}
       ORDER BY e.occurred_at, e.source, e.ingest_seq LIMIT ${p(limit + 1)}
     ) e ${DETAILS_PROBE}
     ORDER BY e.occurred_at, e.source, e.ingest_seq`;
  return { sql, params };
}

/** One page of the tenant's timeline matching `f`, after `cursor`. */
export async function listTimeline(
  tx: Tx,
  tenant: string,
  f: TimelineFilters,
  limit: number,
  cursor?: string,
): Promise<TimelinePage> {
  const q = timelinePageQuery(tenant, f, limit, cursor);
  const rows = await tx.query<Row>(q.sql, q.params);
  const page = rows.rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map(toEvent),
    ...(rows.rows.length > limit && last
      ? { nextCursor: encodeCursor({ at: last.occurred_at.getTime(), source: last.source, seq: last.ingest_seq }, f) }
      : {}),
  };
}

/** An event of the stream with its arrival number (the SSE `id`). */
export interface StreamedEvent {
  arrival: bigint;
  event: TimelineEvent;
}

/**
 * The tenant's events matching `f` that arrived in `(after, upto]`, in arrival order. The
 * caller bounds the window (`upto - after`), so one call holds at most that many rows.
 */
export async function arrivalsBetween(
  tx: Tx,
  tenant: string,
  f: TimelineFilters,
  after: bigint,
  upto: bigint,
): Promise<StreamedEvent[]> {
  const params: unknown[] = [tenant, String(after), String(upto)];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = [
    'a.tenant_id = $1',
    'a.arrival_seq > $2::bigint',
    'a.arrival_seq <= $3::bigint',
    ...filterConditions(f, p),
  ];
  const rows = await tx.query<Row & { arrival_seq: string }>(
    `SELECT a.arrival_seq::text AS arrival_seq, ${COLUMNS}
     FROM timeline.event_arrivals a
     JOIN timeline.events e ON e.tenant_id = a.tenant_id AND e.occurred_at = a.occurred_at
       AND e.source = a.source AND e.ingest_seq = a.ingest_seq
     ${DETAILS_JOIN}
     WHERE ${where.join(' AND ')}
     ORDER BY a.arrival_seq`,
    params,
  );
  return rows.rows.map((r) => ({ arrival: BigInt(r.arrival_seq), event: toEvent(r) }));
}

/** The event, or undefined — also for another tenant's event (RLS: it does not exist here). */
export async function getTimelineEvent(tx: Tx, tenant: string, eventId: string): Promise<TimelineEvent | undefined> {
  const rows = await tx.query<Row>(
    `SELECT ${COLUMNS} FROM timeline.event_ids i
     JOIN timeline.events e ON e.tenant_id = i.tenant_id AND e.occurred_at = i.occurred_at
       AND e.source = i.source AND e.ingest_seq = i.ingest_seq
     ${DETAILS_JOIN}
     WHERE i.tenant_id = $1 AND i.event_id = $2`,
    [tenant, eventId],
  );
  const row = rows.rows[0];
  return row ? toEvent(row) : undefined;
}

/** Where the DSSE envelope of a bundle is: `signature.json` inside its archive (DESIGN.md §4). */
export interface DsseLocation {
  /** The Evidence Locker route that serves the archive (scope `evidence:read`). */
  href: string;
  /** The member of the gzip'd tar that holds the envelope. */
  path: 'signature.json';
}

/** What the Evidence Locker announced about a bundle (`evidence.bundle.sealed`). */
export interface SealedBundle {
  /** RFC 9162 Merkle root of the artifact entries, hex; absent when the seal event did not carry it. */
  rootHash?: string;
  archiveDigest?: string;
  manifestDigest?: string;
  kind?: string;
  leafCount?: number;
  /** The `evidence.bundle.sealed` event and its occurredAt. */
  sealedEventId: string;
  sealedAt: string;
}

/** One evidence reference of an event, in envelope order, with what the timeline knows of its bundle. */
export interface EvidenceLink {
  /** The reference's digest; for a derived link (`origin`), the bundle's archive digest once its seal was indexed. */
  digest?: string;
  /** Absent: the envelope's own reference. `hold` / `custody`: the bundle a hold or custody event names in its payload or attributes (evidence.ts). */
  origin?: 'hold' | 'custody';
  bundleId?: string;
  manifestDigest?: string;
  attestationSubject?: string;
  /** Present when the reference names a bundle. */
  dsseEnvelope?: DsseLocation;
  /** Present once the bundle's seal event was indexed. */
  bundle?: SealedBundle;
  /** Case ids of the legal holds in force on the bundle. */
  legalHolds?: string[];
}

/** The event's evidence links, or undefined when the event does not exist for this tenant. */
export async function getEvidenceLinks(tx: Tx, tenant: string, eventId: string): Promise<EvidenceLink[] | undefined> {
  const rows = await tx.query<{
    ordinal: number | null;
    origin: 'hold' | 'custody' | null;
    digest: string | null;
    bundle_id: string | null;
    manifest_digest: string | null;
    attestation_subject: string | null;
    sealed_event_id: string | null;
    sealed_at: Date | null;
    root_hash: string | null;
    archive_digest: string | null;
    bundle_manifest_digest: string | null;
    bundle_kind: string | null;
    leaf_count: number | null;
    legal_holds: string[] | null;
  }>(
    `SELECT l.ordinal, l.origin, COALESCE(l.digest, b.archive_digest) AS digest, l.bundle_id, l.manifest_digest, l.attestation_subject,
       b.sealed_event_id, b.sealed_at, b.root_hash, b.archive_digest, b.manifest_digest AS bundle_manifest_digest,
       b.bundle_kind, b.leaf_count,
       (SELECT array_agg(h.case_id ORDER BY h.case_id) FROM timeline.evidence_holds h
          WHERE h.tenant_id = l.tenant_id AND h.bundle_id = l.bundle_id AND h.held) AS legal_holds
     FROM timeline.event_ids i
     LEFT JOIN timeline.evidence_links l ON l.tenant_id = i.tenant_id AND l.occurred_at = i.occurred_at AND l.event_id = i.event_id
     LEFT JOIN timeline.evidence_bundles b ON b.tenant_id = l.tenant_id AND b.bundle_id = l.bundle_id
     WHERE i.tenant_id = $1 AND i.event_id = $2
     ORDER BY l.ordinal`,
    [tenant, eventId],
  );
  if (rows.rows.length === 0) return undefined;
  return rows.rows
    .filter((r) => r.ordinal !== null)
    .map((r) => {
      const link: EvidenceLink = {};
      if (r.digest !== null) link.digest = r.digest;
      if (r.origin !== null) link.origin = r.origin;
      if (r.bundle_id !== null) link.bundleId = r.bundle_id;
      if (r.manifest_digest !== null) link.manifestDigest = r.manifest_digest;
      if (r.attestation_subject !== null) link.attestationSubject = r.attestation_subject;
      if (r.bundle_id !== null)
        link.dsseEnvelope = { href: `/evidence/${encodeURIComponent(r.bundle_id)}/download`, path: 'signature.json' };
      if (r.sealed_event_id !== null) {
        link.bundle = {
          ...(r.root_hash !== null ? { rootHash: r.root_hash } : {}),
          ...(r.archive_digest !== null ? { archiveDigest: r.archive_digest } : {}),
          ...(r.bundle_manifest_digest !== null ? { manifestDigest: r.bundle_manifest_digest } : {}),
          ...(r.bundle_kind !== null ? { kind: r.bundle_kind } : {}),
          ...(r.leaf_count !== null ? { leafCount: r.leaf_count } : {}),
          sealedEventId: r.sealed_event_id,
          sealedAt: r.sealed_at!.toISOString(),
        };
      }
      if (r.legal_holds !== null && r.legal_holds.length > 0) link.legalHolds = r.legal_holds;
      return link;
    });
}

/** An arrival of the shared stream read: the event and which of the filter sets it matches. */
export interface MatchedArrival extends StreamedEvent {
  /** `matches[i]`: the event matches `filterSets[i]` of the call. */
  matches: boolean[];
}

/**
 * The tenant's events that arrived in `(after, upto]` and match at least one of `filterSets`,
 * in arrival order, each with which sets it matches — the one read that serves every stream of
 * the tenant in a process (stream.ts). Each set's conditions are {@link filterConditions}', so a
 * stream filters exactly as `GET /timeline` and {@link arrivalsBetween} do.
 */
export async function arrivalsMatching(
  tx: Tx,
  tenant: string,
  filterSets: readonly TimelineFilters[],
  after: bigint,
  upto: bigint,
): Promise<MatchedArrival[]> {
  if (filterSets.length === 0) return [];
  const params: unknown[] = [tenant, String(after), String(upto)];
  const p = (v: unknown) => `$${params.push(v)}`;
  const tests = filterSets.map((f) => {
    const c = filterConditions(f, p);
    return c.length === 0 ? 'true' : `(${c.join(' AND ')})`;
  });
  const rows = await tx.query<Row & { arrival_seq: string; matches: boolean[] }>(
    `SELECT * FROM (
       SELECT a.arrival_seq::text AS arrival_seq, ARRAY[${tests.join(', ')}]::boolean[] AS matches, ${COLUMNS}
       FROM timeline.event_arrivals a
       JOIN timeline.events e ON e.tenant_id = a.tenant_id AND e.occurred_at = a.occurred_at
         AND e.source = a.source AND e.ingest_seq = a.ingest_seq
       ${DETAILS_JOIN}
       WHERE a.tenant_id = $1 AND a.arrival_seq > $2::bigint AND a.arrival_seq <= $3::bigint
     ) m WHERE true = ANY (m.matches)
     ORDER BY m.arrival_seq::bigint`,
    params,
  );
  return rows.rows.map((r) => ({ arrival: BigInt(r.arrival_seq), event: toEvent(r), matches: r.matches }));
}
