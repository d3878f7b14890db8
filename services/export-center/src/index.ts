export { exportCenterService } from './service.js';
export { ADAPTERS, adapterIds, getAdapter } from './adapters/registry.js';
export { createStagingSink } from './bundle/staging-sink.js';
export { sealExportBundle } from './bundle/seal-export.js';
export {
  verifyExportBundle,
  type ExportVerifyCheck,
  type ExportVerifyOptions,
  type ExportVerifyReport,
} from './bundle/verify-export.js';
