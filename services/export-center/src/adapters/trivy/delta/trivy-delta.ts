/**
 * Trivy DB deltas (issue #14 item 4; docs/formats/trivy-db.md "Delta"; ADR 0018): a small bundle
 * that names the `db.tar.gz` it was made from and carries only the records that changed, from
 * which `stella export apply-delta --base <db.tar.gz> <delta>` rebuilds the full, byte-identical
 * `trivy.db`, `metadata.json` and `db.tar.gz` offline.
 *
 * Files (under one directory of the bundle, `trivy-delta/` by default):
 * - `delta.json` — canonical JSON: `kind` `trivy:db-delta`, `formatVersion` 1, the base and target
 *   digests and sizes (archive, trivy.db; target metadata.json), the target's gzip level, the
 *   changes file's digest, and per-bucket counts;
 * - `changes.bin.gz` — the operations (delta-ops.ts), gzip;
 * - `metadata.json` — the target's, whole (it is 120 bytes).
 *
 * Making a delta proves it will rebuild: the target's nodes are written again with our bbolt
 * writer and re-packed, and both must equal the target files — so a delta is only made for a
 * target written by `trivy:db` (or anything that packs exactly like it) at the stated gzip level.
 * Applying checks the base archive digest first (EXPORT_DELTA_BASE_MISMATCH naming both digests),
 * the changes file's digest, then every rebuilt file against its stated digest; everything is
 * written into a temp directory that is renamed into place only when all of them match.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { canonicalJcsBytes, parseJson } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { gzipDeterministic, readTarGz } from '@stella/core/tar';
import type { ExportFileSink } from '../../adapter.js';
import { readBbolt, type BboltNode } from '../bbolt/reader.js';
import { BboltWriter } from '../bbolt/writer.js';
import { trivyDbArchive } from '../trivy-db.js';
import { applyOps, decodeOps, diffTrees, encodeOps, type DeltaCounts, type DeltaOp } from './delta-ops.js';

export const TRIVY_DELTA_KIND = 'trivy:db-delta';
export const TRIVY_DELTA_FORMAT_VERSION = 1;
export const DELTA_MANIFEST_FILE = 'delta.json';
export const TRIVY_DELTA_DIR = 'trivy-delta';
const CHANGES_FILE = 'changes.bin.gz';
const METADATA_FILE = 'metadata.json';
const DELTA_MEDIA_TYPE = 'application/vnd.stella.delta.v1+json';
const CHANGES_MEDIA_TYPE = 'application/vnd.stella.trivy-db.changes.v1+gzip';

interface FileRef {
  digest: string;
  size: number;
}

/** delta.json of a Trivy DB delta. */
export interface TrivyDeltaManifest {
  kind: typeof TRIVY_DELTA_KIND;
  formatVersion: 1;
  base: { archive: FileRef; db: FileRef };
  target: { archive: FileRef; db: FileRef; metadata: FileRef; gzipLevel: number };
  changes: FileRef & { path: string; operations: number; buckets: DeltaCounts };
  metadata: { path: string };
}

function deltaInvalid(why: string, details: Record<string, unknown> = {}): StellaError {
  return new StellaError('EXPORT_DELTA_INVALID', why, { details: { reason: why, ...details } });
}

async function fileRef(path: string): Promise<FileRef> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/**
 * Unpacks a db.tar.gz into `dir` (`trivy.db`, `metadata.json`; nothing else is allowed). A
 * truncated or corrupt archive fails with ARCHIVE_MALFORMED (core tar reader), a wrong set of
 * entries with EXPORT_DELTA_INVALID.
 */
export async function unpackDbArchive(archive: string, dir: string): Promise<{ db: string; metadata: Buffer }> {
  const seen = new Set<string>();
  let metadata: Buffer | undefined;
  const db = join(dir, 'trivy.db');
  for await (const e of readTarGz(createReadStream(archive, { highWaterMark: 1 << 20 }), { maxEntries: 4 })) {
    if (e.type !== 'file' || (e.path !== 'trivy.db' && e.path !== 'metadata.json'))
      throw deltaInvalid(
        `${archive}: unexpected entry ${JSON.stringify(e.path)} (a db.tar.gz holds trivy.db and metadata.json)`,
        {
          entry: e.path,
        },
      );
    seen.add(e.path);
    if (e.path === 'trivy.db') await pipeline(e.body, createWriteStream(db));
    else {
      if (e.size > 1 << 20) throw deltaInvalid(`${archive}: metadata.json is ${e.size} bytes`);
      const parts: Buffer[] = [];
      for await (const c of e.body) parts.push(c);
      metadata = Buffer.concat(parts);
    }
  }
  if (!seen.has('trivy.db') || !metadata)
    throw deltaInvalid(`${archive}: a db.tar.gz must hold trivy.db and metadata.json`, { entries: [...seen] });
  return { db, metadata };
}

