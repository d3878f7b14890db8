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
 * Every other `evidence.*` event (verified, downloaded, custody, incident) is an ordinary event:
 * its envelope `evidence` references are its links (ingest.ts), nothing more is derived.
 * A malformed payload of a known kind is stored as an event and derives nothing (the envelope was
 * valid; the timeline is a record, not the Evidence Locker's validator).
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

/** Derives bundles and holds from the evidence events among `stored` (one tenant's batch, in `tx`). */
export async function recordEvidence(tx: Tx, stored: readonly StoredEvent[]): Promise<void> {
  const seals: Seal[] = [];
  const holds: HoldChange[] = [];
  for (const s of stored) {
    if (s.event.kind === 'evidence.bundle.sealed') {
      const seal = sealOf(s);
      if (seal) seals.push(seal);
    } else if (s.event.kind === 'evidence.hold.placed') holds.push(...holdChanges(s, true));
    else if (s.event.kind === 'evidence.hold.released') holds.push(...holdChanges(s, false));
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
