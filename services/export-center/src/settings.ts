/**
 * The export center's own variables (docs/config.md is rendered from these entries) and the
 * object-key layout of built bundles.
 */
import { ConfigProblem, parseInteger, type ConfigVariable } from '@stella/platform/config';

export const EXPORT_VARIABLES: readonly ConfigVariable[] = [
  {
    name: 'STELLA_EXPORT_TENANT_CONCURRENCY',
    audience: 'server',
    type: 'integer 1–1000',
    default: '2',
    description:
      'Export runs one tenant may have running at once, across every worker process; further runs wait queued.',
    parse: (raw) => parseInteger(raw, 1, 1000),
  },
  {
    name: 'STELLA_EXPORT_LEASE_MS',
    audience: 'server',
    type: 'milliseconds 1000–3600000',
    default: '30000',
    description:
      'How long a worker holds a claimed run without a heartbeat. A worker that dies loses its runs after this long; they are retried (attempt + 1) or failed.',
    parse: (raw) => parseInteger(raw, 1000, 3_600_000),
  },
  {
    name: 'STELLA_EXPORT_HEARTBEAT_MS',
    audience: 'server',
    type: 'milliseconds 100–600000',
    default: '2000',
    description:
      'How often a running export renews its lease and checks for a cancel request (a cancel stops the run within about this long). Must be below STELLA_EXPORT_LEASE_MS.',
    parse: (raw) => parseInteger(raw, 100, 600_000),
  },
  {
    name: 'STELLA_EXPORT_MAX_ATTEMPTS',
    audience: 'server',
    type: 'integer 1–100',
    default: '3',
    description: 'Attempts of one run (transient failures and lost leases are retried until this many).',
    parse: (raw) => parseInteger(raw, 1, 100),
  },
  {
    name: 'STELLA_EXPORT_RETRY_BASE_MS',
    audience: 'server',
    type: 'milliseconds 0–3600000',
    default: '2000',
    description: 'Backoff before retrying a transient failure: base × 2^(attempt − 1), at most 5 minutes.',
    parse: (raw) => parseInteger(raw, 0, 3_600_000),
  },
  {
    name: 'STELLA_EXPORT_POLL_MS',
    audience: 'server',
    type: 'milliseconds 10–60000',
    default: '500',
    description: 'How often an idle export worker looks for queued runs.',
    parse: (raw) => parseInteger(raw, 10, 60_000),
  },
  {
    name: 'STELLA_EXPORT_SSE_HEARTBEAT_MS',
    audience: 'server',
    type: 'milliseconds 100–600000',
    default: '15000',
    description: 'Interval of the `heartbeat` events on GET /v1/exports/runs/{id}/events.',
    parse: (raw) => parseInteger(raw, 100, 600_000),
  },
  {
    name: 'STELLA_EXPORT_SCHEDULER_TICK_MS',
    audience: 'server',
    type: 'milliseconds 50–60000',
    default: '1000',
    description:
      'How often the scheduler leader looks for due schedules, and how often a follower tries to become leader (docs/export/schedules.md). A fire happens at most about this long after its time.',
    parse: (raw) => parseInteger(raw, 50, 60_000),
  },
  {
    name: 'STELLA_EXPORT_SCHEDULE_MIN_INTERVAL_S',
    audience: 'server',
    type: 'seconds 1–86400',
    default: '60',
    description:
      'The shortest interval a cron schedule may fire at (a six-field cron with seconds is refused below it). Lower it only for tests.',
    parse: (raw) => parseInteger(raw, 1, 86_400),
  },
  {
    name: 'STELLA_EXPORT_MISSED_FIRE_GRACE_MS',
    audience: 'server',
    type: 'milliseconds 1000–86400000',
    default: '60000',
    description:
      "A cron fire found later than this after its time counts as missed (no scheduler was running) and follows the schedule's `missedFires` policy: `skip` or `catchUpOnce`.",
    parse: (raw) => parseInteger(raw, 1000, 86_400_000),
  },
  {
    name: 'STELLA_EXPORT_PRUNE_INTERVAL_MS',
    audience: 'server',
    type: 'milliseconds 1000–86400000',
    default: '300000',
    description:
      'How often the retention worker prunes runs past their profile’s keep-last/max-age policy (docs/export/retention.md); POST /v1/exports/retention/prune runs it now for one tenant.',
    parse: (raw) => parseInteger(raw, 1000, 86_400_000),
  },
  {
    name: 'STELLA_EXPORT_WORKER_HEAP_MIB',
    audience: 'server',
    type: 'integer 0 or 32–16384',
    default: '128',
    description:
      'Export runs execute in a worker thread whose V8 old generation is capped at this many MiB (ADR 0016): peak memory stays flat whatever the record count, and a run that needs more ends that thread (restarted; the run is retried, then failed), not the server. 0 runs them in the server thread, uncapped. PostgreSQL only (with PGlite they always run in the server thread).',
    parse: (raw) => {
      const n = parseInteger(raw, 0, 16_384);
      if (n !== 0 && n < 32) throw new ConfigProblem('expected 0 or an integer between 32 and 16384');
      return n;
    },
  },
];

