export { exportCenterService, createExportCenterService } from './service.js';
export type { ExportEngine, RunEnv } from './runs/export-engine.js';
export { exportRunWorker, sweepDeadLeases } from './runs/run-worker.js';
export { EXPORT_VARIABLES, exportSettings, type ExportSettings } from './settings.js';
