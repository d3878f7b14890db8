import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPrivateKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertStellaError, needTool, run, tempDir } from '@stella/testkit';
import { isStellaError } from '../errors/index.js';
import {
  algorithmOfKey,
  createKeySigner,
  derToP1363,
  keyIdFromSpki,
  keyIdHint,
  keySetFromPublicKeys,
  normalizeKeyIdHint,
  p1363ToDer,
  parsePrivateKey,
  parsePublicKey,
  spkiDer,
  spkiPem,
  verifyWithKey,
  type SignatureAlgorithm,
} from './index.js';

function keyPair(alg: SignatureAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg === 'ed25519') return generateKeyPairSync('ed25519');
  if (alg === 'ecdsa-p256-sha256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

const ALGS: SignatureAlgorithm[] = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'];

describe('key parsing', () => {
  for (const alg of ALGS) {
    test(`${alg}: PEM, JWK and DER forms give the same key id`, () => {
      const { privateKey, publicKey } = keyPair(alg);
      const id = keyIdFromSpki(spkiDer(publicKey));
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      const forms: KeyObject[] = [
        parsePublicKey(spkiPem(publicKey)),
        parsePublicKey(JSON.stringify(publicKey.export({ format: 'jwk' }))),
        parsePublicKey(spkiDer(publicKey)),
        parsePublicKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
        parsePrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
        parsePrivateKey(JSON.stringify(privateKey.export({ format: 'jwk' }))),
        parsePrivateKey(new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }))),
      ];
      for (const k of forms) {
        assert.equal(keyIdFromSpki(spkiDer(k)), id);
        assert.equal(algorithmOfKey(k), alg);
      }
    });
  }

  test('SEC1 and PKCS#1 PEM private keys parse', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.equal(
      algorithmOfKey(parsePrivateKey(ec.export({ type: 'sec1', format: 'pem' }).toString())),
      'ecdsa-p256-sha256',
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.equal(
      algorithmOfKey(parsePrivateKey(rsa.export({ type: 'pkcs1', format: 'pem' }).toString())),
      'rsa-pss-sha256',
    );
  });

  test('encrypted PKCS#8 needs the passphrase', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    assertStellaError(() => parsePrivateKey(pem), 'KEY_INVALID');
    assertStellaError(() => parsePrivateKey(pem, { passphrase: 'wrong' }), 'KEY_INVALID');
    assert.equal(
      keyIdFromSpki(spkiDer(parsePrivateKey(pem, { passphrase: 'pw' }))),
      keyIdFromSpki(spkiDer(privateKey)),
    );
  });

  test('garbage and unsupported keys are KEY_INVALID', () => {
    const bad: (string | Uint8Array)[] = [
      '',
      'hello',
      '{',
      '{"kty":"EC"}',
      '[]',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      new Uint8Array([0x30, 0x03, 0x02, 0x01]),
      spkiPem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
      spkiPem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey),
      spkiPem(generateKeyPairSync('x25519').publicKey),
      spkiPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey),
    ];
    for (const b of bad) assertStellaError(() => parsePublicKey(b), 'KEY_INVALID');
    const pub = spkiPem(generateKeyPairSync('ed25519').publicKey);
    assertStellaError(() => parsePrivateKey(pub), 'KEY_INVALID');
    assertStellaError(
      () => parsePrivateKey(JSON.stringify(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }))),
      'KEY_INVALID',
    );
  });

  test('property: arbitrary input never escapes as a non-coded error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.uint8Array({ maxLength: 200 }),
          fc.json().map((j) => j),
        ),
        (input) => {
          for (const parse of [parsePublicKey, (i: string | Uint8Array) => parsePrivateKey(i)]) {
            try {
              parse(input);
            } catch (err) {
              assert.ok(isStellaError(err, 'KEY_INVALID'), String(err));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('key ids', () => {
  test('keyIdHint and normalizeKeyIdHint round-trip; non-ids give undefined', () => {
    const id = keyIdFromSpki(spkiDer(generateKeyPairSync('ed25519').publicKey));
    const hex = keyIdHint(id);
    assert.equal(hex.length, 64);
    assert.equal(normalizeKeyIdHint(hex), id);
    assert.equal(normalizeKeyIdHint(hex.toUpperCase()), id);
    assert.equal(normalizeKeyIdHint(id), id);
    for (const h of ['', 'abc', 'sha512:' + hex, hex + '0']) assert.equal(normalizeKeyIdHint(h), undefined);
    assertStellaError(() => keyIdHint('abc'), 'KEY_INVALID');
  });

  test(
    'keyIdFromSpki equals sha256 of `openssl pkey -pubout -outform DER`',
    { skip: needTool('openssl') },
    async () => {
      const dir = await tempDir();
      try {
        for (const alg of ALGS) {
          const { privateKey } = keyPair(alg);
          const p = join(dir.path, `${alg}.pem`);
          await writeFile(p, privateKey.export({ type: 'pkcs8', format: 'pem' }));
          const der = await run('openssl', ['pkey', '-in', p, '-pubout', '-outform', 'DER']);
          assert.equal(der.code, 0, der.stderr.toString());
          assert.equal(keyIdFromSpki(der.stdout), createKeySigner(privateKey).keyId);
        }
      } finally {
        await dir.cleanup();
      }
    },
  );
});

describe('ECDSA signature encodings', () => {
  test('property: P1363 → DER → P1363 round-trips and DER verifies in node', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (msg) => {
        const raw = nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
        const der = p1363ToDer(raw);
        assert.ok(nodeVerify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, der));
        assert.deepEqual(Buffer.from(derToP1363(der)), raw);
      }),
      { numRuns: 200 },
    );
  });

  test('property: fixed-size r||s with leading zero / high bits round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.nat(31), fc.nat(31), (raw, zr, zs) => {
        raw.fill(0, 0, zr);
        raw.fill(0, 32, 32 + zs);
        assert.deepEqual(derToP1363(p1363ToDer(raw)), raw);
      }),
    );
  });

  test('malformed DER is KEY_INVALID', () => {
    const good = p1363ToDer(new Uint8Array(64).fill(0x7f));
    const cases = [
      new Uint8Array(0),
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      Uint8Array.from(good).fill(0x31, 0, 1),
    ];
    for (const c of cases) assertStellaError(() => derToP1363(c), 'KEY_INVALID');
    assertStellaError(() => p1363ToDer(new Uint8Array(63)), 'KEY_INVALID');
  });
});

