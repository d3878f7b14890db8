import { fileURLToPath } from 'node:url';
import type { MigrationSet } from '../db/migration-files.js';

/**
 * The transparency log's migration set (`tlog` schema: sequencer state, tile index, checkpoints),
 * applied after the platform's own set by every process that hosts a log. Its folder is
 * `packages/platform/tlog-migrations`, two levels above `src/tlog/` and `dist/tlog/` alike.
 */
export const TLOG_MIGRATIONS: MigrationSet = {
  name: 'tlog',
  dir: fileURLToPath(new URL('../../tlog-migrations', import.meta.url)),
};
