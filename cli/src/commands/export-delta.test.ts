// `stella export make-delta` / `apply-delta` end to end: a directory delta, a signed export bundle
// holding one (verified first), the wrong base (exit 1 naming both digests), an unknown kind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStagingSink, createTrivyDbDelta, getAdapter, sealExportBundle } from '@stella/export-center';
import { iterate, trivyDatasetAdvisories } from '@stella/export-center/testing';
import { resolveSigner } from '@stella/platform/keys';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

const skip = needTool('openssl');

describe('stella export make-delta / apply-delta', { skip, timeout: 300_000 }, () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let a: string;
  let b: string;
  async function exportDb(name: string, mutate: boolean): Promise<string> {
    const records = await trivyDatasetAdvisories(datasetsDir, { osv: ['osv/rustsec'], alpine: ['v3.10'] });
    const recs = mutate ? records.filter((_, i) => i % 50 !== 3) : records; // 2 % of the records withdrawn
    const adapter = getAdapter('trivy:db');
    const v = adapter.validateOptions({ ociLayout: false });
    assert.ok(v.ok);
    const s = await createStagingSink(join(dir.path, name));
    await adapter.write({
      records: iterate(recs),
      options: v.options,
      out: s,
      signal: new AbortController().signal,
      progress: () => undefined,
      exportTime: '2026-11-27T04:00:00.000Z',
    });
    return join(s.dir, 'trivy');
  }
  before(async () => {
    dir = await tempDir('stella-cli-delta-');
    a = await exportDb('a', false);
    b = await exportDb('b', true);
  });
  after(async () => {
    await dir?.cleanup();
  });

  test('make-delta then apply-delta rebuild db.tar.gz and trivy.db byte for byte', async () => {
    const delta = join(dir.path, 'delta');
    const mk = await runCli([
      'export',
      'make-delta',
      '--base',
      join(a, 'db.tar.gz'),
      '--target',
      join(b, 'db.tar.gz'),
      delta,
    ]);
    assert.equal(mk.code, 0, mk.stderr);
    assert.match(mk.stdout, /Wrote trivy:db-delta delta/);
    const out = join(dir.path, 'out');
    const ap = await runCli(['export', 'apply-delta', '--base', join(a, 'db.tar.gz'), '--out', out, delta]);
    assert.equal(ap.code, 0, ap.stderr);
    for (const f of ['trivy.db', 'db.tar.gz', 'metadata.json'])
      assert.ok((await readFile(join(out, f))).equals(await readFile(join(b, f))), f);
    // GNU tar and sha256sum agree with what apply-delta printed.
    const sums = await run('sha256sum', [join(out, 'db.tar.gz')]);
    assert.ok(ap.stdout.includes(`sha256:${sums.stdout.toString().split(' ')[0]}`));

    const wrong = await runCli([
      'export',
      'apply-delta',
      '--base',
      join(b, 'db.tar.gz'),
      '--out',
      join(dir.path, 'w'),
      delta,
    ]);
    assert.equal(wrong.code, 1);
    const m = JSON.parse(await readFile(join(delta, 'delta.json'), 'utf8'));
    assert.ok(
      wrong.stderr.includes(m.base.archive.digest) && wrong.stderr.includes(m.target.archive.digest),
      wrong.stderr,
    );

    const unknown = join(dir.path, 'unknown');
    await mkdir(unknown);
    await writeFile(join(unknown, 'delta.json'), JSON.stringify({ kind: 'grype:db-delta' }));
    const u = await runCli(['export', 'apply-delta', '--base', join(a, 'db.tar.gz'), unknown]);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /unknown delta kind "grype:db-delta"; this build applies: trivy:db-delta/);
  });

  test('a signed export bundle holding the delta: verified with --key, then applied; another key is refused', async () => {
    const key = join(dir.path, 'export.key');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    const pub = join(dir.path, 'export.pub.pem');
    assert.equal((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code, 0);
    const other = join(dir.path, 'other.key');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', other])).code, 0);
    const otherPub = join(dir.path, 'other.pub.pem');
    assert.equal((await run('openssl', ['pkey', '-in', other, '-pubout', '-out', otherPub])).code, 0);
    const signer = await resolveSigner(`file:${key}`);
    const staging = await createStagingSink(join(dir.path, 'runs'));
    const bundle = join(dir.path, 'delta.tgz');
    try {
      await createTrivyDbDelta({ base: join(a, 'db.tar.gz'), target: join(b, 'db.tar.gz'), out: staging });
      const sealed = await sealExportBundle(
        staging,
        {
          profile: { id: 'p-1', name: 'trivy-delta', version: 1 },
          tenant: 'acme',
          adapter: { id: 'trivy:db', version: '2', options: {} },
          filter: { kinds: ['advisory'] },
          ledgerSeq: 7n,
          counts: {},
          exportTime: null,
        },
        signer,
      );
      await writeFile(bundle, await readFile(sealed.archivePath));
    } finally {
      await staging.dispose();
      await signer.close();
    }
    const out = join(dir.path, 'from-bundle');
    const ok = await runCli([
      'export',
      'apply-delta',
      '--key',
      pub,
      '--base',
      join(a, 'db.tar.gz'),
      '--out',
      out,
      bundle,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok((await readFile(join(out, 'trivy.db'))).equals(await readFile(join(b, 'trivy.db'))));
    const bad = await runCli([
      'export',
      'apply-delta',
      '--key',
      otherPub,
      '--base',
      join(a, 'db.tar.gz'),
      '--out',
      join(dir.path, 'x'),
      bundle,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /does not verify/);
  });
});
