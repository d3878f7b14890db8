import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Extract } from 'tar-stream';
import { StellaError, isStellaError } from '../errors/index.js';
import {
  normalizeArchivePath,
  parentDirectories,
  DEFAULT_MAX_PATH_BYTES,
  PortablePathSpellings,
} from './archive-path.js';

/** Kinds of entries the reader yields; everything else (devices, FIFOs, unknown types) is refused. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One entry of an archive, yielded by {@link readTar} / {@link readTarGz}. */
export interface TarEntry {
  /** Normalised relative path (no `./`, no trailing `/`). */
  path: string;
  type: TarEntryType;
  /** Body size in bytes (0 for directories and links). */
  size: number;
  /** Permission bits only (`mode & 0o777`); setuid/setgid/sticky are dropped. */
  mode: number;
  mtime: Date;
  /** For links: the target as stored (symlink) or normalised (hardlink). */
  linkTarget?: string;
  /**
   * The content, streamed from the archive. Read it before asking for the next entry: whatever is
   * left unread is skipped when the iteration moves on.
   */
  body: AsyncIterable<Buffer>;
}

/** Limits and policy of the safe reader. Every limit is inclusive. */
export interface TarReadOptions {
  /** Largest single entry body. Default 2 GiB. */
  maxEntrySize?: number;
  /** Largest sum of entry bodies. Default 4 GiB. */
  maxTotalSize?: number;
  /** Most entries (directories and links included). Default 100,000. */
  maxEntries?: number;
  /** Longest entry path in UTF-8 bytes. Default 4096. */
  maxPathBytes?: number;
  /**
   * Largest uncompressed tar stream (headers, padding and bodies). Bounds work on archives that
   * are mostly headers or zero blocks (a gzip bomb of zeros). Default `maxTotalSize` + 64 MiB.
   */
  maxArchiveSize?: number;
  /**
   * `readTarGz` only: most uncompressed bytes per compressed byte read, once the tar stream is
   * past 1 MiB. Default 100 — real archives of JSON, SBOMs and binaries stay far below; a gzip
   * bomb (deflate reaches ~1000:1 on zeros) is stopped after reading a fraction of it.
   */
  maxCompressionRatio?: number;
  /** Yield directory entries (true, default) or refuse them. */
  allowDirectories?: boolean;
  /**
   * `refuse` (default): any symlink or hardlink is ARCHIVE_UNSAFE_ENTRY. `internal`: links are
   * yielded when they provably stay inside the root (docs/formats/tar.md §Links).
   */
  links?: 'refuse' | 'internal';
  /**
   * `refuse` (default): a path (or parent directory) that differs from an earlier one only by
   * letter case or Unicode normalisation is ARCHIVE_UNSAFE_ENTRY — the two collide on macOS and
   * Windows file systems. `allow`: treat paths as exact strings (case-sensitive extraction only).
   */
  nameCollisions?: 'refuse' | 'allow';
}

/** Default limits (documented in docs/formats/tar.md). */
export const DEFAULT_TAR_READ_LIMITS = Object.freeze({
  maxEntrySize: 2 * 1024 ** 3,
  maxTotalSize: 4 * 1024 ** 3,
  maxEntries: 100_000,
  maxPathBytes: DEFAULT_MAX_PATH_BYTES,
  maxCompressionRatio: 100,
});

