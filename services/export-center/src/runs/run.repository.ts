/**
 * SQL of export runs and their event log (the only place that knows export_center.export_runs,
 * export_run_events, export_inputs and export_distributions). Tenant functions take a tenant
 * transaction (RLS). The claim is the one cross-tenant step: it runs as the owner (policy
 * `worker_claim`, 0003_runs.sql) and only picks and leases a row.
 *
 * Every transition of a running run is conditional on `lease_owner = <this attempt's owner>`: a
 * worker that lost its lease (it stalled, the lease expired and another worker took the run) can
 * no longer change the run, so a run is never finished twice.
 */
import { StellaError } from '@stella/core/errors';
import type { Db, Queryable } from '@stella/platform/db';

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FAILURE_CLASSES = ['input', 'transient', 'internal'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];
export const FINISHED: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];

export const EVENT_TYPES = ['status', 'progress', 'artifact', 'final'] as const;
export type RunEventType = (typeof EVENT_TYPES)[number];

export type RunRow = {
  run_id: string;
  profile_id: string;
  profile_version: number;
  status: RunStatus;
  failure_class: FailureClass | null;
  failure_code: string | null;
  failure_message: string | null;
  attempts: number;
  max_attempts: number;
  cancel_requested: boolean;
  ledger_seq: string;
  progress_done: string;
  progress_total: string | null;
  archive_key: string | null;
  archive_digest: string | null;
  archive_size: string | null;
  manifest_digest: string | null;
  rerun_hash: string | null;
  key_id: string | null;
  lease_owner: string | null;
  created_at: Date;
  created_by: string;
  started_at: Date | null;
  finished_at: Date | null;
};

const COLUMNS = `run_id, profile_id, profile_version, status, failure_class, failure_code, failure_message, attempts,
  max_attempts, cancel_requested, ledger_seq::text AS ledger_seq, progress_done::text AS progress_done,
  progress_total::text AS progress_total, archive_key, archive_digest, archive_size::text AS archive_size,
  manifest_digest, rerun_hash, key_id, lease_owner, created_at, created_by, started_at, finished_at`;

/** The run as the API shows it. */
export function runView(r: RunRow) {
  return {
    id: r.run_id,
    profile: { id: r.profile_id, version: r.profile_version },
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    cancelRequested: r.cancel_requested,
    ledgerSeq: r.ledger_seq,
    progress: { done: Number(r.progress_done), total: r.progress_total === null ? null : Number(r.progress_total) },
    ...(r.failure_class
      ? { failure: { class: r.failure_class, code: r.failure_code ?? 'INTERNAL', message: r.failure_message ?? '' } }
      : {}),
    ...(r.status === 'succeeded'
      ? {
          result: {
            archive: { digest: r.archive_digest!, size: Number(r.archive_size) },
            manifestDigest: r.manifest_digest!,
            rerunHash: r.rerun_hash!,
            keyId: r.key_id!,
          },
        }
      : {}),
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    ...(r.started_at ? { startedAt: r.started_at.toISOString() } : {}),
    ...(r.finished_at ? { finishedAt: r.finished_at.toISOString() } : {}),
  };
}
export type RunView = ReturnType<typeof runView>;

export function runNotFound(id: string): StellaError {
  return new StellaError('EXPORT_RUN_NOT_FOUND', `no export run ${id}`, { details: { runId: id } });
}

export async function insertRun(
  tx: Queryable,
  run: { id: string; profileId: string; profileVersion: number; ledgerSeq: bigint; maxAttempts: number; actor: string },
): Promise<RunRow> {
  const r = await tx.query<RunRow>(
    `INSERT INTO export_center.export_runs (run_id, profile_id, profile_version, status, ledger_seq, max_attempts, created_by)
     VALUES ($1, $2, $3, 'queued', $4, $5, $6) RETURNING ${COLUMNS}`,
    [run.id, run.profileId, run.profileVersion, run.ledgerSeq.toString(), run.maxAttempts, run.actor],
  );
  return r.rows[0]!;
}

