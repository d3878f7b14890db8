/**
 * Child process of server/src/evidence-log-crash.e2e.test.ts: runs the evidence log sequencer
 * back to back on the parent's PostgreSQL database and filesystem store until the parent kills it
 * with SIGKILL — a real crash at whatever point the pass was, not a thrown error.
 * Usage: node … log-sequencer-child.ts <signingKeyUri> <originPrefix>
 */
import { loadConfig } from '@stella/platform/config';
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { LogSequencer } from '@stella/evidence-locker';
import { SERVICES } from '../service-registry.js';

const [signingKey, originPrefix] = process.argv.slice(2) as [string, string];
const config = loadConfig(process.env, {}, { cwd: process.cwd(), services: SERVICES });
const db = await openDb(config.database);
const store = openObjectStore(config.objectStore);
const seq = new LogSequencer({ db, store, signingKey, originPrefix });
// The parent starts its random kill timer from here: every kill lands in the pass loop below.
process.stdout.write('ready\n');
for (;;) {
  const r = await seq.pass();
  if (r.forwarded === 0 && r.indexed === 0) await new Promise((res) => setTimeout(res, 5));
}
