import type { Readable } from 'node:stream';
import { gzipParallel, type ParallelGzipOptions } from './parallel-gzip.js';

export { GZIP_OS_UNIX } from './parallel-gzip.js';

/** Default compression level: 6, the level GNU gzip and zlib use by default. */
export const DEFAULT_GZIP_LEVEL = 6;

/**
 * Gzips `source` with a header that is the same on every machine: no FNAME, no comment, MTIME 0,
 * OS = 3 (see {@link GZIP_OS_UNIX}) and XFL from the level (2 for 9, 4 for 0–1, else 0, as zlib
 * sets it). The deflate data is pigz's block format, compressed on several threadpool threads at
 * once (parallel-gzip.ts, ADR 0019): the bytes do not depend on `threads`. Inputs up to one block
 * (128 KiB) give exactly the deflate stream of a one-shot zlib gzip. Streams: memory is about
 * `threads + 2` blocks. An error in `source` destroys the returned stream with that same error.
 *
 * The deflate stream itself is produced by the zlib that Node bundles; byte identity across Node
 * versions holds only while that zlib produces the same deflate output (docs/formats/tar.md).
 */
export function gzipDeterministic(
  source: Readable | AsyncIterable<Uint8Array>,
  level: number = DEFAULT_GZIP_LEVEL,
  options: Omit<ParallelGzipOptions, 'level'> = {},
): Readable {
  return gzipParallel(source, { ...options, level });
}
