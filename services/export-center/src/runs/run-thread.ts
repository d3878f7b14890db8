/**
 * Entry of the export run worker thread (run-worker-thread.ts, ADR 0016): opens its own database
 * pool and object store from the configuration it is given, runs the leased run worker over the
 * default engine, forwards its log lines, and on `stop` hands in-flight runs back and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { defaultEngine } from '../engine.js';
import type { ExportMetrics } from '../metrics.js';
import type { RunLog } from './export-engine.js';
import { exportRunWorker } from './run-worker.js';
import type { RunThreadData, RunThreadMessage } from './run-worker-thread.js';

const port = parentPort;
if (!port) throw new Error('run-thread.ts runs only as a worker thread');
const d = workerData as RunThreadData;

/** Errors do not survive structured cloning whole: their name, message, code and stack do. */
const cloneable = (obj: object): object =>
  Object.fromEntries(
    Object.entries(obj).map(([k, v]) => [
      k,
      v instanceof Error
        ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code, stack: v.stack }
        : v,
    ]),
  );
const post = (m: RunThreadMessage) => port.postMessage(m);
const line =
  (level: keyof RunLog) =>
  (obj: object, msg?: string): void => {
    try {
      post({ type: 'log', level, obj: cloneable(obj), ...(msg !== undefined ? { msg } : {}) });
    } catch {
      post({ type: 'log', level, obj: { unserializable: true }, ...(msg !== undefined ? { msg } : {}) });
    }
  };
const log: RunLog = { info: line('info'), warn: line('warn'), error: line('error') };

// The configured pool size (STELLA_DATABASE_POOL_MAX, default 10): each slot's ledger pages,
// heartbeats and progress writes, and the claim and sweep loops, run on connections of their own —
// with fewer, ledger pages queue behind heartbeats and a run's wall time grows many-fold on a
// loaded database (seen at 2 connections: 153 s for 100,000 records, 11 s of CPU).
const db = await openDb(d.database);
const store = openObjectStore(d.objectStore);
// Run outcomes go to the server's registry (the thread has none of its own): countRun calls
// `runs.inc`, which posts them.
const metrics = {
  runs: { inc: (labels: { outcome: string; failure_class: string }) => post({ type: 'count', labels }) },
} as unknown as ExportMetrics;
const worker = exportRunWorker(
  { db, store, signingKey: d.signingKey, engine: defaultEngine, settings: d.settings, log, metrics },
  { slots: d.slots, ...(d.workerId ? { workerId: d.workerId } : {}) },
);
await worker.start();
post({ type: 'ready' });
port.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  void (async () => {
    await worker.stop();
    await db.close();
    post({ type: 'stopped' });
    port.close();
  })();
});