/** Uncompressed bytes always allowed before the compression ratio is enforced. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

/** A limit option: a non-negative integer (NaN would make every comparison false: no limit). */
function sizeLimit(opts: TarReadOptions, name: keyof TarReadOptions, fallback: number): number {
  const v = opts[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new StellaError('VALIDATION_FAILED', `${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}

/** Bytes of an archive: a stream / async iterable of chunks, or one buffer. */
export type TarSource = AsyncIterable<Uint8Array> | Uint8Array;

function toIterable(src: TarSource, sourceErrors: WeakSet<object>): AsyncIterable<Buffer> {
  if (src instanceof Uint8Array) {
    const b = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    return (async function* () {
      yield b;
    })();
  }
  if (!src || typeof (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function') {
    throw new StellaError('VALIDATION_FAILED', 'archive source must be bytes, a stream or an async iterable');
  }
  return (async function* () {
    try {
      for await (const c of src as AsyncIterable<Uint8Array>) {
        yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      }
    } catch (e) {
      // Remember errors of the caller's own source so they are rethrown as they are, not as
      // ARCHIVE_MALFORMED (an I/O error is not a bad archive).
      if (e !== null && typeof e === 'object') sourceErrors.add(e);
      throw e;
    }
  })();
}

function mapError(err: unknown, sourceErrors: WeakSet<object>): unknown {
  if (isStellaError(err)) return err;
  if (err !== null && typeof err === 'object' && sourceErrors.has(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new StellaError('ARCHIVE_MALFORMED', `archive is truncated or not a valid tar/gzip stream: ${msg}`, {
    cause: err,
  });
}

const limit = (what: string, value: number, max: number, path?: string) =>
  new StellaError(
    'ARCHIVE_LIMIT_EXCEEDED',
    `archive ${what} ${value} exceeds the limit ${max}${path ? ` (entry ${JSON.stringify(path)})` : ''}`,
    {
      details: { limit: what, value, max, ...(path ? { path } : {}) },
    },
  );

const unsafe = (path: string, why: string) =>
  new StellaError('ARCHIVE_UNSAFE_ENTRY', `unsafe archive entry ${JSON.stringify(path)}: ${why}`, {
    details: { path, reason: why },
  });

/**
 * Checks a symlink target under the `internal` policy. Rule (docs/formats/tar.md §Links): the
 * target is relative, and after dropping `.` segments it is some `..` segments — no more than the
 * link's own directory depth — followed by plain names only. Climbing only through the link's own
 * parents (real directories: nothing may be stored beneath a link) and then descending can never
 * leave the root, even if later components are themselves in-root symlinks; a `..` after a plain
 * name could climb out of a symlinked directory, so it is refused.
 */
function checkSymlinkTarget(path: string, target: string): void {
  if (!target) throw unsafe(path, 'empty symlink target');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(target)) throw unsafe(path, 'symlink target has a control character or backslash');
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target)) throw unsafe(path, 'symlink target is absolute');
  const depth = path.split('/').length - 1;
  let ups = 0;
  let descended = false;
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (descended) throw unsafe(path, "symlink target has '..' after a name");
      ups++;
      if (ups > depth) throw unsafe(path, 'symlink target escapes the root');
    } else descended = true;
  }
}

async function waitWritable(ex: Extract): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      ex.off('drain', done);
      ex.off('close', done);
      resolve();
    };
    ex.on('drain', done);
    ex.on('close', done);
  });
}

/** Validated limits and policy (VALIDATION_FAILED before any byte is read). */
function readPolicy(opts: TarReadOptions) {
  const maxTotalSize = sizeLimit(opts, 'maxTotalSize', DEFAULT_TAR_READ_LIMITS.maxTotalSize);
  const ratio = opts.maxCompressionRatio ?? DEFAULT_TAR_READ_LIMITS.maxCompressionRatio;
  if (typeof ratio !== 'number' || !(ratio >= 1))
    throw new StellaError('VALIDATION_FAILED', `maxCompressionRatio must be a number ≥ 1, got ${String(ratio)}`);
  return {
    maxEntrySize: sizeLimit(opts, 'maxEntrySize', DEFAULT_TAR_READ_LIMITS.maxEntrySize),
    maxTotalSize,
    maxEntries: sizeLimit(opts, 'maxEntries', DEFAULT_TAR_READ_LIMITS.maxEntries),
    maxPathBytes: sizeLimit(opts, 'maxPathBytes', DEFAULT_TAR_READ_LIMITS.maxPathBytes),
    maxArchiveSize: sizeLimit(opts, 'maxArchiveSize', maxTotalSize + 64 * 1024 * 1024),
    maxCompressionRatio: ratio,
    allowDirectories: opts.allowDirectories ?? true,
    links: opts.links ?? 'refuse',
    nameCollisions: opts.nameCollisions ?? 'refuse',
  };
}

async function* readEntries(
  src: AsyncIterable<Buffer>,
  policy: ReturnType<typeof readPolicy>,
  sourceErrors: WeakSet<object>,
  /** For gzip input: compressed bytes read so far (the ratio is checked against it). */
  compressedBytes?: () => number,
): AsyncGenerator<TarEntry> {
  const { maxEntrySize, maxTotalSize, maxEntries, maxPathBytes, maxArchiveSize, maxCompressionRatio } = policy;
  const { allowDirectories, links } = policy;
  const spellings = policy.nameCollisions === 'refuse' ? new PortablePathSpellings() : undefined;

  const ex = tarExtract();
  let rawBytes = 0;
  let pumpError: unknown;
  const pumping = (async () => {
    try {
      for await (const chunk of src) {
        rawBytes += chunk.byteLength;
        if (rawBytes > maxArchiveSize) throw limit('uncompressed size', rawBytes, maxArchiveSize);
        if (compressedBytes && rawBytes > RATIO_FLOOR_BYTES && rawBytes > maxCompressionRatio * compressedBytes())
          throw limit('compression ratio', Math.floor(rawBytes / compressedBytes()), maxCompressionRatio);
        if (ex.destroyed) return;
        if (!ex.write(chunk)) await waitWritable(ex);
      }
      if (!ex.destroyed) ex.end(undefined);
    } catch (e) {
      pumpError = e;
      ex.destroy(e as Error);
    }
  })();

  const it = ex[Symbol.asyncIterator]();
  const seen = new Map<string, TarEntryType>();
  const impliedDirs = new Set<string>();
  let count = 0;
  let total = 0;
  let lastEnd = 0;
  let finished = false;
  try {
    for (;;) {
      let r: IteratorResult<Awaited<ReturnType<typeof it.next>>['value']>;
      try {
        r = await it.next();
      } catch (e) {
        throw pumpError ?? e;
      }
      if (r.done) break;
      const entry = r.value;
      const h = entry.header;
      const rawName = h.name;
      const isFile = h.type === 'file' || h.type === 'contiguous-file';
      lastEnd = h.byteOffset + (isFile ? Math.ceil(h.size / 512) * 512 : 0);

      if (++count > maxEntries) throw limit('entry count', count, maxEntries);
      let type: TarEntryType;
      switch (h.type) {
        case 'file':
        case 'contiguous-file':
          type = 'file';
          break;
        case 'directory':
          type = 'directory';
          break;
        case 'symlink':
          type = 'symlink';
          break;
        case 'link':
          type = 'hardlink';
          break;
        default:
          throw unsafe(
            String(rawName),
            `entry type ${String(h.type ?? 'unknown')} is not allowed (devices, FIFOs and unknown types are refused)`,
          );
      }
      if (type !== 'file' && h.size !== 0) {
        // tar-stream would parse such a body as headers; GNU tar and POSIX give it no meaning.
        throw new StellaError(
          'ARCHIVE_MALFORMED',
          `archive entry ${JSON.stringify(String(rawName))}: a ${type} with a non-zero size`,
          {
            details: { path: String(rawName), size: h.size },
          },
        );
      }
      const path = normalizeArchivePath(rawName, { maxPathBytes });
      if (path === '') {
        // `./` — the root itself, as GNU tar writes for `tar -C dir .`; it names nothing to create.
        if (type !== 'directory') throw unsafe(rawName, 'entry names the archive root');
        continue;
      }
      if (type === 'directory' && !allowDirectories) throw unsafe(path, 'directory entries are not allowed here');
      const size = type === 'file' ? h.size : 0;
      if (size > maxEntrySize) throw limit('entry size', size, maxEntrySize, path);
      total += size;
      if (total > maxTotalSize) throw limit('total size', total, maxTotalSize, path);
      if (seen.has(path)) throw unsafe(path, 'duplicate entry');
      if (spellings) {
        for (const p of [...parentDirectories(path), path]) {
          const earlier = spellings.collision(p);
          if (earlier !== undefined)
            throw unsafe(
              path,
              `${JSON.stringify(p)} differs from the earlier ${JSON.stringify(earlier)} only by letter case or Unicode normalisation (they collide on macOS and Windows)`,
            );
        }
      }
      if (impliedDirs.has(path) && type !== 'directory')
        throw unsafe(path, 'an earlier entry needs this path to be a directory');
      for (const dir of parentDirectories(path)) {
        const t = seen.get(dir);
        if (t !== undefined && t !== 'directory')
          throw unsafe(path, `parent ${JSON.stringify(dir)} is a ${t}, not a directory`);
        impliedDirs.add(dir);
      }
      let linkTarget: string | undefined;
      if (type === 'symlink' || type === 'hardlink') {
        if (links !== 'internal') throw unsafe(path, `${type}s are not allowed`);
        const target = h.linkname ?? '';
        if (type === 'symlink') {
          checkSymlinkTarget(path, target);
          linkTarget = target;
        } else {
          let t: string;
          try {
            t = normalizeArchivePath(target, { maxPathBytes });
          } catch {
            throw unsafe(path, 'hardlink target is not a safe path');
          }
          if (seen.get(t) !== 'file')
            throw unsafe(path, 'hardlink target is not an earlier regular file of this archive');
          linkTarget = t;
        }
      }
      seen.set(path, type);

      // Only file entries carry data; tar-stream's stream for any other entry is not fed (and never
      // ends when the header's size is non-zero), so it is never touched.
      const state = {
        iter: type === 'file' ? (entry[Symbol.asyncIterator]() as AsyncIterator<Buffer>) : EMPTY_ITERATOR,
      };
      const body = (async function* () {
        for (;;) {
          let n: IteratorResult<Buffer>;
          try {
            n = await state.iter.next();
          } catch (e) {
            // A body cut short by the end of input surfaces here, in the consumer's loop.
            throw mapError(pumpError ?? e, sourceErrors);
          }
          if (n.done) return;
          yield n.value;
        }
      })();
      yield {
        path,
        type,
        size,
        mode: h.mode & 0o777,
        mtime: h.mtime,
        ...(linkTarget !== undefined ? { linkTarget } : {}),
        body,
      };
      // Skip whatever the consumer left unread (tar-stream needs each entry drained).
      for (;;) {
        const n = await state.iter.next();
        if (n.done) break;
      }
    }
    await pumping;
    if (pumpError) throw pumpError;
    // A stream that stops right after an entry's data parses cleanly; POSIX ends an archive with
    // two zero blocks, so their absence means truncation.
    if (rawBytes - lastEnd < 1024) {
      throw new StellaError('ARCHIVE_MALFORMED', 'archive is truncated: no end-of-archive marker (two zero blocks)', {
        details: { bytes: rawBytes },
      });
    }
    finished = true;
  } catch (e) {
    throw mapError(e, sourceErrors);
  } finally {
    if (!finished) {
      ex.destroy();
      await pumping.catch(() => undefined);
    }
  }
}

const EMPTY_ITERATOR: AsyncIterator<Buffer> = { next: async () => ({ done: true, value: undefined }) };

/**
 * Reads an uncompressed tar stream safely, yielding entries one at a time (bodies streamed).
 * Refuses (ARCHIVE_UNSAFE_ENTRY) absolute paths, `..`, backslashes, control characters, duplicate
 * names after normalisation, names differing from an earlier one only by case or Unicode
 * normalisation (unless `nameCollisions: 'allow'`), entries beneath a file or link, devices,
 * FIFOs, unknown types and — unless `links: 'internal'` — all links. Enforces `maxEntrySize`, `maxTotalSize`, `maxEntries`,
 * `maxPathBytes`, `maxArchiveSize` (ARCHIVE_LIMIT_EXCEEDED) before reading the body concerned;
 * a limit that is not a non-negative integer is VALIDATION_FAILED.
 * Truncated or garbage input fails with ARCHIVE_MALFORMED. Errors thrown by `source` itself pass
 * through unchanged. Entries yielded before an error were valid; callers that must not act on a
 * partial archive stage what they read and commit only after the iteration completes.
 */
export async function* readTar(source: TarSource, opts: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const policy = readPolicy(opts);
  const sourceErrors = new WeakSet<object>();
  yield* readEntries(toIterable(source, sourceErrors), policy, sourceErrors);
}

/**
 * {@link readTar} over a gzip stream (RFC 1952; concatenated members are accepted), with the
 * expansion bounded by `maxCompressionRatio` as well.
 */
export async function* readTarGz(source: TarSource, opts: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const policy = readPolicy(opts);
  const sourceErrors = new WeakSet<object>();
  let compressed = 0;
  const counted = (async function* () {
    for await (const chunk of toIterable(source, sourceErrors)) {
      compressed += chunk.byteLength;
      yield chunk;
    }
  })();
  const input = Readable.from(counted, { objectMode: false });
  const gunzip = createGunzip();
  pipeline(input, gunzip, () => undefined);
  try {
    yield* readEntries(gunzip as AsyncIterable<Buffer>, policy, sourceErrors, () => compressed);
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}
