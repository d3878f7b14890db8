/**
 * The Evidence Locker's log entries (issue 12 item 3; ADR 0013; docs/evidence/transparency-log.md
 * "Entries"): each seal, hold, release and purge tombstone is one entry of the tenant's
 * transparency log — the RFC 8785 bytes of a small JSON object with a `type`. Entries never name
 * the tenant (the log is the tenant's; a bundle carrying its entry can travel without naming it).
 * A seal entry is a function of manifest.json alone (bundleId, kind, createdAt, merkle.root and
 * the manifest's digest), so an offline verifier rebuilds it byte for byte from the bundle.
 *
 * Enqueueing is one INSERT in the caller's transaction — the seal, hold, release or purge that the
 * entry records — so the entry exists if and only if that change committed (the sequencer,
 * src/log/log-sequencer.ts, integrates it later).
 */
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import type { Queryable } from '@stella/platform/db';

export const SEAL_ENTRY = 'stella.evidence.seal/v1';
export const HOLD_ENTRY = 'stella.evidence.hold/v1';
export const RELEASE_ENTRY = 'stella.evidence.release/v1';
export const TOMBSTONE_ENTRY = 'stella.evidence.tombstone/v1';

export type LogEntryType = 'seal' | 'hold' | 'release' | 'tombstone';

export const ENTRY_TYPE_OF: Readonly<Record<string, LogEntryType>> = {
  [SEAL_ENTRY]: 'seal',
  [HOLD_ENTRY]: 'hold',
  [RELEASE_ENTRY]: 'release',
  [TOMBSTONE_ENTRY]: 'tombstone',
};

export interface LogEntry {
  type: LogEntryType;
  bundleId: string;
  /** The entry bytes (RFC 8785). */
  bytes: Uint8Array;
  /** `sha256:<hex>` of {@link bytes}: the log's dedupe key. */
  digest: string;
  /** Digests the entry names (for `GET /evidence/log/entries?digest=`). */
  names: string[];
}

function entry(type: LogEntryType, bundleId: string, body: Record<string, JsonValue>, names: string[]): LogEntry {
  const bytes = canonicalJcsBytes(body);
  return { type, bundleId, bytes, digest: sha256Digest(bytes), names: [...new Set(names)] };
}

/** The Merkle root (hex, as in manifest.merkle.root) as a digest string, the way lookups name it. */
const rootDigest = (rootHex: string) => `sha256:${rootHex}`;

/** The seal entry of a sealed manifest (rebuildable from manifest.json: see {@link sealEntryOfManifest}). */
export function sealEntry(m: {
  bundleId: string;
  kind: string;
  createdAt: string;
  rootHash: string;
  manifestDigest: string;
}): LogEntry {
  return entry(
    'seal',
    m.bundleId,
    {
      type: SEAL_ENTRY,
      bundleId: m.bundleId,
      kind: m.kind,
      sealedAt: m.createdAt,
      merkle: { algorithm: 'rfc9162-sha256', root: m.rootHash },
      manifest: { digest: m.manifestDigest },
    },
    [rootDigest(m.rootHash), m.manifestDigest],
  );
}

/** The seal entry a manifest.json implies (offline verification rebuilds it from the bundle). */
export function sealEntryOfManifest(manifest: Record<string, unknown>, manifestDigest: string): LogEntry {
  const merkle = manifest.merkle as { root?: unknown } | undefined;
  return sealEntry({
    bundleId: String(manifest.bundleId),
    kind: String(manifest.kind),
    createdAt: String(manifest.createdAt),
    rootHash: String(merkle?.root),
    manifestDigest,
  });
}

/** A hold placed on (or released from) one bundle, under a case. */
export function holdEntry(
  action: 'hold' | 'release',
  h: { bundleId: string; caseId: string; at: Date; rootHash: string },
): LogEntry {
  return entry(
    action,
    h.bundleId,
    {
      type: action === 'hold' ? HOLD_ENTRY : RELEASE_ENTRY,
      bundleId: h.bundleId,
      caseId: h.caseId,
      at: h.at.toISOString(),
      merkle: { root: h.rootHash },
    },
    [rootDigest(h.rootHash)],
  );
}

/** The purge tombstone of a bundle: what was removed, when, and the digest of the signed tombstone. */
export function tombstoneEntry(t: {
  bundleId: string;
  rootHash: string;
  manifestDigest: string;
  purgedAt: Date;
  tombstoneJson: string;
}): LogEntry {
  const tombstoneDigest = sha256Digest(Buffer.from(t.tombstoneJson, 'utf8'));
  return entry(
    'tombstone',
    t.bundleId,
    {
      type: TOMBSTONE_ENTRY,
      bundleId: t.bundleId,
      purgedAt: t.purgedAt.toISOString(),
      merkle: { root: t.rootHash },
      manifest: { digest: t.manifestDigest },
      tombstone: { digest: tombstoneDigest },
    },
    [rootDigest(t.rootHash), t.manifestDigest, tombstoneDigest],
  );
}

/**
 * Enqueues entries in the caller's tenant transaction (RLS: the row is the transaction's tenant's).
 * The same entry bytes twice are one entry (ON CONFLICT DO NOTHING): the log never holds a repeat.
 */
export async function enqueueLogEntries(tx: Queryable, entries: readonly LogEntry[]): Promise<void> {
  for (const e of entries)
    await tx.query(
      `INSERT INTO evidence_locker.log_entries (entry_type, bundle_id, entry, entry_digest, digests)
       VALUES ($1, $2, $3, $4, $5::text[]) ON CONFLICT (tenant_id, entry_digest) DO NOTHING`,
      [e.type, e.bundleId, Buffer.from(e.bytes), e.digest, e.names],
    );
}

/**
 * Enqueues one hold (or release) entry per bundle of `bundleIds`, in the caller's transaction;
 * `at` is the transaction's time, so a bundle held, released and held again gets distinct entries.
 */
export async function enqueueHoldEntries(
  tx: Queryable,
  action: 'hold' | 'release',
  caseId: string,
  bundleIds: readonly string[],
): Promise<void> {
  if (bundleIds.length === 0) return;
  const r = await tx.query<{ bundle_id: string; root_hash: string; at: Date }>(
    `SELECT bundle_id, root_hash, now() AS at FROM evidence_locker.bundles WHERE bundle_id = ANY($1::text[])
     ORDER BY bundle_id`,
    [[...bundleIds]],
  );
  await enqueueLogEntries(
    tx,
    r.rows.map((b) => holdEntry(action, { bundleId: b.bundle_id, caseId, at: new Date(b.at), rootHash: b.root_hash })),
  );
}
