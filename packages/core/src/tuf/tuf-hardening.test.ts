/*
 * Regression tests for issue 19 finding 2 (one key counted twice toward a threshold, keyids that
 * are not the hash of their key) and issue 20 point 5 (unchecked sha512 beside sha256, unchecked
 * `delegations`, impossible calendar dates).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { assertStellaError } from '@stella/testkit';
import { canonicalOlpcBytes } from '@stella/core/canonical-json';
import { sha256Hex } from '@stella/core/digest';
import {
  buildRoot,
  buildSnapshot,
  buildTimestamp,
  buildTufRepository,
  metaFileInfo,
  parseTufMetadata,
  serializeMetadata,
  signMetadata,
  tufKeyId,
  tufSignerFromKeyObject,
  verifyTufRepository,
  verifyTufTarget,
  verifyTufThreshold,
  type BuildTufRepositoryOptions,
  type TufKey,
  type TufMetadata,
  type TufRepository,
  type TufRoot,
  type TufSigned,
  type TufTargets,
} from '@stella/core/tuf';
import { ed25519FromSeed } from './tuf-test-keys.js';

const enc = new TextEncoder();
const EXP = new Date('2030-01-01T00:00:00Z');
const now = () => new Date('2026-01-01T00:00:00Z');
const signer = (seed: number) => tufSignerFromKeyObject(ed25519FromSeed(seed));
const CONTENT = enc.encode('{"hello":"world"}\n');

function opts(): BuildTufRepositoryOptions {
  return {
    roles: {
      root: { signers: [signer(1), signer(2)], threshold: 2 },
      targets: { signers: [signer(4)], threshold: 1 },
      snapshot: { signers: [signer(5)], threshold: 1 },
      timestamp: { signers: [signer(6)], threshold: 1 },
    },
    targets: [{ path: 'bundle-manifest.json', content: CONTENT }],
    expires: { root: EXP, targets: EXP, snapshot: EXP, timestamp: EXP },
  };
}
const file = (r: TufRepository, p: string) => r.files.find((f) => f.path === p)!.bytes;
const filesOf = (r: TufRepository) => ({
  trustedRoot: file(r, 'metadata/1.root.json'),
  timestamp: file(r, 'metadata/timestamp.json'),
  snapshot: file(r, 'metadata/1.snapshot.json'),
  targets: file(r, 'metadata/1.targets.json'),
});

/** Signs `signed` with key 1 and lists that one signature under each of `keyids`. */
async function signedAs(signed: TufSigned, keyids: string[]): Promise<TufMetadata> {
  const sig = (await signMetadata(signed, [signer(1)])).signatures[0]!.sig;
  return { signed, signatures: keyids.map((keyid) => ({ keyid, sig })) };
}

/** A root whose root role lists `entries` (keyid → key) with threshold 2. */
function rootWith(base: TufRoot, entries: [string, TufKey][]): TufRoot {
  return {
    ...base,
    keys: { ...base.keys, ...Object.fromEntries(entries) },
    roles: { ...base.roles, root: { keyids: entries.map(([id]) => id), threshold: 2 } },
  };
}

