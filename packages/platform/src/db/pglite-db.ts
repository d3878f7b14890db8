import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { StellaError } from '@stella/core/errors';
import { BaseDb, type Lease } from './base-db.js';

export interface PgliteDbOptions {
  /** The Stella data dir (created if missing; holds the lock file `pgdata.lock`). */
  dataDir: string;
  /** The cluster directory inside it (`pgliteClusterDir`). */
  clusterDir: string;
  appRole: string;
}

/** PostgreSQL OIDs (pg_type.dat) whose parsing we align with node-postgres. */
const INT8_OID = 20;
const BYTEA_OID = 17;

/**
 * A FIFO lock: PGlite has exactly one connection, so every transaction, session and one-off
 * query waits its turn here. PGlite's own mutex would serialize too, but only per call; holding
 * ours across BEGIN…COMMIT is what keeps a concurrent caller's statements out of our transaction.
 */
class FifoLock {
  #tail: Promise<void> = Promise.resolve();

  async acquire(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const prev = this.#tail;
    this.#tail = prev.then(() => mine);
    await prev;
    return release;
  }
}

/**
 * Embedded PostgreSQL (PGlite, WASM) under `<dataDir>/pgdata`. The default user `postgres` is a
 * superuser, so RLS only applies inside `withTenant`, which switches to the app role
 * (specs/platform-notes.md "PGlite").
 */
export class PgliteDb extends BaseDb {
  readonly driver = 'pglite' as const;
  readonly #pg: PGlite;
  readonly #lock = new FifoLock();
  readonly #lockFile: string;
  #closed = false;

  private constructor(pglite: PGlite, appRole: string, lockFile: string) {
    super(appRole);
    this.#pg = pglite;
    this.#lockFile = lockFile;
  }

  static async open(o: PgliteDbOptions): Promise<PgliteDb> {
    const dataDir = resolve(o.dataDir);
    const pgdata = o.clusterDir;
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (err) {
      throw new StellaError('DB_UNAVAILABLE', `cannot create the data dir ${dataDir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const lockFile = join(dataDir, 'pgdata.lock');
    await takeLock(lockFile);
    try {
      await mkdir(pgdata, { recursive: true });
      const pglite = await PGlite.create(pgdata, {
        parsers: {
          // Same shapes as node-postgres: int8 as string (exact past 2^53), bytea as Buffer.
          [INT8_OID]: (v: string) => v,
          [BYTEA_OID]: (v: string) => Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex'),
        },
      });
      return new PgliteDb(pglite, o.appRole, lockFile);
    } catch (err) {
      await releaseLock(lockFile);
      throw new StellaError(
        'DB_UNAVAILABLE',
        `cannot open the embedded database in ${pgdata}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  protected async acquire(): Promise<Lease> {
    const unlock = await this.#lock.acquire();
    if (this.#closed) {
      unlock();
      throw new StellaError('DB_UNAVAILABLE', 'the embedded database is closed');
    }
    const pglite = this.#pg;
    return {
      conn: {
        async query(sql, params) {
          const r = await pglite.query<Record<string, unknown>>(sql, params as unknown[] | undefined);
          return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length, command: r.command };
        },
        async exec(sql) {
          await pglite.exec(sql);
        },
      },
      release: async (reset) => {
        try {
          // The only connection is shared by everyone after us: drop session state
          // (advisory locks, SET, prepared statements) that the previous holder left.
          if (reset) await pglite.exec('DISCARD ALL').catch(() => undefined);
        } finally {
          unlock();
        }
      },
    };
  }

  protected async queryOnce(sql: string, params?: readonly unknown[]) {
    const lease = await this.acquire();
    try {
      const r = await lease.conn.query(sql, params);
      return { rows: r.rows, rowCount: r.rowCount };
    } finally {
      await lease.release(false);
    }
  }

  /** Waits for queued work, then closes the cluster (flushing it to disk) and frees the dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const unlock = await this.#lock.acquire();
    try {
      if (this.#closed) return;
      this.#closed = true;
      await this.#pg.close();
      await releaseLock(this.#lockFile);
    } finally {
      unlock();
    }
  }
}

/** Lock files this process holds (a second open in the same process must be refused too). */
const heldLocks = new Set<string>();

/**
 * One process per data dir: two PGlite instances writing the same files corrupt the cluster.
 * The lock file holds the owner's pid and, on Linux, its start time (`/proc/<pid>/stat` field
 * 22). A lock is stale — and taken over — when that pid is not running, or runs but started at
 * another time (pid reuse: in a container the restarted server is pid 1 again), or is our own
 * pid without this process holding it.
 */
async function takeLock(lockFile: string): Promise<void> {
  if (heldLocks.has(lockFile)) {
    throw new StellaError(
      'DB_UNAVAILABLE',
      `the embedded database ${lockFile.replace(/\.lock$/, '')} is in use by process ${process.pid} (this process)`,
      {
        details: { pid: process.pid },
      },
    );
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockFile, 'wx');
      const started = await startTime(process.pid);
      await fh.writeFile(`${process.pid}\n${started ?? ''}\n`);
      await fh.close();
      heldLocks.add(lockFile);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StellaError('DB_UNAVAILABLE', `cannot create ${lockFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    const [pidText = '', startedText = ''] = (await readFile(lockFile, 'utf8').catch(() => '')).split('\n');
    const pid = Number.parseInt(pidText.trim(), 10);
    if (await isLockHolderAlive(pid, startedText.trim())) {
      throw new StellaError(
        'DB_UNAVAILABLE',
        `the embedded database ${lockFile.replace(/\.lock$/, '')} is in use by process ${pid}`,
        {
          details: { pid },
        },
      );
    }
    await rm(lockFile, { force: true });
  }
  throw new StellaError('DB_UNAVAILABLE', `cannot take ${lockFile}: another process keeps creating it`);
}

async function releaseLock(lockFile: string): Promise<void> {
  heldLocks.delete(lockFile);
  await rm(lockFile, { force: true });
}

async function isLockHolderAlive(pid: number, recordedStart: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!recordedStart) return true;
  const now = await startTime(pid);
  return now === undefined || now === recordedStart;
}

/** Start time of a process in clock ticks since boot (Linux); undefined elsewhere. */
async function startTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: fields after the last ')' are safe.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
