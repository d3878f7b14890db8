import { StellaError } from '../errors/index.js';

/*
 * ECDSA signature encodings. PKCS#11 `CKM_ECDSA` (and WebCrypto) return IEEE P1363 `r || s`, each
 * left-padded to the field size; DSSE consumers (openssl, securesystemslib, sigstore-js) expect the
 * DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` of RFC 3279 §2.2.3.
 */

function derInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  // INTEGER is two's complement: a leading 1 bit needs a 0x00 pad to stay positive (X.690 §8.3).
  const pad = (trimmed[0]! & 0x80) !== 0 ? 1 : 0;
  const out = new Uint8Array(2 + pad + trimmed.length);
  out[0] = 0x02;
  out[1] = pad + trimmed.length;
  out.set(trimmed, 2 + pad);
  return out;
}

/**
 * Converts an IEEE P1363 `r || s` signature (64 bytes for P-256) into DER. Throws KEY_INVALID when
 * the length is not `2 * fieldBytes`.
 */
export function p1363ToDer(raw: Uint8Array, fieldBytes = 32): Uint8Array {
  if (raw.length !== 2 * fieldBytes) {
    throw new StellaError('KEY_INVALID', `ECDSA raw signature must be ${2 * fieldBytes} bytes, got ${raw.length}`);
  }
  const r = derInteger(raw.subarray(0, fieldBytes));
  const s = derInteger(raw.subarray(fieldBytes));
  const body = r.length + s.length; // ≤ 2 × 35 bytes for P-256, so short-form length (X.690 §8.1.3.4)
  const out = new Uint8Array(2 + body);
  out[0] = 0x30;
  out[1] = body;
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/**
 * Converts a DER `ECDSA-Sig-Value` into IEEE P1363 `r || s`. Strict: rejects trailing bytes,
 * long-form lengths, non-minimal or negative integers and values wider than the field, with
 * KEY_INVALID.
 */
export function derToP1363(der: Uint8Array, fieldBytes = 32): Uint8Array {
  const fail = (why: string): never => {
    throw new StellaError('KEY_INVALID', `malformed DER ECDSA signature: ${why}`);
  };
  if (der.length < 8 || der[0] !== 0x30) fail('not a SEQUENCE');
  if (der[1]! & 0x80 || der[1] !== der.length - 2) fail('bad SEQUENCE length');
  const out = new Uint8Array(2 * fieldBytes);
  let pos = 2;
  for (let n = 0; n < 2; n++) {
    if (der[pos] !== 0x02) fail('expected INTEGER');
    const len = der[pos + 1] ?? 0;
    if (len === 0 || len & 0x80 || pos + 2 + len > der.length) fail('bad INTEGER length');
    const v = der.subarray(pos + 2, pos + 2 + len);
    if (v[0]! & 0x80) fail('negative INTEGER');
    if (len > 1 && v[0] === 0 && !(v[1]! & 0x80)) fail('non-minimal INTEGER');
    const mag = v[0] === 0 && len > 1 ? v.subarray(1) : v;
    if (mag.length > fieldBytes) fail('INTEGER wider than the field');
    out.set(mag, (n + 1) * fieldBytes - mag.length);
    pos += 2 + len;
  }
  if (pos !== der.length) fail('trailing bytes');
  return out;
}
