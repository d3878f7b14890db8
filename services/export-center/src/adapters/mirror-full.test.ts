/**
 * `mirror:full`: both layouts over dataset records — every index line leads to its record, each
 * per-record file's sha256 (coreutils) is the record digest, chunk files hold `chunkSize` lines —
 * options problems, a failure mid-stream that leaves no index, and a sealed mirror bundle that
 * GNU tar extracts and `sha256sum -c` accepts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveSigner } from '@stella/platform/keys';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { sealExportBundle } from '../bundle/seal-export.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import type { SourceRecord } from '../sources/source-record.js';
import { datasetRecords, iterate } from '../testing/index.js';
import { recordPath } from './mirror-full.js';
import { getAdapter } from './registry.js';

const adapter = getAdapter('mirror:full');
const skip = needTool('gzip') || needTool('sha256sum') || needTool('tar') || needTool('openssl');
let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
before(async () => {
  dir = await tempDir('stella-mirror-');
  records = await datasetRecords(datasetsDir, 10);
});
after(async () => {
  await dir?.cleanup();
});

async function stage(options: unknown, name: string, recs: AsyncIterable<SourceRecord> = iterate(records)) {
  const v = adapter.validateOptions(options);
  assert.ok(v.ok, JSON.stringify(v));
  const s = await createStagingSink(join(dir.path, name));
  try {
    const result = await adapter.write({
      records: recs,
      options: v.options,
      out: s,
      signal: new AbortController().signal,
      progress: () => undefined,
      exportTime: null,
    });
    return { s, result, options: v.options };
  } catch (err) {
    await s.dispose();
    throw err;
  }
}

const jsonl = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('mirror:full', { skip }, () => {
  test('records layout: index → file per record whose sha256 is the record digest', async () => {
    const { s, result } = await stage({ layout: 'records' }, 'records');
    try {
      const top = JSON.parse(await readFile(join(s.dir, 'mirror/index.json'), 'utf8'));
      assert.equal(top.layout, 'records');
      assert.equal(top.records, records.length);
      assert.match(await readFile(join(s.dir, 'mirror/README.md'), 'utf8'), /\| advisory \| 30 \|/);
      for (const kind of ['advisory', 'sbom', 'vex'] as const) {
        const index = jsonl(await readFile(join(s.dir, top.kinds[kind].index), 'utf8'));
        const want = records.filter((r) => r.kind === kind);
        assert.equal(index.length, want.length);
        assert.equal(result.counts[kind], want.length);
        for (const [i, line] of index.entries()) {
          assert.equal(line.recordId, want[i]!.recordId);
          assert.equal(line.path, recordPath(kind, want[i]!.recordId));
          const sum = await run('sha256sum', [join(s.dir, line.path as string)]);
          assert.equal(`sha256:${sum.stdout.toString().split(' ')[0]}`, want[i]!.digest);
          assert.equal(line.digest, want[i]!.digest);
        }
      }
    } finally {
      await s.dispose();
    }
  });

  test('chunks layout: chunkSize lines per chunk; index path + line find each record', async () => {
    const { s } = await stage({ layout: 'chunks', chunkSize: 7 }, 'chunks');
    try {
      const advisories = records.filter((r) => r.kind === 'advisory');
      const chunks = s.files().filter((f) => f.path.startsWith('mirror/advisory/chunks/'));
      assert.equal(chunks.length, Math.ceil(advisories.length / 7));
      assert.ok(chunks.every((c) => c.path.endsWith('.jsonl.gz') && c.mediaType === 'application/jsonl+gzip'));
      const index = jsonl(await readFile(join(s.dir, 'mirror/advisory/index.jsonl'), 'utf8'));
      const cache = new Map<string, Record<string, unknown>[]>();
      for (const [i, line] of index.entries()) {
        const path = line.path as string;
        if (!cache.has(path)) {
          const gz = await run('gzip', ['-dc', join(s.dir, path)]);
          cache.set(path, jsonl(gz.stdout.toString('utf8')));
        }
        const rec = cache.get(path)![(line.line as number) - 1]!;
        assert.equal(rec.recordId, advisories[i]!.recordId);
        assert.equal(rec.digest, advisories[i]!.digest);
      }
      assert.ok([...cache.values()].every((c) => c.length <= 7));
    } finally {
      await s.dispose();
    }
  });

  test('every options problem at once', () => {
    const bad = adapter.validateOptions({ layout: 'tree', chunkSize: 0, compression: 'brotli', x: 1 });
    assert.deepEqual((bad as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/chunkSize',
      '/compression',
      '/layout',
      '/x',
    ]);
    const mixed = adapter.validateOptions({ layout: 'records', chunkSize: 5, compression: 'gzip' });
    assert.deepEqual((mixed as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/chunkSize',
      '/compression',
    ]);
  });

  test('a source that fails mid-stream rejects the write and leaves no index behind', async () => {
    const failing = (async function* () {
      for (const r of records.filter((x) => x.kind === 'advisory').slice(0, 5)) yield r;
      throw new Error('ledger connection lost');
    })();
    const v = adapter.validateOptions({ layout: 'records' });
    assert.ok(v.ok);
    const s = await createStagingSink(join(dir.path, 'failing'));
    try {
      await assert.rejects(
        adapter.write({
          records: failing,
          options: v.options,
          out: s,
          signal: new AbortController().signal,
          progress: () => undefined,
          exportTime: null,
        }),
        /ledger connection lost/,
      );
      assert.ok(!s.files().some((f) => f.path.endsWith('index.jsonl')));
      await assert.rejects(readFile(join(s.dir, 'mirror/advisory/index.jsonl')), { code: 'ENOENT' });
    } finally {
      await s.dispose();
    }
  });

  test('a sealed mirror bundle extracts with GNU tar and passes sha256sum -c', async () => {
    const key = join(dir.path, 'k.pem');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    const signer = await resolveSigner(`file:${key}`);
    const { s, result, options } = await stage({ layout: 'records' }, 'sealed');
    try {
      const sealed = await sealExportBundle(
        s,
        {
          profile: { id: 'p', name: 'mirror', version: 1 },
          tenant: 'acme',
          adapter: { id: adapter.id, version: adapter.version, options },
          filter: { kinds: ['advisory', 'sbom', 'vex'] },
          ledgerSeq: 99n,
          counts: result.counts,
          exportTime: null,
        },
        signer,
      );
      const x = join(dir.path, 'sealed-x');
      await mkdir(x);
      assert.equal((await run('tar', ['-xzf', sealed.archivePath, '-C', x])).code, 0);
      const c = await run('sha256sum', ['--strict', '-c', 'checksums.txt'], { cwd: x });
      assert.equal(c.code, 0, c.stdout.toString() + c.stderr.toString());
      assert.equal(sealed.files.length, records.length + 3 + 2);
    } finally {
      await s.dispose();
      await signer.close();
    }
  });
});
