import { StellaError } from '../errors/index.js';

/*
 * DSSE (envelope.md, "Base64()") allows standard (RFC 4648 §4) or URL-safe (§5) base64 in
 * decoders and asks encoders for standard. We accept exactly those two alphabets, each on its
 * own (no mixing), both with mandatory `=` padding (as the reference Go implementation's
 * StdEncoding/URLEncoding do — so a truncated string is caught, not silently shortened), no
 * whitespace, and only the canonical encoding (unused trailing bits zero, RFC 4648 §3.5), so one
 * byte string has exactly one accepted spelling per alphabet.
 *
 * Node's decoder silently skips garbage, so we decode natively and then require that re-encoding
 * reproduces the input exactly; that one comparison enforces every rule above and runs at native
 * speed on multi-megabyte payloads (JS regex or per-character scans were 10× slower). Only on
 * failure is the input scanned again to say what is wrong.
 */

/** 6-bit value of a base64 character of either alphabet, or -1. */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  if (c === 43 || c === 45) return 62; // + -
  if (c === 47 || c === 95) return 63; // / _
  return -1;
}

/** Why `text` (length a multiple of 4) is not canonical padded base64; called on failure only. */
function explain(text: string): string {
  const n = text.length;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  let std = false;
  let url = false;
  for (let i = 0; i < n - pad; i++) {
    const c = text.charCodeAt(i);
    if (c === 43 || c === 47) std = true;
    else if (c === 45 || c === 95) url = true;
    else if (sextet(c) < 0) return c === 61 ? `misplaced padding at offset ${i}` : `bad character at offset ${i}`;
  }
  if (std && url) return 'mixes the standard and URL-safe alphabets';
  return 'non-canonical encoding (non-zero trailing bits)';
}

/** Standard base64 with padding (what DSSE encoders should emit). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard or URL-safe base64 strictly (see above). Throws BASE64_INVALID naming `what`
 * (e.g. `payload`) on any deviation: bad characters, truncation, wrong padding, mixed alphabets,
 * non-canonical trailing bits.
 */
export function decodeBase64Strict(text: string, what: string): Uint8Array {
  const fail = (why: string): never => {
    throw new StellaError('BASE64_INVALID', `${what} is not valid base64: ${why}`, { details: { field: what } });
  };
  if (text.length % 4 !== 0) fail('length is not a multiple of 4 (truncated or unpadded)');
  const url = text.includes('-') || text.includes('_');
  const bytes = Buffer.from(text, url ? 'base64url' : 'base64');
  let again = bytes.toString(url ? 'base64url' : 'base64');
  if (url) again += '='.repeat((4 - (again.length % 4)) % 4); // Node's base64url omits padding
  if (again !== text) fail(explain(text));
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
