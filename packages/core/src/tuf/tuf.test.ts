import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { Metadata, MetadataKind } from '@tufjs/models';
import { isStellaError } from '@stella/core/errors';
import { assertRejectsStella, assertStellaError } from '@stella/testkit';
import { sha256Hex } from '@stella/core/digest';
import {
  buildRoot,
  buildTargets,
  buildTufRepository,
  parseTufMetadata,
  serializeMetadata,
  signMetadata,
  targetFileInfo,
  targetFileInfoFromDigest,
  tufKeyFromKeyObject,
  tufKeyId,
  tufSignerFromFunction,
  tufSignerFromKeyObject,
  tufTargetFilePath,
  verifyTufRepository,
  verifyTufTarget,
  verifyTufThreshold,
  type BuildTufRepositoryOptions,
  type TufRepository,
  type TufSigner,
} from '@stella/core/tuf';
import { ed25519FromSeed } from './tuf-test-keys.js';

const enc = new TextEncoder();
const T0 = new Date('2026-01-01T00:00:00Z');
const EXP = new Date('2030-01-01T00:00:00Z');
const now = () => T0;
const signer = (seed: number) => tufSignerFromKeyObject(ed25519FromSeed(seed));

function opts(over: Partial<BuildTufRepositoryOptions> = {}): BuildTufRepositoryOptions {
  return {
    roles: {
      root: { signers: [signer(1), signer(2), signer(3)], threshold: 2 },
      targets: { signers: [signer(4)], threshold: 1 },
      snapshot: { signers: [signer(5)], threshold: 1 },
      timestamp: { signers: [signer(6)], threshold: 1 },
    },
    targets: [
      { path: 'bundle-manifest.json', content: enc.encode('{"hello":"world"}\n') },
      { path: 'db/trivy.db.tgz', content: enc.encode('not really a db') },
    ],
    expires: { root: EXP, targets: EXP, snapshot: EXP, timestamp: EXP },
    ...over,
  };
}
const file = (r: TufRepository, p: string) => r.files.find((f) => f.path === p)!.bytes;
const filesOf = (r: TufRepository) => ({
  trustedRoot: file(r, 'metadata/1.root.json'),
  timestamp: file(r, 'metadata/timestamp.json'),
  snapshot: file(r, 'metadata/1.snapshot.json'),
  targets: file(r, 'metadata/1.targets.json'),
});

