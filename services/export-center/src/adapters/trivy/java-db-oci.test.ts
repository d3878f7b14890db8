/**
 * `trivy:java-db` as the OCI artifact (issue #14 item 2: media type
 * `application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip`): the layout in the bundle has the
 * manifest shape Trivy v0.74.0 accepts (one layer of that type titled `javadb.tar.gz`, tag `1`);
 * our registry client pushes it to Debian's docker-registry on 127.0.0.1; skopeo reads it back
 * with the same digests; the real trivy pulls it (`--java-db-repository 127.0.0.1:<port>/…`, no
 * tag: Trivy appends `:1`) into an empty cache — the Trivy DB from the same registry
 * (`--db-repository`) — and a `trivy rootfs` scan identifies a jar without pom.properties only by
 * its SHA-1 through that Java DB and reports the maven:: advisories the sources state (the pick
 * and expected findings: testing/trivy-picks.ts, as in trivy-scan.test.ts). Network: loopback only.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  datasetsDir,
  needGo,
  needTool,
  run,
  startDockerRegistry,
  tempDir,
  trivyBinary,
  type DockerRegistry,
} from '@stella/testkit';
import { readTarGz } from '@stella/core/tar';
import { generateFileKey, resolveSigner } from '@stella/platform/keys';
import { readOciLayout } from '@stella/platform/oci-layout';
import { OciRegistryClient, pushLayoutEntry } from '@stella/platform/oci-registry';
import type { StagingSink } from '../../bundle/export-bundle.js';
import { sealExportBundle } from '../../bundle/seal-export.js';
import { createStagingSink } from '../../bundle/staging-sink.js';
import { verifyExportBundle } from '../../bundle/verify-export.js';
import { importerOf } from '../../sources/importers/registry.js';
import type { SourceRecord } from '../../sources/source-record.js';
import { iterate, ledgerOrder, trivyDatasetAdvisories } from '../../testing/index.js';
import { languagePicks, type LangPick } from '../../testing/trivy-picks.js';
import { getAdapter } from '../registry.js';

const skip = needTool('docker-registry') || needTool('skopeo') || needTool('python3');
const skipTrivy = skip || needGo();
const EMPTY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const EXPORT_TIME = '2026-11-27T04:00:00.000Z';

type Staged = {
  dir: string;
  files: readonly { path: string; digest: string; size: number; mediaType: string }[];
  sink: StagingSink;
};

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

/** Maven index files through the real `maven-index` importer, as ledger records. */
async function mavenRecords(files: string[]): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  let seq = 0n;
  for (const file of files)
    for await (const item of importerOf('maven-index').read(createReadStream(file), 'artifact')) {
      if (!('record' in item)) throw new Error(`${file}: ${JSON.stringify(item)}`);
      const r = item.record;
      out.push({
        kind: r.kind,
        recordId: r.recordId,
        tenant: null,
        project: null,
        ledgerSeq: ++seq,
        digest: r.digest,
        format: r.format,
        ecosystem: r.ecosystem,
        packages: r.packages,
        severity: r.severity,
        modifiedAt: r.modifiedAt,
        document: JSON.parse(r.canonical) as unknown,
      });
    }
  return ledgerOrder([...new Map(out.map((r) => [r.recordId, r])).values()]);
}

let tmp: { path: string; cleanup: () => Promise<void> };
let reg: DockerRegistry;
let java: Staged;
let javaRerun: Staged;
let db: Staged;
let maven: LangPick;
let rootfs: string;

async function exportWith(id: string, records: SourceRecord[], name: string, options: unknown = {}): Promise<Staged> {
  const adapter = getAdapter(id);
  const v = adapter.validateOptions(options);
  assert.ok(v.ok, JSON.stringify(v));
  const s = await createStagingSink(join(tmp.path, name));
  await adapter.write({
    records: iterate(records),
    options: v.options,
    out: s,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime: EXPORT_TIME,
  });
  return { dir: s.dir, files: s.files(), sink: s };
}

