/**
 * What the evidence log routes and bundle.tgz hand out (docs/evidence/transparency-log.md
 * "Proofs"): an entry with its index and an inclusion proof against a signed checkpoint. Hashes
 * are standard base64, as in the checkpoint itself (c2sp.org/tlog-checkpoint).
 */
import type { Queryable } from '@stella/platform/db';
import type { PublishedCheckpoint, TransparencyLog } from '@stella/platform/tlog';
import type { LogEntryType } from './log-entries.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

export interface LogEntryRow {
  [k: string]: unknown;
  entry_type: LogEntryType;
  bundle_id: string;
  entry: Buffer;
  entry_digest: string;
  log_index: string | null;
  queued_at: Date | string;
}

export const ENTRY_COLUMNS = 'entry_type, bundle_id, entry, entry_digest, log_index::text AS log_index, queued_at';

/** Inclusion proof as JSON: RFC 9162 §2.1.3 audit path for `index` in the tree of `size`. */
export interface InclusionProofJson {
  index: number;
  size: number;
  hashes: string[];
}

export interface LogEntryView {
  type: LogEntryType;
  bundleId: string;
  entryDigest: string;
  /** The entry bytes (RFC 8785 JSON), base64. */
  entry: string;
  /** `pending` until the sequencer has integrated it into a checkpoint. */
  status: 'pending' | 'integrated';
  index?: number;
  /** Present when integrated and the checkpoint of this answer covers it. */
  inclusionProof?: InclusionProofJson;
}

/** The tenant's entries of one bundle (RLS), in enqueue order. */
export async function bundleEntries(tx: Queryable, bundleId: string): Promise<LogEntryRow[]> {
  return (
    await tx.query<LogEntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM evidence_locker.log_entries WHERE bundle_id = $1 ORDER BY seq`,
      [bundleId],
    )
  ).rows;
}

/** The tenant's entries naming `digest` (root, manifest or tombstone digest, or the entry's own). */
export async function entriesByDigest(tx: Queryable, digest: string, limit: number): Promise<LogEntryRow[]> {
  return (
    await tx.query<LogEntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM evidence_locker.log_entries
       WHERE digests @> ARRAY[$1]::text[] OR entry_digest = $1 ORDER BY seq LIMIT $2`,
      [digest, limit],
    )
  ).rows;
}

/**
 * Views of `rows`, each integrated one with its inclusion proof in `cp` (entries `cp` does not
 * cover yet — integrated after it — carry their index but no proof).
 */
export async function proveRows(
  log: TransparencyLog,
  rows: readonly LogEntryRow[],
  cp: PublishedCheckpoint,
): Promise<LogEntryView[]> {
  const out: LogEntryView[] = [];
  for (const r of rows) {
    const view: LogEntryView = {
      type: r.entry_type,
      bundleId: r.bundle_id,
      entryDigest: r.entry_digest,
      entry: b64(r.entry),
      status: r.log_index === null ? 'pending' : 'integrated',
      ...(r.log_index !== null ? { index: Number(r.log_index) } : {}),
    };
    if (r.log_index !== null && Number(r.log_index) < cp.size) {
      const p = await log.inclusionProof(Number(r.log_index), cp);
      view.inclusionProof = { index: p.proof.index, size: p.proof.size, hashes: p.proof.hashes.map(b64) };
    }
    out.push(view);
  }
  return out;
}
