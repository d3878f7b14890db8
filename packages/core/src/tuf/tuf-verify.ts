/**
 * Parsing and verifying TUF 1.0 metadata the way the client workflow of the TUF spec does
 * (§5 "Detailed client workflow"): root chain (each new root signed by a threshold of the old and
 * of its own root keys, versions +1), then timestamp → snapshot → targets, each signed by a
 * threshold of its role's keys from the trusted root, not expired (injectable clock), and matching
 * the version/length/hashes its parent lists; finally a target file's length and hashes.
 */
import { canonicalOlpcBytes, parseJson } from '../canonical-json/index.js';
import { createHash } from 'node:crypto';
import { sha256Hex } from '../digest/index.js';
import { StellaError, isStellaError } from '../errors/index.js';
import { tufPublicKeyIdentity, verifyTufSignature } from './tuf-keys.js';
import type {
  TufHashes,
  TufKey,
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
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Hash algorithms we check, with their hex length. Every listed hash must be one of these and
 * must match: an unsupported algorithm is refused rather than skipped (python-tuf and tuf-js
 * refuse too), so a wrong hash can never hide beside a right one.
 */
const HASH_HEX_LENGTH = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

function checkHashes(v: unknown, where: string): void {
  if (!isRec(v) || Object.keys(v).length === 0) throw invalid(`${where}: hashes must be a non-empty object`);
  for (const [alg, h] of Object.entries(v)) {
    const len = HASH_HEX_LENGTH.get(alg);
    if (len === undefined)
      throw invalid(`${where}: hash algorithm ${JSON.stringify(alg)} is not supported (sha256, sha384, sha512)`);
    if (typeof h !== 'string' || h.length !== len || !/^[0-9a-f]+$/.test(h))
      throw invalid(`${where}: hashes.${alg} is not ${len} lowercase hex characters`);
  }
}

/** Checks `bytes` against every listed hash; none may be of an unsupported algorithm. */
function checkAllHashes(bytes: Uint8Array, hashes: TufHashes, what: string): void {
  // Hand-built metadata given to verifyTufTarget has not been through checkHashes.
  checkHashes(hashes, what);
  for (const [alg, hex] of Object.entries(hashes)) {
    if (createHash(alg).update(bytes).digest('hex') !== hex)
      throw invalid(`${what}: ${alg} does not match the listed hash`, { check: 'hash', algorithm: alg });
  }
}

/**
 * A real calendar instant in TUF's `YYYY-MM-DDTHH:MM:SSZ` form. `Date.parse` rolls
 * `2099-02-31` over to March 3rd, so the parsed instant must print back as the same string.
 */
function isTufDate(v: unknown): v is string {
  if (typeof v !== 'string' || !EXPIRES_RE.test(v)) return false;
  const ms = Date.parse(v);
  return !Number.isNaN(ms) && new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') === v;
}

/** How `keys` keyids are checked; see {@link TufVerifyOptions.keyIdPolicy}. */
export type TufKeyIdPolicy = 'sha256-of-canonical-key' | 'any';

/**
 * Checks a `keys` map (root or delegations): well-formed key objects, keyids that are the TUF
 * KEYID of their key when the policy says so (spec "KEYID is the hexdigest of the SHA-256 hash of
 * the canonical form of the key" — the key object exactly as listed, OLPC canonical JSON), and no
 * public key listed under two keyids (spec: clients MUST ensure one key has one KEYID; otherwise
 * one signature would count twice toward a threshold).
 */
function checkKeys(keys: unknown, where: string, policy: TufKeyIdPolicy): asserts keys is Record<string, TufKey> {
  if (!isRec(keys)) throw invalid(`${where}: keys must be an object`);
  const byIdentity = new Map<string, string>();
  for (const [id, k] of Object.entries(keys)) {
    if (
      !isRec(k) ||
      typeof k.keytype !== 'string' ||
      typeof k.scheme !== 'string' ||
      !isRec(k.keyval) ||
      typeof k.keyval.public !== 'string'
    )
      throw invalid(`${where}: key ${id} is malformed`);
    if (policy === 'sha256-of-canonical-key') {
      let want: string | undefined;
      try {
        want = sha256Hex(canonicalOlpcBytes(k));
      } catch {
        want = undefined;
      }
      if (id !== want)
        throw invalid(`${where}: keyid ${id} is not the SHA-256 of its canonical key (${String(want)})`, {
          check: 'keyid',
          keyid: id,
          expected: want,
        });
    }
    const identity = tufPublicKeyIdentity(k as unknown as TufKey);
    if (identity === undefined) continue;
    const other = byIdentity.get(identity);
    if (other !== undefined)
      throw invalid(`${where}: keyids ${other} and ${id} are the same public key`, {
        check: 'duplicate-key',
        keyids: [other, id],
      });
    byIdentity.set(identity, id);
  }
}

/** `delegations` of targets metadata (spec §4.5): shape only, delegated roles are not followed. */
function checkDelegations(d: unknown, policy: TufKeyIdPolicy): void {
  if (!isRec(d)) throw invalid('targets: delegations must be an object');
  checkKeys(d.keys, 'targets: delegations', policy);
  if (!Array.isArray(d.roles)) throw invalid('targets: delegations.roles must be an array');
  const names = new Set<string>();
  for (const [i, r] of d.roles.entries()) {
    const where = `targets: delegations.roles[${i}]`;
    if (!isRec(r) || typeof r.name !== 'string' || r.name === '') throw invalid(`${where}: name must be a string`);
    if (names.has(r.name)) throw invalid(`${where}: role ${r.name} is delegated twice`);
    names.add(r.name);
    if (!isStrings(r.keyids) || new Set(r.keyids).size !== r.keyids.length)
      throw invalid(`${where}: keyids must be distinct strings`);
    if (!isCount(r.threshold, 1)) throw invalid(`${where}: threshold must be an integer ≥ 1`);
    if (typeof r.terminating !== 'boolean') throw invalid(`${where}: terminating must be a boolean`);
    // Exactly one of paths / path_hash_prefixes (spec §4.5).
    if ((r.paths === undefined) === (r.path_hash_prefixes === undefined))
      throw invalid(`${where}: needs exactly one of paths and path_hash_prefixes`);
    if (r.paths !== undefined && !isStrings(r.paths)) throw invalid(`${where}: paths must be strings`);
    if (r.path_hash_prefixes !== undefined && !isStrings(r.path_hash_prefixes))
      throw invalid(`${where}: path_hash_prefixes must be strings`);
  }
}

function checkMetaFile(v: unknown, where: string): void {
  if (!isRec(v) || !isCount(v.version, 1)) throw invalid(`${where}: version must be an integer ≥ 1`);
  if (v.length !== undefined && !isCount(v.length)) throw invalid(`${where}: length must be a non-negative integer`);
  if (v.hashes !== undefined) checkHashes(v.hashes, where);
}

function checkSigned(s: unknown, type: TufRoleName, policy: TufKeyIdPolicy): void {
  if (!isRec(s)) throw invalid('signed must be an object');
  if (s._type !== type)
    throw invalid(`expected _type ${type}, got ${JSON.stringify(s._type)}`, { expected: type, got: s._type });
  if (typeof s.spec_version !== 'string' || !/^1\.\d+(\.\d+)?$/.test(s.spec_version))
    throw invalid(`${type}: unsupported spec_version ${JSON.stringify(s.spec_version)}`);
  if (!isCount(s.version, 1)) throw invalid(`${type}: version must be an integer ≥ 1`);
  if (!isTufDate(s.expires)) throw invalid(`${type}: expires must be a real date as YYYY-MM-DDTHH:MM:SSZ`);
  switch (type) {
    case 'root': {
      if (typeof s.consistent_snapshot !== 'boolean') throw invalid('root: consistent_snapshot must be a boolean');
      checkKeys(s.keys, 'root', policy);
      if (!isRec(s.roles)) throw invalid('root: roles must be an object');
      for (const r of ['root', 'targets', 'snapshot', 'timestamp']) {
        const role = s.roles[r];
        if (!isRec(role) || !isStrings(role.keyids) || !isCount(role.threshold, 1))
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
      if (s.delegations !== undefined) checkDelegations(s.delegations, policy);
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
  options: { keyIdPolicy?: TufKeyIdPolicy } = {},
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
  checkSigned(v.signed, type, options.keyIdPolicy ?? 'sha256-of-canonical-key');
  return v as unknown as TufMetadata<Extract<TufSigned, { _type: T }>>;
}

/**
 * Counts distinct role keys with a valid signature over the OLPC canonical `signed` and requires
 * at least `role.threshold`. Signatures by keys outside the role, duplicates and bad signatures do
 * not count. Keys are told apart by their public key ({@link tufPublicKeyIdentity}), not their
 * keyid, so one key listed under two keyids counts once.
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
    if (!role.keyids.includes(s.keyid)) continue;
    const key = Object.hasOwn(keys, s.keyid) ? keys[s.keyid] : undefined;
    const identity = key && tufPublicKeyIdentity(key);
    if (identity === undefined || valid.has(identity)) continue;
    if (verifyTufSignature(key!, data, s.sig)) valid.add(identity);
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
  if (meta.hashes) checkAllHashes(bytes, meta.hashes, what);
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
  /**
   * `sha256-of-canonical-key` (default): every keyid in root and delegation `keys` must be the
   * hex SHA-256 of the OLPC canonical JSON of its key object (TUF spec, KEYID). `any`: accept
   * other keyid schemes (some repositories hash other key forms); a public key listed under two
   * keyids is refused either way.
   */
  keyIdPolicy?: TufKeyIdPolicy;
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
  const parseOpts = { keyIdPolicy: options.keyIdPolicy ?? 'sha256-of-canonical-key' };
  let rootMd = parseTufMetadata(files.trustedRoot, 'root', parseOpts);
  // The trusted root is self-signed by its own threshold (it was obtained out of band, but a
  // corrupted copy must still be caught).
  verifyTufThreshold(rootMd, rootMd.signed.keys, rootMd.signed.roles.root, 'root');
  for (const next of files.rootUpdates ?? []) {
    const md = parseTufMetadata(next, 'root', parseOpts);
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

  const ts = parseTufMetadata(files.timestamp, 'timestamp', parseOpts);
  verifyTufThreshold(ts, root.keys, root.roles.timestamp, 'timestamp');
  checkTufExpiry(ts.signed, now);

  const snap = parseTufMetadata(files.snapshot, 'snapshot', parseOpts);
  checkAgainstMeta(files.snapshot, snap.signed.version, ts.signed.meta['snapshot.json'], 'snapshot');
  verifyTufThreshold(snap, root.keys, root.roles.snapshot, 'snapshot');
  checkTufExpiry(snap.signed, now);

  const targets = parseTufMetadata(files.targets, 'targets', parseOpts);
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
  checkAllHashes(bytes, info.hashes, `target ${path}`);
  return info;
}

/** True when `err` is a TUF verification failure (invalid or expired). */
export function isTufError(err: unknown): boolean {
  return isStellaError(err, 'TUF_INVALID') || isStellaError(err, 'TUF_EXPIRED');
}
