/**
 * The export run worker in its bounded-heap worker thread (run-worker-thread.ts, ADR 0016) on
 * real PostgreSQL with the real engine: a run claimed and sealed by the thread succeeds, the
 * bundle's zstd data reads back with Debian `zstd -dc`; a run that needs more than the thread's
 * heap ends that thread (ERR_WORKER_OUT_OF_MEMORY), not this process: the thread is restarted,
 * the run's lease expires and it fails with class `transient` (EXPORT_LEASE_EXPIRED) — never left
 * `running` — and the next run succeeds on the new thread.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createTestDatabase, needService, needTool, run, tempDir } from '@stella/testkit';
import { defaultEngine } from '../engine.js';
import { DEFAULT_EXPORT_SETTINGS } from '../settings.js';
import { importSource } from '../sources/import-source.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';
import { threadedExportRunWorker } from './run-worker-thread.js';

const skip = (await needService('postgres')) || needTool('zstd') || needTool('tar');
const T = 'thread-acme';
const SETTINGS = { ...DEFAULT_EXPORT_SETTINGS, leaseMs: 2000, heartbeatMs: 300, pollMs: 50, maxAttempts: 1 };

describe('export runs in the bounded-heap worker thread (PostgreSQL)', { skip }, () => {
  let h: ExportHarness;
  let drop: () => Promise<void>;
  let work: { path: string; cleanup: () => Promise<void> };
  const errors: object[] = [];
  const worker = (heapMib: number) =>
    threadedExportRunWorker({
      database: h.deps.config.database as { kind: 'postgres'; url: string },
      objectStore: h.deps.config.objectStore,
      signingKey: h.deps.signingKey,
      settings: SETTINGS,
      log: { info: () => undefined, warn: () => undefined, error: (o) => errors.push(o) },
      slots: 1,
      heapMib,
      restartMs: 100,
    });
  const importFindings = async (lines: object[]) =>
    importSource(Readable.from([Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n'))]), {
      kind: 'finding',
      scope: { tenant: T, global: false },
      transaction: (fn) => h.db.withTenant(T, fn),
    });
  const startRun = async (adapter: string, adapterOptions: object, filter: object = { kinds: ['finding'] }) => {
    const p = await h.call(T, 'POST', '/v1/exports/profiles', {
      name: `thread ${adapter}`,
      adapter,
      adapterOptions,
      filter,
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const r = await h.call(T, 'POST', '/v1/exports/runs', { profileId: p.body.id });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id as string;
  };

  before(async () => {
    const db = await createTestDatabase('export_thread');
    drop = db.drop;
    work = await tempDir('stella-export-thread-');
    // The API only: the thread does all the work.
    h = await startExportHarness({ databaseUrl: db.url, engine: defaultEngine });
    const s = await importFindings(
      Array.from({ length: 50 }, (_, i) => ({
        id: `f-${String(i).padStart(3, '0')}`,
        vulnerability: `CVE-2026-${1000 + i}`,
        package: { ecosystem: 'npm', name: `pkg-${i % 7}` },
      })),
    );
    assert.equal(s.imported, 50);
  });
  after(async () => {
    await h?.close();
    await drop?.();
    await work?.cleanup();
  });

  test('a json:raw zstd run is claimed, sealed and recorded by the thread; zstd -dc reads its data', async () => {
    const w = worker(128);
    await w.start();
    try {
      const id = await startRun('json:raw', { compression: 'zstd' });
      const done = await waitForRun(h, T, id, { timeoutMs: 120_000 });
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      const dl = await h.fetch(T, 'GET', `/v1/exports/runs/${id}/download`);
      assert.equal(dl.status, 200);
      const tgz = Buffer.from(await dl.arrayBuffer());
      const x = await run('tar', ['-xzO', 'data/finding.jsonl.zst'], { input: tgz });
      assert.equal(x.code, 0, x.stderr.toString());
      const d = await run('zstd', ['-dc'], { input: x.stdout });
      assert.equal(d.code, 0, d.stderr.toString());
      assert.equal(d.stdout.toString().trimEnd().split('\n').length, 50);
    } finally {
      await w.stop();
    }
  });

  test('a run over the heap cap ends the thread, not the process: failed transient, never running; the next run succeeds', async () => {
    // One 24 MiB finding: json:policy parses it, so the document, its parse and its line do not
    // fit a 40 MiB old generation.
    const big = await importFindings([
      {
        id: 'f-huge',
        vulnerability: 'CVE-2026-9999',
        package: { ecosystem: 'npm', name: 'huge' },
        evidence: 'e'.repeat(24 * 1024 * 1024),
      },
    ]);
    assert.equal(big.imported, 1, `rejected: ${big.rejectedCount}`);
    const w = worker(40);
    await w.start();
    try {
      const id = await startRun('json:policy', { compression: 'gzip', allow: { finding: ['*'] } });
      const done = await waitForRun(h, T, id, { timeoutMs: 120_000 });
      assert.equal(done.status, 'failed', JSON.stringify(done));
      assert.deepEqual([done.failure.class, done.failure.code], ['transient', 'EXPORT_LEASE_EXPIRED']);
      assert.ok(
        errors.some((e) => JSON.stringify(e).includes('ERR_WORKER_OUT_OF_MEMORY')),
        `the thread ran out of memory: ${JSON.stringify(errors).slice(0, 500)}`,
      );
      // The restarted thread takes the next run (one that leaves the huge record out).
      const again = await startRun('json:policy', { compression: 'gzip' }, { kinds: ['finding'], packages: ['pkg-1'] });
      const ok = await waitForRun(h, T, again, { timeoutMs: 120_000 });
      assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
      const listed = await h.call(T, 'GET', '/v1/exports/runs?status=running');
      assert.equal(listed.body.items.length, 0, 'no run left running');
    } finally {
      await w.stop();
    }
  });
});
