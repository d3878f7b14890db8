/**
 * Compression of data files, shared by the adapters. gzip is core's deterministic gzip (RFC 1952
 * header with no name, MTIME 0, OS 3), so equal input gives equal bytes on every machine.
 *
 * zstd is refused with EXPORT_COMPRESSION_UNSUPPORTED: Node 20's zlib has no zstd (it arrives in
 * Node 22.15), and every maintained npm binding (zstd-napi, @mongodb-js/zstd ≥ 2) ships its
 * native code through an install script (prebuild-install downloads or node-gyp), which this
 * repository's `npm ci --ignore-scripts` and the air-gapped build machines do not run. See
 * docs/formats/export-bundle.md "Compression".
 */
import { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import { DEFAULT_GZIP_LEVEL, gzipDeterministic } from '@stella/core/tar';

export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** File-name suffix of each compression. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: '.gz', zstd: '.zst', none: '' };

export { DEFAULT_GZIP_LEVEL };

/** A problem message when `compression` cannot be produced here, else undefined. */
export function compressionProblem(compression: Compression): string | undefined {
  return compression === 'zstd'
    ? 'zstd is not available on Node 20 in this build (no zlib zstd, no install-script-free binding); use "gzip" or "none"'
    : undefined;
}

/** `body` compressed as asked; streamed (zlib's window and one output chunk at most). */
export function compress(
  body: AsyncIterable<Uint8Array>,
  compression: Compression,
  gzipLevel: number = DEFAULT_GZIP_LEVEL,
): AsyncIterable<Uint8Array> {
  if (compression === 'none') return body;
  if (compression === 'gzip') return gzipDeterministic(Readable.from(body, { objectMode: false }), gzipLevel);
  throw new StellaError('EXPORT_COMPRESSION_UNSUPPORTED', compressionProblem(compression)!, {
    details: { compression },
  });
}
