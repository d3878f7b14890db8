/**
 * Compression of data files, shared by the adapters. gzip is core's deterministic gzip (RFC 1952
 * header with no name, MTIME 0, OS 3); zstd is concatenated frames of fixed 1 MiB blocks
 * (zstd-frames.ts, libzstd in WebAssembly). Both give equal bytes for equal input on every
 * machine, and both stream (zlib's window and one output chunk; one block and its frame).
 * docs/formats/export-bundle.md "Compression".
 */
import { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import { DEFAULT_GZIP_LEVEL, gzipDeterministic } from '@stella/core/tar';
import { DEFAULT_ZSTD_LEVEL, MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL, zstdFrames } from './zstd-frames.js';

export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** File-name suffix of each compression. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: '.gz', zstd: '.zst', none: '' };

export { DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL };

/** A compression and its level (the level of the other codec is ignored). */
export interface CompressionChoice {
  readonly compression: Compression;
  readonly gzipLevel?: number;
  readonly zstdLevel?: number;
}

/** `body` compressed as asked; streamed. An unknown name is EXPORT_COMPRESSION_UNSUPPORTED. */
export function compress(body: AsyncIterable<Uint8Array>, choice: CompressionChoice): AsyncIterable<Uint8Array> {
  switch (choice.compression) {
    case 'none':
      return body;
    case 'gzip':
      return gzipDeterministic(Readable.from(body, { objectMode: false }), choice.gzipLevel ?? DEFAULT_GZIP_LEVEL);
    case 'zstd':
      return zstdFrames(body, choice.zstdLevel ?? DEFAULT_ZSTD_LEVEL);
    default: {
      const name: unknown = (choice as { compression: unknown }).compression;
      throw new StellaError(
        'EXPORT_COMPRESSION_UNSUPPORTED',
        `compression ${JSON.stringify(name)} is not available; use one of ${COMPRESSIONS.map((c) => JSON.stringify(c)).join(', ')}`,
        { details: { compression: name } },
      );
    }
  }
}
