export { startRuntime, mintDevToken, type Runtime, type StartRuntimeOptions } from './runtime.js';
export { SERVICES, migrationSets, selectServices } from './service-registry.js';
export { serviceOpenApiDocument, serviceConfigMarkdown } from './service-docs.js';
export { verifyBundle, type VerifyCheck, type VerifyReport } from '@stella/evidence-locker';
export { verifyExportBundle, type ExportVerifyCheck, type ExportVerifyReport } from '@stella/export-center';
export { applyDelta, createTrivyDbDelta, createStagingSink, type ApplyDeltaInput } from '@stella/export-center';
