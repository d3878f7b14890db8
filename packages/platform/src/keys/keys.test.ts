import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import { keyIdFromSpki, spkiDer, verifyWithKey } from '@stella/core/signing';
import { needTool, run, tempDir } from '@stella/testkit';
import {
  generateFileKey,
  loadFileSigner,
  loadPublicKeyFile,
  parseSignerUri,
  redactSignerUri,
  resolveSigner,
} from './index.js';

const coded = (code: string) => (e: unknown) => isStellaError(e, code as never);
const MOD = '/usr/lib/softhsm/libsofthsm2.so';

describe('parseSignerUri', () => {
  test('file: forms', () => {
    assert.deepEqual(parseSignerUri('file:/etc/k.pem', '/cwd'), { kind: 'file', path: '/etc/k.pem' });
    assert.deepEqual(parseSignerUri('file:keys/k.pem', '/cwd'), { kind: 'file', path: '/cwd/keys/k.pem' });
    assert.deepEqual(parseSignerUri('file:///etc/my%20k.pem', '/cwd'), { kind: 'file', path: '/etc/my k.pem' });
    assert.deepEqual(parseSignerUri('file://localhost/etc/k.pem', '/cwd'), { kind: 'file', path: '/etc/k.pem' });
    assert.deepEqual(parseSignerUri('file:/etc/my%20k.pem', '/cwd'), { kind: 'file', path: '/etc/my k.pem' });
  });

  test('pkcs11: RFC 7512 form with percent-encoding, id bytes and pin sources', () => {
    const r = parseSignerUri(
      `pkcs11:token=My%20Token;object=sig-ec;id=%01%02;type=private?module-path=${MOD}&pin-source=file:pin.txt`,
      '/cwd',
    );
    assert.deepEqual(r, {
      kind: 'pkcs11',
      token: 'My Token',
      object: 'sig-ec',
      id: Uint8Array.from([1, 2]),
      modulePath: MOD,
      pin: { source: 'file', path: '/cwd/pin.txt' },
    });
    const v = parseSignerUri(`pkcs11:token=t;id=%03;x-vendor=1?module-path=${MOD}&pin-value=1234`);
    assert.deepEqual(v.kind === 'pkcs11' && v.pin, { source: 'value', value: '1234' });
  });

  const bad = [
    '',
    '/etc/key.pem',
    'http://x/key',
    'file:',
    'file://remote.host/k.pem',
    'file:///k.pem?x=1',
    'file:%zz',
    'pkcs11:',
    `pkcs11:object=a?module-path=${MOD}`,
    `pkcs11:token=t?module-path=${MOD}`,
    'pkcs11:token=t;object=a',
    'pkcs11:token=t;object=a?module-path=relative.so',
    `pkcs11:token=t;object=a;object=b?module-path=${MOD}`,
    `pkcs11:token=t;object=a;colour=red?module-path=${MOD}`,
    `pkcs11:token=t;object=a;type=public?module-path=${MOD}`,
    `pkcs11:token=t;object=a?module-path=${MOD}&pin-value=1&pin-source=file:/p`,
    `pkcs11:token=t;object=a?module-path=${MOD}&pin-source=env:PIN`,
    `pkcs11:token=t;id=%zz?module-path=${MOD}`,
    `pkcs11:token=t;object=a?module-path=${MOD}#frag`,
    `pkcs11:token=t;object?module-path=${MOD}`,
  ];
  for (const uri of bad) {
    test(`rejects ${JSON.stringify(uri)}`, () =>
      assert.throws(() => parseSignerUri(uri, '/cwd'), coded('SIGNER_URI_INVALID')));
  }

  test('errors never carry a pin-value', () => {
    try {
      parseSignerUri('pkcs11:token=t?module-path=/m.so&pin-value=s3cret');
      assert.fail('should throw');
    } catch (err) {
      assert.ok(isStellaError(err, 'SIGNER_URI_INVALID'));
      assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes('s3cret'));
    }
    assert.equal(
      redactSignerUri('pkcs11:token=t?pin-value=1234&module-path=/m'),
      'pkcs11:token=t?pin-value=***&module-path=/m',
    );
  });

  test('fuzz: any string parses or fails with SIGNER_URI_INVALID', () => {
    const pieces = fc.constantFrom(
      'pkcs11:',
      'file:',
      'token=',
      'object=',
      ';',
      '?',
      '&',
      '%',
      '%41',
      'module-path=/m.so',
      'pin-value=1',
      'id=',
      '=',
      '/',
      '#',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(fc.oneof(pieces, fc.string({ maxLength: 3 })), { maxLength: 12 }).map((a) => a.join('')),
        ),
        (s) => {
          try {
            const r = parseSignerUri(s, '/cwd');
            assert.ok(r.kind === 'file' || r.kind === 'pkcs11');
          } catch (err) {
            assert.ok(isStellaError(err, 'SIGNER_URI_INVALID'), String(err));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('file keys', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('stella-keys-');
  });
  after(async () => {
    await dir.cleanup();
  });

  for (const alg of ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'] as const) {
    test(`${alg}: generateFileKey writes a 0600 PKCS#8 key usable through file: URIs`, async () => {
      const path = join(dir.path, `${alg}.pem`);
      const g = await generateFileKey(path, alg);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      const s = await resolveSigner(`file:${alg}.pem`, { cwd: dir.path });
      assert.equal(s.keyId, g.keyId);
      assert.equal(s.algorithm, alg);
      const sig = await s.sign(Buffer.from('m'));
      await s.close();
      await writeFile(join(dir.path, `${alg}.pub.pem`), g.publicKeyPem);
      const pub = await loadPublicKeyFile(join(dir.path, `${alg}.pub.pem`));
      assert.ok(verifyWithKey(alg, pub, Buffer.from('m'), sig));
      await assert.rejects(generateFileKey(path, alg), coded('CONFLICT'));
    });
  }

  test('JWK private key files work; missing, garbage, public-only and oversized files are coded', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir.path, 'k.jwk'), JSON.stringify(privateKey.export({ format: 'jwk' })));
    const s = await loadFileSigner(join(dir.path, 'k.jwk'));
    assert.equal(s.keyId, keyIdFromSpki(spkiDer(publicKey)));
    await assert.rejects(resolveSigner(`file:${join(dir.path, 'nope.pem')}`), coded('KEY_NOT_FOUND'));
    await mkdir(join(dir.path, 'adir'));
    await assert.rejects(loadFileSigner(join(dir.path, 'adir')), coded('KEY_NOT_FOUND'));
    await writeFile(join(dir.path, 'garbage.pem'), 'not a key');
    await assert.rejects(loadFileSigner(join(dir.path, 'garbage.pem')), coded('KEY_INVALID'));
    await writeFile(join(dir.path, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    await assert.rejects(loadFileSigner(join(dir.path, 'pub.pem')), coded('KEY_INVALID'));
    await writeFile(join(dir.path, 'big.pem'), Buffer.alloc(1024 * 1024 + 1, 0x41));
    await assert.rejects(loadFileSigner(join(dir.path, 'big.pem')), coded('KEY_INVALID'));
    await assert.rejects(loadPublicKeyFile(join(dir.path, 'garbage.pem')), coded('KEY_INVALID'));
  });

  test('openssl verifies a file-key signature', { skip: needTool('openssl') }, async () => {
    const g = await generateFileKey(join(dir.path, 'o.pem'), 'ecdsa-p256-sha256');
    const s = await resolveSigner(`file:${join(dir.path, 'o.pem')}`);
    await writeFile(join(dir.path, 'o.pub'), g.publicKeyPem);
    await writeFile(join(dir.path, 'o.msg'), 'msg');
    await writeFile(join(dir.path, 'o.sig'), await s.sign(Buffer.from('msg')));
    const r = await run('openssl', [
      'dgst',
      '-sha256',
      '-verify',
      join(dir.path, 'o.pub'),
      '-signature',
      join(dir.path, 'o.sig'),
      join(dir.path, 'o.msg'),
    ]);
    assert.equal(r.code, 0, r.stderr.toString());
  });
});
