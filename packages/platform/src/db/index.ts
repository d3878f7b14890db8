export type { Db, Queryable, Session, Tx } from './db.js';
export { openDb, pgliteClusterDir, DEFAULT_APP_ROLE, type OpenDbOptions } from './open-db.js';
export { ROLE_NAME_PATTERN } from './sql-identifier.js';
export { PLATFORM_MIGRATIONS } from './platform-migrations.js';
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
