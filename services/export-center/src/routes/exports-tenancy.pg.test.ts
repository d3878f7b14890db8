/**
 * The cross-tenant matrix (issue #10 acceptance "Cross-tenant matrix on Postgres RLS for every
 * route") on real PostgreSQL 15, with the real engine (sources store and ledger, json:raw,
 * sealer, leased worker). Tenant A (acme) imports real dataset documents — global advisories and
 * its own advisories, VEX, SBOM and findings — creates a profile and runs it; tenant B (globex)
 * then goes through every Export Center route in the served OpenAPI document (the test fails if a
 * route has no row here):
 *
 * - A's profiles and runs are 404 for B with exactly the body of a missing id (no existence leak),
 *   on every id route and every variant (versions, `?version=`, Range, If-None-Match,
 *   Last-Event-ID); lists and counts never show A's rows; A's Idempotency-Keys replay nothing to B;
 * - sources: B sees the global advisories (docs/export/sources.md) and only its own records; the
 *   same document imported by B is B's new record (not "unchanged": that would reveal A has it);
 *   B may not write global advisories (403); A's private imports do not move B's ledger head;
 * - B's own run exports global advisories and B's records only;
 * - nothing of A changed; as B's database role, every tenant table of the schema shows no A row
 *   (and every one has RLS enabled and forced);
 * - A's token with B's tenant header is 403 TENANT_FORBIDDEN and no header is 400 on every route.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createTestDatabase, datasetsDir, needService, run, tempDir } from '@stella/testkit';
import { defaultEngine } from '../engine.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { readSse, waitForRun } from '../testing/run-fixtures.js';

const skip = await needService('postgres');
const A = 'acme';
const B = 'globex';
const MISSING = '01ZZZZZZZZZZZZZZZZZZZZZZZZ';

const dataset = (p: string) => join(datasetsDir, p);
const OSV = ['RUSTSEC-2016-0001.json', 'RUSTSEC-2017-0001.json', 'RUSTSEC-2017-0004.json'].map((f) =>
  dataset(`osv/rustsec/${f}`),
);
const ALPINE = dataset('alpine-secdb/v3.10/community.json');
const VEX = dataset('vex/openvex/go-vex-testdata/v020-1.vex.json');
const SBOM = dataset('sbom/cyclonedx/bom-examples/dropwizard-1.3.15/bom.json');

describe('cross-tenant matrix on PostgreSQL RLS: every Export Center route', { skip }, () => {
  let h: ExportHarness;
  let drop: () => Promise<void>;
  let work: { path: string; cleanup: () => Promise<void> };
  let profile: { id: string; version: number };
  let runA: any;
  let etagA: string;
  let scheduleA: { id: string };

  /** POST /v1/sources/{kind} with a raw body (a dataset file) as `tenant`. */
  const importBody = async (tenant: string, kind: string, body: Buffer | string, query = '', type?: string) => {
    const res = await fetch(`${h.url}/v1/sources/${kind}${query}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await h.token(tenant)}`,
        'x-stella-tenant': tenant,
        'content-type': type ?? 'application/json',
      },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const importFile = async (tenant: string, kind: string, path: string, query = '') =>
    importBody(tenant, kind, await readFile(path), query);
  const counts = async (tenant: string) => {
    const r = await h.call(tenant, 'GET', '/v1/sources');
    assert.equal(r.status, 200);
    return r.body as { headSeq: string; kinds: { kind: string; records: number; globalRecords: number }[] };
  };
  const kindOf = (c: Awaited<ReturnType<typeof counts>>, kind: string) =>
    c.kinds.find((k) => k.kind === kind) ?? { kind, records: 0, globalRecords: 0 };

  before(async () => {
    const db = await createTestDatabase('export_tenancy');
    drop = db.drop;
    work = await tempDir('stella-export-tenancy-');
    h = await startExportHarness({
      databaseUrl: db.url,
      engine: defaultEngine,
      env: {
        STELLA_EXPORT_POLL_MS: '50',
        STELLA_EXPORT_HEARTBEAT_MS: '200',
        STELLA_EXPORT_SSE_HEARTBEAT_MS: '200',
        STELLA_EXPORT_GLOBAL_SOURCE_TENANTS: A,
      },
    });
    await h.startWorker(2);

    for (const f of OSV) {
      const r = await importFile(A, 'advisory', f, '?global=true');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual([r.body.global, r.body.imported, r.body.rejectedCount], [true, 1, 0]);
    }
    for (const [kind, f] of [
      ['advisory', ALPINE],
      ['vex', VEX],
      ['sbom', SBOM],
    ] as const) {
      const r = await importFile(A, kind, f);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.imported > 0 && r.body.rejectedCount === 0, `${f}: ${JSON.stringify(r.body)}`);
    }
    const findings = [
      { id: 'acme-f-1', vulnerability: 'RUSTSEC-2016-0001', package: { ecosystem: 'crates.io', name: 'openssl' } },
      { id: 'acme-f-2', vulnerability: 'RUSTSEC-2017-0001', package: { ecosystem: 'crates.io', name: 'sodiumoxide' } },
    ];
    const f = await importBody(
      A,
      'finding',
      findings.map((x) => JSON.stringify(x)).join('\n'),
      '',
      'application/x-ndjson',
    );
    assert.equal(f.body.imported, 2, JSON.stringify(f.body));

    const p = await h.call(
      A,
      'POST',
      '/v1/exports/profiles',
      { name: 'acme everything', adapter: 'json:raw', filter: { kinds: ['advisory', 'finding', 'sbom', 'vex'] } },
      { 'idempotency-key': 'acme-profile-1' },
    );
    assert.equal(p.status, 201, JSON.stringify(p.body));
    profile = p.body;
    const r = await h.call(
      A,
      'POST',
      '/v1/exports/runs',
      { profileId: profile.id },
      { 'idempotency-key': 'acme-run-1' },
    );
    assert.equal(r.status, 202, JSON.stringify(r.body));
    runA = await waitForRun(h, A, r.body.id);
    assert.equal(runA.status, 'succeeded', JSON.stringify(runA));
    etagA = `"${runA.result.archive.digest}"`;
    // Issue #11: a schedule, a retention policy (keeps far more than exists) and a legal hold of acme's.
    const s = await h.call(A, 'POST', '/v1/exports/schedules', {
      profileId: profile.id,
      cron: '0 3 * * *',
      timeZone: 'UTC',
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    scheduleA = s.body;
    const ret = await h.call(A, 'PUT', `/v1/exports/profiles/${profile.id}/retention`, { keepLast: 100 });
    assert.equal(ret.status, 200, JSON.stringify(ret.body));
    const hold = await h.call(A, 'POST', `/v1/exports/runs/${runA.id}/hold`, { reason: 'acme case' });
    assert.equal(hold.status, 201, JSON.stringify(hold.body));
  });
  after(async () => {
    await h?.close();
    await drop?.();
    await work?.cleanup();
  });

  /** The error body without the parts that differ per request (trace id) or name the id. */
  const shape = (b: any, id: string) =>
    JSON.stringify({ statusCode: b?.statusCode, code: b?.code, message: b?.message, details: b?.details }).replaceAll(
      id,
      '<id>',
    );

  /**
   * One row per route of the served OpenAPI document: what B does with A's resource (or as B in
   * general) and what it must get. `id` routes are also called with a missing id and must answer
   * the same body.
   */
  type Probe = { path: (id: string) => string; body?: unknown; headers?: Record<string, string> };
  const idRoutes: Record<string, Probe[]> = {
    'GET /v1/exports/profiles/{id}': [
      { path: (id) => `/v1/exports/profiles/${id}` },
      { path: (id) => `/v1/exports/profiles/${id}?version=1` },
    ],
    'PUT /v1/exports/profiles/{id}': [
      {
        path: (id) => `/v1/exports/profiles/${id}`,
        body: { name: 'hijacked', adapter: 'json:raw', filter: { kinds: ['advisory'] } },
      },
    ],
    'DELETE /v1/exports/profiles/{id}': [{ path: (id) => `/v1/exports/profiles/${id}` }],
    'GET /v1/exports/profiles/{id}/versions': [{ path: (id) => `/v1/exports/profiles/${id}/versions` }],
    'GET /v1/exports/runs/{id}': [{ path: (id) => `/v1/exports/runs/${id}` }],
    'POST /v1/exports/runs/{id}/cancel': [{ path: (id) => `/v1/exports/runs/${id}/cancel` }],
    'GET /v1/exports/runs/{id}/events': [
      { path: (id) => `/v1/exports/runs/${id}/events` },
      { path: (id) => `/v1/exports/runs/${id}/events`, headers: { 'last-event-id': '1' } },
      { path: (id) => `/v1/exports/runs/${id}/events?lastEventId=2` },
    ],
    'GET /v1/exports/runs/{id}/download': [
      { path: (id) => `/v1/exports/runs/${id}/download` },
      { path: (id) => `/v1/exports/runs/${id}/download`, headers: { range: 'bytes=0-99' } },
      { path: (id) => `/v1/exports/runs/${id}/download`, headers: { 'if-none-match': '<etag>' } },
    ],
    'GET /v1/exports/runs/{id}/verify': [
      { path: (id) => `/v1/exports/runs/${id}/verify` },
      { path: (id) => `/v1/exports/runs/${id}/verify?format=sse` },
    ],
    'GET /v1/exports/profiles/{id}/retention': [{ path: (id) => `/v1/exports/profiles/${id}/retention` }],
    'PUT /v1/exports/profiles/{id}/retention': [
      { path: (id) => `/v1/exports/profiles/${id}/retention`, body: { keepLast: 1 } },
    ],
    'DELETE /v1/exports/profiles/{id}/retention': [{ path: (id) => `/v1/exports/profiles/${id}/retention` }],
    'POST /v1/exports/runs/{id}/hold': [{ path: (id) => `/v1/exports/runs/${id}/hold`, body: { reason: 'b' } }],
    'DELETE /v1/exports/runs/{id}/hold': [{ path: (id) => `/v1/exports/runs/${id}/hold` }],
    'GET /v1/exports/schedules/{id}': [{ path: (id) => `/v1/exports/schedules/${id}` }],
    'GET /v1/exports/schedules/{id}/fires': [{ path: (id) => `/v1/exports/schedules/${id}/fires` }],
    'PUT /v1/exports/schedules/{id}': [
      {
        path: (id) => `/v1/exports/schedules/${id}`,
        body: { profileId: MISSING, cron: '0 4 * * *', timeZone: 'UTC' },
      },
    ],
    'DELETE /v1/exports/schedules/{id}': [{ path: (id) => `/v1/exports/schedules/${id}` }],
  };
  const profileIdRoutes = new Set(Object.keys(idRoutes).filter((k) => k.includes('/profiles/')));
  const scheduleIdRoutes = new Set(Object.keys(idRoutes).filter((k) => k.includes('/schedules/')));
  /** Whose id a route takes, and the code B gets for A's id and for a missing one alike. */
  const idOf = (route: string) =>
    profileIdRoutes.has(route) ? profile.id : scheduleIdRoutes.has(route) ? scheduleA.id : runA.id;
  const codeOf = (route: string) =>
    profileIdRoutes.has(route)
      ? 'EXPORT_PROFILE_NOT_FOUND'
      : scheduleIdRoutes.has(route)
        ? 'EXPORT_SCHEDULE_NOT_FOUND'
        : route === 'DELETE /v1/exports/runs/{id}/hold'
          ? 'EXPORT_HOLD_NOT_FOUND'
          : 'EXPORT_RUN_NOT_FOUND';
  /** Routes without an id in the path: covered by their own tests below. */
  const collectionRoutes = [
    'GET /v1/sources',
    'POST /v1/sources/{kind}',
    'GET /v1/exports/profiles',
    'POST /v1/exports/profiles',
    'GET /v1/exports/runs',
    'POST /v1/exports/runs',
    'POST /v1/exports/plan',
    // Reads only the uploaded bytes and the service's public key, no tenant row
    // (cli/src/commands/export-verify-api.test.ts); here: the 403/400 tenant-header checks.
    'POST /v1/exports/verify',
    'GET /v1/exports/schedules',
    'POST /v1/exports/schedules',
    'POST /v1/exports/retention/prune',
    'GET /v1/exports/retention/pruned',
  ];

  test('every Export Center route of the served OpenAPI document has a row in this matrix', async () => {
    const res = await fetch(`${h.url}/.well-known/openapi`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const served = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/v1/exports') || p.startsWith('/v1/sources'))
      .flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    assert.deepEqual(served, [...Object.keys(idRoutes), ...collectionRoutes].sort());
  });

  test("A's profile and run ids: 404 for B with the body of a missing id, on every id route and variant", async () => {
    for (const [route, probes] of Object.entries(idRoutes)) {
      const method = route.split(' ')[0]!;
      const id = idOf(route);
      for (const probe of probes) {
        const headers = probe.headers
          ? Object.fromEntries(Object.entries(probe.headers).map(([k, v]) => [k, v.replace('<etag>', etagA)]))
          : undefined;
        // Positive control: the same read as acme reaches the resource (so the 404 below is RLS).
        if (method === 'GET') {
          const own = await h.fetch(A, method, probe.path(id), { ...(headers ? { headers } : {}) });
          assert.ok([200, 206, 304].includes(own.status), `acme ${probe.path(id)}: ${own.status}`);
          await own.body?.cancel();
        }
        const foreign = await h.call(B, method, probe.path(id), probe.body, headers);
        const absent = await h.call(B, method, probe.path(MISSING), probe.body, headers);
        const what = `${method} ${probe.path('<id>')} ${JSON.stringify(probe.headers ?? {})}`;
        assert.equal(foreign.status, 404, what);
        assert.equal(foreign.body.code, codeOf(route), what);
        assert.equal(shape(foreign.body, id), shape(absent.body, MISSING), what);
        assert.equal(foreign.headers.get('etag'), null, `${what}: no ETag leaks`);
        assert.equal(foreign.headers.get('x-stella-export-run'), null, what);
      }
    }
  });

  test("runs and plan: B cannot start, plan or replay A's profile or A's Idempotency-Key; lists never show A's rows", async () => {
    for (const body of [
      { profileId: profile.id },
      { profileId: profile.id, profileVersion: 1 },
      { profileId: MISSING },
    ]) {
      const r = await h.call(B, 'POST', '/v1/exports/runs', body);
      assert.equal(r.status, 404, JSON.stringify(body));
      assert.equal(r.body.code, 'EXPORT_PROFILE_NOT_FOUND');
      const p = await h.call(B, 'POST', '/v1/exports/plan', body);
      assert.equal(p.status, 404, JSON.stringify(body));
      assert.equal(p.body.code, 'EXPORT_PROFILE_NOT_FOUND');
    }
    // A's idempotency keys with A's exact bodies: B gets no replay of A's run or profile.
    const replayRun = await h.call(
      B,
      'POST',
      '/v1/exports/runs',
      { profileId: profile.id },
      { 'idempotency-key': 'acme-run-1' },
    );
    assert.equal(replayRun.status, 404);
    assert.equal(replayRun.headers.get('idempotent-replayed'), null);
    const replayProfile = await h.call(
      B,
      'POST',
      '/v1/exports/profiles',
      { name: 'acme everything', adapter: 'json:raw', filter: { kinds: ['advisory', 'finding', 'sbom', 'vex'] } },
      { 'idempotency-key': 'acme-profile-1' },
    );
    assert.equal(replayProfile.status, 201);
    assert.equal(replayProfile.headers.get('idempotent-replayed'), null);
    assert.notEqual(replayProfile.body.id, profile.id);

    for (const path of [
      '/v1/exports/profiles',
      '/v1/exports/runs',
      `/v1/exports/runs?profileId=${profile.id}`,
      '/v1/exports/runs?status=succeeded',
      `/v1/exports/runs?status=succeeded&profileId=${profile.id}`,
    ]) {
      const l = await h.call(B, 'GET', path);
      assert.equal(l.status, 200, path);
      const text = JSON.stringify(l.body);
      assert.ok(!text.includes(profile.id) && !text.includes(runA.id), `${path} shows an acme id`);
    }
    assert.deepEqual((await h.call(B, 'GET', `/v1/exports/runs?profileId=${profile.id}`)).body.items, []);
    // Schedules and retention (issue #11): B cannot schedule A's profile, sees none of A's schedules,
    // and B's prune and pruned-run log are B's alone.
    const schedB = await h.call(B, 'POST', '/v1/exports/schedules', {
      profileId: profile.id,
      cron: '0 3 * * *',
      timeZone: 'UTC',
    });
    assert.equal(schedB.status, 404);
    assert.equal(schedB.body.code, 'EXPORT_PROFILE_NOT_FOUND');
    for (const path of ['/v1/exports/schedules', `/v1/exports/schedules?profileId=${profile.id}`])
      assert.deepEqual((await h.call(B, 'GET', path)).body.items, [], path);
    assert.deepEqual((await h.call(B, 'POST', '/v1/exports/retention/prune')).body, { pruned: [], objectsDeleted: 0 });
    assert.deepEqual((await h.call(B, 'GET', '/v1/exports/retention/pruned')).body.items, []);
    // A's list cursor means nothing to B: its page is B's own (empty) set, not A's.
    const pageA = await h.call(A, 'GET', '/v1/exports/runs?limit=1');
    assert.equal(pageA.body.items[0].id, runA.id);
  });

  test('sources: B sees global advisories and only its own records; same document = B’s own record; no global writes; A’s imports do not move B’s head', async () => {
    const before = await counts(B);
    assert.equal(kindOf(before, 'advisory').globalRecords, OSV.length, 'global advisories are visible to B');
    assert.deepEqual(
      ['advisory', 'vex', 'sbom', 'finding'].map((k) => kindOf(before, k).records),
      [0, 0, 0, 0],
      "none of acme's own records",
    );
    const a = await counts(A);
    assert.equal(kindOf(a, 'advisory').globalRecords, OSV.length);
    assert.ok(kindOf(a, 'advisory').records > 0 && kindOf(a, 'vex').records === 1);

    // The very document acme imported: for B it is new (imported, not "unchanged").
    const vex = await importFile(B, 'vex', VEX);
    assert.equal(vex.status, 200);
    assert.deepEqual([vex.body.imported, vex.body.unchanged], [1, 0]);
    // A global advisory re-imported by B as its own: B's record beside the global one.
    const own = await importFile(B, 'advisory', OSV[0]!);
    assert.deepEqual([own.body.global, own.body.imported, own.body.unchanged], [false, 1, 0]);
    // B may not write global advisories; nothing is written.
    const glob = await importFile(B, 'advisory', OSV[1]!, '?global=true');
    assert.equal(glob.status, 403);
    assert.equal(glob.body.code, 'SOURCE_GLOBAL_FORBIDDEN');
    const mid = await counts(B);
    assert.deepEqual(
      [kindOf(mid, 'advisory').records, kindOf(mid, 'advisory').globalRecords, kindOf(mid, 'vex').records],
      [1, OSV.length, 1],
    );
    assert.deepEqual(await counts(A), a, "acme's counts did not change");

    // acme imports privately: B's head and counts stay where they were.
    const more = await importFile(A, 'advisory', dataset('alpine-secdb/v3.11/community.json'));
    assert.ok(more.body.imported > 0);
    const after = await counts(B);
    assert.equal(after.headSeq, mid.headSeq, "acme's private import does not move globex's head");
    assert.deepEqual(after.kinds, mid.kinds);
    const planB = await h.call(B, 'POST', '/v1/exports/plan', {
      profile: { name: 'x', adapter: 'json:raw', filter: { kinds: ['advisory', 'finding', 'sbom', 'vex'] } },
    });
    assert.equal(planB.status, 200);
    assert.equal(planB.body.ledgerSeq, mid.headSeq);
    assert.equal(planB.body.records, OSV.length + 2); // the globals, B's advisory and B's VEX
  });

  // Runs after the sources test (tests of a describe run in order): B then owns one advisory and one VEX.
  test("B's own run exports the global advisories and B's records — never acme's", async () => {
    const p = await h.call(B, 'POST', '/v1/exports/profiles', {
      name: 'globex everything',
      adapter: 'json:raw',
      adapterOptions: { compression: 'none' },
      filter: { kinds: ['advisory', 'finding', 'sbom', 'vex'] },
    });
    assert.equal(p.status, 201);
    const r = await h.call(B, 'POST', '/v1/exports/runs', { profileId: p.body.id });
    const events = await readSse(await h.fetch(B, 'GET', `/v1/exports/runs/${r.body.id}/events`));
    assert.equal(JSON.parse(events.find((e) => e.event === 'final')!.data).status, 'succeeded');
    const res = await h.fetch(B, 'GET', `/v1/exports/runs/${r.body.id}/download`);
    assert.equal(res.status, 200);
    const tgz = join(work.path, 'globex.tgz');
    await writeFile(tgz, Buffer.from(await res.arrayBuffer()));
    const out = join(work.path, 'globex');
    await mkdir(out);
    assert.equal((await run('tar', ['-xzf', tgz, '-C', out])).code, 0);
    const records: { tenant: string | null; recordId: string; kind: string }[] = [];
    for (const f of (await readdir(join(out, 'data'))).sort())
      for (const line of (await readFile(join(out, 'data', f), 'utf8')).split('\n').filter(Boolean))
        records.push(JSON.parse(line));
    assert.equal(records.length, OSV.length + 2);
    assert.ok(
      records.every((x) => x.tenant === null || x.tenant === B),
      JSON.stringify(records.map((x) => x.tenant)),
    );
    assert.deepEqual(records.filter((x) => x.tenant === null).length, OSV.length);
    const manifest = JSON.parse(await readFile(join(out, 'export.json'), 'utf8'));
    assert.equal(manifest.tenant, B);
    // And acme's own bundle has acme's records, none of globex's.
    const resA = await h.fetch(A, 'GET', `/v1/exports/runs/${runA.id}/download`);
    const tgzA = join(work.path, 'acme.tgz');
    await writeFile(tgzA, Buffer.from(await resA.arrayBuffer()));
    const outA = join(work.path, 'acme');
    await mkdir(outA);
    assert.equal((await run('tar', ['-xzf', tgzA, '-C', outA])).code, 0);
    const vexA = gunzipSync(await readFile(join(outA, 'data/vex.jsonl.gz')))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { tenant: string });
    assert.deepEqual(
      vexA.map((x) => x.tenant),
      [A],
    );
  });

  test("nothing of acme changed; as globex's database role no table shows an acme row; every tenant table forces RLS", async (ctx) => {
    const p = await h.call(A, 'GET', `/v1/exports/profiles/${profile.id}`);
    assert.equal(p.status, 200, 'survived B’s PUT and DELETE');
    assert.deepEqual([p.body.version, p.body.name], [1, 'acme everything']);
    assert.equal((await h.call(A, 'GET', `/v1/exports/profiles/${profile.id}/versions`)).body.items.length, 1);
    const r = await h.call(A, 'GET', `/v1/exports/runs/${runA.id}`);
    assert.deepEqual([r.body.status, r.body.cancelRequested], ['succeeded', false]);
    // B's DELETE/PUT of A's schedule, retention and hold changed nothing.
    const sch = await h.call(A, 'GET', `/v1/exports/schedules/${scheduleA.id}`);
    assert.deepEqual([sch.status, sch.body.cron], [200, '0 3 * * *']);
    assert.equal((await h.call(A, 'GET', `/v1/exports/profiles/${profile.id}/retention`)).body.keepLast, 100);
    const held = await h.db.withTenant(A, (tx) =>
      tx.query('SELECT 1 FROM export_center.export_holds WHERE run_id = $1', [runA.id]),
    );
    assert.equal(held.rowCount, 1, "acme's hold survived globex's DELETE");

    const tables = (
      await h.db.query<{ table: string; rls: boolean; forced: boolean }>(
        `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'export_center' AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          ORDER BY 1`,
      )
    ).rows;
    assert.ok(tables.length >= 5, JSON.stringify(tables));
    ctx.diagnostic(`tenant tables: ${tables.map((t) => t.table).join(', ')}`);
    for (const t of tables) assert.deepEqual([t.table, t.rls, t.forced], [t.table, true, true]);
    // Every tenant table holds rows of both tenants by now — written by the real code paths:
    // the imports (source_records), the profile and run routes, and the worker's markSucceeded
    // (export_inputs: one row per source kind of a succeeded run; export_distributions: its
    // download) for acme's run and globex's own — so none of the checks below is vacuous.
    // The two history tables whose writers need time to pass (a schedule's fire, a retention
    // prune) get one acme row each, written as acme (RLS WITH CHECK applies).
    await h.db.withTenant(A, async (tx) => {
      await tx.query(
        `INSERT INTO export_center.export_schedule_fires (schedule_id, scheduled_for, outcome, fired_by)
         VALUES ($1, now(), 'skipped', 'tenancy-test')`,
        [scheduleA.id],
      );
      await tx.query(
        `INSERT INTO export_center.export_pruned_runs (run_id, profile_id, profile_version, status,
           run_created_at, reason, policy, object_prefix, pruned_by)
         VALUES ('01PRUNEDRUNTENANCYTEST0000', $1, 1, 'succeeded', now(), 'maxAge', '{"maxAge":"P1D"}', 'x/', 'tenancy-test')`,
        [profile.id],
      );
    });
    for (const t of tables) {
      const owner = await h.db.query<{ tenant: string; n: number }>(
        `SELECT tenant_id AS tenant, count(*)::int AS n FROM export_center.${t.table}
          WHERE tenant_id IN ($1, $2) GROUP BY 1 ORDER BY 1`,
        [A, B],
      );
      const counts = Object.fromEntries(owner.rows.map((x) => [x.tenant, x.n]));
      ctx.diagnostic(`${t.table}: ${JSON.stringify(counts)}`);
      assert.ok((counts[A] ?? 0) > 0, `${t.table}: no acme row to hide (vacuous): ${JSON.stringify(counts)}`);
      // globex's role: none of acme's rows, whether asked for by tenant or not at all; its own all.
      const seen = await h.db.withTenant(B, (tx) =>
        tx.query<{ tenant: string; n: number }>(
          `SELECT tenant_id AS tenant, count(*)::int AS n FROM export_center.${t.table} GROUP BY 1 ORDER BY 1`,
        ),
      );
      const mine = Object.fromEntries(seen.rows.map((x) => [x.tenant, x.n]));
      assert.equal(mine[A], undefined, `${t.table}: globex sees ${mine[A]} of acme's ${counts[A]} rows`);
      assert.deepEqual(
        Object.keys(mine).filter((k) => k !== B && k !== 'null'),
        [],
        `${t.table}: globex sees other tenants' rows: ${JSON.stringify(mine)}`,
      );
      assert.equal(mine[B] ?? 0, counts[B] ?? 0, `${t.table}: globex sees all of its own rows`);
      const byTenant = await h.db.withTenant(B, (tx) =>
        tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_center.${t.table} WHERE tenant_id = $1`, [A]),
      );
      assert.equal(byTenant.rows[0]!.n, 0, `${t.table}: globex finds acme's rows by tenant id`);
    }
    for (const t of ['export_inputs', 'export_distributions'])
      assert.ok(
        tables.some((x) => x.table === t),
        `${t} is a tenant table checked above`,
      );
    // And by run id: acme's run's inputs and distribution, invisible to globex, visible to acme.
    for (const t of ['export_inputs', 'export_distributions']) {
      const q = `SELECT count(*)::int AS n FROM export_center.${t} WHERE run_id = $1`;
      const asA = await h.db.withTenant(A, (tx) => tx.query<{ n: number }>(q, [runA.id]));
      const asB = await h.db.withTenant(B, (tx) => tx.query<{ n: number }>(q, [runA.id]));
      assert.ok(asA.rows[0]!.n > 0, `${t}: acme's run has rows`);
      assert.equal(asB.rows[0]!.n, 0, `${t}: globex sees acme's run's rows`);
    }
  });

  test("acme's token with globex's tenant header is 403 on every route; no tenant header is 400", async () => {
    const routes: [string, string, unknown?][] = [
      ...Object.entries(idRoutes).map(
        ([route, probes]) =>
          [route.split(' ')[0]!, probes[0]!.path(idOf(route)), probes[0]!.body] as [string, string, unknown?],
      ),
      ['GET', '/v1/sources'],
      ['POST', '/v1/sources/vex', {}],
      ['GET', '/v1/exports/profiles'],
      ['POST', '/v1/exports/profiles', { name: 'x', adapter: 'json:raw', filter: { kinds: ['advisory'] } }],
      ['GET', '/v1/exports/runs'],
      ['POST', '/v1/exports/runs', { profileId: profile.id }],
      ['POST', '/v1/exports/plan', { profileId: profile.id }],
      ['POST', '/v1/exports/verify', {}],
      ['GET', '/v1/exports/schedules'],
      ['POST', '/v1/exports/schedules', { profileId: profile.id, cron: '0 5 * * *', timeZone: 'UTC' }],
      ['POST', '/v1/exports/retention/prune'],
      ['GET', '/v1/exports/retention/pruned'],
    ];
    assert.equal(routes.length, Object.keys(idRoutes).length + collectionRoutes.length);
    for (const [method, path, json] of routes) {
      const wrong = await h.fetch(A, method, path, { json, headers: { 'x-stella-tenant': B } });
      assert.equal(wrong.status, 403, `${method} ${path}`);
      assert.equal(((await wrong.json()) as { code: string }).code, 'TENANT_FORBIDDEN');
      const res = await fetch(`${h.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await h.token(A)}`,
          ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
      assert.equal(res.status, 400, `${method} ${path}`);
      assert.equal(((await res.json()) as { code: string }).code, 'TENANT_HEADER_MISSING');
    }
    // And none of that wrote anything: acme still has one profile named like its own, one run of it.
    const runs = await h.call(A, 'GET', `/v1/exports/runs?profileId=${profile.id}`);
    assert.equal(runs.body.items.length, 1);
  });
});
