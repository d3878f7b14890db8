import { fileURLToPath } from 'node:url';
import type { MigrationSet } from './migration-files.js';

/**
 * The platform's own migration set (outbox, processed events, audit log), applied before every
 * service's set. Its folder is `packages/platform/migrations`, two levels above `src/db/` and
 * `dist/db/` alike.
 */
export const PLATFORM_MIGRATIONS: MigrationSet = {
  name: 'platform',
  dir: fileURLToPath(new URL('../../migrations', import.meta.url)),
};
