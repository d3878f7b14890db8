/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text
 *
 * ```
 * <origin>
 * <tree size, decimal, no leading zeros>
 * <base64 RFC 6962 root hash>
 * [extension lines, each non-empty]
 * ```
 *
 * signed as a signed note; plus the checks a checkpoint holder makes when it receives a newer one
 * (origin, no rollback, consistency proof for exactly the two sizes).
 */
import { StellaError } from '../errors/index.js';
import { HASH_SIZE, consistencyProofLength, hashEquals, verifyConsistency, verifyInclusion } from '../merkle/index.js';
import {
  decodeBase64Strict,
  openNote,
  signNote,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
} from './note.js';

/** A checkpoint body. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Extension lines (opaque, each non-empty, no newline). */
  extensions: string[];
}

/** A checkpoint with the note it came in. */
export interface SignedCheckpoint extends Checkpoint {
  /** The full signed note. */
  note: string;
  /** The checkpoint body (note text). */
  text: string;
  /** Verified signatures (by trusted keys) and ignored ones (unknown keys, e.g. witnesses). */
  verified: NoteSignature[];
  unverified: NoteSignature[];
}

const bad = (msg: string, details?: Record<string, unknown>) =>
  new StellaError('TLOG_CHECKPOINT_MALFORMED', `checkpoint: ${msg}`, details ? { details } : undefined);

/** Formats the checkpoint body (note text). */
export function formatCheckpoint(cp: Checkpoint): string {
  if (typeof cp.origin !== 'string' || cp.origin.length === 0 || cp.origin.includes('\n'))
    throw bad('origin must be a non-empty line');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw bad('size must be a non-negative safe integer');
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== HASH_SIZE) throw bad('root hash must be 32 bytes');
  for (const e of cp.extensions ?? [])
    if (typeof e !== 'string' || e.length === 0 || e.includes('\n'))
      throw bad('extension lines must be non-empty lines');
  const ext = (cp.extensions ?? []).map((e) => `${e}\n`).join('');
  return `${cp.origin}\n${cp.size}\n${Buffer.from(cp.rootHash).toString('base64')}\n${ext}`;
}

/**
 * Parses a checkpoint body strictly.
 * @throws StellaError TLOG_CHECKPOINT_MALFORMED
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw bad('the body must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw bad('needs origin, size and root hash lines');
  const [origin, sizeStr, rootStr, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw bad('empty origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeStr)) throw bad('size must be decimal without leading zeros', { size: sizeStr });
  const size = Number(sizeStr);
  if (!Number.isSafeInteger(size)) throw bad('size is beyond 2^53', { size: sizeStr });
  const rootHash = decodeBase64Strict(rootStr, 'root hash', 'TLOG_CHECKPOINT_MALFORMED');
  if (rootHash.length !== HASH_SIZE) throw bad(`root hash is ${rootHash.length} bytes, not ${HASH_SIZE}`);
  extensions.forEach((e, i) => {
    if (e.length === 0) throw bad(`extension line ${i + 1} is empty`);
  });
  return { origin, size, rootHash, extensions };
}

/** Signs a checkpoint with the log key(s) (and keeps `cosignatures`, e.g. witness lines). */
export async function signCheckpoint(
  cp: Checkpoint,
  signers: readonly NoteSigner[],
  cosignatures: readonly NoteSignature[] = [],
): Promise<string> {
  return signNote(formatCheckpoint(cp), signers, cosignatures);
}

/** What {@link openCheckpoint} checks against. */
export interface OpenCheckpointOptions {
  /** The origin the caller expects (the log's identity). */
  origin: string;
  /** Trusted log keys; at least one must have signed. */
  verifiers: readonly NoteVerifier[];
}

/**
 * Verifies a signed checkpoint note and parses its body. The signature check comes first: the
 * body of an unverified note is never interpreted.
 * @throws StellaError TLOG_NOTE_MALFORMED, TLOG_UNKNOWN_KEY, TLOG_BAD_SIGNATURE,
 *   TLOG_CHECKPOINT_MALFORMED, TLOG_ORIGIN_MISMATCH
 */
