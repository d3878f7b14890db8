/**
 * Object key rules, shared by every driver so that a key valid on the filesystem is valid on S3
 * and back (docs/object-store.md "Keys").
 *
 * - 1…1024 bytes (S3's key limit), ASCII only from `[A-Za-z0-9._\-:@+=,]` plus `/` as separator;
 *   so no NUL, no backslash, no spaces, no `~` (reserved for driver-internal names: the fs
 *   driver's `~meta`/`~b-…` files and the S3 driver's `~stella/` staging prefix, which therefore
 *   can never collide with a caller's key).
 * - `/`-separated segments: no empty segment (no leading/trailing `/`, no `//`), no `.` or `..`
 *   (path traversal), each at most 200 bytes (leaves room for the fs driver's suffixes under
 *   the usual 255-byte file-name limit).
 * - A key that starts with `sha256:` is a content address and must be exactly `sha256:` + 64
 *   lowercase hex digits. Any other *digest-shaped* start (`SHA256:<HEX>`, `sha512:…`, `md5:…`,
 *   `<alg>:<32+ hex>`) is refused rather than stored as a plain, unverified named key: a reader
 *   would take it for a content address the store never checked (issue 19 finding 9).
 */
import { StellaError } from '@stella/core/errors';
import type { Sha256Digest } from './object-store.js';

export const MAX_KEY_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 200;
const KEY_CHARS = /^[A-Za-z0-9._\-:@+=,/]+$/;
const CAS_KEY = /^sha256:[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/**
 * The first segment looks like a digest: an algorithm (OCI image-spec "Digests" grammar, any case)
 * that names a hash function (sha1, SHA-256, sha3-256, md5, blake3, …), or any algorithm followed by 32+ hex digits (md5 length and up; short
 * values such as `build:1234` stay ordinary names).
 */
const DIGEST_SHAPED =
  /^(?:(?:sha[-_]?\d|md\d|blake\d|shake\d|ripemd\d|crc\d|xxh|sm3)[a-z0-9+._-]*:|[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-f]{32,}(?:\/|$))/i;

function shown(key: string): string {
  return key.length > 80 ? `${key.slice(0, 80)}…` : key;
}

function invalid(key: unknown, reason: string): StellaError {
  return new StellaError('OBJECT_KEY_INVALID', `invalid object key: ${reason}`, {
    details: { key: typeof key === 'string' ? shown(key) : typeof key, reason },
  });
}

/** Throws `OBJECT_KEY_INVALID` unless `key` follows the rules above. */
export function assertValidKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw invalid(key, 'not a string');
  if (key.length === 0) throw invalid(key, 'empty');
  // Checked before the charset so an oversized key is reported as such. All allowed chars are
  // ASCII, so length in UTF-16 units equals bytes once the charset passes.
  if (key.length > MAX_KEY_BYTES) throw invalid(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (!KEY_CHARS.test(key)) throw invalid(key, 'characters outside [A-Za-z0-9._-:@+=,/]');
  if (key.startsWith('sha256:')) {
    if (!CAS_KEY.test(key)) throw invalid(key, 'a sha256: key must be 64 lowercase hex digits');
    return;
  }
  if (DIGEST_SHAPED.test(key)) {
    throw invalid(key, 'looks like a digest; the only content address is sha256:<64 lowercase hex>');
  }
  for (const seg of key.split('/')) {
    if (seg === '') throw invalid(key, 'empty path segment (leading, trailing or double slash)');
    if (seg === '.' || seg === '..') throw invalid(key, 'dot segment (path traversal)');
    if (seg.length > MAX_SEGMENT_BYTES) throw invalid(key, `segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
}

/**
 * A list prefix may be any prefix of a valid key (including `''`, a trailing `/`, or a partial
 * `sha256:ab`); it is checked only for charset and length.
 */
export function assertValidPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw invalid(prefix, 'prefix is not a string');
  if (prefix.length > MAX_KEY_BYTES) throw invalid(prefix, `prefix longer than ${MAX_KEY_BYTES} bytes`);
  if (prefix !== '' && !KEY_CHARS.test(prefix))
    throw invalid(prefix, 'prefix has characters outside [A-Za-z0-9._-:@+=,/]');
}

/** True for a content-addressed key (`sha256:<64 hex>`). */
export function isContentAddressedKey(key: string): key is Sha256Digest {
  return CAS_KEY.test(key);
}

/** Validates an `expectedDigest` option; `OBJECT_DIGEST_MISMATCH` would be misleading here. */
export function parseExpectedDigest(d: unknown): Sha256Digest | undefined {
  if (d === undefined) return undefined;
  if (typeof d !== 'string' || !DIGEST.test(d)) {
    throw new StellaError('DIGEST_INVALID', 'expectedDigest must be sha256:<64 lowercase hex>', {
      details: { expectedDigest: typeof d === 'string' ? shown(d) : typeof d },
    });
  }
  return d as Sha256Digest;
}

/** Opaque list cursor: base64url of the last key returned. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; anything else is `VALIDATION_FAILED`. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const key =
    typeof cursor === 'string' && /^[A-Za-z0-9_-]+$/.test(cursor)
      ? Buffer.from(cursor, 'base64url').toString('utf8')
      : '';
  if (key === '' || key.length > MAX_KEY_BYTES || !KEY_CHARS.test(key) || encodeCursor(key) !== cursor) {
    throw new StellaError('VALIDATION_FAILED', 'list cursor is malformed', {
      details: { cursor: String(cursor).slice(0, 80) },
    });
  }
  return key;
}

/** Validates `limit` (1…1000, default 1000). */
export function parseLimit(limit: unknown): number {
  if (limit === undefined) return 1000;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new StellaError('VALIDATION_FAILED', 'list limit must be an integer 1…1000', { details: { limit } });
  }
  return limit;
}
