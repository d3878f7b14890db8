/**
 * Trivy DB deltas (issue #14 item 4, acceptance "a delta for 1 % changed advisories is under 5 % of
 * the full bundle and rebuilds the identical DB; the wrong base is refused") on the real datasets:
 * two `trivy:db` exports 1 % of advisories apart, the delta between them, and its application —
 * byte-identical trivy.db and db.tar.gz — plus every refusal (wrong base, truncated base, tampered
 * or cut changes, a target our writer did not lay out).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertRejectsStella, datasetsDir, run, tempDir } from '@stella/testkit';
import { createStagingSink } from '../../../bundle/staging-sink.js';
import type { SourceRecord } from '../../../sources/source-record.js';
import { iterate, trivyDatasetAdvisories } from '../../../testing/index.js';
import { getAdapter } from '../../registry.js';
import { decodeOps, encodeOps, type DeltaOp } from './delta-ops.js';
import { applyTrivyDbDelta, createTrivyDbDelta, type TrivyDeltaManifest } from './trivy-delta.js';

let tmp: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
let changed: SourceRecord[];

type Doc = Record<string, any>;

async function* gen<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function exportDb(name: string, recs: SourceRecord[], options: Record<string, unknown> = {}): Promise<string> {
  const adapter = getAdapter('trivy:db');
  const v = adapter.validateOptions({ ociLayout: false, ...options });
  assert.ok(v.ok);
  const s = await createStagingSink(join(tmp.path, name));
  await adapter.write({
    records: iterate(recs),
    options: v.options,
    out: s,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime: '2026-11-27T04:00:00.000Z',
  });
  return join(s.dir, 'trivy');
}

async function makeDelta(name: string, base: string, target: string, gzipLevel?: number) {
  const s = await createStagingSink(join(tmp.path, name));
  const manifest = await createTrivyDbDelta({
    base,
    target,
    out: s,
    ...(gzipLevel !== undefined ? { gzipLevel } : {}),
  });
  return { dir: join(s.dir, 'trivy-delta'), manifest, files: s.files() };
}

/** 1 % of the advisories changed: every 100th record gets a new fixed version and summary. */
function changeOnePercent(recs: SourceRecord[]): SourceRecord[] {
  return recs.map((r, i) => {
    if (i % 100 !== 7) return r;
    const doc = structuredClone(r.document) as Doc;
    if (r.format === 'osv') {
      doc.summary = `${doc.summary ?? ''} (revised)`;
      for (const a of doc.affected ?? [])
        for (const range of a.ranges ?? []) for (const e of range.events ?? []) if (e.fixed) e.fixed = `${e.fixed}.1`;
    } else {
      const fixes = doc.pkg.secfixes as Record<string, string[]>;
      doc.pkg.secfixes = Object.fromEntries(Object.entries(fixes).map(([v, ids]) => [`${v}.1`, ids]));
    }
    return { ...r, document: doc };
  });
}

before(async () => {
  tmp = await tempDir('stella-trivy-delta-');
  records = await trivyDatasetAdvisories(datasetsDir);
  changed = changeOnePercent(records);
});
after(async () => {
  await tmp?.cleanup();
});

