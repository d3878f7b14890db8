/**
 * One code for an unknown adapter id, wherever it is met: a direct registry lookup throws
 * EXPORT_ADAPTER_UNKNOWN; profile validation lists it as the `/adapter` problem of
 * EXPORT_PROFILE_INVALID with `code: EXPORT_ADAPTER_UNKNOWN` and the same message (also over
 * HTTP); and a run whose pinned profile names an adapter the worker's build lacks fails with
 * class `input` and that code (PGlite, the real routes, ledger and worker).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertStellaError } from '@stella/testkit';
import { sealExportBundle } from '../bundle/seal-export.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import { defaultEngine } from '../engine.js';
import { ADAPTERS, getAdapter } from '../adapters/registry.js';
import { exportRunWorker } from '../runs/run-worker.js';
import { openLedger } from '../sources/ledger.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';
import { validateProfile } from './profile.js';

const body = (over: Record<string, unknown> = {}) => ({
  name: 'advisories',
  adapter: 'json:raw',
  filter: { kinds: ['advisory'] },
  ...over,
});

describe('an unknown adapter id', () => {
  test('direct lookup and profile validation report the same code and message', () => {
    const direct = assertStellaError(() => getAdapter('grype:db'), 'EXPORT_ADAPTER_UNKNOWN');
    assert.deepEqual(direct.details, { adapter: 'grype:db', known: ADAPTERS.map((a) => a.id).sort() });
    const e = assertStellaError(
      () => validateProfile(body({ adapter: 'grype:db', extra: true }), defaultEngine.adapters),
      'EXPORT_PROFILE_INVALID',
    );
    const problems = (e.details as { problems: { path: string; code?: string; message: string }[] }).problems;
    assert.deepEqual(
      problems.find((p) => p.path === '/adapter'),
      {
        path: '/adapter',
        code: 'EXPORT_ADAPTER_UNKNOWN',
        message: direct.message,
      },
    );
    // Problems without a code of their own carry none; a known adapter gives no /adapter problem.
    assert.deepEqual(
      problems.find((p) => p.path === '/extra'),
      { path: '/extra', message: 'is not a profile field' },
    );
    assert.equal(validateProfile(body(), defaultEngine.adapters).adapter, 'json:raw');
  });

  test('an adapter id that is not a string is a structural problem at /adapter (no adapter code)', () => {
    const e = assertStellaError(
      () => validateProfile(body({ adapter: 7 }), defaultEngine.adapters),
      'EXPORT_PROFILE_INVALID',
    );
    assert.deepEqual((e.details as { problems: unknown[] }).problems, [
      { path: '/adapter', message: 'must be an adapter id' },
    ]);
  });

  describe('over HTTP and on a worker (PGlite)', () => {
    let h: ExportHarness;
    before(async () => {
      h = await startExportHarness({
        engine: defaultEngine,
        env: { STELLA_EXPORT_POLL_MS: '50', STELLA_EXPORT_HEARTBEAT_MS: '200', STELLA_EXPORT_LEASE_MS: '3000' },
      });
    });
    after(async () => {
      await h?.close();
    });

    test('POST /v1/exports/profiles: 400 EXPORT_PROFILE_INVALID with the coded /adapter problem', async () => {
      const r = await h.call('acme', 'POST', '/v1/exports/profiles', body({ adapter: 'nope:nothing' }));
      assert.equal(r.status, 400);
      assert.equal(r.body.code, 'EXPORT_PROFILE_INVALID');
      assert.deepEqual(r.body.details.problems, [
        {
          path: '/adapter',
          code: 'EXPORT_ADAPTER_UNKNOWN',
          message: assertStellaError(() => getAdapter('nope:nothing'), 'EXPORT_ADAPTER_UNKNOWN').message,
        },
      ]);
    });

    test("a run whose adapter is missing from the worker's build fails as input with EXPORT_ADAPTER_UNKNOWN", async () => {
      const p = await h.call('acme', 'POST', '/v1/exports/profiles', body());
      assert.equal(p.status, 201, JSON.stringify(p.body));
      const run = await h.call('acme', 'POST', '/v1/exports/runs', { profileId: p.body.id });
      assert.equal(run.status, 202, JSON.stringify(run.body));
      // A worker of an older build: the same engine without json:raw.
      const adapters = new Map([...defaultEngine.adapters].filter(([id]) => id !== 'json:raw'));
      const worker = exportRunWorker(
        { ...h.env, engine: { openLedger, adapters, createStagingSink, sealExportBundle } },
        { slots: 1 },
      );
      await worker.start();
      try {
        const done = await waitForRun(h, 'acme', run.body.id);
        assert.equal(done.status, 'failed');
        assert.equal(done.failure.class, 'input');
        assert.equal(done.failure.code, 'EXPORT_ADAPTER_UNKNOWN');
        assert.match(done.failure.message, /unknown adapter "json:raw"; known: json:policy, mirror:full/);
      } finally {
        await worker.stop();
      }
    });
  });
});
