/**
 * The evidence locker's own variables (docs/config.md, rendered from these entries) and the
 * object-key layout it stores under.
 */
import { ConfigProblem, parseByteSize, type ConfigVariable } from '@stella/platform/config';
import { parseDuration } from './retention/duration.js';

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
  {
    name: 'STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION',
    audience: 'server',
    type: 'ISO 8601 duration (D/H/M/S)',
    default: 'P30D',
    description:
      "While a tenant's incident mode is active, every retention period of that tenant is longer by this much (docs/evidence/retention.md).",
    parse: (raw) => durationSeconds(raw),
  },
  {
    name: 'STELLA_EVIDENCE_PURGE_INTERVAL',
    audience: 'server',
    type: 'ISO 8601 duration (D/H/M/S)',
    default: 'PT1H',
    description:
      'How often the purge worker (started with --workers ≥ 1) removes expired, unheld bundles and expires holds past their endsAt.',
    parse: (raw) => durationSeconds(raw),
  },
];

function durationSeconds(raw: string): number {
  const seconds = parseDuration(raw.trim());
  if (seconds === undefined)
    throw new ConfigProblem('expected a positive ISO 8601 duration of days/hours/minutes/seconds, e.g. P30D or PT1H');
  return seconds;
}

export interface EvidenceSettings {
  maxArtifactBytes: number;
  tenantQuotaBytes: number;
  /** Seconds added to every retention period while incident mode is active. */
  incidentExtensionSeconds: number;
  /** Seconds between purge passes of the worker. */
  purgeIntervalSeconds: number;
}

export function evidenceSettings(settings: Readonly<Record<string, unknown>>): EvidenceSettings {
  return {
    maxArtifactBytes: Number(settings.STELLA_EVIDENCE_MAX_ARTIFACT_BYTES ?? GIB),
    tenantQuotaBytes: Number(settings.STELLA_EVIDENCE_TENANT_QUOTA_BYTES ?? 100 * GIB),
    incidentExtensionSeconds: Number(settings.STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION ?? 30 * 86_400),
    purgeIntervalSeconds: Number(settings.STELLA_EVIDENCE_PURGE_INTERVAL ?? 3600),
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

/** The signed tombstone of a purged bundle (docs/evidence/retention.md). */
export function tombstoneKey(tenant: string, bundleId: string): string {
  return `evidence/${tenant}/tombstones/${bundleId}.dsse.json`;
}
