/**
 * Building and signing TUF 1.0 metadata. Everything here is deterministic: given the same inputs
 * (and deterministic signatures — Ed25519) the bytes are identical, because file bytes are the
 * RFC 8785 canonical JSON of the metadata and signatures are sorted by keyid. The signing input is
 * the OLPC canonical JSON of `signed`, as the TUF spec requires (spec file §4, §7).
 */
import { canonicalJcsBytes, canonicalOlpcBytes } from '../canonical-json/index.js';
import { sha256Hex } from '../digest/index.js';
import { StellaError } from '../errors/index.js';
import { tufKeyId, tufPublicKeyIdentity, type TufSigner } from './tuf-keys.js';
import {
  TUF_SPEC_VERSION,
  type TufKey,
  type TufMetaFile,
  type TufMetadata,
  type TufRoleName,
  type TufRoot,
  type TufSigned,
  type TufSnapshot,
  type TufTargetFile,
  type TufTargets,
  type TufTimestamp,
} from './tuf-types.js';

/** Formats a date as TUF `expires` (`YYYY-MM-DDTHH:MM:SSZ`, UTC, no fractional seconds). */
export function formatTufExpires(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime()))
    throw new StellaError('TUF_INVALID', 'expires is not a valid date');
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1)
    throw new StellaError('TUF_INVALID', `version must be an integer ≥ 1, got ${String(version)}`);
  return version;
}

/** Options shared by every builder. */
export interface TufCommonOptions {
  version: number;
  expires: Date;
}

/** Input for {@link buildRoot}: the keys of every role and its threshold. */
export interface BuildRootOptions extends TufCommonOptions {
  consistentSnapshot?: boolean;
  roles: Record<TufRoleName, { keys: TufKey[]; threshold: number }>;
}

/**
 * root.json `signed`. Key ids are computed from the keys (TUF spec KEYID rule); thresholds must be
 * between 1 and the number of distinct keys of the role; a public key may appear under one key
 * object only, and every key must be one we can verify with.
 * @throws StellaError TUF_INVALID
 */
export function buildRoot(o: BuildRootOptions): TufRoot {
  const keys: Record<string, TufKey> = {};
  const roles = {} as TufRoot['roles'];
  // One public key, one key object: the same key under two spellings (keytype `ecdsa` and
  // `ecdsa-sha2-nistp256`, …) would get two keyids, and verifiers refuse such roots.
  const keyIdOfIdentity = new Map<string, string>();
  for (const name of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    const r = o.roles[name];
    if (!r) throw new StellaError('TUF_INVALID', `root needs keys for the ${name} role`);
    for (const k of r.keys) {
      const id = tufKeyId(k);
      const identity = tufPublicKeyIdentity(k);
      if (identity === undefined)
        throw new StellaError('TUF_INVALID', `${name}: key ${id} is not a supported, parsable public key`);
      const other = keyIdOfIdentity.get(identity);
      if (other !== undefined && other !== id)
        throw new StellaError(
          'TUF_INVALID',
          `${name}: the same public key is given as two key objects (${other}, ${id})`,
          {
            details: { keyids: [other, id] },
          },
        );
      keyIdOfIdentity.set(identity, id);
    }
    const ids = [...new Set(r.keys.map((k) => tufKeyId(k)))].sort();
    if (!Number.isSafeInteger(r.threshold) || r.threshold < 1 || r.threshold > ids.length) {
      throw new StellaError(
        'TUF_INVALID',
        `${name} threshold ${String(r.threshold)} must be between 1 and its ${ids.length} distinct key(s)`,
      );
    }
    for (const k of r.keys)
      keys[tufKeyId(k)] = { keytype: k.keytype, scheme: k.scheme, keyval: { public: k.keyval.public } };
    roles[name] = { keyids: ids, threshold: r.threshold };
  }
  return {
    _type: 'root',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(o.version),
    expires: formatTufExpires(o.expires),
    consistent_snapshot: o.consistentSnapshot ?? true,
    keys,
    roles,
  };
}

