/**
 * Sealing a manifest (docs/formats/evidence-bundle.md "Seal"): a DSSE envelope over an in-toto
 * Statement v1 whose one subject is the bundle's Merkle root and whose predicate carries the
 * manifest digest; optionally an RFC 3161 timestamp over the signature value.
 */
import { createPublicKey } from 'node:crypto';
import { sha256 } from '@stella/core/digest';
import { serializeEnvelope, signEnvelope } from '@stella/core/dsse';
import { signatureToTimestamp } from '@stella/core/sigstore';
import { IN_TOTO_PAYLOAD_TYPE, buildStatement, serializeStatement, type StatementV1 } from '@stella/core/in-toto';
import { spkiPem, type Signer } from '@stella/core/signing';
import { requestTimestamp } from '@stella/platform/timestamp';
import type { Manifest } from './manifest.js';

/** predicateType of the seal statement. */
export const SEAL_PREDICATE_TYPE = 'https://stella-ops.org/evidence/seal/v1';
/** `name` of the statement subject: the Merkle root, not a file. */
export const ROOT_SUBJECT_NAME = 'merkle-root:rfc9162-sha256';

export interface Seal {
  /** signature.json: the DSSE envelope, deterministic JSON. */
  signatureJson: string;
  keyId: string;
  publicKeyPem: string;
  timestamp?: { tsr: Uint8Array; genTime: Date; tsa?: string };
}

/** The seal statement of a manifest (its digest = sha256 of manifest.json's bytes). */
export function sealStatement(manifest: Manifest, manifestDigest: string): StatementV1 {
  return buildStatement({
    subject: [{ name: ROOT_SUBJECT_NAME, digest: { sha256: manifest.merkle.root } }],
    predicateType: SEAL_PREDICATE_TYPE,
    predicate: {
      bundleId: manifest.bundleId,
      kind: manifest.kind,
      manifest: { digest: manifestDigest },
      merkle: { algorithm: manifest.merkle.algorithm, leafCount: manifest.merkle.leafCount },
    },
  });
}

export async function sealManifest(
  manifest: Manifest,
  manifestDigest: string,
  signer: Signer,
  tsaUrl: string | undefined,
): Promise<Seal> {
  const payload = serializeStatement(sealStatement(manifest, manifestDigest));
  const envelope = await signEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, [signer]);
  const signatureJson = serializeEnvelope(envelope);
  const publicKeyPem = spkiPem(
    createPublicKey({ key: Buffer.from(signer.publicKeySpki()), format: 'der', type: 'spki' }),
  );
  const seal: Seal = { signatureJson, keyId: signer.keyId, publicKeyPem };
  if (tsaUrl) {
    // The time-stamped datum is the signature value (RFC 3161 Appendix A; the Sigstore bundle's
    // rule too), so one token serves timestamp.tsr and seal.sigstore.json alike.
    const ts = await requestTimestamp(tsaUrl, sha256(signatureToTimestamp(envelope)));
    seal.timestamp = {
      tsr: ts.response,
      genTime: ts.token.info.genTime,
      ...(ts.token.info.tsaName ? { tsa: ts.token.info.tsaName } : {}),
    };
  }
  return seal;
}
