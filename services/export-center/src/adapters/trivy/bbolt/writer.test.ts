/**
 * The bbolt writer against go.etcd.io/bbolt itself (interop/cmd/bbolt-check): every file must pass
 * `tx.Check()`, read back exactly what was written (keys, values, nesting), survive a read-write
 * commit by bbolt, have the page statistics (branch/leaf/overflow pages, depth, inline buckets) of
 * bbolt's own Compact of the same data, and be byte-identical when written twice from the same input.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { goHarness, needGo, run, tempDir } from '@stella/testkit';
import { BboltWriter, MAX_KEY_SIZE, PAGE_SIZE } from './writer.js';

/** A bucket's content: entries sorted by key bytes; a value is bytes, a sub-bucket is a Tree. */
type Tree = Map<string, Buffer | Tree>; // key = hex of the key bytes

interface DumpItem {
  k: string;
  v?: string;
  root?: number;
  items?: DumpItem[];
}
interface Stats {
  branchPageN: number;
  leafPageN: number;
  leafOverflowN: number;
  keyN: number;
  depth: number;
  bucketN: number;
  inlineBucketN: number;
}
interface Dump {
  check: string[];
  rwCheck?: string[];
  pageSize: number;
  size: number;
  stats: Record<string, Stats>;
  compactStats?: Record<string, Stats>;
  compactUsedPages?: number;
  buckets?: DumpItem[];
}

const sortedKeys = (t: Tree): string[] =>
  [...t.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));

async function writeTree(path: string, root: Tree): Promise<void> {
  const w = await BboltWriter.create(path);
  const rec = async (t: Tree): Promise<void> => {
    for (const k of sortedKeys(t)) {
      const v = t.get(k)!;
      if (Buffer.isBuffer(v)) await w.put(Buffer.from(k, 'hex'), v);
      else {
        await w.openBucket(Buffer.from(k, 'hex'));
        await rec(v);
        await w.closeBucket();
      }
    }
  };
  await rec(root);
  await w.finish();
}

function toDump(t: Tree): DumpItem[] {
  return sortedKeys(t).map((k) => {
    const v = t.get(k)!;
    return Buffer.isBuffer(v) ? { k, v: v.toString('hex') } : { k, items: toDump(v) };
  });
}

/** The dump without page ids (compared separately). */
function stripRoots(items: DumpItem[]): DumpItem[] {
  return items.map(({ k, v, items: sub }) => (sub ? { k, items: stripRoots(sub) } : { k, v: v! }));
}

