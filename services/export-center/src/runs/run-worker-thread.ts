/**
 * The export run worker in a worker thread with a bounded V8 heap (ADR 0016). The run code is the
 * same (run-worker.ts / run-executor.ts over the default engine); only where it runs changes: its
 * own isolate whose old generation is capped at `heapMib` (`resourceLimits`), with its own
 * database pool and object store opened from the same configuration.
 *
 * Why: a run allocates per record (ledger rows, lines, compressed chunks) and keeps almost none of
 * it (the live heap after a full GC stays ~30 MiB over 100,000 records, `--trace-gc`), but V8 lets
 * the old generation grow to about 4× the live size before collecting it, so the peak RSS of an
 * uncapped process grew from 10,000 to 100,000 records by ~70 MiB of garbage. A capped isolate
 * collects earlier: peak RSS is bounded by the cap, whatever the record count. A run that needs
 * more than the cap (a pathological record) ends the thread with ERR_WORKER_OUT_OF_MEMORY, not
 * the server: the thread is restarted and the run's lease expires into the existing recovery
 * (retried as a new attempt, then failed transient `EXPORT_LEASE_EXPIRED`, run-worker.ts).
 *
 * Only for PostgreSQL (an embedded PGlite database cannot be opened by a second isolate) and the
 * default engine (a test's injected engine lives in its own isolate); otherwise, and with
 * `STELLA_EXPORT_WORKER_HEAP_MIB=0`, the worker runs in the calling thread (run-worker.ts).
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig, ObjectStoreConfig } from '@stella/platform/config';
import type { BackgroundWorker } from '@stella/platform/service';
import type { RunLog } from './export-engine.js';
import type { ExportMetrics } from '../metrics.js';
import type { ExportSettings } from '../settings.js';

export interface ThreadedRunWorkerOptions {
  readonly database: Readonly<Extract<DatabaseConfig, { kind: 'postgres' }>>;
  readonly objectStore: Readonly<ObjectStoreConfig>;
  readonly signingKey: string;
  readonly settings: ExportSettings;
  readonly log: RunLog;
  /** Runs executed at once (slots of the one worker in the thread). */
  readonly slots: number;
  /** Cap of the thread's V8 old generation (MiB). */
  readonly heapMib: number;
  /** Lease owner prefix (default `<host>:<pid>:<random>`, chosen by the thread). */
  readonly workerId?: string;
  /** The app's export metrics: the thread's run outcomes are counted here. */
  readonly metrics?: ExportMetrics;
  /** Restart delay after the thread died (ms). */
  readonly restartMs?: number;
}

/** What the thread is started with (structured-cloned into it). */
export interface RunThreadData {
  readonly database: ThreadedRunWorkerOptions['database'];
  readonly objectStore: Readonly<ObjectStoreConfig>;
  readonly signingKey: string;
  readonly settings: ExportSettings;
  readonly slots: number;
  readonly workerId?: string;
}

/** Messages from the thread. */
export type RunThreadMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'stopped' }
  | { readonly type: 'log'; readonly level: keyof RunLog; readonly obj: object; readonly msg?: string }
  /** An attempt ended (metrics.ts `countRun`): counted on the server's registry, not the thread's. */
  | { readonly type: 'count'; readonly labels: { outcome: string; failure_class: string } };

// The thread's entry beside this module: run-thread.js when built; under tsx (sources, tests,
// bench) run-thread.ts, loaded through tsx's register() — Node 20 does not run the parent's
// `--import tsx` hooks in a worker thread.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = new URL(`./run-thread${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
function threadScript(): { script: string | URL; eval: boolean } {
  if (!FROM_SOURCE) return { script: ENTRY, eval: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return {
    script: `import(${tsx}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); })`,
    eval: true,
  };
}

export function threadedExportRunWorker(o: ThreadedRunWorkerOptions): BackgroundWorker {
  let thread: Worker | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  const data: RunThreadData = {
    database: o.database,
    objectStore: o.objectStore,
    signingKey: o.signingKey,
    settings: o.settings,
    slots: o.slots,
    ...(o.workerId ? { workerId: o.workerId } : {}),
  };

  const spawn = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const { script, eval: isEval } = threadScript();
      const t = new Worker(script, {
        eval: isEval,
        workerData: data,
        // Old generation capped (the bound); the young generation at V8's default for such a heap.
        resourceLimits: { maxOldGenerationSizeMb: o.heapMib },
      });
      thread = t;
      let ready = false;
      t.on('message', (m: RunThreadMessage) => {
        if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'log') o.log[m.level](m.obj, m.msg);
        else if (m.type === 'count') o.metrics?.runs.inc(m.labels);
      });
      t.on('error', (err) => {
        o.log.error({ err }, 'export run worker thread failed');
        if (!ready) reject(err);
      });
      t.on('exit', (code) => {
        if (thread === t) thread = undefined;
        if (!ready) reject(new Error(`export run worker thread exited ${code} before it was ready`));
        else if (!stopping) {
          // Its runs' leases expire into the usual recovery (retry, then failed transient).
          o.log.error({ code }, 'export run worker thread exited; restarting it');
          restartTimer = setTimeout(() => {
            spawn().catch((err: unknown) => o.log.error({ err }, 'export run worker thread did not restart'));
          }, o.restartMs ?? 1000);
        }
      });
    });

  return {
    name: 'export-run-worker',
    async start() {
      stopping = false;
      await spawn();
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const t = thread;
      if (!t) return;
      const exited = new Promise<void>((r) => t.once('exit', () => r()));
      t.postMessage('stop');
      // In-flight runs are handed back by the thread's worker.stop(); give it the lease's time.
      const timer = setTimeout(() => void t.terminate(), o.settings.leaseMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
