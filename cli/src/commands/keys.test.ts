import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { needTool, run, tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';
import { spawnCli } from '../testing/spawn-cli.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  dir = await tempDir('stella-cli-keys-');
  await writeFile(join(dir.path, 'notes.txt'), 'release notes\n');
});
after(() => dir.cleanup());

describe('stella keys generate', { skip: needTool('openssl') }, () => {
  for (const [alg, opensslType] of [
    ['ed25519', /ED25519 Private-Key/],
    ['ecdsa-p256', /Private-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/],
    ['rsa-pss', /Private-Key: \(3072 bit/],
  ] as const) {
    test(`${alg}: a 0600 key openssl reads, its public key beside it, usable by dsse sign/verify`, async () => {
      const r = await spawnCli(['keys', 'generate', '--alg', alg, '-o', `${alg}.pem`, '--json'], { cwd: dir.path });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { privateKey: string; publicKey: string; keyId: string };
      assert.equal(out.privateKey, join(dir.path, `${alg}.pem`));
      assert.equal(out.publicKey, join(dir.path, `${alg}.pub.pem`));
      assert.equal((await stat(out.privateKey)).mode & 0o777, 0o600);

      const priv = await run('openssl', ['pkey', '-in', out.privateKey, '-noout', '-text']);
      assert.equal(priv.code, 0, priv.stderr.toString());
      assert.match(priv.stdout.toString(), opensslType);
      // openssl derives the same public key from the private key as the one written beside it.
      const derived = await run('openssl', ['pkey', '-in', out.privateKey, '-pubout']);
      const pub = await run('openssl', ['pkey', '-pubin', '-in', out.publicKey]);
      assert.equal(pub.code, 0, pub.stderr.toString());
      assert.equal(pub.stdout.toString(), derived.stdout.toString());
      assert.equal(await readFile(out.publicKey, 'utf8'), derived.stdout.toString());

      const signed = await runCli(
        ['dsse', 'sign', '--key', `${alg}.pem`, '--payload-type', 'text/plain', 'notes.txt'],
        {
          cwd: dir.path,
        },
      );
      assert.equal(signed.code, 0, signed.stderr);
      await writeFile(join(dir.path, `${alg}.dsse.json`), signed.stdout);
      const verified = await runCli(['dsse', 'verify', '--key', `${alg}.pub.pem`, '--json', `${alg}.dsse.json`], {
        cwd: dir.path,
      });
      assert.equal(verified.code, 0, verified.stderr);
      assert.deepEqual(JSON.parse(verified.stdout).verifiedKeyIds, [out.keyId]);
    });
  }

  test('refuses to overwrite either file and leaves nothing half-written', async () => {
    const first = await runCli(['keys', 'generate', '-o', 'mine.pem'], { cwd: dir.path });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /mine\.pub\.pem/);
    assert.match(first.stdout, /Key id: sha256:[0-9a-f]{64}/);
    const before = await readFile(join(dir.path, 'mine.pem'));
    const again = await runCli(['keys', 'generate', '-o', 'mine.pem'], { cwd: dir.path });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /CONFLICT: .*mine\.pem already exists/);
    assert.deepEqual(await readFile(join(dir.path, 'mine.pem')), before);

    // Only the public key is in the way: the new private key is removed again.
    await writeFile(join(dir.path, 'taken.pub.pem'), 'someone else’s\n');
    const pubTaken = await runCli(['keys', 'generate', '-o', 'taken.pem'], { cwd: dir.path });
    assert.equal(pubTaken.code, 1);
    assert.match(pubTaken.stderr, /taken\.pub\.pem already exists/);
    await assert.rejects(stat(join(dir.path, 'taken.pem')), { code: 'ENOENT' });
    assert.equal(await readFile(join(dir.path, 'taken.pub.pem'), 'utf8'), 'someone else’s\n');
  });

  test('usage errors: unknown --alg, no -o', async () => {
    for (const argv of [
      ['keys', 'generate', '--alg', 'rsa', '-o', 'x.pem'],
      ['keys', 'generate'],
    ]) {
      const r = await runCli(argv, { cwd: dir.path });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^stella keys generate: /);
    }
    await assert.rejects(stat(join(dir.path, 'x.pem')), { code: 'ENOENT' });
  });
});
