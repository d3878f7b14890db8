/**
 * The bundle format without the runtime: manifest order and Merkle root (checked against an
 * independent Python RFC 9162 verifier), seal, deterministic archive and every verify failure.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { keyIdHint, spkiPem, createKeySigner } from '@stella/core/signing';
import { sigstorePublicKeyDetails } from '@stella/core/sigstore';
import { createTarGz, readTarGz } from '@stella/core/tar';
import { makeOpensslTsaPki, needTool, run, startOpensslTsaHttp, tempDir } from '@stella/testkit';
import { readFile } from 'node:fs/promises';
import { createBundleArchive } from './archive.js';
import { opens } from './commitment.js';
import { artifactInclusionProof, buildManifest, byPath, type ArtifactEntry, type SealedArtifact } from './manifest.js';
import { sealManifest } from './seal.js';
import { verifyBundle } from './verify.js';

const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const contents: Record<string, Buffer> = {
  'b/sbom.json': Buffer.from('{"bomFormat":"CycloneDX"}'),
  'a/log.txt': Buffer.from('step 1 ok\n'),
  'a/\u{1F600}.txt': Buffer.from('astral'),
  'a/\uE000.txt': Buffer.from('private use'),
  'env.json': Buffer.from('{"node":"22"}'),
};
const entries: SealedArtifact[] = Object.entries(contents).map(([path, bytes]) => ({
  path,
  role: 'input',
  mediaType: 'application/json',
  size: bytes.byteLength,
  digest: sha(bytes),
}));

const SALT_KEY = new Uint8Array(32).fill(7);

function manifestOf(
  artifacts: SealedArtifact[],
  bundleId = '01J00000000000000000000001',
  at = new Date(0),
  saltKey = SALT_KEY,
) {
  return buildManifest({ bundleId, tenant: 'acme', kind: 'job', createdAt: at, artifacts, saltKey });
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = createKeySigner(privateKey);

async function bundle(tsaUrl?: string) {
  const files = contents;
  const m = manifestOf(entries);
  const seal = await sealManifest(m.manifest, m.digest, signer, tsaUrl);
  const input = {
    ...(seal.timestamp ? { timestampTsr: seal.timestamp.tsr } : {}),
    manifestBytes: m.bytes,
    signatureJson: seal.signatureJson,
    publicKeyPem: seal.publicKeyPem,
    artifacts: byPath(entries),
    openings: m.openings,
    openArtifact: async (a: SealedArtifact) => Readable.from([files[a.path]!]),
  };
  return { m, seal, tgz: await bytesOf(createBundleArchive(input)), again: () => bytesOf(createBundleArchive(input)) };
}

/** The archive's files, for re-packing a modified copy. */
async function filesOf(tgz: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const e of readTarGz(tgz)) {
    if (e.type !== 'file') continue;
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    out.set(e.path, Buffer.concat(chunks));
  }
  return out;
}

async function repack(files: Map<string, Buffer>): Promise<Buffer> {
  return bytesOf(createTarGz([...files].map(([path, body]) => ({ path, body: new Uint8Array(body) }))));
}

const failed = (r: Awaited<ReturnType<typeof verifyBundle>>) =>
  r.checks.filter((c) => c.status === 'fail').map((c) => c.check);

