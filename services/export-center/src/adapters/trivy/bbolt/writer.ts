/**
 * A streaming writer for bbolt files (go.etcd.io/bbolt on-disk format version 2), used by the
 * `trivy:db` adapter to write `trivy.db` (no npm package writes bbolt; spec
 * shared/specs/trivy-db-and-oci.md §3). It lives beside the Trivy adapter rather than in core because
 * Trivy is its only user; it depends on nothing but node:fs and the error type, so it can move to
 * core unchanged if another exporter needs it.
 *
 * Layout written (what `bbolt compact` would produce, minus its free pages):
 * - page 0 and 1: meta pages (txid 0 and 1, identical otherwise, FNV-1a checksum), page 2: an
 *   empty freelist, pages 3…: the B+trees, in allocation order (children before parents);
 * - page size 4096, little-endian, file length exactly `pgid × 4096`;
 * - leaves and branches are split with bbolt's own rule at FillPercent 1.0 (`node.splitTwo` /
 *   `splitIndex`: a node is split only if it has more than 4 elements and 4096 bytes or more, a
 *   page closes before the element that would take it past 4096 bytes once it holds 2 elements, and
 *   the last page keeps at least 2), so pages are packed full; the root bucket (top-level names)
 *   at 0.5 as `bbolt compact` leaves it; a node larger than a page (a big value, or two) gets
 *   `overflow` contiguous extra pages. The test compares the page statistics with bbolt's own
 *   `Compact` of the same file;
 * - a bucket without sub-buckets whose single leaf is ≤ 1024 bytes (pageSize/4) is stored inline
 *   in its parent's leaf (bucket header root 0 + a mini leaf page), exactly bbolt's `inlineable`;
 *   the root bucket is always paged.
 *
 * Use: `openBucket(name)` … `put(key, value)` … `closeBucket()`, keys in strictly ascending byte
 * order (Go `bytes.Compare` = `Buffer.compare`) per bucket, sub-buckets and plain keys interleaved
 * in that one order; top-level entries must be buckets (bbolt's API allows nothing else). Then
 * `finish()`. Out-of-order, empty or oversized keys are refused with VALIDATION_FAILED and the
 * half-written file is removed (`abort()` does the same on the caller's errors).
 *
 * Memory bound: nothing is kept per finished page. Per open bucket (nesting depth d) and per tree
 * level (height h, log₂₅₀ of its key count) the writer holds one page being filled plus a look-ahead
 * of 3 elements (bbolt's split rule looks 2 elements ahead), and ≤ 1024 bytes while a bucket may
 * still be inlined; the root bucket's level keeps its elements (one per top-level bucket: a
 * 16-byte header, or an inline bucket of ≤ 1 KiB) until `finish`; finished pages wait in a write
 * buffer of at most FLUSH_BYTES (1 MiB) before they are appended. So memory is
 * O(d·h·(4096 + 5·largest element) + top-level buckets · 1 KiB) + 1 MiB, independent of the
 * number of keys. Determinism: the bytes depend only on the sequence of calls (fixed txids, no
 * times, zero padding).
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { StellaError } from '@stella/core/errors';

export const PAGE_SIZE = 4096;
export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 0x7fffffff - 1;
const PAGE_HEADER = 16;
const ELEMENT = 16; // leaf and branch elements are both 16 bytes
const BUCKET_HEADER = 16;
const MAX_INLINE = PAGE_SIZE / 4;
const MIN_KEYS_PER_PAGE = 2;
const FLUSH_BYTES = 1 << 20;
/** bbolt compact sets FillPercent 1.0 on every bucket it fills, but not on the root bucket (0.5). */
const ROOT_THRESHOLD = PAGE_SIZE * 0.5;

const BRANCH_PAGE = 0x01;
const LEAF_PAGE = 0x02;
const META_PAGE = 0x04;
const FREELIST_PAGE = 0x10;
const BUCKET_LEAF_FLAG = 0x01;

const MAGIC = 0xed0cdaed;
const VERSION = 2;
const FREELIST_PGID = 2;
const FIRST_DATA_PGID = 3;

interface Element {
  readonly key: Buffer;
  /** Leaf: the value (a bucket header + inline page for a sub-bucket); branch: empty. */
  readonly value: Buffer;
  readonly flags: number;
  /** Branch elements: the child's page id. */
  readonly pgid: number;
}

