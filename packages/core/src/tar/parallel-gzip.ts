/**
 * Parallel, deterministic gzip in pigz's block format (ADR 0019, docs/formats/tar.md §gzip).
 *
 * The uncompressed stream is cut into blocks of exactly {@link GZIP_BLOCK_SIZE} bytes (the last
 * one shorter) — by byte offset, never by how the input happens to arrive in chunks. Block k is
 * compressed as its own raw deflate stream (RFC 1951) with the last 32 KiB of block k-1 as the
 * preset dictionary, ended with a sync flush (an empty stored block, `00 00 ff ff`, which leaves the
 * bit stream byte-aligned) — except the last block, which is finished (BFINAL). Concatenated, the
 * pieces form ONE valid deflate stream inside ONE gzip member (RFC 1952): a back-reference can
 * reach at most 32 KiB back (RFC 1951 §2), exactly what the dictionary supplied. The member's CRC-32
 * and ISIZE are those of the whole input.
 *
 * Each block's bytes are a pure function of (its input, the 32 KiB before it, whether it is the
 * last, the level), so the output does not depend on the number of threads, on scheduling or on
 * input chunking, and two runs give the same bytes. Blocks are deflated by Node's zlib on the libuv
 * threadpool (`zlib.deflateRaw` async calls run on pool threads, several at once), so `threads`
 * blocks are compressed at the same time while the main thread keeps producing input.
 *
 * An input that fits in one block is a single deflate stream without dictionary, finished: the same
 * deflate bytes as zlib's one-shot or streaming gzip at the same level, so small archives are
 * byte-identical to what `createGzip` produced before this format.
 */
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { constants, crc32, deflateRaw, deflateRawSync, type ZlibOptions } from 'node:zlib';
import { StellaError } from '../errors/index.js';

/** Uncompressed bytes per independently compressed block: 128 KiB, pigz's default (`-b 128`). */
export const GZIP_BLOCK_SIZE = 128 * 1024;
/** Preset dictionary per block: the deflate window, 32 KiB (RFC 1951 §2: max distance 32,768). */
export const GZIP_DICTIONARY_SIZE = 32 * 1024;

/** Options of {@link gzipBlocks}. */
export interface ParallelGzipOptions {
  /** Deflate level 0–9. Default 6. */
  level?: number;
  /**
   * Blocks compressed at the same time (threadpool jobs in flight). Default: the machine's
   * available parallelism. Does NOT change the output bytes.
   */
  threads?: number;
  /** Block size in bytes (≥ 32 KiB). Default {@link GZIP_BLOCK_SIZE}. Changes the output bytes. */
  blockSize?: number;
}

/**
 * The gzip OS byte we always write: 3 = Unix (RFC 1952 §2.3.1), what GNU gzip writes on Linux.
 * zlib fills this byte from its compile-time `OS_CODE`, which differs by platform (3 on Linux, 19 on
 * macOS since zlib 1.2.12, 10 on Windows), so the same input would give different bytes on
 * different machines. We write the header ourselves.
 */
export const GZIP_OS_UNIX = 3;

/** XFL as zlib sets it (deflate.c): 2 = max compression (level 9), 4 = fastest (levels 0–1). */
function xfl(level: number): number {
  return level === 9 ? 2 : level < 2 ? 4 : 0;
}

/** RFC 1952 §2.3 member header: magic, CM 8, FLG 0, MTIME 0, XFL, OS 3. */
function header(level: number): Buffer {
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), GZIP_OS_UNIX]);
}

/** RFC 1952 trailer: CRC-32 then ISIZE (input length mod 2^32), both little-endian. */
function trailer(crc: number, size: number): Buffer {
  const t = Buffer.alloc(8);
  t.writeUInt32LE(crc >>> 0, 0);
  t.writeUInt32LE(size % 2 ** 32, 4);
  return t;
}

function deflateOptions(level: number, dictionary: Buffer | undefined, last: boolean): ZlibOptions {
  // windowBits 15, memLevel 8, default strategy: zlib's (and GNU gzip's) defaults, fixed here so a
  // change of Node's defaults cannot change our bytes.
  return {
    level,
    windowBits: 15,
    memLevel: 8,
    strategy: constants.Z_DEFAULT_STRATEGY,
    // 192 KiB holds the whole output of a 128 KiB block (deflateBound ≈ 128.1 KiB), so a block is
    // one threadpool job, not one per 64 KiB of output. Level 0 (stored) cuts its blocks where this
    // buffer fills, so the value is part of the format.
    chunkSize: 192 * 1024,
    finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    ...(dictionary ? { dictionary } : {}),
  };
}

function deflateBlock(block: Buffer, dictionary: Buffer | undefined, level: number, last: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    deflateRaw(block, deflateOptions(level, dictionary, last), (err, out) => (err ? reject(err) : resolve(out))),
  );
}

