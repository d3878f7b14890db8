/**
 * A streaming reader of bbolt files (format version 2, spec shared/specs/trivy-db-and-oci.md §3):
 * walks every bucket depth-first in key order and yields each node — a nested bucket or a key/value
 * — with its full path. That order is the order of the `BboltWriter` calls that would write the
 * same tree (openBucket / put / closeBucket), which is what the Trivy DB delta relies on: reading a
 * file our writer wrote and feeding the nodes back into the writer reproduces the file byte for
 * byte (delta/trivy-delta.ts).
 *
 * Pages are read on demand with positional reads (one page, or a node and its overflow pages), so
 * memory is one page per tree level and bucket depth, not the file. Checked: the meta page (magic,
 * version, FNV-1a checksum; the valid meta with the higher txid is used), page ids within the
 * high-water mark, page types, element bounds. Anything else is VALIDATION_FAILED naming the page.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { StellaError } from '@stella/core/errors';

const PAGE_HEADER = 16;
const BRANCH_PAGE = 0x01;
const LEAF_PAGE = 0x02;
const META_PAGE = 0x04;
const BUCKET_LEAF_FLAG = 0x01;
const MAGIC = 0xed0cdaed;
const MAX_DEPTH = 64;

/** One node of the tree: a bucket (value `null`) or a key/value, with the path from the root. */
export interface BboltNode {
  /** Bucket names from the top level down, ending with this node's own key. */
  readonly path: readonly Buffer[];
  /** The value, or `null` for a nested bucket. */
  readonly value: Buffer | null;
}

function invalid(file: string, why: string): StellaError {
  return new StellaError('VALIDATION_FAILED', `${file} is not a readable bbolt file: ${why}`, {
    details: { file, reason: why },
  });
}

function fnv1a64(b: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of b) h = BigInt.asUintN(64, (h ^ BigInt(x)) * 0x100000001b3n);
  return h;
}

interface Meta {
  pageSize: number;
  root: number;
  pgid: number;
  txid: bigint;
}

function parseMeta(page: Buffer): Meta | undefined {
  if (page.length < PAGE_HEADER + 64) return undefined;
  if ((page.readUInt16LE(8) & META_PAGE) === 0) return undefined;
  const m = page.subarray(PAGE_HEADER, PAGE_HEADER + 64);
  if (m.readUInt32LE(0) !== MAGIC || m.readUInt32LE(4) !== 2) return undefined;
  if (fnv1a64(m.subarray(0, 56)) !== m.readBigUInt64LE(56)) return undefined;
  return {
    pageSize: m.readUInt32LE(8),
    root: Number(m.readBigUInt64LE(16)),
    pgid: Number(m.readBigUInt64LE(40)),
    txid: m.readBigUInt64LE(48),
  };
}

/** A node page (with its overflow) or an inline page, as bytes starting at its page header. */
type Page = Buffer;

class PageSource {
  constructor(
    private readonly fh: FileHandle,
    private readonly file: string,
    readonly meta: Meta,
  ) {}

  async read(id: number): Promise<Page> {
    const { pageSize, pgid } = this.meta;
    if (!Number.isSafeInteger(id) || id < 2 || id >= pgid) throw invalid(this.file, `page id ${id} out of range`);
    const head = Buffer.alloc(pageSize);
    const { bytesRead } = await this.fh.read(head, 0, pageSize, id * pageSize);
    if (bytesRead < pageSize) throw invalid(this.file, `page ${id} is past the end of the file`);
    const overflow = head.readUInt32LE(12);
    if (overflow === 0) return head;
    if (id + overflow >= pgid) throw invalid(this.file, `page ${id} overflows past the high-water mark`);
    const all = Buffer.alloc(pageSize * (overflow + 1));
    head.copy(all);
    const r = await this.fh.read(all, pageSize, pageSize * overflow, (id + 1) * pageSize);
    if (r.bytesRead < pageSize * overflow)
      throw invalid(this.file, `page ${id}'s overflow is past the end of the file`);
    return all;
  }
}

interface LeafElement {
  flags: number;
  key: Buffer;
  value: Buffer;
}