/** The tenant's run (RLS), or EXPORT_RUN_NOT_FOUND — the same for another tenant's. */
export async function getRun(tx: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<RunRow> {
  const r = await tx.query<RunRow>(
    `SELECT ${COLUMNS} FROM export_center.export_runs WHERE run_id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!r.rows[0]) throw runNotFound(id);
  return r.rows[0];
}

export async function listRuns(
  tx: Queryable,
  q: { status?: RunStatus; profileId?: string; before?: string; limit: number },
): Promise<RunRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (q.status) where.push(`status = ${p(q.status)}`);
  if (q.profileId) where.push(`profile_id = ${p(q.profileId)}`);
  if (q.before) where.push(`run_id < ${p(q.before)}`);
  const r = await tx.query<RunRow>(
    `SELECT ${COLUMNS} FROM export_center.export_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY run_id DESC LIMIT ${p(q.limit)}`,
    params,
  );
  return r.rows;
}

/** Appends one event (seq = the run's counter + 1, in the same transaction). */
export async function appendEvent(tx: Queryable, runId: string, type: RunEventType, data: object): Promise<number> {
  const r = await tx.query<{ seq: string }>(
    `WITH bumped AS (
       UPDATE export_center.export_runs SET last_event_seq = last_event_seq + 1 WHERE run_id = $1 RETURNING last_event_seq
     )
     INSERT INTO export_center.export_run_events (run_id, seq, type, data)
     SELECT $1, last_event_seq, $2, $3::jsonb FROM bumped RETURNING seq::text AS seq`,
    [runId, type, JSON.stringify(data)],
  );
  return Number(r.rows[0]!.seq);
}

export interface RunEvent {
  seq: number;
  type: RunEventType;
  data: Record<string, unknown>;
  at: string;
}

export async function eventsAfter(tx: Queryable, runId: string, afterSeq: number, limit = 500): Promise<RunEvent[]> {
  const r = await tx.query<{ seq: string; type: RunEventType; data: Record<string, unknown>; at: Date }>(
    // ORDER BY the bigint column, not the text alias (which would sort '10' before '7').
    `SELECT e.seq::text AS seq, e.type, e.data, e.at FROM export_center.export_run_events e
     WHERE e.run_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`,
    [runId, afterSeq, limit],
  );
  return r.rows.map((e) => ({ seq: Number(e.seq), type: e.type, data: e.data, at: e.at.toISOString() }));
}

/** A run a worker holds: the attempt number identifies the lease it owns. */
export interface ClaimedRun {
  tenant: string;
  runId: string;
  attempt: number;
  /** `<worker id>#<attempt>`: what every transition of this attempt checks. */
  leaseOwner: string;
  /** True when the run was reclaimed from a worker whose lease expired. */
  reclaimed: boolean;
}

// pg_advisory_xact_lock(classid, objid): "STEL", 3 — claims are serialised so that the
// per-tenant concurrency count and the pick are one atomic decision (two workers cannot both
// see "1 running" and start the tenant's 2nd and 3rd runs). The lock is held for one short
// transaction; the rows themselves are still picked with FOR UPDATE SKIP LOCKED.
const CLAIM_LOCK = [1398031692, 3] as const;

/**
 * Claims one due run for `workerId` (owner transaction, cross-tenant): a queued run whose
 * `not_before` has come, or a running one whose lease expired and that has attempts left — in
 * creation order, skipping tenants at their concurrency limit. attempts + 1, lease set.
 */
export async function claimNextRun(
  db: Db,
  opts: { workerId: string; leaseMs: number; tenantConcurrency: number },
): Promise<ClaimedRun | undefined> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [...CLAIM_LOCK]);
    const r = await tx.query<{ tenant_id: string; run_id: string; attempts: number; status: RunStatus }>(
      `SELECT r.tenant_id, r.run_id, r.attempts, r.status FROM export_center.export_runs r
       WHERE ((r.status = 'queued' AND r.not_before <= now())
          OR (r.status = 'running' AND r.lease_expires_at < now() AND r.attempts < r.max_attempts AND NOT r.cancel_requested))
         AND (SELECT count(*) FROM export_center.export_runs x
              WHERE x.tenant_id = r.tenant_id AND x.status = 'running' AND x.lease_expires_at >= now()) < $1
       ORDER BY r.not_before, r.run_id
       LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [opts.tenantConcurrency],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const attempt = row.attempts + 1;
    const leaseOwner = `${opts.workerId}#${attempt}`;
    await tx.query(
      `UPDATE export_center.export_runs SET status = 'running', attempts = $3, lease_owner = $4,
         lease_expires_at = now() + make_interval(secs => $5::double precision / 1000), heartbeat_at = now(),
         started_at = coalesce(started_at, now())
       WHERE tenant_id = $1 AND run_id = $2`,
      [row.tenant_id, row.run_id, attempt, leaseOwner, opts.leaseMs],
    );
    return { tenant: row.tenant_id, runId: row.run_id, attempt, leaseOwner, reclaimed: row.status === 'running' };
  });
}

/**
 * Running runs whose lease expired and that cannot be reclaimed (last attempt used, or a cancel
 * was requested): the sweeper finishes them (failed `transient` / cancelled) in tenant transactions.
 */
export async function deadLeases(db: Db, limit = 100): Promise<{ tenant: string; runId: string }[]> {
  const r = await db.query<{ tenant_id: string; run_id: string }>(
    `SELECT tenant_id, run_id FROM export_center.export_runs
     WHERE status = 'running' AND lease_expires_at < now() AND (attempts >= max_attempts OR cancel_requested)
     ORDER BY lease_expires_at LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({ tenant: x.tenant_id, runId: x.run_id }));
}

/** Renews the lease; undefined when this attempt no longer holds it. */
export async function renewLease(
  tx: Queryable,
  runId: string,
  leaseOwner: string,
  leaseMs: number,
): Promise<{ cancelRequested: boolean } | undefined> {
  const r = await tx.query<{ cancel_requested: boolean }>(
    `UPDATE export_center.export_runs
     SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000), heartbeat_at = now()
     WHERE run_id = $1 AND lease_owner = $2 AND status = 'running' RETURNING cancel_requested`,
    [runId, leaseOwner, leaseMs],
  );
  return r.rows[0] ? { cancelRequested: r.rows[0].cancel_requested } : undefined;
}

/** Records progress (no lease check: a stale value is harmless and the next heartbeat decides). */
export async function setProgress(
  tx: Queryable,
  runId: string,
  leaseOwner: string,
  progress: { done: number; total?: number },
): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_center.export_runs SET progress_done = $3, progress_total = coalesce($4, progress_total)
     WHERE run_id = $1 AND lease_owner = $2 AND status = 'running'`,
    [runId, leaseOwner, progress.done, progress.total ?? null],
  );
  return r.rowCount === 1;
}