export function openCheckpoint(note: string | Uint8Array, opts: OpenCheckpointOptions): SignedCheckpoint {
  const opened: OpenedNote = openNote(note, opts.verifiers);
  const cp = parseCheckpoint(opened.text);
  if (cp.origin !== opts.origin)
    throw new StellaError(
      'TLOG_ORIGIN_MISMATCH',
      `checkpoint origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(opts.origin)}`,
      {
        details: { origin: cp.origin, expected: opts.origin },
      },
    );
  return {
    ...cp,
    note: typeof note === 'string' ? note : new TextDecoder().decode(note),
    text: opened.text,
    verified: opened.verified,
    unverified: opened.unverified,
  };
}

/** A consistency proof between two tree sizes (RFC 9162 §2.1.4). */
export interface TlogConsistencyProof {
  oldSize: number;
  newSize: number;
  hashes: Uint8Array[];
}

/** An inclusion proof of one entry in a tree size (RFC 9162 §2.1.3). */
export interface TlogInclusionProof {
  index: number;
  size: number;
  hashes: Uint8Array[];
}

/**
 * Checks that `next` may replace the `held` checkpoint: same origin, not smaller (no rollback),
 * and `proof` (for exactly held.size → next.size) proves the old tree is a prefix of the new one.
 * Equal sizes need equal roots and no proof hashes.
 * @throws StellaError TLOG_ORIGIN_MISMATCH, TLOG_ROLLBACK, TLOG_CONSISTENCY_SIZE_MISMATCH,
 *   MERKLE_PROOF_INVALID (the trees are not consistent: a fork or rewritten history)
 */
export function verifyCheckpointConsistency(held: Checkpoint, next: Checkpoint, proof: TlogConsistencyProof): void {
  if (held.origin !== next.origin)
    throw new StellaError('TLOG_ORIGIN_MISMATCH', `checkpoints of different logs (${held.origin}, ${next.origin})`);
  if (next.size < held.size)
    throw new StellaError(
      'TLOG_ROLLBACK',
      `checkpoint of size ${next.size} is older than the held one of size ${held.size}`,
      {
        details: { held: held.size, got: next.size },
      },
    );
  if (proof.oldSize !== held.size || proof.newSize !== next.size)
    throw new StellaError(
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
      `consistency proof is for ${proof.oldSize} → ${proof.newSize}, the checkpoints are ${held.size} → ${next.size}`,
      { details: { proof: [proof.oldSize, proof.newSize], checkpoints: [held.size, next.size] } },
    );
  if (held.size === 0) {
    // Every tree extends the empty tree; RFC 9162 defines no proof for it.
    if (proof.hashes.length !== 0)
      throw new StellaError('TLOG_CONSISTENCY_SIZE_MISMATCH', 'a proof from the empty tree has no hashes');
    return;
  }
  const expected = consistencyProofLength(held.size, next.size);
  if (proof.hashes.length !== expected)
    throw new StellaError(
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
      `consistency proof has ${proof.hashes.length} hashes; ${held.size} → ${next.size} needs ${expected} (a proof for other sizes?)`,
      { details: { got: proof.hashes.length, expected } },
    );
  if (held.size === next.size) {
    if (!hashEquals(held.rootHash, next.rootHash))
      throw new StellaError(
        'MERKLE_PROOF_INVALID',
        `two checkpoints of size ${held.size} with different roots (a fork)`,
        {
          details: { check: 'root2' },
        },
      );
    return;
  }
  verifyConsistency(held.size, next.size, proof.hashes, held.rootHash, next.rootHash);
}

/**
 * Verifies that `leafHash` is entry `proof.index` of the tree the trusted checkpoint `cp` commits
 * to (the proof must be for exactly `cp.size`).
 * @throws StellaError TLOG_CONSISTENCY_SIZE_MISMATCH (proof for another size), MERKLE_PROOF_INVALID,
 *   MERKLE_PROOF_MALFORMED, MERKLE_INDEX_OUT_OF_RANGE
 */
export function verifyInclusionInCheckpoint(
  leafHash: Uint8Array,
  proof: TlogInclusionProof,
  cp: Pick<Checkpoint, 'size' | 'rootHash'>,
): void {
  if (proof.size !== cp.size)
    throw new StellaError(
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
      `inclusion proof is for tree size ${proof.size}, the checkpoint has ${cp.size}`,
      {
        details: { proof: proof.size, checkpoint: cp.size },
      },
    );
  verifyInclusion(leafHash, proof.index, proof.size, proof.hashes, cp.rootHash);
}
