/**
 * bundle.tgz with its transparency-log proof (docs/evidence/transparency-log.md "bundle.tgz";
 * ADR 0013). The archive stored at seal time cannot hold the proof: the seal answers before the
 * sequencer has integrated its entry. Once it has, a download is the same deterministic archive
 * plus three files, listed in checksums.txt like the rest:
 *
 * - `log/entry.json` — the seal entry (RFC 8785 bytes; rebuildable from manifest.json),
 * - `log/inclusion-proof.json` — `{origin, index, size, hashes}` (RFC 9162 §2.1.3, base64),
 * - `log/checkpoint.txt` — the signed checkpoint of that size (c2sp.org/tlog-checkpoint),
 * - `log/verifier-key.txt` — the log's note verifier key (integrity only; auditors pin their own).
 *
 * The proof is always against the checkpoint that integrated the entry — the first published
 * checkpoint covering its index, which never changes — so the bytes are a pure function of the
 * bundle and stay identical for every download (a later checkpoint is reached with a consistency
 * proof, `GET /evidence/log/proof/consistency`).
 */
import { Readable, Transform } from 'node:stream';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import type { TransparencyLog } from '@stella/platform/tlog';
import { createBundleArchive, type ArchiveInput } from '../bundle/archive.js';

export const LOG_ENTRY_FILE = 'log/entry.json';
export const LOG_PROOF_FILE = 'log/inclusion-proof.json';
export const LOG_CHECKPOINT_FILE = 'log/checkpoint.txt';
export const LOG_VKEY_FILE = 'log/verifier-key.txt';

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** The log/ files proving entry `index` (bytes `entry`) in the checkpoint that integrated it. */
export async function logFiles(
  log: TransparencyLog,
  entry: Uint8Array,
  index: number,
  verifierKey: string,
): Promise<{ path: string; bytes: Uint8Array }[]> {
  const cp = await log.checkpointAt(index, { covering: true });
  if (!cp?.note) throw new Error(`entry ${index} is indexed but no checkpoint covers it`);
  const p = await log.inclusionProof(index, cp);
  const proof = {
    origin: log.origin,
    index: p.proof.index,
    size: p.proof.size,
    hashes: p.proof.hashes.map((h) => Buffer.from(h).toString('base64')),
  };
  return [
    { path: LOG_ENTRY_FILE, bytes: entry },
    { path: LOG_PROOF_FILE, bytes: canonicalJcsBytes(proof) },
    { path: LOG_CHECKPOINT_FILE, bytes: text(cp.note) },
    { path: LOG_VKEY_FILE, bytes: text(`${verifierKey}\n`) },
  ];
}

/** The archive with `extra` files, streamed (artifact bodies opened one at a time). */
export function loggedArchive(input: ArchiveInput, extra: { path: string; bytes: Uint8Array }[]): Readable {
  return createBundleArchive({ ...input, extraFiles: extra });
}

/** Bytes `start…end` (inclusive) of a stream: for `Range` on an archive that is rebuilt, not stored. */
export function sliceStream(source: Readable, start: number, end: number): Readable {
  let pos = 0;
  let ended = false;
  const slicer = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (ended) return done(); // chunks already in flight when the range was complete
      const from = Math.max(start - pos, 0);
      const to = Math.min(end + 1 - pos, chunk.length);
      pos += chunk.length;
      if (to > from) this.push(chunk.subarray(from, to));
      if (pos > end) {
        ended = true;
        this.push(null);
        source.unpipe(slicer);
        source.destroy();
      }
      done();
    },
  });
  return source.pipe(slicer);
}
