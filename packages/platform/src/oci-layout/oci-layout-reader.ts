import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import {
  isOciDigest,
  parseIndex,
  parseManifestOrIndex,
  parseOciLayoutFile,
  MAX_MANIFEST_BYTES,
  OCI_ANNOTATIONS,
  OCI_MEDIA_TYPES,
  type OciDescriptor,
  type OciImageIndex,
  type OciImageManifest,
} from '@stella/core/oci';

/** One manifest or index reachable from index.json. */
export type OciLayoutEntry = {
  descriptor: OciDescriptor;
  /** The exact stored bytes. */
  bytes: Uint8Array;
  /** `org.opencontainers.image.ref.name` of its index.json descriptor, if it is listed there with one. */
  refName?: string;
} & ({ kind: 'manifest'; manifest: OciImageManifest } | { kind: 'index'; index: OciImageIndex });

/** A validated OCI layout. */
export interface OciLayout {
  dir: string;
  /** index.json as parsed. */
  index: OciImageIndex;
  /** Every manifest/index reachable from index.json (nested indexes followed), in discovery order. */
  entries: OciLayoutEntry[];
  /** The entry tagged `refName`, or undefined. */
  find(refName: string): OciLayoutEntry | undefined;
  /** Path of a blob file (the digest is validated first). */
  blobPath(digest: string): string;
  /** A read stream of a blob. */
  openBlob(digest: string): Readable;
}

/** Options of {@link readOciLayout}. */
export interface ReadOciLayoutOptions {
  /**
   * Hash every file under `blobs/` (referenced or not) against its name. Default true. With
   * false, only manifests/indexes are hashed (they are read anyway) and other referenced blobs are
   * checked for presence and size.
   */
  verifyBlobs?: boolean;
  /**
   * Most manifests and indexes (entries) the layout may hold; default
   * {@link DEFAULT_MAX_OCI_LAYOUT_ENTRIES}. Each digest is read once however often it is listed,
   * so this bounds the work a small layout of nested indexes can cause.
   */
  maxEntries?: number;
}

/** Default {@link ReadOciLayoutOptions.maxEntries}. */
export const DEFAULT_MAX_OCI_LAYOUT_ENTRIES = 10_000;
/** Largest `oci-layout` file read (its only content is `{"imageLayoutVersion":"1.0.0"}`). */
const MAX_LAYOUT_FILE_BYTES = 4096;

const invalid = (msg: string, details: Record<string, unknown> = {}) =>
  new StellaError('OCI_INVALID', msg, { details });

function blobFile(dir: string, digest: string): string {
  if (!isOciDigest(digest))
    throw invalid(`not a valid digest: ${JSON.stringify(digest).slice(0, 100)}`, {
      digest: String(digest).slice(0, 100),
    });
  const [alg, hex] = digest.split(':') as [string, string];
  return join(dir, 'blobs', alg, hex);
}

/**
 * Reads a regular file of at most `maxBytes` (or exactly `exactBytes`) bytes. The size is taken
 * from fstat of the opened file before any byte is read, so a huge file is refused at once, and
 * O_NOFOLLOW refuses a symlink in the last component (the descriptor-vs-file race of a separate
 * lstat + readFile cannot swap in another file).
 */
async function readBoundedFile(
  path: string,
  what: string,
  limit: { maxBytes: number } | { exactBytes: number; digest: string },
): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw invalid(`${what} is missing`, { path });
    if (code === 'ELOOP') throw invalid(`${what} is not a regular file`, { path });
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw invalid(`${what} is not a regular file`, { path });
    if ('exactBytes' in limit) {
      if (st.size !== limit.exactBytes)
        throw mismatch(limit.digest, limit.exactBytes, { digest: '(not read)', size: st.size });
    } else if (st.size > limit.maxBytes) throw invalid(`${what} is larger than ${limit.maxBytes} bytes`, { path });
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    if (bytesRead !== st.size) throw invalid(`${what} changed while it was read`, { path });
    return buf;
  } finally {
    await fh.close();
  }
}

/** A real directory (not a symlink to one), or absent. */
async function realDirectory(path: string, what: string): Promise<boolean> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  // A symlinked blobs/ (or blobs/<alg>/) would make every blob path resolve outside the layout.
  if (!st.isDirectory()) throw invalid(`${what} is not a directory (symlinks are refused)`, { path });
  return true;
}

async function regularFile(path: string, what: string): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw invalid(`${what} is missing`, { path });
    throw e;
  }
  // A symlink could point anywhere on the machine; layouts we accept contain plain files only.
  if (!st.isFile()) throw invalid(`${what} is not a regular file`, { path });
  return st.size;
}

