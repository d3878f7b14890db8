/**
 * The transparency-log checks of offline bundle verification (docs/evidence/transparency-log.md
 * "Verifying offline"; ADR 0013). A bundle.tgz downloaded after its seal entry was integrated
 * carries `log/entry.json`, `log/inclusion-proof.json`, `log/checkpoint.txt` and
 * `log/verifier-key.txt`; the seal entry itself is rebuilt from manifest.json, so a bundle
 * without log/ files can still be checked against a trusted checkpoint with an inclusion proof
 * fetched separately. Checks (each reported by name, none hiding another):
 *
 * - `log:entry` — log/entry.json is exactly the seal entry manifest.json implies;
 * - `log:checkpoint` — log/checkpoint.txt is signed by the log key (the pinned `logKey`, else the
 *   bundle's own verifier-key.txt: integrity only, as with keys/ for the seal);
 * - `log:inclusion` — the entry is in that checkpoint (RFC 9162 inclusion proof);
 * - `log:trusted-checkpoint` — the auditor's checkpoint is signed by the pinned key;
 * - `log:trusted` — the entry is in the log the auditor trusts: the trusted checkpoint equals the
 *   bundle's, or a given consistency proof extends the bundle's to it, or a given inclusion proof
 *   proves the entry in it directly.
 */
import { isStellaError } from '@stella/core/errors';
import { hashEquals, leafHash } from '@stella/core/merkle';
import {
  openCheckpoint,
  parseVerifierKey,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
  type SignedCheckpoint,
  type TlogInclusionProof,
} from '@stella/core/tlog';
import type { BundleFile } from '@stella/core/tar';
import { LOG_CHECKPOINT_FILE, LOG_ENTRY_FILE, LOG_PROOF_FILE, LOG_VKEY_FILE } from '../log/logged-archive.js';
import { sealEntryOfManifest } from '../log/log-entries.js';

export type AddCheck = (check: string, status: 'pass' | 'fail' | 'skip', detail?: string) => void;

export interface LogVerifyOptions {
  /** The log's note verifier key the auditor pins (`<name>+<hex id>+<base64>`). */
  logKey?: string;
  /** A checkpoint note the auditor trusts (held from earlier, or from a witness). */
  trustedCheckpoint?: string;
  /**
   * A proof tying the bundle to the trusted checkpoint: the answer of
   * `GET /evidence/log/proof/consistency?from=<bundle's size>&to=<trusted size>` or of
   * `GET /evidence/log/proof/inclusion?bundleId=…&size=<trusted size>`, or a bare
   * `{index, size, hashes}` / `{oldSize, newSize, hashes}`.
   */
  logProof?: unknown;
}

const message = (err: unknown) =>
  isStellaError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
const text = (f: BundleFile | undefined) => (f?.bytes ? Buffer.from(f.bytes).toString('utf8') : undefined);
const unb64 = (s: unknown) => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(s))
    throw new Error('a proof hash is not base64 of 32 bytes');
  return new Uint8Array(Buffer.from(s, 'base64'));
};

function inclusionOf(v: unknown): TlogInclusionProof | undefined {
  const o = v as { index?: unknown; size?: unknown; hashes?: unknown; entries?: unknown } | undefined;
  if (o && Array.isArray(o.entries)) {
    const seal = (o.entries as { type?: string; inclusionProof?: unknown }[]).find((e) => e.type === 'seal');
    return seal ? inclusionOf(seal.inclusionProof) : undefined;
  }
  if (!o || !Number.isSafeInteger(o.index) || !Number.isSafeInteger(o.size) || !Array.isArray(o.hashes))
    return undefined;
  return { index: o.index as number, size: o.size as number, hashes: o.hashes.map(unb64) };
}

function consistencyOf(v: unknown) {
  const o = v as { oldSize?: unknown; newSize?: unknown; hashes?: unknown } | undefined;
  if (!o || !Number.isSafeInteger(o.oldSize) || !Number.isSafeInteger(o.newSize) || !Array.isArray(o.hashes))
    return undefined;
  return { oldSize: o.oldSize as number, newSize: o.newSize as number, hashes: o.hashes.map(unb64) };
}

