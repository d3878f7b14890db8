export { TENANT_ID_PATTERN, isTenantId, assertTenantId } from './tenant-id.js';
