/**
 * Child process of server/src/evidence-retention.e2e.test.ts: runs one purge pass for a tenant on the
 * parent's PostgreSQL database and filesystem store, and SIGKILLs itself when the pass reaches
 * the stage named in argv for the bundle named there — a real crash at that point, not a thrown error.
 * Usage: node … purge-crash-child.ts <tenant> <signingKeyUri> <stage> <bundleId>
 */
import { loadConfig } from '@stella/platform/config';
import { openDb } from '@stella/platform/db';
import { openObjectStore } from '@stella/platform/object-store';
import { purgeTenant, systemTransaction } from '@stella/evidence-locker';
import { SERVICES } from '../service-registry.js';

const [tenant, signingKey, killAt, target] = process.argv.slice(2) as [string, string, string, string];
const config = loadConfig(process.env, {}, { cwd: process.cwd(), services: SERVICES });
const db = await openDb(config.database);
const store = openObjectStore(config.objectStore);
await purgeTenant({
  tenant,
  actor: 'system:crash-test',
  transaction: (fn) => systemTransaction(db, tenant, 'system:crash-test', fn),
  store,
  signingKey,
  incidentExtensionSeconds: 0,
  onStage: (stage, bundleId) => {
    if (stage === killAt && bundleId === target) process.kill(process.pid, 'SIGKILL');
  },
});
// Reached only when the stage never came: the parent treats exit 0 as "no crash happened".
await db.close();
await store.close();
