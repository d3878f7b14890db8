/**
 * Filesystem driver of the object store port (docs/object-store.md "Filesystem driver").
 *
 * Layout under `root` (names with `~` can never come from a key, see object-key.ts):
 *
 *   tmp/<random>                          staging files (same filesystem, so rename is atomic)
 *   objects/<seg>/…/<last>~meta           sidecar JSON: digest, size, contentType, WORM state, blob
 *   objects/<seg>/…/<last>~b-<random>     the bytes of the current version
 *   cas/sha256/<h0h1>/<h2h3>/<hex>~meta   content-addressed objects, sharded by the first 4 hex
 *   cas/sha256/<h0h1>/<h2h3>/<hex>~blob
 *
 * The sidecar is the commit point: an object exists iff its `~meta` exists, and it names the blob
 * holding the bytes. A put streams into `tmp/`, fsyncs, verifies digest and size, renames the
 * blob into place, then atomically replaces the sidecar (write temp + fsync + rename + fsync of
 * the directory, the classic POSIX recipe). Readers therefore see the old object or the new one,
 * never a mix; a crash leaves at most an unreferenced blob or temp file, never a visible partial
 * object. WORM checks and publication run under a per-key mutex, so they are atomic within one
 * process; several processes sharing one root are not serialised (use the S3 driver for that).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
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
  discardBody,
  DigestCounter,
  KeyedMutex,
  listWindow,
  notFound,
  resolveRange,
  toListPage,
  unavailable,
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

export class FsObjectStore implements ObjectStore {
  readonly driver = 'fs';
  private readonly root: string;
  private readonly now: () => number;
  private readonly doFsync: boolean;
  private readonly mutex = new KeyedMutex();
  private tmpReady?: Promise<unknown>;

  constructor(opts: FsObjectStoreOptions) {
    if (typeof opts.root !== 'string' || !isAbsolute(opts.root)) {
      throw new StellaError('CONFIG_INVALID', 'fs object store root must be an absolute path', {
        details: { root: opts.root },
      });
    }
    this.root = opts.root;
    this.now = opts.now ?? Date.now;
    this.doFsync = opts.fsync ?? true;
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
      return await this.mutex.run(loc.meta, () => this.publish(loc, staged, o));
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
      return await this.mutex.run(loc.meta, () => this.publish(loc, staged, o));
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
        fh = await open(join(loc.dir, meta.blob), 'r');
      } catch (err) {
        if (errno(err) === 'ENOENT') continue;
        throw unavailable('open object', err);
      }
      const body = fh.createReadStream(range ? { start: range.start, end: range.end } : {});
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
    await this.mutex.run(loc.meta, async () => {
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
    await this.mutex.run(loc.meta, async () => {
      const meta = await this.readMeta(loc);
      if (!meta) throw notFound(key);
      if (meta.legalHold !== on) await this.writeMeta(loc, { ...meta, legalHold: on });
    });
  }

  async extendRetention(key: string, until: Date): Promise<void> {
    assertValidKey(key);
    const u = checkDate(until, 'until');
    const loc = this.locate(key);
    await this.mutex.run(loc.meta, async () => {
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
      await this.ensureTmp();
      await access(join(this.root, 'tmp'), constants.W_OK);
    } catch (err) {
      throw unavailable(`use ${this.root}`, err);
    }
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

  private ensureTmp(): Promise<unknown> {
    this.tmpReady ??= mkdir(join(this.root, 'tmp'), { recursive: true }).catch((err) => {
      this.tmpReady = undefined;
      throw err;
    });
    return this.tmpReady;
  }

  private tmpPath(): string {
    return join(this.root, 'tmp', randomBytes(12).toString('hex'));
  }

  /** Stream the body into a fresh temp file, hashing as it goes. Removes the file on any error. */
  private async stage(body: ObjectBody, o: CheckedPutOptions): Promise<Staged> {
    let chunks: AsyncIterable<Uint8Array>;
    try {
      chunks = bodyChunks(body);
      await this.ensureTmp();
    } catch (err) {
      discardBody(body);
      throw isStellaError(err) ? err : unavailable('create staging directory', err);
    }
    const tmp = this.tmpPath();
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
      await mkdir(loc.dir, { recursive: true });
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
    const tmp = this.tmpPath();
    try {
      await this.ensureTmp();
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(meta));
        if (this.doFsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(loc.dir, { recursive: true });
      await rename(tmp, loc.meta);
      await this.syncDir(loc.dir);
    } catch (err) {
      await rm(tmp, { force: true });
      throw unavailable('write object metadata', err);
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
      text = await readFile(loc.meta, 'utf8');
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw unavailable('read object metadata', err);
    }
    try {
      const m = JSON.parse(text) as Sidecar;
      if (m.v !== 1 || m.key !== loc.key || typeof m.blob !== 'string' || typeof m.size !== 'number')
        throw new Error('bad sidecar');
      return m;
    } catch (err) {
      throw unavailable(`parse metadata of ${loc.key}`, err);
    }
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
    yield* this.walkDir(join(this.root, 'objects', ...segs), base, prefix, after);
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