const elementSize = (e: Element): number => ELEMENT + e.key.length + e.value.length;

/** bbolt's `splitIndex` over `els` (length ≥ 5): how many go on the first page. */
function splitIndex(els: readonly Element[], threshold: number): number {
  let size = PAGE_HEADER;
  let index = 0;
  for (let i = 0; i < els.length - MIN_KEYS_PER_PAGE; i++) {
    index = i;
    const es = elementSize(els[i]!);
    if (i >= MIN_KEYS_PER_PAGE && size + es > threshold) break;
    size += es;
  }
  return index;
}

function nodeSize(els: readonly Element[]): number {
  let size = PAGE_HEADER;
  for (const e of els) size += elementSize(e);
  return size;
}

/** Serialises a leaf or branch node into `pages × 4096` bytes (page id `pgid`, 0 for inline). */
function encodeNode(els: readonly Element[], leaf: boolean, pgid: number, padded: boolean): Buffer {
  const size = nodeSize(els);
  const pages = Math.ceil(size / PAGE_SIZE);
  const buf = Buffer.alloc(padded ? pages * PAGE_SIZE : size);
  buf.writeBigUInt64LE(BigInt(pgid), 0);
  buf.writeUInt16LE(leaf ? LEAF_PAGE : BRANCH_PAGE, 8);
  buf.writeUInt16LE(els.length, 10);
  buf.writeUInt32LE(padded ? pages - 1 : 0, 12);
  let data = PAGE_HEADER + ELEMENT * els.length;
  els.forEach((e, i) => {
    const at = PAGE_HEADER + ELEMENT * i;
    if (leaf) {
      buf.writeUInt32LE(e.flags, at);
      buf.writeUInt32LE(data - at, at + 4);
      buf.writeUInt32LE(e.key.length, at + 8);
      buf.writeUInt32LE(e.value.length, at + 12);
    } else {
      buf.writeUInt32LE(data - at, at);
      buf.writeUInt32LE(e.key.length, at + 4);
      buf.writeBigUInt64LE(BigInt(e.pgid), at + 8);
    }
    e.key.copy(buf, data);
    data += e.key.length;
    e.value.copy(buf, data);
    data += e.value.length;
  });
  return buf;
}

function bucketHeader(root: number): Buffer {
  const b = Buffer.alloc(BUCKET_HEADER);
  b.writeBigUInt64LE(BigInt(root), 0); // sequence (bytes 8..15) stays 0
  return b;
}

function fnv1a64(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function metaPage(txid: number, rootPgid: number, highWater: number): Buffer {
  const p = Buffer.alloc(PAGE_SIZE);
  p.writeBigUInt64LE(BigInt(txid % 2), 0);
  p.writeUInt16LE(META_PAGE, 8);
  const m = PAGE_HEADER;
  p.writeUInt32LE(MAGIC, m);
  p.writeUInt32LE(VERSION, m + 4);
  p.writeUInt32LE(PAGE_SIZE, m + 8);
  p.writeUInt32LE(0, m + 12); // flags
  p.writeBigUInt64LE(BigInt(rootPgid), m + 16); // root bucket: root page
  p.writeBigUInt64LE(0n, m + 24); // root bucket: sequence
  p.writeBigUInt64LE(BigInt(FREELIST_PGID), m + 32);
  p.writeBigUInt64LE(BigInt(highWater), m + 40);
  p.writeBigUInt64LE(BigInt(txid), m + 48);
  p.writeBigUInt64LE(fnv1a64(p.subarray(m, m + 56)), m + 56);
  return p;
}

/** Appends pages at sequential page ids, buffering up to FLUSH_BYTES. */
class PageFile {
  next = FIRST_DATA_PGID;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writeAt = FIRST_DATA_PGID * PAGE_SIZE;

  constructor(readonly fh: FileHandle) {}

  /** Allocates page ids for `node` (already padded to whole pages) and queues it. */
  append(encode: (pgid: number) => Buffer): number {
    const pgid = this.next;
    const buf = encode(pgid);
    this.next += buf.length / PAGE_SIZE;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    return pgid;
  }

  get needsFlush(): boolean {
    return this.pendingBytes >= FLUSH_BYTES;
  }

  async flush(): Promise<void> {
    if (!this.pendingBytes) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, this.writeAt);
      off += bytesWritten;
      this.writeAt += bytesWritten;
    }
  }
}