describe('signers and verification', () => {
  for (const alg of ALGS) {
    test(`${alg}: sign then verify; tampered data or signature fails`, async () => {
      const { privateKey, publicKey } = keyPair(alg);
      const signer = createKeySigner(privateKey);
      assert.equal(signer.algorithm, alg);
      const data = new TextEncoder().encode('hello');
      const sig = await signer.sign(data);
      assert.ok(verifyWithKey(alg, publicKey, data, sig));
      assert.ok(!verifyWithKey(alg, publicKey, new TextEncoder().encode('hellO'), sig));
      const bad = sig.slice();
      bad[bad.length - 1]! ^= 1;
      assert.ok(!verifyWithKey(alg, publicKey, data, bad));
      assert.ok(!verifyWithKey(alg, publicKey, data, new Uint8Array(0)));
      assert.ok(!verifyWithKey(alg, keyPair(alg).publicKey, data, sig), 'other key');
    });
  }

  test('Ed25519 signing is deterministic', async () => {
    const key = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 1)]),
      format: 'der',
      type: 'pkcs8',
    });
    const s = createKeySigner(key);
    const d = new TextEncoder().encode('x');
    assert.deepEqual(await s.sign(d), await s.sign(d));
  });

  test('a signer needs a private key; key sets dedupe', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    assertStellaError(() => createKeySigner(publicKey), 'KEY_INVALID');
    assert.equal(keySetFromPublicKeys([publicKey, publicKey]).size, 1);
  });

  test(
    'RSA-PSS uses SHA-256, MGF1-SHA-256 and a 32-byte salt (checked by openssl)',
    { skip: needTool('openssl') },
    async () => {
      const dir = await tempDir();
      try {
        const { privateKey, publicKey } = keyPair('rsa-pss-sha256');
        const data = Buffer.from('pss check');
        const sig = await createKeySigner(privateKey).sign(data);
        await writeFile(join(dir.path, 'pub.pem'), spkiPem(publicKey));
        await writeFile(join(dir.path, 'data'), data);
        await writeFile(join(dir.path, 'sig'), sig);
        const verifyWithSalt = (salt: string) =>
          run('openssl', [
            'dgst',
            '-sha256',
            '-verify',
            join(dir.path, 'pub.pem'),
            '-sigopt',
            'rsa_padding_mode:pss',
            '-sigopt',
            `rsa_pss_saltlen:${salt}`,
            '-sigopt',
            'rsa_mgf1_md:sha256',
            '-signature',
            join(dir.path, 'sig'),
            join(dir.path, 'data'),
          ]);
        const ok = await verifyWithSalt('32');
        assert.equal(ok.code, 0, ok.stderr.toString());
        assert.match(ok.stdout.toString(), /Verified OK/);
        assert.notEqual((await verifyWithSalt('20')).code, 0, 'salt length is pinned to 32');
      } finally {
        await dir.cleanup();
      }
    },
  );
});
