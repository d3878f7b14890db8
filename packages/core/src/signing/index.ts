/**
 * Signing primitives shared by DSSE, TUF and timestamps: the {@link Signer} port, key ids, key
 * parsing (PEM/JWK/DER via node:crypto), in-memory signers and verification. No I/O: key files
 * and HSMs are reached through `@stella/platform/keys`.
 */
export type { KeySet, SignatureAlgorithm, Signer, VerificationKey } from './signer.js';
export { SIGNATURE_ALGORITHMS } from './signer.js';
export { isKeyId, keyIdFromSpki, keyIdHint, normalizeKeyIdHint } from './key-id.js';
export {
  MIN_RSA_BITS,
  algorithmOfKey,
  parsePrivateKey,
  parsePublicKey,
  publicKeyIdentity,
  spkiDer,
  spkiPem,
  type PrivateKeyOptions,
} from './key-parsing.js';
export {
  RSA_PSS_SALT_LENGTH,
  createKeySigner,
  keySetFromPublicKeys,
  signWithKey,
  verificationKey,
  verifyWithKey,
} from './key-signer.js';
export { derToP1363, p1363ToDer } from './ecdsa-signature.js';