before(async () => {
  if (skip) return;
  tmp = await tempDir('stella-javadb-oci-');
  reg = await startDockerRegistry();
  const advisories = await trivyDatasetAdvisories(datasetsDir);
  maven = languagePicks(advisories, 1).find((p) => p.slug === 'maven' && p.expect.size > 0)!;
  assert.ok(maven, 'a vulnerable maven package in the datasets');
  // The jar (no pom.properties, file name without a version) in a bare rootfs; its Maven index
  // row (GAV of the pick + the jar's SHA-1) beside the dataset's real index rows.
  rootfs = join(tmp.path, 'rootfs');
  await mkdir(join(rootfs, 'opt/app/lib'), { recursive: true });
  const jar = await writeJar(join(rootfs, 'opt/app/lib/app-bundle.jar'));
  const [groupId, artifactId] = maven.name.split(':');
  const jsonl = join(tmp.path, 'fixture-index.jsonl');
  await writeFile(
    jsonl,
    `${JSON.stringify({ groupId, artifactId, version: maven.version, sha1: createHash('sha1').update(jar).digest('hex'), archiveType: 'jar' })}\n`,
  );
  const artifacts = await mavenRecords([
    join(datasetsDir, 'maven-index/trivy-java-db-testdata/abbot.tsv.golden'),
    join(datasetsDir, 'maven-index/derived-from-cyclonedx/dropwizard-1.3.15.tsv'),
    jsonl,
  ]);
  java = await exportWith('trivy:java-db', artifacts, 'java');
  javaRerun = await exportWith('trivy:java-db', artifacts, 'java-rerun');
  db = await exportWith('trivy:db', advisories, 'db');
});
after(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe('trivy:java-db OCI artifact', { skip, timeout: 1_800_000 }, () => {
  test('the layout: one javadb layer titled javadb.tar.gz, tag 1; staged (so export.json lists it); byte-identical on rerun; skopeo reads it', async () => {
    const layout = await readOciLayout(join(java.dir, 'trivy-java/oci'));
    const e = layout.find('1');
    assert.ok(e && e.kind === 'manifest');
    assert.equal(layout.find('2'), undefined, 'only the Java DB schema tag');
    const archive = java.files.find((f) => f.path === 'trivy-java/javadb.tar.gz')!;
    assert.deepEqual(JSON.parse(Buffer.from(e.bytes).toString()), {
      artifactType: 'application/vnd.aquasec.trivy.config.v1+json',
      annotations: { 'org.opencontainers.image.created': '2026-11-27T04:00:00Z' },
      config: { data: 'e30=', digest: EMPTY, mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
      layers: [
        {
          annotations: { 'org.opencontainers.image.title': 'javadb.tar.gz' },
          digest: archive.digest,
          mediaType: 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip',
          size: archive.size,
        },
      ],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    });
    // Every layout file went through the bundle sink, so export.json lists (and signs) it.
    const layoutFiles = java.files.filter((f) => f.path.startsWith('trivy-java/oci/')).map((f) => f.path);
    assert.deepEqual(
      layoutFiles.sort(),
      [
        'trivy-java/oci/oci-layout',
        'trivy-java/oci/index.json',
        `trivy-java/oci/blobs/sha256/${EMPTY.slice(7)}`,
        `trivy-java/oci/blobs/sha256/${archive.digest.slice(7)}`,
        `trivy-java/oci/blobs/sha256/${e.descriptor.digest.slice(7)}`,
      ].sort(),
    );
    assert.deepEqual(javaRerun.files, java.files, 'same input → the same files, digests and sizes');
    const key = join(tmp.path, 'export.key');
    await generateFileKey(key, 'ed25519');
    const signer = await resolveSigner(`file:${key}`);
    const sealed = await sealExportBundle(
      javaRerun.sink,
      {
        profile: { id: 'p-java', name: 'java', version: 1 },
        tenant: 'acme',
        adapter: { id: 'trivy:java-db', version: getAdapter('trivy:java-db').version, options: {} },
        filter: { kinds: ['artifact'] },
        ledgerSeq: 1n,
        counts: {},
        exportTime: EXPORT_TIME,
      },
      signer,
    ).finally(() => signer.close());
    let exportJson: { files: { path: string; digest: string }[] } | undefined;
    for await (const entry of readTarGz(createReadStream(sealed.archivePath))) {
      if (entry.path !== 'export.json') continue;
      const parts: Buffer[] = [];
      for await (const c of entry.body) parts.push(c);
      exportJson = JSON.parse(Buffer.concat(parts).toString()) as typeof exportJson;
    }
    const listed = new Map(exportJson!.files.map((f) => [f.path, f.digest]));
    for (const f of java.files) assert.equal(listed.get(f.path), f.digest, `${f.path} in export.json`);
    const verified = await verifyExportBundle(createReadStream(sealed.archivePath));
    assert.ok(verified.ok, JSON.stringify(verified.checks.filter((c) => c.status === 'fail')));
    for (const f of java.files)
      assert.ok(
        (await readFile(join(java.dir, f.path))).equals(await readFile(join(javaRerun.dir, f.path))),
        `${f.path} identical`,
      );
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${join(java.dir, 'trivy-java/oci')}:1`]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(e.bytes)));
    // ociLayout: false → javadb.tar.gz and the rest, no layout.
    const off = await exportWith('trivy:java-db', [], 'java-off', { ociLayout: false });
    assert.deepEqual(off.files.map((f) => f.path).sort(), [
      'trivy-java/javadb.tar.gz',
      'trivy-java/metadata.json',
      'trivy-java/trivy-java.db',
    ]);
    assert.equal(getAdapter('trivy:java-db').validateOptions({ ociLayout: 'yes' }).ok, false);
  });

  test('pushed to docker-registry; skopeo inspect and copy read it back with the same digests', async () => {
    const layout = await readOciLayout(join(java.dir, 'trivy-java/oci'));
    const e = layout.find('1')!;
    const client = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
    const r = await pushLayoutEntry(client, layout, '1', 'aquasec/trivy-java-db');
    assert.equal(r.digest, e.descriptor.digest);
    const ref = `docker://${reg.host}/aquasec/trivy-java-db:1`;
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(e.bytes)), 'registry serves our manifest bytes');
    const back = join(tmp.path, 'back');
    const cp = await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', ref, `oci:${back}:1`]);
    assert.equal(cp.code, 0, cp.stderr.toString());
    const theirs = await readOciLayout(back);
    const t = theirs.find('1')!;
    assert.equal(t.descriptor.digest, e.descriptor.digest);
    assert.ok(t.kind === 'manifest');
    const layer = t.manifest.layers[0]!;
    assert.equal(layer.digest, java.files.find((f) => f.path === 'trivy-java/javadb.tar.gz')!.digest);
    assert.ok(
      (await readFile(theirs.blobPath(layer.digest))).equals(
        await readFile(join(java.dir, 'trivy-java/javadb.tar.gz')),
      ),
      'the layer skopeo pulled is our javadb.tar.gz',
    );
  });

  test(
    'the real trivy pulls the Java DB (and the DB) from the registry into an empty cache and identifies the jar by its SHA-1',
    { skip: skipTrivy },
    async () => {
      const trivy = await trivyBinary();
      const client = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
      await pushLayoutEntry(client, await readOciLayout(join(java.dir, 'trivy-java/oci')), '1', 'stella/trivy-java-db');
      await pushLayoutEntry(client, await readOciLayout(join(db.dir, 'trivy/oci')), '2', 'stella/trivy-db');
      const cache = join(tmp.path, 'cache');
      const r = await run(
        trivy,
        [
          'rootfs',
          '--cache-dir',
          cache,
          '--db-repository',
          `${reg.host}/stella/trivy-db`, // no tag: Trivy appends :2
          '--java-db-repository',
          `${reg.host}/stella/trivy-java-db`, // no tag: Trivy appends :1
          '--insecure',
          '--offline-scan', // no Maven Central lookups: the jar is known through the Java DB only
          '--skip-version-check',
          '--disable-telemetry',
          '--scanners',
          'vuln',
          '--format',
          'json',
          '--quiet',
          rootfs,
        ],
        { timeoutMs: 300_000, env: { ...process.env, HOME: tmp.path, TRIVY_NO_PROGRESS: 'true' } },
      );
      assert.equal(r.code, 0, `${r.stderr.toString()}\n${reg.log()}`);
      // The Java DB Trivy unpacked is ours, byte for byte; it stamped its download.
      assert.ok(
        (await readFile(join(cache, 'java-db/trivy-java.db'))).equals(
          await readFile(join(java.dir, 'trivy-java/trivy-java.db')),
        ),
        'cache holds our trivy-java.db',
      );
      const meta = JSON.parse(await readFile(join(cache, 'java-db/metadata.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(meta.Version, 1);
      assert.equal(meta.UpdatedAt, '2026-11-27T04:00:00Z');
      assert.notEqual(meta.DownloadedAt, '0001-01-01T00:00:00Z', 'Trivy stamped its download');
      const report = JSON.parse(r.stdout.toString()) as {
        Results?: {
          Target: string;
          Type: string;
          Vulnerabilities?: {
            VulnerabilityID: string;
            PkgName: string;
            InstalledVersion: string;
            FixedVersion?: string;
          }[];
        }[];
      };
      const results = report.Results ?? [];
      assert.deepEqual(
        results.map((x) => x.Type),
        ['jar'],
        r.stdout.toString().slice(0, 2000),
      );
      const line = (pkg: string, ver: string, id: string, fixed: string) => `${pkg}@${ver} ${id} fixed=${fixed}`;
      assert.deepEqual(
        (results[0]!.Vulnerabilities ?? [])
          .map((v) => line(v.PkgName, v.InstalledVersion, v.VulnerabilityID, v.FixedVersion ?? ''))
          .sort(),
        [...maven.expect].map(([id, fixed]) => line(maven.name, maven.version, id, fixed)).sort(),
      );
      // The media type is what Trivy checks: the Trivy DB artifact offered as the Java DB is
      // refused, and nothing lands in the Java DB cache dir.
      const cache2 = join(tmp.path, 'cache-wrong');
      const wrong = await run(
        trivy,
        [
          'rootfs',
          '--cache-dir',
          cache2,
          '--db-repository',
          `${reg.host}/stella/trivy-db`,
          '--java-db-repository',
          `${reg.host}/stella/trivy-db:2`,
          '--insecure',
          '--offline-scan',
          '--skip-version-check',
          '--disable-telemetry',
          '--scanners',
          'vuln',
          '--quiet',
          rootfs,
        ],
        { timeoutMs: 300_000, env: { ...process.env, HOME: tmp.path, TRIVY_NO_PROGRESS: 'true' } },
      );
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr.toString(), /unacceptable media type: application\/vnd\.aquasec\.trivy\.db\.layer/);
      await assert.rejects(readFile(join(cache2, 'java-db/trivy-java.db')), { code: 'ENOENT' });
    },
  );
});
