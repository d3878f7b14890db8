/**
 * Filesystem driver of the object store port (docs/object-store.md "Filesystem driver").
 *
 * Layout under `root` (names with `~` can never come from a key, see object-key.ts):
 *
 *   tmp/<random>                          staging files (same filesystem, so rename is atomic)
 *   objects/<seg>/…/<last>~meta           sidecar JSON: digest, size, contentType, WORM state, blob
 *   objects/<seg>/…/<last>~b-<random>     the bytes of the current version
 *   objects/<seg>/…/<last>~lock           held while a writer publishes (cross-process lock)
 *   cas/sha256/<h0h1>/<h2h3>/<hex>~meta   content-addressed objects, sharded by the first 4 hex
 *   cas/sha256/<h0h1>/<h2h3>/<hex>~blob
 *
 * The sidecar is the commit point: an object exists iff its `~meta` exists, and it names the blob
 * holding the bytes. A put streams into `tmp/`, fsyncs, verifies digest and size, renames the
 * blob into place, then atomically replaces the sidecar (write temp + fsync + rename + fsync of
 * the directory, the classic POSIX recipe). Readers therefore see the old object or the new one,
 * never a mix; a crash leaves at most an unreferenced blob or temp file, never a visible partial
 * object. WORM checks and publication run under a per-key mutex and a per-key lock file created
 * with O_EXCL, so they are atomic across processes (and store instances) sharing one local root:
 * each publisher removes the blob it replaced, and no writer's blob is left orphaned.
 *
 * Hardening (issue 19 finding 9): no path inside the root is followed through a symlink (every
 * directory from the root down is lstat-checked, final files are opened with O_NOFOLLOW), and a
 * full `get` verifies the bytes against the sidecar digest while streaming (`verifyOnRead`).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, lstat, mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { StellaError, isStellaError } from '@stella/core/errors';
import { assertValidKey, isContentAddressedKey } from './object-key.js';
import {
  admitPut,
  assertExtends,
  assertNotRetained,
  bodyChunks,
  checkDate,
  checkLegalHoldFlag,
  checkPutOptions,
  checkSweepAge,
  corrupt,
  discardBody,
  DigestCounter,
  KeyedMutex,
  listWindow,
  notFound,
  resolveRange,
  toListPage,
  unavailable,
  verifyingStream,
  verifyWritten,
  type CheckedPutOptions,
} from './object-store-support.js';
import type {
  ByteRange,
  GetResult,
  ListItem,
  ListOptions,
  ListPage,
  ObjectBody,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  PutResult,
  Sha256Digest,
} from './object-store.js';

export interface FsObjectStoreOptions {
  /** Absolute directory; created on first write. */
  root: string;
  /** Clock for WORM decisions (ms since epoch); default `Date.now`. Tests inject one. */
  now?: () => number;
  /** fsync files and directories before publishing (default true; tests of RSS may turn it off). */
  fsync?: boolean;
  /**
   * Hash a full `get` while streaming and fail the stream with `OBJECT_CORRUPT` unless the bytes
   * match the sidecar digest (default true). Turn off only where a layer above verifies anyway.
   */
  verifyOnRead?: boolean;
  /**
   * A key's lock file older than this is taken to be left by a crashed writer and broken (default
   * 30 000 ms; a lock is held only while publishing, milliseconds). Waiting gives up with
   * `OBJECT_STORE_UNAVAILABLE` after twice this.
   */
  lockStaleMs?: number;
}

interface Sidecar {
  v: 1;
  key: string;
  digest: Sha256Digest;
  size: number;
  contentType?: string;
  retainUntil?: string;
  legalHold: boolean;
  blob: string;
  lastModified: string;
}

interface Location {
  key: string;
  cas: boolean;
  dir: string;
  name: string;
  meta: string;
}

interface Staged {
  tmp: string;
  digest: Sha256Digest;
  size: number;
}

const META = '~meta';
const LOCK = '~lock';
/** Blob files: `<name>~b-<random>` (named keys) or `<hex>~blob` (content addressed). */
const BLOB = /^(.+)~(?:b-[0-9a-f]+|blob)$/;
const NAMED_BLOB = /^[^/~]+~b-[0-9a-f]+$/;
const NOFOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW;

