/**
 * The real `trivy` (v0.74.0, built from the module proxy: testkit trivyBinary) scans with our
 * exports and nothing else (issue #14 item 3, third bullet). The datasets' OSV advisories, Alpine
 * secdb files and Maven index rows are imported into the sources store on PostgreSQL with the real
 * importers; the `trivy:db` and `trivy:java-db` exports of the ledger snapshot are placed in a
 * temp trivy cache dir (`<cache>/db/{trivy.db,metadata.json}`, `<cache>/java-db/{trivy-java.db,
 * metadata.json}`, spec §1.7 option B); trivy runs with `--skip-db-update --skip-java-db-update
 * --offline-scan` inside an empty network namespace (`unshare -n`) over fixtures this test writes:
 * an Alpine 3.11 rootfs holding a jar without pom.properties (identified only through the Java DB
 * by its SHA-1; Trivy reads jars in rootfs/image scans, not in fs scans), and a project dir with a
 * package-lock.json, a requirements.txt, a go.mod and a Cargo.lock (`trivy fs`).
 *
 * Package versions are picked from the source records, and the expected findings (vulnerability
 * ids and fixed versions) are computed from the same records, not written by hand:
 * - language packages: packages that exactly one record names in the ecosystem; the vulnerable
 *   version is a range's `introduced` version (so inside that range by definition, and not one of
 *   the record's fixed versions); a second package at its single range's `fixed` version must give
 *   nothing;
 * - Alpine: packages in one secdb record whose versions are plain `x.y.z-rN`; installed = the
 *   smallest fixed version, so every entry fixed later is expected and the ones fixed at or before
 *   it are not;
 * - duplicates from two sources (testing/trivy-picks.ts duplicatePicks): a package two databases
 *   state the same id for (in the datasets: github.com/aws/aws-sdk-go CVE-2020-8911, GHSA says
 *   fixed in 1.34.0, the Go vulndb says unfixed), installed at the fixed version of the source that
 *   loses by the documented precedence — Trivy must report it with the winner's (empty) fix.
 * KEEP_SCAN_DIR=1 keeps the temp dir (cache + fixtures) for running trivy by hand.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { datasetsDir, needGo, needService, needTool, run, tempDir, trivyBinary } from '@stella/testkit';
import { createStagingSink } from '../../bundle/staging-sink.js';
import { openLedger } from '../../sources/ledger.js';
import type { SourceRecord } from '../../sources/source-record.js';
import { importArray, importFile, jsonFilesUnder, openSourcesDb, type SourcesDb } from '../../testing/sources-db.js';
import { getAdapter } from '../registry.js';
import { alpinePicks, duplicatePicks, languagePicks, type LangPick } from '../../testing/trivy-picks.js';

const skip = needGo() || needTool('unshare') || needTool('python3') || (await needService('postgres'));
const TENANT = 'trivy-scan';

/** A stored-entries zip (Python's zipfile, fixed timestamps): a jar with only a bare manifest. */
async function writeJar(path: string): Promise<Buffer> {
  const script = [
    'import sys, zipfile',
    "z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED)",
    "for name, data in [('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\\r\\nCreated-By: stella test\\r\\n\\r\\n'), ('fixture/Fixture.class', 'not a class')]:",
    '    i = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))',
    '    z.writestr(i, data)',
    'z.close()',
  ].join('\n');
  const r = await run('python3', ['-c', script, path]);
  assert.equal(r.code, 0, r.stderr.toString());
  return readFile(path);
}

interface Finding {
  VulnerabilityID: string;
  PkgName: string;
  InstalledVersion: string;
  FixedVersion?: string;
}

async function trivyScan(
  mode: 'rootfs' | 'fs',
  cache: string,
  target: string,
): Promise<{ target: string; type: string; vulns: Finding[] }[]> {
  const trivy = await trivyBinary();
  const args = [
    '-n',
    trivy,
    mode,
    '--cache-dir',
    cache,
    '--skip-db-update',
    '--skip-java-db-update',
    '--offline-scan',
    '--skip-version-check',
    '--disable-telemetry',
    '--scanners',
    'vuln',
    '--format',
    'json',
    '--quiet',
    target,
  ];
  const r = await run('/usr/bin/unshare', args, { timeoutMs: 600_000, env: { ...process.env, HOME: cache } });
  assert.equal(r.code, 0, `trivy ${mode}: ${r.stderr.toString()}`);
  const report = JSON.parse(r.stdout.toString()) as {
    Results?: { Target: string; Type: string; Vulnerabilities?: Finding[] }[];
  };
  return (report.Results ?? []).map((x) => ({ target: x.Target, type: x.Type, vulns: x.Vulnerabilities ?? [] }));
}

