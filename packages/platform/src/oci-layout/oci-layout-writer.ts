import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StellaError } from '@stella/core/errors';
import {
  buildIndex,
  isOciDigest,
  ociLayoutFileBytes,
  parseDescriptor,
  parseManifestOrIndex,
  sha256Digest,
  withRefName,
  OCI_MEDIA_TYPES,
  type OciDescriptor,
} from '@stella/core/oci';

/** A blob to store: either its bytes, or a declared descriptor plus a body pulled when written. */
export type OciBlobInput =
  | { bytes: Uint8Array }
  | {
      /** Digest and size the body must match (mediaType is not stored in the layout). */
      digest: string;
      size: number;
      body: () => Readable | AsyncIterable<Uint8Array> | Promise<Readable | AsyncIterable<Uint8Array>>;
    };

/** A manifest or index to store and list in `index.json`. */
export interface OciLayoutManifestInput {
  /** The exact manifest/index bytes (e.g. `buildManifest(...).bytes`). */
  bytes: Uint8Array;
  /** Tag, stored as `org.opencontainers.image.ref.name` on its index.json descriptor. */
  refName?: string;
  /** Extra annotations for the index.json descriptor. */
  annotations?: Record<string, string>;
  /** Platform for the index.json descriptor (image manifests). */
  platform?: OciDescriptor['platform'];
}

/** What {@link writeOciLayout} writes. */
export interface WriteOciLayoutInput {
  blobs: OciBlobInput[];
  manifests: OciLayoutManifestInput[];
  /** Annotations on the top-level index.json. */
  annotations?: Record<string, string>;
}

/** Result of {@link writeOciLayout}. */
export interface WriteOciLayoutResult {
  /** index.json descriptors, in the order written. */
  manifests: OciDescriptor[];
  /** Digests of every blob written (manifests included), sorted. */
  blobs: string[];
}

function conflict(msg: string, details: Record<string, unknown>): StellaError {
  return new StellaError('CONFLICT', msg, { details });
}

async function ensureAbsentOrEmpty(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw conflict(`${dir} exists and is not a directory`, { dir });
    throw e;
  }
  if (entries.length > 0)
    throw conflict(`${dir} exists and is not empty; an OCI layout is written into a new directory`, { dir });
}

