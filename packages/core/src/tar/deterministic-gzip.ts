import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGzip } from 'node:zlib';

/**
 * The gzip OS byte we always write: 3 = Unix (RFC 1952 §2.3.1), what GNU gzip writes on Linux.
 * zlib fills this byte from its compile-time `OS_CODE`, which differs by platform (3 on Linux, 19 on
 * macOS since zlib 1.2.12, 10 on Windows), so the same input would give different bytes on
 * different machines. We overwrite it.
 */
export const GZIP_OS_UNIX = 3;

/** Default compression level: 6, the level GNU gzip and zlib use by default. */
export const DEFAULT_GZIP_LEVEL = 6;

/**
 * Gzips `source` with a header that is the same on every machine: no FNAME, no comment, MTIME 0
 * (zlib's `createGzip` never sets a name or time) and OS = 3 (patched, see {@link GZIP_OS_UNIX}).
 * XFL (byte 8) is set by zlib from the level (2 for 9, 4 for 1, else 0), so it is fixed per level.
 * Streams: nothing is buffered beyond zlib's window and one output chunk. An error in `source`
 * destroys the returned stream with that same error.
 *
 * The deflate stream itself is produced by the zlib that Node bundles; byte identity across Node
 * versions holds only while that zlib produces the same deflate output (docs/formats/tar.md).
 */
export function gzipDeterministic(
  source: Readable | AsyncIterable<Uint8Array>,
  level: number = DEFAULT_GZIP_LEVEL,
): Readable {
  const gz = createGzip({ level, chunkSize: 64 * 1024 });
  let offset = 0;
  const patch = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      // Byte 9 of the member header is OS (RFC 1952 §2.3); patch it wherever the chunk boundary falls.
      if (offset <= 9 && offset + chunk.length > 9) {
        chunk = Buffer.from(chunk);
        chunk[9 - offset] = GZIP_OS_UNIX;
      }
      offset += chunk.length;
      cb(null, chunk);
    },
  });
  pipeline(source, gz, patch, () => undefined);
  return patch;
}