export interface ExportSettings {
  tenantConcurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  pollMs: number;
  sseHeartbeatMs: number;
  schedulerTickMs: number;
  scheduleMinIntervalS: number;
  missedFireGraceMs: number;
  pruneIntervalMs: number;
  /** Old-generation cap of the run worker thread (MiB); 0: runs in the server thread. */
  workerHeapMib: number;
}

export const DEFAULT_EXPORT_SETTINGS: ExportSettings = {
  tenantConcurrency: 2,
  leaseMs: 30_000,
  heartbeatMs: 2_000,
  maxAttempts: 3,
  retryBaseMs: 2_000,
  pollMs: 500,
  sseHeartbeatMs: 15_000,
  schedulerTickMs: 1000,
  scheduleMinIntervalS: 60,
  missedFireGraceMs: 60_000,
  pruneIntervalMs: 300_000,
  workerHeapMib: 128,
};

export function exportSettings(settings: Readonly<Record<string, unknown>>): ExportSettings {
  const n = (name: string, fallback: number) => (settings[name] === undefined ? fallback : Number(settings[name]));
  const d = DEFAULT_EXPORT_SETTINGS;
  const s: ExportSettings = {
    tenantConcurrency: n('STELLA_EXPORT_TENANT_CONCURRENCY', d.tenantConcurrency),
    leaseMs: n('STELLA_EXPORT_LEASE_MS', d.leaseMs),
    heartbeatMs: n('STELLA_EXPORT_HEARTBEAT_MS', d.heartbeatMs),
    maxAttempts: n('STELLA_EXPORT_MAX_ATTEMPTS', d.maxAttempts),
    retryBaseMs: n('STELLA_EXPORT_RETRY_BASE_MS', d.retryBaseMs),
    pollMs: n('STELLA_EXPORT_POLL_MS', d.pollMs),
    sseHeartbeatMs: n('STELLA_EXPORT_SSE_HEARTBEAT_MS', d.sseHeartbeatMs),
    schedulerTickMs: n('STELLA_EXPORT_SCHEDULER_TICK_MS', d.schedulerTickMs),
    scheduleMinIntervalS: n('STELLA_EXPORT_SCHEDULE_MIN_INTERVAL_S', d.scheduleMinIntervalS),
    missedFireGraceMs: n('STELLA_EXPORT_MISSED_FIRE_GRACE_MS', d.missedFireGraceMs),
    pruneIntervalMs: n('STELLA_EXPORT_PRUNE_INTERVAL_MS', d.pruneIntervalMs),
    workerHeapMib: n('STELLA_EXPORT_WORKER_HEAP_MIB', d.workerHeapMib),
  };
  // A heartbeat slower than the lease would lose every long run: keep it at most a third of it.
  s.heartbeatMs = Math.min(s.heartbeatMs, Math.floor(s.leaseMs / 3));
  return s;
}

/** The object-key prefix of everything a run stored (retention deletes what lies under it). */
export function runObjectPrefix(tenant: string, runId: string): string {
  return `exports/${tenant}/runs/${runId}/`;
}

/** Object key of a run attempt's bundle: per tenant, per attempt (a lost attempt never overwrites a winner's). */
export function runArchiveKey(tenant: string, runId: string, attempt: number): string {
  return `exports/${tenant}/runs/${runId}/${attempt}/export.tgz`;
}
