import { resolve } from 'node:path';
import { StellaError } from '@stella/core/errors';
import type { Db } from './db.js';
import { PgDb } from './pg-db.js';
import { PgliteDb } from './pglite-db.js';
import { ROLE_NAME_PATTERN } from './tenant.js';

/** The application role tenant transactions run as (NOLOGIN, NOSUPERUSER, NOBYPASSRLS). */
export const DEFAULT_APP_ROLE = 'stella_app';
/** Where the embedded database lives when no URL is given. */
export const DEFAULT_DATA_DIR = './.stella';

export interface OpenDbOptions {
  /** `postgres://…` → the `pg` driver. Absent → embedded PGlite. */
  url?: string;
  /** PGlite only: the Stella data dir (default `./.stella`); the cluster goes in `<dataDir>/pgdata`. */
  dataDir?: string;
  /** pg only: pool size (default 10). */
  poolMax?: number;
  /** pg only: connection timeout before `DB_UNAVAILABLE` (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** The role `withTenant` switches to (default `stella_app`); a plain lower-case identifier. */
  appRole?: string;
}

/**
 * Opens the database: `pg` when `url` is given, else PGlite under `<dataDir>/pgdata` (created if
 * missing). Fails with `DB_UNAVAILABLE` when the server cannot be reached (pg pings on open) or
 * the data dir is unusable or in use by another process, and with `CONFIG_INVALID` for a bad URL
 * or role name. Does not run migrations — call `migrate(db, sets)` for that.
 */
export async function openDb(options: OpenDbOptions = {}): Promise<Db> {
  const appRole = options.appRole ?? DEFAULT_APP_ROLE;
  if (!ROLE_NAME_PATTERN.test(appRole)) {
    throw new StellaError(
      'CONFIG_INVALID',
      `app role ${JSON.stringify(appRole)} is not a plain identifier (${ROLE_NAME_PATTERN.source})`,
    );
  }
  if (options.poolMax !== undefined && !(Number.isInteger(options.poolMax) && options.poolMax >= 1)) {
    throw new StellaError('CONFIG_INVALID', `poolMax must be a positive integer, got ${String(options.poolMax)}`);
  }
  if (options.url !== undefined && options.url !== '') {
    return PgDb.open({
      url: options.url,
      appRole,
      poolMax: options.poolMax,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  }
  return PgliteDb.open({ dataDir: resolve(options.dataDir ?? DEFAULT_DATA_DIR), appRole });
}
