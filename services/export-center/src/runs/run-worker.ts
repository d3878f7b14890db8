/**
 * The export job worker (`stella serve --workers N`): N slots in this process, each claiming one
 * due run at a time with a lease (run.repository.ts `claimNextRun`: FOR UPDATE SKIP LOCKED, so any
 * number of processes share the queue), plus a sweeper that settles runs whose worker died on
 * their last attempt. `stop()` aborts in-flight runs and hands them back (queued, attempt not
 * counted) so a rolling restart loses nothing.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BackgroundWorker } from '@stella/platform/service';
import type { RunEnv } from './export-engine.js';
import { countRun } from '../metrics.js';
import { executeClaimedRun, recordCancelled, recordFailure } from './run-executor.js';
import { claimNextRun, deadLeases, getRun, markCancelled, markFailed } from './run.repository.js';

export interface RunWorkerOptions {
  /** Runs this process executes at once. */
  slots: number;
  /** Identifies this process in leases (default `<host>:<pid>:<random>`). */
  workerId?: string;
}

/** Settles runs whose lease expired and that cannot be retried; returns how many. */
export async function sweepDeadLeases(env: RunEnv): Promise<number> {
  let settled = 0;
  for (const { tenant, runId } of await deadLeases(env.db)) {
    const done = await env.db.withTenant(tenant, async (tx) => {
      const run = await getRun(tx, runId);
      if (run.cancel_requested) {
        if (!(await markCancelled(tx, runId, null))) return false;
        await recordCancelled(tx, runId, run.attempts);
        return 'cancelled' as const;
      }
      const failure = {
        class: 'transient' as const,
        code: 'EXPORT_LEASE_EXPIRED',
        message: `the worker of attempt ${run.attempts} of ${run.max_attempts} stopped heartbeating`,
      };
      if (!(await markFailed(tx, runId, null, failure))) return false;
      await recordFailure(tx, tenant, runId, failure, run.attempts);
      return 'failed' as const;
    });
    if (done) {
      settled++;
      countRun(
        env.metrics,
        done === 'cancelled' ? 'cancelled' : 'failed',
        done === 'cancelled' ? undefined : 'transient',
      );
    }
  }
  return settled;
}

export function exportRunWorker(env: RunEnv, opts: RunWorkerOptions): BackgroundWorker {
  const workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const shutdown = new AbortController();
  const loops: Promise<void>[] = [];
  let wake: (() => void)[] = [];

  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = wake.filter((w) => w !== done);
        resolve();
      }
      wake.push(done);
    });

  async function slot(): Promise<void> {
    while (!shutdown.signal.aborted) {
      try {
        const claim = await claimNextRun(env.db, {
          workerId,
          leaseMs: env.settings.leaseMs,
          tenantConcurrency: env.settings.tenantConcurrency,
        });
        if (!claim) {
          await idle(env.settings.pollMs);
          continue;
        }
        env.log.info(
          { runId: claim.runId, tenant: claim.tenant, attempt: claim.attempt, workerId },
          'export run claimed',
        );
        await executeClaimedRun(env, claim, shutdown.signal);
      } catch (err) {
        env.log.warn({ err, workerId }, 'export worker: claim failed');
        await idle(env.settings.pollMs * 4);
      }
    }
  }

  async function sweeper(): Promise<void> {
    while (!shutdown.signal.aborted) {
      await sweepDeadLeases(env).catch((err: unknown) => env.log.warn({ err }, 'export worker: sweep failed'));
      await idle(Math.max(env.settings.pollMs, Math.floor(env.settings.leaseMs / 4)));
    }
  }

  return {
    name: 'export-run-worker',
    start() {
      for (let i = 0; i < opts.slots; i++) loops.push(slot());
      loops.push(sweeper());
    },
    async stop() {
      shutdown.abort();
      for (const w of [...wake]) w();
      await Promise.all(loops);
    },
  };
}