/**
 * One level of one bucket's B+tree: elements stream in, full pages stream out to the file, and
 * each written page is handed up as a branch element (first key, page id). `threshold` is
 * pageSize × FillPercent: 4096 (FillPercent 1.0) streams; a lower one (the root bucket, which
 * `bbolt compact` leaves at the default 0.5) keeps the level's elements until `finish`, because
 * bbolt then splits only nodes of ≥ 4096 bytes at a threshold below that — the root holds one
 * element per top-level bucket, so that stays small.
 */
class Level {
  private cur: Element[] = [];
  private curSize = PAGE_HEADER;
  private ahead: Element[] = [];
  /** Pages this level has written; the first one is held back until a second exists. */
  private pages = 0;
  private first: Element | null = null;
  private parent: Level | null = null;

  constructor(
    private readonly file: PageFile,
    private readonly leaf: boolean,
    private readonly threshold: number,
  ) {}

  push(e: Element): void {
    this.ahead.push(e);
    if (this.threshold < PAGE_SIZE) return;
    // Decide ahead[0] once two more elements follow it (splitIndex never looks further).
    while (this.ahead.length > MIN_KEYS_PER_PAGE) {
      const e0 = this.ahead.shift()!;
      const es = elementSize(e0);
      if (this.cur.length >= MIN_KEYS_PER_PAGE && this.curSize + es > PAGE_SIZE) this.emit(this.takeCur());
      this.cur.push(e0);
      this.curSize += es;
    }
  }

  private takeCur(): Element[] {
    const els = this.cur;
    this.cur = [];
    this.curSize = PAGE_HEADER;
    return els;
  }

  private emit(els: Element[]): void {
    const pgid = this.file.append((id) => encodeNode(els, this.leaf, id, true));
    const up: Element = { key: els[0]!.key, value: Buffer.alloc(0), flags: 0, pgid };
    this.pages++;
    if (this.pages === 1) {
      this.first = up;
      return;
    }
    if (this.pages === 2) {
      this.parent = new Level(this.file, false, this.threshold);
      this.parent.push(this.first!);
      this.first = null;
    }
    this.parent!.push(up);
  }

  /** Writes what is left (bbolt's split of the remaining node) and returns the root page id. */
  finish(): number {
    let rest = [...this.cur, ...this.ahead];
    this.cur = [];
    this.ahead = [];
    if (rest.length === 0 && this.pages === 0) {
      return this.file.append((id) => encodeNode([], this.leaf, id, true)); // empty tree: one empty leaf
    }
    while (rest.length) {
      if (rest.length <= MIN_KEYS_PER_PAGE * 2 || nodeSize(rest) < PAGE_SIZE) {
        this.emit(rest);
        break;
      }
      const n = splitIndex(rest, this.threshold);
      this.emit(rest.slice(0, n));
      rest = rest.slice(n);
    }
    if (this.pages === 1) return this.first!.pgid;
    return this.parent!.finish();
  }
}

/** An open bucket: its elements, buffered while it may still be stored inline. */
class OpenBucket {
  lastKey: Buffer | null = null;
  inline: Element[] | null;
  inlineSize = PAGE_HEADER;
  tree: Level | null = null;

  constructor(
    readonly name: Buffer,
    private readonly file: PageFile,
    readonly isRoot: boolean,
  ) {
    this.inline = isRoot ? null : [];
    if (isRoot) this.tree = new Level(file, true, ROOT_THRESHOLD);
  }

  add(e: Element): void {
    if (this.inline) {
      this.inlineSize += elementSize(e);
      this.inline.push(e);
      if (this.inlineSize > MAX_INLINE || e.flags & BUCKET_LEAF_FLAG) this.toTree();
      return;
    }
    this.tree!.push(e);
  }

  /** Gives up inlining: the buffered elements go into the paged tree. */
  toTree(): void {
    if (!this.inline) return;
    this.tree = new Level(this.file, true, PAGE_SIZE);
    for (const e of this.inline) this.tree.push(e);
    this.inline = null;
  }

  /** The bucket's value in its parent (header + inline page, or header with its root page id). */
  close(): Buffer {
    if (this.inline) return Buffer.concat([bucketHeader(0), encodeNode(this.inline, true, 0, false)]);
    return bucketHeader(this.tree!.finish());
  }
}

