/**
 * The export API on real PostgreSQL 15 and on PGlite (RLS on both): profiles (validation listing every problem,
 * versions), plan, runs (Idempotency-Key, keyset pagination, cancel, SSE with Last-Event-ID,
 * download with ETag/If-None-Match/Range), the worker's state machine (retry of transient
 * failures, input/internal failures, cancel of a running run, per-tenant concurrency), outbox
 * events, and a cross-tenant matrix over every route. The adapter is the test adapter
 * (testing/test-adapters.ts: slow or failing on demand); the sources store and ledger, staging
 * sink and sealer are the real ones.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTestDatabase, needService } from '@stella/testkit';
import type { ExportAdapter } from '../adapters/adapter.js';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import type { NewSourceRecord, SourceFormat } from '../sources/importers/importer.js';
import { openLedger } from '../sources/ledger.js';
import type { SourceKind } from '../sources/source-record.js';
import { appendSourceRecords } from '../sources/source-store.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { sealExportBundle } from '../bundle/seal-export.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import { readSse, waitForRun } from '../testing/run-fixtures.js';
import { testJsonlAdapter } from '../testing/test-adapters.js';

const skip = await needService('postgres');
const A = 'acme';
const B = 'globex';

function record(kind: SourceKind, recordId: string, format: SourceFormat): NewSourceRecord {
  const canonical = new TextDecoder().decode(canonicalJcsBytes({ id: recordId, kind }));
  return {
    kind,
    recordId,
    format,
    ecosystem: 'npm',
    packages: [recordId],
    severity: 'high',
    modifiedAt: null,
    canonical,
    digest: `sha256:${createHash('sha256').update(canonical).digest('hex')}`,
    bytes: Buffer.byteLength(canonical),
  };
}

for (const driver of ['postgres', 'pglite'] as const)
  describe(`export API on ${driver}`, { skip: driver === 'postgres' ? skip : false }, () => {
    let h: ExportHarness;
    let drop: (() => Promise<void>) | undefined;
    /** Appends records through the real sources store (global advisories, or one tenant's). */
    const append = (tenant: string, global: boolean, records: NewSourceRecord[]) =>
      h.db.withTenant(tenant, (tx) => appendSourceRecords(tx, { tenant, global }, records));

    before(async () => {
      const db = driver === 'postgres' ? await createTestDatabase('export_api') : undefined;
      drop = db?.drop;
      const counterDir = (await import('node:os')).tmpdir();
      const jsonl = testJsonlAdapter(counterDir);
      const advisoriesOnly: ExportAdapter = { ...jsonl, id: 'test:advisories', sourceKinds: ['advisory'] };
      h = await startExportHarness({
        ...(db ? { databaseUrl: db.url } : {}),
        engine: {
          openLedger,
          adapters: new Map([
            [jsonl.id, jsonl],
            [advisoriesOnly.id, advisoriesOnly],
          ]),
          createStagingSink,
          sealExportBundle,
        },
        env: {
          STELLA_EXPORT_LEASE_MS: '3000',
          STELLA_EXPORT_HEARTBEAT_MS: '200',
          STELLA_EXPORT_POLL_MS: '50',
          STELLA_EXPORT_RETRY_BASE_MS: '100',
          STELLA_EXPORT_SSE_HEARTBEAT_MS: '200',
          STELLA_EXPORT_TENANT_CONCURRENCY: '1',
        },
      });
      await append(
        A,
        true,
        Array.from({ length: 12 }, (_, i) => record('advisory', `GHSA-${String(i + 1).padStart(4, '0')}`, 'osv')),
      );
      await append(A, false, [record('vex', 'vex-acme-1', 'openvex')]);
      await append(B, false, [record('vex', 'vex-globex-1', 'openvex')]);
      await h.startWorker(3);
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });

    const profile = (over: Record<string, unknown> = {}) => ({
      name: 'all advisories',
      adapter: 'test:jsonl',
      filter: { kinds: ['advisory'] },
      ...over,
    });
    const createProfile = async (tenant: string, body: unknown = profile()) => {
      const r = await h.call(tenant, 'POST', '/v1/exports/profiles', body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body as { id: string; version: number };
    };
    const startRun = async (tenant: string, profileId: string, headers?: Record<string, string>) => {
      const r = await h.call(tenant, 'POST', '/v1/exports/runs', { profileId }, headers);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body as { id: string; status: string };
    };

    test('an invalid profile lists every problem at once; unknown adapter; kinds the adapter cannot export', async () => {
      const r = await h.call(A, 'POST', '/v1/exports/profiles', {
        name: '',
        adapter: 'nope:nothing',
        filter: {
          kinds: ['advisory', 'bogus'],
          severities: ['urgent'],
          modifiedSince: 'yesterday',
          sample: { rate: 2 },
          colour: 'red',
        },
        exportTime: 'noon',
        extra: 1,
      });
      assert.equal(r.status, 400);
      assert.equal(r.body.code, 'EXPORT_PROFILE_INVALID');
      const paths = (r.body.details.problems as { path: string }[]).map((p) => p.path).sort();
      assert.deepEqual(paths, [
        '/adapter',
        '/exportTime',
        '/extra',
        '/filter/colour',
        '/filter/kinds/1',
        '/filter/modifiedSince',
        '/filter/sample/rate',
        '/filter/sample/seed',
        '/filter/severities/0',
        '/name',
      ]);
      assert.match(r.body.message, /unknown adapter "nope:nothing"; known: test:advisories, test:jsonl/);

      const kinds = await h.call(A, 'POST', '/v1/exports/profiles', {
        ...profile({ adapter: 'test:advisories', filter: { kinds: ['vex', 'advisory', 'sbom'] } }),
        adapterOptions: { delayMs: -1, bogus: true },
      });
      assert.equal(kinds.status, 400);
      assert.deepEqual((kinds.body.details.problems as { path: string; message: string }[]).map((p) => p.path).sort(), [
        '/adapterOptions/bogus',
        '/adapterOptions/delayMs',
        '/filter/kinds/0',
        '/filter/kinds/2',
      ]);
      assert.equal((await h.db.query('SELECT 1 FROM export_center.export_profiles')).rowCount, 0);
    });

    test('profiles are versioned: PUT writes n+1, GET ?version= reads a pinned one, DELETE hides it', async () => {
      const p = await createProfile(A, profile({ name: 'versioned' }));
      assert.equal(p.version, 1);
      const v2 = await h.call(
        A,
        'PUT',
        `/v1/exports/profiles/${p.id}`,
        profile({ name: 'versioned', filter: { kinds: ['vex'] } }),
      );
      assert.equal(v2.status, 200);
      assert.equal(v2.body.version, 2);
      assert.deepEqual((await h.call(A, 'GET', `/v1/exports/profiles/${p.id}`)).body.filter, { kinds: ['vex'] });
      assert.deepEqual((await h.call(A, 'GET', `/v1/exports/profiles/${p.id}?version=1`)).body.filter, {
        kinds: ['advisory'],
      });
      const versions = await h.call(A, 'GET', `/v1/exports/profiles/${p.id}/versions`);
      assert.deepEqual(
        versions.body.items.map((x: { version: number }) => x.version),
        [1, 2],
      );
      assert.ok((await h.call(A, 'GET', '/v1/exports/profiles')).body.items.some((x: { id: string }) => x.id === p.id));
      // A run pins the version it ran, even after later updates and a delete.
      const run = await h.call(A, 'POST', '/v1/exports/runs', { profileId: p.id, profileVersion: 1 });
      assert.equal(run.status, 202);
      assert.deepEqual(run.body.profile, { id: p.id, version: 1 });
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${p.id}`)).status, 204);
      const gone = await h.call(A, 'GET', `/v1/exports/profiles/${p.id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.code, 'EXPORT_PROFILE_NOT_FOUND');
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${p.id}`)).status, 404);
      const done = await waitForRun(h, A, run.body.id);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.progress.total, 12);
    });

    test('plan: counts per kind and estimated size at the head; a filter matching nothing is an empty plan', async () => {
      const p = await createProfile(A, profile({ filter: { kinds: ['advisory', 'vex'] } }));
      const plan = await h.call(A, 'POST', '/v1/exports/plan', { profileId: p.id });
      assert.equal(plan.status, 200, JSON.stringify(plan.body));
      assert.equal(plan.body.records, 13); // 12 global advisories + acme's VEX (not globex's)
      assert.deepEqual(
        plan.body.byKind.map((k: { kind: string; records: number }) => [k.kind, k.records]),
        [
          ['advisory', 12],
          ['vex', 1],
        ],
      );
      assert.ok(plan.body.estimatedBytes > 0);
      assert.match(plan.body.ledgerSeq, /^[1-9]\d*$/);
      const empty = await h.call(A, 'POST', '/v1/exports/plan', { profile: profile({ filter: { kinds: ['sbom'] } }) });
      assert.equal(empty.status, 200);
      assert.deepEqual([empty.body.records, empty.body.empty], [0, true]);
      const invalid = await h.call(A, 'POST', '/v1/exports/plan', { profile: { adapter: 'x' } });
      assert.equal(invalid.body.code, 'EXPORT_PROFILE_INVALID');
      assert.equal((await h.call(A, 'POST', '/v1/exports/plan', {})).status, 400);
    });

    test('an empty export succeeds with zero records (not an error)', async () => {
      const p = await createProfile(A, profile({ filter: { kinds: ['sbom'] } }));
      const run = await waitForRun(h, A, (await startRun(A, p.id)).id);
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(run.progress, { done: 0, total: 0 });
      assert.ok(run.result.archive.size > 0);
    });

    test('Idempotency-Key: same body → the same run; other body → 409; concurrent → one run', async () => {
      const p = await createProfile(A);
      const q = await createProfile(A, profile({ name: 'other' }));
      const first = await startRun(A, p.id, { 'idempotency-key': 'run-1' });
      const again = await h.call(A, 'POST', '/v1/exports/runs', { profileId: p.id }, { 'idempotency-key': 'run-1' });
      assert.equal(again.status, 202);
      assert.equal(again.body.id, first.id);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const other = await h.call(A, 'POST', '/v1/exports/runs', { profileId: q.id }, { 'idempotency-key': 'run-1' });
      assert.equal(other.status, 409);
      assert.equal(other.body.code, 'IDEMPOTENCY_KEY_CONFLICT');
      // Another tenant may use the same key for its own request.
      const pb = await createProfile(B);
      assert.notEqual((await startRun(B, pb.id, { 'idempotency-key': 'run-1' })).id, first.id);

      const burst = await Promise.all(
        Array.from({ length: 6 }, () =>
          h.call(A, 'POST', '/v1/exports/runs', { profileId: q.id }, { 'idempotency-key': 'burst' }),
        ),
      );
      assert.deepEqual(
        burst.map((r) => r.status),
        Array(6).fill(202),
      );
      assert.equal(new Set(burst.map((r) => r.body.id)).size, 1);
      const rows = await h.db.query(
        `SELECT count(*)::int AS n FROM export_center.export_runs WHERE tenant_id = $1 AND profile_id = $2`,
        [A, q.id],
      );
      assert.equal(rows.rows[0]!.n, 1);
      const bad = await h.call(A, 'POST', '/v1/exports/runs', { profileId: p.id }, { 'idempotency-key': 'bad key!' });
      assert.equal(bad.status, 400);
    });

    test('download: ETag is the archive sha256, If-None-Match → 304, Range → 206; unfinished → 409', async () => {
      const p = await createProfile(A, profile({ adapterOptions: { delayMs: 100 } }));
      const run = await startRun(A, p.id);
      const early = await h.call(A, 'GET', `/v1/exports/runs/${run.id}/download`);
      assert.equal(early.status, 409);
      assert.equal(early.body.code, 'EXPORT_RUN_NOT_FINISHED');
      const done = await waitForRun(h, A, run.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      const res = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/download`);
      assert.equal(res.status, 200);
      const bytes = Buffer.from(await res.arrayBuffer());
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      assert.equal(res.headers.get('etag'), `"${digest}"`);
      assert.equal(res.headers.get('x-stella-export-run'), run.id, 'the response names the run; the bundle does not');
      assert.equal(digest, done.result.archive.digest);
      assert.equal(bytes.length, done.result.archive.size);
      const cached = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/download`, {
        headers: { 'if-none-match': `"${digest}"` },
      });
      assert.equal(cached.status, 304);
      const part = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/download`, { headers: { range: 'bytes=10-' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('x-stella-export-run'), run.id);
      assert.equal(part.headers.get('content-range'), `bytes 10-${bytes.length - 1}/${bytes.length}`);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(10));
      const past = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/download`, {
        headers: { range: `bytes=${bytes.length}-` },
      });
      assert.equal(past.status, 416);
      // Downloads need export:download.
      const viewer = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/download`, { scopes: ['export:read'] });
      assert.equal(viewer.status, 403);
    });

    test('list: newest first, status/profile filters, opaque cursor; a bad or foreign cursor is 400', async () => {
      const p = await createProfile(A, profile({ name: 'listed' }));
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await startRun(A, p.id)).id);
      const page1 = await h.call(A, 'GET', `/v1/exports/runs?profileId=${p.id}&limit=2`);
      assert.deepEqual(
        page1.body.items.map((r: { id: string }) => r.id),
        [ids[2], ids[1]],
      );
      const page2 = await h.call(
        A,
        'GET',
        `/v1/exports/runs?profileId=${p.id}&limit=2&cursor=${page1.body.nextCursor}`,
      );
      assert.deepEqual(
        page2.body.items.map((r: { id: string }) => r.id),
        [ids[0]],
      );
      assert.equal(page2.body.nextCursor, undefined);
      for (const cursor of ['%%%', 'bm90LWEtY3Vyc29y', page1.body.nextCursor]) {
        const r = await h.call(A, 'GET', `/v1/exports/runs?limit=2&cursor=${encodeURIComponent(cursor)}`);
        assert.equal(r.status, 400, cursor);
        assert.equal(r.body.code, 'VALIDATION_FAILED');
      }
      for (const id of ids) await waitForRun(h, A, id);
      const succeeded = await h.call(A, 'GET', `/v1/exports/runs?status=succeeded&profileId=${p.id}`);
      assert.equal(succeeded.body.items.length, 3);
      assert.equal((await h.call(A, 'GET', '/v1/exports/runs?status=bogus')).status, 400);
    });

    test('SSE: status, progress, artifact and final events with increasing ids; Last-Event-ID resumes; heartbeats', async () => {
      const p = await createProfile(A, profile({ adapterOptions: { delayMs: 60 } }));
      const run = await startRun(A, p.id);
      const live = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/events`);
      assert.equal(live.status, 200);
      assert.match(live.headers.get('content-type')!, /^text\/event-stream/);
      const events = await readSse(live);
      const logged = events.filter((e) => e.id !== undefined);
      const seqs = logged.map((e) => Number(e.id));
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => i + 1),
      );
      const types = logged.map((e) => e.event);
      assert.equal(types[0], 'status');
      assert.equal(types.at(-1), 'final');
      assert.ok(types.includes('artifact'));
      const progress = logged.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
      assert.deepEqual(progress.at(-1), { done: 12, total: 12, at: progress.at(-1).at });
      assert.ok(progress.length >= 3, `progress events: ${progress.length}`);
      assert.ok(
        events.some((e) => e.event === 'heartbeat'),
        'a heartbeat during the ~1 s run',
      );
      assert.equal(JSON.parse(logged.at(-1)!.data).status, 'succeeded');
      // Resume after the 3rd event: exactly the rest.
      const resumed = await readSse(
        await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}/events`, { headers: { 'last-event-id': '3' } }),
      );
      assert.deepEqual(
        resumed.filter((e) => e.id).map((e) => Number(e.id)),
        seqs.slice(3),
      );
      const badId = await h.call(A, 'GET', `/v1/exports/runs/${run.id}/events`, undefined, { 'last-event-id': 'x' });
      assert.equal(badId.status, 400);
    });

    test('cancel: a running run stops within seconds; a finished one is 409', async () => {
      const p = await createProfile(A, profile({ adapterOptions: { delayMs: 500 } }));
      const run = await startRun(A, p.id);
      await waitForRun(h, A, run.id, { until: (r) => r.status === 'running' && r.progress.done >= 1 });
      const t0 = Date.now();
      const c = await h.call(A, 'POST', `/v1/exports/runs/${run.id}/cancel`);
      assert.equal(c.status, 202);
      assert.equal(c.body.cancelRequested, true);
      const done = await waitForRun(h, A, run.id, { timeoutMs: 5_000 });
      assert.equal(done.status, 'cancelled');
      assert.ok(Date.now() - t0 < 3_000, `cancelled after ${Date.now() - t0} ms`);
      assert.ok(done.progress.done < 12);
      const again = await h.call(A, 'POST', `/v1/exports/runs/${run.id}/cancel`);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'EXPORT_RUN_FINISHED');
      // Nothing left behind: no object for the cancelled run.
      assert.deepEqual((await h.store.list(`exports/${A}/runs/${run.id}/`)).items, []);
    });

    test('failure classes: transient is retried with backoff, input and internal fail at once', async () => {
      const transient = await createProfile(
        A,
        profile({ adapterOptions: { failClass: 'transient', failures: 1, counter: `t-${Date.now()}` } }),
      );
      const t = await waitForRun(h, A, (await startRun(A, transient.id)).id);
      assert.equal(t.status, 'succeeded');
      assert.equal(t.attempts, 2);
      const input = await createProfile(
        A,
        profile({ adapterOptions: { failClass: 'input', counter: `i-${Date.now()}` } }),
      );
      const i = await waitForRun(h, A, (await startRun(A, input.id)).id);
      assert.deepEqual(
        [i.status, i.attempts, i.failure.class, i.failure.code],
        ['failed', 1, 'input', 'VALIDATION_FAILED'],
      );
      const internal = await createProfile(
        A,
        profile({ adapterOptions: { failClass: 'internal', counter: `x-${Date.now()}` } }),
      );
      const x = await waitForRun(h, A, (await startRun(A, internal.id)).id);
      assert.deepEqual([x.status, x.failure.class, x.failure.code], ['failed', 'internal', 'INTERNAL']);
      assert.doesNotMatch(x.failure.message, /adapter bug/); // no internals in the API
      const always = await createProfile(
        A,
        profile({ adapterOptions: { failClass: 'transient', failures: 99, counter: `a-${Date.now()}` } }),
      );
      const a = await waitForRun(h, A, (await startRun(A, always.id)).id);
      assert.deepEqual([a.status, a.attempts, a.failure.class], ['failed', 3, 'transient']);
      const kinds = (
        await h.db.query<{ kind: string }>(
          `SELECT kind FROM stella_platform.outbox WHERE tenant_id = $1 AND envelope->>'subject' = ANY($2::text[])`,
          [A, [t.id, i.id, x.id]],
        )
      ).rows.map((r) => r.kind);
      assert.deepEqual(kinds.filter((k) => k === 'export.requested').length, 3);
      assert.deepEqual(kinds.filter((k) => k === 'export.built').length, 1);
      assert.deepEqual(kinds.filter((k) => k === 'export.failed').length, 2);
    });

    test('per-tenant concurrency: with a limit of 1, a tenant never has two runs running; others proceed', async () => {
      const p = await createProfile(A, profile({ adapterOptions: { delayMs: 40 } }));
      const pb = await createProfile(B, profile({ adapterOptions: { delayMs: 40 } }));
      const runs = [await startRun(A, p.id), await startRun(A, p.id), await startRun(B, pb.id)];
      let sawBothTenants = false;
      for (;;) {
        const r = await h.db.query<{ tenant_id: string; n: number }>(
          `SELECT tenant_id, count(*)::int AS n FROM export_center.export_runs WHERE status = 'running' GROUP BY tenant_id`,
        );
        for (const row of r.rows) assert.ok(row.n <= 1, `${row.tenant_id} has ${row.n} running`);
        if (r.rows.length === 2) sawBothTenants = true;
        const states = await Promise.all(runs.map((x, i) => h.call(i < 2 ? A : B, 'GET', `/v1/exports/runs/${x.id}`)));
        if (states.every((s) => s.body.status === 'succeeded')) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(sawBothTenants, "B's run ran while A's were limited");
    });

    test('a run reads the ledger as of its creation: records added later do not leak in', async () => {
      const p = await createProfile(A, profile({ adapterOptions: { delayMs: 150 } }));
      const run = await startRun(A, p.id);
      const [late] = await append(A, true, [record('advisory', 'GHSA-late', 'osv')]);
      const done = await waitForRun(h, A, run.id);
      assert.ok(BigInt(done.ledgerSeq) < late!.ledgerSeq);
      assert.deepEqual(done.progress, { done: 12, total: 12 });
      const later = await waitForRun(h, A, (await startRun(A, p.id)).id);
      assert.equal(later.progress.total, 13);
    });

    test('cross-tenant matrix: another tenant gets 404 exactly like a missing id on every route', async () => {
      const p = await createProfile(A, profile({ name: 'private' }));
      const run = await waitForRun(h, A, (await startRun(A, p.id)).id);
      const missing = '01ZZZZZZZZZZZZZZZZZZZZZZZZ';
      const routes: [string, (id: string) => string, unknown?][] = [
        ['GET', (id) => `/v1/exports/profiles/${id}`],
        ['GET', (id) => `/v1/exports/profiles/${id}/versions`],
        ['PUT', (id) => `/v1/exports/profiles/${id}`, profile()],
        ['DELETE', (id) => `/v1/exports/profiles/${id}`],
      ];
      const runRoutes: [string, (id: string) => string][] = [
        ['GET', (id) => `/v1/exports/runs/${id}`],
        ['POST', (id) => `/v1/exports/runs/${id}/cancel`],
        ['GET', (id) => `/v1/exports/runs/${id}/events`],
        ['GET', (id) => `/v1/exports/runs/${id}/download`],
      ];
      const strip = (b: { statusCode: number; code: string; message: string; details: unknown }, id: string) =>
        JSON.stringify({ statusCode: b.statusCode, code: b.code, message: b.message, details: b.details }).replaceAll(
          id,
          '<id>',
        );
      for (const [method, path, body] of routes) {
        const foreign = await h.call(B, method, path(p.id), body);
        const absent = await h.call(B, method, path(missing), body);
        assert.equal(foreign.status, 404, `${method} ${path(p.id)}`);
        assert.equal(strip(foreign.body, p.id), strip(absent.body, missing));
      }
      for (const [method, path] of runRoutes) {
        const foreign = await h.call(B, method, path(run.id));
        const absent = await h.call(B, method, path(missing));
        assert.equal(foreign.status, 404, `${method} ${path(run.id)}`);
        assert.equal(strip(foreign.body, run.id), strip(absent.body, missing));
      }
      for (const body of [{ profileId: p.id }, { profileId: missing }]) {
        assert.equal((await h.call(B, 'POST', '/v1/exports/runs', body)).status, 404);
        assert.equal((await h.call(B, 'POST', '/v1/exports/plan', body)).status, 404);
      }
      const lists = [
        await h.call(B, 'GET', '/v1/exports/profiles'),
        await h.call(B, 'GET', `/v1/exports/runs?profileId=${p.id}`),
      ];
      for (const l of lists) assert.ok(!JSON.stringify(l.body).includes(p.id));
      // And A still sees its own; its profile survived B's PUT and DELETE.
      assert.equal((await h.call(A, 'GET', `/v1/exports/profiles/${p.id}`)).body.version, 1);
      // Wrong tenant header or missing scopes are refused before anything.
      const wrong = await h.fetch(A, 'GET', `/v1/exports/runs/${run.id}`, { headers: { 'x-stella-tenant': B } });
      assert.equal(wrong.status, 403);
      const noRun = await h.fetch(A, 'POST', '/v1/exports/runs', {
        json: { profileId: p.id },
        scopes: ['export:read'],
      });
      assert.equal(noRun.status, 403);
      const noManage = await h.fetch(A, 'POST', '/v1/exports/profiles', { json: profile(), scopes: ['export:run'] });
      assert.equal(noManage.status, 403);
    });
  });