export class FsObjectStore implements ObjectStore {
  readonly driver = 'fs';
  private readonly root: string;
  private readonly now: () => number;
  private readonly doFsync: boolean;
  private readonly verifyOnRead: boolean;
  private readonly lockStaleMs: number;
  private readonly mutex = new KeyedMutex();

  constructor(opts: FsObjectStoreOptions) {
    if (typeof opts.root !== 'string' || !isAbsolute(opts.root)) {
      throw new StellaError('CONFIG_INVALID', 'fs object store root must be an absolute path', {
        details: { root: opts.root },
      });
    }
    this.root = opts.root;
    this.now = opts.now ?? Date.now;
    this.doFsync = opts.fsync ?? true;
    this.verifyOnRead = opts.verifyOnRead ?? true;
    this.lockStaleMs = opts.lockStaleMs ?? 30_000;
    if (!Number.isSafeInteger(this.lockStaleMs) || this.lockStaleMs < 1) {
      throw new StellaError('CONFIG_INVALID', 'fs object store lockStaleMs must be a positive integer', {
        details: { lockStaleMs: opts.lockStaleMs },
      });
    }
  }

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<PutResult> {
    const o = await admitPut(body, async () => {
      assertValidKey(key);
      const checked = checkPutOptions(opts);
      // Fail fast before streaming a large body that would be refused anyway; re-checked under
      // the mutex right before publishing.
      const loc = this.locate(key);
      const cur = loc.cas ? undefined : await this.readMeta(loc);
      if (cur) assertNotRetained(key, infoOf(cur), this.now(), 'overwrite');
      return checked;
    });
    const staged = await this.stage(body, o);
    try {
      verifyWritten(staged.digest, staged.size, o, isContentAddressedKey(key) ? key : undefined);
      const loc = this.locate(key);
      return await this.withKeyLock(loc, true, () => this.publish(loc, staged, o));
    } finally {
      await rm(staged.tmp, { force: true });
    }
  }

  async putContentAddressed(body: ObjectBody, opts?: PutOptions): Promise<PutResult> {
    const o = await admitPut(body, () => checkPutOptions(opts));
    const staged = await this.stage(body, o);
    try {
      verifyWritten(staged.digest, staged.size, o);
      const loc = this.locate(staged.digest);
      return await this.withKeyLock(loc, true, () => this.publish(loc, staged, o));
    } finally {
      await rm(staged.tmp, { force: true });
    }
  }

  async get(key: string, opts?: { range?: ByteRange }): Promise<GetResult> {
    assertValidKey(key);
    const loc = this.locate(key);
    // An overwrite may unlink the blob between reading the sidecar and opening the blob; the new
    // sidecar is already in place by then, so one re-read finds the new blob.
    for (let attempt = 0; attempt < 3; attempt++) {
      const meta = await this.readMeta(loc);
      if (!meta) break;
      const range = resolveRange(opts?.range, meta.size);
      let fh: FileHandle;
      try {
        fh = await open(join(loc.dir, meta.blob), NOFOLLOW_READ);
      } catch (err) {
        if (errno(err) === 'ENOENT') continue;
        if (errno(err) === 'ELOOP') throw corrupt(key, 'the blob is a symlink');
        throw unavailable('open object', err);
      }
      try {
        // Cheap checks that also cover ranged reads: a regular file of the recorded size.
        const st = await fh.stat();
        if (!st.isFile()) throw corrupt(key, 'the blob is not a regular file');
        if (st.size !== meta.size)
          throw corrupt(key, 'blob size differs from the recorded size', { size: meta.size, actualSize: st.size });
      } catch (err) {
        await fh.close();
        throw isStellaError(err) ? err : unavailable('open object', err);
      }
      const raw = fh.createReadStream(range ? { start: range.start, end: range.end } : {});
      // A range cannot be checked against the whole-object digest without reading it all.
      const body = this.verifyOnRead && !range ? verifyingStream(raw, key, meta.digest, meta.size) : raw;
      const info = infoOf(meta);
      return { ...info, body, length: range ? range.end - range.start + 1 : meta.size, ...(range ? { range } : {}) };
    }
    throw notFound(key);
  }

