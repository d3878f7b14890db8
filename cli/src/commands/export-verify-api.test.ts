/**
 * The verification API (issue #11 §3) against a real server (startRuntime on PostgreSQL, the real
 * importers, json:raw adapter, worker and sealer): `GET /v1/exports/runs/{id}/verify` and
 * `POST /v1/exports/verify` stream the checks of the same verifier `stella export verify` runs,
 * so for a good bundle, a tampered one (a byte flipped with GNU tar's help) and a re-signed
 * forgery, the API's checks equal the CLI's `--json` checks entry for entry. Also: NDJSON and SSE
 * framing, attestStatus, an upload streamed from disk, a truncated upload, and the errors (409
 * unfinished, 404 another tenant's run, 415 wrong type, 401 without a token).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { importSource } from '@stella/export-center/sources';
import { loadConfig } from '@stella/platform/config';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { createTestDatabase, datasetsDir, needService, needTool, run, tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

const skip = (await needService('postgres')) || needTool('tar') || needTool('openssl');
const TENANT = 'acme';

interface Check {
  check: string;
  status: string;
  detail?: string;
  digest?: string;
}
interface Summary {
  attestStatus: string;
  ok: boolean;
  signerChecked: boolean;
  checks: number;
  failed: number;
  manifestDigest?: string;
}

function parseNdjson(text: string): { checks: Check[]; summary: Summary } {
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
  const last = lines.at(-1)!;
  assert.equal(last.type, 'summary', 'the stream ends with the summary line');
  assert.ok(lines.slice(0, -1).every((l) => l.type === 'check'));
  const strip = ({ type: _t, ...rest }: { type: string } & Record<string, unknown>) => rest;
  return { checks: lines.slice(0, -1).map(strip) as unknown as Check[], summary: strip(last) as unknown as Summary };
}

describe('export verification API and CLI agree (PostgreSQL, real bundle)', { skip }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  let token: string;
  let otherToken: string;
  let drop: () => Promise<void>;
  let runId: string;
  let bundle: string;
  let pub: string;

  const auth = (t = token, tenant = TENANT) => ({ authorization: `Bearer ${t}`, 'x-stella-tenant': tenant });
  const call = async (method: string, path: string, json?: unknown) => {
    const res = await fetch(`${rt.url}${path}`, {
      method,
      headers: { ...auth(), ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  /** POSTs a file as a streamed body (never read whole by the test either). */
  const upload = (file: string, headers: Record<string, string> = {}) =>
    fetch(`${rt.url}/v1/exports/verify`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/gzip', ...headers },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
  const cliChecks = async (file: string) => {
    const r = await runCli(['export', 'verify', '--json', '--key', pub, file], { cwd: dir.path });
    return { code: r.code, report: JSON.parse(r.stdout) as { ok: boolean; checks: Check[] } };
  };
  /** A copy of the bundle with one byte of `member` flipped, re-packed by GNU tar. */
  async function tampered(member: string): Promise<string> {
    const work = join(dir.path, `unpacked-${member.replace(/\W/g, '_')}`);
    await mkdir(work, { recursive: true });
    assert.equal((await run('tar', ['-xzf', bundle, '-C', work])).code, 0);
    const bytes = await readFile(join(work, member));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(join(work, member), bytes);
    const out = join(dir.path, `tampered-${member.replace(/\W/g, '_')}.tgz`);
    assert.equal((await run('tar', ['-czf', out, '-C', work, '.'])).code, 0);
    return out;
  }

  before(async () => {
    const db = await createTestDatabase('export_verify_api');
    drop = db.drop;
    dir = await tempDir('stella-export-verify-api-');
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '1',
        STELLA_DATABASE_URL: db.url,
        STELLA_BUS_URL: `memory://export-verify-api-${Date.now()}`,
        STELLA_EXPORT_POLL_MS: '50',
      },
      {},
      { cwd: dir.path, services: SERVICES },
    );
    rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
    token = await mintDevToken(rt.devIssuer!, TENANT);
    otherToken = await mintDevToken(rt.devIssuer!, 'globex');

    const osvDir = join(datasetsDir, 'osv/go-vulndb');
    const files = (await readdir(osvDir))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .slice(0, 15);
    for (const f of files) {
      const s = await importSource(createReadStream(join(osvDir, f)), {
        kind: 'advisory',
        scope: { tenant: TENANT, global: false },
        transaction: (fn) => rt.db.withTenant(TENANT, fn),
      });
      assert.equal(s.rejectedCount, 0, JSON.stringify(s.rejected));
    }
    const profile = await call('POST', '/v1/exports/profiles', {
      name: 'advisories',
      adapter: 'json:raw',
      adapterOptions: { compression: 'gzip' },
      filter: { kinds: ['advisory'] },
    });
    assert.equal(profile.status, 201, JSON.stringify(profile.body));
    const created = await call('POST', '/v1/exports/runs', { profileId: profile.body.id });
    assert.equal(created.status, 202);
    runId = created.body.id;
    for (const deadline = Date.now() + 60_000; ;) {
      const r = await call('GET', `/v1/exports/runs/${runId}`);
      if (r.body.status === 'succeeded') break;
      assert.ok(!['failed', 'cancelled'].includes(r.body.status), JSON.stringify(r.body));
      assert.ok(Date.now() < deadline, `run still ${r.body.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const dl = await fetch(`${rt.url}/v1/exports/runs/${runId}/download`, { headers: auth() });
    assert.equal(dl.status, 200);
    bundle = join(dir.path, 'export.tgz');
    await writeFile(bundle, Buffer.from(await dl.arrayBuffer()));
    // The service's signing key: the public half shipped in the bundle (the CLI is given it as
    // the trusted key; the API trusts the key it signs with).
    const keys = join(dir.path, 'keys');
    await mkdir(keys, { recursive: true });
    assert.equal((await run('tar', ['-xzf', bundle, '-C', keys, 'keys/export.pub.pem'])).code, 0);
    pub = join(keys, 'keys/export.pub.pem');
  });
  after(async () => {
    await rt?.close();
    await drop?.();
    await dir?.cleanup();
  });

  test('GET …/runs/{id}/verify (NDJSON): every entry with its recomputed digest, attestStatus verified, equal to the CLI', async () => {
    const res = await fetch(`${rt.url}/v1/exports/runs/${runId}/verify`, { headers: auth() });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const { checks, summary } = parseNdjson(await res.text());
    assert.equal(summary.attestStatus, 'verified');
    assert.equal(summary.ok, true);
    assert.equal(summary.signerChecked, true);
    assert.equal(summary.failed, 0);
    assert.equal(summary.checks, checks.length);
    assert.ok(checks.every((c) => c.status === 'pass'));

    // Each export.json entry is reported with the digest the verifier computed, equal to the
    // manifest's (read here with tar, not with our reader).
    const manifest = JSON.parse((await run('tar', ['-xzOf', bundle, 'export.json'])).stdout.toString()) as {
      files: { path: string; digest: string }[];
    };
    assert.ok(manifest.files.length > 0);
    for (const f of manifest.files) {
      const c = checks.find((x) => x.check === `file:${f.path}`);
      assert.equal(c?.digest, f.digest, f.path);
    }
    assert.ok(checks.some((c) => c.check === 'signature:export.dsse.json' && /given key/.test(c.detail ?? '')));

    const cli = await cliChecks(bundle);
    assert.equal(cli.code, 0);
    assert.deepEqual(checks, cli.report.checks);
  });

  test('SSE framing (Accept: text/event-stream, or ?format=sse)', async () => {
    for (const init of [
      { path: `/v1/exports/runs/${runId}/verify`, headers: { ...auth(), accept: 'text/event-stream' } },
      { path: `/v1/exports/runs/${runId}/verify?format=sse`, headers: auth() },
    ]) {
      const res = await fetch(`${rt.url}${init.path}`, { headers: init.headers });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const events = (await res.text())
        .split('\n\n')
        .filter(Boolean)
        .map((block) => {
          const [ev, data] = block.split('\n');
          return { event: ev!.replace('event: ', ''), data: JSON.parse(data!.replace('data: ', '')) as any };
        });
      assert.equal(events.at(-1)!.event, 'summary');
      assert.equal(events.at(-1)!.data.attestStatus, 'verified');
      assert.ok(events.slice(0, -1).every((e) => e.event === 'check' && e.data.status === 'pass'));
    }
  });

  test('POST /v1/exports/verify: the good bundle, a tampered one and a forgery — API and CLI agree on every entry', async () => {
    const good = await upload(bundle);
    assert.equal(good.status, 200);
    const g = parseNdjson(await good.text());
    assert.equal(g.summary.attestStatus, 'verified');
    assert.deepEqual(g.checks, (await cliChecks(bundle)).report.checks);

    for (const member of ['data/advisory.jsonl.gz', 'export.json', 'checksums.txt']) {
      const file = await tampered(member);
      const res = await upload(file);
      assert.equal(res.status, 200, member);
      const api = parseNdjson(await res.text());
      assert.equal(api.summary.attestStatus, 'failed', member);
      assert.ok(api.summary.failed > 0);
      const cli = await cliChecks(file);
      assert.equal(cli.code, 3, member);
      assert.deepEqual(api.checks, cli.report.checks, `${member}: API and CLI report the same entries`);
      // A flipped byte in checksums.txt corrupts the line of some other file: that line is named.
      const named = member === 'checksums.txt' ? 'checksum:' : member;
      assert.ok(
        api.checks.some((c) => c.status === 'fail' && (c.check.endsWith(named) || c.check.startsWith(named))),
        `${member} is named: ${JSON.stringify(api.checks.filter((c) => c.status === 'fail'))}`,
      );
    }

    // Re-signed by another key that the bundle ships: integrity holds, the signer does not.
    const work = join(dir.path, 'resigned');
    await mkdir(work, { recursive: true });
    assert.equal((await run('tar', ['-xzf', bundle, '-C', work])).code, 0);
    const otherKey = join(dir.path, 'other.key');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', otherKey])).code, 0);
    const forged = join(dir.path, 'forged.tgz');
    assert.equal(
      (await run('openssl', ['pkey', '-in', otherKey, '-pubout', '-out', join(work, 'keys/export.pub.pem')])).code,
      0,
    );
    assert.equal((await run('tar', ['-czf', forged, '-C', work, '.'])).code, 0);
    const fres = await upload(forged);
    const f = parseNdjson(await fres.text());
    assert.equal(f.summary.attestStatus, 'failed');
    assert.deepEqual(f.checks, (await cliChecks(forged)).report.checks);
  });

  test('a truncated upload is reported, not a 500', async () => {
    const bytes = await readFile(bundle);
    const cut = join(dir.path, 'truncated.tgz');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const res = await upload(cut);
    assert.equal(res.status, 200);
    const { checks, summary } = parseNdjson(await res.text());
    assert.equal(summary.attestStatus, 'failed');
    assert.equal(checks[0]!.check, 'archive');
    assert.equal(checks[0]!.status, 'fail');
  });

  test('errors: 404 for another tenant, 409 for an unfinished run, 415 for a wrong type, 401 without a token', async () => {
    const other = await fetch(`${rt.url}/v1/exports/runs/${runId}/verify`, { headers: auth(otherToken, 'globex') });
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { code: string }).code, 'EXPORT_RUN_NOT_FOUND');

    const profile = await call('POST', '/v1/exports/profiles', {
      name: 'later',
      adapter: 'json:raw',
      filter: { kinds: ['advisory'] },
    });
    // A run cancelled right after it was created (the worker may win the race and finish it
    // first: then try again) has nothing to verify.
    let checked = false;
    for (let attempt = 0; attempt < 5 && !checked; attempt++) {
      const queued = await call('POST', '/v1/exports/runs', { profileId: profile.body.id });
      await call('POST', `/v1/exports/runs/${queued.body.id}/cancel`);
      const state = await call('GET', `/v1/exports/runs/${queued.body.id}`);
      if (state.body.status === 'succeeded') continue;
      const unfinished = await fetch(`${rt.url}/v1/exports/runs/${queued.body.id}/verify`, { headers: auth() });
      assert.equal(unfinished.status, 409);
      assert.equal(((await unfinished.json()) as { code: string }).code, 'EXPORT_RUN_NOT_FINISHED');
      checked = true;
    }
    assert.ok(checked, 'a run that did not succeed was found');

    const wrongType = await upload(bundle, { 'content-type': 'text/plain' });
    assert.equal(wrongType.status, 415);
    await wrongType.arrayBuffer();
    const anon = await fetch(`${rt.url}/v1/exports/runs/${runId}/verify`);
    assert.equal(anon.status, 401);
  });
});
