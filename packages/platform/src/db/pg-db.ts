import pg from 'pg';
import { StellaError } from '@stella/core/errors';
import { BaseDb, type Lease } from './base-db.js';
import { redactUrl } from '../config/redact-url.js';
import { mapDbError } from './db-errors.js';

export interface PgDbOptions {
  url: string;
  appRole: string;
  /** Pool size (default 10). */
  poolMax?: number;
  /** How long to wait for a connection before `DB_UNAVAILABLE` (default 10 s). */
  connectTimeoutMs?: number;
}

/**
 * Real PostgreSQL through a `pg.Pool`: one pooled client per transaction, released (or destroyed
 * if it is in an unknown state) when the transaction ends. The pool logs in as the URL's user —
 * the schema owner — and tenant transactions drop to the app role (docs/database.md "Roles").
 */
export class PgDb extends BaseDb {
  readonly driver = 'pg' as const;
  readonly #pool: pg.Pool;
  readonly #where: string;

  private constructor(pool: pg.Pool, appRole: string, where: string) {
    super(appRole);
    this.#pool = pool;
    this.#where = where;
  }

  /** Creates the pool and proves it can connect (fail fast at startup, not at the first request). */
  static async open(o: PgDbOptions): Promise<PgDb> {
    let parsed: URL;
    try {
      parsed = new URL(o.url);
    } catch {
      throw new StellaError('CONFIG_INVALID', `database url is not a URL: ${redactUrl(o.url)}`);
    }
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      throw new StellaError(
        'CONFIG_INVALID',
        `database url must be postgres:// or postgresql://, got ${parsed.protocol}`,
      );
    }
    const where = redactUrl(o.url);
    const pool = new pg.Pool({
      connectionString: o.url,
      max: o.poolMax ?? 10,
      connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'stella',
    });
    // An idle client losing its server emits 'error' on the pool; unhandled, that kills the
    // process. The pool drops the client by itself; the next checkout reconnects or fails coded.
    pool.on('error', () => undefined);
    const db = new PgDb(pool, o.appRole, where);
    try {
      await db.ping();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return db;
  }

  protected async acquire(): Promise<Lease> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw mapDbError(err, this.#where);
    }
    const where = this.#where;
    // A checked-out client whose connection dies between queries (server restart, terminated
    // backend, network loss) emits 'error'; the pool only listens on idle clients, and unhandled
    // that kills the process. Its next query fails with a coded error instead, which the holder
    // handles (a long-held session — the scheduler leader's — must survive this).
    const onError = () => undefined;
    client.on('error', onError);
    return {
      conn: {
        async query(sql, params) {
          try {
            const r = await client.query(sql, params as unknown[] | undefined);
            return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0, command: r.command };
          } catch (err) {
            throw mapDbError(err, where);
          }
        },
        async exec(sql) {
          try {
            // No parameters → simple-query protocol, so multi-statement scripts work.
            await client.query(sql);
          } catch (err) {
            throw mapDbError(err, where);
          }
        },
      },
      release: (broken) => {
        client.off('error', onError);
        client.release(broken ? true : undefined);
      },
    };
  }

  protected async queryOnce(sql: string, params?: readonly unknown[]) {
    try {
      const r = await this.#pool.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw mapDbError(err, this.#where);
    }
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }
}
