import { parseJson } from '../canonical-json/index.js';
import { decodeBase64Strict, encodeBase64 } from '../dsse/base64-strict.js';
import { envelopeFromJson, envelopeToJson, type DsseEnvelope, type DsseEnvelopeJson } from '../dsse/dsse-envelope.js';
import { StellaError } from '../errors/index.js';
import { normalizeKeyIdHint } from '../signing/key-id.js';
import type { SignatureAlgorithm } from '../signing/signer.js';

/** Media type of a Sigstore bundle v0.3 (sigstore/protobuf-specs `bundle.proto`). */
export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Older spelling of the v0.3 media type, still accepted by `@sigstore/bundle`; we accept it on input. */
export const SIGSTORE_BUNDLE_V03_LEGACY_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.3';

/** JSON form of the bundle we emit: a DSSE envelope verified by a public key, optionally timestamped. */
export interface SigstoreBundleJson {
  mediaType: string;
  verificationMaterial: {
    publicKey: { hint: string };
    tlogEntries: [];
    timestampVerificationData?: { rfc3161Timestamps: { signedTimestamp: string }[] };
  };
  dsseEnvelope: DsseEnvelopeJson;
}

/** Options for {@link toSigstoreBundle}. */
export interface SigstoreBundleOptions {
  /**
   * Which signature to put in the bundle, by key id (`sha256:<hex>` or bare hex). Sigstore
   * verifies exactly one signature per bundle, so an envelope with several needs this.
   */
  keyId?: string;
  /** The `publicKey.hint` (default: the chosen signature's keyid, i.e. hex SHA-256 of its SPKI). */
  publicKeyHint?: string;
  /**
   * DER `TimeStampResp` messages (RFC 3161 §2.4.2, status + token — not a bare token) whose
   * imprint is SHA-256 of the chosen signature's bytes (see {@link signatureToTimestamp}).
   */
  rfc3161Timestamps?: Uint8Array[];
}

/** A parsed Sigstore bundle of the public-key + DSSE shape. */
export interface ParsedSigstoreBundle {
  mediaType: string;
  publicKeyHint: string;
  envelope: DsseEnvelope;
  rfc3161Timestamps: Uint8Array[];
  /** `verificationMaterial.tlogEntries` as given (not verified: there is no Rekor offline). */
  tlogEntries: unknown[];
}

function invalid(message: string, path?: string, cause?: unknown): StellaError {
  return new StellaError('SIGSTORE_BUNDLE_INVALID', message, { details: path ? { path } : undefined, cause });
}

function chooseSignature(envelope: DsseEnvelope, keyId: string | undefined): DsseEnvelope['signatures'][number] {
  if (keyId === undefined) {
    if (envelope.signatures.length !== 1) {
      throw invalid(`envelope has ${envelope.signatures.length} signatures; name the one for the bundle with keyId`);
    }
    return envelope.signatures[0]!;
  }
  const want = normalizeKeyIdHint(keyId);
  const hit = envelope.signatures.find((s) => want !== undefined && normalizeKeyIdHint(s.keyid) === want);
  if (!hit) throw invalid(`envelope has no signature with keyid ${keyId}`);
  return hit;
}

/**
 * The bytes a Sigstore RFC 3161 timestamp must cover for this envelope: Sigstore checks the
 * token's messageImprint against SHA-256 of the (first) DSSE signature, not of the payload
 * (sigstore-js `verify/src/timestamp`). Request the timestamp over these bytes with SHA-256.
 */
export function signatureToTimestamp(envelope: DsseEnvelope, keyId?: string): Uint8Array {
  return chooseSignature(envelope, keyId).sig;
}

/**
 * Renders a DSSE envelope as a Sigstore bundle v0.3 for offline verification with a plain public
 * key: `verificationMaterial.publicKey.hint`, no transparency-log entries, and optional RFC 3161
 * timestamps. The bundle holds one signature (Sigstore's rule). Deterministic: members are
 * emitted in a fixed order. Throws SIGSTORE_BUNDLE_INVALID when the signature cannot be chosen.
 */
export function toSigstoreBundle(envelope: DsseEnvelope, options: SigstoreBundleOptions = {}): SigstoreBundleJson {
  const sig = chooseSignature(envelope, options.keyId);
  const hint = options.publicKeyHint ?? sig.keyid;
  if (hint === '') throw invalid('publicKey.hint is empty: the signature has no keyid, pass publicKeyHint');
  const single = envelopeToJson({ payloadType: envelope.payloadType, payload: envelope.payload, signatures: [sig] });
  const verificationMaterial: SigstoreBundleJson['verificationMaterial'] = { publicKey: { hint }, tlogEntries: [] };
  if (options.rfc3161Timestamps && options.rfc3161Timestamps.length > 0) {
    verificationMaterial.timestampVerificationData = {
      rfc3161Timestamps: options.rfc3161Timestamps.map((t) => ({ signedTimestamp: encodeBase64(t) })),
    };
  }
  return { mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE, verificationMaterial, dsseEnvelope: single };
}

