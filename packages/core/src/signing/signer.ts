import type { KeyObject } from 'node:crypto';

/**
 * Signature algorithms the project signs and verifies with (DESIGN.md §3 "Signing").
 *
 * - `ed25519`: pure Ed25519 (RFC 8032), 64-byte raw signatures.
 * - `ecdsa-p256-sha256`: ECDSA over P-256 with SHA-256; signatures are DER (ASN.1 `ECDSA-Sig-Value`,
 *   RFC 3279 §2.2.3), which openssl, securesystemslib and sigstore-js expect.
 * - `rsa-pss-sha256`: RSASSA-PSS (RFC 8017 §8.1) with SHA-256, MGF1-SHA-256 and a salt as long as
 *   the digest (32 bytes) — securesystemslib's `rsassa-pss-sha256` and TUF use exactly this.
 */
export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256' | 'rsa-pss-sha256';

/** Every {@link SignatureAlgorithm}, in a fixed order. */
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'];

/**
 * Something that signs bytes with one private key. The key may live in memory, in a file or in
 * an HSM; callers only see the public half and the signature.
 */
export interface Signer {
  /** `sha256:<hex>` of the SubjectPublicKeyInfo DER ({@link keyIdFromSpki}). */
  readonly keyId: string;
  readonly algorithm: SignatureAlgorithm;
  /** The public key as SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7). */
  publicKeySpki(): Uint8Array;
  /** Sign `data` (the whole message; the signer hashes it as its algorithm requires). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A public key that verifies signatures, with its key id and algorithm. */
export interface VerificationKey {
  /** `sha256:<hex>` of the SPKI DER. */
  readonly keyId: string;
  readonly algorithm: SignatureAlgorithm;
  readonly publicKey: KeyObject;
}

/**
 * A set of trusted public keys, keyed by `sha256:<hex>` key id. Build one with
 * `keySetFromPublicKeys` so ids and algorithms are always derived from the keys themselves.
 */
export type KeySet = ReadonlyMap<string, VerificationKey>;
