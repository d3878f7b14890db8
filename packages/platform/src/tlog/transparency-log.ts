/**
 * Transparency log storage (issue 12 item 2; docs/formats/tlog.md "Storage"): the C2SP tiles,
 * entry bundles and checkpoint notes of one log in the object store, content-addressed
 * (`sha256:<hex>`, immutable; WORM retention when configured), and the sequencer state in Postgres
 * (`tlog` schema).
 *
 * - **Append** is one INSERT: the entry is durable (and deduplicated by SHA-256) when it returns;
 *   it waits in `tlog.entries` without an index until the sequencer integrates it.
 * - **Integrate** takes up to `maxBatch` pending entries (many entries per checkpoint) and, in ONE
 *   transaction holding the log's advisory lock (`pg_try_advisory_xact_lock`: one sequencer per
 *   log across replicas, the others skip) and the log row: computes the new tiles, writes every
 *   blob to the store, signs the checkpoint, then commits the path → digest index, the entries'
 *   indexes and the checkpoint together. Blobs are durable before COMMIT, so a crash (SIGKILL)
 *   at any point either publishes nothing — the entries stay pending, the blobs written so far are
 *   unreferenced content-addressed objects — or publishes a checkpoint whose tiles all exist.
 */
import { createHash } from 'node:crypto';
import { StellaError, isStellaError } from '@stella/core/errors';
import { emptyRoot, hashEquals } from '@stella/core/merkle';
import {
  TileAppender,
  TileTree,
  assertEntry,
  provenInclusion,
  signCheckpoint,
  tilePath,
  type NoteSigner,
  type TileId,
  type TileReader,
  type TlogConsistencyProof,
  type TlogInclusionProof,
} from '@stella/core/tlog';
import type { Db, Queryable } from '../db/index.js';
import type { ObjectStore } from '../object-store/index.js';

/** classid of the per-log advisory lock (the objid is `hashtext(log_id)`): 'TLOG'. */
export const TLOG_LOCK_CLASS = 0x544c4f47;
const LOG_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export interface TransparencyLogOptions {
  db: Db;
  store: ObjectStore;
  /** Stable id (`[a-z0-9][a-z0-9._-]*`), e.g. the tenant's log name. */
  logId: string;
  /** Checkpoint origin line (c2sp.org/tlog-checkpoint), e.g. `stella.example/evidence/tenant-a`. */
  origin: string;
  /** Log key(s); each signs every checkpoint. */
  signers: readonly NoteSigner[];
  /** Entries integrated per checkpoint at most (default 4096). */
  maxBatch?: number;
  /** WORM: retention for every stored blob (the store refuses deleting it before). */
  retainUntil?: () => Date | undefined;
  /** Blob writes in flight per batch (default 8). */
  writeConcurrency?: number;
  /**
   * Progress of {@link TransparencyLog.integrate} (metrics, crash tests): `stored` when every blob
   * of the batch is durable and the commit is next, `published` after the commit.
   */
  onPhase?: (phase: 'stored' | 'published', size: number) => void;
}

/** Options of {@link TransparencyLog.append} / {@link TransparencyLog.appendMany}. */
export interface AppendOptions {
  /** A repeat is TLOG_DUPLICATE_ENTRY instead of `duplicate: true`. */
  rejectDuplicates?: boolean;
  /**
   * Run the INSERT on this transaction (owner role) instead of the pool, so the append commits
   * or rolls back with the caller's other writes (the Evidence Locker's forwarder marks its
   * queue rows in the same transaction).
   */
  via?: Queryable;
}

/** Result of {@link TransparencyLog.append}. */
export interface AppendOutcome {
  /** `sha256:<hex>` of the entry. */
  digest: string;
  /** The entry was already in the log (deduplicated); nothing was added. */
  duplicate: boolean;
  /** Log index, once sequenced (duplicates of integrated entries). */
  index?: number;
}

/** The published state. */
export interface PublishedCheckpoint {
  size: number;
  rootHash: Uint8Array;
  /** The signed note (null before the first checkpoint). */
  note: string | null;
}

/** Result of {@link TransparencyLog.integrate}. */
export type IntegrateOutcome =
  { busy: true } | { busy: false; integrated: number; size: number; rootHash: Uint8Array; note?: string };

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const toBytes = (v: unknown): Uint8Array => {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
};
const digestString = (d: Uint8Array): string => `sha256:${Buffer.from(d).toString('hex')}`;

