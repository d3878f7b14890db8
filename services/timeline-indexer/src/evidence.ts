/**
 * Evidence events as they arrive through the one ingest pipeline (issue #9 item 4). Kinds and
 * payloads are exactly what services/evidence-locker publishes through its outbox:
 *
 * - `evidence.bundle.sealed` (routes/snapshot.ts): `attributes {bundleId, kind, leafCount,
 *   rootHash}`, `evidence [{bundleId, digest: <archive digest>, manifestDigest}]` → one row of
 *   `timeline.evidence_bundles`, and the root as `sha256:<root>` in the event's digests (the
 *   in-toto subject of the bundle's DSSE statement is that root), so `?digest=` finds the seal.
 * - `evidence.hold.placed` / `evidence.hold.released` (routes/holds.ts): `attributes {caseId,
 *   bundles}`, `payload {bundleIds, reason}` → `timeline.evidence_holds` per (case, bundle).
 *   Several holds may cover one bundle; it is held until the last is released.
 *
 * - Hold events are also linked to the bundles they name (`payload.bundleIds`), and
 *   `evidence.custody.<action>` events (services/evidence-locker/src/custody.ts: `attributes
 *   {action, bundleId?}`, `payload` = the custody details, `evidence` only for some actions) to
 *   `attributes.bundleId` when their envelope does not reference that bundle: rows of
 *   `timeline.evidence_links` after the envelope's, with `origin` 'hold' / 'custody' and no digest
 *   of their own (the bundle's seal has it). So these events carry the bundle's hold markers, are
 *   exempt from retention while it is held, and `GET /timeline/{id}/evidence` shows the bundle.
 * - `evidence.incident.activated` / `.deactivated` (routes/incident.ts): `subject
 *   incident/<id>`, `attributes {incidentId, active}`, `payload {incidentId, reason,
 *   retentionExtension}` → `timeline.evidence_incidents`, one row per incident, each side from its
 *   event (the first one seen wins). An event is linked to the incidents active when it occurred,
 *   and an incident event (also the `evidence.custody.incident-*` ones) to its own incident.
 *
 * Every other `evidence.*` event (verified, downloaded) is an ordinary event: its envelope
 * `evidence` references are its links (ingest.ts). A malformed payload of a known kind is stored
 * as an event and derives nothing (the envelope was valid; the timeline is a record, not the
 * Evidence Locker's validator).
 */
import type { Tx } from '@stella/platform/db';
import type { EventEnvelope } from '@stella/platform/bus';

