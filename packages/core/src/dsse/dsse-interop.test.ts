/*
 * Interop with verifiers and signers the project did not write (DESIGN.md §5): openssl over the
 * PAE bytes, and Debian's python3-securesystemslib through testdata/verify_dsse.py.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needTool, run, tempDir } from '@stella/testkit';
import { isStellaError } from '../errors/index.js';
import {
  createKeySigner,
  keySetFromPublicKeys,
  parsePrivateKey,
  parsePublicKey,
  spkiDer,
  spkiPem,
  type SignatureAlgorithm,
} from '../signing/index.js';
import {
  encodeBase64,
  pae,
  parseEnvelope,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
} from './index.js';

const PY = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./testdata/verify_dsse.py', import.meta.url));
const TEST_KEY = fileURLToPath(new URL('./testdata/TEST-ONLY-ed25519-seed01.key.pem', import.meta.url));
const te = new TextEncoder();
const ALGS: SignatureAlgorithm[] = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'];
const noOpenssl = needTool('openssl');
const noSslib = needTool(PY, { args: ['-c', 'import securesystemslib.signer'] });

function keyPair(alg: SignatureAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg === 'ed25519') return generateKeyPairSync('ed25519');
  if (alg === 'ecdsa-p256-sha256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

/** The key argument verify_dsse.py expects. */
async function pyKeyArg(dir: string, name: string, alg: SignatureAlgorithm, publicKey: KeyObject): Promise<string> {
  if (alg === 'ed25519') return `ed25519:${Buffer.from(spkiDer(publicKey)).subarray(12).toString('hex')}`;
  const p = join(dir, `${name}.pub.pem`);
  await writeFile(p, spkiPem(publicKey));
  return `${alg === 'ecdsa-p256-sha256' ? 'ecdsa' : 'rsa'}:${p}`;
}

function opensslVerifyArgs(alg: SignatureAlgorithm, pub: string, sig: string, data: string): string[] {
  if (alg === 'ed25519') return ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', data, '-sigfile', sig];
  const pss =
    alg === 'rsa-pss-sha256'
      ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256']
      : [];
  return ['dgst', '-sha256', '-verify', pub, ...pss, '-signature', sig, data];
}

let dir: { path: string; cleanup: () => Promise<void> };
before(async () => {
  dir = await tempDir('stella-dsse-');
});
after(async () => {
  await dir.cleanup();
});

describe('our envelopes → openssl', { skip: noOpenssl }, () => {
  for (const alg of ALGS) {
    test(`${alg}: openssl verifies the signature over PAE; a flipped PAE byte fails`, async () => {
      const { privateKey, publicKey } = keyPair(alg);
      const env = await signEnvelope(te.encode('{"k":"v"}'), 'application/vnd.in-toto+json', [
        createKeySigner(privateKey),
      ]);
      const p = (n: string) => join(dir.path, `${alg}.${n}`);
      await writeFile(p('pub.pem'), spkiPem(publicKey));
      await writeFile(p('pae'), pae(env.payloadType, env.payload));
      await writeFile(p('sig'), env.signatures[0]!.sig);
      const ok = await run('openssl', opensslVerifyArgs(alg, p('pub.pem'), p('sig'), p('pae')));
      assert.equal(ok.code, 0, ok.stderr.toString() + ok.stdout.toString());
      assert.match(ok.stdout.toString(), /Verified (OK|Successfully)/);
      const tampered = Buffer.from(pae(env.payloadType, env.payload));
      tampered[tampered.length - 2]! ^= 1;
      await writeFile(p('pae.bad'), tampered);
      assert.notEqual((await run('openssl', opensslVerifyArgs(alg, p('pub.pem'), p('sig'), p('pae.bad')))).code, 0);
    });
  }
});

