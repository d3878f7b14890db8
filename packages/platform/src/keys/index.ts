/**
 * Signing key providers (DESIGN.md §3 "Signing"): signer URIs (`file:`, RFC 7512 `pkcs11:`),
 * file keys (PEM/JWK), PKCS#11 tokens via pkcs11js, and dev key generation. See docs/keys.md.
 */
export {
  parseSignerUri,
  redactSignerUri,
  type FileSignerRef,
  type Pkcs11SignerRef,
  type SignerRef,
} from './signer-uri.js';
export {
  MAX_KEY_FILE_BYTES,
  loadFileSigner,
  loadPublicKeyFile,
  notAPrivateKey,
  readKeyFile,
} from './file-key-provider.js';
export { openPkcs11Signer, type Pkcs11Signer } from './pkcs11-provider.js';
export { resolveSigner, type ResolveSignerOptions, type ResolvedSigner } from './resolve-signer.js';
export { generateFileKey, type GeneratedKey } from './generate-key.js';
