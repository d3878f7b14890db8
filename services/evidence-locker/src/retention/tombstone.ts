/**
 * The signed tombstone a purge leaves (issue #8 item 5: "what, why, when, which policy, the
 * bundle's root"; docs/evidence/retention.md "Tombstones"): a DSSE envelope, signed with the
 * service key that seals bundles, over an in-toto Statement v1 whose subject is the purged
 * bundle's Merkle root (the same subject its seal had) and whose predicate says what was removed,
 * why, when and under which policy. Verifiable offline with openssl alone (PAE + signature).
 */
import { createPublicKey } from 'node:crypto';
import type { JsonValue } from '@stella/core/canonical-json';
import { serializeEnvelope, signEnvelope } from '@stella/core/dsse';
import { IN_TOTO_PAYLOAD_TYPE, buildStatement, serializeStatement } from '@stella/core/in-toto';
import { spkiPem, type Signer } from '@stella/core/signing';
import { ROOT_SUBJECT_NAME } from '../bundle/seal.js';

export const TOMBSTONE_PREDICATE_TYPE = 'https://stella-ops.org/evidence/tombstone/v1';

/** The rule of the tenant's policy that expired the bundle. */
export interface AppliedPolicy {
  [k: string]: JsonValue;
  version: number;
  /** `kind` when the bundle's kind had its own duration, else `default`. */
  rule: 'kind' | 'default';
  keepFor: string;
  /** The incident extension that applied (absent when no incident was active). */
  incidentExtension: string | null;
  expiresAt: string;
}

export interface TombstoneFacts {
  bundleId: string;
  kind: string;
  rootHash: string;
  manifestDigest: string;
  archiveDigest: string;
  sealedAt: Date;
  purgedAt: Date;
  reason: string;
  policy: AppliedPolicy;
}

export interface SignedTombstone {
  envelopeJson: string;
  keyId: string;
  publicKeyPem: string;
}

export function tombstonePredicate(f: TombstoneFacts): Record<string, JsonValue> {
  return {
    bundleId: f.bundleId,
    kind: f.kind,
    manifest: { digest: f.manifestDigest },
    archive: { digest: f.archiveDigest },
    sealedAt: f.sealedAt.toISOString(),
    purgedAt: f.purgedAt.toISOString(),
    reason: f.reason,
    policy: f.policy,
  };
}

export async function signTombstone(f: TombstoneFacts, signer: Signer): Promise<SignedTombstone> {
  const statement = buildStatement({
    subject: [{ name: ROOT_SUBJECT_NAME, digest: { sha256: f.rootHash } }],
    predicateType: TOMBSTONE_PREDICATE_TYPE,
    predicate: tombstonePredicate(f),
  });
  const envelope = await signEnvelope(serializeStatement(statement), IN_TOTO_PAYLOAD_TYPE, [signer]);
  return {
    envelopeJson: serializeEnvelope(envelope),
    keyId: signer.keyId,
    publicKeyPem: spkiPem(createPublicKey({ key: Buffer.from(signer.publicKeySpki()), format: 'der', type: 'spki' })),
  };
}
