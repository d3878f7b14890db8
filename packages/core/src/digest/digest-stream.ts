/**
 * Streaming hashers: large inputs (1 GiB exports, artifacts) are hashed chunk by chunk so memory
 * stays constant. Core does no I/O; callers hand in a stream or async iterable they opened.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { DigestAlgorithm } from './digest.js';

/** Result of hashing a stream. */
export interface StreamDigest {
  /** `<algorithm>:<hex>`. */
  digest: string;
  /** Lowercase hex. */
  hex: string;
  /** Number of bytes hashed. */
  size: number;
}

/**
 * A pass-through Transform that hashes what flows through it. Put it in a `pipeline()` between a
 * source and a sink; `result` resolves (after the last chunk has passed) with the digest and size,
 * and rejects if the stream is destroyed before it ends.
 */
export class DigestStream extends Transform {
  /** Resolves when the stream has flushed. */
  readonly result: Promise<StreamDigest>;
  private readonly hash;
  private readonly algorithm: DigestAlgorithm;
  private size = 0;
  private settle!: { resolve: (d: StreamDigest) => void; reject: (e: Error) => void };

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    super();
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
    this.result = new Promise<StreamDigest>((resolve, reject) => (this.settle = { resolve, reject }));
    // Unobserved rejections must not crash the process when the caller only uses the stream.
    this.result.catch(() => undefined);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const hex = this.hash.digest('hex');
    this.settle.resolve({ digest: `${this.algorithm}:${hex}`, hex, size: this.size });
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.settle.reject(err ?? new Error('digest stream destroyed before end'));
    cb(err);
  }
}

/** A new {@link DigestStream}. */
export function createDigestStream(algorithm: DigestAlgorithm = 'sha256'): DigestStream {
  return new DigestStream(algorithm);
}

/**
 * Hashes every chunk of an async iterable (a Readable, a web ReadableStream, a generator) without
 * keeping it. Strings are hashed as UTF-8.
 */
export async function digestStream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  algorithm: DigestAlgorithm = 'sha256',
): Promise<StreamDigest> {
  const hash = createHash(algorithm);
  let size = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    hash.update(buf);
    size += buf.length;
  }
  const hex = hash.digest('hex');
  return { digest: `${algorithm}:${hex}`, hex, size };
}
