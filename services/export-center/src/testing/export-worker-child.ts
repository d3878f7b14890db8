/**
 * An export run worker in its own process, for the multi-process and SIGKILL tests: it runs the
 * service's worker (`exportRunWorker`) on a Postgres URL and an fs object store until it is
 * killed, and prints `ready` once it is polling.
 *
 * argv: <postgres url> <object store root> <signing key uri> <counter dir> <settings JSON> <slots>
 */
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { exportRunWorker } from '../runs/run-worker.js';
import { DEFAULT_EXPORT_SETTINGS } from '../settings.js';
import { childTestEngine } from './child-engine.js';

const [dbUrl, storeRoot, signingKey, counterDir, settingsJson, slots] = process.argv.slice(2);
if (!dbUrl || !storeRoot || !signingKey || !counterDir) {
  process.stderr.write('usage: export-worker-child <pg url> <store root> <key uri> <counter dir> [settings] [slots]\n');
  process.exit(2);
}
// Never outlive a parent that died without killing us.
setTimeout(() => process.exit(4), 120_000).unref();
const db = await openDb({ kind: 'postgres', url: dbUrl });
const store = openObjectStore({ kind: 'file', root: storeRoot });
const worker = exportRunWorker(
  {
    db,
    store,
    signingKey,
    engine: childTestEngine(counterDir),
    settings: { ...DEFAULT_EXPORT_SETTINGS, ...(JSON.parse(settingsJson ?? '{}') as object) },
    log: { info: () => undefined, warn: () => undefined, error: (o) => process.stderr.write(`${JSON.stringify(o)}\n`) },
  },
  { slots: Number(slots ?? 1), workerId: `child-${process.pid}` },
);
await worker.start();
process.stdout.write('ready\n');
process.on(
  'SIGTERM',
  () =>
    void worker
      .stop()
      .then(() => db.close())
      .then(() => process.exit(0)),
);
setInterval(() => undefined, 1_000);
