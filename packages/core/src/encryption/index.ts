/**
 * Encryption for bundles crossing an air gap: age v1 (X25519, interoperable with the `age` CLI)
 * and a chunked AES-256-GCM envelope whose data key is wrapped per recipient (age X25519,
 * RSA-OAEP-256, AES-256-KW, or any {@link KeyWrapper} such as a KMS or PKCS#11 token).
 * Streams only, no I/O. Format: docs/formats/encryption.md.
 */
export {
  ageDecrypt,
  ageDecryptStream,
  ageEncrypt,
  ageEncryptStream,
  ageRecipientOf,
  generateAgeIdentity,
  parseAgeIdentityFile,
  type AgeKeyPair,
} from './age-codec.js';
export {
  aesKeyWrapper,
  ageKeyWrapper,
  publicKeyFingerprint,
  rsaOaepKeyWrapper,
  type KeyWrapper,
} from './key-wrappers.js';
export {
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  MAX_CHUNK_SIZE,
  MAX_HEADER_BYTES,
  MIN_CHUNK_SIZE,
  TAG_BYTES,
  parseEnvelopeHeader,
  type EnvelopeHeader,
  type EnvelopeStanza,
} from './envelope-format.js';
export {
  createDecryptStream,
  createEncryptStream,
  decryptEnvelope,
  encryptEnvelope,
  type DecryptOptions,
  type EncryptOptions,
} from './envelope-stream.js';
