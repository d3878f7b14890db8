/**
 * Parsing and verifying TUF 1.0 metadata the way the client workflow of the TUF spec does
 * (§5 "Detailed client workflow"): root chain (each new root signed by a threshold of the old and
 * of its own root keys, versions +1), then timestamp → snapshot → targets, each signed by a
 * threshold of its role's keys from the trusted root, not expired (injectable clock), and matching
 * the version/length/hashes its parent lists; finally a target file's length and hashes.
 */
import { canonicalOlpcBytes, parseJson } from '../canonical-json/index.js';
import { sha256Hex, digestEquals } from '../digest/index.js';
import { StellaError, isStellaError } from '../errors/index.js';
import { verifyTufSignature } from './tuf-keys.js';
import type {
  TufMetaFile,
  TufMetadata,
  TufRoleKeys,
  TufRoleName,
  TufRoot,
  TufSigned,
  TufSnapshot,
  TufTargetFile,
  TufTargets,
  TufTimestamp,
} from './tuf-types.js';

type Rec = Record<string, unknown>;
const EXPIRES_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function invalid(msg: string, details?: unknown): StellaError {
  return new StellaError('TUF_INVALID', msg, details === undefined ? {} : { details });
}
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

function checkHashes(v: unknown, where: string): void {
  if (!isRec(v) || Object.keys(v).length === 0) throw invalid(`${where}: hashes must be a non-empty object`);
  for (const [alg, h] of Object.entries(v))
    if (typeof h !== 'string' || !/^[0-9a-f]+$/.test(h)) throw invalid(`${where}: hashes.${alg} is not lowercase hex`);
}

function checkMetaFile(v: unknown, where: string): void {
  if (!isRec(v) || !isCount(v.version, 1)) throw invalid(`${where}: version must be an integer ≥ 1`);
  if (v.length !== undefined && !isCount(v.length)) throw invalid(`${where}: length must be a non-negative integer`);
  if (v.hashes !== undefined) checkHashes(v.hashes, where);
}

function checkSigned(s: unknown, type: TufRoleName): void {
  if (!isRec(s)) throw invalid('signed must be an object');
  if (s._type !== type)
    throw invalid(`expected _type ${type}, got ${JSON.stringify(s._type)}`, { expected: type, got: s._type });
  if (typeof s.spec_version !== 'string' || !/^1\.\d+(\.\d+)?$/.test(s.spec_version))
    throw invalid(`${type}: unsupported spec_version ${JSON.stringify(s.spec_version)}`);
  if (!isCount(s.version, 1)) throw invalid(`${type}: version must be an integer ≥ 1`);
  if (typeof s.expires !== 'string' || !EXPIRES_RE.test(s.expires) || Number.isNaN(Date.parse(s.expires)))
    throw invalid(`${type}: expires must be YYYY-MM-DDTHH:MM:SSZ`);
  switch (type) {
    case 'root': {
      if (typeof s.consistent_snapshot !== 'boolean') throw invalid('root: consistent_snapshot must be a boolean');
      if (!isRec(s.keys)) throw invalid('root: keys must be an object');
      for (const [id, k] of Object.entries(s.keys)) {
        if (
          !isRec(k) ||
          typeof k.keytype !== 'string' ||
          typeof k.scheme !== 'string' ||
          !isRec(k.keyval) ||
          typeof k.keyval.public !== 'string'
        )
          throw invalid(`root: key ${id} is malformed`);
      }
      if (!isRec(s.roles)) throw invalid('root: roles must be an object');
      for (const r of ['root', 'targets', 'snapshot', 'timestamp']) {
        const role = s.roles[r];
        if (
          !isRec(role) ||
          !Array.isArray(role.keyids) ||
          !role.keyids.every((x) => typeof x === 'string') ||
          !isCount(role.threshold, 1)
        )
          throw invalid(`root: role ${r} is malformed`);
        if (new Set(role.keyids).size !== role.keyids.length) throw invalid(`root: role ${r} lists a keyid twice`);
      }
      return;
    }
    case 'targets':
      if (!isRec(s.targets)) throw invalid('targets: targets must be an object');
      for (const [p, t] of Object.entries(s.targets)) {
        if (!isRec(t) || !isCount(t.length)) throw invalid(`targets: ${p} length must be a non-negative integer`);
        checkHashes(t.hashes, `targets: ${p}`);
        if (t.custom !== undefined && !isRec(t.custom)) throw invalid(`targets: ${p} custom must be an object`);
      }
      return;
    case 'snapshot':
      if (!isRec(s.meta)) throw invalid('snapshot: meta must be an object');
      for (const [k, m] of Object.entries(s.meta)) checkMetaFile(m, `snapshot: meta ${k}`);
      if (!s.meta['targets.json']) throw invalid('snapshot: meta must list targets.json');
      return;
    case 'timestamp':
      if (!isRec(s.meta) || Object.keys(s.meta).length !== 1 || !s.meta['snapshot.json'])
        throw invalid('timestamp: meta must list exactly snapshot.json');
      checkMetaFile(s.meta['snapshot.json'], 'timestamp: meta snapshot.json');
      return;
  }
}