/** A stored event and its ordering key (ISO text) and place, as ingest.ts has them. */
export interface StoredEvent {
  event: EventEnvelope;
  at: string;
  seq: bigint;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const ROOT_RE = /^[0-9a-f]{64}$/;
const MAX_ID = 256;

const str = (v: unknown, re?: RegExp): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_ID && (!re || re.test(v)) && !v.includes('\u0000')
    ? v
    : undefined;

interface Seal {
  bundleId: string;
  archiveDigest?: string;
  manifestDigest?: string;
  rootHash?: string;
  kind?: string;
  leafCount?: number;
  s: StoredEvent;
}

function sealOf(s: StoredEvent): Seal | undefined {
  const a = s.event.attributes ?? {};
  const ref = s.event.evidence?.find((r) => r.bundleId !== undefined);
  const bundleId = str(a['bundleId']) ?? str(ref?.bundleId);
  if (!bundleId) return undefined;
  const same = ref && ref.bundleId === bundleId ? ref : undefined;
  const leafCount = a['leafCount'];
  const seal: Seal = { bundleId, s };
  const archiveDigest = str(same?.digest, DIGEST_RE);
  const manifestDigest = str(same?.manifestDigest, DIGEST_RE);
  const rootHash = str(a['rootHash'], ROOT_RE);
  const kind = str(a['kind']);
  if (archiveDigest) seal.archiveDigest = archiveDigest;
  if (manifestDigest) seal.manifestDigest = manifestDigest;
  if (rootHash) seal.rootHash = rootHash;
  if (kind) seal.kind = kind;
  if (typeof leafCount === 'number' && Number.isInteger(leafCount) && leafCount >= 0 && leafCount <= 2 ** 31 - 1)
    seal.leafCount = leafCount;
  return seal;
}

interface HoldChange {
  caseId: string;
  bundleId: string;
  placed: boolean;
  at: string;
}

function holdChanges(s: StoredEvent, placed: boolean): HoldChange[] {
  const caseId = str(s.event.attributes?.['caseId']) ?? str(s.event.subject);
  const ids = (s.event.payload as { bundleIds?: unknown } | undefined)?.bundleIds;
  if (!caseId || !Array.isArray(ids)) return [];
  return ids.flatMap((id) => {
    const bundleId = str(id);
    return bundleId ? [{ caseId, bundleId, placed, at: s.at }] : [];
  });
}

/** A link an event has without carrying it in its envelope. */
interface DerivedLink {
  s: StoredEvent;
  ordinal: number;
  bundleId: string;
  origin: 'hold' | 'custody';
}

/** The bundles a hold or custody event names beyond its envelope's references, as links. */
function derivedLinks(s: StoredEvent): DerivedLink[] {
  const kind = s.event.kind;
  let ids: string[] = [];
  let origin: DerivedLink['origin'];
  if (kind === 'evidence.hold.placed' || kind === 'evidence.hold.released') {
    const raw = (s.event.payload as { bundleIds?: unknown } | undefined)?.bundleIds;
    ids = Array.isArray(raw) ? raw.flatMap((id) => str(id) ?? []) : [];
    origin = 'hold';
  } else if (kind.startsWith('evidence.custody.')) {
    const id = str(s.event.attributes?.['bundleId']);
    ids = id ? [id] : [];
    origin = 'custody';
  } else return [];
  const envelope = s.event.evidence ?? [];
  const named = new Set(envelope.map((r) => r.bundleId));
  const out: DerivedLink[] = [];
  for (const bundleId of new Set(ids)) {
    if (named.has(bundleId)) continue;
    out.push({ s, ordinal: envelope.length + out.length, bundleId, origin });
  }
  return out;
}

interface IncidentChange {
  incidentId: string;
  activated: boolean;
  at: string;
  eventId: string;
  reason?: string;
}

function incidentChange(s: StoredEvent, activated: boolean): IncidentChange | undefined {
  const payload = (s.event.payload ?? {}) as { incidentId?: unknown; reason?: unknown };
  const incidentId = str(s.event.attributes?.['incidentId']) ?? str(payload.incidentId);
  if (!incidentId) return undefined;
  const reason = typeof payload.reason === 'string' && !payload.reason.includes('\u0000') ? payload.reason : undefined;
  return {
    incidentId,
    activated,
    at: s.at,
    eventId: s.event.eventId,
    ...(reason !== undefined ? { reason: reason.slice(0, 2000) } : {}),
  };
}

/** Derives bundles and holds from the evidence events among `stored` (one tenant's batch, in `tx`). */
export async function recordEvidence(tx: Tx, stored: readonly StoredEvent[]): Promise<void> {
  const seals: Seal[] = [];
  const holds: HoldChange[] = [];
  const derived: DerivedLink[] = [];
  const incidents: IncidentChange[] = [];
  for (const s of stored) {
    if (!s.event.kind.startsWith('evidence.')) continue;
    if (s.event.kind === 'evidence.bundle.sealed') {
      const seal = sealOf(s);
      if (seal) seals.push(seal);
    } else if (s.event.kind === 'evidence.hold.placed') holds.push(...holdChanges(s, true));
    else if (s.event.kind === 'evidence.hold.released') holds.push(...holdChanges(s, false));
    else if (s.event.kind === 'evidence.incident.activated' || s.event.kind === 'evidence.incident.deactivated') {
      const change = incidentChange(s, s.event.kind === 'evidence.incident.activated');
      if (change) incidents.push(change);
    }
    derived.push(...derivedLinks(s));
  }
  if (derived.length > 0)
    await tx.query(
      `INSERT INTO timeline.evidence_links (occurred_at, event_id, ordinal, digest, bundle_id, origin)
       SELECT o, e, n, NULL, b, w FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::text[], $5::text[]) AS x(o, e, n, b, w)`,
      [
        derived.map((d) => d.s.at),
        derived.map((d) => d.s.event.eventId),
        derived.map((d) => d.ordinal),
        derived.map((d) => d.bundleId),
        derived.map((d) => d.origin),
      ],
    );
  if (incidents.length > 0) {
    // One row per incident, locked in key order (as the holds below); the first event of each side wins.
    const merged = new Map<string, { id: string; on?: IncidentChange; off?: IncidentChange }>();
    for (const c of incidents) {
      const m = merged.get(c.incidentId) ?? { id: c.incidentId };
      const side = c.activated ? 'on' : 'off';
      m[side] ??= c;
      merged.set(c.incidentId, m);
    }
    const rows = [...merged.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    await tx.query(
      `INSERT INTO timeline.evidence_incidents
         (incident_id, activated_at, activated_event_id, activate_reason, deactivated_at, deactivated_event_id, deactivate_reason)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
       ON CONFLICT (tenant_id, incident_id) DO UPDATE SET
         activated_at = COALESCE(timeline.evidence_incidents.activated_at, EXCLUDED.activated_at),
         activated_event_id = COALESCE(timeline.evidence_incidents.activated_event_id, EXCLUDED.activated_event_id),
         activate_reason = COALESCE(timeline.evidence_incidents.activate_reason, EXCLUDED.activate_reason),
         deactivated_at = COALESCE(timeline.evidence_incidents.deactivated_at, EXCLUDED.deactivated_at),
         deactivated_event_id = COALESCE(timeline.evidence_incidents.deactivated_event_id, EXCLUDED.deactivated_event_id),
         deactivate_reason = COALESCE(timeline.evidence_incidents.deactivate_reason, EXCLUDED.deactivate_reason)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.on?.at ?? null),
        rows.map((r) => r.on?.eventId ?? null),
        rows.map((r) => r.on?.reason ?? null),
        rows.map((r) => r.off?.at ?? null),
        rows.map((r) => r.off?.eventId ?? null),
        rows.map((r) => r.off?.reason ?? null),
      ],
    );
  }
  if (seals.length > 0) {
    seals.sort((x, y) => (x.bundleId < y.bundleId ? -1 : x.bundleId > y.bundleId ? 1 : 0));
    const col = <T>(f: (x: Seal) => T) => seals.map(f);
    await tx.query(
      `INSERT INTO timeline.evidence_bundles
         (bundle_id, archive_digest, manifest_digest, root_hash, bundle_kind, leaf_count, sealed_event_id, sealed_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::timestamptz[])
       ON CONFLICT (tenant_id, bundle_id) DO NOTHING`,
      [
        col((x) => x.bundleId),
        col((x) => x.archiveDigest ?? null),
        col((x) => x.manifestDigest ?? null),
        col((x) => x.rootHash ?? null),
        col((x) => x.kind ?? null),
        col((x) => x.leafCount ?? null),
        col((x) => x.s.event.eventId),
        col((x) => x.s.at),
      ],
    );
    const roots = seals.filter((x) => x.rootHash);
    if (roots.length > 0)
      await tx.query(
        `INSERT INTO timeline.event_digests (digest, occurred_at, source, ingest_seq)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
        [
          roots.map((x) => `sha256:${x.rootHash}`),
          roots.map((x) => x.s.at),
          roots.map((x) => x.s.event.source),
          roots.map((x) => String(x.s.seq)),
        ],
      );
  }
  if (holds.length > 0) {
    // One row per (case, bundle): the latest placement and release seen, whatever the arrival
    // order. Locked in key order so two batches touching the same holds cannot deadlock.
    const merged = new Map<string, { caseId: string; bundleId: string; placedAt?: string; releasedAt?: string }>();
    for (const h of holds) {
      const key = JSON.stringify([h.caseId, h.bundleId]);
      const m = merged.get(key) ?? { caseId: h.caseId, bundleId: h.bundleId };
      const field = h.placed ? 'placedAt' : 'releasedAt';
      if (m[field] === undefined || m[field]! < h.at) m[field] = h.at;
      merged.set(key, m);
    }
    const rows = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, m]) => m);
    await tx.query(
      `INSERT INTO timeline.evidence_holds (case_id, bundle_id, placed_at, released_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
       ON CONFLICT (tenant_id, case_id, bundle_id) DO UPDATE SET
         placed_at = GREATEST(timeline.evidence_holds.placed_at, EXCLUDED.placed_at),
         released_at = GREATEST(timeline.evidence_holds.released_at, EXCLUDED.released_at)`,
      [
        rows.map((m) => m.caseId),
        rows.map((m) => m.bundleId),
        rows.map((m) => m.placedAt ?? null),
        rows.map((m) => m.releasedAt ?? null),
      ],
    );
  }
}