/** Streams `src` into `file`, hashing it; refuses (and deletes) content that differs from digest/size. */
async function writeVerified(
  file: string,
  src: Readable | AsyncIterable<Uint8Array>,
  digest: string,
  size: number,
): Promise<void> {
  const alg = digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  const hash = createHash(alg);
  let n = 0;
  async function* tap(source: AsyncIterable<Uint8Array>) {
    for await (const chunk of source) {
      n += chunk.byteLength;
      if (n > size)
        throw new StellaError('DIGEST_MISMATCH', `blob ${digest}: more than the declared ${size} bytes`, {
          details: { digest, size },
        });
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(src, tap, createWriteStream(file, { mode: 0o644 }));
  const got = `${alg}:${hash.digest('hex')}`;
  if (n !== size || got !== digest) {
    throw new StellaError(
      'DIGEST_MISMATCH',
      `blob content does not match ${digest} (${size} bytes): got ${got} (${n} bytes)`,
      {
        details: { digest, size, actualDigest: got, actualSize: n },
      },
    );
  }
}

/**
 * Writes an OCI image layout (image-spec `image-layout.md`) to `dir`: `oci-layout`
 * (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (canonical JSON image index listing the given
 * manifests in order, each tagged by `refName`) and `blobs/<alg>/<hex>` for every blob and
 * manifest. Bodies are streamed one at a time and verified against their digest and size.
 *
 * Checks before writing: every manifest parses (OCI_INVALID), every blob it references — config,
 * layers, or the manifests of an index — is among the inputs (OCI_INVALID; `subject` is a weak
 * reference and need not be present), ref names are unique and well-formed (OCI_INVALID).
 * `dir` must not exist or be empty (CONFLICT). Everything is written into a sibling temp directory
 * that is renamed into place at the end, so on any error nothing is left at `dir`.
 * Same inputs → byte-identical files.
 */
export async function writeOciLayout(dir: string, input: WriteOciLayoutInput): Promise<WriteOciLayoutResult> {
  // Validate everything first (cheap, in memory), so bad input writes nothing.
  if (!input || !Array.isArray(input.blobs) || !Array.isArray(input.manifests)) {
    throw new StellaError('OCI_INVALID', 'writeOciLayout needs { blobs: [...], manifests: [...] }', {
      details: { where: 'input' },
    });
  }
  const available = new Set<string>();
  const declared: Array<{ digest: string; size: number; input: OciBlobInput }> = [];
  for (const [i, b] of input.blobs.entries()) {
    if ('bytes' in b) {
      if (!(b.bytes instanceof Uint8Array))
        throw new StellaError('OCI_INVALID', `blobs[${i}].bytes must be bytes`, { details: { where: `blobs[${i}]` } });
      const digest = sha256Digest(b.bytes);
      declared.push({ digest, size: b.bytes.byteLength, input: b });
    } else {
      if (!isOciDigest(b.digest))
        throw new StellaError('OCI_INVALID', `blobs[${i}].digest is not a valid digest`, {
          details: { where: `blobs[${i}].digest` },
        });
      if (!Number.isSafeInteger(b.size) || b.size < 0)
        throw new StellaError('OCI_INVALID', `blobs[${i}].size must be a non-negative integer`, {
          details: { where: `blobs[${i}].size` },
        });
      if (typeof b.body !== 'function')
        throw new StellaError('OCI_INVALID', `blobs[${i}].body must be a function`, {
          details: { where: `blobs[${i}].body` },
        });
      declared.push({ digest: b.digest, size: b.size, input: b });
    }
  }
  for (const d of declared) available.add(d.digest);
  const sizes = new Map<string, number>();
  for (const d of declared) {
    const prev = sizes.get(d.digest);
    if (prev !== undefined && prev !== d.size)
      throw new StellaError('OCI_INVALID', `blob ${d.digest} declared with two sizes`, {
        details: { digest: d.digest },
      });
    sizes.set(d.digest, d.size);
  }

  const refs = new Set<string>();
  const manifestDescriptors: OciDescriptor[] = [];
  const parsed = input.manifests.map((m, i) => {
    if (!(m.bytes instanceof Uint8Array))
      throw new StellaError('OCI_INVALID', `manifests[${i}].bytes must be bytes`, {
        details: { where: `manifests[${i}]` },
      });
    const doc = parseManifestOrIndex(m.bytes);
    const digest = sha256Digest(m.bytes);
    available.add(digest);
    sizes.set(digest, m.bytes.byteLength);
    let d: OciDescriptor = {
      mediaType: doc.kind === 'index' ? OCI_MEDIA_TYPES.index : OCI_MEDIA_TYPES.manifest,
      digest,
      size: m.bytes.byteLength,
    };
    const artifactType = doc.kind === 'index' ? doc.index.artifactType : doc.manifest.artifactType;
    if (artifactType !== undefined) d.artifactType = artifactType;
    if (m.platform !== undefined) d.platform = m.platform;
    if (m.annotations !== undefined && Object.keys(m.annotations).length > 0) d.annotations = { ...m.annotations };
    if (m.refName !== undefined) {
      if (refs.has(m.refName))
        throw new StellaError('OCI_INVALID', `ref name ${JSON.stringify(m.refName)} used twice`, {
          details: { where: `manifests[${i}].refName` },
        });
      refs.add(m.refName);
      d = withRefName(d, m.refName);
    }
    manifestDescriptors.push(parseDescriptor(d, `manifests[${i}]`));
    return doc;
  });
  for (const [i, doc] of parsed.entries()) {
    const needed = doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
    for (const n of needed) {
      if (!available.has(n.digest)) {
        throw new StellaError('OCI_INVALID', `manifests[${i}] references ${n.digest}, which is not among the blobs`, {
          details: { where: `manifests[${i}]`, digest: n.digest },
        });
      }
      if (sizes.get(n.digest) !== n.size) {
        throw new StellaError(
          'OCI_INVALID',
          `manifests[${i}] says ${n.digest} has ${n.size} bytes, the blob has ${sizes.get(n.digest)}`,
          {
            details: { where: `manifests[${i}]`, digest: n.digest },
          },
        );
      }
    }
  }
  const index = buildIndex({
    manifests: manifestDescriptors,
    ...(input.annotations ? { annotations: input.annotations } : {}),
  });

  await ensureAbsentOrEmpty(dir);
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(join(tmp, 'blobs'), { recursive: true });
    const written = new Set<string>();
    const ensureAlgDir = async (digest: string) =>
      mkdir(join(tmp, 'blobs', digest.split(':')[0]!), { recursive: true });
    const pathOf = (digest: string) => join(tmp, 'blobs', ...digest.split(':'));
    // Blobs in digest order: the order of work does not affect the result, but a fixed order makes
    // failures reproducible.
    const ordered = [...declared].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    for (const d of ordered) {
      if (written.has(d.digest)) continue;
      await ensureAlgDir(d.digest);
      const partial = `${pathOf(d.digest)}.partial`;
      const src = 'bytes' in d.input ? Readable.from([Buffer.from(d.input.bytes)]) : await d.input.body();
      await writeVerified(partial, src, d.digest, d.size);
      await rename(partial, pathOf(d.digest));
      written.add(d.digest);
    }
    for (const m of input.manifests) {
      const digest = sha256Digest(m.bytes);
      if (written.has(digest)) continue;
      await ensureAlgDir(digest);
      await writeFile(pathOf(digest), m.bytes, { mode: 0o644 });
      written.add(digest);
    }
    await writeFile(join(tmp, 'oci-layout'), ociLayoutFileBytes(), { mode: 0o644 });
    await writeFile(join(tmp, 'index.json'), index.bytes, { mode: 0o644 });
    // An empty target directory (allowed above) is replaced atomically by the finished layout.
    try {
      if ((await stat(dir)).isDirectory()) await rmdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await rename(tmp, dir);
    return { manifests: manifestDescriptors, blobs: [...written].sort() };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
