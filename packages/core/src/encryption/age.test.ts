import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { needTool, tempDir } from '@stella/testkit';
import { StellaError, isStellaError } from '../errors/index.js';
import {
  ageDecrypt,
  ageDecryptStream,
  ageEncrypt,
  ageEncryptStream,
  ageRecipientOf,
  generateAgeIdentity,
  parseAgeIdentityFile,
} from './index.js';

async function collect(r: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

function* pieces(buf: Buffer, size: number): Generator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

describe('age (typage) in-process', () => {
  test('roundtrip bytes, armored and streamed; identities are X25519', async () => {
    const k = await generateAgeIdentity();
    assert.match(k.identity, /^AGE-SECRET-KEY-1[0-9A-Z]+$/);
    assert.match(k.recipient, /^age1[0-9a-z]{58}$/);
    assert.equal(await ageRecipientOf(k.identity), k.recipient);
    for (const size of [0, 1, 65_535, 65_536, 65_537, 300_000]) {
      const plain = randomBytes(size);
      assert.deepEqual(Buffer.from(await ageDecrypt(await ageEncrypt(plain, [k.recipient]), [k.identity])), plain);
    }
    const plain = randomBytes(200_000);
    const armored = await ageEncrypt(plain, [k.recipient], { armor: true });
    assert.match(Buffer.from(armored).toString(), /^-----BEGIN AGE ENCRYPTED FILE-----/);
    assert.deepEqual(Buffer.from(await ageDecrypt(armored, [k.identity])), plain);
    const streamed = await collect(await ageEncryptStream(pieces(plain, 10_000), [k.recipient]));
    assert.deepEqual(await collect(await ageDecryptStream(pieces(streamed, 7_777), [k.identity])), plain);
  });

  test('wrong identity, tampering, truncation and garbage are coded errors', async () => {
    const k = await generateAgeIdentity();
    const other = await generateAgeIdentity();
    const ct = Buffer.from(await ageEncrypt(randomBytes(150_000), [k.recipient]));
    await assert.rejects(
      ageDecrypt(ct, [other.identity]),
      (e) => isStellaError(e, 'DECRYPT_FAILED') && /no identity matched/.test(e.message),
    );
    const t = Buffer.from(ct);
    t[t.length - 100]! ^= 1;
    await assert.rejects(ageDecrypt(t, [k.identity]), (e) => isStellaError(e, 'DECRYPT_FAILED'));
    await assert.rejects(ageDecrypt(ct.subarray(0, ct.length - 70_000), [k.identity]), (e) =>
      isStellaError(e, 'DECRYPT_FAILED'),
    );
    await assert.rejects(ageDecrypt(Buffer.from('hello'), [k.identity]), (e) => isStellaError(e, 'ENCRYPTION_INVALID'));
    const hdr = Buffer.from(ct);
    hdr[30]! ^= 0x20; // inside the stanza line
    await assert.rejects(
      ageDecrypt(hdr, [k.identity]),
      (e) => isStellaError(e) && ['DECRYPT_FAILED', 'ENCRYPTION_INVALID'].includes(e.code),
    );
    // Streams: truncation surfaces as an error of the Readable, not a silent short output.
    await assert.rejects(collect(await ageDecryptStream([ct.subarray(0, ct.length - 70_000)], [k.identity])), (e) =>
      isStellaError(e, 'DECRYPT_FAILED'),
    );
    await assert.rejects(ageEncrypt(new Uint8Array(1), ['age1pq1xyz']), (e) => isStellaError(e, 'KEY_INVALID'));
    await assert.rejects(ageEncrypt(new Uint8Array(1), ['age1qqqq']), (e) => isStellaError(e, 'KEY_INVALID'));
    await assert.rejects(ageDecrypt(ct, ['AGE-SECRET-KEY-1NOPE']), (e) => isStellaError(e, 'KEY_INVALID'));
    await assert.rejects(ageRecipientOf('nope'), (e) => isStellaError(e, 'KEY_INVALID'));
  });

  test('decrypting arbitrary bytes never crashes (fast-check)', async () => {
    const k = await generateAgeIdentity();
    const valid = Buffer.from(await ageEncrypt(randomBytes(100), [k.recipient]));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([p, x]) => {
            const m = Buffer.from(valid);
            m[p]! ^= x;
            return new Uint8Array(m);
          }),
        ),
        async (bytes) => {
          try {
            await ageDecrypt(bytes, [k.identity]);
            assert.fail('decrypted garbage');
          } catch (err) {
            assert.ok(
              err instanceof StellaError && ['DECRYPT_FAILED', 'ENCRYPTION_INVALID'].includes(err.code),
              String(err),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('identity files: comments ok, other lines refused', () => {
    assert.deepEqual(parseAgeIdentityFile('# created: x\n# public key: age1…\nAGE-SECRET-KEY-1ABC\n'), [
      'AGE-SECRET-KEY-1ABC',
    ]);
    assert.throws(
      () => parseAgeIdentityFile('hello\n'),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
    assert.throws(
      () => parseAgeIdentityFile('# only comments\n'),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
  });
});

describe('age interop with Debian age / age-keygen', { skip: needTool('age') || needTool('age-keygen') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  const plain = randomBytes(200_000); // > 3 STREAM chunks
  before(async () => {
    tmp = await tempDir('stella-age-');
    writeFileSync(join(tmp.path, 'plain.bin'), plain);
  });
  after(async () => tmp?.cleanup());

  test('ours → age -d -i (binary, armored, streamed)', async () => {
    assert.equal(spawnSync('age-keygen', ['-o', join(tmp.path, 'cli.key')]).status, 0);
    const recipient = spawnSync('age-keygen', ['-y', join(tmp.path, 'cli.key')])
      .stdout.toString()
      .trim();
    const files = {
      'ours.age': await ageEncrypt(plain, [recipient]),
      'ours.age.asc': await ageEncrypt(plain, [recipient], { armor: true }),
      'ours-stream.age': await collect(await ageEncryptStream(pieces(plain, 4096), [recipient])),
    };
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(join(tmp.path, name), bytes);
      const r = spawnSync('age', ['-d', '-i', join(tmp.path, 'cli.key'), join(tmp.path, name)], { maxBuffer: 1 << 24 });
      assert.equal(r.status, 0, `${name}: ${r.stderr.toString()}`);
      assert.deepEqual(r.stdout, plain, name);
    }
  });

  test('age -r / -a → ours (identity file from age-keygen format)', async () => {
    const k = await generateAgeIdentity();
    writeFileSync(join(tmp.path, 'node.key'), `# created by test\n# public key: ${k.recipient}\n${k.identity}\n`);
    const ids = parseAgeIdentityFile(readFileSync(join(tmp.path, 'node.key'), 'utf8'));
    for (const args of [[], ['-a']]) {
      const out = join(tmp.path, `cli${args.join('')}.age`);
      const r = spawnSync('age', ['-e', ...args, '-r', k.recipient, '-o', out, join(tmp.path, 'plain.bin')]);
      assert.equal(r.status, 0, r.stderr.toString());
      assert.deepEqual(Buffer.from(await ageDecrypt(readFileSync(out), ids)), plain);
    }
    const bin = readFileSync(join(tmp.path, 'cli.age'));
    assert.deepEqual(await collect(await ageDecryptStream(pieces(bin, 1000), ids)), plain);
    // Encrypted to two recipients by age: either identity opens it.
    const other = await generateAgeIdentity();
    const two = join(tmp.path, 'two.age');
    assert.equal(
      spawnSync('age', ['-e', '-r', k.recipient, '-r', other.recipient, '-o', two, join(tmp.path, 'plain.bin')]).status,
      0,
    );
    assert.deepEqual(Buffer.from(await ageDecrypt(readFileSync(two), [other.identity])), plain);
  });
});
