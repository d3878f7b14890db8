/**
 * The export-center service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Routes: sources (docs/export/sources.md), profiles, plan, runs (create/list/get/cancel, SSE events, download, verify),
 * schedules (docs/export/schedules.md), retention and legal holds (docs/export/retention.md); workers: the leased export
 * run worker (docs/export/runs.md; in a bounded-heap worker thread, ADR 0016), and the scheduler and the retention
 * pruner, which run on the elected leader only (ADR 0020).
 */
import { fileURLToPath } from 'node:url';
import { defineService, type ServiceModule } from '@stella/platform/service';
import { defaultEngine } from './engine.js';
import { planRoutes } from './routes/plan.js';
import { profileRoutes } from './routes/profiles.js';
import { runDownloadRoutes } from './routes/run-download.js';
import { runEventRoutes } from './routes/run-events.js';
import { runRoutes } from './routes/runs.js';
import { runVerifyRoutes } from './routes/run-verify.js';
import { retentionRoutes } from './routes/retention.js';
import { scheduleRoutes } from './routes/schedules.js';
import { pruneAll } from './retention/prune.js';
import { sourcesRoutes, SOURCES_TAG } from './routes/sources.js';
import { TAG } from './routes/schemas.js';
import type { ExportEngine } from './runs/export-engine.js';
import { exportRunWorker } from './runs/run-worker.js';
import { exportMetrics } from './metrics.js';
import { runSchedulerPass } from './schedules/scheduler.js';
import { exportSchedulerWorker, schedulerId } from './schedules/scheduler-worker.js';
import { threadedExportRunWorker } from './runs/run-worker-thread.js';
import { EXPORT_VARIABLES, exportSettings } from './settings.js';
import { GLOBAL_SOURCE_TENANTS } from './sources/settings.js';

/** The module over an engine (tests inject their own adapters; the registry uses the real one). */
export function createExportCenterService(engine: ExportEngine): ServiceModule {
  return defineService({
    name: 'export-center',
    summary: 'Runs export profiles and distributes signed bundles',
    // One level above src/ and dist/ alike: the package's migrations folder.
    migrations: { name: 'export-center', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
    variables: [...EXPORT_VARIABLES, GLOBAL_SOURCE_TENANTS],
    openApiTags: [
      { name: SOURCES_TAG, description: 'Advisories, VEX, SBOMs, findings and policy packs that exports read' },
      { name: TAG, description: 'Export Center: profiles, planner, runs, progress and downloads' },
    ],
    routes: (deps) => {
      const settings = exportSettings(deps.settings);
      return [
        sourcesRoutes(deps),
        profileRoutes(deps, engine.adapters),
        planRoutes(deps, engine),
        runRoutes(deps, engine, settings),
        runEventRoutes(deps, settings),
        runDownloadRoutes(deps),
        runVerifyRoutes(deps),
        scheduleRoutes(deps, settings),
        retentionRoutes(deps),
      ];
    },
    workers: (deps, count) => {
      const settings = exportSettings(deps.settings);
      const metrics = exportMetrics(deps.metrics);
      const firedBy = schedulerId();
      const database = deps.config.database;
      // The bounded-heap thread (ADR 0016) opens its own pool and loads the default engine itself.
      const runWorker =
        settings.workerHeapMib > 0 && database.kind === 'postgres' && engine === defaultEngine
          ? threadedExportRunWorker({
              database,
              objectStore: deps.config.objectStore,
              signingKey: deps.signingKey,
              settings,
              log: deps.log,
              slots: count,
              heapMib: settings.workerHeapMib,
              metrics,
            })
          : exportRunWorker(
              { db: deps.db, store: deps.store, signingKey: deps.signingKey, engine, settings, log: deps.log, metrics },
              { slots: count },
            );
      return [
        runWorker,
        // One per process: leader election decides which process's scheduler acts (ADR 0020).
        exportSchedulerWorker({
          db: deps.db,
          retryMs: settings.schedulerTickMs,
          log: deps.log,
          metrics,
          tasks: [
            {
              name: 'schedules',
              everyMs: settings.schedulerTickMs,
              run: () => runSchedulerPass({ db: deps.db, engine, settings, log: deps.log, metrics, firedBy }),
            },
            {
              name: 'retention',
              everyMs: settings.pruneIntervalMs,
              run: () => pruneAll({ db: deps.db, store: deps.store, log: deps.log, metrics }),
            },
          ],
        }),
      ];
    },
  });
}

export const exportCenterService = createExportCenterService(defaultEngine);
