import { StellaError } from '@stella/core/errors';
import type { Db, Queryable, Session } from './db.js';
import { loadMigrationSets, type MigrationFile, type MigrationSet } from './migration-files.js';
import { quoteIdent } from './sql-identifier.js';

/**
 * Key of the session advisory lock every migration run holds (the two-int form, so it cannot
 * collide with `hashtext()`-based single-bigint keys): 0x5354454c = "STEL", 1 = migrations.
 * Advisory locks are per database, so runners against different databases don't wait on each other.
 */
export const MIGRATION_LOCK_KEY = [0x5354454c, 1] as const;

/** Placeholder a migration may use for the configured app role (replaced by the quoted identifier). */
export const APP_ROLE_PLACEHOLDER = '${app_role}';

/** A file `migrate` applied. */
export interface AppliedMigration {
  set: string;
  version: number;
  name: string;
  file: string;
  checksum: string;
  durationMs: number;
}

/**
 * State of one migration: `applied` (checksum matches), `pending`, `changed` (applied, but the
 * file's checksum differs — `migrate` refuses to run), or `unknown` (applied, no such file here;
 * e.g. this build is older than the database — reported, not an error).
 */
export interface MigrationStatusEntry {
  set: string;
  version: number;
  name: string;
  file: string;
  state: 'applied' | 'pending' | 'changed' | 'unknown';
  /** Checksum of the file on disk (absent for `unknown`). */
  checksum?: string;
  /** Checksum recorded when it was applied. */
  appliedChecksum?: string;
  appliedAt?: Date;
  durationMs?: number;
}

/** A file `migrate` would apply: the file as found on disk, without its SQL text. */
export type PlannedMigration = Omit<MigrationFile, 'sql'>;

type AppliedRow = {
  set_name: string;
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  duration_ms: number;
};

const TRACKING_DDL = `
CREATE SCHEMA IF NOT EXISTS stella_migrations;
CREATE TABLE IF NOT EXISTS stella_migrations.applied (
  set_name    text        NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  name        text        NOT NULL,
  checksum    text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
  applied_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer     NOT NULL CHECK (duration_ms >= 0),
  PRIMARY KEY (set_name, version)
);
REVOKE ALL ON SCHEMA stella_migrations FROM PUBLIC;
`;

/**
 * Creates the app role if it does not exist: NOLOGIN (nobody signs in as it; the owner switches
 * to it), NOSUPERUSER and NOBYPASSRLS (so FORCE'd policies hold). Roles are cluster-wide and
 * advisory locks per database, so two databases on one server can race here: the duplicate error
 * of the loser is swallowed inside the DO block's sub-transaction. The owner is granted
 * membership so `SET ROLE` works when it is not a superuser. Finally refuses a pre-existing role
 * that could bypass RLS.
 */
export async function ensureAppRole(q: Queryable, appRole: string): Promise<void> {
  const ident = quoteIdent(appRole);
  const literal = `'${appRole}'`; // appRole matched ROLE_NAME_PATTERN in openDb: no quotes inside
  await q.query(`
DO $stella$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${literal}) THEN
    BEGIN
      CREATE ROLE ${ident} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, ${literal}, 'MEMBER') THEN
    EXECUTE format('GRANT %I TO %I', ${literal}, current_user);
  END IF;
END
$stella$`);
  const { rows } = await q.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
    'select rolsuper, rolbypassrls from pg_roles where rolname = $1',
    [appRole],
  );
  const r = rows[0];
  if (!r || r.rolsuper || r.rolbypassrls) {
    throw new StellaError(
      'MIGRATION_FAILED',
      `app role ${appRole} ${!r ? 'is missing' : 'is SUPERUSER or BYPASSRLS'}: tenant isolation would not hold`,
      {
        details: { role: appRole },
      },
    );
  }
}

async function readApplied(q: Queryable): Promise<AppliedRow[]> {
  const { rows: exists } = await q.query<{ t: string | null }>(
    "select to_regclass('stella_migrations.applied')::text as t",
  );
  if (!exists[0]?.t) return [];
  const { rows } = await q.query<AppliedRow>(
    'select set_name, version, name, checksum, applied_at, duration_ms from stella_migrations.applied order by set_name, version',
  );
  return rows;
}

function key(set: string, version: number): string {
  return `${set}\u0000${version}`;
}