/**
 * Parses a metadata file strictly (duplicate JSON names rejected — two parsers must not see
 * different metadata) and checks its shape for the expected role.
 * @throws StellaError TUF_INVALID (JSON errors are wrapped, with the JSON_INVALID error as cause).
 */
export function parseTufMetadata<T extends TufRoleName>(
  bytes: Uint8Array | string,
  type: T,
): TufMetadata<Extract<TufSigned, { _type: T }>> {
  let v: unknown;
  try {
    v = parseJson(bytes);
  } catch (err) {
    throw new StellaError('TUF_INVALID', `${type} metadata is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isRec(v)) throw invalid(`${type} metadata must be a JSON object`);
  if (
    !Array.isArray(v.signatures) ||
    !v.signatures.every((s) => isRec(s) && typeof s.keyid === 'string' && typeof s.sig === 'string')
  ) {
    throw invalid(`${type}: signatures must be an array of {keyid, sig}`);
  }
  checkSigned(v.signed, type);
  return v as unknown as TufMetadata<Extract<TufSigned, { _type: T }>>;
}

/**
 * Counts distinct role keys with a valid signature over the OLPC canonical `signed` and requires
 * at least `role.threshold`. Signatures by keys outside the role, duplicates and bad signatures do
 * not count.
 * @throws StellaError TUF_INVALID (`details.valid`, `details.threshold`)
 */
export function verifyTufThreshold(md: TufMetadata, keys: TufRoot['keys'], role: TufRoleKeys, roleName: string): void {
  let data: Uint8Array;
  try {
    data = canonicalOlpcBytes(md.signed);
  } catch (err) {
    throw new StellaError('TUF_INVALID', `${roleName}: signed part is not OLPC-canonicalizable`, { cause: err });
  }
  const valid = new Set<string>();
  for (const s of md.signatures) {
    if (valid.has(s.keyid) || !role.keyids.includes(s.keyid)) continue;
    const key = Object.hasOwn(keys, s.keyid) ? keys[s.keyid] : undefined;
    if (key && verifyTufSignature(key, data, s.sig)) valid.add(s.keyid);
  }
  if (valid.size < role.threshold) {
    throw invalid(`${roleName} was signed by ${valid.size}/${role.threshold} required keys`, {
      role: roleName,
      valid: valid.size,
      threshold: role.threshold,
    });
  }
}

/** @throws StellaError TUF_EXPIRED when `now` ≥ `expires` (the TUF spec treats expiry as inclusive). */
export function checkTufExpiry(signed: TufSigned, now: Date): void {
  const exp = Date.parse(signed.expires);
  if (!(now.getTime() < exp)) {
    throw new StellaError('TUF_EXPIRED', `${signed._type} metadata expired at ${signed.expires}`, {
      details: { role: signed._type, expires: signed.expires, now: now.toISOString() },
    });
  }
}

function checkAgainstMeta(bytes: Uint8Array, version: number, meta: TufMetaFile, what: string): void {
  if (meta.length !== undefined && bytes.length !== meta.length)
    throw invalid(`${what}: length ${bytes.length} ≠ ${meta.length} listed`, { check: 'length' });
  if (meta.hashes) {
    for (const [alg, hex] of Object.entries(meta.hashes)) {
      if (alg !== 'sha256') continue; // only sha256 is produced and checked; other algorithms are ignored
      if (!digestEquals(`sha256:${sha256Hex(bytes)}`, `sha256:${hex}`))
        throw invalid(`${what}: sha256 does not match the listed hash`, { check: 'hash' });
    }
    if (!('sha256' in meta.hashes)) throw invalid(`${what}: no supported hash (sha256) listed`);
  }
  if (version !== meta.version)
    throw invalid(`${what}: version ${version} ≠ ${meta.version} listed`, { check: 'version' });
}

/** Input of {@link verifyTufRepository}: raw bytes of each file the client would download. */
export interface TufRepositoryFiles {
  /** The root the verifier already trusts (e.g. shipped out of band): bytes of `1.root.json` or later. */
  trustedRoot: Uint8Array;
  /** Newer roots N+1, N+2, … in order (may be empty). */
  rootUpdates?: Uint8Array[];
  timestamp: Uint8Array;
  snapshot: Uint8Array;
  targets: Uint8Array;
}

/** Options of {@link verifyTufRepository}. */
export interface TufVerifyOptions {
  /** Clock for expiry checks (default: `() => new Date()`). */
  now?: () => Date;
}

/** The verified, trusted metadata. */
export interface TufVerifiedRepository {
  root: TufRoot;
  timestamp: TufTimestamp;
  snapshot: TufSnapshot;
  targets: TufTargets;
}

/**
 * Verifies a repository offline, following the TUF client workflow (see module comment).
 * @throws StellaError TUF_INVALID (malformed, under-signed, inconsistent), TUF_EXPIRED
 */
export function verifyTufRepository(files: TufRepositoryFiles, options: TufVerifyOptions = {}): TufVerifiedRepository {
  const now = (options.now ?? (() => new Date()))();
  let rootMd = parseTufMetadata(files.trustedRoot, 'root');
  // The trusted root is self-signed by its own threshold (it was obtained out of band, but a
  // corrupted copy must still be caught).
  verifyTufThreshold(rootMd, rootMd.signed.keys, rootMd.signed.roles.root, 'root');
  for (const next of files.rootUpdates ?? []) {
    const md = parseTufMetadata(next, 'root');
    verifyTufThreshold(
      md,
      rootMd.signed.keys,
      rootMd.signed.roles.root,
      `root v${md.signed.version} (by the old root keys)`,
    );
    verifyTufThreshold(md, md.signed.keys, md.signed.roles.root, `root v${md.signed.version} (by its own keys)`);
    if (md.signed.version !== rootMd.signed.version + 1)
      throw invalid(`root version ${md.signed.version} does not follow ${rootMd.signed.version}`, { check: 'version' });
    rootMd = md;
  }
  const root = rootMd.signed;
  checkTufExpiry(root, now);

  const ts = parseTufMetadata(files.timestamp, 'timestamp');
  verifyTufThreshold(ts, root.keys, root.roles.timestamp, 'timestamp');
  checkTufExpiry(ts.signed, now);

  const snap = parseTufMetadata(files.snapshot, 'snapshot');
  checkAgainstMeta(files.snapshot, snap.signed.version, ts.signed.meta['snapshot.json'], 'snapshot');
  verifyTufThreshold(snap, root.keys, root.roles.snapshot, 'snapshot');
  checkTufExpiry(snap.signed, now);

  const targets = parseTufMetadata(files.targets, 'targets');
  checkAgainstMeta(files.targets, targets.signed.version, snap.signed.meta['targets.json']!, 'targets');
  verifyTufThreshold(targets, root.keys, root.roles.targets, 'targets');
  checkTufExpiry(targets.signed, now);

  return { root, timestamp: ts.signed, snapshot: snap.signed, targets: targets.signed };
}

/**
 * Checks a target's bytes against trusted targets metadata.
 * @throws StellaError TUF_INVALID (unknown path, length or hash mismatch)
 */
export function verifyTufTarget(targets: TufTargets, path: string, bytes: Uint8Array): TufTargetFile {
  const info = Object.hasOwn(targets.targets, path) ? targets.targets[path] : undefined;
  if (!info) throw invalid(`target ${JSON.stringify(path)} is not listed in targets metadata`, { check: 'path' });
  if (bytes.length !== info.length)
    throw invalid(`target ${path}: length ${bytes.length} ≠ ${info.length}`, { check: 'length' });
  const want = info.hashes.sha256;
  if (!want) throw invalid(`target ${path}: no sha256 hash listed`);
  if (!digestEquals(`sha256:${sha256Hex(bytes)}`, `sha256:${want}`))
    throw invalid(`target ${path}: sha256 mismatch`, { check: 'hash' });
  return info;
}

/** True when `err` is a TUF verification failure (invalid or expired). */
export function isTufError(err: unknown): boolean {
  return isStellaError(err, 'TUF_INVALID') || isStellaError(err, 'TUF_EXPIRED');
}