describe('TUF keys', () => {
  test('ed25519 key object and KEYID = sha256(OLPC canonical key)', () => {
    const s = signer(1);
    // Public key of seed 32×0x01 (spec §1 DSSE vector).
    assert.deepEqual(s.key, {
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c' },
    });
    assert.equal(
      s.keyid,
      sha256Hex(
        '{"keytype":"ed25519","keyval":{"public":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"},"scheme":"ed25519"}',
      ),
    );
    assert.equal(tufKeyId(s.key), s.keyid);
  });

  test('ECDSA P-256 and RSA-PSS signers verify, here and in @tufjs/models', async () => {
    const ec = tufSignerFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const rsa = tufSignerFromKeyObject(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    assert.equal(ec.key.scheme, 'ecdsa-sha2-nistp256');
    assert.match(ec.key.keyval.public, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(rsa.key.scheme, 'rsassa-pss-sha256');
    const root = buildRoot({
      version: 1,
      expires: EXP,
      roles: {
        root: { keys: [ec.key, rsa.key], threshold: 2 },
        targets: { keys: [ec.key], threshold: 1 },
        snapshot: { keys: [ec.key], threshold: 1 },
        timestamp: { keys: [rsa.key], threshold: 1 },
      },
    });
    const md = await signMetadata(root, [rsa, ec]);
    verifyTufThreshold(md, root.keys, root.roles.root, 'root');
    const theirs = Metadata.fromJSON(MetadataKind.Root, JSON.parse(Buffer.from(serializeMetadata(md)).toString()));
    theirs.verifyDelegate('root', theirs);
    assertStellaError(
      () => tufKeyFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey),
      'KEY_INVALID',
    );
    assertStellaError(() => tufSignerFromKeyObject(generateKeyPairSync('ed25519').publicKey), 'KEY_INVALID');
  });

  test('external sign functions (HSM-style) work through tufSignerFromFunction', async () => {
    const kp = ed25519FromSeed(9);
    const inner = tufSignerFromKeyObject(kp);
    let calls = 0;
    const ext = tufSignerFromFunction(inner.key, (d) => (calls++, inner.sign(d)));
    assert.equal(ext.keyid, inner.keyid);
    const t = buildTargets({ version: 1, expires: EXP, targets: {} });
    const md = await signMetadata(t, [ext, ext]);
    assert.equal(md.signatures.length, 1, 'one signature per keyid');
    assert.equal(calls, 1);
  });
});

describe('TUF repository build + verify', () => {
  test('verifies; @tufjs/models agrees on every signature', async () => {
    const r = await buildTufRepository(opts());
    const v = verifyTufRepository(filesOf(r), { now });
    assert.deepEqual(Object.keys(v.targets.targets), ['bundle-manifest.json', 'db/trivy.db.tgz']);
    const content = enc.encode('{"hello":"world"}\n');
    verifyTufTarget(v.targets, 'bundle-manifest.json', content);
    assert.ok(r.files.some((f) => f.path === `targets/${sha256Hex(content)}.bundle-manifest.json`));
    assert.ok(r.files.some((f) => /^targets\/db\/[0-9a-f]{64}\.trivy\.db\.tgz$/.test(f.path)));
    const j = (p: string) => JSON.parse(Buffer.from(file(r, p)).toString());
    const root = Metadata.fromJSON(MetadataKind.Root, j('metadata/1.root.json'));
    root.verifyDelegate('root', root);
    root.verifyDelegate('timestamp', Metadata.fromJSON(MetadataKind.Timestamp, j('metadata/timestamp.json')));
    root.verifyDelegate('snapshot', Metadata.fromJSON(MetadataKind.Snapshot, j('metadata/1.snapshot.json')));
    root.verifyDelegate('targets', Metadata.fromJSON(MetadataKind.Targets, j('metadata/1.targets.json')));
  });

  test('determinism: the same inputs give byte-identical files (golden digests)', async () => {
    const a = await buildTufRepository(opts());
    const b = await buildTufRepository(opts({ targets: [...opts().targets].reverse() }));
    assert.deepEqual(
      a.files.map((f) => f.path),
      b.files.map((f) => f.path),
    );
    a.files.forEach((f, i) => assert.deepEqual(f.bytes, b.files[i]!.bytes, f.path));
    const golden = Object.fromEntries(
      a.files.filter((f) => f.path.startsWith('metadata/')).map((f) => [f.path, sha256Hex(f.bytes)]),
    );
    assert.deepEqual(golden, {
      'metadata/1.root.json': '6aabaa5326a77f4335b01bafbf57abaef7ef694bcdba08d9d559042a813f32a4',
      'metadata/1.snapshot.json': '06ad4dbda7da6301e50d6bac85b3d8f4945b9bde415ef3171152cdc0099eb14f',
      'metadata/1.targets.json': '56d614b0182e2c7ab155a063355afc5ae5b352f95f81f238ae83640b152d9c33',
      'metadata/root.json': '6aabaa5326a77f4335b01bafbf57abaef7ef694bcdba08d9d559042a813f32a4',
      'metadata/timestamp.json': '4a4fd6f5d52852ecf7b7f69d5789eabd5612ec7ef74d0d197055682c3eea588f',
    });
  });

  test('threshold: too few, foreign, duplicate or forged signatures are TUF_INVALID', async () => {
    const r = await buildTufRepository(opts());
    const rootMd = r.root;
    const root = rootMd.signed;
    const one = { ...rootMd, signatures: rootMd.signatures.slice(0, 1) };
    assertStellaError(() => verifyTufThreshold(one, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    const dup = { ...rootMd, signatures: [rootMd.signatures[0]!, rootMd.signatures[0]!] };
    assertStellaError(() => verifyTufThreshold(dup, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    const foreign = await signMetadata(root, [signer(1), signer(4)]); // key 4 is a targets key, not a root key
    assertStellaError(() => verifyTufThreshold(foreign, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    const forged = {
      ...rootMd,
      signatures: rootMd.signatures.map((s) => ({ ...s, sig: s.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) })),
    };
    assertStellaError(() => verifyTufThreshold(forged, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    const edited = { ...rootMd, signed: { ...root, version: 2 } };
    assertStellaError(() => verifyTufThreshold(edited, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    // 2 of 3 is enough.
    verifyTufThreshold(await signMetadata(root, [signer(2), signer(3)]), root.keys, root.roles.root, 'root');
  });

  test('expiry uses the injected clock, for every role', async () => {
    for (const role of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      const past = new Date('2025-06-01T00:00:00Z');
      const r = await buildTufRepository(
        opts({ expires: { root: EXP, targets: EXP, snapshot: EXP, timestamp: EXP, [role]: past } }),
      );
      const e = assertStellaError(() => verifyTufRepository(filesOf(r), { now }), 'TUF_EXPIRED');
      assert.equal((e.details as { role: string }).role, role);
      verifyTufRepository(filesOf(r), { now: () => new Date('2025-01-01T00:00:00Z') });
    }
    // Expiry is inclusive: at exactly `expires` the metadata is expired.
    const r = await buildTufRepository(opts());
    assertStellaError(() => verifyTufRepository(filesOf(r), { now: () => EXP }), 'TUF_EXPIRED');
  });

  test('inconsistent snapshot/targets (version, length, hash) are TUF_INVALID', async () => {
    const r = await buildTufRepository(opts());
    const other = await buildTufRepository(opts({ targets: [{ path: 'x', content: enc.encode('x') }] }));
    const v2 = await buildTufRepository(opts({ versions: { targets: 2 } }));
    const f = filesOf(r);
    assertStellaError(() => verifyTufRepository({ ...f, targets: filesOf(other).targets }, { now }), 'TUF_INVALID');
    assertStellaError(() => verifyTufRepository({ ...f, snapshot: filesOf(other).snapshot }, { now }), 'TUF_INVALID');
    assertStellaError(
      () => verifyTufRepository({ ...f, targets: file(v2, 'metadata/2.targets.json') }, { now }),
      'TUF_INVALID',
    );
    // Same JSON value, different bytes (whitespace): the snapshot hash/length pins the exact bytes.
    const spaced = enc.encode(JSON.stringify(JSON.parse(Buffer.from(f.targets).toString()), null, 1));
    assertStellaError(() => verifyTufRepository({ ...f, targets: spaced }, { now }), 'TUF_INVALID');
    // Swapped roles.
    assertStellaError(() => verifyTufRepository({ ...f, timestamp: f.snapshot }, { now }), 'TUF_INVALID');
  });

  test('root rotation: v2 must be signed by old and new root keys, version +1', async () => {
    const r1 = await buildTufRepository(opts());
    const newRoles = { ...opts().roles, root: { signers: [signer(7)], threshold: 1 } };
    const r2new = await buildTufRepository(opts({ roles: newRoles, versions: { root: 2 } }));
    const root2 = r2new.root.signed;
    const both = serializeMetadata(await signMetadata(root2, [signer(1), signer(2), signer(7)]));
    verifyTufRepository({ ...filesOf(r1), rootUpdates: [both] }, { now });
    const onlyNew = serializeMetadata(await signMetadata(root2, [signer(7)]));
    assertStellaError(() => verifyTufRepository({ ...filesOf(r1), rootUpdates: [onlyNew] }, { now }), 'TUF_INVALID');
    const onlyOld = serializeMetadata(await signMetadata(root2, [signer(1), signer(2)]));
    assertStellaError(() => verifyTufRepository({ ...filesOf(r1), rootUpdates: [onlyOld] }, { now }), 'TUF_INVALID');
    const v3 = serializeMetadata(await signMetadata({ ...root2, version: 3 }, [signer(1), signer(2), signer(7)]));
    assertStellaError(() => verifyTufRepository({ ...filesOf(r1), rootUpdates: [v3] }, { now }), 'TUF_INVALID');
  });

  test('targets: unknown path, wrong length, wrong hash are TUF_INVALID', async () => {
    const v = verifyTufRepository(filesOf(await buildTufRepository(opts())), { now });
    assertStellaError(() => verifyTufTarget(v.targets, 'nope', enc.encode('x')), 'TUF_INVALID');
    assertStellaError(
      () => verifyTufTarget(v.targets, 'bundle-manifest.json', enc.encode('{"hello":"world"}\n!')),
      'TUF_INVALID',
    );
    assertStellaError(
      () => verifyTufTarget(v.targets, 'bundle-manifest.json', enc.encode('{"hello":"World"}\n')),
      'TUF_INVALID',
    );
    assertStellaError(() => verifyTufTarget(v.targets, '__proto__', enc.encode('x')), 'TUF_INVALID');
  });

  test('builder input errors are coded', async () => {
    for (const path of ['', '/abs', 'a/../b', 'a//b', './a', 'a\\b', 'sp ace', 'ünï', 'a\nb']) {
      await assertRejectsStella(
        buildTufRepository(opts({ targets: [{ path, content: enc.encode('x') }] })),
        'TUF_INVALID',
      );
    }
    await assertRejectsStella(
      buildTufRepository(
        opts({
          targets: [
            { path: 'a', content: enc.encode('x') },
            { path: 'a', content: enc.encode('y') },
          ],
        }),
      ),
      'TUF_INVALID',
    );
    await assertRejectsStella(buildTufRepository(opts({ targets: [{ path: 'a' }] })), 'TUF_INVALID');
    await assertRejectsStella(
      buildTufRepository(opts({ targets: [{ path: 'a', content: enc.encode('x'), custom: { ratio: 0.5 } }] })),
      'JSON_INVALID',
    );
    await assertRejectsStella(buildTufRepository(opts({ versions: { root: 0 } })), 'TUF_INVALID');
    await assertRejectsStella(
      buildTufRepository(opts({ roles: { ...opts().roles, root: { signers: [signer(1)], threshold: 2 } } })),
      'TUF_INVALID',
    );
    await assertRejectsStella(
      buildTufRepository(opts({ expires: { ...opts().expires, root: new Date('nope') } })),
      'TUF_INVALID',
    );
    assertStellaError(() => targetFileInfoFromDigest(-1, 'a'.repeat(64)), 'TUF_INVALID');
    assertStellaError(() => targetFileInfoFromDigest(1, 'A'.repeat(64)), 'TUF_INVALID');
    assert.equal(tufTargetFilePath('a/b.txt', targetFileInfo(enc.encode('x')), false), 'targets/a/b.txt');
  });

  test('parse: malformed, truncated, duplicate-name and wrong-type metadata are TUF_INVALID', async () => {
    const r = await buildTufRepository(opts());
    const ts = Buffer.from(file(r, 'metadata/timestamp.json')).toString();
    const bad = [
      '',
      ts.slice(0, ts.length - 1),
      ts.slice(0, 40),
      '[]',
      '{"signed":{},"signatures":[]}',
      ts.replace('"signatures":[', '"signatures":[{"keyid":1,"sig":"00"},'),
      ts.replace('"_type":"timestamp"', '"_type":"snapshot"'),
      ts.replace('"spec_version":"1.0.31"', '"spec_version":"2.0.0"'),
      ts.replace(/"expires":"[^"]+"/, '"expires":"2030-01-01T00:00:00.000Z"'),
      ts.replace('"version":1', '"version":0'),
      ts.replace('"_type":"timestamp"', '"_type":"timestamp","_type":"timestamp"'),
      ts.replace('"meta":{', '"meta":{"extra.json":{"version":1},'),
    ];
    for (const b of bad) assertStellaError(() => parseTufMetadata(b, 'timestamp'), 'TUF_INVALID');
    assert.doesNotThrow(() => parseTufMetadata(ts, 'timestamp'));
  });

  test('property (fuzz): mutated metadata never verifies and never crashes', async () => {
    const r = await buildTufRepository(opts());
    const f = filesOf(r);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('timestamp', 'snapshot', 'targets', 'trustedRoot'),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (which, posRaw, xor) => {
          const orig = f[which as keyof typeof f];
          const pos = posRaw % orig.length;
          const mutated = Uint8Array.from(orig, (b, i) => (i === pos ? b ^ xor : b));
          try {
            verifyTufRepository({ ...f, [which]: mutated }, { now });
          } catch (e) {
            assert.ok(isStellaError(e, 'TUF_INVALID') || isStellaError(e, 'TUF_EXPIRED'), String(e));
            return;
          }
          // Only an unsigned part may change and still verify: a spare signature of the 2-of-3 root.
          // timestamp/snapshot/targets bytes are pinned by their parent's hash, so they never may.
          assert.equal(which, 'trustedRoot', `a mutated ${which} verified (byte ${pos} ^ ${xor})`);
          assert.deepEqual(parseTufMetadata(mutated, 'root').signed, r.root.signed);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// Unused type import guard (keeps TufSigner in the public surface used by tests).
export type _S = TufSigner;