describe('manifest and Merkle root', () => {
  test('entries sorted by UTF-8 bytes; root independent of input order, bundle id and time', () => {
    const m1 = manifestOf(entries);
    assert.deepEqual(
      m1.manifest.artifacts.map((a) => a.path),
      // U+E000 (EE 80 80) sorts before U+1F600 (F0 9F 98 80) in UTF-8, unlike UTF-16 code units.
      ['a/log.txt', 'a/\uE000.txt', 'a/\u{1F600}.txt', 'b/sbom.json', 'env.json'],
    );
    const m2 = manifestOf([...entries].reverse(), '01J00000000000000000000002', new Date());
    assert.equal(m2.manifest.merkle.root, m1.manifest.merkle.root);
    assert.notEqual(m2.digest, m1.digest);
    assert.equal(m1.manifest.merkle.leafCount, 5);
    assert.equal(m1.digest, sha(m1.bytes));
  });

  test('entries carry salted commitments, not digests (ADR 0011); openings open them', () => {
    const m1 = manifestOf(entries);
    const manifestText = Buffer.from(m1.bytes).toString('utf8');
    for (const e of entries) assert.ok(!manifestText.includes(e.digest), `${e.path}: digest in the manifest`);
    for (const [i, a] of m1.manifest.artifacts.entries()) {
      const o = m1.openings[i]!;
      assert.equal(o.path, a.path);
      assert.equal(o.digest, entries.find((e) => e.path === a.path)!.digest);
      // The commitment, recomputed with Node's HMAC straight from the ADR's definition.
      const mac = createHmac('sha256', Buffer.from(o.salt, 'hex')).update(o.digest).digest('hex');
      assert.equal(a.commitment, `hmac-sha256:${mac}`);
      assert.ok(opens(a.commitment, o));
      assert.ok(!opens(a.commitment, { ...o, digest: sha('guess') }));
    }
    // Another tenant key: other salts, so other commitments and another root for the same inputs.
    const other = manifestOf(entries, undefined, undefined, new Uint8Array(32).fill(8));
    assert.notEqual(other.manifest.merkle.root, m1.manifest.merkle.root);
    // The same content at two paths gets two salts: equal commitments would reveal equal content.
    const twin = manifestOf([
      { ...entries[0]!, path: 'x/one' },
      { ...entries[0]!, path: 'x/two' },
    ]);
    assert.notEqual(twin.manifest.artifacts[0]!.commitment, twin.manifest.artifacts[1]!.commitment);
  });

  test(
    'an inclusion proof verifies with an independent Python RFC 9162 verifier',
    { skip: needTool('python3') },
    async () => {
      const { manifest } = manifestOf(entries);
      const index = 3;
      const proof = artifactInclusionProof(manifest.artifacts, index);
      // RFC 8785 for ASCII-only members equals sorted-key compact JSON; index 3 is b/sbom.json.
      const script = `
import hashlib, json, sys
entry, index, size, proof, root = json.loads(sys.stdin.read())
h = lambda b: hashlib.sha256(b).digest()
leaf = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
r, fn, sn = h(b"\\x00" + leaf), index, size - 1
for p in map(bytes.fromhex, proof):  # RFC 9162 section 2.1.3.2
    if sn == 0: sys.exit("proof too long")
    if fn & 1 or fn == sn:
        r = h(b"\\x01" + p + r)
        while not fn & 1 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        r = h(b"\\x01" + r + p)
    fn >>= 1; sn >>= 1
sys.exit(0 if sn == 0 and r.hex() == root else "root mismatch")
`;
      const input = (e: ArtifactEntry) => JSON.stringify([e, index, 5, proof, manifest.merkle.root]);
      const ok = await run('python3', ['-c', script], { input: input(manifest.artifacts[index]!) });
      assert.equal(ok.code, 0, ok.stderr.toString());
      const tampered = { ...manifest.artifacts[index]!, size: 1 };
      assert.notEqual((await run('python3', ['-c', script], { input: input(tampered) })).code, 0);
    },
  );
});

