import { AsyncLocalStorage } from 'node:async_hooks';
import { StellaError } from '@stella/core/errors';
import type { Db, Session, Tx } from './db.js';
import { assertTenantId } from '../tenant/tenant-id.js';
import { quoteIdent } from './sql-identifier.js';

/** What a driver hands out: one connection, used by one caller at a time. */
export interface RawConnection {
  query(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number; command?: string }>;
  exec(sql: string): Promise<void>;
}

export interface Lease {
  conn: RawConnection;
  /** `broken`: the connection is in an unknown state (failed ROLLBACK) and must not be reused. */
  release(broken: boolean): Promise<void> | void;
}

interface Scope {
  active: boolean;
}

/**
 * Transaction, tenant and session logic shared by both drivers, so the two cannot drift: the
 * driver only supplies `acquire()` (a pool client, or PGlite's single connection behind a queue).
 *
 * Re-entrancy: an AsyncLocalStorage scope marks "this async call chain is inside a transaction
 * of this Db". Calling the Db itself (not the `tx` handle) from there would deadlock on PGlite
 * (one connection, already held) and silently run outside the transaction on pg, so both drivers
 * reject it with `DB_TRANSACTION_MISUSE`. The scope is switched off when the transaction ends,
 * so work that merely *started* inside it (timers, emitters) may use the Db later.
 */
export abstract class BaseDb implements Db {
  abstract readonly driver: 'pg' | 'pglite';
  readonly appRole: string;
  readonly #scope = new AsyncLocalStorage<Scope>();

  protected constructor(appRole: string) {
    this.appRole = appRole;
  }

  protected abstract acquire(): Promise<Lease>;
  /** A one-off statement outside any transaction. */
  protected abstract queryOnce(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number }>;
  abstract close(): Promise<void>;

  protected assertNotNested(what: string): void {
    if (this.#scope.getStore()?.active) {
      throw new StellaError(
        'DB_TRANSACTION_MISUSE',
        `db.${what}() called inside a transaction of the same Db; use the transaction handle instead`,
      );
    }
  }

  async query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[]; rowCount: number }> {
    this.assertNotNested('query');
    return (await this.queryOnce(sql, params)) as { rows: R[]; rowCount: number };
  }

  async ping(): Promise<void> {
    await this.query('select 1');
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    this.assertNotNested('transaction');
    return this.#run(fn);
  }

  async withTenant<T>(tenant: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    assertTenantId(tenant);
    this.assertNotNested('withTenant');
    return this.#run(fn, async (conn) => {
      // Transaction-local (`is_local = true`): both reset at COMMIT/ROLLBACK, so a pooled
      // connection never carries one tenant's context into the next caller's transaction.
      await conn.query("select set_config('app.tenant_id', $1, true)", [tenant]);
      await conn.exec(`SET LOCAL ROLE ${quoteIdent(this.appRole)}`);
    });
  }

  async withSession<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    this.assertNotNested('withSession');
    const lease = await this.acquire();
    const scope: Scope = { active: true };
    try {
      return await this.#scope.run(scope, () => fn(handle(lease.conn, scope, 'session')));
    } catch (err) {
      // Leave no half-open transaction behind.
      await lease.conn.exec('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      scope.active = false;
      // Session state (advisory locks, SET) must not outlive the session: the driver discards
      // the connection (pg) or resets it with DISCARD ALL (PGlite's only connection).
      await lease.release(true);
    }
  }

  async #run<T>(fn: (tx: Tx) => Promise<T>, setup?: (conn: RawConnection) => Promise<void>): Promise<T> {
    const lease = await this.acquire();
    const scope: Scope = { active: true };
    let broken = false;
    try {
      await lease.conn.exec('BEGIN');
      try {
        if (setup) await setup(lease.conn);
        const result = await this.#scope.run(scope, () => fn(handle(lease.conn, scope, 'transaction')));
        scope.active = false;
        const commit = await lease.conn.query('COMMIT');
        // PostgreSQL answers COMMIT of an aborted transaction with the tag ROLLBACK and no
        // error: a statement failed and `fn` swallowed it. Never report that as success.
        if (commit.command === 'ROLLBACK') {
          throw new StellaError(
            'DB_TRANSACTION_MISUSE',
            'the transaction was rolled back at COMMIT: a statement inside it failed and its error was caught',
          );
        }
        return result;
      } catch (err) {
        scope.active = false;
        try {
          await lease.conn.exec('ROLLBACK');
        } catch {
          broken = true;
        }
        throw err;
      }
    } finally {
      scope.active = false;
      await lease.release(broken);
    }
  }
}

function handle(conn: RawConnection, scope: Scope, kind: string): Tx {
  const check = () => {
    if (!scope.active) throw new StellaError('DB_TRANSACTION_MISUSE', `${kind} handle used after the ${kind} ended`);
  };
  return {
    async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      check();
      const r = await conn.query(sql, params);
      return { rows: r.rows as R[], rowCount: r.rowCount };
    },
    async exec(sql: string) {
      check();
      await conn.exec(sql);
    },
  };
}
