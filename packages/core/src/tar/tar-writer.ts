import { Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';

type PackHeader = Parameters<Pack['entry']>[0];
import { StellaError, isStellaError } from '../errors/index.js';
import {
  compareUtf8,
  normalizeArchivePath,
  parentDirectories,
  DEFAULT_MAX_PATH_BYTES,
  PortablePathSpellings,
} from './archive-path.js';
import { gzipDeterministic, DEFAULT_GZIP_LEVEL } from './deterministic-gzip.js';

/** A body source: a stream or async iterable of bytes, or the bytes themselves. */
export type TarBodySource = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/** One entry handed to {@link createTar} / {@link createTarGz}. */
export interface TarEntryInput {
  /** Relative `/`-separated path; no `.`/`..`/empty segments, no leading or trailing `/`. */
  path: string;
  /** `file` (default) or an explicit `directory` (for empty directories). */
  type?: 'file' | 'directory';
  /** Exact byte size of a file's body; the writer fails if the body yields more or fewer bytes. */
  size?: number;
  /** 0o644 or 0o755 only (default 0o644 for files, 0o755 for directories). */
  mode?: number;
  /**
   * The content, pulled only when the writer reaches this entry (so at most one body is open at a
   * time). A function is called once; a plain `Uint8Array` is used as is.
   */
  body?: (() => TarBodySource | Promise<TarBodySource>) | Uint8Array;
}

/** Options of {@link createTar} / {@link createTarGz}. */
export interface TarWriteOptions {
  /** mtime of every entry (whole seconds are kept). Default: the epoch (1970-01-01T00:00:00Z). */
  mtime?: Date;
  /** gzip level 0–9 for {@link createTarGz}. Default 6 (GNU gzip's default). */
  gzipLevel?: number;
  /**
   * Blocks {@link createTarGz} compresses at the same time (libuv threadpool jobs). Default: the
   * machine's available parallelism. The output bytes are the same for every value (ADR 0019).
   */
  gzipThreads?: number;
  /**
   * Emit a directory entry (mode 0755) for every parent directory of every entry. Default true:
   * GNU tar and other extractors then create directories with a fixed mode instead of the
   * extracting user's umask. With false, only entries passed in (and explicit directories) appear.
   */
  parentDirectories?: boolean;
  /** Longest path accepted, in UTF-8 bytes. Default 4096. */
  maxPathBytes?: number;
}

interface PlannedEntry {
  path: string;
  type: 'file' | 'directory';
  size: number;
  mode: number;
  body?: TarEntryInput['body'];
}

const ALLOWED_MODES = new Set([0o644, 0o755]);
// ustar's mtime field holds 11 octal digits; tar-stream encodes seconds through a 32-bit int.
const MAX_MTIME_SECONDS = 2 ** 31 - 1;

function unsafe(path: string, why: string): never {
  throw new StellaError('ARCHIVE_UNSAFE_ENTRY', `archive entry ${JSON.stringify(path)}: ${why}`, {
    details: { path, reason: why },
  });
}

/**
 * Validates, de-duplicates and orders the entries (metadata only — bodies stay unopened).
 * Order: byte order of the UTF-8 path (docs/formats/tar.md §Order). Parent directory entries sort
 * before their children because a path is a byte prefix of its descendants.
 */
async function plan(
  entries: Iterable<TarEntryInput> | AsyncIterable<TarEntryInput>,
  opts: TarWriteOptions,
): Promise<PlannedEntry[]> {
  const byPath = new Map<string, PlannedEntry>();
  const spellings = new PortablePathSpellings();
  const maxPathBytes = opts.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
  for await (const e of entries as AsyncIterable<TarEntryInput>) {
    if (e === null || typeof e !== 'object')
      throw new StellaError('VALIDATION_FAILED', 'archive entry must be an object');
    const path = normalizeArchivePath(e.path, { strict: true, maxPathBytes });
    const type = e.type ?? 'file';
    if (type !== 'file' && type !== 'directory') unsafe(path, `unsupported entry type ${String(type)}`);
    const mode = e.mode ?? (type === 'directory' ? 0o755 : 0o644);
    if (!ALLOWED_MODES.has(mode)) unsafe(path, `mode ${mode.toString(8)} is not 0644 or 0755`);
    let size = 0;
    if (type === 'file') {
      size = e.size ?? (e.body instanceof Uint8Array ? e.body.byteLength : NaN);
      if (!Number.isSafeInteger(size) || size < 0)
        throw new StellaError(
          'VALIDATION_FAILED',
          `archive entry ${JSON.stringify(path)}: size must be a non-negative integer`,
          { details: { path } },
        );
      if (e.body instanceof Uint8Array && e.body.byteLength !== size)
        throw mismatch(path, size, String(e.body.byteLength));
      if (e.body === undefined)
        throw new StellaError('VALIDATION_FAILED', `archive entry ${JSON.stringify(path)}: a file needs a body`, {
          details: { path },
        });
    } else if (e.body !== undefined || (e.size ?? 0) !== 0) {
      throw new StellaError('VALIDATION_FAILED', `archive entry ${JSON.stringify(path)}: a directory has no body`, {
        details: { path },
      });
    }
    if (byPath.has(path)) unsafe(path, 'duplicate path');
    // What the reader refuses by default, the writer never produces (docs/formats/tar.md).
    for (const p of [...parentDirectories(path), path]) {
      const earlier = spellings.collision(p);
      if (earlier !== undefined)
        unsafe(
          path,
          `${JSON.stringify(p)} differs from ${JSON.stringify(earlier)} only by letter case or Unicode normalisation`,
        );
    }
    byPath.set(path, { path, type, size, mode, body: e.body });
  }
  // A path may not be both a file and the parent of another entry.
  for (const p of byPath.values()) {
    for (const dir of parentDirectories(p.path)) {
      const existing = byPath.get(dir);
      if (existing && existing.type !== 'directory')
        unsafe(dir, `is a file and also the parent of ${JSON.stringify(p.path)}`);
    }
  }
  if (opts.parentDirectories ?? true) {
    for (const p of [...byPath.values()]) {
      for (const dir of parentDirectories(p.path)) {
        if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'directory', size: 0, mode: 0o755 });
      }
    }
  }
  return [...byPath.values()].sort((a, b) => compareUtf8(a.path, b.path));
}

