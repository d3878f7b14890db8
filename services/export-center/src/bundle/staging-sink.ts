/**
 * The staging area of one export (bundle/export-bundle.ts `CreateStagingSink`): adapters stream
 * their files into a fresh temporary directory under the caller's parent directory, each hashed on
 * the way, so sealing never reads a file twice to learn its digest. Paths follow the archive rules
 * of @stella/core/tar (`normalizeArchivePath`, strict: one spelling per file), so whatever an
 * adapter stages can be packed; paths reserved for the bundle's own files are refused.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { StellaError } from '@stella/core/errors';
import { compareUtf8, normalizeArchivePath } from '@stella/core/tar';
import type { ExportFile } from '../adapters/adapter.js';
import type { CreateStagingSink, StagingSink } from './export-bundle.js';
import { isReservedBundlePath } from './bundle-files.js';

/** `true` for paths that would collide on a case-insensitive or normalising file system. */
function spelling(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

function unsafe(path: string, why: string): StellaError {
  return new StellaError('ARCHIVE_UNSAFE_ENTRY', `export file ${JSON.stringify(path)}: ${why}`, {
    details: { path, reason: why },
  });
}

function bodyChunks(body: AsyncIterable<Uint8Array> | Uint8Array): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array)
    return (async function* () {
      yield body;
    })();
  return body;
}

export const createStagingSink: CreateStagingSink = async (parentDir: string): Promise<StagingSink> => {
  await mkdir(parentDir, { recursive: true });
  const dir = await mkdtemp(join(parentDir, '.export-staging-'));
  const written = new Map<string, ExportFile>();
  // Claimed paths (also while a write is in flight), their portable spellings, and every parent
  // directory: a path may not be both a file and a directory.
  const claimed = new Set<string>();
  const spellings = new Map<string, string>();
  const dirs = new Set<string>();
  let disposed = false;

  function claim(path: string): void {
    if (claimed.has(path)) throw unsafe(path, 'written twice');
    if (dirs.has(path)) throw unsafe(path, 'is already a directory of another file');
    const parents: string[] = [];
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) parents.push(path.slice(0, i));
    for (const p of parents) if (claimed.has(p)) throw unsafe(path, `its parent ${JSON.stringify(p)} is a file`);
    for (const p of [...parents, path]) {
      const earlier = spellings.get(spelling(p));
      if (earlier !== undefined && earlier !== p)
        throw unsafe(
          path,
          `${JSON.stringify(p)} differs from ${JSON.stringify(earlier)} only by case or normalisation`,
        );
    }
    for (const p of [...parents, path]) spellings.set(spelling(p), p);
    for (const p of parents) dirs.add(p);
    claimed.add(path);
  }

  async function writeFile(
    rawPath: string,
    body: AsyncIterable<Uint8Array> | Uint8Array,
    mediaType: string,
  ): Promise<ExportFile> {
    if (disposed) throw new StellaError('INTERNAL', 'the staging area was disposed');
    const path = normalizeArchivePath(rawPath, { strict: true });
    if (isReservedBundlePath(path)) throw unsafe(path, 'is reserved for the bundle writer');
    if (typeof mediaType !== 'string' || mediaType === '')
      throw new StellaError('VALIDATION_FAILED', `export file ${JSON.stringify(path)}: mediaType is required`);
    claim(path);
    const target = join(dir, ...path.split('/'));
    const hash = createHash('sha256');
    let size = 0;
    try {
      await mkdir(dirname(target), { recursive: true });
      const out = createWriteStream(target, { flags: 'wx' });
      const failed = once(out, 'error').then(([e]) => Promise.reject(e as Error));
      failed.catch(() => undefined);
      try {
        for await (const chunk of bodyChunks(body)) {
          hash.update(chunk);
          size += chunk.byteLength;
          if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
        }
        out.end();
        await Promise.race([once(out, 'finish'), failed]);
        await once(out, 'close');
      } finally {
        if (!out.closed) out.destroy();
      }
    } catch (err) {
      // Nothing half-written: the partial file goes, and so does the claim (the adapter may retry).
      await rm(target, { force: true });
      claimed.delete(path);
      throw err;
    }
    const file: ExportFile = { path, mediaType, size, digest: `sha256:${hash.digest('hex')}` };
    written.set(path, file);
    return file;
  }

  return {
    dir,
    writeFile,
    files: () => [...written.values()].sort((a, b) => compareUtf8(a.path, b.path)),
    async dispose() {
      disposed = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
};