describe('openssl signatures → our verifier', { skip: noOpenssl }, () => {
  const genArgs: Record<SignatureAlgorithm, string[]> = {
    ed25519: ['-algorithm', 'ed25519'],
    'ecdsa-p256-sha256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'rsa-pss-sha256': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  };
  for (const alg of ALGS) {
    test(`${alg}: an envelope assembled from openssl's signature verifies; wrong type does not`, async () => {
      const p = (n: string) => join(dir.path, `rev-${alg}.${n}`);
      assert.equal((await run('openssl', ['genpkey', ...genArgs[alg], '-out', p('key.pem')])).code, 0);
      assert.equal((await run('openssl', ['pkey', '-in', p('key.pem'), '-pubout', '-out', p('pub.pem')])).code, 0);
      const payload = te.encode('signed by openssl');
      await writeFile(p('pae'), pae('text/plain', payload));
      const signArgs =
        alg === 'ed25519'
          ? ['pkeyutl', '-sign', '-inkey', p('key.pem'), '-rawin', '-in', p('pae'), '-out', p('sig')]
          : [
              'dgst',
              '-sha256',
              '-sign',
              p('key.pem'),
              // openssl's default PSS salt is the maximum; our verifier accepts any salt length, like sslib.
              ...(alg === 'rsa-pss-sha256' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_mgf1_md:sha256'] : []),
              '-out',
              p('sig'),
              p('pae'),
            ];
      const signed = await run('openssl', signArgs);
      assert.equal(signed.code, 0, signed.stderr.toString());
      const json = JSON.stringify({
        payload: encodeBase64(payload),
        payloadType: 'text/plain',
        signatures: [{ keyid: '', sig: encodeBase64(await readFile(p('sig'))) }],
      });
      const keys = keySetFromPublicKeys([parsePublicKey(await readFile(p('pub.pem'), 'utf8'))]);
      assert.equal(
        verifyEnvelope(parseEnvelope(json), { keys, expectedPayloadType: 'text/plain' }).verifiedKeyIds.length,
        1,
      );
      assert.throws(
        () => verifyEnvelope(parseEnvelope(json.replace('"text/plain"', '"text/html"')), { keys }),
        (e: unknown) => isStellaError(e, 'DSSE_SIGNATURE_INVALID'),
      );
    });
  }
});

describe('our envelopes → securesystemslib (Debian python3)', { skip: noSslib }, () => {
  async function py(envelope: DsseEnvelope | string, args: string[]) {
    const f = join(dir.path, `py-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(f, typeof envelope === 'string' ? envelope : serializeEnvelope(envelope));
    return run(PY, [SCRIPT, f, ...args]);
  }

  for (const alg of ALGS) {
    test(`${alg}: sslib verifies; tampered payloadType is rejected`, async () => {
      const { privateKey, publicKey } = keyPair(alg);
      const env = await signEnvelope(te.encode('{"_type":"x"}'), 'application/vnd.in-toto+json', [
        createKeySigner(privateKey),
      ]);
      const key = await pyKeyArg(dir.path, `py-${alg}`, alg, publicKey);
      const ok = await py(env, [key]);
      assert.equal(ok.code, 0, ok.stderr.toString());
      assert.equal(ok.stdout.toString().trim(), '1/1 valid');
      const bad = await py({ ...env, payloadType: 'application/json' }, [key]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout.toString().trim(), '0/1 valid');
    });
  }

  test('multi-signature envelope meets threshold 3 in sslib; the golden TEST-key envelope verifies', async () => {
    const pairs = ALGS.map((alg) => ({ alg, ...keyPair(alg) }));
    const env = await signEnvelope(
      te.encode('three signers'),
      'text/plain',
      pairs.map((p) => createKeySigner(p.privateKey)),
    );
    const keyArgs = await Promise.all(pairs.map((p) => pyKeyArg(dir.path, `multi-${p.alg}`, p.alg, p.publicKey)));
    const r = await py(env, ['--threshold', '3', ...keyArgs]);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString().trim(), '3/3 valid');
    const testKey = parsePrivateKey(await readFile(TEST_KEY, 'utf8'));
    const golden = await signEnvelope(te.encode('golden'), 'text/plain', [createKeySigner(testKey)]);
    const g = await py(golden, [await pyKeyArg(dir.path, 'golden', 'ed25519', testKey)]);
    assert.equal(g.code, 0, g.stderr.toString());
  });
});
