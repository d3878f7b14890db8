/**
 * The one protocol between writers that record evidence objects and everything that deletes
 * unreferenced ones (the sweeper, a request cleaning up after itself; docs/evidence-sweeper.md).
 *
 * An object under `evidence/` is written first and its row committed after, so for a moment every
 * object is unreferenced. Both sides therefore take a transaction-scoped advisory lock per object
 * key: the writer, in the transaction that inserts the row, locks the key and checks the object is
 * still there; a deleter locks the key, re-reads the references (READ COMMITTED: it sees a row the
 * writer committed while it waited) and deletes only if there still are none. Whichever comes
 * second sees what the first did — a row that names a missing object is never committed.
 */
import { StellaError, isStellaError } from '@stella/core/errors';
import type { Queryable } from '@stella/platform/db';
import type { ObjectStore } from '@stella/platform/object-store';

/** Locks `keys` for the rest of the transaction; sorted, so two lockers of overlapping sets never deadlock. */
export async function lockObjectKeys(tx: Queryable, keys: Iterable<string>): Promise<void> {
  for (const key of [...new Set(keys)].sort())
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('stella.evidence.object:' || $1, 0))`, [key]);
}

/**
 * In the transaction that records `keys`: locks them and checks each object still exists, so a
 * sweeper that removed one before the lock makes this transaction fail (CONFLICT, retryable)
 * instead of committing a row that names nothing.
 */
export async function claimStoredObjects(tx: Queryable, store: ObjectStore, keys: readonly string[]): Promise<void> {
  await lockObjectKeys(tx, keys);
  for (const key of keys)
    if (!(await store.exists(key)))
      throw new StellaError('CONFLICT', 'a stored evidence object was removed before its row was committed; retry', {
        details: { reason: 'object swept before commit' },
      });
}

/** Those of `keys` that a row of the transaction's tenant names (a blob or a bundle archive). */
export async function referencedKeys(tx: Queryable, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const r = await tx.query<{ k: string }>(
    `SELECT object_key AS k FROM evidence_locker.blobs WHERE object_key = ANY($1::text[])
     UNION SELECT archive_key FROM evidence_locker.bundles WHERE archive_key = ANY($1::text[])`,
    [keys],
  );
  return new Set(r.rows.map((row) => row.k));
}

export interface RemovalResult {
  removed: string[];
  /** Unreferenced, but under a legal hold or retention in the store: WORM wins, they stay. */
  retained: string[];
  /** Unreferenced, but modified after `olderThan` (a writer may be about to commit): left for later. */
  young: string[];
}

/**
 * Deletes those of `keys` that no row references, each decided under its key lock, inside the
 * caller's tenant transaction (RLS: the keys must be that tenant's). With `olderThan`, objects
 * modified at or after it are kept; held or retained objects are never deleted.
 */
export async function removeUnreferenced(
  tx: Queryable,
  store: ObjectStore,
  keys: readonly string[],
  opts: { olderThan?: Date; now?: Date } = {},
): Promise<RemovalResult> {
  const result: RemovalResult = { removed: [], retained: [], young: [] };
  // Cheap first pass without locks: most keys are referenced and need nothing more.
  const referencedBefore = await referencedKeys(tx, keys);
  const candidates = keys.filter((k) => !referencedBefore.has(k));
  if (candidates.length === 0) return result;
  await lockObjectKeys(tx, candidates);
  const referenced = await referencedKeys(tx, candidates);
  const now = opts.now ?? new Date();
  for (const key of candidates) {
    if (referenced.has(key)) continue;
    const info = await store.head(key).catch((err: unknown) => {
      if (isStellaError(err) && err.code === 'OBJECT_NOT_FOUND') return undefined;
      throw err;
    });
    if (!info) continue;
    if (info.legalHold || (info.retainUntil && info.retainUntil > now)) {
      result.retained.push(key);
      continue;
    }
    if (opts.olderThan && (!info.lastModified || info.lastModified >= opts.olderThan)) {
      result.young.push(key);
      continue;
    }
    try {
      await store.delete(key);
      result.removed.push(key);
    } catch (err) {
      if (!isStellaError(err)) throw err;
      if (err.code === 'OBJECT_RETAINED') result.retained.push(key);
      else if (err.code !== 'OBJECT_NOT_FOUND') throw err;
    }
  }
  return result;
}
