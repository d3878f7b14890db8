/** Reading tombstones (RLS: the tenant's own only) and their API shape. */
import type { Queryable } from '@stella/platform/db';

export const TOMBSTONE_COLUMNS = `bundle_id, kind, root_hash, manifest_digest, archive_digest, sealed_at, purged_at, reason,
  policy, envelope_json, key_id, public_key_pem, finished_at`;

export interface TombstoneRow {
  [k: string]: unknown;
  bundle_id: string;
  kind: string;
  root_hash: string;
  manifest_digest: string;
  archive_digest: string;
  sealed_at: Date;
  purged_at: Date;
  reason: string;
  policy: Record<string, unknown>;
  envelope_json: string;
  key_id: string;
  public_key_pem: string;
  finished_at: Date | null;
}

export function tombstoneOf(row: TombstoneRow) {
  return {
    bundleId: row.bundle_id,
    kind: row.kind,
    rootHash: row.root_hash,
    manifestDigest: row.manifest_digest,
    archiveDigest: row.archive_digest,
    sealedAt: new Date(row.sealed_at).toISOString(),
    purgedAt: new Date(row.purged_at).toISOString(),
    reason: row.reason,
    policy: row.policy,
    keyId: row.key_id,
    publicKeyPem: row.public_key_pem,
    envelope: JSON.parse(row.envelope_json) as Record<string, unknown>,
    objectsRemoved: row.finished_at !== null,
  };
}

export async function loadTombstone(tx: Queryable, bundleId: string): Promise<TombstoneRow | undefined> {
  return (
    await tx.query<TombstoneRow>(`SELECT ${TOMBSTONE_COLUMNS} FROM evidence_locker.tombstones WHERE bundle_id = $1`, [
      bundleId,
    ])
  ).rows[0];
}
