/**
 * Export Center end to end through `startRuntime` on real PostgreSQL 15, with every real piece:
 * the sources importers and ledger, the json:raw adapter, the staging sink and sealer, the leased
 * run workers, the object store and the HTTP API. Real public datasets (../shared/datasets: OSV
 * from the Go vulndb, RustSec and PyPI — SOURCE.md) are imported, exported twice and
 * downloaded; the archives are unpacked with GNU tar and checked with sha256sum. Shows: two runs
 * over the same inputs give byte-identical archives (export.json names the inputs, not the run:
 * docs/adr/0012), told apart only by the download's X-Stella-Export-Run header; sources imported
 * after a run was created do not leak into it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createTestDatabase, datasetsDir, needService, needTool, run, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { importSource } from '@stella/export-center/sources';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const skip = (await needService('postgres')) || needTool('tar') || needTool('sha256sum');
const TENANT = 'acme';

async function osvFiles(dir: string, n: number): Promise<string[]> {
  const names = (await readdir(join(datasetsDir, dir))).filter((f) => f.endsWith('.json')).sort();
  return names.slice(0, n).map((f) => join(datasetsDir, dir, f));
}

describe('export center end to end (PostgreSQL, real importers, adapters and workers)', { skip }, () => {
  let rt: Runtime;
  let dir: { path: string; cleanup: () => Promise<void> };
  let drop: () => Promise<void>;
  let token: string;

  before(async () => {
    const db = await createTestDatabase('export_e2e');
    drop = db.drop;
    dir = await tempDir('stella-export-e2e-');
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '2',
        STELLA_DATABASE_URL: db.url,
        STELLA_BUS_URL: `memory://export-e2e-${Date.now()}`,
        STELLA_EXPORT_POLL_MS: '50',
      },
      {},
      { cwd: dir.path, services: SERVICES },
    );
    rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
    token = await mintDevToken(rt.devIssuer!, TENANT);
  });
  after(async () => {
    await rt?.close();
    await drop?.();
    await dir?.cleanup();
  });

  const call = async (method: string, path: string, json?: unknown) => {
    const res = await fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-stella-tenant': TENANT,
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  async function importFiles(files: string[], kind: 'advisory', global: boolean) {
    let imported = 0;
    for (const f of files) {
      const s = await importSource(createReadStream(f), {
        kind,
        scope: { tenant: TENANT, global },
        transaction: (fn) => rt.db.withTenant(TENANT, fn),
      });
      assert.equal(s.rejectedCount, 0, `${f}: ${JSON.stringify(s.rejected)}`);
      imported += s.imported;
    }
    return imported;
  }

  async function runToEnd(profileId: string) {
    const created = await call('POST', '/v1/exports/runs', { profileId });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const deadline = Date.now() + 45_000;
    for (;;) {
      const r = await call('GET', `/v1/exports/runs/${created.body.id}`);
      if (['succeeded', 'failed', 'cancelled'].includes(r.body.status)) return r.body;
      if (Date.now() > deadline) assert.fail(`run still ${r.body.status}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** Downloads the run's archive, checks it against its ETag, unpacks it with GNU tar. */
  async function downloadAndUnpack(runId: string, name: string) {
    const res = await fetch(`${rt.url}/v1/exports/runs/${runId}/download`, {
      headers: { authorization: `Bearer ${token}`, 'x-stella-tenant': TENANT },
    });
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('etag'), `"sha256:${createHash('sha256').update(bytes).digest('hex')}"`);
    assert.equal(res.headers.get('x-stella-export-run'), runId);
    const out = join(dir.path, name);
    await mkdir(out, { recursive: true });
    await writeFile(`${out}.tgz`, bytes);
    const tar = await run('tar', ['-xzf', `${out}.tgz`, '-C', out]);
    assert.equal(tar.code, 0, tar.stderr.toString());
    const sums = await run('sha256sum', ['-c', 'checksums.txt'], { cwd: out });
    assert.equal(sums.code, 0, sums.stdout.toString() + sums.stderr.toString());
    return { out, bytes };
  }

  async function advisoryIds(out: string): Promise<string[]> {
    const text = gunzipSync(await readFile(join(out, 'data/advisory.jsonl.gz'))).toString('utf8');
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { recordId?: string; id?: string }).recordId ?? '');
  }

  test('datasets → json:raw twice → byte-identical export.tgz; later imports do not leak in', async () => {
    const first = [...(await osvFiles('osv/go-vulndb', 40)), ...(await osvFiles('osv/rustsec', 20))];
    const advisories = await importFiles(first, 'advisory', true);
    assert.ok(advisories >= 50, `imported ${advisories}`);
    const p = await call('POST', '/v1/exports/profiles', {
      name: 'advisories',
      adapter: 'json:raw',
      adapterOptions: { compression: 'gzip' },
      filter: { kinds: ['advisory'] },
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const plan = await call('POST', '/v1/exports/plan', { profileId: p.body.id });
    assert.equal(plan.status, 200);

    const a = await runToEnd(p.body.id);
    const b = await runToEnd(p.body.id);
    for (const r of [a, b]) assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.equal(a.progress.total, plan.body.records);
    assert.equal(a.result.rerunHash, b.result.rerunHash);
    const ua = await downloadAndUnpack(a.id, 'a');
    const ub = await downloadAndUnpack(b.id, 'b');
    // Two runs, one pinned snapshot: the downloaded archives are the same bytes (ADR 0012) —
    // export.json names the tenant, profile version and ledger sequence, not the run.
    assert.notEqual(a.id, b.id);
    assert.equal(a.ledgerSeq, b.ledgerSeq);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    assert.equal(sha(ua.bytes), sha(ub.bytes));
    assert.ok(ua.bytes.equals(ub.bytes));
    assert.equal(a.result.archive.digest, b.result.archive.digest);
    assert.deepEqual((await readdir(join(ua.out, 'data'))).sort(), ['advisory.jsonl.gz']);
    const ma = JSON.parse(await readFile(join(ua.out, 'export.json'), 'utf8'));
    assert.equal(ma.tenant, TENANT);
    assert.equal(ma.run, undefined);
    assert.ok(!(await readFile(join(ua.out, 'export.json'), 'utf8')).includes(a.id), 'no run id in export.json');
    const before = await advisoryIds(ua.out);
    assert.equal(before.length, plan.body.byKind.find((k: { kind: string }) => k.kind === 'advisory').records);

    // A run created now pins the head; records imported afterwards stay out of it.
    const pinned = await call('POST', '/v1/exports/runs', { profileId: p.body.id });
    assert.equal(pinned.status, 202);
    const later = await osvFiles('osv/pypi-pysec', 10);
    assert.ok((await importFiles(later, 'advisory', true)) > 0);
    let c;
    for (;;) {
      c = (await call('GET', `/v1/exports/runs/${pinned.body.id}`)).body;
      if (c.status === 'succeeded') break;
      assert.ok(!['failed', 'cancelled'].includes(c.status), JSON.stringify(c));
      await new Promise((res) => setTimeout(res, 50));
    }
    const uc = await downloadAndUnpack(c.id, 'c');
    assert.deepEqual(await advisoryIds(uc.out), before);
    assert.equal(c.result.rerunHash, a.result.rerunHash);
    // A run created after the import sees them.
    const d = await runToEnd(p.body.id);
    const ud = await downloadAndUnpack(d.id, 'd');
    assert.ok((await advisoryIds(ud.out)).length > before.length);
  });
});
