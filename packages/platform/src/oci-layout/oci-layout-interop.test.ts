// Independent verifiers for our OCI layouts (DESIGN.md §5, specs/trivy-db-and-oci.md §4.5):
// skopeo and umoci read what we write, and we read what skopeo writes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createTar, createTarGz } from '@stella/core/tar';
import { buildManifest, descriptorFor, emptyJsonBytes, OCI_MEDIA_TYPES } from '@stella/core/oci';
import { needTool, run, tempDir } from '@stella/testkit';
import { readOciLayout, writeOciLayout } from '@stella/platform/oci-layout';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const FILES: Record<string, Buffer> = {
  'etc/stella/release': Buffer.from('stellaops test image\n'),
  'usr/share/stella/data.bin': Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff)),
};

/** A tiny real image: one tar.gz layer from our writer and an OCI image config with its diff_id. */
async function imageInputs() {
  const entries = Object.entries(FILES).map(([path, b]) => ({ path, size: b.length, body: b }));
  const tar = await collect(createTar(entries));
  const tgz = await collect(createTarGz(entries));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
      history: [{ created_by: 'stella test' }],
    }),
  );
  const configD = descriptorFor(config, OCI_MEDIA_TYPES.config);
  const layerD = descriptorFor(tgz, OCI_MEDIA_TYPES.layerTarGzip);
  const m = buildManifest({
    config: configD,
    layers: [layerD],
    annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
  });
  return { config, tgz, m };
}

describe('OCI layout interop: skopeo', { skip: needTool('skopeo') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-oci-skopeo-');
  });
  after(() => tmp.cleanup());

  test('artifact manifest (empty config + artifactType): skopeo inspect --raw returns our bytes', async () => {
    const content = await collect(
      createTarGz([
        { path: 'trivy.db', size: 4, body: Buffer.from('bolt') },
        { path: 'metadata.json', size: 2, body: Buffer.from('{}') },
      ]),
    );
    const layer = descriptorFor(content, 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip', { title: 'db.tar.gz' });
    const m = buildManifest({ artifactType: 'application/vnd.aquasec.trivy.config.v1+json', layers: [layer] });
    const dir = join(tmp.path, 'artifact');
    await writeOciLayout(dir, {
      blobs: [{ bytes: emptyJsonBytes() }, { bytes: content }],
      manifests: [{ bytes: m.bytes, refName: '2' }],
    });
    const r = await run('skopeo', ['inspect', '--raw', `oci:${dir}:2`]);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.ok(r.stdout.equals(Buffer.from(m.bytes)), r.stdout.toString());
    const cfg = await run('skopeo', ['inspect', '--config', '--raw', `oci:${dir}:2`]);
    assert.equal(cfg.code, 0, cfg.stderr.toString());
    assert.equal(cfg.stdout.toString(), '{}');
    // skopeo copies the artifact to another layout byte-for-byte; our reader accepts skopeo's layout.
    const back = join(tmp.path, 'artifact-copy');
    const c = await run('skopeo', ['--insecure-policy', 'copy', `oci:${dir}:2`, `oci:${back}:2`]);
    assert.equal(c.code, 0, c.stderr.toString());
    const theirs = await readOciLayout(back);
    assert.equal(theirs.find('2')?.descriptor.digest, m.descriptor.digest);
  });

  test('image with a real layer: inspect --raw, copy to dir:, copy to oci: and read back', async () => {
    const { config, tgz, m } = await imageInputs();
    const dir = join(tmp.path, 'image');
    await writeOciLayout(dir, {
      blobs: [{ bytes: config }, { bytes: tgz }],
      manifests: [{ bytes: m.bytes, refName: 'v1' }],
    });
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${dir}:v1`]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(m.bytes)));
    const parsed = await run('skopeo', ['inspect', `oci:${dir}:v1`]);
    assert.equal(parsed.code, 0, parsed.stderr.toString());
    const info = JSON.parse(parsed.stdout.toString());
    assert.equal(info.Architecture, 'amd64');
    assert.deepEqual(info.Layers, [m.value.layers[0]!.digest]);

    const out = join(tmp.path, 'image-dir');
    const cp = await run('skopeo', ['--insecure-policy', 'copy', `oci:${dir}:v1`, `dir:${out}`]);
    assert.equal(cp.code, 0, cp.stderr.toString());
    const files = await readdir(out);
    const layerHex = m.value.layers[0]!.digest.slice(7);
    assert.ok(files.includes(layerHex), files.join(','));
    assert.equal(sha256(await readFile(join(out, layerHex))), layerHex);
    assert.ok((await readFile(join(out, 'manifest.json'))).equals(Buffer.from(m.bytes)));

    const again = join(tmp.path, 'image-oci');
    const cp2 = await run('skopeo', ['--insecure-policy', 'copy', `oci:${dir}:v1`, `oci:${again}:v1`]);
    assert.equal(cp2.code, 0, cp2.stderr.toString());
    const theirs = await readOciLayout(again);
    assert.equal(theirs.find('v1')?.descriptor.digest, m.descriptor.digest);
  });
});

describe('OCI layout interop: umoci', { skip: needTool('umoci') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-oci-umoci-');
  });
  after(() => tmp.cleanup());

  test('umoci ls lists our refs and unpacks our image with the same file digests', async () => {
    const { config, tgz, m } = await imageInputs();
    const art = buildManifest({ artifactType: 'application/vnd.example.thing', layers: [] });
    const dir = join(tmp.path, 'layout');
    await writeOciLayout(dir, {
      blobs: [{ bytes: config }, { bytes: tgz }, { bytes: emptyJsonBytes() }],
      manifests: [
        { bytes: m.bytes, refName: 'latest' },
        { bytes: art.bytes, refName: '2' },
      ],
    });
    const ls = await run('umoci', ['ls', '--layout', dir]);
    assert.equal(ls.code, 0, ls.stderr.toString());
    assert.deepEqual(ls.stdout.toString().trim().split('\n').sort(), ['2', 'latest']);
    const bundle = join(tmp.path, 'bundle');
    const up = await run('umoci', ['unpack', '--rootless', '--image', `${dir}:latest`, bundle]);
    assert.equal(up.code, 0, up.stderr.toString());
    for (const [p, b] of Object.entries(FILES))
      assert.equal(sha256(await readFile(join(bundle, 'rootfs', p))), sha256(b), p);
    // umoci's own consistency check of the layout (gc only succeeds on a readable layout)
    const gc = await run('umoci', ['gc', '--layout', dir]);
    assert.equal(gc.code, 0, gc.stderr.toString());
    await readOciLayout(dir);
  });
});
