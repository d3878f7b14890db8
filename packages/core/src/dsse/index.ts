/**
 * DSSE v1 (Dead Simple Signing Envelope, secure-systems-lab/dsse): PAE, envelope parsing and
 * deterministic serialization, multi-signature signing and threshold verification.
 * See docs/formats/dsse.md.
 */
export { pae } from './pae.js';
export { decodeBase64Strict, encodeBase64 } from './base64-strict.js';
export {
  DEFAULT_MAX_ENVELOPE_BYTES,
  envelopeFromJson,
  envelopeToJson,
  parseEnvelope,
  serializeEnvelope,
  type DsseEnvelope,
  type DsseEnvelopeJson,
  type DsseSignature,
  type ParseEnvelopeOptions,
} from './dsse-envelope.js';
export { signEnvelope } from './sign-envelope.js';
export {
  verifyEnvelope,
  type SignatureCheck,
  type VerifiedEnvelope,
  type VerifyEnvelopeOptions,
} from './verify-envelope.js';
