export {
  defineService,
  type ServiceModule,
  type ServiceDeps,
  type BackgroundWorker,
  type OpenApiTag,
} from './service-module.js';
export {
  createTenantContexts,
  systemTransaction,
  type TenantContext,
  type TenantContexts,
  type TenantTx,
  type AuditEntry,
  type TenantEventInit,
} from './tenant-context.js';
