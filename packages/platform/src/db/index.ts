export type { Db, Queryable, Session, Tx } from './db.js';
export { openDb, DEFAULT_APP_ROLE, DEFAULT_DATA_DIR, type OpenDbOptions } from './open-db.js';
export { TENANT_ID_PATTERN, ROLE_NAME_PATTERN, assertTenantId } from './tenant.js';
export { isConnectionError } from './db-errors.js';
export {
  MIGRATION_FILE_PATTERN,
  MIGRATION_SET_PATTERN,
  parseMigrationFileName,
  orderMigrationFileNames,
  migrationChecksum,
  loadMigrationSets,
  type MigrationSet,
  type MigrationFile,
} from './migration-files.js';
export {
  migrate,
  migrationStatus,
  migrationPlan,
  ensureAppRole,
  MIGRATION_LOCK_KEY,
  APP_ROLE_PLACEHOLDER,
  type AppliedMigration,
  type MigrationStatusEntry,
  type PlannedMigration,
  type MigrateOptions,
} from './migration-runner.js';
