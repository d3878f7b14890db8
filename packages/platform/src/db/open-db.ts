import { join, resolve } from 'node:path';
import { StellaError } from '@stella/core/errors';
import type { DatabaseConfig } from '../config/config.js';
import type { Db } from './db.js';
import { PgDb } from './pg-db.js';
import { PgliteDb } from './pglite-db.js';
import { ROLE_NAME_PATTERN } from './sql-identifier.js';

/** The application role tenant transactions run as (NOLOGIN, NOSUPERUSER, NOBYPASSRLS). */
export const DEFAULT_APP_ROLE = 'stella_app';

/** Where the embedded cluster of the Stella data dir `dataDir` lives (one rule for every command). */
export function pgliteClusterDir(dataDir: string): string {
  return join(resolve(dataDir), 'pgdata');
}

export interface OpenDbOptions {
  /** pg only: connection timeout before `DB_UNAVAILABLE` (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** The role `withTenant` switches to (default `stella_app`); a plain lower-case identifier. */
  appRole?: string;
}

/**
 * Opens the database the parsed configuration names (`loadConfig(…).database`): `pg` for
 * `postgres`, else PGlite in {@link pgliteClusterDir}`(dataDir)` (created if missing). Fails with
 * `DB_UNAVAILABLE` when the server cannot be reached (pg pings on open) or the data dir is
 * unusable or in use by another process, and with `CONFIG_INVALID` for a bad URL or role name.
 * Does not run migrations — call `migrate(db, sets)` for that.
 */
export async function openDb(config: Readonly<DatabaseConfig>, options: OpenDbOptions = {}): Promise<Db> {
  const appRole = options.appRole ?? DEFAULT_APP_ROLE;
  if (!ROLE_NAME_PATTERN.test(appRole)) {
    throw new StellaError(
      'CONFIG_INVALID',
      `app role ${JSON.stringify(appRole)} is not a plain identifier (${ROLE_NAME_PATTERN.source})`,
    );
  }
  if (config.kind === 'pglite') {
    return PgliteDb.open({ dataDir: resolve(config.dataDir), clusterDir: pgliteClusterDir(config.dataDir), appRole });
  }
  const poolMax = config.poolMax;
  if (poolMax !== undefined && !(Number.isInteger(poolMax) && poolMax >= 1)) {
    throw new StellaError('CONFIG_INVALID', `poolMax must be a positive integer, got ${String(poolMax)}`);
  }
  return PgDb.open({ url: config.url, appRole, poolMax, connectTimeoutMs: options.connectTimeoutMs });
}
