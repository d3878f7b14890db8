/**
 * Assembles a complete TUF repository (all four roles, signed) as a list of relative file paths and
 * bytes. Core does no I/O: the caller writes the files (or packs them into an export bundle's
 * `tuf/` directory). Layout, as tuf-js and python-tuf clients fetch it:
 *   metadata/<v>.root.json (+ metadata/root.json), metadata/timestamp.json,
 *   metadata/<v>.snapshot.json, metadata/<v>.targets.json       (consistent snapshots)
 *   targets/<dir>/<sha256>.<name>                              (consistent snapshots)
 * or unversioned `snapshot.json`/`targets.json` and `targets/<path>` without consistent snapshots.
 */
import { StellaError } from '../errors/index.js';
import {
  buildRoot,
  buildSnapshot,
  buildTargets,
  buildTimestamp,
  metaFileInfo,
  serializeMetadata,
  signMetadata,
  targetFileInfo,
  assertTargetPath,
} from './tuf-metadata.js';
import type { TufSigner } from './tuf-keys.js';
import type {
  TufMetadata,
  TufRoleName,
  TufRoot,
  TufSnapshot,
  TufTargetFile,
  TufTargets,
  TufTimestamp,
} from './tuf-types.js';

/** One target: its bytes (emitted under `targets/`) or precomputed info (caller writes the file). */
export interface TufTargetInput {
  path: string;
  content?: Uint8Array;
  info?: TufTargetFile;
  custom?: Record<string, unknown>;
}

/** Options of {@link buildTufRepository}. */
export interface BuildTufRepositoryOptions {
  roles: Record<TufRoleName, { signers: TufSigner[]; threshold: number }>;
  targets: TufTargetInput[];
  expires: Record<TufRoleName, Date>;
  versions?: Partial<Record<TufRoleName, number>>;
  /** Default true. */
  consistentSnapshot?: boolean;
}

/** A file of the repository, path relative to the repository root (`/`-separated). */
export interface TufRepositoryFile {
  path: string;
  bytes: Uint8Array;
}

/** The built repository. */
export interface TufRepository {
  files: TufRepositoryFile[];
  root: TufMetadata<TufRoot>;
  targets: TufMetadata<TufTargets>;
  snapshot: TufMetadata<TufSnapshot>;
  timestamp: TufMetadata<TufTimestamp>;
}

/** Where a target's bytes live in the repository (`targets/…`), per the consistent-snapshot rule. */
export function tufTargetFilePath(path: string, info: TufTargetFile, consistentSnapshot: boolean): string {
  assertTargetPath(path);
  if (!consistentSnapshot) return `targets/${path}`;
  const i = path.lastIndexOf('/');
  const hash = info.hashes.sha256;
  if (!hash) throw new StellaError('TUF_INVALID', `target ${path} has no sha256 hash`);
  return `targets/${path.slice(0, i + 1)}${hash}.${path.slice(i + 1)}`;
}

/**
 * Builds and signs root, targets, snapshot and timestamp (in dependency order: snapshot lists the
 * targets bytes, timestamp the snapshot bytes).
 * @throws StellaError TUF_INVALID (bad thresholds, paths, versions), JSON_INVALID (custom data not OLPC-encodable)
 */
export async function buildTufRepository(o: BuildTufRepositoryOptions): Promise<TufRepository> {
  const v = { root: 1, targets: 1, snapshot: 1, timestamp: 1, ...o.versions };
  const consistent = o.consistentSnapshot ?? true;
  const seen = new Set<string>();
  const targetInfo: Record<string, TufTargetFile> = {};
  const files: TufRepositoryFile[] = [];
  for (const t of o.targets) {
    assertTargetPath(t.path);
    if (seen.has(t.path)) throw new StellaError('TUF_INVALID', `target ${t.path} is listed twice`);
    seen.add(t.path);
    if (!t.content && !t.info) throw new StellaError('TUF_INVALID', `target ${t.path} needs content or info`);
    const info = t.content
      ? targetFileInfo(t.content, t.custom)
      : { ...t.info!, ...(t.custom ? { custom: t.custom } : {}) };
    if (t.content && t.info && (t.info.length !== info.length || t.info.hashes.sha256 !== info.hashes.sha256)) {
      throw new StellaError('TUF_INVALID', `target ${t.path}: given info does not match its content`);
    }
    targetInfo[t.path] = info;
    if (t.content) files.push({ path: tufTargetFilePath(t.path, info, consistent), bytes: t.content });
  }
  const keysOf = (r: TufRoleName) => ({ keys: o.roles[r].signers.map((s) => s.key), threshold: o.roles[r].threshold });
  const rootSigned = buildRoot({
    version: v.root,
    expires: o.expires.root,
    consistentSnapshot: consistent,
    roles: {
      root: keysOf('root'),
      targets: keysOf('targets'),
      snapshot: keysOf('snapshot'),
      timestamp: keysOf('timestamp'),
    },
  });
  const root = await signMetadata(rootSigned, o.roles.root.signers);
  const targets = await signMetadata(
    buildTargets({ version: v.targets, expires: o.expires.targets, targets: targetInfo }),
    o.roles.targets.signers,
  );
  const targetsBytes = serializeMetadata(targets);
  const snapshot = await signMetadata(
    buildSnapshot({
      version: v.snapshot,
      expires: o.expires.snapshot,
      meta: { 'targets.json': metaFileInfo(targetsBytes, v.targets) },
    }),
    o.roles.snapshot.signers,
  );
  const snapshotBytes = serializeMetadata(snapshot);
  const timestamp = await signMetadata(
    buildTimestamp({
      version: v.timestamp,
      expires: o.expires.timestamp,
      snapshot: metaFileInfo(snapshotBytes, v.snapshot),
    }),
    o.roles.timestamp.signers,
  );
  const rootBytes = serializeMetadata(root);
  files.push(
    { path: `metadata/${v.root}.root.json`, bytes: rootBytes },
    { path: 'metadata/root.json', bytes: rootBytes },
    { path: 'metadata/timestamp.json', bytes: serializeMetadata(timestamp) },
    { path: consistent ? `metadata/${v.snapshot}.snapshot.json` : 'metadata/snapshot.json', bytes: snapshotBytes },
    { path: consistent ? `metadata/${v.targets}.targets.json` : 'metadata/targets.json', bytes: targetsBytes },
  );
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, root, targets, snapshot, timestamp };
}