function asAsyncIterable(src: TarBodySource): AsyncIterable<Uint8Array> {
  if (src instanceof Uint8Array) return [src] as unknown as AsyncIterable<Uint8Array>;
  if (src && typeof (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function')
    return src as AsyncIterable<Uint8Array>;
  throw new StellaError('VALIDATION_FAILED', 'archive entry body must be bytes, a stream or an async iterable');
}

function mismatch(path: string, declared: number, got: string): StellaError {
  return new StellaError(
    'ARCHIVE_MALFORMED',
    `archive entry ${JSON.stringify(path)}: body is ${got} bytes but size says ${declared}; output aborted`,
    {
      details: { path, declared },
    },
  );
}

/** Writes one file body into a tar-stream entry sink, enforcing the declared size. */
async function pump(pack: Pack, header: PackHeader, e: PlannedEntry): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    };
    const sink = pack.entry(header, (err) => {
      if (err) done(err);
      else done();
    });
    // The failure is reported through `done`; without a listener streamx would rethrow it.
    sink.on('error', () => undefined);
    let raw: TarBodySource | undefined;
    (async () => {
      raw = typeof e.body === 'function' ? await e.body() : e.body!;
      let written = 0;
      for await (const chunk of asAsyncIterable(raw)) {
        const buf = chunk instanceof Uint8Array ? chunk : Buffer.from(chunk as unknown as string);
        written += buf.byteLength;
        if (written > e.size) throw mismatch(e.path, e.size, `more than ${e.size}`);
        if (!sink.write(buf)) {
          // Wait for room — or for the archive to be torn down (consumer gone, other failure).
          await new Promise<void>((r) => {
            const go = () => {
              sink.off('drain', go);
              sink.off('close', go);
              r();
            };
            sink.on('drain', go);
            sink.on('close', go);
          });
        }
        if (sink.destroyed)
          throw new StellaError('ARCHIVE_MALFORMED', 'archive output was closed before it was complete');
      }
      if (written !== e.size) throw mismatch(e.path, e.size, String(written));
      sink.end(undefined);
    })().catch((err: unknown) => {
      // Release the body (file descriptors) whatever went wrong.
      if (raw && typeof (raw as Readable).destroy === 'function') (raw as Readable).destroy();
      done(err);
      sink.destroy(err as Error);
    });
  });
}

