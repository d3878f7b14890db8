/**
 * Retention pruning (issue #11 §2; docs/export/retention.md). Per tenant, per profile policy:
 * the runs past `keepLast` / `maxAge` that no legal hold covers lose their rows — run, events,
 * inputs, distributions — in ONE transaction that also writes a pruned-run record, an audit entry
 * and an `export.pruned` outbox event per run. Their objects (everything under the run's key
 * prefix) are deleted after that commit; a crash in between leaves pruned-run records with
 * `objects_deleted_at` NULL, which every pass finishes first (the leftover sweep).
 */
import { isStellaError } from '@stella/core/errors';
import type { Db } from '@stella/platform/db';
import type { ObjectStore } from '@stella/platform/object-store';
import { formatDuration } from '../duration.js';
import type { ExportMetrics } from '../metrics.js';
import { runObjectPrefix } from '../settings.js';
import { systemTransaction } from '../system-tx.js';
import {
  deleteRunRows,
  listPolicies,
  markObjectsDeleted,
  pendingObjectPrefixes,
  pruneCandidates,
  tenantsWithRetentionWork,
} from './retention.repository.js';

export const PRUNER_ACTOR = 'system:export-retention';
/** Runs per profile per transaction (a large backlog is worked off over several passes). */
const BATCH = 200;

export interface PruneEnv {
  readonly db: Db;
  readonly store: ObjectStore;
  readonly log: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  readonly metrics?: ExportMetrics;
}

export interface PrunedRun {
  runId: string;
  profileId: string;
  reason: 'keepLast' | 'maxAge';
}

export interface PruneResult {
  pruned: PrunedRun[];
  /** Objects deleted in this pass (this pass's runs and leftovers of earlier ones). */
  objectsDeleted: number;
}

/** Deletes the objects under each prefix (absent ones are fine), then marks the records done. */
async function deleteObjects(env: PruneEnv, tenant: string, items: { runId: string; prefix: string }[]) {
  let deleted = 0;
  const done: string[] = [];
  for (const { runId, prefix } of items) {
    try {
      let cursor: string | undefined;
      do {
        const page = await env.store.list(prefix, cursor ? { cursor } : {});
        for (const item of page.items) {
          await env.store.delete(item.key).then(
            () => deleted++,
            (err: unknown) => {
              if (!(isStellaError(err) && err.code === 'OBJECT_NOT_FOUND')) throw err;
            },
          );
        }
        cursor = page.nextCursor;
      } while (cursor);
      done.push(runId);
    } catch (err) {
      // Left pending: the next pass tries again.
      env.log.warn({ err, tenant, runId, prefix }, 'export retention: objects not deleted yet');
    }
  }
  await systemTransaction(env.db, tenant, PRUNER_ACTOR, (tx) => markObjectsDeleted(tx, done));
  return deleted;
}

/** One pass over one tenant; `actor` is the system or, for POST …/retention/prune, the caller. */
export async function pruneTenant(
  env: PruneEnv,
  tenant: string,
  opts: { actor?: string; now?: Date; stopAfterRows?: boolean } = {},
): Promise<PruneResult> {
  const actor = opts.actor ?? PRUNER_ACTOR;
  const now = opts.now ?? new Date();
  // Leftovers of an earlier pass that stopped between its commit and its object deletes.
  const leftovers = await systemTransaction(env.db, tenant, actor, (tx) => pendingObjectPrefixes(tx));
  let objectsDeleted = opts.stopAfterRows ? 0 : await deleteObjects(env, tenant, leftovers);

  const pruned = await systemTransaction(env.db, tenant, actor, async (tx) => {
    const out: (PrunedRun & { prefix: string })[] = [];
    for (const p of await listPolicies(tx)) {
      const policy = {
        ...(p.keep_last !== null ? { keepLast: p.keep_last } : {}),
        ...(p.max_age_seconds !== null ? { maxAgeSeconds: Number(p.max_age_seconds) } : {}),
      };
      const victims = await pruneCandidates(tx, p.profile_id, policy, now, BATCH);
      if (victims.length === 0) continue;
      const shown = {
        ...(policy.keepLast ? { keepLast: policy.keepLast } : {}),
        ...(policy.maxAgeSeconds ? { maxAge: formatDuration(policy.maxAgeSeconds) } : {}),
      };
      const rows = victims.map((v) => ({ ...v, objectPrefix: runObjectPrefix(tenant, v.run_id), policy: shown }));
      await deleteRunRows(tx, rows, actor);
      for (const v of rows) {
        await tx.audit({
          action: 'export.run.prune',
          resource: v.run_id,
          details: { profileId: v.profile_id, reason: v.reason, policy: shown, status: v.status },
        });
        await tx.publish({
          kind: 'export.pruned',
          subject: v.run_id,
          attributes: { runId: v.run_id, profileId: v.profile_id, reason: v.reason, status: v.status },
          ...(v.archive_digest
            ? {
                evidence: [
                  { digest: v.archive_digest, ...(v.manifest_digest ? { manifestDigest: v.manifest_digest } : {}) },
                ],
              }
            : {}),
        });
        out.push({ runId: v.run_id, profileId: v.profile_id, reason: v.reason, prefix: v.objectPrefix });
      }
    }
    return out;
  });
  for (const p of pruned) env.metrics?.pruned.inc({ reason: p.reason });
  if (!opts.stopAfterRows)
    objectsDeleted += await deleteObjects(
      env,
      tenant,
      pruned.map((p) => ({ runId: p.runId, prefix: p.prefix })),
    );
  if (pruned.length) env.log.info({ tenant, pruned: pruned.length, objectsDeleted }, 'export retention: runs pruned');
  return { pruned: pruned.map(({ prefix: _prefix, ...p }) => p), objectsDeleted };
}

/** One pass over every tenant with retention work (the leader's periodic task). */
export async function pruneAll(env: PruneEnv, now?: Date): Promise<Map<string, PruneResult>> {
  const out = new Map<string, PruneResult>();
  for (const tenant of await tenantsWithRetentionWork(env.db)) {
    try {
      out.set(tenant, await pruneTenant(env, tenant, now ? { now } : {}));
    } catch (err) {
      env.log.warn({ err, tenant }, 'export retention: pass failed for the tenant');
    }
  }
  return out;
}
