/**
 * The one contract every object store driver passes (issue #2 item 4): run it with
 * `objectStoreContract('fs', make)` from a driver's test file. Each test works under its own
 * random prefix, so one store (one bucket) serves the whole suite.
 *
 * Expected digests are computed here with node:crypto over the bytes the test generated, never
 * taken from the driver.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObjectStore } from '../object-store.js';

export interface ContractTarget {
  store: ObjectStore;
  /**
   * Replace the stored bytes of `key` behind the store's back, keeping its recorded digest (what an
   * attacker with write access to the disk or the bucket, or a decaying medium, does).
   */
  tamper(key: string, bytes: Buffer): Promise<void>;
  cleanup(): Promise<void>;
}

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(r: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** A deterministic pseudo-random stream of `total` bytes in `chunk`-sized pieces, never held whole. */
export function* patternChunks(total: number, chunk = 64 * 1024, seed = 1): Generator<Buffer> {
  let x = seed >>> 0 || 1;
  for (let off = 0; off < total; off += chunk) {
    const n = Math.min(chunk, total - off);
    const b = Buffer.allocUnsafe((n + 3) & ~3);
    for (let i = 0; i < b.length; i += 4) {
      // xorshift32: cheap, deterministic, incompressible enough to defeat any dedup.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    yield b.subarray(0, n);
  }
}

/** A source that yields some bytes, then fails like a dropped upload connection. */
async function* failingSource(bytesBefore: number): AsyncGenerator<Uint8Array> {
  yield randomBytes(bytesBefore);
  await new Promise((r) => setTimeout(r, 5));
  throw new Error('source failed midway');
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded: ${(err as Error).message}`;
  }
  return 'no error';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers the contract tests for one driver. */
export function objectStoreContract(
  name: string,
  make: () => Promise<ContractTarget>,
  opts: { skip?: string | false } = {},
): void {
  describe(`object store contract: ${name}`, { skip: opts.skip ?? false }, () => {
    let t: ContractTarget;
    let s: ObjectStore;
    before(async () => {
      t = await make();
      s = t.store;
    });
    after(async () => {
      await t?.cleanup();
    });
    const pfx = () => `c-${randomBytes(5).toString('hex')}/`;
    const assertGone = async (key: string, prefix: string) => {
      assert.equal(await code(s.head(key)), 'OBJECT_NOT_FOUND');
      assert.equal(await s.exists(key), false);
      assert.deepEqual((await s.list(prefix)).items, []);
    };

    test('ping answers', async () => {
      await s.ping();
    });

    test('binary round trip, digest and size from an independent hash', async () => {
      const key = `${pfx()}bin/all-bytes.bin`;
      const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(100_000)]);
      const r = await s.put(key, Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
        contentType: 'application/octet-stream',
      });
      assert.deepEqual(r, { key, digest: sha(data), size: data.length });
      const g = await s.get(key);
      assert.equal(g.size, data.length);
      assert.equal(g.length, data.length);
      assert.equal(g.digest, sha(data));
      assert.equal(g.contentType, 'application/octet-stream');
      assert.deepEqual(await readAll(g.body), data);
      const h = await s.head(key);
      assert.equal(h.size, data.length);
      assert.equal(h.digest, sha(data));
      assert.equal(h.legalHold, false);
      assert.equal(h.retainUntil, undefined);
      assert.equal(await s.exists(key), true);
    });

    test('empty object', async () => {
      const key = `${pfx()}empty`;
      const r = await s.put(key, Readable.from([]));
      assert.deepEqual(r, { key, digest: sha(Buffer.alloc(0)), size: 0 });
      const g = await s.get(key);
      assert.equal(g.size, 0);
      assert.equal((await readAll(g.body)).length, 0);
      assert.equal(await code(s.get(key, { range: { start: 0, end: 0 } })), 'OBJECT_RANGE_INVALID');
    });

    test('multi-MiB object streamed from a generator (multipart on S3)', async () => {
      const key = `${pfx()}big.bin`;
      const total = 12 * 1024 * 1024 + 12345;
      const h = createHash('sha256');
      for (const c of patternChunks(total, 256 * 1024, 7)) h.update(c);
      const digest = `sha256:${h.digest('hex')}`;
      const r = await s.put(key, Readable.from(patternChunks(total, 256 * 1024, 7)), {
        expectedDigest: digest,
        size: total,
      });
      assert.equal(r.digest, digest);
      assert.equal(r.size, total);
      const g = await s.get(key);
      const h2 = createHash('sha256');
      let n = 0;
      for await (const c of g.body) {
        h2.update(c as Buffer);
        n += (c as Buffer).length;
      }
      assert.equal(n, total);
      assert.equal(`sha256:${h2.digest('hex')}`, digest);
    });

    test('ranged get (inclusive end, open end, clamped end) and bad ranges', async () => {
      const key = `${pfx()}range.txt`;
      const data = Buffer.from('0123456789abcdefghij');
      await s.put(key, data);
      const a = await s.get(key, { range: { start: 2, end: 5 } });
      assert.equal((await readAll(a.body)).toString(), '2345');
      assert.deepEqual(a.range, { start: 2, end: 5 });
      assert.equal(a.length, 4);
      assert.equal(a.size, 20);
      const b = await s.get(key, { range: { start: 15 } });
      assert.equal((await readAll(b.body)).toString(), 'fghij');
      const c = await s.get(key, { range: { start: 18, end: 1000 } });
      assert.equal((await readAll(c.body)).toString(), 'ij');
      assert.deepEqual(c.range, { start: 18, end: 19 });
      for (const bad of [{ start: 20 }, { start: -1 }, { start: 5, end: 4 }, { start: 1.5 }]) {
        assert.equal(await code(s.get(key, { range: bad })), 'OBJECT_RANGE_INVALID', JSON.stringify(bad));
      }
    });

    test('content-addressed put: key is the digest, idempotent, concurrent puts agree', async () => {
      const data = randomBytes(50_000);
      const r1 = await s.putContentAddressed(Readable.from([data]));
      assert.equal(r1.key, sha(data));
      assert.equal(r1.digest, sha(data));
      const [r2, r3] = await Promise.all([s.putContentAddressed(Readable.from([data])), s.putContentAddressed(data)]);
      assert.deepEqual(r2, r1);
      assert.deepEqual(r3, r1);
      assert.deepEqual(await readAll((await s.get(r1.key)).body), data);
      const fresh = randomBytes(30_000);
      const both = await Promise.all([
        s.putContentAddressed(Readable.from([fresh])),
        s.putContentAddressed(Readable.from([fresh])),
      ]);
      assert.deepEqual(both[0], both[1]);
      assert.equal(both[0].key, sha(fresh));
      // put() with a sha256: key verifies the bytes against the key.
      assert.equal(await s.put(sha(fresh), fresh).then((r) => r.key), sha(fresh));
      const other = randomBytes(10);
      const wrongKey = sha(randomBytes(10));
      assert.equal(await code(s.put(wrongKey, other)), 'OBJECT_DIGEST_MISMATCH');
      assert.equal(await s.exists(wrongKey), false);
      const listed = await s.list(r1.key);
      assert.deepEqual(
        listed.items.map((i) => i.key),
        [r1.key],
      );
      assert.equal(listed.items[0]!.digest, r1.key);
    });

    test('wrong expectedDigest leaves nothing, and keeps an existing object intact', async () => {
      const p = pfx();
      const key = `${p}x`;
      const data = randomBytes(10_000);
      assert.equal(
        await code(s.put(key, Readable.from([data]), { expectedDigest: sha(randomBytes(1)) })),
        'OBJECT_DIGEST_MISMATCH',
      );
      await assertGone(key, p);
      assert.equal(
        await code(s.putContentAddressed(Readable.from([data]), { expectedDigest: sha(randomBytes(1)) })),
        'OBJECT_DIGEST_MISMATCH',
      );
      assert.equal(await s.exists(sha(data)), false);
      await s.put(key, data);
      assert.equal(await code(s.put(key, randomBytes(5), { expectedDigest: sha(data) })), 'OBJECT_DIGEST_MISMATCH');
      assert.deepEqual(await readAll((await s.get(key)).body), data);
      assert.equal(await code(s.put(`${p}y`, data, { expectedDigest: 'md5:abc' })), 'DIGEST_INVALID');
    });

    test('size mismatch (short and long) leaves nothing', async () => {
      const p = pfx();
      const key = `${p}sized`;
      assert.equal(await code(s.put(key, Readable.from([randomBytes(100)]), { size: 101 })), 'OBJECT_SIZE_MISMATCH');
      assert.equal(
        await code(s.put(key, Readable.from([randomBytes(100), randomBytes(100)]), { size: 150 })),
        'OBJECT_SIZE_MISMATCH',
      );
      await assertGone(key, p);
      assert.equal(await code(s.put(key, randomBytes(1), { size: -1 })), 'VALIDATION_FAILED');
      await assertGone(key, p);
      const ok = await s.put(key, Readable.from([randomBytes(100)]), { size: 100 });
      assert.equal(ok.size, 100);
    });

    test('a source stream that errors midway leaves nothing', async () => {
      const p = pfx();
      const key = `${p}broken`;
      await assert.rejects(s.put(key, failingSource(200_000)), /source failed midway/);
      await assertGone(key, p);
      const big = failingSource(6 * 1024 * 1024); // past one multipart part on S3
      await assert.rejects(s.put(key, big), /source failed midway/);
      await assertGone(key, p);
      await assert.rejects(s.putContentAddressed(failingSource(1000)), /source failed midway/);
    });

    test('invalid keys are refused everywhere with OBJECT_KEY_INVALID', async () => {
      const bad = [
        '',
        '/abs',
        'a/../b',
        '..',
        'a/./b',
        'a//b',
        'a/',
        'nul\0byte',
        'back\\slash',
        'space here',
        'tilde~x',
        'é',
        'sha256:ABC',
        `sha256:${'a'.repeat(63)}`,
        `sha256:${'g'.repeat(64)}`,
        `SHA256:${'AB'.repeat(32)}`,
        `sha512:${'ab'.repeat(64)}`,
        'x'.repeat(1025),
        `${'s'.repeat(201)}/x`,
      ];
      for (const key of bad) {
        assert.equal(await code(s.put(key, Buffer.from('x'))), 'OBJECT_KEY_INVALID', JSON.stringify(key));
        assert.equal(await code(s.get(key)), 'OBJECT_KEY_INVALID', JSON.stringify(key));
        assert.equal(await code(s.head(key)), 'OBJECT_KEY_INVALID');
        assert.equal(await code(s.delete(key)), 'OBJECT_KEY_INVALID');
        assert.equal(await code(s.exists(key)), 'OBJECT_KEY_INVALID');
      }
      assert.equal(await code(s.put(42 as unknown as string, Buffer.from('x'))), 'OBJECT_KEY_INVALID');
      assert.equal(await code(s.list('a b')), 'OBJECT_KEY_INVALID');
    });

    test('missing objects: get/head/delete → OBJECT_NOT_FOUND', async () => {
      const key = `${pfx()}missing`;
      assert.equal(await code(s.get(key)), 'OBJECT_NOT_FOUND');
      assert.equal(await code(s.head(key)), 'OBJECT_NOT_FOUND');
      assert.equal(await code(s.delete(key)), 'OBJECT_NOT_FOUND');
      assert.equal(await code(s.setLegalHold(key, true)), 'OBJECT_NOT_FOUND');
      assert.equal(await code(s.extendRetention(key, new Date(Date.now() + 60_000))), 'OBJECT_NOT_FOUND');
    });

    test('overwrite and delete of an unprotected object', async () => {
      const p = pfx();
      const key = `${p}o`;
      await s.put(key, Buffer.from('one'));
      await s.put(key, Buffer.from('two'), { contentType: 'text/plain' });
      assert.equal((await readAll((await s.get(key)).body)).toString(), 'two');
      assert.equal((await s.head(key)).digest, sha(Buffer.from('two')));
      await s.delete(key);
      await assertGone(key, p);
    });

    test('WORM: retained object refuses overwrite, delete and shortening until the date passes', async () => {
      const p = pfx();
      const key = `${p}retained`;
      const until = new Date(Date.now() + 2000);
      await s.put(key, Buffer.from('keep me'), { retainUntil: until });
      const h = await s.head(key);
      assert.ok(h.retainUntil && h.retainUntil.getTime() >= until.getTime(), 'retention never shorter than asked');
      assert.equal(await code(s.put(key, Buffer.from('replace'))), 'OBJECT_RETAINED');
      assert.equal(await code(s.delete(key)), 'OBJECT_RETAINED');
      assert.equal(await code(s.extendRetention(key, new Date(h.retainUntil!.getTime() - 1000))), 'OBJECT_RETAINED');
      assert.equal((await readAll((await s.get(key)).body)).toString(), 'keep me');
      await sleep(h.retainUntil!.getTime() - Date.now() + 1100);
      await s.put(key, Buffer.from('replaced after expiry'));
      await s.delete(key);
      await assertGone(key, p);
    });

    test('WORM: retention can be extended, never shortened', async () => {
      const key = `${pfx()}ext`;
      await s.put(key, Buffer.from('x'));
      const t1 = new Date(Date.now() + 60_000);
      await s.extendRetention(key, t1);
      const h1 = await s.head(key);
      assert.equal(h1.retainUntil?.getTime(), Math.ceil(t1.getTime() / 1000) * 1000);
      const t2 = new Date(t1.getTime() + 60_000);
      await s.extendRetention(key, t2);
      assert.equal((await s.head(key)).retainUntil?.getTime(), Math.ceil(t2.getTime() / 1000) * 1000);
      assert.equal(await code(s.extendRetention(key, t1)), 'OBJECT_RETAINED');
      assert.equal(await code(s.extendRetention(key, new Date('nope'))), 'VALIDATION_FAILED');
      assert.equal(await code(s.delete(key)), 'OBJECT_RETAINED');
    });

    test('WORM: legal hold blocks delete and overwrite until released', async () => {
      const p = pfx();
      const key = `${p}held`;
      await s.put(key, Buffer.from('evidence'), { legalHold: true });
      assert.equal((await s.head(key)).legalHold, true);
      assert.equal(await code(s.delete(key)), 'OBJECT_RETAINED');
      assert.equal(await code(s.put(key, Buffer.from('other'))), 'OBJECT_RETAINED');
      await s.setLegalHold(key, false);
      assert.equal((await s.head(key)).legalHold, false);
      await s.setLegalHold(key, true);
      assert.equal(await code(s.delete(key)), 'OBJECT_RETAINED');
      await s.setLegalHold(key, false);
      await s.delete(key);
      await assertGone(key, p);
    });

    test('WORM: content-addressed re-put can add a hold but never weakens one', async () => {
      const data = randomBytes(2048);
      const r = await s.putContentAddressed(data, { legalHold: true });
      await s.putContentAddressed(data); // no options: the hold stays
      assert.equal((await s.head(r.key)).legalHold, true);
      assert.equal(await code(s.delete(r.key)), 'OBJECT_RETAINED');
      await s.setLegalHold(r.key, false);
      await s.putContentAddressed(data, { legalHold: true });
      assert.equal((await s.head(r.key)).legalHold, true);
      await s.setLegalHold(r.key, false);
      await s.delete(r.key);
      assert.equal(await s.exists(r.key), false);
    });

    test('verify on read: bytes changed behind the store fail a full get with OBJECT_CORRUPT', async () => {
      const key = `${pfx()}tampered`;
      const data = randomBytes(300_000);
      await s.put(key, data);
      const forged = Buffer.from(data);
      forged[150_000]! ^= 1;
      const fullGetFails = async (k: string) => {
        const g = await s.get(k);
        let received = 0;
        let failure = 'no error';
        try {
          for await (const c of g.body) received += (c as Buffer).length;
        } catch (err) {
          failure = (err as { code?: string }).code ?? String(err);
        }
        assert.equal(failure, 'OBJECT_CORRUPT', k);
        // The last chunk is held back until verified: the full length of wrong bytes never arrives.
        assert.ok(received < data.length, `received ${received} of ${data.length} bytes`);
      };
      await t.tamper(key, forged);
      await fullGetFails(key);
      // A range cannot be checked against the whole-object digest; it is served (documented).
      assert.deepEqual(
        await readAll((await s.get(key, { range: { start: 150_000, end: 150_001 } })).body),
        forged.subarray(150_000, 150_002),
      );
      const cas = await s.putContentAddressed(data);
      await t.tamper(cas.key, forged);
      await fullGetFails(cas.key);
      // Untampered objects still read in full.
      const fine = randomBytes(70_000);
      const r = await s.putContentAddressed(fine);
      assert.deepEqual(await readAll((await s.get(r.key)).body), fine);
    });

    test('sweepAbandoned keeps every visible object and validates its age', async () => {
      const p = pfx();
      await s.put(`${p}a`, Buffer.from('a'));
      await s.put(`${p}a`, Buffer.from('a2'));
      const r = await s.putContentAddressed(randomBytes(100));
      const { removed } = await s.sweepAbandoned({ olderThanMs: 0 });
      assert.ok(Array.isArray(removed));
      assert.equal((await readAll((await s.get(`${p}a`)).body)).toString(), 'a2');
      assert.equal(await s.exists(r.key), true);
      for (const bad of [-1, 1.5, Number.NaN, '1']) {
        assert.equal(await code(s.sweepAbandoned({ olderThanMs: bad as number })), 'VALIDATION_FAILED', String(bad));
      }
    });

    test('list: byte order, keyset pagination, prefix filtering, bad cursor/limit', async () => {
      const p = pfx();
      const keys = [`${p}a`, `${p}a-b`, `${p}a/c`, `${p}a/c/d`, `${p}b`, `${p}b.txt`, `${p}z/y/x`];
      for (const k of [...keys].reverse()) await s.put(k, Buffer.from(k));
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await s.list(p, { limit: 3, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((i) => i.key));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen, expected);
      assert.equal(pages, 3);
      const one = (await s.list(p, { limit: 1000 })).items.find((i) => i.key === `${p}b.txt`);
      assert.equal(one?.size, `${p}b.txt`.length);
      assert.deepEqual(
        (await s.list(`${p}a/`)).items.map((i) => i.key),
        [`${p}a/c`, `${p}a/c/d`],
      );
      assert.deepEqual(
        (await s.list(`${p}a/c/`)).items.map((i) => i.key),
        [`${p}a/c/d`],
      );
      assert.deepEqual(
        (await s.list(`${p}b`)).items.map((i) => i.key),
        [`${p}b`, `${p}b.txt`],
      );
      assert.deepEqual((await s.list(`${p}nothing`)).items, []);
      assert.equal(await code(s.list(p, { cursor: '!!not-a-cursor' })), 'VALIDATION_FAILED');
      assert.equal(await code(s.list(p, { limit: 0 })), 'VALIDATION_FAILED');
      assert.equal(await code(s.list(p, { limit: 1001 })), 'VALIDATION_FAILED');
    });
  });
}