async function hashFile(path: string, alg: string): Promise<{ digest: string; size: number }> {
  const h = createHash(alg);
  let size = 0;
  // O_NOFOLLOW: the file was lstat-checked, but must not be swapped for a symlink before it is read.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false })) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } finally {
    await fh.close();
  }
  return { digest: `${alg}:${h.digest('hex')}`, size };
}

function mismatch(digest: string, expectedSize: number, got: { digest: string; size: number }): StellaError {
  return new StellaError(
    'DIGEST_MISMATCH',
    `blob ${digest} does not match its content (got ${got.digest}, ${got.size} bytes; expected ${expectedSize})`,
    {
      details: { digest, expectedSize, actualDigest: got.digest, actualSize: got.size },
    },
  );
}

/**
 * Reads and validates an OCI image layout directory: `oci-layout` must say `1.0.0`; `index.json`
 * must be a valid image index; every manifest/index reachable from it (nested indexes followed)
 * must exist, match its descriptor's digest and size, and parse; every config and layer blob they
 * reference must exist as a regular file of the declared size. By default every file under
 * `blobs/` is also hashed against its name (streamed), referenced or not.
 *
 * Errors: OCI_INVALID (missing/odd files, malformed JSON, symlinked blobs), DIGEST_MISMATCH
 * (content differs from its digest or size). Extra files outside `blobs/` are tolerated (spec).
 */
