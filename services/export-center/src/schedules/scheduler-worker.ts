/**
 * The export scheduler worker (`stella serve --workers N`, one per process whatever N is): it
 * campaigns for the scheduler leadership (leader.ts) and, while it leads, runs its leader-only
 * tasks — the scheduler pass every STELLA_EXPORT_SCHEDULER_TICK_MS, retention pruning every
 * STELLA_EXPORT_PRUNE_INTERVAL_MS. Followers only campaign. Tasks run outside the leader's
 * session (they use pooled transactions), one after another, never overlapping themselves.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '@stella/platform/db';
import type { BackgroundWorker } from '@stella/platform/service';
import type { ExportMetrics } from '../metrics.js';
import { campaign, type Leadership } from './leader.js';

export interface LeaderTask {
  readonly name: string;
  readonly everyMs: number;
  run(): Promise<unknown>;
}

export interface SchedulerWorkerOptions {
  db: Db;
  retryMs: number;
  tasks: readonly LeaderTask[];
  log: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  metrics?: ExportMetrics;
}

/** This process in fire rows and logs: `<host>:<pid>:<random>`. */
export function schedulerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function exportSchedulerWorker(o: SchedulerWorkerOptions): BackgroundWorker & { isLeader(): boolean } {
  let leadership: Leadership | undefined;
  let stopped = false;
  const wakers = new Set<() => void>();
  const loops: Promise<void>[] = [];
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      wakers.add(done);
    });

  async function loop(task: LeaderTask): Promise<void> {
    let last = 0;
    while (!stopped) {
      if (leadership?.isLeader() && Date.now() - last >= task.everyMs) {
        last = Date.now();
        await task.run().catch((err: unknown) => o.log.warn({ err, task: task.name }, 'export leader task failed'));
      }
      // Followers look again at the leader check's pace, so a new leader starts within a tick.
      await sleep(Math.min(task.everyMs, o.retryMs));
    }
  }

  return {
    name: 'export-scheduler',
    isLeader: () => leadership?.isLeader() ?? false,
    start() {
      leadership = campaign(o.db, {
        retryMs: o.retryMs,
        log: o.log,
        onChange: (v) => o.metrics?.leader.set(v ? 1 : 0),
      });
      for (const t of o.tasks) loops.push(loop(t));
    },
    async stop() {
      stopped = true;
      for (const w of [...wakers]) w();
      await Promise.all(loops);
      await leadership?.stop();
    },
  };
}
