/**
 * The evidence locker's own variables (docs/config.md, rendered from these entries) and the
 * object-key layout it stores under.
 */
import { parseByteSize, type ConfigVariable } from '@stella/platform/config';

const GIB = 1024 ** 3;

export const EVIDENCE_VARIABLES: readonly ConfigVariable[] = [
  {
    name: 'STELLA_EVIDENCE_MAX_ARTIFACT_BYTES',
    audience: 'server',
    type: 'byte size',
    default: '1GiB',
    description: 'Largest single evidence artifact (blob upload or inline content); larger is 413 PAYLOAD_TOO_LARGE.',
    parse: (raw) => parseByteSize(raw, 1, 64 * GIB),
  },
  {
    name: 'STELLA_EVIDENCE_TENANT_QUOTA_BYTES',
    audience: 'server',
    type: 'byte size',
    default: '100GiB',
    description:
      'Bytes of evidence blobs one tenant may hold (deduplicated per tenant); beyond it uploads are 429 QUOTA_EXCEEDED.',
    parse: (raw) => parseByteSize(raw, 1, 2 ** 53 - 1),
  },
];

export interface EvidenceSettings {
  maxArtifactBytes: number;
  tenantQuotaBytes: number;
}

export function evidenceSettings(settings: Readonly<Record<string, unknown>>): EvidenceSettings {
  return {
    maxArtifactBytes: Number(settings.STELLA_EVIDENCE_MAX_ARTIFACT_BYTES ?? GIB),
    tenantQuotaBytes: Number(settings.STELLA_EVIDENCE_TENANT_QUOTA_BYTES ?? 100 * GIB),
  };
}

/*
 * Object keys (docs/object-store.md "Keys"): everything of a tenant lives under its own prefix, so
 * two tenants uploading the same bytes never share an object. Blob keys are content-addressed by
 * path (`…/blobs/sha256/<hex>`); the store still verifies the digest on write and read.
 */
export function blobKey(tenant: string, digest: string): string {
  return `evidence/${tenant}/blobs/sha256/${digest.slice('sha256:'.length)}`;
}

export function archiveKey(tenant: string, bundleId: string): string {
  return `evidence/${tenant}/bundles/${bundleId}.tgz`;
}