describe('TUF: one key never counts twice toward a threshold (issue 19 finding 2)', () => {
  test('hex-case keyid variant of the same key: refused as a root, counted once by the threshold', async () => {
    const r = await buildTufRepository(opts());
    const k = signer(1);
    const upper = k.keyid.toUpperCase();
    const root = rootWith(r.root.signed, [
      [k.keyid, k.key],
      [upper, k.key],
    ]);
    const md = await signedAs(root, [k.keyid, upper]);
    const e = assertStellaError(() => verifyTufThreshold(md, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    assert.equal((e.details as { valid: number }).valid, 1);
    const bytes = serializeMetadata(md);
    // Default policy: the upper-case keyid is not the hash of its key.
    const e1 = assertStellaError(() => parseTufMetadata(bytes, 'root'), 'TUF_INVALID');
    assert.equal((e1.details as { check: string }).check, 'keyid');
    // Even when other keyid schemes are allowed, one key under two keyids is refused.
    const e2 = assertStellaError(() => parseTufMetadata(bytes, 'root', { keyIdPolicy: 'any' }), 'TUF_INVALID');
    assert.equal((e2.details as { check: string }).check, 'duplicate-key');
    assertStellaError(() => verifyTufRepository({ ...filesOf(r), trustedRoot: bytes }, { now }), 'TUF_INVALID');
  });

  test('the same P-256 key under keytype ecdsa and ecdsa-sha2-nistp256 (both keyids correct)', async () => {
    const ec = tufSignerFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const alias: TufKey = { ...ec.key, keytype: 'ecdsa-sha2-nistp256' };
    assert.notEqual(tufKeyId(alias), ec.keyid);
    const r = await buildTufRepository(opts());
    const root = rootWith(r.root.signed, [
      [ec.keyid, ec.key],
      [tufKeyId(alias), alias],
    ]);
    const signed = await signMetadata(root, [ec]);
    const md = {
      signed: root,
      signatures: [signed.signatures[0]!, { ...signed.signatures[0]!, keyid: tufKeyId(alias) }],
    };
    const e = assertStellaError(() => verifyTufThreshold(md, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    assert.equal((e.details as { valid: number }).valid, 1);
    const e2 = assertStellaError(() => parseTufMetadata(serializeMetadata(md), 'root'), 'TUF_INVALID');
    assert.equal((e2.details as { check: string }).check, 'duplicate-key');
    // The builder refuses to write such a root.
    assertStellaError(
      () =>
        buildRoot({
          version: 1,
          expires: EXP,
          roles: {
            root: { keys: [ec.key, alias], threshold: 2 },
            targets: { keys: [ec.key], threshold: 1 },
            snapshot: { keys: [ec.key], threshold: 1 },
            timestamp: { keys: [alias], threshold: 1 },
          },
        }),
      'TUF_INVALID',
    );
  });

  test('the same P-256 key as a compressed and an uncompressed SPKI PEM (both keyids correct)', async () => {
    const ec = tufSignerFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const jwk = createPublicKey(ec.key.keyval.public).export({ format: 'jwk' });
    // SEC 1 §2.3.3 compressed point: 0x02/0x03 by the parity of y, then x.
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    const point = Buffer.concat([Buffer.from([0x02 | (y[31]! & 1)]), x]);
    const prefix = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
    const der = Buffer.concat([prefix, point]);
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    const compressed: TufKey = { ...ec.key, keyval: { public: pem } };
    assert.notEqual(tufKeyId(compressed), ec.keyid);
    const r = await buildTufRepository(opts());
    const root = rootWith(r.root.signed, [
      [ec.keyid, ec.key],
      [tufKeyId(compressed), compressed],
    ]);
    const signed = await signMetadata(root, [ec]);
    const md = {
      signed: root,
      signatures: [signed.signatures[0]!, { ...signed.signatures[0]!, keyid: tufKeyId(compressed) }],
    };
    const e = assertStellaError(() => verifyTufThreshold(md, root.keys, root.roles.root, 'root'), 'TUF_INVALID');
    assert.equal((e.details as { valid: number }).valid, 1);
    const e2 = assertStellaError(() => parseTufMetadata(serializeMetadata(md), 'root'), 'TUF_INVALID');
    assert.equal((e2.details as { check: string }).check, 'duplicate-key');
  });

  test('a keyid that is not the SHA-256 of its canonical key is refused unless keyIdPolicy is any', async () => {
    const r = await buildTufRepository(opts());
    const k = signer(1);
    const bogus = 'ab'.repeat(32);
    const base = r.root.signed;
    const { [k.keyid]: _dropped, ...otherKeys } = base.keys;
    const root = rootWith({ ...base, keys: otherKeys }, [
      [bogus, k.key],
      [signer(2).keyid, signer(2).key],
    ]);
    const md = await signMetadata(root, [signer(1), signer(2)]);
    md.signatures = md.signatures.map((s) => (s.keyid === k.keyid ? { ...s, keyid: bogus } : s));
    const bytes = serializeMetadata(md);
    const e = assertStellaError(() => parseTufMetadata(bytes, 'root'), 'TUF_INVALID');
    assert.deepEqual(e.details, {
      check: 'keyid',
      keyid: bogus,
      expected: sha256Hex(canonicalOlpcBytes(k.key)),
    });
    const parsed = parseTufMetadata(bytes, 'root', { keyIdPolicy: 'any' });
    verifyTufThreshold(parsed, parsed.signed.keys, parsed.signed.roles.root, 'root');
  });
});

describe('TUF signature encoding', () => {
  test('an upper-case copy of a valid signature does not verify (the timestamp bytes are not malleable)', async () => {
    const r = await buildTufRepository(opts());
    const ts = r.timestamp;
    const upper = { ...ts, signatures: ts.signatures.map((sg) => ({ ...sg, sig: sg.sig.toUpperCase() })) };
    assert.notEqual(upper.signatures[0]!.sig, ts.signatures[0]!.sig);
    verifyTufThreshold(ts, r.root.signed.keys, r.root.signed.roles.timestamp, 'timestamp');
    assertStellaError(
      () => verifyTufThreshold(upper, r.root.signed.keys, r.root.signed.roles.timestamp, 'timestamp'),
      'TUF_INVALID',
    );
  });
});

describe('TUF metadata checks (issue 20 point 5)', () => {
  test('a wrong sha512 beside a right sha256 fails, for targets and for snapshot meta', async () => {
    const right256 = sha256Hex(CONTENT);
    const wrong512 = createHash('sha512').update('other').digest('hex');
    const r = await buildTufRepository({
      ...opts(),
      targets: [
        {
          path: 'bundle-manifest.json',
          info: { length: CONTENT.length, hashes: { sha256: right256, sha512: wrong512 } },
        },
      ],
    });
    const v = verifyTufRepository(filesOf(r), { now });
    const e = assertStellaError(() => verifyTufTarget(v.targets, 'bundle-manifest.json', CONTENT), 'TUF_INVALID');
    assert.equal((e.details as { algorithm: string }).algorithm, 'sha512');

    // Snapshot meta listing targets.json with a right sha256 and a wrong sha512.
    const good = await buildTufRepository(opts());
    const targetsBytes = filesOf(good).targets;
    const meta = metaFileInfo(targetsBytes, 1);
    const snapshot = await signMetadata(
      buildSnapshot({
        version: 1,
        expires: EXP,
        meta: { 'targets.json': { ...meta, hashes: { ...meta.hashes, sha512: wrong512 } } },
      }),
      [signer(5)],
    );
    const snapshotBytes = serializeMetadata(snapshot);
    const timestamp = await signMetadata(
      buildTimestamp({ version: 1, expires: EXP, snapshot: metaFileInfo(snapshotBytes, 1) }),
      [signer(6)],
    );
    const e2 = assertStellaError(
      () =>
        verifyTufRepository(
          { ...filesOf(good), snapshot: snapshotBytes, timestamp: serializeMetadata(timestamp) },
          { now },
        ),
      'TUF_INVALID',
    );
    assert.equal((e2.details as { algorithm: string }).algorithm, 'sha512');
  });

  test('unsupported hash algorithms and wrong-length hashes are refused, not skipped', async () => {
    const v = verifyTufRepository(filesOf(await buildTufRepository(opts())), { now });
    const info = v.targets.targets['bundle-manifest.json']!;
    const variants: Record<string, string>[] = [
      { ...info.hashes, md5: 'ab'.repeat(16) },
      { sha256: info.hashes.sha256!.slice(2) },
      {},
    ];
    for (const hashes of variants) {
      const targets: TufTargets = { ...v.targets, targets: { 'bundle-manifest.json': { ...info, hashes } } };
      assertStellaError(() => verifyTufTarget(targets, 'bundle-manifest.json', CONTENT), 'TUF_INVALID');
    }
  });

  test('delegations must be well-formed; impossible calendar dates are refused', async () => {
    const r = await buildTufRepository(opts());
    const targets = Buffer.from(filesOf(r).targets).toString();
    const withDelegations = (d: unknown) =>
      targets.replace('"targets":{', `"delegations":${JSON.stringify(d)},"targets":{`);
    const k = signer(7);
    const okDelegations = {
      keys: { [k.keyid]: k.key },
      roles: [{ name: 'team', keyids: [k.keyid], threshold: 1, terminating: true, paths: ['team/*'] }],
    };
    assert.ok(parseTufMetadata(withDelegations(okDelegations), 'targets').signed.delegations);
    const bad: unknown[] = [
      'garbage',
      [],
      { keys: {}, roles: 'x' },
      { keys: { nothex: k.key }, roles: [] },
      { ...okDelegations, roles: [{ ...okDelegations.roles[0], threshold: 0 }] },
      { ...okDelegations, roles: [{ ...okDelegations.roles[0], paths: undefined }] },
      { ...okDelegations, roles: [{ ...okDelegations.roles[0], path_hash_prefixes: ['ab'] }] },
      { ...okDelegations, roles: [okDelegations.roles[0], okDelegations.roles[0]] },
    ];
    for (const d of bad)
      assertStellaError(() => parseTufMetadata(withDelegations(d), 'targets'), 'TUF_INVALID', undefined);

    for (const date of ['2029-02-31T00:00:00Z', '2029-02-29T00:00:00Z', '2029-04-31T12:00:00Z', '2029-01-01T24:00:00Z'])
      assertStellaError(
        () => parseTufMetadata(targets.replace(/"expires":"[^"]+"/, `"expires":"${date}"`), 'targets'),
        'TUF_INVALID',
      );
    assert.ok(parseTufMetadata(targets.replace(/"expires":"[^"]+"/, '"expires":"2028-02-29T23:59:59Z"'), 'targets'));
  });
});
