import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeOpensslTsaPki, needTool, opensslTimestamp, repoRoot, tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

const INTOTO = 'application/vnd.in-toto+json';
const noOpenssl = needTool('openssl');
const TEST_KEY = join(repoRoot, 'packages/core/src/dsse/testdata/TEST-ONLY-ed25519-seed01.key.pem');
const VECTOR_PAYLOAD =
  '{"_type":"https://in-toto.io/Statement/v1","predicate":{},"predicateType":"https://example.com/p/v1","subject":[{"digest":{"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},"name":"hello"}]}';

describe('stella dsse', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  const p = (n: string) => join(dir.path, n);
  const cli = (args: string[]) => runCli(args, { cwd: dir.path });

  before(async () => {
    dir = await tempDir('stella-cli-dsse-');
    for (const [name, kp] of [
      ['a', generateKeyPairSync('ed25519')],
      ['b', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['c', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ] as const) {
      await writeFile(p(`${name}.key.pem`), kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      await writeFile(p(`${name}.pub.pem`), kp.publicKey.export({ type: 'spki', format: 'pem' }));
    }
    await writeFile(p('statement.json'), VECTOR_PAYLOAD);
  });
  after(async () => {
    await dir.cleanup();
  });

  test('sign → verify round trip, text and --json', async () => {
    const s = await cli(['dsse', 'sign', '--key', 'file:a.key.pem', '--payload-type', INTOTO, 'statement.json']);
    assert.equal(s.code, 0, s.stderr);
    const env = JSON.parse(s.stdout) as { payloadType: string; signatures: unknown[] };
    assert.equal(env.payloadType, INTOTO);
    await writeFile(p('env.json'), s.stdout);
    const v = await cli(['dsse', 'verify', '--key', 'a.pub.pem', '--payload-type', INTOTO, 'env.json']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Verified: 1 of 1 required/);
    const j = await cli(['dsse', 'verify', '--key', 'a.pub.pem', '--json', 'env.json']);
    assert.equal(j.code, 0);
    const out = JSON.parse(j.stdout) as { verified: boolean; payloadDigest: string; payloadSize: number };
    assert.equal(out.verified, true);
    assert.equal(out.payloadSize, Buffer.byteLength(VECTOR_PAYLOAD));
    assert.equal(out.payloadDigest, `sha256:${createHash('sha256').update(VECTOR_PAYLOAD).digest('hex')}`);
  });

  test('golden: the TEST key gives the committed envelope bytes', async () => {
    const s = await cli(['dsse', 'sign', '--key', TEST_KEY, '--payload-type', INTOTO, 'statement.json']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(
      createHash('sha256').update(s.stdout.trimEnd()).digest('hex'),
      '889215658c424c65ba215ed9a50aa028ce75871b1b21bbbe2c09f7d9a63824dd',
    );
  });

  test('threshold with several keys', async () => {
    const s = await cli([
      'dsse',
      'sign',
      '--key',
      'a.key.pem',
      '--key',
      'b.key.pem',
      '--key',
      'c.key.pem',
      '--payload-type',
      'text/plain',
      'statement.json',
    ]);
    assert.equal(s.code, 0, s.stderr);
    await writeFile(p('multi.json'), s.stdout);
    const keys = ['--key', 'a.pub.pem', '--key', 'b.pub.pem', '--key', 'c.pub.pem'];
    assert.equal((await cli(['dsse', 'verify', ...keys, '--threshold', '3', 'multi.json'])).code, 0);
    const one = await cli(['dsse', 'sign', '--key', 'b.key.pem', '--payload-type', 'text/plain', 'statement.json']);
    await writeFile(p('one.json'), one.stdout);
    const r = await cli(['dsse', 'verify', ...keys, '--threshold', '2', 'one.json']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /check: signatures/);
  });

  test('verification failures exit 3 and name the failed check', async () => {
    const s = await cli(['dsse', 'sign', '--key', 'b.key.pem', '--payload-type', INTOTO, 'statement.json']);
    const env = JSON.parse(s.stdout) as {
      payload: string;
      payloadType: string;
      signatures: { keyid: string; sig: string }[];
    };
    const cases: [string, string, string[]][] = [
      [
        'tampered payload',
        JSON.stringify({ ...env, payload: Buffer.from('{"x":1}').toString('base64') }),
        ['--key', 'b.pub.pem'],
      ],
      [
        'tampered sig',
        JSON.stringify({
          ...env,
          signatures: [{ ...env.signatures[0]!, sig: Buffer.from('nope').toString('base64') }],
        }),
        ['--key', 'b.pub.pem'],
      ],
      ['wrong key', JSON.stringify(env), ['--key', 'a.pub.pem']],
    ];
    for (const [name, text, keys] of cases) {
      await writeFile(p('bad.json'), text);
      const r = await cli(['dsse', 'verify', ...keys, 'bad.json']);
      assert.equal(r.code, 3, name);
      assert.match(r.stderr, /Verification FAILED \(check: signatures\): DSSE_SIGNATURE_INVALID/, name);
    }
    await writeFile(p('ok.json'), s.stdout);
    const t = await cli(['dsse', 'verify', '--key', 'b.pub.pem', '--payload-type', 'text/plain', '--json', 'ok.json']);
    assert.equal(t.code, 3);
    assert.equal((JSON.parse(t.stdout) as { check: string }).check, 'payload-type');
    for (const text of ['{"payload":', JSON.stringify({ ...env, payload: 'abc' }), '']) {
      await writeFile(p('bad.json'), text);
      const r = await cli(['dsse', 'verify', '--key', 'b.pub.pem', 'bad.json']);
      assert.equal(r.code, 3, text);
      assert.match(r.stderr, /check: envelope-format/);
    }
  });

  test('unreadable files and keys exit 1; usage errors exit 2', async () => {
    await writeFile(
      p('ok2.json'),
      (await cli(['dsse', 'sign', '--key', 'a.key.pem', '--payload-type', 't', 'statement.json'])).stdout,
    );
    assert.equal((await cli(['dsse', 'verify', '--key', 'a.pub.pem', 'missing.json'])).code, 1);
    const k = await cli(['dsse', 'verify', '--key', 'missing.pem', 'ok2.json']);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /KEY_NOT_FOUND/);
    await writeFile(p('garbage.pem'), 'garbage');
    assert.equal((await cli(['dsse', 'verify', '--key', 'garbage.pem', 'ok2.json'])).code, 1);
    assert.equal(
      (await cli(['dsse', 'sign', '--key', 'missing.pem', '--payload-type', 't', 'statement.json'])).code,
      1,
    );
    assert.equal((await cli(['dsse', 'sign', '--key', 'a.key.pem', '--payload-type', 't', 'missing.txt'])).code, 1);
    assert.equal((await cli(['dsse', 'sign', '--key', 'http://x', '--payload-type', 't', 'statement.json'])).code, 1);
    assert.equal((await cli(['dsse', 'verify', 'ok2.json'])).code, 2);
    assert.equal((await cli(['dsse', 'verify', '--key', 'a.pub.pem', '--threshold', '0', 'ok2.json'])).code, 2);
    assert.equal((await cli(['dsse', 'verify', '--key', 'a.pub.pem', '--threshold', '2', 'ok2.json'])).code, 2);
    assert.equal((await cli(['dsse', 'sign', '--payload-type', 't', 'statement.json'])).code, 2);
    assert.equal((await cli(['dsse', 'sign', '--key', 'a.key.pem', 'statement.json'])).code, 2);
    assert.equal(
      (
        await cli([
          'dsse',
          'sign',
          '--key',
          'a.key.pem',
          '--key',
          'b.key.pem',
          '--format',
          'sigstore-bundle',
          '--payload-type',
          't',
          'statement.json',
        ])
      ).code,
      2,
    );
  });

  test('--format sigstore-bundle output verifies with dsse verify', async () => {
    const s = await cli([
      'dsse',
      'sign',
      '--key',
      'b.key.pem',
      '--format',
      'sigstore-bundle',
      '--payload-type',
      INTOTO,
      'statement.json',
    ]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(
      (JSON.parse(s.stdout) as { mediaType: string }).mediaType,
      'application/vnd.dev.sigstore.bundle.v0.3+json',
    );
    await writeFile(p('bundle.json'), s.stdout);
    assert.equal((await cli(['dsse', 'verify', '--key', 'b.pub.pem', 'bundle.json'])).code, 0);
    assert.equal((await cli(['dsse', 'verify', '--key', 'a.pub.pem', 'bundle.json'])).code, 3);
    assert.ok((await readFile(p('bundle.json'), 'utf8')).includes('"hint"'));
  });

  test('Sigstore bundles: unchecked timestamps, tlog entries, a wrong hint and forbidden combinations exit 3', async () => {
    const s = await cli([
      'dsse',
      'sign',
      '--key',
      'b.key.pem',
      '--format',
      'sigstore-bundle',
      '--payload-type',
      INTOTO,
      'statement.json',
    ]);
    assert.equal(s.code, 0, s.stderr);
    type B = { verificationMaterial: Record<string, unknown>; dsseEnvelope: { signatures: { sig: string }[] } };
    const good = JSON.parse(s.stdout) as B;
    const pki = noOpenssl ? undefined : await makeOpensslTsaPki(dir.path);
    const sig = Buffer.from(good.dsseEnvelope.signatures[0]!.sig, 'base64');
    const vm = (extra: Record<string, unknown>): B => ({
      ...good,
      verificationMaterial: { ...good.verificationMaterial, ...extra },
    });
    const ts = (der: Uint8Array) => ({
      timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: Buffer.from(der).toString('base64') }] },
    });
    const aHint = createHash('sha256')
      .update(createPublicKey(await readFile(p('a.pub.pem'))).export({ type: 'spki', format: 'der' }))
      .digest('hex');
    const cases: [string, B, string[], string][] = [
      ['garbage timestamp', vm(ts(Uint8Array.from([1, 2, 3]))), [], 'timestamp'],
      ['tlog entry', vm({ tlogEntries: [{ logIndex: '1' }] }), [], 'tlog'],
      ['hint names key a', vm({ publicKey: { hint: aHint } }), ['--key', 'a.pub.pem'], 'signatures'],
      ['public key and certificate', vm({ certificate: { rawBytes: 'AAAA' } }), [], 'bundle-format'],
      ['dsse and messageSignature', { ...good, messageSignature: { signature: 'AAAA' } } as B, [], 'bundle-format'],
    ];
    if (pki) {
      cases.push([
        'timestamp over another signature',
        vm(ts(await opensslTimestamp(pki, Buffer.from('other')))),
        ['--tsa-ca', pki.caCert],
        'timestamp',
      ]);
      cases.push(['timestamp without --tsa-ca', vm(ts(await opensslTimestamp(pki, sig))), [], 'timestamp']);
    }
    for (const [name, bundle, extra, check] of cases) {
      await writeFile(p('crafted.json'), JSON.stringify(bundle));
      const r = await cli(['dsse', 'verify', '--key', 'b.pub.pem', ...extra, 'crafted.json']);
      assert.equal(r.code, 3, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`check: ${check}\\)`), name);
    }
    if (pki) {
      await writeFile(p('stamped.json'), JSON.stringify(vm(ts(await opensslTimestamp(pki, sig)))));
      const r = await cli(['dsse', 'verify', '--key', 'b.pub.pem', '--tsa-ca', pki.caCert, 'stamped.json']);
      assert.equal(r.code, 0, r.stderr);
    }
  });
});
