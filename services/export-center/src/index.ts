export { exportCenterService, createExportCenterService } from './service.js';
export type { ExportEngine, RunEnv } from './runs/export-engine.js';
export { exportRunWorker, sweepDeadLeases } from './runs/run-worker.js';
export { threadedExportRunWorker, type ThreadedRunWorkerOptions } from './runs/run-worker-thread.js';
export { defaultEngine } from './engine.js';
export { EXPORT_VARIABLES, exportSettings, type ExportSettings } from './settings.js';
export { ADAPTERS, adapterIds, getAdapter } from './adapters/registry.js';
export { createStagingSink } from './bundle/staging-sink.js';
export { sealExportBundle } from './bundle/seal-export.js';
export {
  verifyExportBundle,
  type ExportVerifyCheck,
  type ExportVerifyOptions,
  type ExportVerifyReport,
} from './bundle/verify-export.js';
export { applyDelta, DELTA_APPLIERS, type ApplyDeltaInput, type DeltaApplier } from './deltas/apply-delta.js';
export {
  createTrivyDbDelta,
  applyTrivyDbDelta,
  TRIVY_DELTA_KIND,
  type TrivyDeltaManifest,
  type ApplyDeltaResult,
} from './adapters/trivy/delta/trivy-delta.js';
