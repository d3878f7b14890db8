/**
 * The change stream of a Trivy DB delta (docs/formats/trivy-db.md "Delta", ADR 0018): the diff of
 * two bbolt trees as a sequence of operations in tree order, its binary encoding, and the merge of
 * a base tree with it. Everything streams: the diff holds one node of each side, the merge one node
 * of the base and one operation.
 *
 * Operations (paths are bucket names from the top level down, then the key):
 * - `put` — the key now holds `value` (added or changed);
 * - `bucket` — a nested bucket exists at this path (added, or replacing a plain value);
 * - `delete` — the node at this path is gone (a removed bucket's contents are deleted one by one).
 *
 * Encoding of one operation: `u8 op` (1 put, 2 bucket, 3 delete), `u8 depth` (1…64), per path
 * component `u32be length` + bytes, for `put` `u32be length` + value bytes. The stream ends with
 * `u8 0` + `u32be` number of operations, so a cut-off stream is detected even before digests are
 * compared.
 */
import { StellaError } from '@stella/core/errors';
import { comparePaths, type BboltNode } from '../bbolt/reader.js';

export type DeltaOp =
  | { readonly op: 'put'; readonly path: readonly Buffer[]; readonly value: Buffer }
  | { readonly op: 'bucket'; readonly path: readonly Buffer[] }
  | { readonly op: 'delete'; readonly path: readonly Buffer[] };

const OP_END = 0;
const OP_CODE = { put: 1, bucket: 2, delete: 3 } as const;
const MAX_DEPTH = 64;
/** bbolt's limits: keys ≤ 32 KiB, values < 2 GiB. */
const MAX_COMPONENT = 32768;
const MAX_VALUE = 0x7fffffff - 1;

function invalid(why: string, details: Record<string, unknown> = {}): StellaError {
  return new StellaError('EXPORT_DELTA_INVALID', `delta changes: ${why}`, { details: { reason: why, ...details } });
}

/** Per top-level bucket: keys added, changed, removed (values only; buckets are counted apart). */
export type DeltaCounts = Record<string, { added: number; changed: number; removed: number }>;

function sameNode(a: BboltNode, b: BboltNode): boolean {
  if (a.value === null || b.value === null) return a.value === b.value;
  return a.value.equals(b.value);
}

/**
 * The operations that turn `base` into `target` (both in tree order, as `readBbolt` yields them).
 * `counts` is filled as the diff runs.
 */
export async function* diffTrees(
  base: AsyncIterable<BboltNode>,
  target: AsyncIterable<BboltNode>,
  counts: DeltaCounts,
): AsyncGenerator<DeltaOp> {
  const bi = base[Symbol.asyncIterator]();
  const ti = target[Symbol.asyncIterator]();
  let b = await bi.next();
  let t = await ti.next();
  const tally = (n: BboltNode, what: 'added' | 'changed' | 'removed') => {
    if (n.value === null && what !== 'changed') return;
    const top = n.path[0]!.toString('utf8');
    const c = (counts[top] ??= { added: 0, changed: 0, removed: 0 });
    c[what]++;
  };
  const put = (n: BboltNode): DeltaOp =>
    n.value === null ? { op: 'bucket', path: n.path } : { op: 'put', path: n.path, value: n.value };
  while (!b.done || !t.done) {
    const c = b.done ? 1 : t.done ? -1 : comparePaths(b.value.path, t.value.path);
    if (c < 0) {
      tally(b.value, 'removed');
      yield { op: 'delete', path: b.value.path };
      b = await bi.next();
    } else if (c > 0) {
      tally(t.value, 'added');
      yield put(t.value);
      t = await ti.next();
    } else {
      if (!sameNode(b.value, t.value)) {
        tally(t.value, b.value.value === null || t.value.value === null ? 'added' : 'changed');
        yield put(t.value);
      }
      b = await bi.next();
      t = await ti.next();
    }
  }
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** The binary encoding of `ops` (before compression). */
export async function* encodeOps(ops: AsyncIterable<DeltaOp>): AsyncGenerator<Buffer> {
  let n = 0;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const o of ops) {
    n++;
    parts.push(Buffer.of(OP_CODE[o.op], o.path.length));
    size += 2;
    for (const c of o.path) {
      parts.push(u32(c.length), c);
      size += 4 + c.length;
    }
    if (o.op === 'put') {
      parts.push(u32(o.value.length), o.value);
      size += 4 + o.value.length;
    }
    if (size >= 64 * 1024) {
      yield Buffer.concat(parts);
      parts.length = 0;
      size = 0;
    }
  }
  parts.push(Buffer.of(OP_END), u32(n));
  yield Buffer.concat(parts);
}

