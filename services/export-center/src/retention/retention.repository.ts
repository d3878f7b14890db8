/**
 * SQL of export retention (issue #11 §2; docs/export/retention.md): per-profile policies, legal
 * holds on runs, and the pruned-runs log (the only place that knows export_retention,
 * export_holds and export_pruned_runs, and that deletes export runs). Tenant functions take a
 * tenant transaction (RLS); `tenantsWithRetentionWork` is the pruning worker's one cross-tenant
 * read (owner role, policies `pruner_read`, 0006).
 */
import { StellaError } from '@stella/core/errors';
import type { Db, Queryable } from '@stella/platform/db';
import { formatDuration } from '../duration.js';
import { runNotFound } from '../runs/run.repository.js';

export interface RetentionPolicy {
  keepLast?: number;
  /** Seconds. */
  maxAgeSeconds?: number;
}

type PolicyRow = {
  profile_id: string;
  keep_last: number | null;
  max_age_seconds: string | null;
  updated_at: Date;
  updated_by: string;
};

export function policyView(r: PolicyRow) {
  return {
    profileId: r.profile_id,
    ...(r.keep_last !== null ? { keepLast: r.keep_last } : {}),
    ...(r.max_age_seconds !== null ? { maxAge: formatDuration(Number(r.max_age_seconds)) } : {}),
    updatedAt: r.updated_at.toISOString(),
    updatedBy: r.updated_by,
  };
}

const POLICY_COLUMNS = 'profile_id, keep_last, max_age_seconds::text AS max_age_seconds, updated_at, updated_by';

export function retentionNotSet(profileId: string): StellaError {
  return new StellaError('EXPORT_PROFILE_NOT_FOUND', `export profile ${profileId} has no retention policy`, {
    details: { profileId, retention: 'none' },
  });
}

export async function putPolicy(
  tx: Queryable,
  profileId: string,
  p: RetentionPolicy,
  actor: string,
): Promise<PolicyRow> {
  const r = await tx.query<PolicyRow>(
    `INSERT INTO export_center.export_retention (profile_id, keep_last, max_age_seconds, updated_by)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, profile_id) DO UPDATE SET keep_last = EXCLUDED.keep_last,
       max_age_seconds = EXCLUDED.max_age_seconds, updated_by = EXCLUDED.updated_by, updated_at = now()
     RETURNING ${POLICY_COLUMNS}`,
    [profileId, p.keepLast ?? null, p.maxAgeSeconds ?? null, actor],
  );
  return r.rows[0]!;
}

export async function getPolicy(tx: Queryable, profileId: string): Promise<PolicyRow | undefined> {
  const r = await tx.query<PolicyRow>(
    `SELECT ${POLICY_COLUMNS} FROM export_center.export_retention WHERE profile_id = $1`,
    [profileId],
  );
  return r.rows[0];
}

export async function deletePolicy(tx: Queryable, profileId: string): Promise<boolean> {
  const r = await tx.query('DELETE FROM export_center.export_retention WHERE profile_id = $1', [profileId]);
  return r.rowCount === 1;
}

// --- legal holds ---------------------------------------------------------------------------------

type HoldRow = { run_id: string; reason: string; created_at: Date; created_by: string };

export function holdView(h: HoldRow) {
  return { runId: h.run_id, reason: h.reason, createdAt: h.created_at.toISOString(), createdBy: h.created_by };
}

/** Places a hold; the run row is locked FOR KEY SHARE first, which orders it against a prune. */
export async function placeHold(tx: Queryable, runId: string, reason: string, actor: string): Promise<HoldRow> {
  const run = await tx.query('SELECT 1 FROM export_center.export_runs WHERE run_id = $1 FOR KEY SHARE', [runId]);
  if (run.rowCount === 0) throw runNotFound(runId);
  const r = await tx.query<HoldRow>(
    `INSERT INTO export_center.export_holds (run_id, reason, created_by) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING run_id, reason, created_at, created_by`,
    [runId, reason, actor],
  );
  if (!r.rows[0])
    throw new StellaError('EXPORT_RUN_HELD', `export run ${runId} is already under a legal hold`, {
      details: { runId },
    });
  return r.rows[0];
}

export async function releaseHold(tx: Queryable, runId: string): Promise<HoldRow> {
  const r = await tx.query<HoldRow>(
    'DELETE FROM export_center.export_holds WHERE run_id = $1 RETURNING run_id, reason, created_at, created_by',
    [runId],
  );
  if (!r.rows[0])
    throw new StellaError('EXPORT_HOLD_NOT_FOUND', `export run ${runId} has no legal hold`, { details: { runId } });
  return r.rows[0];
}

// --- pruning -------------------------------------------------------------------------------------

/** Tenants that have a retention policy or pruned runs whose objects are still to delete (owner read). */
export async function tenantsWithRetentionWork(db: Db): Promise<string[]> {
  const r = await db.query<{ tenant_id: string }>(
    `SELECT tenant_id FROM export_center.export_retention
     UNION SELECT tenant_id FROM export_center.export_pruned_runs WHERE objects_deleted_at IS NULL
     ORDER BY 1`,
  );
  return r.rows.map((x) => x.tenant_id);
}

