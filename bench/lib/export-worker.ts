/**
 * One export run worker in its own process for bench/export.ts: the service's real worker
 * (`exportRunWorker` over the real engine — ledger, adapters, sealer — exactly what
 * `stella serve --workers 1 --services export-center` runs, in its bounded-heap thread unless
 * STELLA_EXPORT_WORKER_HEAP_MIB=0) on a Postgres URL and an fs object
 * store. Prints `ready` once it polls; on SIGTERM it stops, closes the pool and prints
 * `{"maxRssMiB": …, "peakMiB": {…}}` — the peak RSS of this process over its whole life
 * (getrusage) and the peaks of `process.memoryUsage()` sampled every 20 ms (V8 heap used and
 * committed, external memory and ArrayBuffers), to tell a heap that grows from native memory.
 *
 * argv: <postgres url> <object store root> <signing key uri>
 */
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { defaultEngine, exportRunWorker, exportSettings, threadedExportRunWorker } from '@stella/export-center';

const [dbUrl, storeRoot, signingKey] = process.argv.slice(2);
if (!dbUrl || !storeRoot || !signingKey) {
  process.stderr.write('usage: export-worker <pg url> <store root> <key uri>\n');
  process.exit(2);
}
// Never outlive the parent (the IPC channel closes when it dies), nor half an hour.
process.on('disconnect', () => process.exit(5));
setTimeout(() => process.exit(4), 30 * 60_000).unref();
const db = await openDb({ kind: 'postgres', url: dbUrl });
const store = openObjectStore({ kind: 'file', root: storeRoot });
const log = {
  info: () => undefined,
  warn: () => undefined,
  error: (o: object) => process.stderr.write(`${JSON.stringify(o)}\n`),
};
// As `stella serve` runs it (service.ts): in a worker thread whose heap is capped at
// STELLA_EXPORT_WORKER_HEAP_MIB (default 128; ADR 0016), or with 0 in this thread, uncapped.
const settings = exportSettings(
  process.env.STELLA_EXPORT_WORKER_HEAP_MIB === undefined
    ? {}
    : { STELLA_EXPORT_WORKER_HEAP_MIB: Number(process.env.STELLA_EXPORT_WORKER_HEAP_MIB) },
);
const workerId = `bench-${process.pid}`;
const worker =
  settings.workerHeapMib > 0
    ? threadedExportRunWorker({
        database: { kind: 'postgres', url: dbUrl },
        objectStore: { kind: 'file', root: storeRoot },
        signingKey,
        settings,
        log,
        slots: 1,
        heapMib: settings.workerHeapMib,
        workerId,
      })
    : exportRunWorker({ db, store, signingKey, engine: defaultEngine, settings, log }, { slots: 1, workerId });
// Peaks of process.memoryUsage() (sampled): which part of the RSS a run grows, if any.
const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
};
setInterval(sample, 20).unref();
await worker.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    await db.close();
    // A pipe write is asynchronous: exit only once the line is out.
    sample();
    const peakMiB = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round((v / 2 ** 20) * 10) / 10]));
    process.stdout.write(`${JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, peakMiB })}\n`, () =>
      process.exit(0),
    );
  })();
});
setInterval(() => undefined, 1_000);
