import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StellaError } from '@stella/core/errors';
import { createTar, readTar, type TarEntryInput, type TarReadOptions } from '@stella/core/tar';
import { readOciLayout, type OciLayout, type ReadOciLayoutOptions } from './oci-layout-reader.js';
import { writeOciLayout, type WriteOciLayoutInput, type WriteOciLayoutResult } from './oci-layout-writer.js';

async function listFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await listFiles(root, p)));
    else
      out.push(
        p
          .slice(root.length + 1)
          .split('\\')
          .join('/'),
      );
  }
  return out;
}

/**
 * Writes an `oci-archive` — the OCI layout of {@link writeOciLayout} as one uncompressed tar
 * (skopeo `oci-archive:<file>:<ref>`, spec §4.1) — to `file`, using the deterministic tar writer
 * (sorted entries, mtime 0, uid/gid 0, modes 0644/0755). Same inputs → same bytes. The archive is
 * written to `<file>.partial-<random>` and renamed at the end; on error nothing is left at `file`.
 * `file` must not exist (CONFLICT).
 */
export async function writeOciArchive(file: string, input: WriteOciLayoutInput): Promise<WriteOciLayoutResult> {
  if (
    await stat(file).then(
      () => true,
      () => false,
    )
  )
    throw new StellaError('CONFLICT', `${file} already exists`, { details: { file } });
  await mkdir(dirname(file), { recursive: true });
  const stage = join(dirname(file), `.${basename(file)}.layout-${randomBytes(6).toString('hex')}`);
  const partial = `${file}.partial-${randomBytes(6).toString('hex')}`;
  try {
    const res = await writeOciLayout(stage, input);
    const entries: TarEntryInput[] = [];
    for (const rel of await listFiles(stage)) {
      const full = join(stage, rel);
      entries.push({ path: rel, size: (await stat(full)).size, body: () => createReadStream(full) });
    }
    await pipeline(createTar(entries), createWriteStream(partial, { mode: 0o644 }));
    await rename(partial, file);
    return res;
  } finally {
    await rm(stage, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

/**
 * Extracts an `oci-archive` (plain tar, as skopeo writes it) into `dir` with the safe reader (no
 * links, no devices, no escaping paths; `tarOptions` for limits), then validates it with
 * {@link readOciLayout}. `dir` must not exist or be empty (CONFLICT). Extraction goes to a
 * sibling temp directory renamed into place only after validation, so a bad archive leaves
 * nothing at `dir`.
 */
export async function extractOciArchive(
  file: string,
  dir: string,
  opts: { tarOptions?: TarReadOptions; layout?: ReadOciLayoutOptions } = {},
): Promise<OciLayout> {
  const existing = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  if (existing.length > 0) throw new StellaError('CONFLICT', `${dir} exists and is not empty`, { details: { dir } });
  await mkdir(dirname(dir), { recursive: true });
  const stage = join(dirname(dir), `.${basename(dir)}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(stage);
    for await (const e of readTar(createReadStream(file), { ...opts.tarOptions, links: 'refuse' })) {
      const target = join(stage, ...e.path.split('/'));
      if (e.type === 'directory') {
        await mkdir(target, { recursive: true, mode: 0o755 });
        continue;
      }
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      // `wx`: never follow or overwrite anything already there (the reader refuses duplicates too).
      await pipeline(e.body, createWriteStream(target, { flags: 'wx', mode: 0o644 }));
    }
    await readOciLayout(stage, opts.layout);
    await rm(dir, { recursive: true, force: true });
    await rename(stage, dir);
    return await readOciLayout(dir, { verifyBlobs: false });
  } catch (e) {
    await rm(stage, { recursive: true, force: true });
    throw e;
  }
}
