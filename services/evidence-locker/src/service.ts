/**
 * The evidence-locker service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Routes: blob intake, snapshot/seal, read/list/download, offline verify (docs/formats/evidence-bundle.md),
 * holds, retention and tombstones (docs/evidence/retention.md), incident mode
 * (docs/evidence/incident-mode.md). Workers: the retention purge (src/retention/worker.ts) and the
 * sweeper of abandoned staging leftovers and unreferenced objects (docs/evidence-sweeper.md).
 */
import { fileURLToPath } from 'node:url';
import { defineService } from '@stella/platform/service';
import { TLOG_MIGRATIONS } from '@stella/platform/tlog';
import { artifactRoutes } from './routes/artifacts.js';
import { blobRoutes } from './routes/blobs.js';
import { bundleRoutes } from './routes/bundles.js';
import { holdRoutes } from './routes/holds.js';
import { incidentRoutes } from './routes/incident.js';
import { logRoutes } from './routes/log.js';
import { logSequencerWorker } from './log/log-sequencer.js';
import { retentionRoutes } from './routes/retention.js';
import { portableRoutes } from './routes/portable.js';
import { TAG } from './routes/schemas.js';
import { snapshotRoutes } from './routes/snapshot.js';
import { verifyRoutes } from './routes/verify.js';
import { purgeWorker } from './retention/worker.js';
import { EVIDENCE_VARIABLES, evidenceSettings } from './settings.js';
import { evidenceSweeper } from './sweeper/evidence-sweeper.js';

export const evidenceLockerService = defineService({
  name: 'evidence-locker',
  summary: 'Seals, signs, timestamps and holds evidence bundles; exports portable bundles',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'evidence-locker', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  // The tenants' transparency logs (ADR 0013) live in the platform's `tlog` schema.
  requires: [TLOG_MIGRATIONS],
  variables: EVIDENCE_VARIABLES,
  openApiTags: [{ name: TAG, description: 'Evidence Locker: sealed, signed, timestamped evidence bundles' }],
  // Each plugin is registered in its own encapsulated scope, so the stream body parsers it adds
  // (application/octet-stream, application/gzip) apply to its routes only.
  routes: (deps) => [
    blobRoutes(deps),
    snapshotRoutes(deps),
    bundleRoutes(deps),
    artifactRoutes(deps),
    holdRoutes(deps),
    verifyRoutes(deps),
    retentionRoutes(deps),
    incidentRoutes(deps),
    portableRoutes(deps),
    logRoutes(deps),
  ],
  // One purge loop and one sweeper per process that runs workers, whatever their count: replicas
  // share the purge through row locks, and overlapping sweepers are safe (every deletion is decided
  // under the object-claim lock). None with --workers 0, where `POST /evidence/retention/purge`
  // still runs a pass on demand.
  // The log sequencer likewise: one per process, replicas share the queue (SKIP LOCKED) and each
  // log's integration (its advisory lock).
  workers: (deps, count) => {
    if (count === 0) return [];
    const s = evidenceSettings(deps.settings);
    const sequencer = logSequencerWorker(
      {
        db: deps.db,
        store: deps.store,
        signingKey: deps.signingKey,
        originPrefix: s.logOrigin,
        onError: (err) => deps.log.error({ err }, 'evidence log sequencer pass failed'),
      },
      s.logIntervalMs,
    );
    return [purgeWorker(deps), evidenceSweeper(deps), sequencer];
  },
});