const line = (pkg: string, ver: string, id: string, fixed: string) => `${pkg}@${ver} ${id} fixed=${fixed}`;

describe('the real trivy scans offline with our trivy.db and trivy-java.db', { skip }, () => {
  let s: SourcesDb;
  let dir: { path: string; cleanup: () => Promise<void> };
  let advisories: SourceRecord[];
  let cache: string;
  let picks: LangPick[];
  let jarSha1: string;
  /** The Maven pick the jar stands for (one jar; other Maven picks are not in the fixtures). */
  let maven: LangPick;

  before(async () => {
    dir = await tempDir('stella-trivy-scan-');
    s = await openSourcesDb('pg');
    const osvFiles = (
      await Promise.all(
        ['osv/go-vulndb', 'osv/rustsec', 'osv/pypi-pysec', 'osv/ghsa-trivy-db-testdata'].map((d) =>
          jsonFilesUnder(join(datasetsDir, d)),
        ),
      )
    ).flat();
    const osv = await importArray(s.db, TENANT, osvFiles, 'advisory', { format: 'osv' });
    assert.equal(osv.rejectedCount, 0, JSON.stringify(osv.rejected.slice(0, 3)));
    for (const v of ['v3.10', 'v3.11'])
      for (const f of ['main.json', 'community.json'])
        assert.equal(
          (await importFile(s.db, TENANT, join(datasetsDir, 'alpine-secdb', v, f), 'advisory')).rejectedCount,
          0,
        );
    const ledger = openLedger(s.db, TENANT);
    const head = await ledger.head();
    advisories = [];
    for await (const r of ledger.iterate({ kinds: ['advisory'] }, head)) advisories.push(r);
    picks = languagePicks(advisories, 3);
    // Plus the packages two sources disagree on (one version per package: go.mod holds one).
    const dups = duplicatePicks(advisories).filter((d) => !picks.some((p) => p.slug === d.slug && p.name === d.name));
    assert.ok(dups.length > 0, 'a package two sources state the same id for');
    picks.push(...dups);

    // The jar: a Maven package picked from the advisories, its Maven index row (GAV + the jar's
    // SHA-1) imported as JSON Lines beside the dataset's real index rows.
    maven = picks.find((p) => p.slug === 'maven' && p.expect.size > 0)!;
    const project = join(dir.path, 'project');
    await mkdir(project, { recursive: true });
    // Trivy analyzes jars in rootfs/image scans only (fs scans read lock files): it goes into the
    // Alpine rootfs, as in an image.
    const root = join(dir.path, 'alpine-root');
    await mkdir(join(root, 'opt/app/lib'), { recursive: true });
    const jar = await writeJar(join(root, 'opt/app/lib', 'app-bundle.jar'));
    jarSha1 = createHash('sha1').update(jar).digest('hex');
    const [groupId, artifactId] = maven.name.split(':');
    const jsonl = join(dir.path, 'fixture-index.jsonl');
    await writeFile(
      jsonl,
      `${JSON.stringify({ groupId, artifactId, version: maven.version, sha1: jarSha1, archiveType: 'jar' })}\n`,
    );
    for (const f of [
      join(datasetsDir, 'maven-index/derived-from-cyclonedx/dropwizard-1.3.15.tsv'),
      join(datasetsDir, 'maven-index/trivy-java-db-testdata/abbot.tsv.golden'),
      jsonl,
    ])
      assert.equal((await importFile(s.db, TENANT, f, 'artifact')).rejectedCount, 0, f);
    const artifacts: SourceRecord[] = [];
    const head2 = await ledger.head();
    for await (const r of ledger.iterate({ kinds: ['artifact'] }, head2)) artifacts.push(r);

    // Both exports of the snapshot, then Trivy's cache layout.
    cache = join(dir.path, 'cache');
    for (const [id, recs, sub, files] of [
      ['trivy:db', advisories, 'db', ['trivy/trivy.db', 'trivy/metadata.json']],
      ['trivy:java-db', artifacts, 'java-db', ['trivy-java/trivy-java.db', 'trivy-java/metadata.json']],
    ] as const) {
      const adapter = getAdapter(id);
      const v = adapter.validateOptions({});
      assert.ok(v.ok);
      const sink = await createStagingSink(join(dir.path, `out-${sub}`));
      await adapter.write({
        records: (async function* () {
          yield* recs;
        })(),
        options: v.options,
        out: sink,
        signal: new AbortController().signal,
        progress: () => undefined,
        exportTime: null,
      });
      await mkdir(join(cache, sub), { recursive: true });
      for (const f of files) await writeFile(join(cache, sub, f.split('/')[1]!), await readFile(join(sink.dir, f)));
    }

    // Language fixtures.
    const by = (slug: string) => picks.filter((p) => p.slug === slug);
    const npm = by('npm');
    await writeFile(
      join(project, 'package-lock.json'),
      JSON.stringify(
        {
          name: 'fixture',
          version: '1.0.0',
          lockfileVersion: 3,
          requires: true,
          packages: {
            '': {
              name: 'fixture',
              version: '1.0.0',
              dependencies: Object.fromEntries(npm.map((p) => [p.name, p.version])),
            },
            ...Object.fromEntries(npm.map((p) => [`node_modules/${p.name}`, { version: p.version }])),
          },
        },
        null,
        2,
      ),
    );
    await writeFile(
      join(project, 'requirements.txt'),
      by('pip')
        .map((p) => `${p.name}==${p.version}\n`)
        .join(''),
    );
    await writeFile(
      join(project, 'go.mod'),
      `module example.com/fixture\n\ngo 1.22\n\nrequire (\n${by('go')
        .map((p, i) => `\t${p.name} ${p.version}${i > 0 ? ' // indirect' : ''}\n`)
        .join('')})\n`,
    );
    await writeFile(
      join(project, 'Cargo.lock'),
      `version = 3\n\n${by('cargo')
        .map(
          (p) =>
            `[[package]]\nname = "${p.name}"\nversion = "${p.version}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n`,
        )
        .join('\n')}`,
    );
  });
  after(async () => {
    await s?.close();
    if (process.env.KEEP_SCAN_DIR) console.error('kept', dir.path);
    else await dir?.cleanup();
  });

  test('trivy rootfs: an Alpine 3.11 rootfs with a jar known only by its SHA-1 reports exactly what the sources say', async () => {
    const release = '3.11';
    const alpine = alpinePicks(advisories, release, 4);
    const root = join(dir.path, 'alpine-root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'lib/apk/db'), { recursive: true });
    await writeFile(join(root, 'etc/alpine-release'), `${release}.6\n`);
    await writeFile(
      join(root, 'lib/apk/db/installed'),
      alpine.map((p) => `P:${p.name}\nV:${p.version}\nA:x86_64\no:${p.name}\nL:MIT\n\n`).join(''),
    );
    const results = await trivyScan('rootfs', cache, root);
    const os = results.filter((r) => r.type === 'alpine');
    assert.equal(os.length, 1, JSON.stringify(results.map((r) => [r.target, r.type])));
    const got = os[0]!.vulns.map((v) => line(v.PkgName, v.InstalledVersion, v.VulnerabilityID, v.FixedVersion ?? ''));
    const want = alpine.flatMap((p) => [...p.expect].map(([id, fixed]) => line(p.name, p.version, id, fixed)));
    assert.ok(want.length >= 2, `${want.length} expected findings`);
    assert.deepEqual(got.sort(), want.sort());
    // The jar (no pom.properties, a bare MANIFEST.MF, a file name without a version): identified
    // only through the Java DB row of its SHA-1, then matched against the maven:: advisories.
    const jars = results.filter((r) => r.type === 'jar');
    assert.equal(jars.length, 1, `jar ${jarSha1}: ${JSON.stringify(results.map((r) => [r.target, r.type]))}`);
    assert.deepEqual(
      jars[0]!.vulns.map((v) => line(v.PkgName, v.InstalledVersion, v.VulnerabilityID, v.FixedVersion ?? '')).sort(),
      [...maven.expect].map(([id, fixed]) => line(maven.name, maven.version, id, fixed)).sort(),
    );
    assert.equal(results.length, 2, 'nothing else found');
  });

  test('trivy fs: package-lock.json, requirements.txt, go.mod and Cargo.lock report exactly what the sources say', async () => {
    const results = await trivyScan('fs', cache, join(dir.path, 'project'));
    assert.deepEqual(results.map((r) => r.type).sort(), ['cargo', 'gomod', 'npm', 'pip']);
    const got = results
      .flatMap((r) => r.vulns)
      .map((v) => line(v.PkgName, v.InstalledVersion, v.VulnerabilityID, v.FixedVersion ?? ''));
    const want = picks
      .filter((p) => p.slug !== 'maven')
      .flatMap((p) => [...p.expect].map(([id, fixed]) => line(p.name, p.version, id, fixed)));
    for (const slug of ['npm', 'pip', 'go', 'cargo'])
      assert.ok(
        picks.some((p) => p.slug === slug && p.expect.size > 0),
        `a vulnerable ${slug} pick`,
      );
    assert.deepEqual(got.sort(), want.sort());
  });
});