export async function listPolicies(tx: Queryable): Promise<PolicyRow[]> {
  return (await tx.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM export_center.export_retention ORDER BY profile_id`))
    .rows;
}

export type PruneCandidate = {
  run_id: string;
  profile_id: string;
  profile_version: number;
  status: string;
  archive_digest: string | null;
  manifest_digest: string | null;
  created_at: Date;
  finished_at: Date | null;
  reason: 'keepLast' | 'maxAge';
};

/**
 * The profile's finished runs the policy lets go, oldest first, at most `limit`: beyond the
 * `keepLast` newest finished runs (run ids are ULIDs: newest = highest), or finished longer than
 * `maxAge` ago. Held runs are never candidates; the rows are locked (FOR UPDATE SKIP LOCKED: a
 * row a hold is being placed on is skipped, and the hold cannot land on a row being deleted).
 */
export async function pruneCandidates(
  tx: Queryable,
  profileId: string,
  p: RetentionPolicy,
  now: Date,
  limit: number,
): Promise<PruneCandidate[]> {
  const r = await tx.query<PruneCandidate>(
    `WITH ranked AS (
       SELECT run_id, finished_at, row_number() OVER (ORDER BY run_id DESC) AS n
       FROM export_center.export_runs
       WHERE profile_id = $1 AND status IN ('succeeded', 'failed', 'cancelled')
     ), expired AS (
       SELECT run_id, CASE WHEN $2::integer IS NOT NULL AND n > $2::integer THEN 'keepLast' ELSE 'maxAge' END AS reason
       FROM ranked
       WHERE ($2::integer IS NOT NULL AND n > $2::integer)
          OR ($3::bigint IS NOT NULL AND finished_at < $4::timestamptz - make_interval(secs => $3::double precision))
     )
     SELECT r.run_id, r.profile_id, r.profile_version, r.status, r.archive_digest, r.manifest_digest, r.created_at,
            r.finished_at, e.reason
     FROM export_center.export_runs r JOIN expired e USING (run_id)
     WHERE NOT EXISTS (SELECT 1 FROM export_center.export_holds h WHERE h.run_id = r.run_id)
     ORDER BY r.run_id LIMIT $5
     FOR UPDATE OF r SKIP LOCKED`,
    [profileId, p.keepLast ?? null, p.maxAgeSeconds ?? null, now, limit],
  );
  return r.rows;
}

/**
 * Deletes the runs' rows (events, inputs, distributions, the run) and writes their pruned-run
 * records, in the caller's transaction. Their objects are deleted after the commit.
 */
export async function deleteRunRows(
  tx: Queryable,
  runs: readonly (PruneCandidate & { objectPrefix: string; policy: object })[],
  actor: string,
): Promise<void> {
  const ids = runs.map((r) => r.run_id);
  if (ids.length === 0) return;
  for (const r of runs)
    await tx.query(
      `INSERT INTO export_center.export_pruned_runs (run_id, profile_id, profile_version, status, archive_digest,
         manifest_digest, run_created_at, run_finished_at, reason, policy, object_prefix, pruned_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)`,
      [
        r.run_id,
        r.profile_id,
        r.profile_version,
        r.status,
        r.archive_digest,
        r.manifest_digest,
        r.created_at,
        r.finished_at,
        r.reason,
        JSON.stringify(r.policy),
        r.objectPrefix,
        actor,
      ],
    );
  for (const table of ['export_run_events', 'export_inputs', 'export_distributions', 'export_runs'])
    await tx.query(`DELETE FROM export_center.${table} WHERE run_id = ANY($1::text[])`, [ids]);
}

/** Pruned runs whose objects are not deleted yet (a crash after the rows' commit leaves these). */
export async function pendingObjectPrefixes(tx: Queryable, limit = 500): Promise<{ runId: string; prefix: string }[]> {
  const r = await tx.query<{ run_id: string; object_prefix: string }>(
    `SELECT run_id, object_prefix FROM export_center.export_pruned_runs WHERE objects_deleted_at IS NULL
     ORDER BY run_id LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({ runId: x.run_id, prefix: x.object_prefix }));
}

export async function markObjectsDeleted(tx: Queryable, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  await tx.query(
    'UPDATE export_center.export_pruned_runs SET objects_deleted_at = now() WHERE run_id = ANY($1::text[])',
    [[...runIds]],
  );
}

type PrunedRow = {
  run_id: string;
  profile_id: string;
  profile_version: number;
  status: string;
  archive_digest: string | null;
  manifest_digest: string | null;
  reason: string;
  policy: Record<string, unknown>;
  pruned_at: Date;
  pruned_by: string;
  objects_deleted_at: Date | null;
};

export function prunedView(r: PrunedRow) {
  return {
    runId: r.run_id,
    profile: { id: r.profile_id, version: r.profile_version },
    status: r.status,
    ...(r.archive_digest ? { archiveDigest: r.archive_digest } : {}),
    ...(r.manifest_digest ? { manifestDigest: r.manifest_digest } : {}),
    reason: r.reason,
    policy: r.policy,
    prunedAt: r.pruned_at.toISOString(),
    prunedBy: r.pruned_by,
    objectsDeleted: r.objects_deleted_at !== null,
  };
}

export async function listPruned(tx: Queryable, q: { before?: string; limit: number }): Promise<PrunedRow[]> {
  const r = await tx.query<PrunedRow>(
    `SELECT run_id, profile_id, profile_version, status, archive_digest, manifest_digest, reason, policy, pruned_at,
            pruned_by, objects_deleted_at
     FROM export_center.export_pruned_runs ${q.before ? 'WHERE run_id < $2' : ''} ORDER BY run_id DESC LIMIT $1`,
    q.before ? [q.limit, q.before] : [q.limit],
  );
  return r.rows;
}
