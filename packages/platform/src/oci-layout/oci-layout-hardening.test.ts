/*
 * Regression tests for issue 20 points 1 (nested indexes revisiting digests), 3 (blob size checked
 * only after reading) and 5 (descriptor media type vs blob kind, duplicate JSON members, symlinked
 * blobs/ directory).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildIndex,
  buildManifest,
  descriptorFor,
  emptyJsonBytes,
  OCI_MEDIA_TYPES,
  withRefName,
  type OciDescriptor,
} from '@stella/core/oci';
import { assertRejectsStella, tempDir } from '@stella/testkit';
import { readOciLayout } from '@stella/platform/oci-layout';

const ARTIFACT = 'application/vnd.aquasec.trivy.config.v1+json';
const LAYER = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
const te = new TextEncoder();

/** Writes a layout by hand: oci-layout, index.json listing `top`, and each blob under its sha256. */
async function writeRaw(dir: string, top: OciDescriptor[] | string, blobs: Uint8Array[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const index = typeof top === 'string' ? top : JSON.stringify({ schemaVersion: 2, manifests: top });
  await writeFile(join(dir, 'index.json'), index);
  for (const b of blobs) await writeFile(join(dir, 'blobs', 'sha256', createHash('sha256').update(b).digest('hex')), b);
}

/** An artifact manifest (one small layer) and the blobs it needs. */
function artifact(text = 'db') {
  const content = te.encode(text);
  const m = buildManifest({ artifactType: ARTIFACT, layers: [descriptorFor(content, LAYER)] });
  return { m, blobs: [emptyJsonBytes(), content, m.bytes] };
}

describe('OCI layout reader hardening', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let n = 0;
  const fresh = () => join(tmp.path, `l${n++}`);
  before(async () => {
    tmp = await tempDir('stella-oci-hard-');
  });
  after(() => tmp.cleanup());

  test('nested indexes listing the next level F times are walked once per digest (F=8, L=5)', async () => {
    const dir = fresh();
    const { m, blobs } = artifact();
    let child = m.descriptor;
    for (let level = 0; level < 5; level++) {
      const idx = buildIndex({ manifests: Array.from({ length: 8 }, () => child) });
      blobs.push(idx.bytes);
      child = idx.descriptor;
    }
    await writeRaw(dir, [withRefName(child, 'top')], blobs);
    const started = Date.now();
    const layout = await readOciLayout(dir);
    // Before the fix: 1 + 8 + 8² + … + 8⁵ = 37,449 entries.
    assert.equal(layout.entries.length, 6);
    assert.deepEqual(
      layout.entries.map((e) => e.kind),
      ['index', 'index', 'index', 'index', 'index', 'manifest'],
    );
    assert.equal(layout.find('top')?.descriptor.digest, child.digest);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  test('the total number of entries is capped (maxEntries, OCI_INVALID check max-entries)', async () => {
    const dir = fresh();
    const a = artifact('a');
    const b = artifact('b');
    const c = artifact('c');
    const idx = buildIndex({ manifests: [a.m.descriptor, b.m.descriptor, c.m.descriptor] });
    await writeRaw(dir, [idx.descriptor], [...a.blobs, ...b.blobs, ...c.blobs, idx.bytes]);
    assert.equal((await readOciLayout(dir)).entries.length, 4);
    const e = await assertRejectsStella(readOciLayout(dir, { maxEntries: 3 }), 'OCI_INVALID');
    assert.deepEqual(e.details, { check: 'max-entries', maxEntries: 3 });
    await assertRejectsStella(readOciLayout(dir, { maxEntries: 0 }), 'VALIDATION_FAILED');
  });

  test('a 100-byte descriptor over a 3 GiB sparse file fails fast without reading it', async () => {
    const dir = fresh();
    const { m, blobs } = artifact();
    await writeRaw(dir, [{ ...m.descriptor, size: 100 }], blobs);
    const hex = m.descriptor.digest.slice('sha256:'.length);
    const huge = join(dir, 'blobs', 'sha256', hex);
    await truncate(huge, 3 * 1024 ** 3); // sparse: no disk blocks, 3 GiB apparent size
    const rss = process.memoryUsage().rss;
    const started = Date.now();
    // Before the fix: readFile of the whole file (a raw RangeError at 3 GiB, +1.5 GiB RSS at 1.5).
    const e = await assertRejectsStella(readOciLayout(dir), 'DIGEST_MISMATCH');
    assert.equal((e.details as { actualSize: number }).actualSize, 3 * 1024 ** 3);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 ** 2, 'RSS grew by more than 64 MiB');
    // The same for a layer blob and for oci-layout / index.json themselves.
    const dir2 = fresh();
    await writeRaw(dir2, [m.descriptor], blobs);
    const layerHex = m.value.layers[0]!.digest.slice('sha256:'.length);
    await truncate(join(dir2, 'blobs', 'sha256', layerHex), 3 * 1024 ** 3);
    await assertRejectsStella(readOciLayout(dir2), 'DIGEST_MISMATCH');
    const dir3 = fresh();
    await writeRaw(dir3, [m.descriptor], blobs);
    await truncate(join(dir3, 'oci-layout'), 3 * 1024 ** 3);
    await assertRejectsStella(readOciLayout(dir3), 'OCI_INVALID');
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 ** 2, 'RSS grew by more than 64 MiB');
  });

  test('a descriptor media type must match the kind of the blob it points at', async () => {
    const { m, blobs } = artifact();
    // index.json presenting a manifest as an index.
    const d1 = fresh();
    await writeRaw(d1, [{ ...m.descriptor, mediaType: OCI_MEDIA_TYPES.index }], blobs);
    await assertRejectsStella(readOciLayout(d1), 'OCI_INVALID');
    // A nested index presenting an index as a manifest.
    const inner = buildIndex({ manifests: [m.descriptor] });
    const outer = buildIndex({ manifests: [{ ...inner.descriptor, mediaType: OCI_MEDIA_TYPES.manifest }] });
    const d2 = fresh();
    await writeRaw(d2, [outer.descriptor], [...blobs, inner.bytes, outer.bytes]);
    await assertRejectsStella(readOciLayout(d2), 'OCI_INVALID');
    // A layer that claims to be a manifest would never be parsed or walked.
    const sneaky = buildManifest({
      artifactType: ARTIFACT,
      layers: [{ ...m.descriptor, mediaType: OCI_MEDIA_TYPES.manifest }],
    });
    const d3 = fresh();
    await writeRaw(d3, [sneaky.descriptor], [...blobs, sneaky.bytes]);
    await assertRejectsStella(readOciLayout(d3), 'OCI_INVALID');
  });

  test('duplicate JSON members in index.json or a manifest are OCI_INVALID', async () => {
    const { m, blobs } = artifact();
    const d1 = fresh();
    const top = JSON.stringify([m.descriptor]);
    await writeRaw(d1, `{"schemaVersion":2,"manifests":[],"manifests":${top}}`, blobs);
    await assertRejectsStella(readOciLayout(d1), 'OCI_INVALID');
    const dupBytes = te.encode(new TextDecoder().decode(m.bytes).replace('{', '{"artifactType":"application/x-a",'));
    const d2 = fresh();
    const dupDesc = descriptorFor(dupBytes, OCI_MEDIA_TYPES.manifest);
    await writeRaw(d2, [dupDesc], [...blobs, dupBytes]);
    await assertRejectsStella(readOciLayout(d2), 'OCI_INVALID');
  });

  test('a symlinked blobs/ or blobs/sha256/ directory is refused', async () => {
    const { m, blobs } = artifact();
    const d1 = fresh();
    await writeRaw(d1, [m.descriptor], blobs);
    await readOciLayout(d1);
    await rename(join(d1, 'blobs'), join(d1, 'elsewhere'));
    await symlink(join(d1, 'elsewhere'), join(d1, 'blobs'));
    await assertRejectsStella(readOciLayout(d1), 'OCI_INVALID', /blobs is not a directory/);
    const d2 = fresh();
    await writeRaw(d2, [m.descriptor], blobs);
    await rename(join(d2, 'blobs', 'sha256'), join(d2, 'sha256-real'));
    await symlink(join(d2, 'sha256-real'), join(d2, 'blobs', 'sha256'));
    await assertRejectsStella(readOciLayout(d2), 'OCI_INVALID', /blobs\/sha256 is not a directory/);
  });
});