export async function readOciLayout(dir: string, opts: ReadOciLayoutOptions = {}): Promise<OciLayout> {
  const verifyBlobs = opts.verifyBlobs ?? true;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_OCI_LAYOUT_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
    throw new StellaError('VALIDATION_FAILED', `maxEntries must be an integer ≥ 1, got ${String(maxEntries)}`);
  parseOciLayoutFile(await readBoundedFile(join(dir, 'oci-layout'), 'oci-layout', { maxBytes: MAX_LAYOUT_FILE_BYTES }));
  const index = parseIndex(
    await readBoundedFile(join(dir, 'index.json'), 'index.json', { maxBytes: MAX_MANIFEST_BYTES }),
  );
  const hasBlobs = await realDirectory(join(dir, 'blobs'), 'blobs');
  const algDirs = new Map<string, Promise<boolean>>();
  /** blobs/<alg>/ of a digest must be a real directory too (checked once per algorithm). */
  async function checkAlgDir(digest: string): Promise<void> {
    const alg = digest.split(':')[0]!;
    if (!algDirs.has(alg))
      algDirs.set(alg, hasBlobs ? realDirectory(join(dir, 'blobs', alg), `blobs/${alg}`) : Promise.resolve(false));
    await algDirs.get(alg);
  }

  const entries: OciLayoutEntry[] = [];
  /** Every manifest/index read so far, by digest: each is read, hashed and walked once. */
  const seen = new Map<string, OciLayoutEntry>();
  const verified = new Set<string>();
  const blobSizes = new Map<string, number>();
  const visiting = new Set<string>();

  function addEntry(e: OciLayoutEntry): void {
    if (entries.length >= maxEntries)
      throw invalid(`layout has more than ${maxEntries} manifests and indexes`, { check: 'max-entries', maxEntries });
    entries.push(e);
  }

  async function checkBlob(d: OciDescriptor, hash: boolean): Promise<void> {
    // A blob that is itself a manifest or index belongs in an index, not in config/layers where
    // it would never be parsed or walked.
    if (d.mediaType === OCI_MEDIA_TYPES.manifest || d.mediaType === OCI_MEDIA_TYPES.index)
      throw invalid(`config/layer ${d.digest} has the media type of a manifest or index (${d.mediaType})`, {
        digest: d.digest,
      });
    // Each blob is stat'ed once, however many manifests list it.
    const known = blobSizes.get(d.digest);
    if (known !== undefined) {
      if (known !== d.size) throw mismatch(d.digest, d.size, { digest: '(not hashed)', size: known });
      return;
    }
    const file = blobFile(dir, d.digest);
    await checkAlgDir(d.digest);
    const size = await regularFile(file, `blob ${d.digest}`);
    if (size !== d.size) throw mismatch(d.digest, d.size, { digest: '(not hashed)', size });
    blobSizes.set(d.digest, size);
    if (hash && !verified.has(d.digest)) {
      const got = await hashFile(file, d.digest.split(':')[0]!);
      if (got.digest !== d.digest) throw mismatch(d.digest, d.size, got);
      verified.add(d.digest);
    }
  }

  async function visit(d: OciDescriptor, refName: string | undefined, depth: number): Promise<void> {
    if (depth > 8) throw invalid('indexes nested more than 8 levels deep', { digest: d.digest });
    if (visiting.has(d.digest)) throw invalid('index refers to itself', { digest: d.digest });
    if (d.mediaType !== OCI_MEDIA_TYPES.manifest && d.mediaType !== OCI_MEDIA_TYPES.index)
      throw invalid(`${d.digest} is listed with unsupported media type ${d.mediaType}`, { digest: d.digest });
    const done = seen.get(d.digest);
    if (done) {
      // Already read and walked: only check this descriptor against it (a nested index listing
      // the next level F times must not cost F^depth reads). A top-level listing under another
      // ref name is still its own entry.
      if (done.descriptor.mediaType !== d.mediaType || done.descriptor.size !== d.size)
        throw invalid(`${d.digest} is listed with different media types or sizes`, { digest: d.digest });
      if (refName !== undefined) addEntry({ ...done, descriptor: d, refName });
      return;
    }
    if (d.size > MAX_MANIFEST_BYTES) throw invalid(`manifest ${d.digest} is larger than 4 MiB`, { digest: d.digest });
    const file = blobFile(dir, d.digest);
    await checkAlgDir(d.digest);
    const bytes = await readBoundedFile(file, `manifest ${d.digest}`, { exactBytes: d.size, digest: d.digest });
    const alg = d.digest.split(':')[0]!;
    const got = { digest: `${alg}:${createHash(alg).update(bytes).digest('hex')}`, size: bytes.length };
    if (got.digest !== d.digest || got.size !== d.size) throw mismatch(d.digest, d.size, got);
    verified.add(d.digest);
    const doc = parseManifestOrIndex(bytes, d.mediaType);
    const base = { descriptor: d, bytes: new Uint8Array(bytes), ...(refName !== undefined ? { refName } : {}) };
    // parseManifestOrIndex refuses a document whose mediaType differs from the descriptor's; a
    // document without one must still be of the kind the descriptor names.
    const kind = d.mediaType === OCI_MEDIA_TYPES.index ? 'index' : 'manifest';
    if (doc.kind !== kind)
      throw invalid(`${d.digest} is described as ${d.mediaType} but is an image ${doc.kind}`, { digest: d.digest });
    const entry: OciLayoutEntry =
      doc.kind === 'index'
        ? { ...base, kind: 'index', index: doc.index }
        : { ...base, kind: 'manifest', manifest: doc.manifest };
    addEntry(entry);
    seen.set(d.digest, entry);
    if (doc.kind === 'index') {
      visiting.add(d.digest);
      for (const child of doc.index.manifests) await visit(child, undefined, depth + 1);
      visiting.delete(d.digest);
    } else {
      for (const b of [doc.manifest.config, ...doc.manifest.layers]) await checkBlob(b, verifyBlobs);
    }
  }

  const refs = new Set<string>();
  for (const d of index.manifests) {
    const ref = d.annotations?.[OCI_ANNOTATIONS.refName];
    if (ref !== undefined) {
      if (refs.has(ref)) throw invalid(`ref name ${JSON.stringify(ref)} appears twice in index.json`, { refName: ref });
      refs.add(ref);
    }
    await visit(d, ref, 0);
  }

  if (verifyBlobs) {
    // image-layout.md: blob content MUST hash to its file name — unreferenced blobs included.
    const algs = hasBlobs ? await readdir(join(dir, 'blobs')) : [];
    for (const alg of algs) {
      if (alg !== 'sha256' && alg !== 'sha512') continue; // unknown algorithms cannot be verified; tolerated
      await checkAlgDir(`${alg}:`);
      for (const hex of await readdir(join(dir, 'blobs', alg))) {
        const digest = `${alg}:${hex}`;
        if (verified.has(digest)) continue;
        if (!isOciDigest(digest))
          throw invalid(`blobs/${alg}/${hex} is not named by a digest`, { path: `blobs/${alg}/${hex}` });
        const file = blobFile(dir, digest);
        const size = await regularFile(file, `blob ${digest}`);
        const got = await hashFile(file, alg);
        if (got.digest !== digest) throw mismatch(digest, size, got);
        verified.add(digest);
      }
    }
  }

  return {
    dir,
    index,
    entries,
    find: (refName) => entries.find((e) => e.refName === refName),
    blobPath: (digest) => blobFile(dir, digest),
    openBlob: (digest) => createReadStream(blobFile(dir, digest)),
  };
}