/** Reads exact byte counts from a chunk stream. */
class ByteReader {
  private buf = Buffer.alloc(0);
  private readonly it: AsyncIterator<Uint8Array>;
  private ended = false;
  constructor(src: AsyncIterable<Uint8Array>) {
    this.it = src[Symbol.asyncIterator]();
  }
  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw invalid('the stream ends in the middle of an operation (truncated)');
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, Buffer.from(r.value)]) : Buffer.from(r.value);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (this.ended) return true;
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = Buffer.from(r.value);
    }
    return false;
  }
}

/** Decodes the operations (the inverse of {@link encodeOps}); EXPORT_DELTA_INVALID on bad or cut input. */
export async function* decodeOps(src: AsyncIterable<Uint8Array>): AsyncGenerator<DeltaOp> {
  const r = new ByteReader(src);
  let n = 0;
  let prev: readonly Buffer[] | null = null;
  for (;;) {
    const code = (await r.take(1))[0]!;
    if (code === OP_END) {
      const count = (await r.take(4)).readUInt32BE(0);
      if (count !== n) throw invalid(`the end marker says ${count} operations, ${n} were read`);
      if (!(await r.atEnd())) throw invalid('bytes after the end marker');
      return;
    }
    const d = (await r.take(1))[0]!;
    if (d < 1 || d > MAX_DEPTH) throw invalid(`operation ${n}: path depth ${d}`);
    const path: Buffer[] = [];
    for (let i = 0; i < d; i++) {
      const len = (await r.take(4)).readUInt32BE(0);
      if (len === 0 || len > MAX_COMPONENT) throw invalid(`operation ${n}: path component of ${len} bytes`);
      path.push(Buffer.from(await r.take(len)));
    }
    if (prev && comparePaths(prev, path) >= 0) throw invalid(`operation ${n} is out of tree order`);
    prev = path;
    n++;
    if (code === OP_CODE.put) {
      const len = (await r.take(4)).readUInt32BE(0);
      if (len > MAX_VALUE) throw invalid(`operation ${n}: value of ${len} bytes`);
      yield { op: 'put', path, value: Buffer.from(await r.take(len)) };
    } else if (code === OP_CODE.bucket) yield { op: 'bucket', path };
    else if (code === OP_CODE.delete) yield { op: 'delete', path };
    else throw invalid(`operation ${n}: unknown op code ${code}`);
  }
}

/**
 * The target tree: `base` with `ops` applied, in tree order. A `delete` or a replacing `put` must
 * name a node the base has, and an added node must not sit under a path the result lacks (checked
 * by the writer, which needs every bucket opened before its contents); otherwise the delta does not
 * belong to this base — EXPORT_DELTA_INVALID (the base digest check normally catches that first).
 */
export async function* applyOps(
  base: AsyncIterable<BboltNode>,
  ops: AsyncIterable<DeltaOp>,
): AsyncGenerator<BboltNode> {
  const bi = base[Symbol.asyncIterator]();
  const oi = ops[Symbol.asyncIterator]();
  let b = await bi.next();
  let o = await oi.next();
  const node = (op: DeltaOp): BboltNode => ({ path: op.path, value: op.op === 'put' ? op.value : null });
  while (!b.done || !o.done) {
    const c = b.done ? 1 : o.done ? -1 : comparePaths(b.value.path, o.value.path);
    if (c < 0) {
      yield b.value;
      b = await bi.next();
    } else if (c > 0) {
      if (o.value.op === 'delete') throw invalid('a delete names a node the base does not have');
      yield node(o.value);
      o = await oi.next();
    } else {
      if (o.value.op !== 'delete') yield node(o.value);
      b = await bi.next();
      o = await oi.next();
    }
  }
}
