import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import {
  OCI_MEDIA_TYPES,
  emptyJsonBytes,
  EMPTY_JSON_DIGEST,
  emptyConfigDescriptor,
  descriptorFor,
  withRefName,
  buildManifest,
  buildIndex,
  parseManifest,
  parseIndex,
  parseDescriptor,
  parseManifestOrIndex,
  parseOciLayoutFile,
  serializeOciJson,
  isRefName,
  ociLayoutFileBytes,
  MAX_MANIFEST_BYTES,
} from '@stella/core/oci';

const TRIVY_ARTIFACT = 'application/vnd.aquasec.trivy.config.v1+json';
const TRIVY_LAYER = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';

function rejectsOci(fn: () => unknown, where?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStellaError(e, 'OCI_INVALID'), String(e));
    if (where) assert.match(String((e.details as { where: string }).where), where);
    return true;
  });
}

describe('OCI descriptors', () => {
  test('the empty descriptor is sha256 of {} with size 2', () => {
    const d = emptyConfigDescriptor();
    assert.deepEqual(d, { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY_JSON_DIGEST, size: 2 });
    assert.equal(`sha256:${createHash('sha256').update(emptyJsonBytes()).digest('hex')}`, EMPTY_JSON_DIGEST);
    assert.equal(Buffer.from(emptyJsonBytes()).toString(), '{}');
    assert.deepEqual(parseDescriptor(emptyConfigDescriptor({ withData: true })).data, 'e30=');
  });

  test('descriptorFor computes digest/size and the title annotation', () => {
    const bytes = Buffer.from('layer bytes');
    const d = descriptorFor(bytes, TRIVY_LAYER, { title: 'db.tar.gz' });
    assert.equal(d.digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    assert.equal(d.size, bytes.length);
    assert.deepEqual(d.annotations, { 'org.opencontainers.image.title': 'db.tar.gz' });
    assert.equal(descriptorFor(bytes, TRIVY_LAYER, { embedData: true }).data, bytes.toString('base64'));
  });

  test('invalid descriptors are OCI_INVALID, naming the field', () => {
    const ok = emptyConfigDescriptor();
    rejectsOci(() => parseDescriptor(null), /^descriptor$/);
    rejectsOci(() => parseDescriptor({ ...ok, mediaType: 'nope' }), /mediaType/);
    rejectsOci(() => parseDescriptor({ ...ok, mediaType: 'a/b; charset=x' }), /mediaType/);
    rejectsOci(() => parseDescriptor({ ...ok, digest: 'sha256:ABC' }), /digest/);
    rejectsOci(() => parseDescriptor({ ...ok, digest: `sha256:${'A'.repeat(64)}` }), /digest/);
    rejectsOci(() => parseDescriptor({ ...ok, digest: `md5:${'a'.repeat(32)}` }), /digest/);
    rejectsOci(() => parseDescriptor({ ...ok, size: -1 }), /size/);
    rejectsOci(() => parseDescriptor({ ...ok, size: 1.5 }), /size/);
    rejectsOci(() => parseDescriptor({ ...ok, size: '2' }), /size/);
    rejectsOci(() => parseDescriptor({ ...ok, size: 2 ** 53 }), /size/);
    rejectsOci(() => parseDescriptor({ ...ok, urls: 'http://x' }), /urls/);
    rejectsOci(() => parseDescriptor({ ...ok, urls: ['not a url'] }), /urls\[0\]/);
    rejectsOci(() => parseDescriptor({ ...ok, annotations: { a: 1 } }), /annotations\.a/);
    rejectsOci(() => parseDescriptor({ ...ok, annotations: [] }), /annotations/);
    rejectsOci(() => parseDescriptor({ ...ok, data: 'e30' }), /data/);
    rejectsOci(() => parseDescriptor({ ...ok, data: 'e31=' }), /data/); // non-canonical padding bits
    rejectsOci(() => parseDescriptor({ ...ok, data: 'W10=' }), /data/); // "[]": right size, wrong digest
    rejectsOci(() => parseDescriptor({ ...ok, data: 'e30e30==' }), /data/);
    rejectsOci(() => parseDescriptor({ ...ok, artifactType: 'x' }), /artifactType/);
    rejectsOci(() => parseDescriptor({ ...ok, platform: { os: 'linux' } }), /platform/);
  });

  test('ref names follow the image-layout grammar', () => {
    for (const good of ['2', 'latest', 'v1.2.3', 'a/b', 'x--y', 'sha256-abc', 'a_b', 'a+b', 'a@b', 'a:b'])
      assert.ok(isRefName(good), good);
    for (const bad of ['', '-a', 'a-', 'a//b', '/a', 'a/', 'a b', 'a\u0000', 'é']) assert.ok(!isRefName(bad), bad);
    rejectsOci(() => withRefName(emptyConfigDescriptor(), 'a b'));
    assert.equal(withRefName(emptyConfigDescriptor(), '2').annotations!['org.opencontainers.image.ref.name'], '2');
  });
});

describe('OCI manifests and indexes', () => {
  const layer = descriptorFor(Buffer.from('db'), TRIVY_LAYER, { title: 'db.tar.gz' });

  test('artifact manifest (Trivy DB case): empty config, artifactType, file layers, annotations', () => {
    const m = buildManifest({
      artifactType: TRIVY_ARTIFACT,
      layers: [layer],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
    assert.equal(m.value.schemaVersion, 2);
    assert.equal(m.value.mediaType, OCI_MEDIA_TYPES.manifest);
    assert.deepEqual(m.value.config, emptyConfigDescriptor());
    assert.equal(m.descriptor.mediaType, OCI_MEDIA_TYPES.manifest);
    assert.equal(m.descriptor.artifactType, TRIVY_ARTIFACT);
    assert.equal(m.descriptor.size, m.bytes.byteLength);
    assert.equal(m.descriptor.digest, `sha256:${createHash('sha256').update(m.bytes).digest('hex')}`);
    // Canonical JSON: sorted keys, no whitespace; parses back to the same value.
    const text = Buffer.from(m.bytes).toString();
    assert.ok(text.startsWith('{"annotations":'), text);
    assert.ok(!/\s/.test(text.replace(/"[^"]*"/g, '')));
    assert.deepEqual(parseManifest(m.bytes), m.value);
    // Same input → same bytes.
    const again = buildManifest({
      artifactType: TRIVY_ARTIFACT,
      layers: [layer],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
    assert.ok(Buffer.from(again.bytes).equals(Buffer.from(m.bytes)));
  });

  test('golden bytes of an artifact manifest', () => {
    const m = buildManifest({ artifactType: TRIVY_ARTIFACT, layers: [layer] });
    assert.equal(
      Buffer.from(m.bytes).toString(),
      `{"artifactType":"${TRIVY_ARTIFACT}","config":{"digest":"${EMPTY_JSON_DIGEST}","mediaType":"application/vnd.oci.empty.v1+json","size":2},"layers":[{"annotations":{"org.opencontainers.image.title":"db.tar.gz"},"digest":"${layer.digest}","mediaType":"${TRIVY_LAYER}","size":2}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}`,
    );
    assert.equal(m.descriptor.digest, 'sha256:fc85b72c90fdb2372cec8764246af69d6feab1974619d30c147817604325405f');
  });

  test('no files → one empty layer; empty config without artifactType is refused', () => {
    const m = buildManifest({ artifactType: 'application/vnd.example.signal', layers: [] });
    assert.deepEqual(m.value.layers, [emptyConfigDescriptor()]);
    rejectsOci(() => buildManifest({ layers: [layer] }), /artifactType/);
  });

  test('image manifest with real config and a subject', () => {
    const config = descriptorFor(Buffer.from('{"architecture":"amd64","os":"linux"}'), OCI_MEDIA_TYPES.config);
    const img = buildManifest({ config, layers: [layer] });
    assert.equal(img.value.artifactType, undefined);
    assert.equal(img.descriptor.artifactType, undefined);
    const sig = buildManifest({
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      layers: [layer],
      subject: img.descriptor,
    });
    assert.deepEqual(parseManifest(sig.bytes).subject, img.descriptor);
  });

  test('index with ref names, and parseManifestOrIndex', () => {
    const m = buildManifest({ artifactType: TRIVY_ARTIFACT, layers: [layer] });
    const idx = buildIndex({ manifests: [withRefName(m.descriptor, '2')], annotations: { a: 'b' } });
    assert.equal(idx.descriptor.mediaType, OCI_MEDIA_TYPES.index);
    assert.deepEqual(parseIndex(idx.bytes), idx.value);
    assert.equal(parseManifestOrIndex(idx.bytes).kind, 'index');
    assert.equal(parseManifestOrIndex(m.bytes).kind, 'manifest');
    // skopeo's index.json omits mediaType: detected by shape or hint
    const noMt = JSON.stringify({ schemaVersion: 2, manifests: [m.descriptor] });
    assert.equal(parseManifestOrIndex(noMt).kind, 'index');
    assert.equal(parseManifestOrIndex(noMt, OCI_MEDIA_TYPES.index).kind, 'index');
  });

  test('malformed manifests and indexes → OCI_INVALID', () => {
    const good = JSON.parse(
      Buffer.from(buildManifest({ artifactType: TRIVY_ARTIFACT, layers: [layer] }).bytes).toString(),
    );
    const bad: Array<[unknown, RegExp]> = [
      [{ ...good, schemaVersion: 1 }, /schemaVersion/],
      [{ ...good, schemaVersion: '2' }, /schemaVersion/],
      [{ ...good, mediaType: OCI_MEDIA_TYPES.index }, /mediaType/],
      [{ ...good, config: undefined }, /config/],
      [{ ...good, config: { ...good.config, digest: 'sha256:xyz' } }, /config\.digest/],
      [{ ...good, layers: undefined }, /layers/],
      [{ ...good, layers: {} }, /layers/],
      [{ ...good, layers: [{ ...good.layers[0], size: -5 }] }, /layers\[0\]\.size/],
      [{ ...good, artifactType: undefined }, /artifactType/],
      [{ ...good, artifactType: 'not a type' }, /artifactType/],
      [{ ...good, manifests: [] }, /manifests/],
      [{ ...good, subject: { digest: 'x' } }, /subject/],
      [{ ...good, annotations: { k: null } }, /annotations/],
    ];
    for (const [doc, where] of bad) rejectsOci(() => parseManifest(JSON.stringify(doc)), where);
    rejectsOci(() => parseManifest('{'), /manifest/);
    rejectsOci(() => parseManifest('[]'), /manifest/);
    rejectsOci(() => parseManifest(new Uint8Array([0xff, 0xfe])), /manifest/);
    rejectsOci(() => parseManifest(' '.repeat(MAX_MANIFEST_BYTES + 1)), /manifest/);
    rejectsOci(() => parseIndex(JSON.stringify({ schemaVersion: 2, manifests: 'x' })), /manifests/);
    rejectsOci(() => parseIndex(JSON.stringify({ schemaVersion: 2, manifests: [], config: good.config })), /index/);
    rejectsOci(() => parseIndex(JSON.stringify({ schemaVersion: 2, manifests: [{}] })), /manifests\[0\]/);
    rejectsOci(
      () =>
        parseManifestOrIndex(
          JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }),
        ),
      /mediaType/,
    );
    rejectsOci(() => serializeOciJson({ x: Number.NaN }));
  });

  test('oci-layout file', () => {
    assert.equal(Buffer.from(ociLayoutFileBytes()).toString(), '{"imageLayoutVersion":"1.0.0"}');
    assert.deepEqual(parseOciLayoutFile(ociLayoutFileBytes()), { imageLayoutVersion: '1.0.0' });
    rejectsOci(() => parseOciLayoutFile('{"imageLayoutVersion":"2.0.0"}'));
    rejectsOci(() => parseOciLayoutFile('{}'));
    rejectsOci(() => parseOciLayoutFile('nope'));
  });

  test('property: built manifests and indexes parse back to the same value and bytes', () => {
    const mediaType = fc.constantFrom(
      OCI_MEDIA_TYPES.layerTarGzip,
      TRIVY_LAYER,
      'application/vnd.example+json',
      'text/plain',
    );
    const desc = fc
      .record({
        bytes: fc.uint8Array({ maxLength: 64 }),
        mediaType,
        title: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
        annotations: fc.option(
          fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
          { nil: undefined },
        ),
        embedData: fc.boolean(),
      })
      .map(({ bytes, mediaType: mt, title, annotations, embedData }) =>
        descriptorFor(bytes, mt, {
          ...(title !== undefined ? { title } : {}),
          ...(annotations ? { annotations } : {}),
          embedData,
        }),
      );
    fc.assert(
      fc.property(
        fc.array(desc, { maxLength: 4 }),
        fc.option(fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 30 }), { maxKeys: 3 }), {
          nil: undefined,
        }),
        fc.boolean(),
        (layers, annotations, withSubject) => {
          const subject = withSubject ? descriptorFor(Buffer.from('subject'), OCI_MEDIA_TYPES.manifest) : undefined;
          const m = buildManifest({
            artifactType: TRIVY_ARTIFACT,
            layers,
            ...(annotations ? { annotations } : {}),
            ...(subject ? { subject } : {}),
          });
          const back = parseManifest(m.bytes);
          assert.deepEqual(back, JSON.parse(JSON.stringify(m.value)));
          assert.ok(Buffer.from(serializeOciJson(back)).equals(Buffer.from(m.bytes)));
          const idx = buildIndex({ manifests: [m.descriptor, ...layers] });
          assert.ok(Buffer.from(serializeOciJson(parseIndex(idx.bytes))).equals(Buffer.from(idx.bytes)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('fuzz: random JSON and random bytes → a valid document or OCI_INVALID', () => {
    const anyDoc = fc.oneof(
      fc.jsonValue(),
      fc.record({
        schemaVersion: fc.constantFrom(2, 1, '2'),
        mediaType: fc.option(fc.constantFrom(OCI_MEDIA_TYPES.manifest, OCI_MEDIA_TYPES.index, 'x/y', 'bad'), {
          nil: undefined,
        }),
        artifactType: fc.option(fc.constantFrom(TRIVY_ARTIFACT, 'bad', ''), { nil: undefined }),
        config: fc.option(fc.oneof(fc.constant(emptyConfigDescriptor()), fc.constant(layer), fc.jsonValue()), {
          nil: undefined,
        }),
        layers: fc.option(
          fc.oneof(fc.array(fc.oneof(fc.constant(layer), fc.jsonValue()), { maxLength: 3 }), fc.jsonValue()),
          { nil: undefined },
        ),
        manifests: fc.option(fc.array(fc.oneof(fc.constant(layer), fc.jsonValue()), { maxLength: 3 }), {
          nil: undefined,
        }),
        annotations: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), { nil: undefined }),
      }),
    );
    fc.assert(
      fc.property(anyDoc, (doc) => {
        const text = JSON.stringify(doc) ?? 'null';
        for (const parse of [parseManifest, parseIndex, (t: string) => parseManifestOrIndex(t)]) {
          try {
            parse(text);
          } catch (e) {
            if (!isStellaError(e, 'OCI_INVALID')) throw e;
          }
        }
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          parseManifestOrIndex(bytes);
        } catch (e) {
          if (!isStellaError(e, 'OCI_INVALID')) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('strict parsing and descriptor kind (issue 20 point 5)', () => {
  const layer = descriptorFor(new Uint8Array([1, 2]), TRIVY_LAYER);
  const m = buildManifest({ artifactType: TRIVY_ARTIFACT, layers: [layer] });
  const idx = buildIndex({ manifests: [m.descriptor] });

  test('duplicate JSON members in manifests, indexes and oci-layout are OCI_INVALID', () => {
    const text = new TextDecoder().decode(m.bytes);
    // A second artifactType: JSON.parse would keep the last one, another reader the first.
    const dup = text.replace('{', `{"artifactType":"application/x-other",`);
    assert.deepEqual(JSON.parse(dup), m.value, 'JSON.parse sees the same manifest');
    rejectsOci(() => parseManifest(dup), /^manifest$/);
    rejectsOci(() => parseManifestOrIndex(dup));
    const idxText = new TextDecoder().decode(idx.bytes);
    rejectsOci(() => parseIndex(idxText.replace('{', '{"manifests":[],')), /^index$/);
    rejectsOci(() => parseOciLayoutFile('{"imageLayoutVersion":"9","imageLayoutVersion":"1.0.0"}'));
  });

  test('a descriptor media type must agree with the document it points at', () => {
    rejectsOci(() => parseManifestOrIndex(m.bytes, OCI_MEDIA_TYPES.index), /^document\.mediaType$/);
    rejectsOci(() => parseManifestOrIndex(idx.bytes, OCI_MEDIA_TYPES.manifest), /^document\.mediaType$/);
    assert.equal(parseManifestOrIndex(m.bytes, OCI_MEDIA_TYPES.manifest).kind, 'manifest');
    assert.equal(parseManifestOrIndex(idx.bytes, OCI_MEDIA_TYPES.index).kind, 'index');
  });
});