/** An incident of the Evidence Locker as the timeline saw it. */
export interface LinkedIncident {
  incidentId: string;
  /** Activated and not (yet) seen deactivated. */
  active: boolean;
  activatedAt?: string;
  activatedEventId?: string;
  activateReason?: string;
  deactivatedAt?: string;
  deactivatedEventId?: string;
  deactivateReason?: string;
}

/** One custody event of a bundle on the timeline. */
export interface CustodyEntry {
  eventId: string;
  /** The custody action: the kind's last part (`seal`, `download`, `hold`, …). */
  action: string;
  occurredAt: string;
  actor?: string;
}

/** Most custody entries returned per bundle (the latest ones; `custodyTruncated` says so). */
export const MAX_CUSTODY = 100;

/**
 * The incidents linked to an event (its own, for an incident event; those active when it
 * occurred) and the custody trail of each bundle in `bundleIds`, in timeline order.
 * Undefined when the event does not exist for this tenant.
 */
export async function evidenceContext(
  tx: Tx,
  tenant: string,
  eventId: string,
  bundleIds: readonly string[],
): Promise<
  { incidents: LinkedIncident[]; custody: Map<string, { entries: CustodyEntry[]; truncated: boolean }> } | undefined
> {
  const ev = await tx.query<{
    occurred_at: Date;
    kind: string;
    details: string | null;
    attributes: Record<string, unknown> | null;
    payload: unknown;
  }>(
    // Details inline (migration 0005) or in the event_details row (large, or stored before 0005).
    `SELECT i.occurred_at, e.kind, e.details, d.attributes, d.payload FROM timeline.event_ids i
     JOIN timeline.events e ON e.tenant_id = i.tenant_id AND e.occurred_at = i.occurred_at
       AND e.source = i.source AND e.ingest_seq = i.ingest_seq
     LEFT JOIN timeline.event_details d ON e.details IS NULL AND d.tenant_id = i.tenant_id
       AND d.occurred_at = i.occurred_at AND d.event_id = i.event_id
     WHERE i.tenant_id = $1 AND i.event_id = $2`,
    [tenant, eventId],
  );
  const found = ev.rows[0];
  if (!found) return undefined;
  const inline =
    found.details === null
      ? undefined
      : (JSON.parse(found.details) as { attributes?: Record<string, unknown> | null; payload?: unknown });
  const row = inline ? { ...found, attributes: inline.attributes ?? null, payload: inline.payload ?? null } : found;
  const own =
    row.kind.startsWith('evidence.incident.') || row.kind.startsWith('evidence.custody.incident-')
      ? (str(row.attributes?.['incidentId']) ?? str((row.payload as { incidentId?: unknown } | null)?.incidentId))
      : undefined;
  const inc = await tx.query<{
    incident_id: string;
    activated_at: Date | null;
    activated_event_id: string | null;
    activate_reason: string | null;
    deactivated_at: Date | null;
    deactivated_event_id: string | null;
    deactivate_reason: string | null;
  }>(
    `SELECT incident_id, activated_at, activated_event_id, activate_reason, deactivated_at, deactivated_event_id, deactivate_reason
     FROM timeline.evidence_incidents
     WHERE tenant_id = $1 AND (incident_id = $2
       OR (activated_at <= $3 AND (deactivated_at IS NULL OR deactivated_at > $3)))
     ORDER BY activated_at NULLS LAST, incident_id LIMIT 100`,
    [tenant, own ?? null, row.occurred_at],
  );
  const incidents = inc.rows.map((r) => {
    const x: LinkedIncident = {
      incidentId: r.incident_id,
      active: r.activated_at !== null && r.deactivated_at === null,
    };
    if (r.activated_at) x.activatedAt = r.activated_at.toISOString();
    if (r.activated_event_id) x.activatedEventId = r.activated_event_id;
    if (r.activate_reason !== null) x.activateReason = r.activate_reason;
    if (r.deactivated_at) x.deactivatedAt = r.deactivated_at.toISOString();
    if (r.deactivated_event_id) x.deactivatedEventId = r.deactivated_event_id;
    if (r.deactivate_reason !== null) x.deactivateReason = r.deactivate_reason;
    return x;
  });
  const custody = new Map<string, { entries: CustodyEntry[]; truncated: boolean }>();
  const ids = [...new Set(bundleIds)];
  if (ids.length > 0) {
    const c = await tx.query<{
      bundle_id: string;
      event_id: string;
      kind: string;
      occurred_at: Date;
      actor: string | null;
    }>(
      `SELECT b.id AS bundle_id, c.* FROM unnest($2::text[]) AS b(id)
       CROSS JOIN LATERAL (
         SELECT e.event_id, e.kind, e.occurred_at, e.actor, e.source, e.ingest_seq
         FROM timeline.evidence_links l
         JOIN timeline.events e ON e.tenant_id = l.tenant_id AND e.occurred_at = l.occurred_at AND e.event_id = l.event_id
         WHERE l.tenant_id = $1 AND l.bundle_id = b.id AND e.kind LIKE 'evidence.custody.%'
         ORDER BY e.occurred_at DESC, e.source DESC, e.ingest_seq DESC
         LIMIT ${MAX_CUSTODY + 1}
       ) c
       ORDER BY b.id, c.occurred_at, c.source, c.ingest_seq`,
      [tenant, ids],
    );
    for (const id of ids) custody.set(id, { entries: [], truncated: false });
    for (const r of c.rows) {
      const t = custody.get(r.bundle_id)!;
      t.entries.push({
        eventId: r.event_id,
        action: r.kind.slice('evidence.custody.'.length),
        occurredAt: r.occurred_at.toISOString(),
        ...(r.actor !== null ? { actor: r.actor } : {}),
      });
    }
    for (const t of custody.values())
      if (t.entries.length > MAX_CUSTODY) {
        // The oldest went first in the descending read: drop it, keep the latest MAX_CUSTODY.
        t.entries.shift();
        t.truncated = true;
      }
  }
  return { incidents, custody };
}