describe('trivy:db deltas', { timeout: 600_000 }, () => {
  let a: string;
  let b: string;
  let delta: Awaited<ReturnType<typeof makeDelta>>;
  before(async () => {
    a = await exportDb('a', records);
    b = await exportDb('b', changed);
    delta = await makeDelta('d', join(a, 'db.tar.gz'), join(b, 'db.tar.gz'));
  });

  test('1 % changed advisories: the delta is under 5 % of the full db.tar.gz, names its base, and rebuilds both files byte for byte', async () => {
    const full = (await stat(join(b, 'db.tar.gz'))).size;
    const deltaBytes = delta.files.reduce((s, f) => s + f.size, 0);
    const ratio = deltaBytes / full;
    console.log(
      `# delta ${deltaBytes} bytes / full db.tar.gz ${full} bytes = ${(ratio * 100).toFixed(2)} % (${delta.manifest.changes.operations} operations, ${records.length} records, ${Math.ceil(records.length / 100)} changed)`,
    );
    assert.ok(ratio < 0.05, `delta is ${(ratio * 100).toFixed(2)} % of the full bundle`);
    assert.deepEqual(delta.files.map((f) => f.path).sort(), [
      'trivy-delta/changes.bin.gz',
      'trivy-delta/delta.json',
      'trivy-delta/metadata.json',
    ]);
    const m = JSON.parse(await readFile(join(delta.dir, 'delta.json'), 'utf8')) as TrivyDeltaManifest;
    const sha = async (p: string) => `sha256:${(await run('sha256sum', [p])).stdout.toString().split(' ')[0]}`;
    assert.equal(m.kind, 'trivy:db-delta');
    assert.equal(m.base.archive.digest, await sha(join(a, 'db.tar.gz')));
    assert.equal(m.base.db.digest, await sha(join(a, 'trivy.db')));
    assert.equal(m.target.archive.digest, await sha(join(b, 'db.tar.gz')));
    // Only changed records: the counted changes are bounded by the changed records' advisories.
    const changes = Object.values(m.changes.buckets).reduce((s, c) => s + c.added + c.changed + c.removed, 0);
    assert.ok(changes > 0 && changes === m.changes.operations, JSON.stringify(m.changes.buckets));
    assert.ok(m.changes.buckets['alpine 3.10'] && m.changes.buckets['vulnerability']);

    const out = join(tmp.path, 'rebuilt');
    const r = await applyTrivyDbDelta({ deltaDir: delta.dir, base: join(a, 'db.tar.gz'), outDir: out });
    assert.deepEqual(Object.keys(r.files).sort(), ['db.tar.gz', 'metadata.json', 'trivy.db']);
    for (const f of ['trivy.db', 'db.tar.gz', 'metadata.json'])
      assert.ok((await readFile(join(out, f))).equals(await readFile(join(b, f))), `${f} byte-identical`);
  });

  test('the wrong base is refused naming both digests; a truncated base is ARCHIVE_MALFORMED; nothing is written', async () => {
    const out = join(tmp.path, 'wrong');
    const e = await assertRejectsStella(
      applyTrivyDbDelta({ deltaDir: delta.dir, base: join(b, 'db.tar.gz'), outDir: out }),
      'EXPORT_DELTA_BASE_MISMATCH',
    );
    assert.ok(e.message.includes(delta.manifest.base.archive.digest), e.message);
    assert.ok(e.message.includes(delta.manifest.target.archive.digest), e.message);
    const cut = join(tmp.path, 'cut.tar.gz');
    await copyFile(join(a, 'db.tar.gz'), cut);
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    await assertRejectsStella(applyTrivyDbDelta({ deltaDir: delta.dir, base: cut, outDir: out }), 'ARCHIVE_MALFORMED');
    assert.ok(!(await readdir(tmp.path)).some((n) => n === 'wrong' || n.startsWith('.apply-delta-')), 'nothing left');
  });

  test('a tampered or cut changes file, a bad delta.json, or an occupied out dir are refused', async () => {
    const copy = async (name: string) => {
      const d = join(tmp.path, name);
      await mkdir(d);
      for (const f of await readdir(delta.dir)) await copyFile(join(delta.dir, f), join(d, f));
      return d;
    };
    const base = join(a, 'db.tar.gz');
    const t1 = await copy('tampered');
    const ch = await readFile(join(t1, 'changes.bin.gz'));
    ch[ch.length - 12] = ch[ch.length - 12]! ^ 0xff;
    await writeFile(join(t1, 'changes.bin.gz'), ch);
    await assertRejectsStella(
      applyTrivyDbDelta({ deltaDir: t1, base, outDir: join(tmp.path, 'o1') }),
      'EXPORT_DELTA_INVALID',
      /changes\.bin\.gz/,
    );
    const t2 = await copy('badjson');
    const m = JSON.parse(await readFile(join(t2, 'delta.json'), 'utf8'));
    await writeFile(join(t2, 'delta.json'), JSON.stringify({ ...m, formatVersion: 2 }));
    await assertRejectsStella(
      applyTrivyDbDelta({ deltaDir: t2, base, outDir: join(tmp.path, 'o2') }),
      'EXPORT_DELTA_INVALID',
      /formatVersion 2/,
    );
    const occupied = join(tmp.path, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'keep'), 'x');
    await assertRejectsStella(applyTrivyDbDelta({ deltaDir: delta.dir, base, outDir: occupied }), 'CONFLICT');
    assert.equal(await readFile(join(occupied, 'keep'), 'utf8'), 'x');
    // A cut operation stream is detected by the decoder itself (before any digest comparison).
    const ops: DeltaOp[] = [
      { op: 'bucket', path: [Buffer.from('a')] },
      { op: 'put', path: [Buffer.from('a'), Buffer.from('k')], value: Buffer.from('v') },
    ];
    const bytes = Buffer.concat(await all(encodeOps(gen(ops))));
    assert.deepEqual(
      (await all(decodeOps(gen([bytes])))).map((o) => o.op),
      ['bucket', 'put'],
    );
    for (const n of [1, 5, bytes.length - 3])
      await assertRejectsStella(all(decodeOps(gen([bytes.subarray(0, n)]))), 'EXPORT_DELTA_INVALID');
    const swapped = Buffer.concat(await all(encodeOps(gen([ops[1]!, ops[0]!]))));
    await assertRejectsStella(all(decodeOps(gen([swapped]))), 'EXPORT_DELTA_INVALID', /tree order/);
  });

  test('a target that trivy:db did not pack that way (another gzip level) gets no delta', async () => {
    await assertRejectsStella(
      makeDelta('d9', join(a, 'db.tar.gz'), join(b, 'db.tar.gz'), 9),
      'EXPORT_DELTA_INVALID',
      /gzip level 9/,
    );
    // An empty DB to the full one and back: deltas work at both extremes.
    const empty = await exportDb('empty', []);
    const up = await makeDelta('up', join(empty, 'db.tar.gz'), join(a, 'db.tar.gz'));
    const down = await makeDelta('down', join(a, 'db.tar.gz'), join(empty, 'db.tar.gz'));
    await applyTrivyDbDelta({ deltaDir: up.dir, base: join(empty, 'db.tar.gz'), outDir: join(tmp.path, 'up-out') });
    await applyTrivyDbDelta({ deltaDir: down.dir, base: join(a, 'db.tar.gz'), outDir: join(tmp.path, 'down-out') });
    assert.ok((await readFile(join(tmp.path, 'up-out/trivy.db'))).equals(await readFile(join(a, 'trivy.db'))));
    assert.ok((await readFile(join(tmp.path, 'down-out/db.tar.gz'))).equals(await readFile(join(empty, 'db.tar.gz'))));
  });
});
