import { StellaError } from '../errors/index.js';
import { normalizeKeyIdHint } from '../signing/key-id.js';
import { verifyWithKey } from '../signing/key-signer.js';
import type { KeySet, VerificationKey } from '../signing/signer.js';
import type { DsseEnvelope } from './dsse-envelope.js';
import { pae } from './pae.js';

/** Options for {@link verifyEnvelope}. */
export interface VerifyEnvelopeOptions {
  /** Trusted public keys by key id. */
  keys: KeySet;
  /** Distinct trusted keys that must have signed (default 1). */
  threshold?: number;
  /** When set, the envelope's payloadType must equal it (checked before any signature). */
  expectedPayloadType?: string;
}

/** Outcome of one signature check, reported in errors and results. */
export interface SignatureCheck {
  index: number;
  keyid: string;
  /** `sha256:<hex>` of the trusted key that verified it, if any. */
  verifiedBy?: string;
  reason?: 'no-trusted-key-verifies' | 'duplicate-key';
}

/** A verified envelope: its payload and the distinct trusted key ids that signed it. */
export interface VerifiedEnvelope {
  payloadType: string;
  payload: Uint8Array;
  verifiedKeyIds: string[];
  checks: SignatureCheck[];
}

function candidates(keys: KeySet, keyid: string): VerificationKey[] {
  // The keyid is an unauthenticated hint (DSSE envelope.md): use it to try the named key first,
  // but fall back to every key, because a wrong hint must not turn a valid signature invalid.
  const hinted = normalizeKeyIdHint(keyid);
  const first = hinted !== undefined ? keys.get(hinted) : undefined;
  const all = [...keys.values()];
  return first ? [first, ...all.filter((k) => k !== first)] : all;
}

/**
 * Verifies a DSSE envelope (DSSE protocol.md, "Verification"): optionally checks the payload
 * type, then each signature over PAE(payloadType, payload) against the trusted keys. A key counts
 * once toward the threshold however many signatures it made. Returns the verified key ids, or
 * throws DSSE_PAYLOAD_TYPE_MISMATCH / DSSE_SIGNATURE_INVALID whose `details.checks` say which
 * signature failed and why. VALIDATION_FAILED for a threshold below 1 or not an integer.
 */
export function verifyEnvelope(envelope: DsseEnvelope, options: VerifyEnvelopeOptions): VerifiedEnvelope {
  const threshold = options.threshold ?? 1;
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new StellaError('VALIDATION_FAILED', `threshold must be an integer ≥ 1, got ${String(threshold)}`);
  }
  if (options.expectedPayloadType !== undefined && envelope.payloadType !== options.expectedPayloadType) {
    throw new StellaError(
      'DSSE_PAYLOAD_TYPE_MISMATCH',
      `payloadType is ${JSON.stringify(envelope.payloadType)}, expected ${JSON.stringify(options.expectedPayloadType)}`,
      { details: { check: 'payloadType', expected: options.expectedPayloadType, actual: envelope.payloadType } },
    );
  }
  const message = pae(envelope.payloadType, envelope.payload);
  const verified = new Set<string>();
  const checks: SignatureCheck[] = envelope.signatures.map((s, index) => {
    const hit = candidates(options.keys, s.keyid).find((k) => verifyWithKey(k.algorithm, k.publicKey, message, s.sig));
    if (!hit) return { index, keyid: s.keyid, reason: 'no-trusted-key-verifies' };
    if (verified.has(hit.keyId)) return { index, keyid: s.keyid, verifiedBy: hit.keyId, reason: 'duplicate-key' };
    verified.add(hit.keyId);
    return { index, keyid: s.keyid, verifiedBy: hit.keyId };
  });
  if (verified.size < threshold) {
    const failed = checks
      .filter((c) => c.verifiedBy === undefined)
      .map((c) => `#${c.index}${c.keyid ? ` (keyid ${c.keyid})` : ''}`);
    throw new StellaError(
      'DSSE_SIGNATURE_INVALID',
      `${verified.size} of ${threshold} required distinct trusted signatures verified` +
        (options.keys.size === 0 ? '; no trusted keys were given' : '') +
        (failed.length ? `; no trusted key verifies signature ${failed.join(', ')}` : ''),
      {
        details: {
          check: 'signatures',
          threshold,
          verifiedKeyIds: [...verified],
          trustedKeyIds: [...options.keys.keys()],
          checks,
        },
      },
    );
  }
  return { payloadType: envelope.payloadType, payload: envelope.payload, verifiedKeyIds: [...verified], checks };
}
