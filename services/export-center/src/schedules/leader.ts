/**
 * Leader election over a PostgreSQL session advisory lock (ADR 0020): each process keeps one
 * dedicated connection (`db.withSession`) and tries `pg_try_advisory_lock` on it every
 * `retryMs`; whoever holds the lock leads. The lock lives as long as that connection, so a leader
 * that dies — SIGKILL, crash, network loss — releases it with its connection and a follower takes
 * over at its next try. A leader checks its connection every `retryMs` and stops leading when the
 * check fails (the server may already have handed the lock to another process).
 *
 * That check leaves a short window in which an old leader that has lost its connection still
 * believes it leads; the work done under the lock must therefore be idempotent on its own (the
 * scheduler's fire key, 0006), the lock only keeps the work from being done twice as often.
 *
 * PGlite (embedded mode) has one connection and one process (its data-dir lock): that process
 * is the leader, no session is held.
 */
import type { Db } from '@stella/platform/db';

/** `pg_advisory_lock(classid, objid)`: "STEL", 20 — the export scheduler (0003 uses 3, 0002 uses 2). */
export const SCHEDULER_LOCK = [1398031692, 20] as const;

export interface Leadership {
  /** True while this process holds the lock (as far as its last check knows). */
  isLeader(): boolean;
  /** Gives the lock up (the session ends) and stops campaigning. */
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  lock?: readonly [number, number];
  /** How often a follower tries, and a leader checks its connection. */
  retryMs: number;
  onChange?(leader: boolean): void;
  log: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
}

export function campaign(db: Db, opts: LeadershipOptions): Leadership {
  const lock = opts.lock ?? SCHEDULER_LOCK;
  let leader = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const set = (v: boolean) => {
    if (v === leader) return;
    leader = v;
    opts.onChange?.(v);
    opts.log.info({ leader: v, lock }, v ? 'export scheduler: leading' : 'export scheduler: no longer leading');
  };

  if (db.driver === 'pglite') {
    set(true);
    return {
      isLeader: () => leader && !stopped,
      async stop() {
        stopped = true;
        set(false);
      },
    };
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        await db.withSession(async (s) => {
          while (!stopped) {
            if (!leader) {
              const r = await s.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [...lock]);
              if (r.rows[0]!.ok) set(true);
            } else {
              // The lock is this connection's: if the connection still answers, we still hold it.
              await s.query('SELECT 1');
            }
            if (!stopped) await sleep(opts.retryMs);
          }
          if (leader) await s.query('SELECT pg_advisory_unlock($1, $2)', [...lock]).catch(() => undefined);
        });
      } catch (err) {
        opts.log.warn({ err }, 'export scheduler: leader session lost');
      }
      // The session is gone (or we stop): whatever it held, it holds no more.
      set(false);
      if (!stopped) await sleep(opts.retryMs);
    }
  })();

  return {
    isLeader: () => leader && !stopped,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
