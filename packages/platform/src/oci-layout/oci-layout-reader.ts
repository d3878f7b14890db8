import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
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
}

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
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
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
  const layoutFile = join(dir, 'oci-layout');
  await regularFile(layoutFile, 'oci-layout');
  parseOciLayoutFile(await readFile(layoutFile));
  const indexFile = join(dir, 'index.json');
  if ((await regularFile(indexFile, 'index.json')) > MAX_MANIFEST_BYTES)
    throw invalid('index.json is larger than 4 MiB');
  const index = parseIndex(await readFile(indexFile));

  const entries: OciLayoutEntry[] = [];
  const verified = new Set<string>();
  const visiting = new Set<string>();

  async function checkBlob(d: OciDescriptor, hash: boolean): Promise<void> {
    const file = blobFile(dir, d.digest);
    const size = await regularFile(file, `blob ${d.digest}`);
    if (size !== d.size) throw mismatch(d.digest, d.size, { digest: '(not hashed)', size });
    if (hash && !verified.has(d.digest)) {
      const got = await hashFile(file, d.digest.split(':')[0]!);
      if (got.digest !== d.digest) throw mismatch(d.digest, d.size, got);
      verified.add(d.digest);
    }
  }

  async function visit(d: OciDescriptor, refName: string | undefined, depth: number): Promise<void> {
    if (depth > 8) throw invalid('indexes nested more than 8 levels deep', { digest: d.digest });
    if (visiting.has(d.digest)) throw invalid('index refers to itself', { digest: d.digest });
    if (d.size > MAX_MANIFEST_BYTES) throw invalid(`manifest ${d.digest} is larger than 4 MiB`, { digest: d.digest });
    const file = blobFile(dir, d.digest);
    await regularFile(file, `manifest ${d.digest}`);
    const bytes = await readFile(file);
    const alg = d.digest.split(':')[0]!;
    const got = { digest: `${alg}:${createHash(alg).update(bytes).digest('hex')}`, size: bytes.length };
    if (got.digest !== d.digest || got.size !== d.size) throw mismatch(d.digest, d.size, got);
    verified.add(d.digest);
    const doc = parseManifestOrIndex(bytes, d.mediaType);
    const base = { descriptor: d, bytes: new Uint8Array(bytes), ...(refName !== undefined ? { refName } : {}) };
    if (doc.kind === 'index') {
      entries.push({ ...base, kind: 'index', index: doc.index });
      visiting.add(d.digest);
      for (const child of doc.index.manifests) await visit(child, undefined, depth + 1);
      visiting.delete(d.digest);
    } else {
      entries.push({ ...base, kind: 'manifest', manifest: doc.manifest });
      for (const b of [doc.manifest.config, ...doc.manifest.layers]) await checkBlob(b, verifyBlobs);
    }
  }

  const refs = new Set<string>();
  for (const d of index.manifests) {
    if (d.mediaType !== OCI_MEDIA_TYPES.manifest && d.mediaType !== OCI_MEDIA_TYPES.index) {
      throw invalid(`index.json lists ${d.digest} with unsupported media type ${d.mediaType}`, { digest: d.digest });
    }
    const ref = d.annotations?.[OCI_ANNOTATIONS.refName];
    if (ref !== undefined) {
      if (refs.has(ref)) throw invalid(`ref name ${JSON.stringify(ref)} appears twice in index.json`, { refName: ref });
      refs.add(ref);
    }
    await visit(d, ref, 0);
  }

  if (verifyBlobs) {
    // image-layout.md: blob content MUST hash to its file name — unreferenced blobs included.
    let algs: string[] = [];
    try {
      algs = await readdir(join(dir, 'blobs'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const alg of algs) {
      if (alg !== 'sha256' && alg !== 'sha512') continue; // unknown algorithms cannot be verified; tolerated
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