export interface RunResult {
  archiveKey: string;
  archiveDigest: string;
  archiveSize: number;
  manifestDigest: string;
  rerunHash: string;
  keyId: string;
  counts: Readonly<Record<string, number>>;
  sourceKinds: readonly string[];
}

/** running → succeeded (this attempt only); false when the lease was lost. */
export async function markSucceeded(
  tx: Queryable,
  runId: string,
  leaseOwner: string,
  res: RunResult,
): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_center.export_runs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL,
       archive_key = $3, archive_digest = $4, archive_size = $5, manifest_digest = $6, rerun_hash = $7, key_id = $8,
       finished_at = now()
     WHERE run_id = $1 AND lease_owner = $2 AND status = 'running'`,
    [
      runId,
      leaseOwner,
      res.archiveKey,
      res.archiveDigest,
      res.archiveSize,
      res.manifestDigest,
      res.rerunHash,
      res.keyId,
    ],
  );
  if (r.rowCount !== 1) return false;
  for (const kind of res.sourceKinds)
    await tx.query('INSERT INTO export_center.export_inputs (run_id, kind, records) VALUES ($1, $2, $3)', [
      runId,
      kind,
      res.counts[kind] ?? 0,
    ]);
  await tx.query(
    `INSERT INTO export_center.export_distributions (run_id, kind, object_key, digest, size) VALUES ($1, 'download', $2, $3, $4)`,
    [runId, res.archiveKey, res.archiveDigest, res.archiveSize],
  );
  return true;
}

/** running → failed with its class (this attempt, or `leaseOwner` null: the sweeper on a dead lease). */
export async function markFailed(
  tx: Queryable,
  runId: string,
  leaseOwner: string | null,
  failure: { class: FailureClass; code: string; message: string },
): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_center.export_runs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL,
       failure_class = $3, failure_code = $4, failure_message = $5, finished_at = now()
     WHERE run_id = $1 AND status = 'running' AND ${leaseOwner === null ? 'lease_expires_at < now() AND $2::text IS NULL' : 'lease_owner = $2'}`,
    [runId, leaseOwner, failure.class, failure.code, failure.message.slice(0, 2000)],
  );
  return r.rowCount === 1;
}

/** running → queued after a transient failure (not before `delayMs`), or on shutdown (attempt not counted). */
export async function requeue(
  tx: Queryable,
  runId: string,
  leaseOwner: string,
  opts: { delayMs: number; countAttempt: boolean },
): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_center.export_runs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
       not_before = now() + make_interval(secs => $3::double precision / 1000),
       attempts = attempts - $4, progress_done = 0
     WHERE run_id = $1 AND lease_owner = $2 AND status = 'running'`,
    [runId, leaseOwner, opts.delayMs, opts.countAttempt ? 0 : 1],
  );
  return r.rowCount === 1;
}

/** running → cancelled (this attempt, or `leaseOwner` null: the sweeper on a dead lease). */
export async function markCancelled(tx: Queryable, runId: string, leaseOwner: string | null): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_center.export_runs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, finished_at = now()
     WHERE run_id = $1 AND status = 'running' AND ${leaseOwner === null ? 'lease_expires_at < now() AND $2::text IS NULL' : 'lease_owner = $2'}`,
    [runId, leaseOwner],
  );
  return r.rowCount === 1;
}

/**
 * The cancel request: a queued run is cancelled at once; a running one is flagged (its worker sees
 * the flag at its next heartbeat and aborts the adapter); a finished one is EXPORT_RUN_FINISHED.
 */
export async function requestCancel(tx: Queryable, runId: string): Promise<{ row: RunRow; immediate: boolean }> {
  const run = await getRun(tx, runId, { forUpdate: true });
  if (FINISHED.includes(run.status))
    throw new StellaError('EXPORT_RUN_FINISHED', `export run ${runId} has already ${run.status}`, {
      details: { runId, status: run.status },
    });
  if (run.status === 'queued') {
    await tx.query(
      `UPDATE export_center.export_runs SET status = 'cancelled', cancel_requested = true, finished_at = now() WHERE run_id = $1`,
      [runId],
    );
    return { row: await getRun(tx, runId), immediate: true };
  }
  await tx.query('UPDATE export_center.export_runs SET cancel_requested = true WHERE run_id = $1', [runId]);
  return { row: await getRun(tx, runId), immediate: false };
}
