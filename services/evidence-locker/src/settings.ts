/**
 * The evidence locker's own variables (docs/config.md, rendered from these entries) and the
 * object-key layout it stores under.
 */
import { ConfigProblem, parseByteSize, parseInteger, type ConfigVariable } from '@stella/platform/config';
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
    name: 'STELLA_EVIDENCE_SWEEP_AGE_SECONDS',
    audience: 'server',
    type: 'integer 1–31622400',
    default: '86400',
    description:
      'The evidence sweeper removes staging leftovers and unreferenced evidence objects only once they are older ' +
      'than this (docs/evidence-sweeper.md); keep it well above the longest upload.',
    parse: (raw) => parseInteger(raw, 1, 31_622_400),
  },
  {
    name: 'STELLA_EVIDENCE_SWEEP_INTERVAL_SECONDS',
    audience: 'server',
    type: 'integer 1–86400',
    default: '3600',
    description:
      'How often the evidence sweeper runs (in processes with `STELLA_WORKERS` > 0; the first run is at start).',
    parse: (raw) => parseInteger(raw, 1, 86_400),
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
  {
    name: 'STELLA_EVIDENCE_LOG_ORIGIN',
    audience: 'server',
    type: 'string (no spaces or `+`)',
    default: 'stella.local/evidence',
    description:
      "First part of every tenant log's checkpoint origin (`<this>/<16 hex of the tenant's log name>`, " +
      'docs/evidence/transparency-log.md). Fixed once a tenant has a log: changing it makes that log TLOG_ORIGIN_MISMATCH.',
    parse: (raw) => {
      const v = raw.trim();
      if (!/^[!-*,-~]{1,200}$/.test(v))
        throw new ConfigProblem('expected 1–200 printable ASCII characters, no space or +');
      return v;
    },
  },
  {
    name: 'STELLA_EVIDENCE_LOG_INTERVAL_MS',
    audience: 'server',
    type: 'integer 10–60000',
    default: '200',
    description:
      'How often the evidence log sequencer (with --workers ≥ 1) integrates queued seal/hold/release/tombstone entries ' +
      'into checkpoints when idle; while entries arrive it runs back to back.',
    parse: (raw) => parseInteger(raw, 10, 60_000),
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
  sweepAgeMs: number;
  sweepIntervalMs: number;
  /** Seconds added to every retention period while incident mode is active. */
  incidentExtensionSeconds: number;
  /** Seconds between purge passes of the worker. */
  purgeIntervalSeconds: number;
  /** Checkpoint origin prefix of the tenant logs. */
  logOrigin: string;
  /** Idle interval of the log sequencer. */
  logIntervalMs: number;
}

export function evidenceSettings(settings: Readonly<Record<string, unknown>>): EvidenceSettings {
  return {
    maxArtifactBytes: Number(settings.STELLA_EVIDENCE_MAX_ARTIFACT_BYTES ?? GIB),
    tenantQuotaBytes: Number(settings.STELLA_EVIDENCE_TENANT_QUOTA_BYTES ?? 100 * GIB),
    sweepAgeMs: 1000 * Number(settings.STELLA_EVIDENCE_SWEEP_AGE_SECONDS ?? 86_400),
    sweepIntervalMs: 1000 * Number(settings.STELLA_EVIDENCE_SWEEP_INTERVAL_SECONDS ?? 3600),
    incidentExtensionSeconds: Number(settings.STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION ?? 30 * 86_400),
    purgeIntervalSeconds: Number(settings.STELLA_EVIDENCE_PURGE_INTERVAL ?? 3600),
    logOrigin: String(settings.STELLA_EVIDENCE_LOG_ORIGIN ?? 'stella.local/evidence'),
    logIntervalMs: Number(settings.STELLA_EVIDENCE_LOG_INTERVAL_MS ?? 200),
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

/**
 * The evidence object a key names, for the sweeper: only these two shapes are ever written under
 * `evidence/`, and anything else there is not the sweeper's to judge (left alone).
 */
export type EvidenceObjectRef =
  { tenant: string; kind: 'blob'; digest: string } | { tenant: string; kind: 'archive'; bundleId: string };

export function parseEvidenceKey(key: string): EvidenceObjectRef | undefined {
  const blob = /^evidence\/([^/]+)\/blobs\/sha256\/([0-9a-f]{64})$/.exec(key);
  if (blob) return { tenant: blob[1]!, kind: 'blob', digest: `sha256:${blob[2]}` };
  const archive = /^evidence\/([^/]+)\/bundles\/([^/]+)\.tgz$/.exec(key);
  if (archive) return { tenant: archive[1]!, kind: 'archive', bundleId: archive[2]! };
  return undefined;
}

/** The signed tombstone of a purged bundle (docs/evidence/retention.md). */
export function tombstoneKey(tenant: string, bundleId: string): string {
  return `evidence/${tenant}/tombstones/${bundleId}.dsse.json`;
}
