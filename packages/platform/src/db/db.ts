/**
 * The one database port (DESIGN.md §3 "Postgres"). Two drivers implement it: `pg` (real
 * PostgreSQL, pooled) and PGlite (embedded, one connection). Repositories only see `Queryable`.
 */

/** Something that runs SQL with `$1…` parameters: a pool, a connection, or a transaction. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[]; rowCount: number }>;
}

export interface Db extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /**
   * A transaction as the owner role (migrations, outbox relay, cross-tenant maintenance).
   * Commits when `fn` resolves, rolls back when it throws.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * A transaction for one tenant: `set_config('app.tenant_id', tenant, true)` and
   * `SET LOCAL ROLE` to the application role (no BYPASSRLS), so RLS policies apply.
   * Both reset when the transaction ends.
   */
  withTenant<T>(tenant: string, fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Cheap liveness check for `/readyz`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
