import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile, symlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isStellaError } from '@stella/core/errors';
import {
  buildIndex,
  buildManifest,
  descriptorFor,
  emptyJsonBytes,
  OCI_MEDIA_TYPES,
  withRefName,
} from '@stella/core/oci';
import { tempDir } from '@stella/testkit';
import { readOciLayout, writeOciLayout, type WriteOciLayoutInput } from '@stella/platform/oci-layout';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ARTIFACT = 'application/vnd.aquasec.trivy.config.v1+json';
const LAYER = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';

function artifactInput(
  content = Buffer.from('pretend this is db.tar.gz'),
): WriteOciLayoutInput & { manifestBytes: Uint8Array } {
  const layer = descriptorFor(content, LAYER, { title: 'db.tar.gz' });
  const m = buildManifest({
    artifactType: ARTIFACT,
    layers: [layer],
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  });
  return {
    blobs: [
      { bytes: emptyJsonBytes() },
      {
        digest: layer.digest,
        size: layer.size,
        body: () => Readable.from([content.subarray(0, 5), content.subarray(5)]),
      },
    ],
    manifests: [{ bytes: m.bytes, refName: '2' }],
    manifestBytes: m.bytes,
  };
}

async function treeDigests(root: string, dir = root): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) Object.assign(out, await treeDigests(root, p));
    else out[p.slice(root.length + 1)] = sha256(await readFile(p));
  }
  return out;
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    if (!isStellaError(e)) throw e;
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('OCI layout writer and reader', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-oci-');
  });
  after(() => tmp.cleanup());

  test('writes oci-layout, index.json and blobs; reads them back verified', async () => {
    const dir = join(tmp.path, 'a');
    const input = artifactInput();
    const res = await writeOciLayout(dir, input);
    assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_MEDIA_TYPES.index);
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '2');
    assert.equal(index.manifests[0].artifactType, ARTIFACT);
    assert.deepEqual(res.manifests, index.manifests);
    for (const digest of res.blobs) {
      const bytes = await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
      assert.equal(`sha256:${sha256(bytes)}`, digest);
    }
    const layout = await readOciLayout(dir);
    const e = layout.find('2');
    assert.ok(e && e.kind === 'manifest');
    assert.ok(Buffer.from(e.bytes).equals(Buffer.from(input.manifestBytes)));
    assert.equal(e.manifest.artifactType, ARTIFACT);
    const layer = e.manifest.layers[0]!;
    let got = '';
    for await (const c of layout.openBlob(layer.digest)) got += c;
    assert.equal(got, 'pretend this is db.tar.gz');
    assert.equal(layout.find('nope'), undefined);
    // No temp leftovers beside the layout.
    assert.deepEqual(
      (await readdir(tmp.path)).filter((n) => n.includes('partial')),
      [],
    );
  });

  test('deterministic: two writes give identical trees (golden index.json digest)', async () => {
    await writeOciLayout(join(tmp.path, 'd1'), artifactInput());
    await writeOciLayout(join(tmp.path, 'd2'), artifactInput());
    const a = await treeDigests(join(tmp.path, 'd1'));
    const b = await treeDigests(join(tmp.path, 'd2'));
    assert.deepEqual(a, b);
    assert.deepEqual(
      Object.keys(a).sort(),
      [
        'blobs/sha256/' + sha256(emptyJsonBytes()),
        'blobs/sha256/' + sha256(Buffer.from('pretend this is db.tar.gz')),
        'blobs/sha256/' + sha256(artifactInput().manifestBytes),
        'index.json',
        'oci-layout',
      ].sort(),
    );
    assert.equal(a['index.json'], 'f6a1717f4880f8fd5891cf8ecfbf3d07231911718e51751b575f103b970089a8');
  });

  test('an empty existing directory is accepted; a non-empty one is refused (CONFLICT)', async () => {
    const empty = join(tmp.path, 'empty');
    await mkdir(empty);
    await writeOciLayout(empty, artifactInput());
    await readOciLayout(empty);
    await rejectsCode(writeOciLayout(empty, artifactInput()), 'CONFLICT');
  });

  test('nested index with its own ref; unreferenced blobs are kept and verified', async () => {
    const base = artifactInput();
    const m = buildManifest({
      artifactType: ARTIFACT,
      layers: [descriptorFor(Buffer.from('pretend this is db.tar.gz'), LAYER)],
    });
    const idx = buildIndex({ manifests: [m.descriptor] });
    const dir = join(tmp.path, 'nested');
    await writeOciLayout(dir, {
      blobs: [...base.blobs, { bytes: m.bytes }, { bytes: Buffer.from('orphan') }],
      manifests: [...base.manifests, { bytes: idx.bytes, refName: 'all' }],
    });
    const layout = await readOciLayout(dir);
    assert.equal(layout.find('all')!.kind, 'index');
    assert.equal(layout.entries.length, 3);
  });

  test('bad input writes nothing', async () => {
    const cases: Array<[WriteOciLayoutInput, string]> = [];
    const good = artifactInput();
    // layer blob missing from inputs
    cases.push([{ blobs: [good.blobs[0]!], manifests: good.manifests }, 'OCI_INVALID']);
    // The layer blob's declared digest and size (25 B) with other bytes: wrong content, longer, shorter.
    const layerWithBody = (bytes: string) => ({
      blobs: [
        good.blobs[0]!,
        {
          digest: (good.blobs[1] as { digest: string }).digest,
          size: 25,
          body: () => Readable.from([Buffer.from(bytes)]),
        },
      ],
      manifests: good.manifests,
    });
    for (const bytes of ['x'.repeat(25), 'x'.repeat(40), 'pretend'])
      cases.push([layerWithBody(bytes), 'DIGEST_MISMATCH']);
    // malformed manifest bytes
    cases.push([{ blobs: good.blobs, manifests: [{ bytes: Buffer.from('{"schemaVersion":2}') }] }, 'OCI_INVALID']);
    // bad ref names, duplicate refs
    cases.push([{ blobs: good.blobs, manifests: [{ bytes: good.manifestBytes, refName: 'a b' }] }, 'OCI_INVALID']);
    cases.push([
      {
        blobs: good.blobs,
        manifests: [
          { bytes: good.manifestBytes, refName: 'x' },
          { bytes: good.manifestBytes, refName: 'x' },
        ],
      },
      'OCI_INVALID',
    ]);
    // bad declared digest
    cases.push([
      { blobs: [{ digest: 'sha256:nope', size: 1, body: () => Readable.from([]) }], manifests: [] },
      'OCI_INVALID',
    ]);
    cases.push([{ blobs: 'nope' } as unknown as WriteOciLayoutInput, 'OCI_INVALID']);
    for (const [i, [input, code]] of cases.entries()) {
      const dir = join(tmp.path, `bad-${i}`);
      await rejectsCode(writeOciLayout(dir, input), code);
      await assert.rejects(stat(dir), { code: 'ENOENT' }, `case ${i} left ${dir}`);
    }
    assert.deepEqual(
      (await readdir(tmp.path)).filter((n) => n.includes('partial')),
      [],
    );
  });

  test('reader refuses tampered, missing, symlinked and malformed layouts', async () => {
    const fresh = async (name: string) => {
      const dir = join(tmp.path, name);
      const input = artifactInput();
      await writeOciLayout(dir, input);
      const layerHex = sha256(Buffer.from('pretend this is db.tar.gz'));
      return {
        dir,
        layer: join(dir, 'blobs', 'sha256', layerHex),
        manifest: join(dir, 'blobs', 'sha256', sha256(input.manifestBytes)),
      };
    };
    let l = await fresh('t1');
    await writeFile(l.layer, 'pretend this is db.tar.gZ'); // same size, different bytes
    await rejectsCode(readOciLayout(l.dir), 'DIGEST_MISMATCH');
    await readOciLayout(l.dir, { verifyBlobs: false }); // size-only check passes by design
    l = await fresh('t2');
    await writeFile(l.layer, 'short');
    await rejectsCode(readOciLayout(l.dir, { verifyBlobs: false }), 'DIGEST_MISMATCH');
    l = await fresh('t3');
    await rm(l.layer);
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
    l = await fresh('t4');
    await writeFile(l.manifest, '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
    await rejectsCode(readOciLayout(l.dir), 'DIGEST_MISMATCH');
    l = await fresh('t5');
    await rm(l.layer);
    await writeFile(join(tmp.path, 'outside'), 'pretend this is db.tar.gz');
    await symlink(join(tmp.path, 'outside'), l.layer);
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
    l = await fresh('t6');
    await writeFile(join(l.dir, 'oci-layout'), '{"imageLayoutVersion":"9"}');
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
    l = await fresh('t7');
    await writeFile(
      join(l.dir, 'index.json'),
      '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc","size":1}]}',
    );
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
    l = await fresh('t8');
    await writeFile(join(l.dir, 'blobs', 'sha256', 'a'.repeat(64)), 'unreferenced but misnamed');
    await rejectsCode(readOciLayout(l.dir), 'DIGEST_MISMATCH');
    l = await fresh('t9');
    await rm(join(l.dir, 'index.json'));
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
    // extra files outside blobs/ are tolerated
    l = await fresh('t10');
    await writeFile(join(l.dir, 'README'), 'hello');
    await readOciLayout(l.dir);
    // an index whose descriptor points at itself cannot exist (digest cycle), but duplicate refs can
    l = await fresh('t11');
    const idx = JSON.parse(await readFile(join(l.dir, 'index.json'), 'utf8'));
    idx.manifests.push(idx.manifests[0]);
    await writeFile(join(l.dir, 'index.json'), JSON.stringify(idx));
    await rejectsCode(readOciLayout(l.dir), 'OCI_INVALID');
  });

  test('withRefName + index built by hand are what writeOciLayout produces', async () => {
    const input = artifactInput();
    const m = buildManifest({
      artifactType: ARTIFACT,
      layers: [descriptorFor(Buffer.from('pretend this is db.tar.gz'), LAYER, { title: 'db.tar.gz' })],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
    const expected = buildIndex({ manifests: [withRefName(m.descriptor, '2')] });
    const dir = join(tmp.path, 'same');
    await writeOciLayout(dir, input);
    assert.ok((await readFile(join(dir, 'index.json'))).equals(Buffer.from(expected.bytes)));
  });
});
