/**
 * The one database port (DESIGN.md §3 "Postgres"). Two drivers implement it: `pg` (real
 * PostgreSQL, pooled) and PGlite (embedded, one connection). Repositories only see `Queryable`.
 *
 * Both drivers return the same JS shapes (the contract suite checks it): `int8`/`numeric` as
 * strings (no silent precision loss past 2^53), `bytea` as `Buffer`, `timestamptz`/`date` as
 * `Date`, `json`/`jsonb` parsed. SQL errors keep their SQLSTATE in `err.code` on both drivers
 * (e.g. `23505` unique violation), so repositories can branch on it.
 */

/** Something that runs SQL with `$1…` parameters: a pool, a connection, or a transaction. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[]; rowCount: number }>;
}

/**
 * A transaction handle. Besides `query` it can run a multi-statement script (simple-query
 * protocol, no parameters) — migrations need that. Using it after the transaction ended throws
 * `DB_TRANSACTION_MISUSE`.
 */
export interface Tx extends Queryable {
  exec(sql: string): Promise<void>;
}

/**
 * One dedicated connection, for session-level state (advisory locks held across several
 * transactions). The caller issues `BEGIN`/`COMMIT` itself. On PGlite it holds the only
 * connection, so keep it short.
 */
export type Session = Tx;

export interface Db extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /** The role tenant transactions switch to (`SET LOCAL ROLE`); default `stella_app`. */
  readonly appRole: string;
  /**
   * A transaction as the owner role (migrations, outbox relay, cross-tenant maintenance).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * A transaction for one tenant: `set_config('app.tenant_id', tenant, true)` and
   * `SET LOCAL ROLE` to the application role (no BYPASSRLS), so RLS policies apply.
   * Both reset when the transaction ends.
   */
  withTenant<T>(tenant: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** A dedicated connection for session-scoped work (see {@link Session}). */
  withSession<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Cheap liveness check for `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