/** A private copy of `k` (the caller may reuse its buffer after the call). */
function bytesOf(k: Uint8Array | string): Buffer {
  return typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k);
}

export interface BboltWriteResult {
  /** Number of pages (= high-water mark); the file is `pages × 4096` bytes. */
  readonly pages: number;
  readonly bytes: number;
}

export class BboltWriter {
  private readonly stack: OpenBucket[];
  private done = false;

  private constructor(
    private readonly path: string,
    private readonly file: PageFile,
  ) {
    this.stack = [new OpenBucket(Buffer.alloc(0), file, true)];
  }

  /** Creates (truncates) `path` and returns a writer for it. */
  static async create(path: string): Promise<BboltWriter> {
    const fh = await open(path, 'w', 0o644);
    return new BboltWriter(path, new PageFile(fh));
  }

  /** Nesting depth: 0 at the root (only buckets may be added there). */
  get depth(): number {
    return this.stack.length - 1;
  }

  private top(): OpenBucket {
    if (this.done) throw new Error('bbolt writer already finished');
    return this.stack[this.stack.length - 1]!;
  }

  private async fail(message: string, details: Record<string, unknown>): Promise<never> {
    await this.abort();
    throw new StellaError('VALIDATION_FAILED', `bbolt writer: ${message}`, { details });
  }

  private async checkKey(b: OpenBucket, key: Buffer): Promise<void> {
    if (key.length === 0) await this.fail('empty key', { bucketDepth: this.depth });
    if (key.length > MAX_KEY_SIZE)
      await this.fail(`key of ${key.length} bytes exceeds ${MAX_KEY_SIZE}`, { keySize: key.length });
    if (b.lastKey && Buffer.compare(b.lastKey, key) >= 0)
      await this.fail('keys must be added in strictly ascending byte order within a bucket', {
        previous: b.lastKey.toString('hex'),
        key: key.toString('hex'),
      });
    b.lastKey = key;
  }

  /** Opens the sub-bucket `name` of the current bucket; later calls go into it until closeBucket. */
  async openBucket(name: Uint8Array | string): Promise<void> {
    const parent = this.top();
    const key = bytesOf(name);
    await this.checkKey(parent, key);
    parent.toTree(); // a bucket with sub-buckets is never inline
    this.stack.push(new OpenBucket(key, this.file, false));
  }

  /** Adds a key/value to the current bucket (not allowed at the root). */
  async put(key: Uint8Array | string, value: Uint8Array | string): Promise<void> {
    const b = this.top();
    if (b.isRoot) await this.fail('the root bucket holds only buckets', {});
    const k = bytesOf(key);
    await this.checkKey(b, k);
    const v = bytesOf(value);
    if (v.length > MAX_VALUE_SIZE) await this.fail(`value of ${v.length} bytes is too large`, {});
    b.add({ key: k, value: v, flags: 0, pgid: 0 });
    if (this.file.needsFlush) await this.file.flush();
  }

  async closeBucket(): Promise<void> {
    const b = this.top();
    if (b.isRoot) await this.fail('closeBucket without an open bucket', {});
    this.stack.pop();
    const value = b.close();
    this.top().add({ key: b.name, value, flags: BUCKET_LEAF_FLAG, pgid: 0 });
    if (this.file.needsFlush) await this.file.flush();
  }

  /** Closes open buckets, writes the root tree, freelist and metas, and closes the file. */
  async finish(): Promise<BboltWriteResult> {
    try {
      while (this.depth > 0) await this.closeBucket();
      const root = this.top().tree!.finish();
      await this.file.flush();
      this.done = true;
      const highWater = this.file.next;
      const head = Buffer.alloc(3 * PAGE_SIZE);
      metaPage(0, root, highWater).copy(head, 0);
      metaPage(1, root, highWater).copy(head, PAGE_SIZE);
      head.writeBigUInt64LE(BigInt(FREELIST_PGID), 2 * PAGE_SIZE);
      head.writeUInt16LE(FREELIST_PAGE, 2 * PAGE_SIZE + 8); // count 0, overflow 0
      await this.file.fh.write(head, 0, head.length, 0);
      await this.file.fh.truncate(highWater * PAGE_SIZE);
      await this.file.fh.close();
      return { pages: highWater, bytes: highWater * PAGE_SIZE };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Stops and removes the partial file (idempotent). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.file.fh.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
