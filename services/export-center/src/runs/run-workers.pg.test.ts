/**
 * Export workers as real processes on real PostgreSQL 15 (testing/export-worker-child.ts), over
 * the real ledger (OSV files imported by the real importer), staging sink and sealer: two
 * processes share the queue and never run the same job; a worker SIGKILLed mid-run loses its
 * lease and the run is retried by a new process (attempt 2) — or, on its last attempt, failed
 * with class `transient` by the sweeper. No run is ever left `running`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, needService, repoRoot, tempDir } from '@stella/testkit';
import { childTestEngine, CHILD_RECORDS, importChildRecords } from '../testing/child-engine.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';

const skip = await needService('postgres');
const CHILD = fileURLToPath(new URL('../testing/export-worker-child.ts', import.meta.url));
const SETTINGS = {
  leaseMs: 1500,
  heartbeatMs: 300,
  pollMs: 50,
  retryBaseMs: 100,
  tenantConcurrency: 8,
  maxAttempts: 3,
};

describe('export workers in separate processes (PostgreSQL)', { skip }, () => {
  let h: ExportHarness;
  let drop: () => Promise<void>;
  let counters: { path: string; cleanup: () => Promise<void> };
  const children = new Set<ChildProcess>();

  before(async () => {
    const db = await createTestDatabase('export_workers');
    drop = db.drop;
    counters = await tempDir('stella-export-counters-');
    // The API only (no worker in this process): the children do all the work.
    h = await startExportHarness({ databaseUrl: db.url, engine: childTestEngine(counters.path) });
    await importChildRecords(h.db, 'acme');
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await h?.close();
    await drop?.();
    await counters?.cleanup();
  });

  async function startChild(slots = 2): Promise<ChildProcess> {
    const store = h.deps.config.objectStore as { root: string };
    const child = spawn(
      process.execPath,
      [
        '--conditions=development',
        '--import',
        'tsx',
        CHILD,
        (h.deps.config.database as { url: string }).url,
        store.root,
        h.deps.signingKey,
        counters.path,
        JSON.stringify(SETTINGS),
        String(slots),
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.add(child);
    child.on('exit', () => children.delete(child));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`worker child exited early (${code})`)));
    });
    return child;
  }

  const kill = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });

  async function profileWith(options: Record<string, unknown>): Promise<string> {
    const r = await h.call('acme', 'POST', '/v1/exports/profiles', {
      name: `p-${options.counter as string}`,
      adapter: 'test:jsonl',
      adapterOptions: options,
      filter: { kinds: ['advisory'] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  }

  async function attemptsLog(counter: string): Promise<string[]> {
    return (await readFile(join(counters.path, `${counter}.attempts`), 'utf8')).trim().split('\n');
  }

  test('two worker processes share 16 runs; each run is executed exactly once', async () => {
    const a = await startChild(2);
    const b = await startChild(2);
    const runs: { id: string; counter: string }[] = [];
    for (let i = 0; i < 16; i++) {
      const counter = `share-${i}`;
      const profileId = await profileWith({ counter, delayMs: 10 });
      const r = await h.call('acme', 'POST', '/v1/exports/runs', { profileId });
      runs.push({ id: r.body.id, counter });
    }
    const pids = new Set<string>();
    for (const r of runs) {
      const done = await waitForRun(h, 'acme', r.id, { timeoutMs: 45_000 });
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.equal(done.attempts, 1);
      const log = await attemptsLog(r.counter);
      assert.equal(log.length, 1, `run ${r.id} started ${log.length} times`);
      pids.add(log[0]!);
    }
    assert.deepEqual([...pids].sort(), [String(a.pid), String(b.pid)].sort(), 'both processes worked');
    await Promise.all([kill(a), kill(b)]);
  });

  test('SIGKILL mid-run: the lease expires and a new process completes the run (attempt 2)', async () => {
    const counter = `kill-${Date.now()}`;
    const profileId = await profileWith({ counter, delayMs: 150 });
    const first = await startChild(1);
    const run = (await h.call('acme', 'POST', '/v1/exports/runs', { profileId })).body;
    await waitForRun(h, 'acme', run.id, { until: (r) => r.status === 'running' && r.progress.done >= 2 });
    await kill(first);
    const stuck = await h.call('acme', 'GET', `/v1/exports/runs/${run.id}`);
    assert.equal(stuck.body.status, 'running'); // until its lease runs out
    const second = await startChild(1);
    const done = await waitForRun(h, 'acme', run.id, { timeoutMs: 30_000 });
    await kill(second);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.progress, { done: CHILD_RECORDS, total: CHILD_RECORDS });
    const log = await attemptsLog(counter);
    assert.equal(log.length, 2);
    assert.equal(log[0], String(first.pid));
    assert.notEqual(log[1], log[0]);
    // Only the winning attempt's archive exists; the killed attempt wrote nothing visible.
    const keys = (await h.store.list(`exports/acme/runs/${run.id}/`)).items.map((i) => i.key);
    assert.deepEqual(keys, [`exports/acme/runs/${run.id}/2/export.tgz`]);
    const events = await h.db.query<{ data: { status?: string; reclaimed?: boolean } }>(
      `SELECT data FROM export_center.export_run_events WHERE run_id = $1 AND type = 'status' ORDER BY seq`,
      [run.id],
    );
    assert.deepEqual(
      events.rows.map((e) => e.data.status),
      ['queued', 'running', 'running', 'succeeded'],
    );
    assert.equal(events.rows[2]!.data.reclaimed, true);
  });

  test('SIGKILL on the last attempt: the run fails with class transient, not left running', async () => {
    const counter = `last-${Date.now()}`;
    const profileId = await profileWith({ counter, delayMs: 150 });
    const run = (await h.call('acme', 'POST', '/v1/exports/runs', { profileId })).body;
    // This run gets one attempt only (set before any worker runs).
    await h.db.query('UPDATE export_center.export_runs SET max_attempts = 1 WHERE run_id = $1', [run.id]);
    const first = await startChild(1);
    await waitForRun(h, 'acme', run.id, { until: (r) => r.status === 'running' && r.progress.done >= 1 });
    await kill(first);
    const second = await startChild(1);
    const done = await waitForRun(h, 'acme', run.id, { timeoutMs: 30_000 });
    await kill(second);
    assert.equal(done.status, 'failed');
    assert.deepEqual([done.failure.class, done.failure.code, done.attempts], ['transient', 'EXPORT_LEASE_EXPIRED', 1]);
    assert.equal((await attemptsLog(counter)).length, 1);
    const running = await h.db.query(`SELECT 1 FROM export_center.export_runs WHERE status = 'running'`);
    assert.equal(running.rowCount, 0);
    const failed = await h.db.query(
      `SELECT 1 FROM stella_platform.outbox WHERE kind = 'export.failed' AND envelope->>'subject' = $1`,
      [run.id],
    );
    assert.equal(failed.rowCount, 1);
  });
});