/** Checks level / threads / block size; throws VALIDATION_FAILED. */
export function parallelGzipSettings(o: ParallelGzipOptions = {}): Required<ParallelGzipOptions> {
  const level = o.level ?? 6;
  const threads = o.threads ?? Math.max(1, availableParallelism());
  const blockSize = o.blockSize ?? GZIP_BLOCK_SIZE;
  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw new StellaError('VALIDATION_FAILED', 'gzip level must be an integer 0–9', { details: { level } });
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new StellaError('VALIDATION_FAILED', 'gzip threads must be an integer 1–64', { details: { threads } });
  if (!Number.isInteger(blockSize) || blockSize < GZIP_DICTIONARY_SIZE || blockSize > 64 * 2 ** 20)
    throw new StellaError('VALIDATION_FAILED', 'gzip block size must be an integer from 32 KiB to 64 MiB', {
      details: { blockSize },
    });
  return { level, threads, blockSize };
}

/**
 * The gzip member of `source`, as chunks, in the block format above. Pulls input only while fewer
 * than `threads` blocks are being compressed (memory: about `threads + 1` blocks plus their
 * outputs). An error of `source` is rethrown as is; a zlib failure (never expected) as
 * ARCHIVE_MALFORMED.
 */
export async function* gzipBlocks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParallelGzipOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  let settings: Required<ParallelGzipOptions>;
  try {
    settings = parallelGzipSettings(options);
  } catch (err) {
    // Never iterated, so never released by for-await: release a stream source (its open bodies).
    (source as Partial<Readable>).destroy?.();
    throw err;
  }
  const { level, threads, blockSize } = settings;
  let crc = 0;
  let total = 0;
  // The block being filled, and the full block before it (held back until we know it is not last).
  let fill = Buffer.allocUnsafe(blockSize);
  let filled = 0;
  let held: Buffer | undefined;
  let dictionary: Buffer | undefined;
  const inFlight: Promise<Buffer>[] = [];
  let headerSent = false;
  const withHeader = (b: Buffer): Buffer => {
    if (headerSent) return b;
    headerSent = true;
    return Buffer.concat([header(level), b]);
  };
  const dispatch = (block: Buffer, last: boolean) => {
    crc = crc32(block, crc);
    const p = deflateBlock(block, dictionary, level, last);
    // Rejections are observed when awaited in order; keep an early one from being "unhandled".
    p.catch(() => undefined);
    inFlight.push(p);
    dictionary = block.subarray(block.length - GZIP_DICTIONARY_SIZE);
  };
  const zlibFailed = (err: unknown) =>
    new StellaError('ARCHIVE_MALFORMED', `gzip compression failed: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });

  const next = async (): Promise<Buffer> => {
    try {
      return await inFlight.shift()!;
    } catch (err) {
      throw zlibFailed(err);
    }
  };

  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    let off = 0;
    while (off < chunk.length) {
      if (filled === blockSize) {
        // A byte follows the full block, so the held one (if any) is not last: send it on once a
        // compression slot is free, emitting finished blocks in order meanwhile.
        if (held) {
          while (inFlight.length >= threads) yield withHeader(await next());
          dispatch(held, false);
        }
        held = fill;
        fill = Buffer.allocUnsafe(blockSize);
        filled = 0;
      }
      const n = Math.min(blockSize - filled, chunk.length - off);
      fill.set(n === chunk.length && off === 0 ? chunk : chunk.subarray(off, off + n), filled);
      filled += n;
      off += n;
      total += n;
    }
  }
  // End of input: the held block (if the fill is empty) or the fill is the last block.
  const tail = fill.subarray(0, filled);
  if (held === undefined) {
    // Single-block input: one finished deflate stream, compressed right here (tiny outputs do not
    // pay a threadpool round trip).
    crc = crc32(tail, crc);
    let out: Buffer;
    try {
      out = deflateRawSync(tail, deflateOptions(level, undefined, true));
    } catch (err) {
      throw zlibFailed(err);
    }
    yield Buffer.concat([header(level), out, trailer(crc, total)]);
    return;
  }
  while (inFlight.length >= threads) yield withHeader(await next());
  if (filled === 0) dispatch(held, true);
  else {
    dispatch(held, false);
    dispatch(tail, true);
  }
  while (inFlight.length > 0) {
    const out = await next();
    yield withHeader(inFlight.length === 0 ? Buffer.concat([out, trailer(crc, total)]) : out);
  }
}

/** {@link gzipBlocks} as a byte Readable (backpressure: input is pulled as output is read). */
export function gzipParallel(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParallelGzipOptions = {},
): Readable {
  return Readable.from(gzipBlocks(source, options), { objectMode: false, highWaterMark: 64 * 1024 });
}