function leafElements(p: Page, file: string, where: string): LeafElement[] {
  const count = p.readUInt16LE(10);
  const out: LeafElement[] = [];
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER + i * 16;
    if (at + 16 > p.length) throw invalid(file, `${where}: element ${i} past the page`);
    const flags = p.readUInt32LE(at);
    const pos = p.readUInt32LE(at + 4);
    const ksize = p.readUInt32LE(at + 8);
    const vsize = p.readUInt32LE(at + 12);
    const k = at + pos;
    if (k + ksize + vsize > p.length) throw invalid(file, `${where}: element ${i} data past the page`);
    out.push({ flags, key: p.subarray(k, k + ksize), value: p.subarray(k + ksize, k + ksize + vsize) });
  }
  return out;
}

function branchChildren(p: Page, file: string, where: string): number[] {
  const count = p.readUInt16LE(10);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER + i * 16;
    if (at + 16 > p.length) throw invalid(file, `${where}: branch element ${i} past the page`);
    out.push(Number(p.readBigUInt64LE(at + 8)));
  }
  return out;
}

/** The key/value elements of a bucket's B+tree, in order (leaves left to right). */
async function* bucketElements(
  src: PageSource,
  root: number | Page,
  file: string,
  depth: number,
): AsyncGenerator<LeafElement> {
  const page = typeof root === 'number' ? await src.read(root) : root;
  const flags = page.readUInt16LE(8);
  const where = typeof root === 'number' ? `page ${root}` : 'inline bucket';
  if (flags & LEAF_PAGE) {
    // Copy: the page buffer is dropped once the leaf is done, elements may be held longer.
    for (const e of leafElements(page, file, where))
      yield { flags: e.flags, key: Buffer.from(e.key), value: Buffer.from(e.value) };
  } else if (flags & BRANCH_PAGE) {
    if (depth > MAX_DEPTH) throw invalid(file, `${where}: tree deeper than ${MAX_DEPTH}`);
    for (const child of branchChildren(page, file, where)) yield* bucketElements(src, child, file, depth + 1);
  } else throw invalid(file, `${where} is neither a leaf nor a branch (flags ${flags})`);
}

async function* walk(src: PageSource, root: number | Page, path: Buffer[], file: string): AsyncGenerator<BboltNode> {
  if (path.length > MAX_DEPTH) throw invalid(file, `buckets nested deeper than ${MAX_DEPTH}`);
  for await (const e of bucketElements(src, root, file, 0)) {
    const p = [...path, e.key];
    if (e.flags & BUCKET_LEAF_FLAG) {
      if (e.value.length < 16) throw invalid(file, `bucket ${e.key.toString('hex')} has a short header`);
      yield { path: p, value: null };
      const sub = Number(e.value.readBigUInt64LE(0));
      yield* walk(src, sub === 0 ? e.value.subarray(16) : sub, p, file);
    } else {
      if (path.length === 0) throw invalid(file, 'a plain key at the top level');
      yield { path: p, value: e.value };
    }
  }
}

/**
 * Every node of the bbolt file at `file`, depth-first in key order. The file is held open until the
 * iteration ends (or is abandoned with `return`).
 */
export async function* readBbolt(file: string): AsyncGenerator<BboltNode> {
  const fh = await open(file, 'r');
  try {
    const first = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(first, 0, 4096, 0);
    const m0 = parseMeta(first.subarray(0, bytesRead));
    const size = m0?.pageSize ?? 4096;
    const second = Buffer.alloc(size);
    const r1 = await fh.read(second, 0, size, size);
    const m1 = parseMeta(second.subarray(0, r1.bytesRead));
    const meta = m0 && m1 ? (m1.txid > m0.txid ? m1 : m0) : (m0 ?? m1);
    if (!meta) throw invalid(file, 'no valid meta page (magic, version 2, checksum)');
    if (meta.pageSize < 1024 || meta.pageSize > 65536) throw invalid(file, `page size ${meta.pageSize}`);
    yield* walk(new PageSource(fh, file, meta), meta.root, [], file);
  } finally {
    await fh.close();
  }
}

/** Orders node paths the way the tree is walked: component by component (bytes), a prefix first. */
export function comparePaths(a: readonly Buffer[], b: readonly Buffer[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
