/**
 * The evidence sweeper (issue #8 item 2; policy in docs/evidence-sweeper.md). A crash or SIGKILL
 * between writing an object and committing its row leaves either a staging leftover inside the
 * store (a half-written temp file, an S3 staging key or multipart upload) or a complete object
 * under `evidence/` that no row names. One pass removes both kinds once they are older than the
 * configured age; unreferenced objects are re-checked under the object-claim lock
 * (objects/object-claims.ts), and held or retained (WORM) objects are never touched.
 */
import type { Db } from '@stella/platform/db';
import type { ObjectStore } from '@stella/platform/object-store';
import type { BackgroundWorker, ServiceDeps } from '@stella/platform/service';
import { removeUnreferenced } from '../objects/object-claims.js';
import { evidenceSettings, parseEvidenceKey } from '../settings.js';

export interface SweepReport {
  /** Driver-internal staging leftovers the store removed (`ObjectStore.sweepAbandoned`). */
  staging: string[];
  /** Unreferenced evidence objects removed. */
  removed: string[];
  /** Unreferenced but held or retained in the store: kept. */
  retained: string[];
  /** Unreferenced but younger than the age: kept for a later pass. */
  young: string[];
  /** Keys under `evidence/` of a shape the sweeper does not own: never touched. */
  foreign: string[];
}

const PAGE = 200;

export async function sweepEvidence(
  db: Db,
  store: ObjectStore,
  opts: { olderThanMs: number; now?: () => number },
): Promise<SweepReport> {
  const now = opts.now?.() ?? Date.now();
  const report: SweepReport = {
    staging: (await store.sweepAbandoned({ olderThanMs: opts.olderThanMs })).removed,
    removed: [],
    retained: [],
    young: [],
    foreign: [],
  };
  const olderThan = new Date(now - opts.olderThanMs);
  let cursor: string | undefined;
  do {
    const page = await store.list('evidence/', { limit: PAGE, ...(cursor ? { cursor } : {}) });
    cursor = page.nextCursor;
    // One tenant transaction per tenant and page: the references are read under RLS as that tenant.
    const byTenant = new Map<string, string[]>();
    for (const { key } of page.items) {
      const ref = parseEvidenceKey(key);
      if (!ref) {
        report.foreign.push(key);
        continue;
      }
      byTenant.set(ref.tenant, [...(byTenant.get(ref.tenant) ?? []), key]);
    }
    for (const [tenant, keys] of byTenant) {
      const r = await db.withTenant(tenant, (tx) =>
        removeUnreferenced(tx, store, keys, { olderThan, now: new Date(now) }),
      );
      report.removed.push(...r.removed);
      report.retained.push(...r.retained);
      report.young.push(...r.young);
    }
  } while (cursor);
  return report;
}

/** The sweeper as a background loop: a pass at start, then one every interval; `stop` waits for a running pass. */
export function evidenceSweeper(deps: ServiceDeps): BackgroundWorker {
  const settings = evidenceSettings(deps.settings);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    try {
      const r = await sweepEvidence(deps.db, deps.store, { olderThanMs: settings.sweepAgeMs });
      if (r.staging.length + r.removed.length + r.retained.length + r.foreign.length > 0)
        deps.log.info(
          {
            staging: r.staging.length,
            removed: r.removed,
            retained: r.retained.length,
            young: r.young.length,
            foreign: r.foreign.length,
          },
          'evidence sweep',
        );
    } catch (err) {
      deps.log.warn({ err }, 'evidence sweep failed; retrying at the next interval');
    }
  };
  const tick = () => {
    running = pass().finally(() => {
      running = undefined;
      if (!stopped) (timer = setTimeout(tick, settings.sweepIntervalMs)).unref();
    });
  };
  return {
    name: 'evidence-sweeper',
    start: () => tick(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
