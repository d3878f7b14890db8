/**
 * `trivy:db` as the OCI artifact (issue #14 item 1, acceptance "pulls the DB from the loopback
 * registry"): the layout in the bundle has exactly the manifest shape Trivy v0.74.0 accepts; our
 * registry client pushes it to Debian's docker-registry on 127.0.0.1; skopeo reads it back with the
 * same digests; the real trivy pulls the DB from that registry into an empty cache
 * (`--db-repository 127.0.0.1:<port>/…`) and finds the Alpine vulnerability the sources state.
 */
import assert from 'node:assert/strict';
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
import { iterate, trivyDatasetAdvisories } from '../../testing/index.js';
import { getAdapter } from '../registry.js';

const skip = needTool('docker-registry') || needTool('skopeo');
const skipTrivy = skip || needGo();
const EMPTY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

let tmp: { path: string; cleanup: () => Promise<void> };
let reg: DockerRegistry;
type Staged = {
  dir: string;
  files: readonly { path: string; digest: string; size: number; mediaType: string }[];
  sink: StagingSink;
};
let staged: Staged;
let rerun: Staged;

before(async () => {
  if (skip) return;
  tmp = await tempDir('stella-trivy-oci-');
  reg = await startDockerRegistry();
  const records = await trivyDatasetAdvisories(datasetsDir, { osv: ['osv/go-vulndb'], alpine: ['v3.10'] });
  const adapter = getAdapter('trivy:db');
  const v = adapter.validateOptions({});
  assert.ok(v.ok);
  const once = async (name: string) => {
    const s = await createStagingSink(join(tmp.path, name));
    await adapter.write({
      records: iterate(records),
      options: v.options,
      out: s,
      signal: new AbortController().signal,
      progress: () => undefined,
      exportTime: '2026-11-27T04:00:00.000Z',
    });
    return { dir: s.dir, files: s.files(), sink: s };
  };
  staged = await once('bundle');
  rerun = await once('rerun');
});
after(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe('trivy:db OCI artifact', { skip, timeout: 1_800_000 }, () => {
  test('the layout in the bundle: one layer, title db.tar.gz, Trivy media types; byte-identical on rerun; listed in the signed export.json', async () => {
    const layout = await readOciLayout(join(staged.dir, 'trivy/oci'));
    const e = layout.find('2');
    assert.ok(e && e.kind === 'manifest');
    const archive = staged.files.find((f) => f.path === 'trivy/db.tar.gz')!;
    assert.deepEqual(JSON.parse(Buffer.from(e.bytes).toString()), {
      artifactType: 'application/vnd.aquasec.trivy.config.v1+json',
      annotations: { 'org.opencontainers.image.created': '2026-11-27T04:00:00Z' },
      config: { data: 'e30=', digest: EMPTY, mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
      layers: [
        {
          annotations: { 'org.opencontainers.image.title': 'db.tar.gz' },
          digest: archive.digest,
          mediaType: 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip',
          size: archive.size,
        },
      ],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    });
    // Every layout file is staged through the sink, so export.json lists (and signs) it.
    const paths = staged.files.map((f) => f.path);
    for (const p of [
      'trivy/oci/oci-layout',
      'trivy/oci/index.json',
      `trivy/oci/blobs/sha256/${EMPTY.slice(7)}`,
      `trivy/oci/blobs/sha256/${archive.digest.slice(7)}`,
      `trivy/oci/blobs/sha256/${e.descriptor.digest.slice(7)}`,
    ])
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    // Same input → the same layout files, byte for byte (the created time is the DB's UpdatedAt).
    assert.deepEqual(rerun.files, staged.files);
    // Sealed as an export bundle: export.json lists every layout file with its digest, and the
    // bundle verifies (the signature over export.json covers the artifact).
    const key = join(tmp.path, 'export.key');
    await generateFileKey(key, 'ed25519');
    const signer = await resolveSigner(`file:${key}`);
    const sealed = await sealExportBundle(
      rerun.sink,
      {
        profile: { id: 'p-trivy', name: 'trivy', version: 1 },
        tenant: 'acme',
        adapter: { id: 'trivy:db', version: getAdapter('trivy:db').version, options: {} },
        filter: { kinds: ['advisory'] },
        ledgerSeq: 1n,
        counts: {},
        exportTime: '2026-11-27T04:00:00.000Z',
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
    for (const f of staged.files.filter((x) => x.path.startsWith('trivy/oci/')))
      assert.equal(listed.get(f.path), f.digest, `${f.path} in export.json`);
    const report = await verifyExportBundle(createReadStream(sealed.archivePath));
    assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => c.status === 'fail')));
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${join(staged.dir, 'trivy/oci')}:2`]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(e.bytes)));
  });

  test('pushed to docker-registry; skopeo inspect and copy read it back with the same digests', async () => {
    const layout = await readOciLayout(join(staged.dir, 'trivy/oci'));
    const e = layout.find('2')!;
    const client = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
    const r = await pushLayoutEntry(client, layout, '2', 'aquasec/trivy-db');
    assert.equal(r.digest, e.descriptor.digest);
    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${reg.host}/aquasec/trivy-db:2`,
    ]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(e.bytes)), 'registry serves our manifest bytes');
    const back = join(tmp.path, 'back');
    const cp = await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://${reg.host}/aquasec/trivy-db:2`,
      `oci:${back}:2`,
    ]);
    assert.equal(cp.code, 0, cp.stderr.toString());
    const theirs = await readOciLayout(back);
    const t = theirs.find('2')!;
    assert.equal(t.descriptor.digest, e.descriptor.digest);
    assert.ok(t.kind === 'manifest');
    const layer = t.manifest.layers[0]!;
    const archive = staged.files.find((f) => f.path === 'trivy/db.tar.gz')!;
    assert.equal(layer.digest, archive.digest);
    assert.ok(
      (await readFile(theirs.blobPath(layer.digest))).equals(await readFile(join(staged.dir, 'trivy/db.tar.gz'))),
      'the layer skopeo pulled is our db.tar.gz',
    );
  });

  test(
    'the real trivy pulls the DB from the registry into an empty cache and finds the Alpine vulnerability',
    { skip: skipTrivy },
    async () => {
      const trivy = await trivyBinary();
      // Pushed by the previous test; push again so this test stands alone.
      const layout = await readOciLayout(join(staged.dir, 'trivy/oci'));
      await pushLayoutEntry(
        new OciRegistryClient({ registry: reg.host, scheme: 'http' }),
        layout,
        '2',
        'stella/trivy-db',
      );
      const rootfs = join(tmp.path, 'rootfs');
      await mkdir(join(rootfs, 'etc'), { recursive: true });
      await mkdir(join(rootfs, 'lib/apk/db'), { recursive: true });
      await writeFile(join(rootfs, 'etc/alpine-release'), '3.10.9\n');
      // aspell 0.60.6.1-r13: Alpine secdb v3.10 main says CVE-2019-17544 is fixed in 0.60.6.1-r14.
      await writeFile(
        join(rootfs, 'lib/apk/db/installed'),
        [
          'C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=',
          'P:aspell',
          'V:0.60.6.1-r13',
          'A:x86_64',
          'o:aspell',
          'L:LGPL-2.1',
          '',
          '',
        ].join('\n'),
      );
      const cache = join(tmp.path, 'cache');
      const r = await run(
        trivy,
        [
          'rootfs',
          '--cache-dir',
          cache,
          '--db-repository',
          `${reg.host}/stella/trivy-db`, // no tag: Trivy appends :2
          '--insecure',
          '--skip-java-db-update',
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
      // The DB Trivy unpacked is ours, byte for byte.
      assert.ok(
        (await readFile(join(cache, 'db/trivy.db'))).equals(await readFile(join(staged.dir, 'trivy/trivy.db'))),
        'cache holds our trivy.db',
      );
      const meta = JSON.parse(await readFile(join(cache, 'db/metadata.json'), 'utf8')) as Record<string, string>;
      assert.equal(meta.Version, 2);
      assert.notEqual(meta.DownloadedAt, '0001-01-01T00:00:00Z', 'Trivy stamped its download');
      const report = JSON.parse(r.stdout.toString()) as {
        Results?: {
          Target: string;
          Vulnerabilities?: {
            VulnerabilityID: string;
            PkgName: string;
            InstalledVersion: string;
            FixedVersion: string;
          }[];
        }[];
      };
      const vulns = (report.Results ?? []).flatMap((x) => x.Vulnerabilities ?? []);
      assert.deepEqual(
        vulns.map((v) => [v.VulnerabilityID, v.PkgName, v.InstalledVersion, v.FixedVersion]),
        [['CVE-2019-17544', 'aspell', '0.60.6.1-r13', '0.60.6.1-r14']],
        r.stdout.toString().slice(0, 2000),
      );
    },
  );
});
