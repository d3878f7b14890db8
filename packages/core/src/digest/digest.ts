/**
 * Content digests in the OCI/in-toto textual form `<algorithm>:<lowercase hex>` (DESIGN.md §3:
 * ETags, manifests and checksums all use `sha256:<hex>`). Hashing is node:crypto (OpenSSL), which
 * is CPU work, not I/O, so it belongs in core.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { StellaError } from '../errors/index.js';

/** Algorithms we accept in digest strings, with their hex length. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
/** A supported digest algorithm. */
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** A parsed digest string. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex. */
  hex: string;
}

/** SHA-256 of `data` as raw 32 bytes. */
export function sha256(data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** SHA-256 of `data` as lowercase hex. Strings are hashed as UTF-8. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>` of `data`. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${sha256Hex(data)}`;
}

/**
 * Formats `<algorithm>:<hex>` after checking the hex has the algorithm's length.
 * @throws StellaError DIGEST_INVALID for an unknown algorithm or hex of the wrong shape.
 */
export function formatDigest(algorithm: DigestAlgorithm, hex: string): string {
  return `${algorithm}:${checkHex(algorithm, hex.toLowerCase(), `${algorithm}:${hex}`)}`;
}

function checkHex(algorithm: string, hex: string, input: string): string {
  const len = (DIGEST_ALGORITHMS as Record<string, number>)[algorithm];
  if (len === undefined)
    throw new StellaError('DIGEST_INVALID', `unsupported digest algorithm ${JSON.stringify(algorithm)}`, {
      details: { input },
    });
  if (hex.length !== len || !/^[0-9a-f]+$/.test(hex)) {
    throw new StellaError(
      'DIGEST_INVALID',
      `digest ${JSON.stringify(input)} is not ${algorithm}:<${len} lowercase hex>`,
      { details: { input } },
    );
  }
  return hex;
}

/**
 * Parses `<algorithm>:<hex>`. Uppercase hex is rejected (OCI image-spec "Digests" requires
 * lowercase, and accepting both would make two spellings of one digest compare unequal as strings).
 * @throws StellaError DIGEST_INVALID
 */
export function parseDigest(input: string): ParsedDigest {
  if (typeof input !== 'string') throw new StellaError('DIGEST_INVALID', 'digest is not a string');
  const i = input.indexOf(':');
  if (i <= 0)
    throw new StellaError('DIGEST_INVALID', `digest ${JSON.stringify(input)} has no algorithm prefix`, {
      details: { input },
    });
  const algorithm = input.slice(0, i);
  const hex = checkHex(algorithm, input.slice(i + 1), input);
  return { algorithm: algorithm as DigestAlgorithm, hex };
}

/** True when `input` parses as a digest. */
export function isDigest(input: string): boolean {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * Constant-time comparison of two digest strings (or raw digests). Malformed or differently-sized
 * inputs compare unequal without throwing. Timing only leaks whether the lengths/algorithms match,
 * never where the first differing byte is.
 */
export function digestEquals(a: string | Uint8Array, b: string | Uint8Array): boolean {
  let x: Uint8Array;
  let y: Uint8Array;
  if (typeof a === 'string' || typeof b === 'string') {
    if (typeof a !== 'string' || typeof b !== 'string') return false;
    let pa: ParsedDigest;
    let pb: ParsedDigest;
    try {
      pa = parseDigest(a);
      pb = parseDigest(b);
    } catch {
      return false;
    }
    if (pa.algorithm !== pb.algorithm) return false;
    x = Buffer.from(pa.hex, 'hex');
    y = Buffer.from(pb.hex, 'hex');
  } else {
    x = a;
    y = b;
  }
  return x.length === y.length && timingSafeEqual(x, y);
}