/**
 * A deterministic, streaming POSIX tar (ustar; PAX `path` records for names ustar cannot hold):
 * entries sorted by UTF-8 byte order of their path, parent directories added (unless disabled),
 * mtime fixed (default 0), uid/gid 0, empty uname/gname, modes 0644/0755, 1024 zero bytes at the end.
 * Bodies are opened one at a time in archive order. Same entries and options → same bytes.
 *
 * Bad input fails the returned stream with a coded error and no further bytes: unsafe or duplicate
 * paths and bad modes (ARCHIVE_UNSAFE_ENTRY), a body whose length differs from `size`
 * (ARCHIVE_MALFORMED), missing sizes/bodies (VALIDATION_FAILED), long paths (ARCHIVE_LIMIT_EXCEEDED).
 * Validation of all paths happens before the first byte is produced.
 */
export function createTar(
  entries: Iterable<TarEntryInput> | AsyncIterable<TarEntryInput>,
  opts: TarWriteOptions = {},
): Readable {
  const mtime = opts.mtime ?? new Date(0);
  const seconds = Math.floor(mtime.getTime() / 1000);
  const out = new Readable({ read() {} });
  const pack = tarPack();
  let failed = false;
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    const e = isStellaError(err)
      ? err
      : new StellaError('ARCHIVE_MALFORMED', `archive writing failed: ${(err as Error)?.message ?? String(err)}`, {
          cause: err,
        });
    pack.destroy(e);
    out.destroy(e);
  };
  // Pack → out with backpressure: pause the pack while `out`'s buffer is full.
  pack.on('data', (data: unknown) => {
    const chunk = data as Buffer;
    if (!failed && !out.push(chunk)) pack.pause();
  });
  out._read = () => pack.resume();
  pack.on('end', () => {
    if (!failed) out.push(null);
  });
  pack.on('error', (err: Error) => fail(err));
  out.on('close', () => {
    if (!pack.destroyed) pack.destroy();
  });
  (async () => {
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_MTIME_SECONDS) {
      throw new StellaError('VALIDATION_FAILED', 'mtime must be between 1970 and 2038', {
        details: { mtime: String(mtime) },
      });
    }
    const planned = await plan(entries, opts);
    const fixedTime = new Date(seconds * 1000);
    for (const e of planned) {
      if (failed || out.destroyed) return;
      const header: PackHeader = {
        // tar-stream's encoder does not add the conventional trailing slash to directory names.
        name: e.type === 'directory' ? `${e.path}/` : e.path,
        type: e.type,
        size: e.size,
        mode: e.mode,
        mtime: fixedTime,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
      };
      if (e.type === 'directory') {
        await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
      } else {
        await pump(pack, header, e);
      }
    }
    pack.finalize();
  })().catch(fail);
  return out;
}

/**
 * {@link createTar} piped through a deterministic gzip (no name, mtime 0, OS byte 3; level
 * `gzipLevel`, default 6). Errors of the tar stream fail the returned stream with the same code.
 */
export function createTarGz(
  entries: Iterable<TarEntryInput> | AsyncIterable<TarEntryInput>,
  opts: TarWriteOptions = {},
): Readable {
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    const r = new Readable({ read() {} });
    process.nextTick(() =>
      r.destroy(
        new StellaError('VALIDATION_FAILED', 'gzipLevel must be an integer 0–9', { details: { gzipLevel: level } }),
      ),
    );
    return r;
  }
  return gzipDeterministic(createTar(entries, opts), level, { threads: opts.gzipThreads });
}