/** Compares disk with the tracking table: one entry per file, plus `unknown` applied rows. */
function compare(files: MigrationFile[], applied: AppliedRow[], sets: readonly MigrationSet[]): MigrationStatusEntry[] {
  const byKey = new Map(applied.map((r) => [key(r.set_name, r.version), r]));
  const out: MigrationStatusEntry[] = [];
  for (const f of files) {
    const a = byKey.get(key(f.set, f.version));
    byKey.delete(key(f.set, f.version));
    const base = { set: f.set, version: f.version, name: f.name, file: f.file, checksum: f.checksum };
    if (!a) out.push({ ...base, state: 'pending' });
    else
      out.push({
        ...base,
        state: a.checksum === f.checksum ? 'applied' : 'changed',
        appliedChecksum: a.checksum,
        appliedAt: a.applied_at,
        durationMs: a.duration_ms,
      });
  }
  const setNames = new Set(sets.map((s) => s.name));
  for (const a of byKey.values()) {
    if (!setNames.has(a.set_name)) continue; // sets not asked about are none of our business
    out.push({
      set: a.set_name,
      version: a.version,
      name: a.name,
      file: `${String(a.version).padStart(4, '0')}_${a.name}.sql`,
      state: 'unknown',
      appliedChecksum: a.checksum,
      appliedAt: a.applied_at,
      durationMs: a.duration_ms,
    });
  }
  const order = new Map(sets.map((s, i) => [s.name, i]));
  return out.sort((x, y) => order.get(x.set)! - order.get(y.set)! || x.version - y.version);
}

/**
 * Refuses to run when history and disk disagree: an applied file was edited
 * (`MIGRATION_CHECKSUM_MISMATCH`), or a pending file is numbered below one already applied in
 * its set (forward-only: it would run after its successors; `MIGRATION_INVALID_NAME`).
 */
function assertConsistent(status: MigrationStatusEntry[]): MigrationStatusEntry[] {
  const changed = status.filter((s) => s.state === 'changed');
  if (changed.length) {
    throw new StellaError(
      'MIGRATION_CHECKSUM_MISMATCH',
      `applied migration(s) changed on disk: ${changed.map((c) => `${c.set}/${c.file}`).join(', ')} — add a new migration instead of editing an applied one`,
      { details: changed.map((c) => ({ set: c.set, file: c.file, applied: c.appliedChecksum, now: c.checksum })) },
    );
  }
  const pending = status.filter((s) => s.state === 'pending');
  for (const p of pending) {
    const later = status.find(
      (s) => s.set === p.set && s.version > p.version && (s.state === 'applied' || s.state === 'unknown'),
    );
    if (later) {
      throw new StellaError(
        'MIGRATION_INVALID_NAME',
        `migration ${p.set}/${p.file} is numbered below the applied ${later.file}; migrations are forward-only — renumber it above the last applied one`,
        { details: { set: p.set, file: p.file, applied: later.file } },
      );
    }
  }
  return pending;
}

/** applied / pending / changed / unknown per file. Read-only: takes no lock and creates nothing. */
export async function migrationStatus(db: Db, sets: readonly MigrationSet[]): Promise<MigrationStatusEntry[]> {
  const files = await loadMigrationSets(sets);
  return compare(files, await readApplied(db), sets);
}

/**
 * What `migrate` would run, in order, without running it. Throws the same errors `migrate`
 * would (bad names, changed checksums, out-of-order files).
 */
export async function migrationPlan(db: Db, sets: readonly MigrationSet[]): Promise<PlannedMigration[]> {
  const files = await loadMigrationSets(sets);
  const pending = assertConsistent(compare(files, await readApplied(db), sets));
  return toPlan(files, pending);
}

function toPlan(files: MigrationFile[], pending: MigrationStatusEntry[]): PlannedMigration[] {
  const wanted = new Set(pending.map((p) => key(p.set, p.version)));
  return files
    .filter((f) => wanted.has(key(f.set, f.version)))
    .map((f) => ({ set: f.set, version: f.version, name: f.name, file: f.file, path: f.path, checksum: f.checksum }));
}

export interface MigrateOptions {
  /** Called after each file commits (progress output). */
  onApplied?: (m: AppliedMigration) => void;
  /**
   * Give up waiting for another runner's migration lock after this many ms (`MIGRATION_FAILED`).
   * Default: wait as long as it takes (a replica starting during a long migration should wait).
   */
  lockTimeoutMs?: number;
}

/**
 * Applies pending migrations of `sets` (in the given set order, then by version) and returns
 * what it applied. Everything is validated first (names, checksums) so a bad tree applies nothing.
 *
 * Concurrency: the whole run holds a session advisory lock ({@link MIGRATION_LOCK_KEY}) on one
 * dedicated connection, so concurrent runners (many replicas starting at once) queue; the second
 * one then finds nothing pending. On PGlite the one connection already excludes everyone else;
 * the same code path runs there.
 *
 * Each file runs in its own transaction together with its tracking row: a failing file rolls
 * back completely (schema as before, no row) and raises `MIGRATION_FAILED` naming set, file and
 * the PostgreSQL error; files applied before it stay applied.
 */