  async head(key: string): Promise<ObjectInfo> {
    assertValidKey(key);
    const meta = await this.readMeta(this.locate(key));
    if (!meta) throw notFound(key);
    return infoOf(meta);
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key);
    return (await this.readMeta(this.locate(key))) !== undefined;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const loc = this.locate(key);
    await this.withKeyLock(loc, false, async () => {
      const meta = await this.readMeta(loc);
      if (!meta) throw notFound(key);
      assertNotRetained(key, infoOf(meta), this.now(), 'delete');
      try {
        await rm(loc.meta);
        await this.syncDir(loc.dir);
        await rm(join(loc.dir, meta.blob), { force: true });
      } catch (err) {
        throw unavailable('delete object', err);
      }
    });
  }

  async setLegalHold(key: string, on: boolean): Promise<void> {
    assertValidKey(key);
    checkLegalHoldFlag(on);
    const loc = this.locate(key);
    await this.withKeyLock(loc, false, async () => {
      const meta = await this.readMeta(loc);
      if (!meta) throw notFound(key);
      if (meta.legalHold !== on) await this.writeMeta(loc, { ...meta, legalHold: on });
    });
  }

  async extendRetention(key: string, until: Date): Promise<void> {
    assertValidKey(key);
    const u = checkDate(until, 'until');
    const loc = this.locate(key);
    await this.withKeyLock(loc, false, async () => {
      const meta = await this.readMeta(loc);
      if (!meta) throw notFound(key);
      const cur = meta.retainUntil ? new Date(meta.retainUntil) : undefined;
      assertExtends(key, cur, u);
      if (cur?.getTime() !== u.getTime()) await this.writeMeta(loc, { ...meta, retainUntil: u.toISOString() });
    });
  }

  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const { limit, after } = listWindow(prefix, opts);
    const items: ListItem[] = [];
    // One item beyond the page tells whether a next page exists (toListPage drops it).
    for await (const item of mergeSorted(this.walkObjects(prefix, after), this.walkCas(prefix, after))) {
      items.push(item);
      if (items.length > limit) break;
    }
    return toListPage(items, limit);
  }

  async ping(): Promise<void> {
    try {
      await access(await this.tmpDir(), constants.W_OK);
    } catch (err) {
      throw isStellaError(err) ? err : unavailable(`use ${this.root}`, err);
    }
  }

  async sweepAbandoned(opts: { olderThanMs: number }): Promise<{ removed: string[] }> {
    const cutoff = this.now() - checkSweepAge(opts?.olderThanMs);
    const removed: string[] = [];
    // Only files (never directories, which the store does not create in tmp/) count.
    const old = async (path: string) => {
      const st = await lstat(path).catch(() => undefined);
      return st !== undefined && !st.isDirectory() && st.mtimeMs < cutoff;
    };
    try {
      // Staging files: named only by the writer that created them, and removed by it on every
      // path, so one that is old was abandoned by a crash.
      const tmp = await this.tmpDir();
      for (const name of await this.readNames(tmp)) {
        const path = join(tmp, name);
        if (await old(path)) {
          await rm(path, { force: true });
          removed.push(relative(this.root, path));
        }
      }
      // Blobs no sidecar names (a crash between the blob rename and the sidecar rename) and
      // locks of crashed writers. Decided under the key lock, so no publisher is mid-way.
      for (const top of ['objects', 'cas']) {
        const dir = join(this.root, top);
        if (!(await this.safeDir(dir, false))) continue;
        for await (const file of this.walkFiles(dir)) await this.sweepEntry(file.dir, file.name, old, removed);
      }
    } catch (err) {
      throw isStellaError(err) ? err : unavailable('sweep abandoned files', err);
    }
    return { removed };
  }

  async close(): Promise<void> {
    // Nothing is held open between calls; streams returned by get() own their file handles.
  }

  // --- internals -------------------------------------------------------------------------------

  private locate(key: string): Location {
    if (isContentAddressedKey(key)) {
      const hex = key.slice('sha256:'.length);
      const dir = join(this.root, 'cas', 'sha256', hex.slice(0, 2), hex.slice(2, 4));
      return { key, cas: true, dir, name: hex, meta: join(dir, hex + META) };
    }
    const segs = key.split('/');
    const name = segs.pop()!;
    const dir = join(this.root, 'objects', ...segs);
    return { key, cas: false, dir, name, meta: join(dir, name + META) };
  }

  /**
   * Ensure `dir` (inside the root) is reached without following a symlink: lstat every component
   * below the root, creating missing ones when `create`. Returns false when a component is missing
   * and not created. A symlink or non-directory is `OBJECT_CORRUPT` (a planted link would lead
   * reads and writes outside the root). Node has no openat(); this check-before-use defeats
   * planted links, not a concurrent attacker renaming inside the root, who could rewrite the
   * sidecars anyway (docs/security.md "Object store").
   */
  private async safeDir(dir: string, create: boolean): Promise<boolean> {
    if (create) await mkdir(this.root, { recursive: true });
    let cur = this.root;
    for (const seg of relative(this.root, dir).split(sep)) {
      if (seg === '') continue;
      cur = join(cur, seg);
      for (;;) {
        let st;
        try {
          st = await lstat(cur);
        } catch (err) {
          if (errno(err) !== 'ENOENT') throw err;
          if (!create) return false;
          await mkdir(cur).catch((e: unknown) => {
            if (errno(e) !== 'EEXIST') throw e;
          });
          continue; // lstat what is there now (ours, or a concurrent writer's)
        }
        if (!st.isDirectory() || st.isSymbolicLink()) {
          throw corrupt(
            relative(this.root, dir),
            `${relative(this.root, cur)} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
          );
        }
        break;
      }
    }
    return true;
  }

  private async tmpDir(): Promise<string> {
    const dir = join(this.root, 'tmp');
    await this.safeDir(dir, true);
    return dir;
  }

  private async tmpPath(): Promise<string> {
    return join(await this.tmpDir(), randomBytes(12).toString('hex'));
  }

  /**
   * Run `fn` holding the key's in-process mutex and its lock file (`<name>~lock`, created with
   * O_EXCL), so check-then-publish is atomic across store instances and processes on one root.
   * When `create` is false and the key's directory does not exist, there is no object to lock:
   * `fn` runs under the mutex only (it will find no sidecar).
   */
  private withKeyLock<T>(loc: Location, create: boolean, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(loc.meta, async () => {
      let exists: boolean;
      try {
        exists = await this.safeDir(loc.dir, create);
      } catch (err) {
        throw isStellaError(err) ? err : unavailable('create object directory', err);
      }
      if (!exists) return fn();
      const lock = join(loc.dir, loc.name + LOCK);
      const ino = await this.acquire(lock, loc.key);
      try {
        return await fn();
      } finally {
        // Remove only our own lock: if we were too slow and it was broken as stale, the file now
        // belongs to another writer.
        const st = await lstat(lock).catch(() => undefined);
        if (st?.ino === ino) await rm(lock, { force: true });
      }
    });
  }

  /** Create the lock file, waiting (with jittered backoff) while another writer holds it. */
  private async acquire(lock: string, key: string): Promise<number> {
    const deadline = Date.now() + 2 * this.lockStaleMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(lock, 'wx', 0o600);
        try {
          return (await fh.stat()).ino;
        } finally {
          await fh.close();
        }
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw unavailable(`lock ${key}`, err);
      }
      if ((await this.breakStaleLock(lock)) !== 'held') continue;
      if (Date.now() > deadline) {
        throw unavailable(`lock ${key}`, new Error(`lock file held for more than ${2 * this.lockStaleMs} ms`));
      }
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
  }

  /**
   * Break a lock older than `lockStaleMs` (its writer crashed): move it aside, and if what we
   * moved is not the file we judged stale (another writer broke it and locked in between), put it
   * back with link(), which never replaces an existing file.
   */
  private async breakStaleLock(lock: string): Promise<'gone' | 'held' | 'broken'> {
    const st = await lstat(lock).catch(() => undefined);
    if (!st) return 'gone';
    if (Date.now() - st.mtimeMs <= this.lockStaleMs) return 'held';
    const aside = await this.tmpPath();
    try {
      await rename(lock, aside);
      const moved = await lstat(aside);
      if (moved.ino === st.ino) return 'broken';
      await link(aside, lock).catch(() => {});
      return 'held';
    } catch (err) {
      if (errno(err) === 'ENOENT') return 'gone';
      throw unavailable('break a stale lock', err);
    } finally {
      await rm(aside, { force: true });
    }
  }

  /** Sweep one file of the object tree: an old unreferenced blob, or an old stale lock. */
  private async sweepEntry(
    dir: string,
    name: string,
    old: (path: string) => Promise<boolean>,
    removed: string[],
  ): Promise<void> {
    const path = join(dir, name);
    if (name.endsWith(LOCK)) {
      if ((await old(path).catch(() => false)) && (await this.breakStaleLock(path)) === 'broken') {
        removed.push(relative(this.root, path));
      }
      return;
    }
    const m = BLOB.exec(name);
    if (!m || !(await old(path).catch(() => false))) return;
    const loc = this.locateFile(dir, m[1]!);
    if (!loc) return;
    await this.withKeyLock(loc, false, async () => {
      const meta = await this.readMeta(loc).catch(() => undefined);
      if (meta?.blob === name) return;
      await rm(path, { force: true });
      removed.push(relative(this.root, path));
    });
  }

  /** The location a file `<name>~…` in `dir` belongs to, or undefined if it is no key's. */
  private locateFile(dir: string, name: string): Location | undefined {
    const rel = relative(this.root, dir).split(sep);
    const key =
      rel[0] === 'cas' ? `sha256:${name}` : rel[0] === 'objects' ? [...rel.slice(1), name].join('/') : undefined;
    if (key === undefined) return undefined;
    try {
      assertValidKey(key);
    } catch {
      return undefined;
    }
    const loc = this.locate(key);
    return loc.dir === dir ? loc : undefined;
  }

  /** Every regular file under `dir`, not following symlinks (lstat-typed readdir). */
  private async *walkFiles(dir: string): AsyncGenerator<{ dir: string; name: string }> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      if (e.isDirectory()) yield* this.walkFiles(join(dir, e.name));
      else if (e.isFile()) yield { dir, name: e.name };
    }
  }

  /** Stream the body into a fresh temp file, hashing as it goes. Removes the file on any error. */
  private async stage(body: ObjectBody, o: CheckedPutOptions): Promise<Staged> {
    let chunks: AsyncIterable<Uint8Array>;
    let tmp: string;
    try {
      chunks = bodyChunks(body);
      tmp = await this.tmpPath();
    } catch (err) {
      discardBody(body);
      throw isStellaError(err) ? err : unavailable('create staging directory', err);
    }
    let fh: FileHandle | undefined;
    try {
      try {
        fh = await open(tmp, 'wx', 0o600);
      } catch (err) {
        discardBody(body);
        throw unavailable('create staging file', err);
      }
      const counter = new DigestCounter(o.size);
      // Source errors propagate unchanged (they are the caller's); our write errors are wrapped.
      for await (const chunk of chunks) {
        counter.update(chunk);
        await writeAll(fh, chunk);
      }
      try {
        if (this.doFsync) await fh.sync();
        await fh.close();
        fh = undefined;
      } catch (err) {
        throw unavailable('flush staging file', err);
      }
      return { tmp, digest: counter.digest(), size: counter.size };
    } catch (err) {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async publish(loc: Location, staged: Staged, o: CheckedPutOptions): Promise<PutResult> {
    const cur = await this.readMeta(loc);
    if (loc.cas && cur) {
      // Idempotent content-addressed put: same bytes by construction. Options may only
      // strengthen WORM (extend retention, add a hold), never weaken it.
      let next = cur;
      if (o.retainUntil && (!cur.retainUntil || new Date(cur.retainUntil) < o.retainUntil)) {
        next = { ...next, retainUntil: o.retainUntil.toISOString() };
      }
      if (o.legalHold && !cur.legalHold) next = { ...next, legalHold: true };
      if (next !== cur) await this.writeMeta(loc, next);
      return { key: loc.key, digest: cur.digest, size: cur.size };
    }
    if (cur) assertNotRetained(loc.key, infoOf(cur), this.now(), 'overwrite');
    const blob = loc.cas ? `${loc.name}~blob` : `${loc.name}~b-${randomBytes(8).toString('hex')}`;
    const blobPath = join(loc.dir, blob);
    try {
      // The directory was checked (no symlink on the way) when the key lock was taken.
      await rename(staged.tmp, blobPath);
    } catch (err) {
      throw unavailable('publish object', err);
    }
    const meta: Sidecar = {
      v: 1,
      key: loc.key,
      digest: staged.digest,
      size: staged.size,
      ...(o.contentType ? { contentType: o.contentType } : {}),
      ...(o.retainUntil ? { retainUntil: o.retainUntil.toISOString() } : {}),
      legalHold: o.legalHold,
      blob,
      lastModified: new Date(this.now()).toISOString(),
    };
    try {
      await this.writeMeta(loc, meta);
    } catch (err) {
      await rm(blobPath, { force: true });
      throw err;
    }
    if (cur && cur.blob !== blob) await rm(join(loc.dir, cur.blob), { force: true });
    return { key: loc.key, digest: staged.digest, size: staged.size };
  }

  /** Atomically replace the sidecar: temp file + fsync + rename + fsync(dir). */
  private async writeMeta(loc: Location, meta: Sidecar): Promise<void> {
    let tmp: string | undefined;
    try {
      tmp = await this.tmpPath();
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(meta));
        if (this.doFsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, loc.meta);
      await this.syncDir(loc.dir);
    } catch (err) {
      if (tmp !== undefined) await rm(tmp, { force: true });
      throw isStellaError(err) ? err : unavailable('write object metadata', err);
    }
  }

  private async syncDir(dir: string): Promise<void> {
    if (!this.doFsync) return;
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async readMeta(loc: Location): Promise<Sidecar | undefined> {
    let text: string;
    try {
      if (!(await this.safeDir(loc.dir, false))) return undefined;
      const fh = await open(loc.meta, NOFOLLOW_READ);
      try {
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'ELOOP') throw corrupt(loc.key, 'the sidecar is a symlink');
      throw isStellaError(err) ? err : unavailable('read object metadata', err);
    }
    let m: Sidecar;
    try {
      m = JSON.parse(text) as Sidecar;
      if (m.v !== 1 || m.key !== loc.key || typeof m.blob !== 'string' || typeof m.size !== 'number')
        throw new Error('bad sidecar');
    } catch (err) {
      throw unavailable(`parse metadata of ${loc.key}`, err);
    }
    // A sidecar naming a blob elsewhere, or (content addressed) another digest, was tampered with.
    if (loc.cas ? m.blob !== `${loc.name}~blob` : !NAMED_BLOB.test(m.blob) || !m.blob.startsWith(`${loc.name}~`)) {
      throw corrupt(loc.key, "the sidecar names a blob that is not this object's", { blob: m.blob.slice(0, 80) });
    }
    if (loc.cas ? m.digest !== loc.key : !isContentAddressedKey(m.digest)) {
      throw corrupt(loc.key, 'the sidecar digest is not the object digest', { digest: m.digest });
    }
    return m;
  }

  /**
   * Keys of `objects/` in byte order, lazily: within a directory, a file contributes its key and
   * a sub-directory the range `<name>/…`; sorting those strings orders everything without
   * interleaving, and whole sub-trees before the cursor are skipped unread.
   */
  private async *walkObjects(prefix: string, after: string | undefined): AsyncGenerator<ListItem> {
    if (prefix.startsWith('sha256:')) return;
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const segs = base.split('/').filter((s) => s !== '');
    if (segs.some((s) => s === '.' || s === '..')) return;
    const dir = join(this.root, 'objects', ...segs);
    // Below this directory walkDir descends only into real directories (lstat-typed readdir).
    if (!(await this.safeDir(dir, false).catch(() => false))) return;
    yield* this.walkDir(dir, base, prefix, after);
  }

  private async *walkDir(
    dir: string,
    keyBase: string,
    prefix: string,
    after: string | undefined,
  ): AsyncGenerator<ListItem> {
    let names: { name: string; isDir: boolean }[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).map((d) => ({ name: d.name, isDir: d.isDirectory() }));
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw unavailable('list objects', err);
    }
    const entries: { sort: string; isDir: boolean; name: string }[] = [];
    for (const { name, isDir } of names) {
      if (isDir && !name.includes('~')) entries.push({ sort: `${keyBase}${name}/`, isDir, name });
      else if (!isDir && name.endsWith(META))
        entries.push({ sort: keyBase + name.slice(0, -META.length), isDir, name });
    }
    entries.sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0));
    for (const e of entries) {
      if (!(e.sort.startsWith(prefix) || prefix.startsWith(e.sort))) continue;
      if (e.isDir) {
        if (after !== undefined && e.sort < after && !after.startsWith(e.sort)) continue;
        yield* this.walkDir(join(dir, e.name), e.sort, prefix, after);
      } else {
        if (after !== undefined && e.sort <= after) continue;
        const meta = await this.readMeta(this.locate(e.sort)).catch(() => undefined);
        if (meta) yield { key: e.sort, size: meta.size, digest: meta.digest };
      }
    }
  }

  private async *walkCas(prefix: string, after: string | undefined): AsyncGenerator<ListItem> {
    const tag = 'sha256:';
    if (!(prefix.startsWith(tag) || tag.startsWith(prefix))) return;
    const hexPrefix = prefix.slice(tag.length);
    const hexAfter =
      after === undefined
        ? undefined
        : after.startsWith(tag)
          ? after.slice(tag.length)
          : after < tag
            ? undefined
            : null;
    if (hexAfter === null) return; // the cursor is past every sha256: key
    const base = join(this.root, 'cas', 'sha256');
    // Shard names are the first 2 and next 2 hex digits; prune by the prefix and the cursor.
    const fits = (name: string, depth: number) =>
      /^[0-9a-f]{2}$/.test(name) && name.startsWith(hexPrefix.slice(depth, depth + 2));
    for (const l1 of (await this.readNames(base)).filter(
      (n) => fits(n, 0) && (hexAfter === undefined || n >= hexAfter.slice(0, 2)),
    )) {
      const afterL1 = hexAfter !== undefined && l1 === hexAfter.slice(0, 2) ? hexAfter : undefined;
      for (const l2 of (await this.readNames(join(base, l1))).filter(
        (n) => fits(n, 2) && (afterL1 === undefined || n >= afterL1.slice(2, 4)),
      )) {
        const files = (await this.readNames(join(base, l1, l2)))
          .filter((n) => n.endsWith(META))
          .map((n) => n.slice(0, -META.length));
        for (const hex of files) {
          const key = tag + hex;
          if (!key.startsWith(prefix) || (after !== undefined && key <= after)) continue;
          const meta = await this.readMeta(this.locate(key)).catch(() => undefined);
          if (meta) yield { key, size: meta.size, digest: meta.digest };
        }
      }
    }
  }

  private async readNames(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).sort();
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw unavailable('list objects', err);
    }
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  try {
    while (off < chunk.byteLength) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
      off += bytesWritten;
    }
  } catch (err) {
    throw unavailable('write staging file', err);
  }
}

function infoOf(m: Sidecar): ObjectInfo {
  return {
    key: m.key,
    size: m.size,
    digest: m.digest,
    ...(m.contentType ? { contentType: m.contentType } : {}),
    ...(m.retainUntil ? { retainUntil: new Date(m.retainUntil) } : {}),
    legalHold: m.legalHold,
    lastModified: new Date(m.lastModified),
  };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Merge two ascending streams of list items into one ascending stream. */
async function* mergeSorted(a: AsyncGenerator<ListItem>, b: AsyncGenerator<ListItem>): AsyncGenerator<ListItem> {
  let x = await a.next();
  let y = await b.next();
  try {
    while (!x.done || !y.done) {
      if (y.done || (!x.done && x.value.key < y.value.key)) {
        yield x.value as ListItem;
        x = await a.next();
      } else {
        yield y.value as ListItem;
        y = await b.next();
      }
    }
  } finally {
    await a.return(undefined);
    await b.return(undefined);
  }
}
