/**
 * Offline verification of a Sigstore bundle v0.3 signed with a plain public key, checking what
 * `@sigstore/verify@3` checks (`Verifier.verify`) and refusing what we cannot check:
 *
 * 1. Structure ({@link parseSigstoreBundle}), including the forbidden material combinations.
 * 2. Timestamps: every RFC 3161 timestamp in the bundle must verify — its messageImprint over the
 *    DSSE signature bytes (sigstore-js `Verifier.verifyTimestamps` passes `signature.signature`),
 *    its signer chaining to the given TSA trust anchors — and no timestamp may appear twice. A
 *    bundle carrying timestamps is refused when no TSA trust anchors are given: a timestamp that is
 *    present but unchecked would read as a claim we vouched for. At least `timestampThreshold`
 *    timestamps must verify.
 * 3. The key: `publicKey.hint` must name one of the trusted keys (by key id); the signature is
 *    checked with that key only (sigstore-js looks the key up by hint), so a hint naming another
 *    key than the one that verifies is refused.
 * 4. Transparency-log entries: we have no Rekor log and no log keys offline, so an entry cannot be
 *    verified; a bundle with `tlogEntries` is refused unless `allowUnverifiedTlogEntries` is set,
 *    and then the entries are reported as ignored (`ignoredTlogEntries`), never as verified.
 *
 * Errors: SIGSTORE_BUNDLE_INVALID (`details.check`: `timestamp`, `hint`, `tlog`; structure errors
 * carry `details.path`), DSSE_SIGNATURE_INVALID / DSSE_PAYLOAD_TYPE_MISMATCH from the envelope check.
 */
import { verifyEnvelope } from '../dsse/verify-envelope.js';
import { StellaError } from '../errors/index.js';
import { verifyTimeStampToken, type VerifiedTimeStamp } from '../rfc3161/index.js';
import { normalizeKeyIdHint } from '../signing/key-id.js';
import type { KeySet } from '../signing/signer.js';
import { parseSigstoreBundle, type ParsedSigstoreBundle } from './sigstore-bundle.js';

/** Options of {@link verifySigstoreBundle}. */
export interface VerifySigstoreBundleOptions {
  /** Trusted public keys by key id; the bundle's `publicKey.hint` must name one of them. */
  keys: KeySet;
  /** When set, the envelope's payloadType must equal it. */
  expectedPayloadType?: string;
  /** TSA trust anchors (PEM or DER CA certificates) for the bundle's RFC 3161 timestamps. */
  timestampTrustedCerts?: readonly (Uint8Array | string)[];
  /** Verified timestamps required (default 0; a present timestamp must verify regardless). */
  timestampThreshold?: number;
  /** Accept, and report as ignored, tlog entries we cannot verify offline (default false). */
  allowUnverifiedTlogEntries?: boolean;
  /** Reference time for the timestamps' genTime check (default: now). */
  now?: Date;
}

/** A verified bundle. */
export interface VerifiedSigstoreBundle {
  bundle: ParsedSigstoreBundle;
  payloadType: string;
  payload: Uint8Array;
  /** `sha256:<hex>` of the trusted key that the hint names and that verified the signature. */
  verifiedKeyId: string;
  /** The verified RFC 3161 timestamps, in bundle order. */
  timestamps: VerifiedTimeStamp[];
  /** tlog entries present but not verified (only with `allowUnverifiedTlogEntries`). */
  ignoredTlogEntries: number;
}

function refuse(check: string, message: string, extra: Record<string, unknown> = {}, cause?: unknown): StellaError {
  return new StellaError('SIGSTORE_BUNDLE_INVALID', message, { details: { check, ...extra }, cause });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Verifies a Sigstore bundle offline (see module comment). */
export async function verifySigstoreBundle(
  input: string | Uint8Array,
  options: VerifySigstoreBundleOptions,
): Promise<VerifiedSigstoreBundle> {
  const bundle = parseSigstoreBundle(input);
  const threshold = options.timestampThreshold ?? 0;
  if (!Number.isSafeInteger(threshold) || threshold < 0)
    throw new StellaError('VALIDATION_FAILED', `timestampThreshold must be an integer ≥ 0, got ${String(threshold)}`);

  if (bundle.tlogEntries.length > 0 && options.allowUnverifiedTlogEntries !== true)
    throw refuse(
      'tlog',
      `bundle has ${bundle.tlogEntries.length} transparency-log entr${bundle.tlogEntries.length === 1 ? 'y' : 'ies'}, ` +
        'which cannot be verified offline (no Rekor log keys); refusing rather than ignoring them',
      { tlogEntries: bundle.tlogEntries.length },
    );

  const signature = bundle.envelope.signatures[0]!.sig;
  const timestamps: VerifiedTimeStamp[] = [];
  const seen = new Set<string>();
  for (const [index, tsr] of bundle.rfc3161Timestamps.entries()) {
    const trusted = options.timestampTrustedCerts ?? [];
    if (trusted.length === 0)
      throw refuse('timestamp', `bundle carries RFC 3161 timestamp #${index} but no TSA trust anchors were given`, {
        index,
      });
    if (seen.has(hex(tsr))) throw refuse('timestamp', `RFC 3161 timestamp #${index} appears twice`, { index });
    seen.add(hex(tsr));
    try {
      timestamps.push(
        await verifyTimeStampToken(tsr, {
          data: signature,
          trustedCerts: trusted,
          ...(options.now ? { now: options.now } : {}),
        }),
      );
    } catch (err) {
      const why = err instanceof StellaError ? `${err.code}: ${err.message}` : String(err);
      throw refuse(
        'timestamp',
        `RFC 3161 timestamp #${index} does not verify over the signature: ${why}`,
        { index },
        err,
      );
    }
  }
  if (timestamps.length < threshold)
    throw refuse('timestamp', `expected ${threshold} verified timestamp(s), got ${timestamps.length}`, {
      threshold,
      verified: timestamps.length,
    });

  const keyId = normalizeKeyIdHint(bundle.publicKeyHint);
  const key = keyId !== undefined ? options.keys.get(keyId) : undefined;
  if (!key)
    throw refuse('hint', `publicKey.hint ${JSON.stringify(bundle.publicKeyHint)} names none of the trusted keys`, {
      hint: bundle.publicKeyHint,
      trustedKeyIds: [...options.keys.keys()],
    });
  const result = verifyEnvelope(bundle.envelope, {
    keys: new Map([[key.keyId, key]]),
    ...(options.expectedPayloadType !== undefined ? { expectedPayloadType: options.expectedPayloadType } : {}),
  });
  return {
    bundle,
    payloadType: result.payloadType,
    payload: result.payload,
    verifiedKeyId: key.keyId,
    timestamps,
    ignoredTlogEntries: bundle.tlogEntries.length,
  };
}
