import { StellaError } from '../errors/index.js';
import { keyIdFromSpki, normalizeKeyIdHint } from '../signing/key-id.js';
import { publicKeyIdentity, spkiDer } from '../signing/key-parsing.js';
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
 * A hand-built KeySet is checked before use: every entry must sit under the key id of its own key
 * (sha256 of its SPKI), so a map cannot name one key under a second, invented id. Returns each
 * entry's encoding-independent identity, by which signers are counted.
 */
function keyIdentities(keys: KeySet): Map<VerificationKey, string> {
  const out = new Map<VerificationKey, string>();
  for (const [id, vk] of keys) {
    const actual = keyIdFromSpki(spkiDer(vk.publicKey));
    if (id !== vk.keyId || vk.keyId !== actual)
      throw new StellaError('KEY_INVALID', `key set entry ${id} holds the key ${actual}`, {
        details: { keyId: id, actualKeyId: actual },
      });
    out.set(vk, publicKeyIdentity(vk.publicKey));
  }
  return out;
}

/**
 * Verifies a DSSE envelope (DSSE protocol.md, "Verification"): optionally checks the payload
 * type, then each signature over PAE(payloadType, payload) against the trusted keys. A key counts
 * once toward the threshold however many signatures it made and however many entries (ids,
 * encodings) it has in the key set: keys are told apart by {@link publicKeyIdentity}. Returns
 * the verified key ids, or throws DSSE_PAYLOAD_TYPE_MISMATCH / DSSE_SIGNATURE_INVALID whose `details.checks` say which
 * signature failed and why. VALIDATION_FAILED for a threshold below 1 or not an integer;
 * KEY_INVALID for a key-set entry not under its own key id.
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
  const identities = keyIdentities(options.keys);
  const message = pae(envelope.payloadType, envelope.payload);
  /** Key identity → the key id it was first verified under. */
  const verifiedKeys = new Map<string, string>();
  const checks: SignatureCheck[] = envelope.signatures.map((s, index) => {
    const hit = candidates(options.keys, s.keyid).find((k) => verifyWithKey(k.algorithm, k.publicKey, message, s.sig));
    if (!hit) return { index, keyid: s.keyid, reason: 'no-trusted-key-verifies' };
    const identity = identities.get(hit)!;
    const first = verifiedKeys.get(identity);
    if (first !== undefined) return { index, keyid: s.keyid, verifiedBy: first, reason: 'duplicate-key' };
    verifiedKeys.set(identity, hit.keyId);
    return { index, keyid: s.keyid, verifiedBy: hit.keyId };
  });
  const verified = [...verifiedKeys.values()];
  if (verified.length < threshold) {
    const failed = checks
      .filter((c) => c.verifiedBy === undefined)
      .map((c) => `#${c.index}${c.keyid ? ` (keyid ${c.keyid})` : ''}`);
    throw new StellaError(
      'DSSE_SIGNATURE_INVALID',
      `${verified.length} of ${threshold} required distinct trusted signatures verified` +
        (options.keys.size === 0 ? '; no trusted keys were given' : '') +
        (failed.length ? `; no trusted key verifies signature ${failed.join(', ')}` : ''),
      {
        details: {
          check: 'signatures',
          threshold,
          verifiedKeyIds: verified,
          trustedKeyIds: [...options.keys.keys()],
          checks,
        },
      },
    );
  }
  return { payloadType: envelope.payloadType, payload: envelope.payload, verifiedKeyIds: verified, checks };
}
