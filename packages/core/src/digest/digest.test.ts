import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { run, needTool } from '@stella/testkit';
import {
  createDigestStream,
  digestEquals,
  digestStream,
  formatDigest,
  isDigest,
  parseDigest,
  sha256,
  sha256Digest,
  sha256Hex,
} from '@stella/core/digest';
import { isStellaError } from '@stella/core/errors';

const isDigestInvalid = (e: unknown) => isStellaError(e, 'DIGEST_INVALID');
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('digests', () => {
  test('known SHA-256 values', () => {
    assert.equal(sha256Hex(''), EMPTY);
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256Digest(new Uint8Array()), `sha256:${EMPTY}`);
    assert.equal(Buffer.from(sha256('abc')).toString('hex'), sha256Hex('abc'));
  });

  test('format and parse round-trip; bad input is DIGEST_INVALID', () => {
    assert.equal(formatDigest('sha256', EMPTY.toUpperCase()), `sha256:${EMPTY}`);
    assert.deepEqual(parseDigest(`sha256:${EMPTY}`), { algorithm: 'sha256', hex: EMPTY });
    assert.equal(parseDigest(`sha512:${'a'.repeat(128)}`).algorithm, 'sha512');
    const bad = [
      '',
      EMPTY,
      `sha256:${EMPTY.slice(1)}`,
      `sha256:${EMPTY}0`,
      `sha256:${EMPTY.toUpperCase()}`,
      `md5:${'a'.repeat(32)}`,
      `sha256:${'g'.repeat(64)}`,
      `:${EMPTY}`,
      `sha256 :${EMPTY}`,
      `sha512:${EMPTY}`,
    ];
    for (const b of bad) {
      assert.throws(() => parseDigest(b), isDigestInvalid, b);
      assert.equal(isDigest(b), false);
    }
    assert.throws(() => parseDigest(42 as unknown as string), isDigestInvalid);
    assert.throws(() => formatDigest('sha256', 'abc'), isDigestInvalid);
  });

  test('property: parseDigest(formatDigest(x)) round-trips and never crashes on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const hex = Buffer.from(b).toString('hex');
        assert.deepEqual(parseDigest(formatDigest('sha256', hex)), { algorithm: 'sha256', hex });
      }),
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const p = parseDigest(s);
          assert.equal(`${p.algorithm}:${p.hex}`, s);
        } catch (e) {
          assert.ok(isDigestInvalid(e));
        }
      }),
    );
  });

  test('digestEquals compares by value, never throws', () => {
    const d = `sha256:${EMPTY}`;
    assert.equal(digestEquals(d, `sha256:${EMPTY}`), true);
    assert.equal(digestEquals(d, `sha256:${EMPTY.replace(/5$/, '4')}`), false);
    assert.equal(digestEquals(d, 'garbage'), false);
    assert.equal(digestEquals(d, `sha512:${'e'.repeat(128)}`), false);
    assert.equal(digestEquals(sha256('a'), sha256('a')), true);
    assert.equal(digestEquals(sha256('a'), sha256('b')), false);
    assert.equal(digestEquals(sha256('a'), new Uint8Array(3)), false);
    assert.equal(digestEquals(d, sha256('')), false);
  });

  test('streaming: Transform and async-iterable hashers match one-shot hashing and pass bytes through', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const chunks = Array.from({ length: 50 }, (_, i) =>
      data.subarray(Math.floor((i * data.length) / 50), Math.floor(((i + 1) * data.length) / 50)),
    );
    const ds = createDigestStream();
    const out = createHash('sha256');
    let passed = 0;
    await pipeline(
      Readable.from(chunks),
      ds,
      new Writable({
        write(c: Buffer, _e, cb) {
          out.update(c);
          passed += c.length;
          cb();
        },
      }),
    );
    const r = await ds.result;
    assert.equal(r.hex, sha256Hex(data));
    assert.equal(r.digest, `sha256:${sha256Hex(data)}`);
    assert.equal(r.size, data.length);
    assert.equal(passed, data.length);
    assert.equal(out.digest('hex'), r.hex);
    const it = await digestStream(Readable.from(chunks));
    assert.deepEqual(it, r);
    assert.equal((await digestStream(['a', Buffer.from('bc')])).hex, sha256Hex('abc'));
    assert.equal(
      (await digestStream(Readable.from([data]), 'sha512')).hex,
      createHash('sha512').update(data).digest('hex'),
    );
  });

  test('a destroyed digest stream rejects its result', async () => {
    const ds = createDigestStream();
    const errored = new Promise((res) => ds.once('error', res));
    ds.write(Buffer.from('x'));
    ds.destroy(new Error('boom'));
    await assert.rejects(ds.result, /boom/);
    assert.match(String(await errored), /boom/);
  });

  test('agrees with sha256sum', { skip: needTool('sha256sum') }, async () => {
    const data = randomBytes(200_000);
    const r = await run('sha256sum', ['-'], { input: data });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString().split(' ')[0], (await digestStream(Readable.from([data]))).hex);
  });
});