async function check(path: string, opts: { rw?: boolean; dump?: boolean } = {}): Promise<Dump> {
  const bin = await goHarness('bbolt-check');
  const args = ['-compact', ...(opts.rw ? ['-rw'] : []), ...(opts.dump === false ? ['-no-dump'] : []), path];
  const r = await run(bin, args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `bbolt-check failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as Dump;
}

async function roundTrip(root: Tree, opts: { rw?: boolean } = {}): Promise<{ dump: Dump; file: Buffer }> {
  const dir = await tempDir('bbolt');
  const a = join(dir.path, 'a.db');
  const b = join(dir.path, 'b.db');
  try {
    await writeTree(a, root);
    await writeTree(b, root);
    const [fa, fb] = [await readFile(a), await readFile(b)];
    assert.ok(fa.equals(fb), 'same input must give byte-identical files');
    assert.equal(fa.length % PAGE_SIZE, 0);
    const dump = await check(a, opts);
    assert.deepEqual(dump.check, [], 'tx.Check() reports nothing');
    if (opts.rw) assert.deepEqual(dump.rwCheck, [], 'read-write commit by bbolt and re-check are clean');
    assert.equal(dump.pageSize, PAGE_SIZE);
    assert.equal(dump.size, fa.length, 'high-water mark × page size = file size');
    assert.deepEqual(stripRoots(dump.buckets ?? []), toDump(root));
    // Packed like bbolt's own Compact of the same data: same pages per bucket, same inlining.
    assert.deepEqual(dump.stats, dump.compactStats ?? {}, 'bucket page statistics equal bbolt.Compact');
    assert.equal(fa.length / PAGE_SIZE, dump.compactUsedPages, 'as many pages in use as bbolt.Compact');
    return { dump, file: fa };
  } finally {
    await dir.cleanup();
  }
}

const hex = (s: string): string => Buffer.from(s).toString('hex');
const bucket = (entries: [string, Buffer | Tree][]): Tree => new Map(entries.map(([k, v]) => [hex(k), v]));

describe('bbolt writer (checked by go.etcd.io/bbolt)', { skip: needGo() }, () => {
  it('empty DB: one empty root leaf, pgid 4, 16 KiB', async () => {
    const { dump, file } = await roundTrip(new Map(), { rw: true });
    assert.equal(file.length, 4 * PAGE_SIZE);
    assert.deepEqual(dump.buckets ?? [], []);
  });

  it('empty bucket and a bucket holding an empty bucket are inline', async () => {
    const { dump } = await roundTrip(
      bucket([
        ['a', new Map()],
        ['b', bucket([['c', new Map()]])],
      ]),
      { rw: true },
    );
    assert.equal(dump.buckets![0]!.root, 0, 'an empty nested bucket is inline');
    assert.notEqual(dump.buckets![1]!.root, 0, 'a bucket with sub-buckets is never inline');
    assert.equal(dump.buckets![1]!.items![0]!.root, 0);
  });

  it('inline up to 1024 bytes of leaf, paged beyond', async () => {
    // 16 (page header) + n × (16 + 1 + vlen): one key of 991 bytes of value fits exactly 1024.
    const fits = bucket([['x', bucket([['k', Buffer.alloc(1024 - 16 - 16 - 1, 7)]])]]);
    const over = bucket([['x', bucket([['k', Buffer.alloc(1024 - 16 - 16, 7)]])]]);
    // (top-level buckets are nested buckets of the root and are inlined by the same rule)
    const a = await roundTrip(fits);
    const b = await roundTrip(over);
    assert.equal(a.dump.buckets![0]!.root, 0, '1024 bytes: inline');
    assert.notEqual(b.dump.buckets![0]!.root, 0, '1025 bytes: own page');
  });

  it('values larger than a page use overflow pages', async () => {
    const big = Buffer.alloc(3 * PAGE_SIZE + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const { dump } = await roundTrip(
      bucket([
        [
          'b',
          bucket([
            ['a', Buffer.from('small')],
            ['big', big],
            ['big2', big],
            ['z', Buffer.from('after')],
          ]),
        ],
      ]),
      { rw: true },
    );
    assert.ok(dump.stats[hex('b')]!.leafOverflowN >= 3, JSON.stringify(dump.stats));
  });

  it('a key of the maximum size (32768 bytes) and a value of 0 bytes', async () => {
    const key = Buffer.alloc(MAX_KEY_SIZE, 0x61);
    await roundTrip(bucket([['m', new Map([[key.toString('hex'), Buffer.alloc(0)]])]]));
  });

  it('many top-level buckets: the root bucket splits at FillPercent 0.5 like bbolt.Compact', async () => {
    const root: Tree = new Map();
    for (let i = 0; i < 700; i++)
      root.set(hex(`top-${String(i).padStart(4, '0')}`), i % 3 ? bucket([['k', Buffer.alloc(i % 200, 1)]]) : new Map());
    const { file } = await roundTrip(root);
    assert.ok(file.length / PAGE_SIZE > 20, 'root tree spans many pages');
  });

  it('many keys per bucket build multi-level branches', async () => {
    const inner: Tree = new Map();
    for (let i = 0; i < 60_000; i++) inner.set(hex(`key-${String(i).padStart(6, '0')}`), Buffer.from(`v${i}`));
    const subs: Tree = new Map();
    for (let i = 0; i < 3000; i++)
      subs.set(hex(`pkg-${i}`), bucket([[`CVE-${i}`, Buffer.from('{"FixedVersion":"1"}')]]));
    const { dump } = await roundTrip(
      bucket([
        ['flat', inner],
        ['nested', subs],
      ]),
      { rw: true },
    );
    assert.ok(dump.stats[hex('flat')]!.depth >= 3, `depth ${dump.stats[hex('flat')]!.depth}`);
    assert.equal(dump.stats[hex('nested')]!.inlineBucketN, 3000);
    // Packed like `bbolt compact` (FillPercent 1.0): ~60,000 × 32 bytes of leaf elements fit in few pages.
    const leafBytes = 60_000 * (16 + 10 + 6) + 16;
    assert.ok(dump.stats[hex('flat')]!.leafPageN <= Math.ceil(leafBytes / (PAGE_SIZE - 64)), 'pages are packed full');
  });

  it('random nested buckets, keys and values round-trip (property)', async () => {
    const keyArb = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => Buffer.from(u).toString('hex'));
    const valueArb = fc.oneof(
      { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 3000, maxLength: 9000 }) },
    );
    const { tree } = fc.letrec<{ tree: Tree; entry: [string, Buffer | Tree] }>((tie) => ({
      tree: fc.array(tie('entry') as fc.Arbitrary<[string, Buffer | Tree]>, { maxLength: 60 }).map((es) => new Map(es)),
      entry: fc.tuple(
        keyArb,
        fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          valueArb.map((v) => Buffer.from(v)),
          tie('tree') as fc.Arbitrary<Tree>,
        ),
      ),
    }));
    // The root holds only buckets.
    const rootArb = fc.array(fc.tuple(keyArb, tree), { maxLength: 6 }).map((es) => new Map<string, Tree>(es));
    await fc.assert(
      fc.asyncProperty(rootArb, async (root) => {
        await roundTrip(root);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses out-of-order keys, empty keys, oversize keys and values at the root, removing the file', async () => {
    const dir = await tempDir('bbolt-bad');
    try {
      const cases: [string, (w: BboltWriter) => Promise<void>][] = [
        ['order', async (w) => (await w.openBucket('b'), await w.put('b', '1'), await w.put('a', '2'))],
        ['dup', async (w) => (await w.openBucket('b'), await w.closeBucket(), await w.openBucket('b'))],
        ['empty', async (w) => (await w.openBucket('b'), await w.put('', '1'))],
        ['big', async (w) => (await w.openBucket('b'), await w.put(Buffer.alloc(MAX_KEY_SIZE + 1), '1'))],
        ['root', async (w) => w.put('k', 'v')],
        ['close', async (w) => w.closeBucket()],
      ];
      for (const [name, fn] of cases) {
        const p = join(dir.path, `${name}.db`);
        const w = await BboltWriter.create(p);
        await assert.rejects(fn(w), (e: { code?: string }) => e.code === 'VALIDATION_FAILED', name);
        await assert.rejects(stat(p), /ENOENT/, `${name}: partial file removed`);
      }
    } finally {
      await dir.cleanup();
    }
  });
});
