/**
 * One export run worker in its own process for bench/export.ts: the service's real worker
 * (`exportRunWorker` over the real engine — ledger, adapters, sealer — exactly what
 * `stella serve --workers 1 --services export-center` runs) on a Postgres URL and an fs object
 * store. Prints `ready` once it polls; on SIGTERM it stops, closes the pool and prints
 * `{"maxRssMiB": …}` — the peak RSS of this process over its whole life (getrusage).
 *
 * argv: <postgres url> <object store root> <signing key uri>
 */
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { defaultEngine, exportRunWorker, exportSettings } from '@stella/export-center';

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
const worker = exportRunWorker(
  { db, store, signingKey, engine: defaultEngine, settings: exportSettings({}), log },
  { slots: 1, workerId: `bench-${process.pid}` },
);
await worker.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    await db.close();
    // A pipe write is asynchronous: exit only once the line is out.
    process.stdout.write(`${JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`, () =>
      process.exit(0),
    );
  })();
});
setInterval(() => undefined, 1_000);