/** Parses `sha256:<hex>` or 64 hex digits into 32 bytes. */
function parseDigest(d: string | Uint8Array): Uint8Array {
  if (d instanceof Uint8Array && d.length === 32) return d;
  const m = typeof d === 'string' ? /^(?:sha256:)?([0-9a-f]{64})$/.exec(d) : null;
  if (!m) throw new StellaError('VALIDATION_FAILED', 'entry digest must be sha256:<64 lowercase hex>');
  return new Uint8Array(Buffer.from(m[1]!, 'hex'));
}

async function readAll(store: ObjectStore, key: string): Promise<Uint8Array> {
  const r = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** One transparency log over Postgres and the object store. */
export class TransparencyLog {
  readonly logId: string;
  readonly origin: string;
  private readonly db: Db;
  private readonly store: ObjectStore;
  private readonly signers: readonly NoteSigner[];
  private readonly maxBatch: number;
  private readonly writeConcurrency: number;
  private readonly retainUntil: () => Date | undefined;
  private readonly onPhase: (phase: 'stored' | 'published', size: number) => void;
  /** In-memory right edge, valid only for the published size it was built at. */
  private appender: TileAppender | undefined;

  private constructor(opts: TransparencyLogOptions) {
    this.db = opts.db;
    this.store = opts.store;
    this.logId = opts.logId;
    this.origin = opts.origin;
    this.signers = opts.signers;
    this.maxBatch = opts.maxBatch ?? 4096;
    this.writeConcurrency = opts.writeConcurrency ?? 8;
    this.retainUntil = opts.retainUntil ?? (() => undefined);
    this.onPhase = opts.onPhase ?? (() => undefined);
  }

  /**
   * Opens (creating on first use) the log `logId`. Its origin is fixed at creation.
   * @throws StellaError VALIDATION_FAILED (bad id, no signer), TLOG_ORIGIN_MISMATCH
   */
  static async open(opts: TransparencyLogOptions): Promise<TransparencyLog> {
    if (!LOG_ID.test(opts.logId))
      throw new StellaError('VALIDATION_FAILED', `invalid log id ${JSON.stringify(opts.logId)}`);
    if (!opts.signers.length) throw new StellaError('VALIDATION_FAILED', 'a log needs at least one signer');
    if (opts.maxBatch !== undefined && (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1))
      throw new StellaError('VALIDATION_FAILED', 'maxBatch must be a positive integer');
    await opts.db.query(
      'INSERT INTO tlog.logs (log_id, origin, root_hash) VALUES ($1, $2, $3) ON CONFLICT (log_id) DO NOTHING',
      [opts.logId, opts.origin, Buffer.from(emptyRoot())],
    );
    const { rows } = await opts.db.query<{ origin: string }>('SELECT origin FROM tlog.logs WHERE log_id = $1', [
      opts.logId,
    ]);
    if (rows[0]?.origin !== opts.origin)
      throw new StellaError('TLOG_ORIGIN_MISMATCH', `log ${opts.logId} has origin ${JSON.stringify(rows[0]?.origin)}`, {
        details: { logId: opts.logId },
      });
    return new TransparencyLog(opts);
  }

  /**
   * Appends one entry (1…65535 bytes). Durable when it resolves. An entry already in the log
   * (same SHA-256) is not added again: `duplicate: true`, or with `rejectDuplicates` the coded
   * error TLOG_DUPLICATE_ENTRY (with `details.index` when it is sequenced).
   */
  async append(entry: Uint8Array, opts: AppendOptions = {}): Promise<AppendOutcome> {
    return (await this.appendMany([entry], opts))[0]!;
  }

  /** Appends entries in one statement; outcomes in input order (repeats within the call are duplicates). */
  async appendMany(entries: readonly Uint8Array[], opts: AppendOptions = {}): Promise<AppendOutcome[]> {
    const q = opts.via ?? this.db;
    entries.forEach((e, i) => assertEntry(e, `entry ${i}`));
    const digests = entries.map(sha256);
    const firstOf = new Map<string, number>();
    const uniq: number[] = [];
    digests.forEach((d, i) => {
      const k = Buffer.from(d).toString('hex');
      if (!firstOf.has(k)) {
        firstOf.set(k, i);
        uniq.push(i);
      }
    });
    const { rows } = await q.query<{ digest: Buffer }>(
      `INSERT INTO tlog.entries (log_id, digest, data)
       SELECT $1, d, x FROM unnest($2::bytea[], $3::bytea[]) AS t(d, x)
       ON CONFLICT (log_id, digest) DO NOTHING RETURNING digest`,
      [this.logId, uniq.map((i) => Buffer.from(digests[i]!)), uniq.map((i) => Buffer.from(entries[i]!))],
    );
    const inserted = new Set(rows.map((r) => r.digest.toString('hex')));
    const dupes = [...firstOf.keys()].filter((k) => !inserted.has(k));
    const indexOf = new Map<string, number>();
    if (dupes.length) {
      const r = await q.query<{ digest: Buffer; idx: string | null }>(
        'SELECT digest, idx FROM tlog.entries WHERE log_id = $1 AND digest = ANY($2::bytea[])',
        [this.logId, dupes.map((k) => Buffer.from(k, 'hex'))],
      );
      for (const row of r.rows) if (row.idx !== null) indexOf.set(row.digest.toString('hex'), Number(row.idx));
    }
    return digests.map((d, i) => {
      const k = Buffer.from(d).toString('hex');
      const duplicate = !inserted.has(k) || firstOf.get(k) !== i;
      const index = indexOf.get(k);
      if (duplicate && opts.rejectDuplicates)
        throw new StellaError('TLOG_DUPLICATE_ENTRY', `entry sha256:${k} is already in log ${this.logId}`, {
          details: { digest: `sha256:${k}`, ...(index !== undefined ? { index } : {}) },
        });
      return { digest: `sha256:${k}`, duplicate, ...(index !== undefined ? { index } : {}) };
    });
  }

  /** Entries appended but not yet in a published checkpoint. */
  async pending(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM tlog.entries WHERE log_id = $1 AND idx IS NULL',
      [this.logId],
    );
    return Number(rows[0]!.n);
  }

  /**
   * Integrates one batch of pending entries and publishes its checkpoint (see the module doc).
   * Returns `{ busy: true }` when another sequencer holds this log.
   */
  async integrate(): Promise<IntegrateOutcome> {
    let next: TileAppender | undefined;
    try {
      const out = await this.db.transaction(async (tx): Promise<IntegrateOutcome> => {
        const lock = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [
          TLOG_LOCK_CLASS,
          this.logId,
        ]);
        if (!lock.rows[0]!.ok) return { busy: true };
        const log = await tx.query<{ tree_size: string; root_hash: Buffer }>(
          'SELECT tree_size, root_hash FROM tlog.logs WHERE log_id = $1 FOR UPDATE',
          [this.logId],
        );
        const size = Number(log.rows[0]!.tree_size);
        const root = toBytes(log.rows[0]!.root_hash);
        const pending = await tx.query<{ digest: Buffer; data: Buffer }>(
          'SELECT digest, data FROM tlog.entries WHERE log_id = $1 AND idx IS NULL ORDER BY seq LIMIT $2',
          [this.logId, this.maxBatch],
        );
        if (pending.rows.length === 0) return { busy: false, integrated: 0, size, rootHash: root };
        let app = this.appender;
        this.appender = undefined; // whatever happens next, the old edge is consumed
        if (!app || app.size !== size || !hashEquals(app.root(), root))
          app = size === 0 ? TileAppender.empty() : await TileAppender.open(this.readerOn(tx), size, root);
        const r = app.append(pending.rows.map((p) => toBytes(p.data)));
        const retainUntil = this.retainUntil();
        const index: { path: string; digest: string; size: number }[] = [];
        // 1. Every tile and entry bundle, durable in the store (content-addressed, idempotent).
        await pool(r.blobs, this.writeConcurrency, async (b) => {
          const put = await this.store.putContentAddressed(b.data, {
            size: b.data.length,
            contentType: 'application/octet-stream',
            ...(retainUntil ? { retainUntil } : {}),
          });
          index.push({ path: b.path, digest: put.digest, size: b.data.length });
        });
        // 2. The signed checkpoint note, also durable before anything points at it.
        const note = await signCheckpoint(
          { origin: this.origin, size: r.size, rootHash: r.rootHash, extensions: [] },
          this.signers,
        );
        const noteBytes = new TextEncoder().encode(note);
        const cp = await this.store.putContentAddressed(noteBytes, {
          size: noteBytes.length,
          contentType: 'text/plain; charset=utf-8',
          ...(retainUntil ? { retainUntil } : {}),
        });
        this.onPhase('stored', r.size);
        // 3. Publish: indexes, tile index, checkpoint — one commit.
        await tx.query(
          `UPDATE tlog.entries e SET idx = x.idx, data = NULL
           FROM unnest($2::bytea[], $3::bigint[]) AS x(digest, idx)
           WHERE e.log_id = $1 AND e.digest = x.digest AND e.idx IS NULL`,
          [this.logId, pending.rows.map((p) => p.digest), pending.rows.map((_, i) => String(size + i))],
        );
        await tx.query(
          `INSERT INTO tlog.tiles (log_id, path, digest, size)
           SELECT $1, p, d, s FROM unnest($2::text[], $3::text[], $4::int[]) AS t(p, d, s)`,
          [this.logId, index.map((x) => x.path), index.map((x) => x.digest), index.map((x) => x.size)],
        );
        await tx.query(
          'INSERT INTO tlog.checkpoints (log_id, tree_size, root_hash, note, digest) VALUES ($1, $2, $3, $4, $5)',
          [this.logId, r.size, Buffer.from(r.rootHash), note, cp.digest],
        );
        await tx.query(
          'UPDATE tlog.logs SET tree_size = $2, root_hash = $3, checkpoint = $4, updated_at = now() WHERE log_id = $1',
          [this.logId, r.size, Buffer.from(r.rootHash), note],
        );
        next = app;
        return { busy: false, integrated: pending.rows.length, size: r.size, rootHash: r.rootHash, note };
      });
      if (next) this.appender = next;
      if (!out.busy && out.integrated > 0) this.onPhase('published', out.size);
      return out;
    } catch (err) {
      this.appender = undefined;
      throw err;
    }
  }

  /**
   * Runs {@link integrate} in a loop: immediately again while entries are pending, else every
   * `idleMs` (default 50). Errors are reported to `onError` and retried after `idleMs`.
   */
  startSequencer(opts: { idleMs?: number; onError?: (err: unknown) => void } = {}): { stop: () => Promise<void> } {
    const idleMs = opts.idleMs ?? 50;
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
    const loop = (async () => {
      while (!stopped) {
        try {
          const r = await this.integrate();
          if (r.busy || r.integrated === 0) await sleep(idleMs);
        } catch (err) {
          opts.onError?.(err);
          await sleep(idleMs);
        }
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        wake?.();
        await loop;
      },
    };
  }

  /** The latest published checkpoint. */
  async checkpoint(q: Queryable = this.db): Promise<PublishedCheckpoint> {
    const { rows } = await q.query<{ tree_size: string; root_hash: Buffer; checkpoint: string | null }>(
      'SELECT tree_size, root_hash, checkpoint FROM tlog.logs WHERE log_id = $1',
      [this.logId],
    );
    const r = rows[0]!;
    return { size: Number(r.tree_size), rootHash: toBytes(r.root_hash), note: r.checkpoint };
  }

  /** Every published checkpoint, oldest first. */
  async checkpoints(): Promise<{ size: number; rootHash: Uint8Array; note: string; digest: string }[]> {
    const { rows } = await this.db.query<{ tree_size: string; root_hash: Buffer; note: string; digest: string }>(
      'SELECT tree_size, root_hash, note, digest FROM tlog.checkpoints WHERE log_id = $1 ORDER BY tree_size',
      [this.logId],
    );
    return rows.map((r) => ({
      size: Number(r.tree_size),
      rootHash: toBytes(r.root_hash),
      note: r.note,
      digest: r.digest,
    }));
  }

  /** A tile reader over the published tile index and the store. */
  tileReader(): TileReader {
    return this.readerOn(this.db);
  }

  private readerOn(q: Queryable): TileReader {
    return {
      readTile: async (t: TileId) => this.readPath(tilePath(t), q),
    };
  }

  /**
   * The bytes of a published tile or entry bundle by its C2SP path (for `GET …/tile/…`).
   * @throws StellaError TLOG_TILE_MISSING (not published, or gone from the store),
   *   TLOG_TILE_MISMATCH (the stored bytes no longer match their digest)
   */
  async readPath(path: string, q: Queryable = this.db): Promise<Uint8Array> {
    const { rows } = await q.query<{ digest: string }>(
      'SELECT digest FROM tlog.tiles WHERE log_id = $1 AND path = $2',
      [this.logId, path],
    );
    if (!rows[0])
      throw new StellaError('TLOG_TILE_MISSING', `${path} is not published in log ${this.logId}`, {
        details: { path },
      });
    try {
      return await readAll(this.store, rows[0].digest);
    } catch (err) {
      if (isStellaError(err) && err.code === 'OBJECT_NOT_FOUND')
        throw new StellaError('TLOG_TILE_MISSING', `${path} (${rows[0].digest}) is missing from the object store`, {
          cause: err,
          details: { path, digest: rows[0].digest },
        });
      if (isStellaError(err) && err.code === 'OBJECT_CORRUPT')
        throw new StellaError('TLOG_TILE_MISMATCH', `${path}: the stored bytes do not match ${rows[0].digest}`, {
          cause: err,
          details: { path, digest: rows[0].digest },
        });
      throw err;
    }
  }

  /** A tile view of the published tree (or of an earlier published size). */
  async tree(size?: number): Promise<TileTree> {
    const cp = await this.checkpoint();
    return new TileTree(this.tileReader(), size ?? cp.size);
  }

  /** Where an entry is: its index once sequenced and published, else undefined. */
  async lookup(digest: string | Uint8Array): Promise<{ index: number } | undefined> {
    const { rows } = await this.db.query<{ idx: string | null }>(
      'SELECT idx FROM tlog.entries WHERE log_id = $1 AND digest = $2',
      [this.logId, Buffer.from(parseDigest(digest))],
    );
    return rows[0]?.idx != null ? { index: Number(rows[0].idx) } : undefined;
  }

  /**
   * A published checkpoint by size: exactly `size`, or with `{ covering: true }` the first one
   * whose tree holds entry `size` (the checkpoint that integrated it). Undefined if none.
   */
  async checkpointAt(size: number, opts: { covering?: boolean } = {}): Promise<PublishedCheckpoint | undefined> {
    const { rows } = await this.db.query<{ tree_size: string; root_hash: Buffer; note: string }>(
      opts.covering
        ? 'SELECT tree_size, root_hash, note FROM tlog.checkpoints WHERE log_id = $1 AND tree_size > $2 ORDER BY tree_size LIMIT 1'
        : 'SELECT tree_size, root_hash, note FROM tlog.checkpoints WHERE log_id = $1 AND tree_size = $2',
      [this.logId, size],
    );
    const r = rows[0];
    return r ? { size: Number(r.tree_size), rootHash: toBytes(r.root_hash), note: r.note } : undefined;
  }

  /**
   * Inclusion proof of entry `index` in the latest checkpoint (or in the given published one),
   * checked against its root before it is returned (a corrupted tile is TLOG_TILE_MISMATCH, not a
   * bad proof).
   */
  async inclusionProof(
    index: number,
    at?: PublishedCheckpoint,
  ): Promise<{ proof: TlogInclusionProof; leafHash: Uint8Array; checkpoint: PublishedCheckpoint }> {
    const cp = at ?? (await this.checkpoint());
    const p = await provenInclusion(new TileTree(this.tileReader(), cp.size), index, cp);
    return { proof: { index: p.index, size: p.size, hashes: p.hashes }, leafHash: p.leafHash, checkpoint: cp };
  }

  /** Consistency proof between two published sizes (default: to the latest). */
  async consistencyProof(oldSize: number, newSize?: number): Promise<TlogConsistencyProof> {
    const cp = await this.checkpoint();
    const to = newSize ?? cp.size;
    if (to > cp.size)
      throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `tree size ${to} is beyond the published ${cp.size}`, {
        details: { size: to, published: cp.size },
      });
    return new TileTree(this.tileReader(), cp.size).consistencyProof(oldSize, to);
  }

  /** Resolves once the entry is in a published checkpoint; TLOG_TILE_MISSING-free polling every `pollMs`. */
  async waitForIntegration(
    digest: string | Uint8Array,
    opts: { timeoutMs?: number; pollMs?: number } = {},
  ): Promise<{ index: number; size: number }> {
    const d = Buffer.from(parseDigest(digest));
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      const { rows } = await this.db.query<{ idx: string | null; tree_size: string }>(
        `SELECT e.idx, l.tree_size FROM tlog.entries e JOIN tlog.logs l USING (log_id)
         WHERE e.log_id = $1 AND e.digest = $2`,
        [this.logId, d],
      );
      const r = rows[0];
      if (!r) throw new StellaError('NOT_FOUND', `entry ${digestString(d)} was never appended to log ${this.logId}`);
      if (r.idx !== null && Number(r.idx) < Number(r.tree_size))
        return { index: Number(r.idx), size: Number(r.tree_size) };
      if (Date.now() > deadline)
        throw new StellaError('SERVICE_UNAVAILABLE', `entry ${digestString(d)} not integrated within the timeout`);
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 10));
    }
  }
}
