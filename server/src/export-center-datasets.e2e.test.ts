/**
 * Issue #10 acceptance, end to end on real PostgreSQL 15 through `startRuntime` and the real
 * `stella` process: every dataset the importers accept (../shared/datasets, SOURCE.md for
 * licences — OSV from the Go vulndb, RustSec, PyPI and the GHSA fixtures as global advisories;
 * Alpine secdb; OpenVEX, CSAF and CycloneDX VEX; CycloneDX and SPDX SBOMs) plus findings JSONL
 * derived from the Go advisories and a policy pack directory, imported with
 * `stella sources import`. Then for each of json:raw, json:policy and mirror:full: profile → run,
 * followed over SSE to its final event → download over HTTP → `stella export verify --key` passes;
 * a second run of the same profile version downloads as the same bytes (ADR 0012); a byte flipped
 * in a data file (re-packed with GNU tar) fails with exit 3 naming that file; both DSSE envelopes
 * verify with `openssl pkeyutl` over PAE and with securesystemslib; `sha256sum -c` accepts
 * checksums.txt. A filter matching nothing gives an empty export that verifies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SYSTEM_PYTHON,
  createTestDatabase,
  datasetsDir,
  dssePae,
  needService,
  needTool,
  opensslVerifyDsse,
  repoRoot,
  run,
  sslibVerifyDsse,
  tempDir,
} from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { readSse } from '@stella/export-center/testing';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const skip = (await needService('postgres')) || needTool('tar') || needTool('sha256sum') || needTool('openssl');
const noSslib = needTool(SYSTEM_PYTHON, { args: ['-c', 'import securesystemslib.signer'] });
const TENANT = 'acme';
const BIN = join(repoRoot, 'cli/bin/stella.js');
const TSX = import.meta.resolve('tsx');
const ADAPTERS = ['json:raw', 'json:policy', 'mirror:full'] as const;
const ALL_KINDS = ['advisory', 'finding', 'policy', 'sbom', 'vex'];
/** Files in the dataset folders that are metadata, not sources (ROLIE feeds, VEX-repository manifests). */
const METADATA = /ROLIE|provider-metadata|manifest\.json$|index\.json$|vex-repository\.json$/;

/** The real `stella` entry as a child process: exit code and both streams. */
function stella(argv: string[], timeoutMs = 300_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=development', '--import', TSX, BIN, ...argv],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function filesUnder(dir: string, re: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && re.test(e.name)) out.push(join(e.parentPath, e.name));
  return out.sort();
}

interface VerifyReport {
  ok: boolean;
  signerChecked: boolean;
  tenant?: string;
  profile?: { id: string; name: string; version: number };
  checks: { check: string; status: string; detail?: string }[];
}