/** Writes `nodes` (tree order) with our bbolt writer — the exact call sequence of the export. */
export async function writeTree(path: string, nodes: AsyncIterable<BboltNode>): Promise<void> {
  const w = await BboltWriter.create(path);
  try {
    const open: Buffer[] = [];
    for await (const n of nodes) {
      const parents = n.path.slice(0, -1);
      while (open.length > parents.length || open.some((b, i) => !b.equals(parents[i]!))) {
        await w.closeBucket();
        open.pop();
      }
      if (open.length !== parents.length)
        throw deltaInvalid(`node ${n.path.map((p) => p.toString('utf8')).join(' / ')} has no parent bucket`);
      const key = n.path[n.path.length - 1]!;
      if (n.value === null) {
        await w.openBucket(key);
        open.push(key);
      } else await w.put(key, n.value);
    }
    await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** Options of {@link createTrivyDbDelta}. */
export interface CreateTrivyDeltaInput {
  /** The db.tar.gz the receiver has. */
  readonly base: string;
  /** The db.tar.gz to rebuild (written by `trivy:db`). */
  readonly target: string;
  /** The gzip level the target was packed with (the adapter's `gzipLevel`, default 6). */
  readonly gzipLevel?: number;
  readonly out: ExportFileSink;
  /** Bundle directory of the delta files; default `trivy-delta`. */
  readonly dir?: string;
}

/** Makes a delta from `base` to `target` into `out`; returns its manifest. */
export async function createTrivyDbDelta(input: CreateTrivyDeltaInput): Promise<TrivyDeltaManifest> {
  const gzipLevel = input.gzipLevel ?? 6;
  const dir = input.dir ?? TRIVY_DELTA_DIR;
  const work = await mkdtemp(join(tmpdir(), 'stella-trivy-delta-'));
  try {
    await mkdir(join(work, 'base'));
    await mkdir(join(work, 'target'));
    const base = await unpackDbArchive(input.base, join(work, 'base'));
    const target = await unpackDbArchive(input.target, join(work, 'target'));
    const baseRef = { archive: await fileRef(input.base), db: await fileRef(base.db) };
    const targetRef = { archive: await fileRef(input.target), db: await fileRef(target.db) };
    // The receiver will write the target's nodes with our writer and pack them: check now that this
    // reproduces the target exactly, or the delta would promise what it cannot rebuild.
    const again = join(work, 'again.db');
    await writeTree(again, readBbolt(target.db));
    const againRef = await fileRef(again);
    if (againRef.digest !== targetRef.db.digest)
      throw deltaInvalid(
        `${input.target}: its trivy.db is not laid out as trivy:db writes it (rewritten ${againRef.digest}, stored ${targetRef.db.digest}); a delta could not rebuild it byte for byte`,
      );
    const repacked = join(work, 'again.tar.gz');
    await pipeline(trivyDbArchive(again, againRef.size, target.metadata, gzipLevel), createWriteStream(repacked));
    const repackedRef = await fileRef(repacked);
    if (repackedRef.digest !== targetRef.archive.digest)
      throw deltaInvalid(
        `${input.target}: re-packing trivy.db + metadata.json at gzip level ${gzipLevel} gives ${repackedRef.digest}, not ${targetRef.archive.digest} (another gzip level, or not packed by trivy:db)`,
        { gzipLevel },
      );

    const buckets: DeltaCounts = {};
    let operations = 0;
    const counted = async function* (ops: AsyncIterable<DeltaOp>) {
      for await (const o of ops) {
        operations++;
        yield o;
      }
    };
    const changes = await input.out.writeFile(
      `${dir}/${CHANGES_FILE}`,
      gzipDeterministic(encodeOps(counted(diffTrees(readBbolt(base.db), readBbolt(target.db), buckets))), 9),
      CHANGES_MEDIA_TYPE,
    );
    const meta = await input.out.writeFile(`${dir}/${METADATA_FILE}`, target.metadata, 'application/json');
    const sortedBuckets: DeltaCounts = {};
    for (const k of Object.keys(buckets).sort()) sortedBuckets[k] = buckets[k]!;
    const manifest: TrivyDeltaManifest = {
      kind: TRIVY_DELTA_KIND,
      formatVersion: TRIVY_DELTA_FORMAT_VERSION,
      base: baseRef,
      target: { ...targetRef, metadata: { digest: meta.digest, size: meta.size }, gzipLevel },
      changes: { path: CHANGES_FILE, digest: changes.digest, size: changes.size, operations, buckets: sortedBuckets },
      metadata: { path: METADATA_FILE },
    };
    await input.out.writeFile(`${dir}/${DELTA_MANIFEST_FILE}`, canonicalJcsBytes(manifest), DELTA_MEDIA_TYPE);
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function isRef(v: unknown): v is FileRef {
  const r = v as FileRef;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.digest === 'string' &&
    DIGEST_RE.test(r.digest) &&
    Number.isSafeInteger(r.size) &&
    r.size >= 0
  );
}

/** Validates a parsed delta.json of kind `trivy:db-delta`. */
export function parseTrivyDeltaManifest(v: unknown): TrivyDeltaManifest {
  const m = v as TrivyDeltaManifest;
  if (typeof m !== 'object' || m === null || m.kind !== TRIVY_DELTA_KIND)
    throw deltaInvalid(`not a ${TRIVY_DELTA_KIND} manifest`);
  if (m.formatVersion !== TRIVY_DELTA_FORMAT_VERSION)
    throw deltaInvalid(
      `${TRIVY_DELTA_KIND} formatVersion ${JSON.stringify(m.formatVersion)} is not supported (this build reads 1)`,
    );
  const ok =
    isRef(m.base?.archive) &&
    isRef(m.base?.db) &&
    isRef(m.target?.archive) &&
    isRef(m.target?.db) &&
    isRef(m.target?.metadata) &&
    Number.isInteger(m.target?.gzipLevel) &&
    m.target.gzipLevel >= 1 &&
    m.target.gzipLevel <= 9 &&
    isRef(m.changes) &&
    m.changes.path === CHANGES_FILE &&
    m.metadata?.path === METADATA_FILE;
  if (!ok) throw deltaInvalid(`${DELTA_MANIFEST_FILE} lacks or mistypes a field (base, target, changes, metadata)`);
  return m;
}

/** Options of {@link applyTrivyDbDelta}. */
export interface ApplyTrivyDeltaInput {
  /** The directory holding delta.json, changes.bin.gz and metadata.json. */
  readonly deltaDir: string;
  /** The base db.tar.gz. */
  readonly base: string;
  /** Where trivy.db, metadata.json and db.tar.gz go (created; must not hold them yet). */
  readonly outDir: string;
}

export interface ApplyDeltaResult {
  readonly kind: string;
  /** Files written, by name, with their digests. */
  readonly files: Record<string, FileRef>;
}

async function checkFile(path: string, want: FileRef, what: string): Promise<void> {
  const got = await fileRef(path);
  if (got.digest !== want.digest || got.size !== want.size)
    throw deltaInvalid(`${what}: expected ${want.digest} (${want.size} bytes), got ${got.digest} (${got.size} bytes)`, {
      expected: want.digest,
      actual: got.digest,
    });
}

/** Rebuilds the target of a `trivy:db-delta` from its base (see the module comment for the checks). */
export async function applyTrivyDbDelta(
  input: ApplyTrivyDeltaInput,
  manifest?: TrivyDeltaManifest,
): Promise<ApplyDeltaResult> {
  const m = manifest ?? parseTrivyDeltaManifest(parseJson(await readFile(join(input.deltaDir, DELTA_MANIFEST_FILE))));
  await mkdir(dirname(input.outDir), { recursive: true });
  const work = await mkdtemp(join(dirname(input.outDir), '.apply-delta-'));
  try {
    await mkdir(join(work, 'base'));
    // Unpack first: a truncated archive is ARCHIVE_MALFORMED, not just "another digest".
    const base = await unpackDbArchive(input.base, join(work, 'base'));
    const baseArchive = await fileRef(input.base);
    if (baseArchive.digest !== m.base.archive.digest)
      throw new StellaError(
        'EXPORT_DELTA_BASE_MISMATCH',
        `this delta was made for base db.tar.gz ${m.base.archive.digest}, but ${input.base} is ${baseArchive.digest}`,
        { details: { expected: m.base.archive.digest, actual: baseArchive.digest, base: input.base } },
      );
    await checkFile(base.db, m.base.db, 'base trivy.db');
    const changesPath = join(input.deltaDir, m.changes.path);
    await checkFile(changesPath, m.changes, `delta ${m.changes.path}`);
    const metaPath = join(input.deltaDir, m.metadata.path);
    await checkFile(metaPath, m.target.metadata, `delta ${m.metadata.path}`);
    const metadata = await readFile(metaPath);

    const out = join(work, 'out');
    await mkdir(out);
    const db = join(out, 'trivy.db');
    const gunzip = createReadStream(changesPath).pipe(createGunzip());
    await writeTree(db, applyOps(readBbolt(base.db), decodeOps(gunzip)));
    await checkFile(db, m.target.db, 'rebuilt trivy.db');
    await pipeline(
      trivyDbArchive(db, m.target.db.size, metadata, m.target.gzipLevel),
      createWriteStream(join(out, 'db.tar.gz')),
    );
    await checkFile(join(out, 'db.tar.gz'), m.target.archive, 'rebuilt db.tar.gz');
    await pipeline(createReadStream(metaPath), createWriteStream(join(out, 'metadata.json')));

    // Commit: the finished directory takes the place of outDir (which must be absent or empty).
    await rmdir(input.outDir).catch(() => undefined); // an empty directory may be replaced
    await rename(out, input.outDir).catch((e: NodeJS.ErrnoException) => {
      throw new StellaError(
        'CONFLICT',
        `${input.outDir} exists and is not empty; apply-delta writes into a new directory`,
        {
          cause: e,
          details: { outDir: input.outDir },
        },
      );
    });
    return {
      kind: TRIVY_DELTA_KIND,
      files: { 'trivy.db': m.target.db, 'metadata.json': m.target.metadata, 'db.tar.gz': m.target.archive },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
