/**
 * Pieces both drivers share: option validation, the hashing pass over a body, WORM checks and
 * range resolution. Keeping them in one place is what makes the two drivers agree on every edge
 * (the contract suite checks they do).
 */
import { createHash, type Hash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import { assertValidPrefix, decodeCursor, encodeCursor, parseExpectedDigest, parseLimit } from './object-key.js';
import type {
  ByteRange,
  ListItem,
  ListOptions,
  ListPage,
  ObjectBody,
  ObjectInfo,
  PutOptions,
  Sha256Digest,
} from './object-store.js';

/** Validated put options. */
export interface CheckedPutOptions {
  expectedDigest?: Sha256Digest;
  size?: number;
  contentType?: string;
  retainUntil?: Date;
  legalHold: boolean;
}

const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

/** Validates put options before a single byte is read (`VALIDATION_FAILED` / `DIGEST_INVALID`). */
export function checkPutOptions(opts: PutOptions | undefined): CheckedPutOptions {
  const o = opts ?? {};
  const out: CheckedPutOptions = { legalHold: false };
  const d = parseExpectedDigest(o.expectedDigest);
  if (d) out.expectedDigest = d;
  if (o.size !== undefined) {
    if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
      throw new StellaError('VALIDATION_FAILED', 'size must be a non-negative integer', { details: { size: o.size } });
    }
    out.size = o.size;
  }
  if (o.contentType !== undefined) {
    if (typeof o.contentType !== 'string' || !CONTENT_TYPE.test(o.contentType)) {
      throw new StellaError('VALIDATION_FAILED', 'contentType must be 1…255 printable ASCII characters', {
        details: { contentType: String(o.contentType).slice(0, 80) },
      });
    }
    out.contentType = o.contentType;
  }
  if (o.retainUntil !== undefined) out.retainUntil = checkDate(o.retainUntil, 'retainUntil');
  if (o.legalHold !== undefined) {
    if (typeof o.legalHold !== 'boolean') throw new StellaError('VALIDATION_FAILED', 'legalHold must be a boolean');
    out.legalHold = o.legalHold;
  }
  return out;
}

/**
 * A valid Date rounded UP to a whole second: S3 Object Lock stores retain-until dates with second
 * precision, and rounding up means the retention is never shorter than asked.
 */
export function checkDate(d: unknown, name: string): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new StellaError('VALIDATION_FAILED', `${name} must be a valid Date`);
  }
  return new Date(Math.ceil(d.getTime() / 1000) * 1000);
}

/** Iterate any accepted body as Uint8Array chunks. */
export function bodyChunks(body: ObjectBody): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) {
    return (async function* () {
      if (body.byteLength > 0) yield body;
    })();
  }
  if (
    body === null ||
    typeof body !== 'object' ||
    typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function'
  ) {
    throw new StellaError('VALIDATION_FAILED', 'body must be a Readable, an AsyncIterable<Uint8Array> or a Uint8Array');
  }
  return body as AsyncIterable<Uint8Array>;
}

/** Release a body we will not read (a refused put), so the caller's source does not leak. */
export function discardBody(body: ObjectBody): void {
  if (body instanceof Readable) body.destroy();
}

/**
 * Run the checks that may refuse a put before a single byte of `body` is read; when one throws,
 * the body is released ({@link discardBody}) and the error rethrown unchanged.
 */
export async function admitPut<T>(body: ObjectBody, checks: () => T | Promise<T>): Promise<T> {
  try {
    return await checks();
  } catch (err) {
    discardBody(body);
    throw err;
  }
}

/** The `OBJECT_NOT_FOUND` error both drivers raise for a missing key. */
export function notFound(key: string): StellaError {
  return new StellaError('OBJECT_NOT_FOUND', `no object ${key}`, { details: { key } });
}

/** A legal-hold flag from an untyped caller must be a real boolean (`VALIDATION_FAILED`). */
export function checkLegalHoldFlag(on: unknown): asserts on is boolean {
  if (typeof on !== 'boolean') throw new StellaError('VALIDATION_FAILED', 'legal hold flag must be a boolean');
}

/** Validated list arguments: the prefix, the page size and the key the cursor points after. */
export function listWindow(
  prefix: string,
  opts: ListOptions | undefined,
): { limit: number; after: string | undefined } {
  assertValidPrefix(prefix);
  return { limit: parseLimit(opts?.limit), after: decodeCursor(opts?.cursor) };
}

/**
 * A page from up to `limit + 1` ascending items: the extra item only tells that more exist, so it
 * is dropped and the cursor points after the last item kept.
 */
export function toListPage(items: ListItem[], limit: number): ListPage {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, nextCursor: encodeCursor(kept[limit - 1]!.key) };
}

/**
 * Tracks digest and size while bytes stream through, and stops the stream as soon as more bytes
 * than a declared `size` arrive (no need to swallow a huge body to refuse it).
 */
export class DigestCounter {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  constructor(private readonly declaredSize?: number) {}

  /** Account for one chunk; throws `OBJECT_SIZE_MISMATCH` once the declared size is exceeded. */
  update(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) {
      throw new StellaError('VALIDATION_FAILED', 'body yielded a chunk that is not a Uint8Array');
    }
    this.size += chunk.byteLength;
    if (this.declaredSize !== undefined && this.size > this.declaredSize) {
      throw new StellaError('OBJECT_SIZE_MISMATCH', `body is longer than the declared ${this.declaredSize} bytes`, {
        details: { expectedSize: this.declaredSize, actualSizeAtLeast: this.size },
      });
    }
    this.hash.update(chunk);
  }

  /** The final digest (call once, after the last chunk). */
  digest(): Sha256Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** After the last byte: size and digest must match what was declared. */
