/**
 * The maintenance worker: partitions ahead (partitions.ts), then retention (retention.ts), once
 * at start and then every `everyMs`. Every replica runs one; the advisory lock lets one work at
 * a time and the others skip that round.
 */
import type { Db } from '@stella/platform/db';
import type { BackgroundWorker } from '@stella/platform/service';
import { ensurePartitions, type PartitionSettings } from './partitions.js';
import { purgeExpired, type PurgeReport, type RetentionPolicy } from './retention.js';

export interface MaintenanceSettings extends PartitionSettings {
  retention: RetentionPolicy;
  everyMs: number;
}

export interface MaintenanceReport extends PurgeReport {
  created: string[];
}

/** One round: create ahead, then purge. `now` is a parameter so tests can move time. */
export async function runMaintenance(db: Db, s: MaintenanceSettings, now = new Date()): Promise<MaintenanceReport> {
  const created = await ensurePartitions(db, s, now);
  const purge = await purgeExpired(db, s.retention, now);
  return { created, ...purge };
}

export function maintenanceWorker(
  db: Db,
  s: MaintenanceSettings,
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void },
): BackgroundWorker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = () => {
    running ??= runMaintenance(db, s)
      .then((r) => {
        if (r.created.length || r.dropped.length || r.purged) log.info(r, 'timeline maintenance');
      })
      .catch((err) => log.warn({ err }, 'timeline maintenance failed; retried next round'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(round, s.everyMs);
      });
  };
  return {
    name: 'timeline-maintenance',
    start() {
      stopped = false;
      round();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
