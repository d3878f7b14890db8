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
  occurred_at_text: string;
  attributes: Record<string, EventAttributeValue> | null;
  payload: unknown;
  evidence: EventEvidenceRef[] | null;
};

const COLUMNS = `e.event_id, e.tenant_id, e.kind, e.source, e.occurred_at, e.ingest_seq::text AS ingest_seq, e.subject,
  e.correlation_id, e.trace_id, e.actor, e.ingested_at, d.occurred_at_text, d.attributes, d.payload, d.evidence`;
const DETAILS_JOIN = `JOIN timeline.event_details d
  ON d.tenant_id = e.tenant_id AND d.occurred_at = e.occurred_at AND d.event_id = e.event_id`;

function toEvent(r: Row): TimelineEvent {
  const e: TimelineEvent = {
    eventId: r.event_id,
    tenant: r.tenant_id,
    kind: r.kind,
    source: r.source,
    occurredAt: r.occurred_at_text,
    ingestSeq: r.ingest_seq,
    ingestedAt: r.ingested_at.toISOString(),
  };
  if (r.subject !== null) e.subject = r.subject;
  if (r.correlation_id !== null) e.correlationId = r.correlation_id;
  if (r.trace_id !== null) e.traceId = r.trace_id;
  if (r.actor !== null) e.actor = r.actor;
  if (r.attributes !== null) e.attributes = r.attributes;
  if (r.payload !== null) e.payload = r.payload;
  if (r.evidence !== null) e.evidence = r.evidence;
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

/** One page of the tenant's timeline matching `f`, after `cursor`. */
export async function listTimeline(
  tx: Tx,
  tenant: string,
  f: TimelineFilters,
  limit: number,
  cursor?: string,
): Promise<TimelinePage> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor, f);
  const params: unknown[] = [tenant];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ['e.tenant_id = $1'];
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
  if (after)
    where.push(
      `(e.occurred_at, e.source, e.ingest_seq) > (${p(new Date(after.at).toISOString())}::timestamptz, ${p(after.source)}, ${p(after.seq)}::bigint)`,
    );
  // The page is chosen on timeline.events alone (a LIMIT subquery is planned on its own, as an
  // ordered scan of the filter's index), then joined to its details: joined first, the planner
  // prefers hashing both tables whole. Plans: docs/timeline.md "Indexes and plans".
  const rows = await tx.query<Row>(
    `SELECT ${COLUMNS} FROM (
       SELECT * FROM timeline.events e WHERE ${where.join(' AND ')}
       ORDER BY e.occurred_at, e.source, e.ingest_seq LIMIT ${p(limit + 1)}
     ) e ${DETAILS_JOIN}
     ORDER BY e.occurred_at, e.source, e.ingest_seq`,
    params,
  );
  const page = rows.rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map(toEvent),
    ...(rows.rows.length > limit && last
      ? { nextCursor: encodeCursor({ at: last.occurred_at.getTime(), source: last.source, seq: last.ingest_seq }, f) }
      : {}),
  };
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

/** One evidence reference of an event, in envelope order. */
export interface EvidenceLink {
  digest: string;
  bundleId?: string;
  manifestDigest?: string;
  attestationSubject?: string;
}

/** The event's evidence links, or undefined when the event does not exist for this tenant. */
export async function getEvidenceLinks(tx: Tx, tenant: string, eventId: string): Promise<EvidenceLink[] | undefined> {
  const rows = await tx.query<{
    digest: string | null;
    bundle_id: string | null;
    manifest_digest: string | null;
    attestation_subject: string | null;
  }>(
    `SELECT l.digest, l.bundle_id, l.manifest_digest, l.attestation_subject
     FROM timeline.event_ids i
     LEFT JOIN timeline.evidence_links l ON l.tenant_id = i.tenant_id AND l.occurred_at = i.occurred_at AND l.event_id = i.event_id
     WHERE i.tenant_id = $1 AND i.event_id = $2
     ORDER BY l.ordinal`,
    [tenant, eventId],
  );
  if (rows.rows.length === 0) return undefined;
  return rows.rows
    .filter((r) => r.digest !== null)
    .map((r) => ({
      digest: r.digest!,
      ...(r.bundle_id !== null ? { bundleId: r.bundle_id } : {}),
      ...(r.manifest_digest !== null ? { manifestDigest: r.manifest_digest } : {}),
      ...(r.attestation_subject !== null ? { attestationSubject: r.attestation_subject } : {}),
    }));
}
