/**
 * The purge worker (docs/evidence/retention.md "Purge"): every STELLA_EVIDENCE_PURGE_INTERVAL it
 * runs {@link purgeTenant} for each tenant that has a retention policy, an active hold with an
 * `endsAt`, or an unfinished tombstone. Which tenants those are is the one thing it reads as the
 * owner role (read-only policies of migration 0003); each tenant's work runs under its RLS.
 * Replicas may run it side by side: bundle rows are taken FOR UPDATE SKIP LOCKED.
 */
import type { BackgroundWorker, ServiceDeps } from '@stella/platform/service';
import { evidenceSettings } from '../settings.js';
import { systemTransaction } from '../system-tx.js';
import { purgeTenant, type PurgeResult } from './purge.js';

export const PURGE_ACTOR = 'system:evidence-locker/purge';

/** Tenants with retention work, as the owner role. */
export async function tenantsWithRetentionWork(db: ServiceDeps['db']): Promise<string[]> {
  const r = await db.query<{ tenant_id: string }>(
    `SELECT tenant_id FROM evidence_locker.retention_policies
     UNION SELECT tenant_id FROM evidence_locker.holds WHERE released_at IS NULL AND ends_at IS NOT NULL
     UNION SELECT tenant_id FROM evidence_locker.tombstones WHERE finished_at IS NULL
     ORDER BY 1`,
  );
  return r.rows.map((row) => row.tenant_id);
}

/** One pass over every tenant; a failing tenant is logged and does not stop the others. */
export async function purgeAll(deps: ServiceDeps, now?: Date): Promise<Map<string, PurgeResult>> {
  const settings = evidenceSettings(deps.settings);
  const results = new Map<string, PurgeResult>();
  for (const tenant of await tenantsWithRetentionWork(deps.db)) {
    try {
      results.set(
        tenant,
        await purgeTenant({
          tenant,
          actor: PURGE_ACTOR,
          transaction: (fn) => systemTransaction(deps.db, tenant, PURGE_ACTOR, fn),
          store: deps.store,
          signingKey: deps.signingKey,
          incidentExtensionSeconds: settings.incidentExtensionSeconds,
          ...(now ? { now } : {}),
        }),
      );
    } catch (err) {
      deps.log.error({ err, tenant }, 'evidence purge failed for a tenant; retried next pass');
    }
  }
  return results;
}

export function purgeWorker(deps: ServiceDeps): BackgroundWorker {
  const intervalMs = evidenceSettings(deps.settings).purgeIntervalSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const tick = () => {
    running = purgeAll(deps)
      .then((results) => {
        const purged = [...results.values()].reduce((n, r) => n + r.purged.length, 0);
        if (purged) deps.log.info({ purged }, 'evidence purge pass');
      })
      .catch((err: unknown) => deps.log.error({ err }, 'evidence purge pass failed'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  return {
    name: 'evidence-purge',
    start() {
      stopped = false;
      timer = setTimeout(tick, Math.min(intervalMs, 5_000));
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