export function verifyWritten(
  digest: Sha256Digest,
  size: number,
  opts: CheckedPutOptions,
  keyDigest?: Sha256Digest,
): void {
  if (opts.size !== undefined && size !== opts.size) {
    throw new StellaError('OBJECT_SIZE_MISMATCH', `body has ${size} bytes, declared ${opts.size}`, {
      details: { expectedSize: opts.size, actualSize: size },
    });
  }
  for (const expected of [opts.expectedDigest, keyDigest]) {
    if (expected !== undefined && expected !== digest) {
      throw new StellaError('OBJECT_DIGEST_MISMATCH', 'body does not match the expected digest; nothing was stored', {
        details: { expectedDigest: expected, actualDigest: digest },
      });
    }
  }
}

/** Why an object is write-protected right now, or undefined when it is not. */
export function wormReason(info: Pick<ObjectInfo, 'retainUntil' | 'legalHold'>, nowMs: number): string | undefined {
  if (info.legalHold) return 'legal hold';
  if (info.retainUntil && info.retainUntil.getTime() > nowMs) return `retained until ${info.retainUntil.toISOString()}`;
  return undefined;
}

/** Throws `OBJECT_RETAINED` when the object may not be overwritten or deleted. */
export function assertNotRetained(
  key: string,
  info: Pick<ObjectInfo, 'retainUntil' | 'legalHold'>,
  nowMs: number,
  action: string,
): void {
  const reason = wormReason(info, nowMs);
  if (reason) {
    throw new StellaError('OBJECT_RETAINED', `cannot ${action} ${key}: ${reason}`, {
      details: { key, legalHold: info.legalHold, retainUntil: info.retainUntil?.toISOString() },
    });
  }
}

/** Throws `OBJECT_RETAINED` if `until` would shorten the current retention. */
export function assertExtends(key: string, current: Date | undefined, until: Date): void {
  if (current && until.getTime() < current.getTime()) {
    throw new StellaError('OBJECT_RETAINED', `retention of ${key} can only be extended, not shortened`, {
      details: { key, retainUntil: current.toISOString(), requested: until.toISOString() },
    });
  }
}

/** Resolve a requested range against the object size (`OBJECT_RANGE_INVALID` if unsatisfiable). */
export function resolveRange(range: ByteRange | undefined, size: number): { start: number; end: number } | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range;
  const ok =
    Number.isSafeInteger(start) && start >= 0 && (end === undefined || (Number.isSafeInteger(end) && end >= start));
  if (!ok)
    throw new StellaError('OBJECT_RANGE_INVALID', 'range needs integers 0 <= start <= end', { details: { range } });
  if (start >= size) {
    throw new StellaError('OBJECT_RANGE_INVALID', `range starts at ${start}, object has ${size} bytes`, {
      details: { range, size },
    });
  }
  return { start, end: Math.min(end ?? size - 1, size - 1) };
}

/** Wrap an unexpected storage failure (I/O, network) as `OBJECT_STORE_UNAVAILABLE`. */
export function unavailable(what: string, cause: unknown): StellaError {
  return new StellaError('OBJECT_STORE_UNAVAILABLE', `object store failed to ${what}`, { cause });
}

/**
 * A per-key async mutex: serialises check-then-publish sequences (WORM check, then rename) inside
 * one process.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** The `OBJECT_CORRUPT` error: what is stored fails an integrity check. */
export function corrupt(key: string, reason: string, details: Record<string, unknown> = {}): StellaError {
  return new StellaError('OBJECT_CORRUPT', `object ${key} failed an integrity check: ${reason}`, {
    details: { key, reason, ...details },
  });
}

/**
 * Verify-on-read: pass `source` through, hashing every byte, and end the stream only if the bytes
 * hash to `digest` and number exactly `size`; otherwise the stream fails with `OBJECT_CORRUPT`.
 *
 * The last chunk is held back until the check passes. A consumer that pipes into an HTTP response
 * with a `Content-Length` therefore never receives the full length of a corrupt object, so even a
 * client that ignores the aborted connection sees a short body, never a "complete" wrong one.
 * Memory cost: one chunk.
 */
export function verifyingStream(source: Readable, key: string, digest: Sha256Digest, size: number): Readable {
  const hash = createHash('sha256');
  let seen = 0;
  let held: Buffer | undefined;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      seen += chunk.length;
      const out = held;
      held = chunk;
      cb(null, out);
    },
    flush(cb) {
      const actual: Sha256Digest = `sha256:${hash.digest('hex')}`;
      if (seen !== size || actual !== digest) {
        cb(
          corrupt(key, 'stored bytes do not match the recorded digest', {
            digest,
            actualDigest: actual,
            size,
            actualSize: seen,
          }),
        );
      } else cb(null, held);
    },
  });
  // pipeline() propagates errors both ways: a failing source fails `check`, and a consumer that
  // destroys `check` early also closes the source (and its file handle or HTTP socket).
  pipeline(source, check, () => {});
  return check;
}

/** Validates `sweepAbandoned`'s age: files younger than this are left to the writer that owns them. */
export function checkSweepAge(olderThanMs: unknown): number {
  if (typeof olderThanMs !== 'number' || !Number.isSafeInteger(olderThanMs) || olderThanMs < 0) {
    throw new StellaError('VALIDATION_FAILED', 'olderThanMs must be a non-negative integer (milliseconds)', {
      details: { olderThanMs },
    });
  }
  return olderThanMs;
}
