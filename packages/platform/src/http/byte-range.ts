/**
 * One `Range: bytes=start-end` / `bytes=start-` on an immutable download (RFC 9110 §14.1.2).
 * Undefined: serve it all — other forms (suffix, several ranges) are ignored, which RFC 9110
 * allows. A range that starts past the end is 416 OBJECT_RANGE_INVALID.
 */
import { StellaError } from '@stella/core/errors';

export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start)
    throw new StellaError('OBJECT_RANGE_INVALID', `range ${header} is not satisfiable for ${size} bytes`, {
      details: { size },
    });
  return { start, end };
}