/** Length and SHA-256 of a target's bytes (use {@link targetFileInfoFromDigest} for streamed files). */
export function targetFileInfo(bytes: Uint8Array, custom?: Record<string, unknown>): TufTargetFile {
  return { length: bytes.length, hashes: { sha256: sha256Hex(bytes) }, ...(custom ? { custom } : {}) };
}

/** Target info from a length and SHA-256 computed elsewhere (e.g. by a streaming hasher). */
export function targetFileInfoFromDigest(
  length: number,
  sha256: string,
  custom?: Record<string, unknown>,
): TufTargetFile {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new StellaError('TUF_INVALID', 'target length must be a non-negative integer');
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new StellaError('TUF_INVALID', 'target sha256 must be 64 lowercase hex characters');
  return { length, hashes: { sha256 }, ...(custom ? { custom } : {}) };
}

/**
 * Checks a target path: relative, `/`-separated, no empty, `.` or `..` segments, no backslashes or
 * control characters, ASCII only (OLPC key order differs between implementations for some
 * non-ASCII names — spec file §7 — and a path is a key of `targets`).
 */
export function assertTargetPath(path: string): void {
  if (
    typeof path !== 'string' ||
    path === '' ||
    !/^[\x21-\x7e]+$/.test(path) ||
    path.includes('\\') ||
    path.startsWith('/') ||
    path.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new StellaError('TUF_INVALID', `target path ${JSON.stringify(path)} is not a safe relative ASCII path`);
  }
}

/** targets.json `signed` for the given path → file info map. */
export function buildTargets(o: TufCommonOptions & { targets: Record<string, TufTargetFile> }): TufTargets {
  const targets: Record<string, TufTargetFile> = {};
  for (const path of Object.keys(o.targets).sort()) {
    assertTargetPath(path);
    targets[path] = o.targets[path]!;
  }
  return {
    _type: 'targets',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(o.version),
    expires: formatTufExpires(o.expires),
    targets,
  };
}

/** A `meta` entry (version, length, sha256) for the exact bytes of a metadata file. */
export function metaFileInfo(bytes: Uint8Array, version: number): TufMetaFile {
  return { version: checkVersion(version), length: bytes.length, hashes: { sha256: sha256Hex(bytes) } };
}

/** snapshot.json `signed` listing targets.json (and any delegated role files) by their bytes. */
export function buildSnapshot(o: TufCommonOptions & { meta: Record<string, TufMetaFile> }): TufSnapshot {
  if (!o.meta['targets.json']) throw new StellaError('TUF_INVALID', 'snapshot meta must list targets.json');
  const meta: Record<string, TufMetaFile> = {};
  for (const k of Object.keys(o.meta).sort()) meta[k] = o.meta[k]!;
  return {
    _type: 'snapshot',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(o.version),
    expires: formatTufExpires(o.expires),
    meta,
  };
}

/** timestamp.json `signed` pointing at the snapshot bytes. */
export function buildTimestamp(o: TufCommonOptions & { snapshot: TufMetaFile }): TufTimestamp {
  return {
    _type: 'timestamp',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(o.version),
    expires: formatTufExpires(o.expires),
    meta: { 'snapshot.json': o.snapshot },
  };
}

/**
 * Signs `signed` with every signer: each signature is hex of sign(OLPC canonical JSON of `signed`).
 * Signatures are sorted by keyid so the output does not depend on signer order.
 * @throws StellaError JSON_INVALID when `signed` is not OLPC-encodable (floats in `custom`, …).
 */
export async function signMetadata<T extends TufSigned>(
  signed: T,
  signers: readonly TufSigner[],
): Promise<TufMetadata<T>> {
  const data = canonicalOlpcBytes(signed);
  const seen = new Set<string>();
  const signatures = [];
  for (const s of [...signers].sort((a, b) => (a.keyid < b.keyid ? -1 : a.keyid > b.keyid ? 1 : 0))) {
    if (seen.has(s.keyid)) continue;
    seen.add(s.keyid);
    signatures.push({ keyid: s.keyid, sig: Buffer.from(await s.sign(data)).toString('hex') });
  }
  return { signed, signatures };
}

/** The bytes of a metadata file: RFC 8785 canonical JSON (deterministic and valid JSON). */
export function serializeMetadata(md: TufMetadata): Uint8Array {
  return canonicalJcsBytes(md);
}