/** Adds the log checks for a bundle (not a portable bundle: its manifest is not included). */
export function verifyLogFiles(
  files: Map<string, BundleFile>,
  manifest: Record<string, unknown> | undefined,
  manifestDigest: string | undefined,
  options: LogVerifyOptions,
  add: AddCheck,
): void {
  const present = [LOG_ENTRY_FILE, LOG_PROOF_FILE, LOG_CHECKPOINT_FILE].filter((p) => files.has(p));
  // No log/ files (downloaded before the seal entry was integrated) and nothing asked: no log checks.
  if (present.length === 0 && !options.trustedCheckpoint) return;
  if (!manifest || !manifestDigest) {
    add('log:entry', 'fail', 'no manifest.json to rebuild the seal entry from');
    return;
  }
  const entry = sealEntryOfManifest(manifest, manifestDigest).bytes;
  const leaf = leafHash(entry);
  if (present.length > 0 && present.length < 3)
    add('log', 'fail', `incomplete log proof: only ${present.join(', ')} in the bundle`);

  const entryFile = files.get(LOG_ENTRY_FILE)?.bytes;
  if (entryFile)
    add(
      'log:entry',
      Buffer.from(entryFile).equals(Buffer.from(entry)) ? 'pass' : 'fail',
      Buffer.from(entryFile).equals(Buffer.from(entry))
        ? undefined
        : `${LOG_ENTRY_FILE} is not the seal entry of manifest.json`,
    );

  let key;
  const keyText = options.logKey ?? text(files.get(LOG_VKEY_FILE))?.trim();
  try {
    if (!keyText) throw new Error(`no log key: none given and no ${LOG_VKEY_FILE}`);
    key = parseVerifierKey(keyText);
  } catch (err) {
    add(options.logKey ? 'log:key' : 'log:checkpoint', 'fail', message(err));
  }

  let bundleCp: SignedCheckpoint | undefined;
  let bundleProof: TlogInclusionProof | undefined;
  const note = text(files.get(LOG_CHECKPOINT_FILE));
  if (note && key) {
    try {
      bundleCp = openCheckpoint(note, { origin: key.name, verifiers: [key] });
      add('log:checkpoint', 'pass', `size ${bundleCp.size} (${options.logKey ? 'given key' : 'key from the bundle'})`);
    } catch (err) {
      add('log:checkpoint', 'fail', message(err));
    }
  }
  const proofText = text(files.get(LOG_PROOF_FILE));
  if (proofText && bundleCp) {
    try {
      bundleProof = inclusionOf(JSON.parse(proofText));
      if (!bundleProof) throw new Error(`${LOG_PROOF_FILE} is not {index, size, hashes}`);
      verifyInclusionInCheckpoint(leaf, bundleProof, bundleCp);
      add('log:inclusion', 'pass', `entry ${bundleProof.index} of ${bundleCp.size}`);
    } catch (err) {
      bundleProof = undefined;
      add('log:inclusion', 'fail', message(err));
    }
  }

  if (!options.trustedCheckpoint) return;
  let trusted: SignedCheckpoint;
  try {
    if (!key) throw new Error('no log key to check the trusted checkpoint with: give --log-key');
    trusted = openCheckpoint(options.trustedCheckpoint, { origin: key.name, verifiers: [key] });
    add('log:trusted-checkpoint', 'pass', `size ${trusted.size}`);
  } catch (err) {
    add('log:trusted-checkpoint', 'fail', message(err));
    return;
  }
  try {
    const inc = inclusionOf(options.logProof);
    const cons = consistencyOf(options.logProof);
    if (inc && inc.size === trusted.size) {
      verifyInclusionInCheckpoint(leaf, inc, trusted);
      add('log:trusted', 'pass', `entry ${inc.index} is in the trusted checkpoint (size ${trusted.size})`);
    } else if (!bundleCp || !bundleProof) {
      throw new Error(
        `the bundle carries no verified log proof; give --proof from GET /evidence/log/proof/inclusion?bundleId=…&size=${trusted.size}`,
      );
    } else if (trusted.size < bundleCp.size) {
      if (bundleProof.index >= trusted.size)
        throw new Error(
          `TLOG_ROLLBACK: the trusted checkpoint (size ${trusted.size}) predates entry ${bundleProof.index}: ` +
            'it cannot show this bundle; trust a newer checkpoint',
        );
      throw new Error(
        `the trusted checkpoint (size ${trusted.size}) is older than the bundle's (${bundleCp.size}); give --proof from ` +
          `GET /evidence/log/proof/inclusion?bundleId=…&size=${trusted.size}`,
      );
    } else if (trusted.size === bundleCp.size) {
      if (!hashEquals(trusted.rootHash, bundleCp.rootHash))
        throw new Error(`MERKLE_PROOF_INVALID: two checkpoints of size ${trusted.size} with different roots (a fork)`);
      add('log:trusted', 'pass', `the bundle's checkpoint is the trusted one (size ${trusted.size})`);
    } else {
      if (!cons)
        throw new Error(
          `the trusted checkpoint (size ${trusted.size}) is newer than the bundle's (${bundleCp.size}); give --proof from ` +
            `GET /evidence/log/proof/consistency?from=${bundleCp.size}&to=${trusted.size}`,
        );
      verifyCheckpointConsistency(bundleCp, trusted, cons);
      add(
        'log:trusted',
        'pass',
        `the bundle's checkpoint (size ${bundleCp.size}) is a prefix of the trusted one (size ${trusted.size})`,
      );
    }
  } catch (err) {
    add('log:trusted', 'fail', message(err));
  }
}