describe('export center over every dataset: import → three adapters → download → offline verify', { skip }, () => {
  let rt: Runtime;
  let dir: { path: string; cleanup: () => Promise<void> };
  let drop: () => Promise<void>;
  let token: string;
  let pub: string;
  const as = () => ['--server', rt.url, '--token', token, '--tenant', TENANT];

  before(async () => {
    const db = await createTestDatabase('export_datasets');
    drop = db.drop;
    dir = await tempDir('stella-export-datasets-');
    // The signing key is made by openssl; the verifier is given its public half as the trusted key.
    const key = join(dir.path, 'export.key.pem');
    pub = join(dir.path, 'export.pub.pem');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    assert.equal((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code, 0);
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '2',
        STELLA_DATABASE_URL: db.url,
        STELLA_BUS_URL: `memory://export-datasets-${Date.now()}`,
        STELLA_EXPORT_POLL_MS: '50',
        STELLA_SIGNING_KEY: `file:${key}`,
        STELLA_EXPORT_GLOBAL_SOURCE_TENANTS: TENANT,
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
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any };
  };

  /** POST a run, follow its SSE stream to the final event, return the finished run. */
  async function runViaSse(profileId: string) {
    const created = await call('POST', '/v1/exports/runs', { profileId });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const res = await fetch(`${rt.url}/v1/exports/runs/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${token}`, 'x-stella-tenant': TENANT },
      signal: AbortSignal.timeout(240_000),
    });
    assert.equal(res.status, 200);
    const events = await readSse(res, (es) => es.some((e) => e.event === 'final'));
    const final = events.find((e) => e.event === 'final');
    assert.ok(final, `no final event in ${events.map((e) => e.event).join(',')}`);
    assert.equal(JSON.parse(final.data).status, 'succeeded', final.data);
    const progress = events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
    assert.ok(progress.length > 0);
    assert.equal(progress.at(-1).done, progress.at(-1).total);
    assert.ok(events.some((e) => e.event === 'artifact'));
    const done = await call('GET', `/v1/exports/runs/${created.body.id}`);
    assert.equal(done.body.status, 'succeeded');
    return done.body;
  }

  /** Downloads over HTTP; checks ETag and X-Stella-Export-Run; writes `<name>.tgz`. */
  async function download(runId: string, name: string) {
    const res = await fetch(`${rt.url}/v1/exports/runs/${runId}/download`, {
      headers: { authorization: `Bearer ${token}`, 'x-stella-tenant': TENANT },
    });
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('etag'), `"sha256:${sha256(bytes)}"`);
    assert.equal(res.headers.get('x-stella-export-run'), runId);
    const path = join(dir.path, `${name}.tgz`);
    await writeFile(path, bytes);
    return { path, bytes };
  }

  async function unpack(tgz: string, name: string): Promise<string> {
    const out = join(dir.path, name);
    await mkdir(out, { recursive: true });
    const r = await run('tar', ['-xzf', tgz, '-C', out]);
    assert.equal(r.code, 0, r.stderr.toString());
    return out;
  }

  async function verifyJson(bundle: string): Promise<{ code: number | null; report: VerifyReport; stderr: string }> {
    const r = await stella(['export', 'verify', bundle, '--key', pub, '--json'], 120_000);
    return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
  }

  let planned: { records: number; byKind: { kind: string; records: number }[] };

  test('stella sources import: every dataset the importers accept, findings JSONL and a policy pack', async () => {
    // OSV advisories, global (readable by every tenant): one file per request, all accepted.
    const osv = await filesUnder(join(datasetsDir, 'osv'), /\.json$/);
    assert.ok(osv.length > 1000, `OSV dataset files: ${osv.length}`);
    const a = await stella([
      'sources',
      'import',
      join(datasetsDir, 'osv'),
      '--kind',
      'advisory',
      '--global',
      '--json',
      ...as(),
    ]);
    assert.equal(a.code, 0, a.stderr);
    const osvOut = JSON.parse(a.stdout) as { files: number; imported: number; rejected: number };
    assert.deepEqual([osvOut.files, osvOut.imported, osvOut.rejected], [osv.length, osv.length, 0]);

    // Findings derived from the Go advisories (one scanned image), with one malformed line.
    const goFiles = (await filesUnder(join(datasetsDir, 'osv/go-vulndb'), /\.json$/)).slice(0, 40);
    const lines: string[] = [];
    for (const f of goFiles) {
      const doc = JSON.parse(await readFile(f, 'utf8')) as { id: string; affected?: { package?: { name?: string } }[] };
      const name = doc.affected?.[0]?.package?.name;
      if (name)
        lines.push(
          JSON.stringify({
            id: `img-1/${doc.id}`,
            vulnerability: doc.id,
            package: { ecosystem: 'Go', name },
            status: 'open',
            artifact: 'registry.example/app@sha256:' + 'ab'.repeat(32),
          }),
        );
    }
    const badLine = 3;
    lines.splice(badLine - 1, 0, '{"id": "img-1/broken", "package": {"name": "x"}}');
    const findings = join(dir.path, 'findings.jsonl');
    await writeFile(findings, `${lines.join('\n')}\n`);
    const pack = join(dir.path, 'packs', 'baseline');
    await mkdir(join(pack, 'rules'), { recursive: true });
    await writeFile(
      join(pack, 'policy-pack.json'),
      JSON.stringify({ apiVersion: 'stella.dev/policy-pack/v1', name: 'baseline', version: '1.0.0' }),
    );
    await writeFile(
      join(pack, 'rules', 'deny.rego'),
      'package stella\ndeny[msg] { input.severity == "critical"; msg := "no" }\n',
    );

    const roots = ['alpine-secdb', 'vex', 'sbom'].map((d) => join(datasetsDir, d));
    const b = await stella(['sources', 'import', ...roots, findings, join(dir.path, 'packs'), '--json', ...as()]);
    assert.equal(b.code, 1, 'metadata files and the bad finding are rejected: exit 1');
    const out = JSON.parse(b.stdout) as {
      results: { file: string; format?: string; imported: number; rejected: { position: string; code: string }[] }[];
    };
    for (const r of out.results.filter((x) => x.rejected.length > 0)) {
      if (r.file === findings) {
        assert.deepEqual(
          r.rejected.map((x) => [x.position, x.code]),
          [[`line ${badLine}`, 'SOURCE_RECORD_INVALID']],
        );
        assert.equal(r.imported, lines.length - 1);
      } else assert.match(r.file, METADATA, `only metadata files are refused: ${r.file}`);
    }
    for (const f of ['alpine-secdb', 'openvex', 'csaf', 'cyclonedx', 'spdx', 'findings', 'policy-pack'])
      assert.ok(
        out.results.some((x) => x.format === f && x.imported > 0),
        `${f} imported`,
      );

    const counts = await call('GET', '/v1/sources');
    const kinds = Object.fromEntries(
      (counts.body.kinds as { kind: string; records: number; globalRecords: number }[]).map((k) => [k.kind, k]),
    );
    assert.equal(kinds['advisory']!.globalRecords, osv.length);
    assert.equal(kinds['finding']!.records, lines.length - 1);
    assert.equal(kinds['policy']!.records, 1);
    assert.ok(kinds['vex']!.records > 10 && kinds['sbom']!.records > 10);

    const plan = await call('POST', '/v1/exports/plan', {
      profile: { name: 'all', adapter: 'json:raw', filter: { kinds: ALL_KINDS } },
    });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
    planned = plan.body;
    assert.equal(
      planned.records,
      Object.values(kinds).reduce((n, k) => n + k.records + k.globalRecords, 0),
    );
  });

  for (const adapter of ADAPTERS)
    test(`${adapter}: run (SSE) → download → verify; a rerun is byte-identical; a flipped byte is named; openssl and securesystemslib agree`, async (ctx) => {
      assert.ok(planned, 'the import test ran first');
      const p = await call('POST', '/v1/exports/profiles', {
        name: `everything ${adapter}`,
        adapter,
        filter: { kinds: ALL_KINDS },
      });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      const first = await runViaSse(p.body.id);
      const second = await runViaSse(p.body.id);
      assert.notEqual(first.id, second.id);
      assert.deepEqual([first.profile, first.ledgerSeq], [second.profile, second.ledgerSeq]);
      assert.equal(first.progress.total, planned.records);
      const tag = adapter.replace(':', '-');
      const a = await download(first.id, `${tag}-a`);
      const b = await download(second.id, `${tag}-b`);
      // Byte-identical bundles from two runs (ADR 0012): compared by the sha256 of the downloads.
      assert.equal(sha256(a.bytes), sha256(b.bytes));
      assert.equal(`sha256:${sha256(a.bytes)}`, first.result.archive.digest);
      assert.equal(first.result.archive.digest, second.result.archive.digest);

      const ok = await verifyJson(a.path);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.report.ok, true);
      assert.equal(ok.report.signerChecked, true);
      assert.deepEqual(
        ok.report.checks.filter((c) => c.status !== 'pass'),
        [],
      );
      assert.equal(ok.report.tenant, TENANT);
      assert.deepEqual(ok.report.profile, { id: p.body.id, name: `everything ${adapter}`, version: 1 });

      const x = await unpack(a.path, `${tag}-x`);
      const sums = await run('sha256sum', ['--strict', '-c', 'checksums.txt'], { cwd: x });
      assert.equal(sums.code, 0, sums.stdout.toString() + sums.stderr.toString());
      const manifestBytes = await readFile(join(x, 'export.json'));
      const manifest = JSON.parse(manifestBytes.toString('utf8'));
      assert.equal(manifest.tenant, TENANT);
      assert.equal(manifest.run, undefined);
      assert.ok(!manifestBytes.includes(first.id) && !manifestBytes.includes(second.id), 'no run id in export.json');
      assert.equal(manifest.counts.records, planned.records);
      for (const k of planned.byKind) assert.equal(manifest.counts[k.kind], k.records, k.kind);
      const fileChecks = ok.report.checks.filter((c) => c.check.startsWith('file:')).map((c) => c.check.slice(5));
      assert.deepEqual(
        fileChecks,
        manifest.files.map((f: { path: string }) => f.path),
      );
      assert.ok(manifest.files.length >= ALL_KINDS.length);

      // Independent verifiers on the detached manifest signature and the in-toto envelope.
      assert.ok((await dssePae(join(x, 'export.dsse.json'))).payload.equals(manifestBytes));
      for (const name of ['export.dsse.json', 'export.intoto.dsse.json']) {
        const o = await opensslVerifyDsse(join(x, name), pub, dir.path);
        assert.equal(o.code, 0, `${name}: ${o.stderr.toString()}`);
        assert.match(o.stdout.toString(), /Signature Verified Successfully/);
        if (noSslib) ctx.diagnostic(`securesystemslib check skipped: ${noSslib}`);
        else {
          const s = await sslibVerifyDsse(join(x, name), pub);
          assert.equal(s.code, 0, `${name}: ${s.stderr.toString()}`);
          assert.match(s.stdout.toString(), /^1\/1 valid/);
        }
      }

      // One byte flipped in the first data file, re-packed by GNU tar: exit 3 naming that file only.
      const victim = manifest.files[0].path as string;
      const t = await unpack(a.path, `${tag}-t`);
      const body = await readFile(join(t, victim));
      body[Math.floor(body.length / 2)]! ^= 0x01;
      await writeFile(join(t, victim), body);
      const tampered = join(dir.path, `${tag}-tampered.tgz`);
      assert.equal((await run('tar', ['-czf', tampered, '-C', t, '.'])).code, 0);
      const human = await stella(['export', 'verify', tampered, '--key', pub], 120_000);
      assert.equal(human.code, 3, human.stdout + human.stderr);
      assert.match(human.stderr, new RegExp(`file:${victim.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      const bad = await verifyJson(tampered);
      assert.equal(bad.code, 3);
      assert.deepEqual(
        bad.report.checks
          .filter((c) => c.status === 'fail')
          .map((c) => c.check)
          .sort(),
        [`checksum:${victim}`, `file:${victim}`],
      );
      // The signatures themselves still verify (the manifest was not touched): openssl agrees.
      const t2 = await opensslVerifyDsse(join(t, 'export.dsse.json'), pub, dir.path);
      assert.equal(t2.code, 0);
    });

  test('a filter matching nothing: a clear empty export (plan says empty), and it verifies', async () => {
    for (const adapter of ADAPTERS) {
      const profile = {
        name: `nothing ${adapter}`,
        adapter,
        filter: { kinds: ['advisory'], packages: ['no-such-package-in-any-dataset'] },
      };
      const plan = await call('POST', '/v1/exports/plan', { profile });
      assert.deepEqual([plan.body.records, plan.body.empty], [0, true]);
      const p = await call('POST', '/v1/exports/profiles', profile);
      assert.equal(p.status, 201);
      const r = await runViaSse(p.body.id);
      assert.deepEqual(r.progress, { done: 0, total: 0 });
      const d = await download(r.id, `empty-${adapter.replace(':', '-')}`);
      const v = await verifyJson(d.path);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.report.ok, true);
      const x = await unpack(d.path, `empty-${adapter.replace(':', '-')}-x`);
      const m = JSON.parse(await readFile(join(x, 'export.json'), 'utf8'));
      assert.equal(m.counts.records, 0);
      if (adapter !== 'mirror:full') assert.deepEqual(m.files, []);
    }
  });
});