export async function migrate(
  db: Db,
  sets: readonly MigrationSet[],
  options: MigrateOptions = {},
): Promise<AppliedMigration[]> {
  const files = await loadMigrationSets(sets);
  return db.withSession(async (s) => {
    await acquireMigrationLock(s, options.lockTimeoutMs);
    try {
      await inTransaction(s, async () => {
        await s.exec(TRACKING_DDL);
        await ensureAppRole(s, db.appRole);
      }).catch((err: unknown) => {
        if (err instanceof StellaError) throw err;
        throw new StellaError('MIGRATION_FAILED', `migration bootstrap failed: ${(err as Error).message}`, {
          cause: err,
          details: pgDetails(err),
        });
      });
      // Read history only now, under the lock: a runner that waited sees the other's work.
      const pending = assertConsistent(compare(files, await readApplied(s), sets));
      const applied: AppliedMigration[] = [];
      for (const f of toPlan(files, pending)) {
        const file = files.find((x) => x.set === f.set && x.version === f.version)!;
        const m = await applyOne(s, file, db.appRole);
        applied.push(m);
        options.onApplied?.(m);
      }
      return applied;
    } finally {
      await s.query('select pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  });
}

/**
 * `lock_timeout` bounds waits in the lock manager, advisory locks included; it is set only for
 * the wait and reset before any migration runs, so files don't inherit it.
 */
async function acquireMigrationLock(s: Session, timeoutMs: number | undefined): Promise<void> {
  if (timeoutMs === undefined) {
    await s.query('select pg_advisory_lock($1, $2)', [...MIGRATION_LOCK_KEY]);
    return;
  }
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new StellaError('VALIDATION_FAILED', `lockTimeoutMs must be a positive integer, got ${String(timeoutMs)}`);
  }
  await s.query("select set_config('lock_timeout', $1, false)", [`${timeoutMs}ms`]);
  try {
    await s.query('select pg_advisory_lock($1, $2)', [...MIGRATION_LOCK_KEY]);
  } catch (err) {
    if ((err as { code?: unknown }).code === '55P03') {
      const { rows } = await s
        .query<{ pid: number }>(
          "select pid from pg_locks where locktype = 'advisory' and classid = $1 and objid = $2 and granted",
          [...MIGRATION_LOCK_KEY],
        )
        .catch(() => ({ rows: [] as { pid: number }[] }));
      throw new StellaError(
        'MIGRATION_FAILED',
        `timed out after ${timeoutMs} ms waiting for the migration lock${rows[0] ? ` (held by backend pid ${rows[0].pid})` : ''}; another migration is running`,
        {
          cause: err,
          details: { lockTimeoutMs: timeoutMs, holderPid: rows[0]?.pid },
        },
      );
    }
    throw err;
  } finally {
    await s.query("select set_config('lock_timeout', '0', false)").catch(() => undefined);
  }
}

async function inTransaction(s: Session, fn: () => Promise<void>): Promise<void> {
  await s.exec('BEGIN');
  try {
    await fn();
    await s.exec('COMMIT');
  } catch (err) {
    await s.exec('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function applyOne(s: Session, f: MigrationFile, appRole: string): Promise<AppliedMigration> {
  const sql = f.sql.replaceAll(APP_ROLE_PLACEHOLDER, quoteIdent(appRole));
  const started = performance.now();
  let durationMs = 0;
  try {
    await inTransaction(s, async () => {
      const before = await s.query<{ x: string }>('select txid_current()::text as x');
      await s.exec(sql);
      // A file with its own COMMIT would end our transaction early and leave the tracking row
      // outside it; the transaction id changes when that happens, so detect and refuse.
      const after = await s.query<{ x: string }>('select txid_current()::text as x');
      if (after.rows[0]!.x !== before.rows[0]!.x) {
        throw new Error(
          'the file ends the surrounding transaction (BEGIN/COMMIT/ROLLBACK inside a migration are not allowed)',
        );
      }
      durationMs = Math.round(performance.now() - started);
      await s.query(
        'insert into stella_migrations.applied (set_name, version, name, checksum, duration_ms) values ($1, $2, $3, $4, $5)',
        [f.set, f.version, f.name, f.checksum, durationMs],
      );
    });
  } catch (err) {
    if (err instanceof StellaError && err.code === 'DB_UNAVAILABLE') throw err;
    throw new StellaError(
      'MIGRATION_FAILED',
      `migration ${f.set}/${f.file} failed and was rolled back: ${(err as Error).message}`,
      {
        cause: err,
        details: { set: f.set, file: f.file, path: f.path, ...pgDetails(err) },
      },
    );
  }
  return { set: f.set, version: f.version, name: f.name, file: f.file, checksum: f.checksum, durationMs };
}

/** SQLSTATE and position of a PostgreSQL error (same fields on pg and PGlite errors). */
function pgDetails(err: unknown): Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as { code?: unknown; position?: unknown; detail?: unknown; hint?: unknown };
  const out: Record<string, unknown> = {};
  if (typeof e.code === 'string') out.sqlstate = e.code;
  if (e.position !== undefined) out.position = e.position;
  if (typeof e.detail === 'string') out.detail = e.detail;
  if (typeof e.hint === 'string') out.hint = e.hint;
  return out;
}
