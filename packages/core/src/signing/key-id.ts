import { createHash } from 'node:crypto';
import { StellaError } from '../errors/index.js';

const KEY_ID_RE = /^sha256:[0-9a-f]{64}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

/**
 * The project's key id: `sha256:<lowercase hex>` of the SubjectPublicKeyInfo DER (RFC 5280
 * §4.1.2.7). Hashing the SPKI (not the raw key) binds the algorithm and curve into the id, so the
 * same id never names two keys of different types. Reproduce with
 * `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.
 */
export function keyIdFromSpki(spkiDer: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spkiDer).digest('hex')}`;
}

/**
 * The form of a key id written into DSSE `signatures[].keyid` and the Sigstore
 * `publicKey.hint`: the bare 64-char hex without the `sha256:` prefix. securesystemslib requires
 * hex key ids (`[a-fA-F0-9]+`), so this keeps envelopes checkable by it (docs/adr/0007).
 */
export function keyIdHint(keyId: string): string {
  if (!KEY_ID_RE.test(keyId)) throw new StellaError('KEY_INVALID', `not a key id: ${JSON.stringify(keyId)}`);
  return keyId.slice('sha256:'.length);
}

/**
 * Normalises a key id hint as found in an envelope: `sha256:<hex>` or bare hex (any case) →
 * `sha256:<lowercase hex>`; anything else (including `""`) → `undefined`, meaning "no usable hint".
 */
export function normalizeKeyIdHint(hint: string): string | undefined {
  const lower = hint.toLowerCase();
  if (KEY_ID_RE.test(lower)) return lower;
  if (HEX64_RE.test(lower)) return `sha256:${lower}`;
  return undefined;
}

/** True for a well-formed `sha256:<64 lowercase hex>` key id. */
export function isKeyId(value: string): boolean {
  return KEY_ID_RE.test(value);
}