/** {@link toSigstoreBundle} serialized as JSON text (stable member order). */
export function serializeSigstoreBundle(bundle: SigstoreBundleJson): string {
  return JSON.stringify(bundle);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a Sigstore bundle v0.3 of the shape this module emits (public-key hint + DSSE envelope).
 * It checks structure only — use {@link verifySigstoreBundle} to verify one: the signature, the
 * hint, the timestamps and the tlog entries. Refuses the material combinations `bundle.proto`
 * forbids (its `oneof`s): a public key together with a certificate or chain, and a DSSE envelope
 * together with a message signature (`@sigstore/bundle` silently keeps one of the two). Throws
 * SIGSTORE_BUNDLE_INVALID, with the DSSE/base64 error as `cause`.
 */
export function parseSigstoreBundle(input: string | Uint8Array): ParsedSigstoreBundle {
  let json: unknown;
  try {
    json = parseJson(input);
  } catch (err) {
    throw invalid(`bundle is not valid JSON: ${(err as Error).message}`, '$', err);
  }
  if (!isObject(json)) throw invalid('bundle is not a JSON object', '$');
  const { mediaType, verificationMaterial: vm, dsseEnvelope } = json;
  if (mediaType !== SIGSTORE_BUNDLE_V03_MEDIA_TYPE && mediaType !== SIGSTORE_BUNDLE_V03_LEGACY_MEDIA_TYPE) {
    throw invalid(`unsupported bundle mediaType ${JSON.stringify(mediaType)}`, '$.mediaType');
  }
  if (!isObject(vm)) throw invalid('verificationMaterial is missing', '$.verificationMaterial');
  for (const other of ['certificate', 'x509CertificateChain'] as const) {
    if (vm.publicKey !== undefined && vm[other] !== undefined)
      throw invalid(
        `verificationMaterial has both publicKey and ${other} (bundle.proto allows one)`,
        `$.verificationMaterial.${other}`,
      );
  }
  if (dsseEnvelope !== undefined && json.messageSignature !== undefined)
    throw invalid('bundle has both dsseEnvelope and messageSignature (bundle.proto allows one)', '$.messageSignature');
  if (!isObject(vm.publicKey) || typeof vm.publicKey.hint !== 'string' || vm.publicKey.hint === '') {
    throw invalid(
      'verificationMaterial.publicKey.hint is missing (only public-key bundles are supported)',
      '$.verificationMaterial.publicKey',
    );
  }
  if (vm.tlogEntries !== undefined && !Array.isArray(vm.tlogEntries))
    throw invalid('tlogEntries must be an array', '$.verificationMaterial.tlogEntries');
  const tsd = vm.timestampVerificationData;
  const timestamps: Uint8Array[] = [];
  if (tsd !== undefined) {
    if (!isObject(tsd) || (tsd.rfc3161Timestamps !== undefined && !Array.isArray(tsd.rfc3161Timestamps))) {
      throw invalid('timestampVerificationData is malformed', '$.verificationMaterial.timestampVerificationData');
    }
    for (const [i, t] of ((tsd.rfc3161Timestamps as unknown[] | undefined) ?? []).entries()) {
      const path = `$.verificationMaterial.timestampVerificationData.rfc3161Timestamps[${i}]`;
      if (!isObject(t) || typeof t.signedTimestamp !== 'string' || t.signedTimestamp === '')
        throw invalid('signedTimestamp is missing', path);
      try {
        timestamps.push(decodeBase64Strict(t.signedTimestamp, 'signedTimestamp'));
      } catch (err) {
        throw invalid('signedTimestamp is not valid base64', path, err);
      }
    }
  }
  if (dsseEnvelope === undefined)
    throw invalid('bundle has no dsseEnvelope (messageSignature bundles are not supported)', '$.dsseEnvelope');
  let envelope: DsseEnvelope;
  try {
    envelope = envelopeFromJson(dsseEnvelope);
  } catch (err) {
    throw invalid(`dsseEnvelope is malformed: ${(err as Error).message}`, '$.dsseEnvelope', err);
  }
  if (envelope.signatures.length !== 1)
    throw invalid('dsseEnvelope must hold exactly one signature', '$.dsseEnvelope.signatures');
  return {
    mediaType,
    publicKeyHint: vm.publicKey.hint,
    envelope,
    rfc3161Timestamps: timestamps,
    tlogEntries: (vm.tlogEntries as unknown[] | undefined) ?? [],
  };
}

/**
 * The `PublicKeyDetails` name (sigstore/protobuf-specs `sigstore_common.proto`) for a key
 * algorithm, used when building a trust root for `@sigstore/verify`. Note: `@sigstore/verify@3`
 * verifies with node:crypto defaults, i.e. PKCS#1 v1.5 for RSA keys, so RSA-PSS bundles do not
 * verify there (docs/formats/dsse.md).
 */
export function sigstorePublicKeyDetails(algorithm: SignatureAlgorithm, rsaBits = 2048): string {
  switch (algorithm) {
    case 'ed25519':
      return 'PKIX_ED25519';
    case 'ecdsa-p256-sha256':
      return 'PKIX_ECDSA_P256_SHA_256';
    case 'rsa-pss-sha256':
      return `PKIX_RSA_PSS_${rsaBits >= 4096 ? 4096 : rsaBits >= 3072 ? 3072 : 2048}_SHA256`;
  }
}