describe('bundle archive and offline verification', () => {
  test('the same bundle gives the same bytes, and it verifies (bundle key and given key)', async () => {
    const b = await bundle();
    assert.ok(b.tgz.equals(await b.again()));
    const r = await verifyBundle(b.tgz);
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.equal(r.rootHash, b.m.manifest.merkle.root);
    assert.equal((await verifyBundle(Readable.from([b.tgz]), { publicKeyPem: spkiPem(publicKey) })).ok, true);
  });

  test('each kind of damage fails the check that names it', async () => {
    const b = await bundle();
    const base = await filesOf(b.tgz);

    const other = generateKeyPairSync('ed25519').publicKey;
    const wrongKey = await verifyBundle(b.tgz, { publicKeyPem: spkiPem(other) });
    assert.deepEqual(failed(wrongKey), ['signature']);
    assert.equal(wrongKey.ok, false);

    // An edited manifest with matching checksums: the seal no longer covers it.
    const edited = new Map(base);
    const m = JSON.parse(edited.get('manifest.json')!.toString()) as { kind: string };
    m.kind = 'export';
    edited.set('manifest.json', Buffer.from(JSON.stringify(m)));
    const sums = [...edited]
      .filter(([p]) => p !== 'checksums.txt')
      .map(([p, body]) => `${sha(body).slice(7)}  ${p}\n`)
      .sort((x, y) => (x.slice(66) < y.slice(66) ? -1 : 1))
      .join('');
    edited.set('checksums.txt', Buffer.from(sums));
    assert.deepEqual(failed(await verifyBundle(await repack(edited))), ['statement']);

    const extra = new Map(base).set('artifacts/smuggled.bin', Buffer.from('x'));
    assert.deepEqual(failed(await verifyBundle(await repack(extra))), [
      'checksum:artifacts/smuggled.bin',
      'artifact:smuggled.bin',
    ]);

    const missing = new Map(base);
    missing.delete('artifacts/env.json');
    assert.deepEqual(failed(await verifyBundle(await repack(missing))), [
      'checksum:artifacts/env.json',
      'artifact:env.json',
    ]);

    const unsigned = new Map(base);
    unsigned.delete('signature.json');
    const r = await verifyBundle(await repack(unsigned));
    assert.equal(r.ok, false);
    assert.ok(failed(r).includes('signature'));

    assert.deepEqual(failed(await verifyBundle(Buffer.from('not a tarball'))), ['archive']);
  });
});

const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/** seal.sigstore.json through the independent verifier `@sigstore/verify@3`, offline. */
function sigstoreVerify(json: string, tsa?: { leaf: string; root: string }): void {
  const trustedRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: tsa
      ? [
          {
            subject: { organization: 'test', commonName: 'Test TSA' },
            certChain: {
              certificates: [
                { rawBytes: der(tsa.leaf).toString('base64') },
                { rawBytes: der(tsa.root).toString('base64') },
              ],
            },
            validFor: { start: '2020-01-01T00:00:00Z' },
          },
        ]
      : [],
  });
  const keys = {
    [keyIdHint(signer.keyId)]: {
      rawBytes: Buffer.from(signer.publicKeySpki()),
      keyDetails: sigstorePublicKeyDetails(signer.algorithm),
    },
  };
  new Verifier(toTrustMaterial(trustedRoot, keys as never), {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    timestampThreshold: tsa ? 1 : 0,
  }).verify(toSignedEntity(bundleFromJSON(JSON.parse(json))));
}

describe('seal.sigstore.json', () => {
  test(
    'accepted by @sigstore/verify offline, untimestamped and with the RFC 3161 token of timestamp.tsr',
    { skip: needTool('openssl') },
    async () => {
      const plain = await filesOf((await bundle()).tgz);
      sigstoreVerify(plain.get('seal.sigstore.json')!.toString());

      const dir = await tempDir('stella-evidence-sigstore-');
      const pki = await makeOpensslTsaPki(dir.path);
      const tsa = await startOpensslTsaHttp(pki);
      try {
        const b = await bundle(tsa.url);
        const files = await filesOf(b.tgz);
        const chain = { leaf: await readFile(pki.tsaCert, 'utf8'), root: await readFile(pki.caCert, 'utf8') };
        sigstoreVerify(files.get('seal.sigstore.json')!.toString(), chain);
        const r = await verifyBundle(b.tgz, { tsaCaPem: [chain.root] });
        assert.equal(r.ok, true, JSON.stringify(r.checks));
        assert.deepEqual(
          r.checks.filter((c) => ['sigstore', 'timestamp'].includes(c.check)).map((c) => [c.check, c.status]),
          [
            ['sigstore', 'pass'],
            ['timestamp', 'pass'],
          ],
        );
        // A Sigstore bundle whose seal differs from signature.json is named.
        const swapped = new Map(files).set('seal.sigstore.json', plain.get('seal.sigstore.json')!);
        assert.ok(failed(await verifyBundle(await repack(swapped))).includes('sigstore'));
      } finally {
        await tsa.close();
        await dir.cleanup();
      }
    },
  );
});
