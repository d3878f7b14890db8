/**
 * `stella sources import` against a real in-process server (startRuntime on PGlite): every
 * non-OSV dataset directory (Alpine secdb, VEX, SBOMs) by directory walk with per-file kind
 * detection, findings JSONL with bad lines, a policy pack directory, re-import → unchanged,
 * exit codes, the TTY progress bar, tenant isolation and who may write global advisories.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { datasetsDir, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { StellaClient, SourcesApi } from '@stella/sdk';
import { main } from '../main.js';
import { runCli } from '../testing/run-cli.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
const tokens: Record<string, string> = {};
before(async () => {
  dir = await tempDir('stella-cli-sources-');
  const config = loadConfig(
    // A 64 KiB body limit: source imports are streamed past it (the k3s OpenVEX document is 471 KB).
    {
      STELLA_HTTP_PORT: '0',
      STELLA_WORKERS: '0',
      STELLA_EXPORT_GLOBAL_SOURCE_TENANTS: 'tenant-a',
      STELLA_BODY_LIMIT: '65536',
    },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  for (const t of ['tenant-a', 'tenant-b']) tokens[t] = await mintDevToken(rt.devIssuer!, t);
  tokens['reader'] = await rt.devIssuer!.mint({
    tenant: 'tenant-c',
    subject: 'r',
    scopes: ['export:read'],
    ttlSeconds: 600,
  });
});
after(async () => {
  await rt?.close();
  await dir?.cleanup();
});

const as = (tenant: 'tenant-a' | 'tenant-b' | 'tenant-c', token = tokens[tenant]!) => [
  '--server',
  rt.url,
  '--token',
  token,
  '--tenant',
  tenant,
];
const counts = (tenant: string, token = tokens[tenant]!) =>
  new SourcesApi(new StellaClient({ server: rt.url, token, tenant }), tenant).counts();
const kindCount = (c: Awaited<ReturnType<typeof counts>>, kind: string) => c.kinds.find((k) => k.kind === kind);

describe('stella sources import', () => {
  test('dataset directories import with per-file detection; non-source JSON is rejected by name; re-import is unchanged', async () => {
    const roots = ['alpine-secdb', 'vex', 'sbom'].map((d) => join(datasetsDir, d));
    const r = await runCli(['sources', 'import', ...roots, '--json', ...as('tenant-a')]);
    const out = JSON.parse(r.stdout) as {
      imported: number;
      rejected: number;
      results: { file: string; kind?: string; format?: string; imported: number; rejected: { code: string }[] }[];
    };
    assert.equal(r.code, 1, 'metadata files (ROLIE, VEX repository manifests) are not sources');
    const rejectedFiles = out.results.filter((x) => x.rejected.length > 0).map((x) => x.file);
    assert.ok(rejectedFiles.length > 0);
    assert.ok(
      rejectedFiles.every((f) => /ROLIE|provider-metadata|manifest\.json|index\.json|vex-repository\.json/.test(f)),
      rejectedFiles.join('\n'),
    );
    const byFormat = (f: string) => out.results.filter((x) => x.format === f);
    assert.equal(byFormat('alpine-secdb').length, 4);
    // Alpine: one record per package of each secdb file (counted independently from the JSON).
    const { readFile } = await import('node:fs/promises');
    let alpinePackages = 0;
    for (const x of byFormat('alpine-secdb'))
      alpinePackages += (JSON.parse(await readFile(x.file, 'utf8')) as { packages: unknown[] }).packages.length;
    assert.equal(
      byFormat('alpine-secdb').reduce((n, x) => n + x.imported, 0),
      alpinePackages,
    );
    for (const f of ['openvex', 'csaf', 'cyclonedx', 'spdx']) assert.ok(byFormat(f).length > 0, f);
    const k3s = out.results.find((x) => x.file.endsWith(join('k3s-io', 'k3s', 'scan.openvex.json')))!;
    assert.equal(k3s.imported, 1, 'a body over STELLA_BODY_LIMIT is streamed, not refused');
    const c = await counts('tenant-a');
    assert.equal(kindCount(c, 'advisory')!.records, alpinePackages);
    assert.ok(kindCount(c, 'vex')!.records > 10 && kindCount(c, 'sbom')!.records > 10);

    const again = await runCli(['sources', 'import', ...roots, '--json', ...as('tenant-a')]);
    const second = JSON.parse(again.stdout) as { imported: number; unchanged: number };
    // Two vexhub OpenVEX documents (rancher/confd, k3s-io/helm-set-status) carry the same
    // "@id": they are two versions of one record, so each pass over both writes both again.
    // Everything else is unchanged.
    assert.equal(second.imported, 2);
    assert.equal(second.unchanged, out.imported - 2);
    const c2 = await counts('tenant-a');
    assert.deepEqual(
      c2.kinds.map((k) => [k.kind, k.records]),
      c.kinds.map((k) => [k.kind, k.records]),
    );

    // Tenant B sees none of A's records.
    const b = await counts('tenant-b');
    assert.deepEqual(b.kinds, []);
  });

  test('findings JSONL: bad lines are reported file:line, the rest imports; a policy pack directory is one record', async () => {
    const file = join(dir.path, 'findings.jsonl');
    const good = (id: string, severity = 'high') =>
      JSON.stringify({ id, vulnerability: 'CVE-2024-0001', package: { ecosystem: 'npm', name: 'lodash' }, severity });
    await writeFile(
      file,
      [
        good('f-1'),
        '{"id": "f-2", "vulnerability": ',
        good('f-3'),
        '{"id": "f-4", "vulnerability": 5, "package": {"name": "x"}}',
        '',
        good('f-5', 'critical'),
      ].join('\n'),
    );
    const r = await runCli(['sources', 'import', file, ...as('tenant-b')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${file}:line 2: SOURCE_SYNTAX`));
    assert.match(r.stderr, new RegExp(`${file}:line 4: SOURCE_RECORD_INVALID`));
    assert.match(r.stdout, /1 file\(s\): 3 imported, 0 unchanged, 2 rejected/);

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
    const p = await runCli(['sources', 'import', join(dir.path, 'packs'), ...as('tenant-b')]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /1 file\(s\): 1 imported/);
    assert.equal(kindCount(await counts('tenant-b'), 'policy')!.records, 1);
    // --kind that does not fit the file: the server cannot find a format for it.
    const wrong = await runCli(['sources', 'import', file, '--kind', 'sbom', ...as('tenant-b')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /SOURCE_FORMAT_UNKNOWN/);
  });

  test('Maven index rows: *.tsv by directory walk (kind artifact), JSON Lines with --kind artifact', async () => {
    const maven = join(dir.path, 'maven');
    await mkdir(maven, { recursive: true });
    const sha = (c: string) => c.repeat(40);
    await writeFile(join(maven, 'index.tsv'), `antlr\tantlr\t2.7.7\t\t${sha('a')}\ng\ta\t1\t\tN/A\n`);
    const r = await runCli(['sources', 'import', maven, ...as('tenant-b')]);
    assert.equal(r.code, 1, 'the N/A row is rejected');
    assert.match(r.stderr, /index\.tsv:line 2: SOURCE_RECORD_INVALID/);
    assert.match(r.stdout, /1 file\(s\): 1 imported, 0 unchanged, 1 rejected/);
    const jsonl = join(dir.path, 'maven.jsonl');
    await writeFile(jsonl, `${JSON.stringify({ groupId: 'g', artifactId: 'a', version: '1', sha1: sha('b') })}\n`);
    const j = await runCli(['sources', 'import', jsonl, '--kind', 'artifact', ...as('tenant-b')]);
    assert.equal(j.code, 0, j.stderr);
    assert.equal(kindCount(await counts('tenant-b'), 'artifact')!.records, 2);
  });

  test('global advisories: only an allowed tenant may write them; every tenant reads them', async () => {
    const osv = join(datasetsDir, 'osv', 'ghsa-trivy-db-testdata');
    const denied = await runCli(['sources', 'import', osv, '--global', ...as('tenant-b')]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /SOURCE_GLOBAL_FORBIDDEN/);
    const ok = await runCli(['sources', 'import', osv, '--global', '--json', ...as('tenant-a')]);
    assert.equal(ok.code, 0, ok.stderr);
    const n = (JSON.parse(ok.stdout) as { imported: number }).imported;
    assert.ok(n >= 5);
    for (const t of ['tenant-b'] as const) assert.equal(kindCount(await counts(t), 'advisory')!.globalRecords, n);
    assert.equal(kindCount(await counts('tenant-c', tokens['reader']), 'advisory')!.globalRecords, n);
    // A token without export:profile:manage cannot import at all.
    const reader = await runCli(['sources', 'import', osv, ...as('tenant-c', tokens['reader'])]);
    assert.equal(reader.code, 1);
    assert.match(reader.stderr, /SCOPE_FORBIDDEN/);
  });

  test('a progress bar on a terminal only', async () => {
    const file = join(dir.path, 'one.jsonl');
    await writeFile(file, JSON.stringify({ id: 'p-1', vulnerability: 'CVE-1', package: { name: 'a' } }) + '\n');
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    const chunks: Buffer[] = [];
    stderr.on('data', (c: Buffer) => chunks.push(c));
    const code = await main(['sources', 'import', file, ...as('tenant-b')], {
      stdout,
      stderr,
      env: { ...process.env },
      cwd: dir.path,
    });
    assert.equal(code, 0);
    assert.match(Buffer.concat(chunks).toString(), /\[\.+\] 0\/1 /);
    const plain = await runCli(['sources', 'import', file, ...as('tenant-b')]);
    assert.equal(plain.stderr, '');
    assert.match(plain.stdout, /0 imported, 1 unchanged/);
  });
});
