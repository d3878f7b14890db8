/**
 * The "Bad input" lines of issue #10 on the HTTP API, on real PostgreSQL 15 with the real engine,
 * where services/export-center/src/routes/exports-api.test.ts does not already show them:
 *
 * - an invalid profile on PUT lists every problem and writes no version (POST: exports-api.test.ts);
 * - `Idempotency-Key` on profile creation: same body replays, another body is 409 and nothing is
 *   written (runs: exports-api.test.ts);
 * - malformed source bodies on `POST /v1/sources/{kind}`: each rejected record named by its
 *   position (`[i]`, `line n`, `after [i], at byte b`), the rest imported; a body of no
 *   accepted format is 415 with nothing written (the CLI prefixes the file name: `file:position`,
 *   cli/src/commands/sources.test.ts);
 * - download of a queued and of a cancelled run: 409 EXPORT_RUN_NOT_FINISHED naming the status;
 *   cancel of a cancelled and of a succeeded run: 409 EXPORT_RUN_FINISHED, the run unchanged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, needService } from '@stella/testkit';
import { defaultEngine } from '../engine.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';

const skip = await needService('postgres');
const T = 'acme';

describe('export API bad input (PostgreSQL)', { skip }, () => {
  let h: ExportHarness;
  let drop: () => Promise<void>;

  before(async () => {
    const db = await createTestDatabase('export_bad_input');
    drop = db.drop;
    h = await startExportHarness({
      databaseUrl: db.url,
      engine: defaultEngine,
      env: { STELLA_EXPORT_POLL_MS: '50', STELLA_EXPORT_HEARTBEAT_MS: '200' },
    });
  });
  after(async () => {
    await h?.close();
    await drop?.();
  });

  const post = async (kind: string, body: string, type = 'application/json') => {
    const res = await fetch(`${h.url}/v1/sources/${kind}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.token(T)}`, 'x-stella-tenant': T, 'content-type': type },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const recordCount = async () =>
    (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM export_center.source_records')).rows[0]!.n;
  const good = { name: 'advisories', adapter: 'json:raw', filter: { kinds: ['advisory'] } };

  test('PUT with an invalid profile lists every problem at once and writes no version', async () => {
    const p = await h.call(T, 'POST', '/v1/exports/profiles', good);
    assert.equal(p.status, 201);
    const bad = await h.call(T, 'PUT', `/v1/exports/profiles/${p.body.id}`, {
      name: '',
      adapter: 'json:raw',
      adapterOptions: { compression: 'brotli', gzipLevel: 12 },
      filter: { kinds: ['advisory', 'nope'], modifiedSince: 'last week' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'EXPORT_PROFILE_INVALID');
    assert.deepEqual((bad.body.details.problems as { path: string }[]).map((x) => x.path).sort(), [
      '/adapterOptions/compression',
      '/adapterOptions/gzipLevel',
      '/filter/kinds/1',
      '/filter/modifiedSince',
      '/name',
    ]);
    const versions = await h.call(T, 'GET', `/v1/exports/profiles/${p.body.id}/versions`);
    assert.deepEqual(
      versions.body.items.map((v: { version: number }) => v.version),
      [1],
    );
  });

  test('Idempotency-Key on profile creation: same body replays; another body is 409 and writes nothing', async () => {
    const key = { 'idempotency-key': 'create-profile-7' };
    const first = await h.call(T, 'POST', '/v1/exports/profiles', { ...good, name: 'idem' }, key);
    assert.equal(first.status, 201);
    const again = await h.call(T, 'POST', '/v1/exports/profiles', { ...good, name: 'idem' }, key);
    assert.equal(again.status, 201);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const other = await h.call(T, 'POST', '/v1/exports/profiles', { ...good, name: 'idem, but another' }, key);
    assert.equal(other.status, 409);
    assert.equal(other.body.code, 'IDEMPOTENCY_KEY_CONFLICT');
    const rows = await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM export_center.export_profiles WHERE name LIKE 'idem%'`,
    );
    assert.equal(rows.rows[0]!.n, 1);
  });

  test('malformed source bodies: each bad record named by position, the rest imported; no format → 415, nothing written', async () => {
    const ok = (id: string) => ({ id, modified: '2026-02-01T00:00:00Z', affected: [], details: 'x'.repeat(600) });
    const arr = await post(
      'advisory',
      JSON.stringify([ok('OK-1'), { id: 7 }, ok('OK-2'), { id: 'BAD-3', modified: 5 }, 'nope', ok('OK-3')]),
    );
    assert.equal(arr.status, 200);
    assert.deepEqual([arr.body.imported, arr.body.rejectedCount], [3, 3]);
    assert.deepEqual(
      arr.body.rejected.map((r: { position: string; code: string }) => [r.position, r.code]),
      [
        ['[1]', 'SOURCE_RECORD_INVALID'],
        ['[3]', 'SOURCE_RECORD_INVALID'],
        ['[4]', 'SOURCE_RECORD_INVALID'],
      ],
    );
    // A syntax error part-way: the entries before it import — the one just before the error too,
    // with no padding between them — and the error names its byte.
    const brokenText = `[${JSON.stringify(ok('OK-4'))}, ${JSON.stringify(ok('OK-5'))}, {"id": "X" "modified": 1}]`;
    const broken = await post('advisory', brokenText);
    assert.equal(broken.status, 200);
    assert.equal(broken.body.imported, 2);
    assert.equal(broken.body.rejected[0].code, 'SOURCE_SYNTAX');
    assert.equal(broken.body.rejected[0].position, `after [1], at byte ${brokenText.indexOf('"X" "modified"') + 4}`);
    // Findings JSONL: by line.
    const jsonl = [
      JSON.stringify({ id: 'f-1', vulnerability: 'CVE-2024-0001', package: { name: 'lodash' } }),
      '{"id": "f-2", ',
      JSON.stringify({ id: 'f-3', vulnerability: 5, package: { name: 'x' } }),
      JSON.stringify({ id: 'f-4', vulnerability: 'CVE-2024-0002', package: { name: 'left-pad' }, severity: 'urgent' }),
      JSON.stringify({ id: 'f-5', vulnerability: 'CVE-2024-0003', package: { name: 'left-pad' } }),
    ].join('\n');
    const f = await post('finding', jsonl, 'application/x-ndjson');
    assert.equal(f.status, 200);
    assert.equal(f.body.imported, 2);
    assert.deepEqual(
      f.body.rejected.map((r: { position: string; code: string }) => [r.position, r.code]),
      [
        ['line 2', 'SOURCE_SYNTAX'],
        ['line 3', 'SOURCE_RECORD_INVALID'],
        ['line 4', 'SOURCE_RECORD_INVALID'],
      ],
    );
    // Not a source format of the kind at all: refused whole, nothing written.
    const before = await recordCount();
    const none = await post('advisory', JSON.stringify({ hello: 'world' }));
    assert.equal(none.status, 415);
    assert.equal(none.body.code, 'SOURCE_FORMAT_UNKNOWN');
    const vexAsSbom = await post(
      'sbom',
      JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [] }),
    );
    assert.equal(vexAsSbom.status, 415);
    assert.equal(await recordCount(), before);
    // Global writes by a tenant not allowed to: 403, nothing written.
    const res = await fetch(`${h.url}/v1/sources/advisory?global=true`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await h.token(T)}`,
        'x-stella-tenant': T,
        'content-type': 'application/json',
      },
      body: JSON.stringify(ok('GLOBAL-1')),
    });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'SOURCE_GLOBAL_FORBIDDEN');
    assert.equal(await recordCount(), before);
  });

  test('download of a queued or cancelled run: 409 naming its status; cancel of a finished run: 409, run unchanged', async () => {
    const p = await h.call(T, 'POST', '/v1/exports/profiles', { ...good, name: 'lifecycle' });
    // No worker yet: the run stays queued.
    const queued = await h.call(T, 'POST', '/v1/exports/runs', { profileId: p.body.id });
    assert.equal(queued.status, 202);
    const early = await h.call(T, 'GET', `/v1/exports/runs/${queued.body.id}/download`);
    assert.equal(early.status, 409);
    assert.equal(early.body.code, 'EXPORT_RUN_NOT_FINISHED');
    assert.equal(early.body.details.status, 'queued');
    const cancel = await h.call(T, 'POST', `/v1/exports/runs/${queued.body.id}/cancel`);
    assert.deepEqual([cancel.status, cancel.body.status], [202, 'cancelled']);
    const cancelled = await h.call(T, 'GET', `/v1/exports/runs/${queued.body.id}/download`);
    assert.equal(cancelled.status, 409);
    assert.deepEqual([cancelled.body.code, cancelled.body.details.status], ['EXPORT_RUN_NOT_FINISHED', 'cancelled']);
    const twice = await h.call(T, 'POST', `/v1/exports/runs/${queued.body.id}/cancel`);
    assert.deepEqual([twice.status, twice.body.code], [409, 'EXPORT_RUN_FINISHED']);

    await h.startWorker(1);
    const created = await h.call(T, 'POST', '/v1/exports/runs', { profileId: p.body.id });
    const done = await waitForRun(h, T, created.body.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const late = await h.call(T, 'POST', `/v1/exports/runs/${done.id}/cancel`);
    assert.deepEqual([late.status, late.body.code], [409, 'EXPORT_RUN_FINISHED']);
    const still = await h.call(T, 'GET', `/v1/exports/runs/${done.id}`);
    assert.deepEqual([still.body.status, still.body.cancelRequested], ['succeeded', false]);
    assert.equal((await h.fetch(T, 'GET', `/v1/exports/runs/${done.id}/download`)).status, 200);
    // The cancelled run was never picked up by the worker.
    assert.equal((await h.call(T, 'GET', `/v1/exports/runs/${queued.body.id}`)).body.status, 'cancelled');
  });
});
