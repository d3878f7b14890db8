/**
 * Sigstore bundle v0.3 rendering, parsing and offline verification for DSSE envelopes signed with a plain public key
 * (no Fulcio certificate, no Rekor entry), with optional RFC 3161 timestamps — the shape that
 * `@sigstore/verify@3` accepts offline. See docs/formats/dsse.md.
 */
export {
  SIGSTORE_BUNDLE_V03_LEGACY_MEDIA_TYPE,
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  parseSigstoreBundle,
  serializeSigstoreBundle,
  signatureToTimestamp,
  sigstorePublicKeyDetails,
  toSigstoreBundle,
  type ParsedSigstoreBundle,
  type SigstoreBundleJson,
  type SigstoreBundleOptions,
} from './sigstore-bundle.js';
export {
  verifySigstoreBundle,
  type VerifiedSigstoreBundle,
  type VerifySigstoreBundleOptions,
} from './sigstore-verify.js';
