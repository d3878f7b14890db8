import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir, stat, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRejectsStella, run, tempDir } from '@stella/testkit';
import { FsObjectStore } from './fs-object-store.js';
import { objectStoreContract, patternChunks } from './testing/object-store-contract.js';

/** Where the fs driver keeps a key's sidecar (the layout in fs-object-store.ts). */
function sidecarPath(root: string, key: string): string {
  if (key.startsWith('sha256:')) {
    const hex = key.slice('sha256:'.length);
    return join(root, 'cas', 'sha256', hex.slice(0, 2), hex.slice(2, 4), `${hex}~meta`);
  }
  return join(root, 'objects', `${key}~meta`);
}

/** Overwrite the blob a sidecar names, leaving the sidecar (and its digest) as it was. */
async function tamper(root: string, key: string, bytes: Buffer): Promise<void> {
  const meta = sidecarPath(root, key);
  const { blob } = JSON.parse(await readFile(meta, 'utf8')) as { blob: string };
  await writeFile(join(dirname(meta), blob), bytes);
}

objectStoreContract('fs', async () => {
  const dir = await tempDir('stella-os-fs-');
  return {
    store: new FsObjectStore({ root: dir.path }),
    tamper: (key, bytes) => tamper(dir.path, key, bytes),
    cleanup: dir.cleanup,
  };
});

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe('fs object store specifics', () => {
  test('layout: sharded content addresses, sidecar JSON, sha256sum agrees with the stored bytes', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      const data = randomBytes(4096);
      const r = await s.putContentAddressed(Readable.from([data]), { contentType: 'application/x-test' });
      const hex = r.key.slice('sha256:'.length);
      const shard = join(dir.path, 'cas', 'sha256', hex.slice(0, 2), hex.slice(2, 4));
      const blob = join(shard, `${hex}~blob`);
      // Fed on stdin: testkit's run() always writes stdin, which races (EPIPE) with a tool that
      // exits without reading it.
      const sum = await run('sha256sum', ['-'], { input: await readFile(blob) });
      assert.equal(sum.code, 0);
      assert.equal(sum.stdout.toString().split(' ')[0], hex);
      const meta = JSON.parse(await readFile(join(shard, `${hex}~meta`), 'utf8'));
      assert.equal(meta.digest, r.key);
      assert.equal(meta.size, 4096);
      assert.equal(meta.contentType, 'application/x-test');
      assert.deepEqual(await readdir(join(dir.path, 'tmp')), []);
    } finally {
      await dir.cleanup();
    }
  });

  test('failures leave no temp file, no blob, no sidecar', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      await s.put('keep/one', Buffer.from('one'));
      const before = (await walk(dir.path)).sort();
      async function* failing() {
        yield randomBytes(300_000);
        throw new Error('boom');
      }
      await assert.rejects(s.put('keep/two', failing()), /boom/);
      await assertRejectsStella(
        s.put('keep/three', Buffer.from('abc'), { expectedDigest: `sha256:${'0'.repeat(64)}` }),
        'OBJECT_DIGEST_MISMATCH',
      );
      await assertRejectsStella(s.put('keep/four', Buffer.from('abc'), { size: 2 }), 'OBJECT_SIZE_MISMATCH');
      await assertRejectsStella(
        s.put('keep/one', Buffer.from('abc'), { expectedDigest: `sha256:${'0'.repeat(64)}` }),
        'OBJECT_DIGEST_MISMATCH',
      );
      assert.deepEqual((await walk(dir.path)).sort(), before);
      assert.equal((await readFile(before.find((p) => p.includes('one~b-'))!)).toString(), 'one');
    } finally {
      await dir.cleanup();
    }
  });

  test('an orphan blob without sidecar (crash between renames) is invisible', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      await mkdir(join(dir.path, 'objects', 'ghost'), { recursive: true });
      await writeFile(join(dir.path, 'objects', 'ghost', 'x~b-0011'), 'partial');
      assert.equal(await s.exists('ghost/x'), false);
      assert.deepEqual((await s.list('ghost/')).items, []);
    } finally {
      await dir.cleanup();
    }
  });

  test('overwrite replaces the blob and removes the old one; readers of the old stream keep reading it', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      await s.put('k', Buffer.from('old content'));
      const reading = await s.get('k');
      await s.put('k', Buffer.from('new content'));
      const chunks: Buffer[] = [];
      for await (const c of reading.body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'old content');
      const files = (await readdir(join(dir.path, 'objects'))).sort();
      assert.equal(files.length, 2, files.join(','));
      assert.ok(files.includes('k~meta'));
    } finally {
      await dir.cleanup();
    }
  });

  test('injected clock decides retention', async () => {
    const dir = await tempDir();
    try {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const s = new FsObjectStore({ root: dir.path, now: () => now });
      await s.put('r', Buffer.from('x'), { retainUntil: new Date('2030-06-01T00:00:00Z') });
      await assertRejectsStella(s.delete('r'), 'OBJECT_RETAINED');
      now = Date.parse('2030-06-01T00:00:00Z') - 1;
      await assertRejectsStella(s.delete('r'), 'OBJECT_RETAINED');
      now += 1; // "retain until" T: from instant T on, the object is free (as S3 Object Lock)
      await s.delete('r');
    } finally {
      await dir.cleanup();
    }
  });

  test('many concurrent puts of one content address store one object', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      const data = randomBytes(200_000);
      const results = await Promise.all(Array.from({ length: 8 }, () => s.putContentAddressed(Readable.from([data]))));
      assert.equal(new Set(results.map((r) => r.key)).size, 1);
      const files = await walk(join(dir.path, 'cas'));
      assert.equal(files.length, 2);
      assert.deepEqual(await readdir(join(dir.path, 'tmp')), []);
    } finally {
      await dir.cleanup();
    }
  });

  test('ten store instances putting one key at once leave one blob, one sidecar, no temp or lock file', async () => {
    const dir = await tempDir();
    try {
      const stores = Array.from({ length: 10 }, () => new FsObjectStore({ root: dir.path }));
      const bodies = stores.map((_, i) => Buffer.from(`version ${i} `.repeat(5000)));
      const results = await Promise.all(stores.map((st, i) => st.put('race/key', Readable.from([bodies[i]!]))));
      const files = (await readdir(join(dir.path, 'objects', 'race'))).sort();
      assert.equal(files.length, 2, files.join(','));
      assert.ok(files.includes('key~meta'));
      assert.match(
        files.find((f) => f !== 'key~meta')!,
        /^key~b-[0-9a-f]+$/,
      );
      assert.deepEqual(await readdir(join(dir.path, 'tmp')), []);
      // The survivor is one of the ten writes, intact, and its sidecar agrees.
      const got = await buffer((await stores[0]!.get('race/key')).body);
      const i = bodies.findIndex((b) => b.equals(got));
      assert.ok(i >= 0, 'the stored bytes are one of the writes');
      assert.equal((await stores[0]!.head('race/key')).digest, results[i]!.digest);
      // The same for one content address written by ten instances.
      const data = randomBytes(100_000);
      await Promise.all(stores.map((st) => st.putContentAddressed(Readable.from([data]))));
      assert.equal((await walk(join(dir.path, 'cas'))).length, 2);
      assert.deepEqual(await readdir(join(dir.path, 'tmp')), []);
    } finally {
      await dir.cleanup();
    }
  });

  test('a lock file left by a crashed writer is broken once stale; a live one is waited for', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path, lockStaleMs: 400 });
      await s.put('l/k', Buffer.from('one'));
      const lock = join(dir.path, 'objects', 'l', 'k~lock');
      await writeFile(lock, '');
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(lock, hourAgo, hourAgo);
      await s.put('l/k', Buffer.from('two')); // stale: broken at once
      await writeFile(lock, ''); // fresh: held by a (simulated) live writer
      const t0 = Date.now();
      await s.put('l/k', Buffer.from('three'));
      assert.ok(Date.now() - t0 >= 350, 'waited until the lock went stale');
      assert.deepEqual(
        (await readdir(join(dir.path, 'objects', 'l'))).filter((f) => f.endsWith('~lock')),
        [],
      );
      assert.equal((await buffer((await s.get('l/k')).body)).toString(), 'three');
      assert.throws(() => new FsObjectStore({ root: dir.path, lockStaleMs: 0 }), { code: 'CONFIG_INVALID' });
    } finally {
      await dir.cleanup();
    }
  });

  test('sweepAbandoned removes old staging files, unreferenced blobs and stale locks only', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      await s.put('a/b', Buffer.from('current'));
      const cas = await s.putContentAddressed(Buffer.from('cas bytes'));
      const casDir = dirname(sidecarPath(dir.path, cas.key));
      const hex = cas.key.slice('sha256:'.length);
      const old = new Date(Date.now() - 2 * 3_600_000);
      const plant = async (path: string, aged: boolean) => {
        await writeFile(path, 'leftover');
        if (aged) await utimes(path, old, old);
      };
      await plant(join(dir.path, 'tmp', 'abandoned'), true);
      await plant(join(dir.path, 'tmp', 'in-flight'), false);
      await plant(join(dir.path, 'objects', 'a', 'b~b-dead'), true);
      await plant(join(dir.path, 'objects', 'a', 'b~b-beef'), false);
      await plant(join(dir.path, 'objects', 'a', 'gone~b-0001'), true); // no sidecar at all
      await plant(join(dir.path, 'objects', 'a', 'b~lock'), true);
      const current = join(
        dir.path,
        'objects',
        'a',
        JSON.parse(await readFile(sidecarPath(dir.path, 'a/b'), 'utf8')).blob,
      );
      await utimes(current, old, old); // old but referenced: kept
      await utimes(join(casDir, `${hex}~blob`), old, old);
      const { removed } = await s.sweepAbandoned({ olderThanMs: 3_600_000 });
      // The stale lock may be broken by the sweep's own locking of a/b (then it is not listed).
      assert.deepEqual(removed.filter((f) => !f.endsWith('~lock')).sort(), [
        join('objects', 'a', 'b~b-dead'),
        join('objects', 'a', 'gone~b-0001'),
        join('tmp', 'abandoned'),
      ]);
      assert.deepEqual(
        (await readdir(join(dir.path, 'objects', 'a'))).sort(),
        ['b~b-beef', 'b~meta', basename(current)].sort(),
        'young files are left to their writer; the lock is gone',
      );
      assert.deepEqual((await readdir(join(dir.path, 'tmp'))).sort(), ['in-flight']);
      assert.equal((await buffer((await s.get('a/b')).body)).toString(), 'current');
      assert.equal((await buffer((await s.get(cas.key)).body)).toString(), 'cas bytes');
    } finally {
      await dir.cleanup();
    }
  });

  test('a symlinked directory planted inside the store is never followed (put, get, list)', async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      await s.put('seed', Buffer.from('x'));
      await symlink(outside.path, join(dir.path, 'objects', 'evil'));
      await assertRejectsStella(s.put('evil/x', Buffer.from('escape')), 'OBJECT_CORRUPT');
      await assertRejectsStella(s.put('evil/deeper/x', Buffer.from('escape')), 'OBJECT_CORRUPT');
      assert.deepEqual(await readdir(outside.path), [], 'nothing written outside the root');
      // An object planted outside, reachable only through the link, is not served.
      const planted = new FsObjectStore({ root: join(outside.path, 'r') });
      await planted.put('x', Buffer.from('planted'));
      await symlink(join(outside.path, 'r', 'objects'), join(dir.path, 'objects', 'evil2'));
      await assertRejectsStella(s.get('evil2/x'), 'OBJECT_CORRUPT');
      await assertRejectsStella(s.head('evil2/x'), 'OBJECT_CORRUPT');
      await assertRejectsStella(s.delete('evil2/x'), 'OBJECT_CORRUPT');
      assert.deepEqual(
        (await s.list('')).items.map((i) => i.key),
        ['seed'],
      );
      assert.deepEqual((await s.list('evil2/')).items, []);
      // Linked sidecar and blob files are refused too (O_NOFOLLOW).
      await symlink(join(outside.path, 'r', 'objects', 'x~meta'), join(dir.path, 'objects', 'linked~meta'));
      await assertRejectsStella(s.get('linked'), 'OBJECT_CORRUPT');
      const seedMeta = JSON.parse(await readFile(sidecarPath(dir.path, 'seed'), 'utf8'));
      const planted2 = JSON.parse(await readFile(join(outside.path, 'r', 'objects', 'x~meta'), 'utf8'));
      await symlink(join(outside.path, 'r', 'objects', planted2.blob), join(dir.path, 'objects', `seed~b-0bad`));
      await writeFile(sidecarPath(dir.path, 'seed'), JSON.stringify({ ...seedMeta, blob: 'seed~b-0bad' }));
      await assertRejectsStella(s.get('seed'), 'OBJECT_CORRUPT');
      // A sidecar naming a blob outside its directory.
      await writeFile(sidecarPath(dir.path, 'seed'), JSON.stringify({ ...seedMeta, blob: '../../x~blob' }));
      await assertRejectsStella(s.get('seed'), 'OBJECT_CORRUPT');
    } finally {
      await dir.cleanup();
      await outside.cleanup();
    }
  });

  test('symlinked tmp/ or cas/ directories are refused before a byte is written', async () => {
    for (const top of ['tmp', 'cas']) {
      const dir = await tempDir();
      const outside = await tempDir();
      try {
        await mkdir(dir.path, { recursive: true });
        await symlink(outside.path, join(dir.path, top));
        const s = new FsObjectStore({ root: dir.path });
        await assertRejectsStella(s.putContentAddressed(Buffer.from('escape')), 'OBJECT_CORRUPT');
        assert.deepEqual(await walk(outside.path), [], top);
      } finally {
        await dir.cleanup();
        await outside.cleanup();
      }
    }
  });

  test('verify on read: a resized blob fails get() at once, ranges included; verifyOnRead: false opts out', async () => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path });
      const data = randomBytes(1000);
      await s.put('v/k', data);
      await tamper(dir.path, 'v/k', Buffer.concat([data, Buffer.from('appended')]));
      await assertRejectsStella(s.get('v/k'), 'OBJECT_CORRUPT');
      await assertRejectsStella(s.get('v/k', { range: { start: 0, end: 9 } }), 'OBJECT_CORRUPT');
      const forged = Buffer.from(data);
      forged[0]! ^= 0xff;
      await tamper(dir.path, 'v/k', forged);
      const trusting = new FsObjectStore({ root: dir.path, verifyOnRead: false });
      assert.deepEqual(await buffer((await trusting.get('v/k')).body), forged);
      // A sidecar pointing at another key's blob (with that blob's digest) is refused.
      await s.put('v/other', Buffer.from('other bytes'));
      const otherMeta = JSON.parse(await readFile(sidecarPath(dir.path, 'v/other'), 'utf8'));
      const kMeta = JSON.parse(await readFile(sidecarPath(dir.path, 'v/k'), 'utf8'));
      await writeFile(
        sidecarPath(dir.path, 'v/k'),
        JSON.stringify({ ...kMeta, blob: otherMeta.blob, digest: otherMeta.digest, size: otherMeta.size }),
      );
      await assertRejectsStella(s.get('v/k'), 'OBJECT_CORRUPT');
      // A sidecar whose digest disagrees with its content address is refused before reading.
      const cas = await s.putContentAddressed(data);
      const meta = sidecarPath(dir.path, cas.key);
      const m = JSON.parse(await readFile(meta, 'utf8'));
      await writeFile(meta, JSON.stringify({ ...m, digest: `sha256:${'0'.repeat(64)}` }));
      await assertRejectsStella(s.get(cas.key), 'OBJECT_CORRUPT');
    } finally {
      await dir.cleanup();
    }
  });

  test('a relative root is refused', () => {
    assert.throws(() => new FsObjectStore({ root: 'relative/dir' }), { code: 'CONFIG_INVALID' });
  });

  test('ping fails with OBJECT_STORE_UNAVAILABLE when the root cannot be created', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'file'), 'x');
      const s = new FsObjectStore({ root: join(dir.path, 'file', 'sub') });
      await assertRejectsStella(s.ping(), 'OBJECT_STORE_UNAVAILABLE');
      await assertRejectsStella(s.put('a', Buffer.from('x')), 'OBJECT_STORE_UNAVAILABLE');
    } finally {
      await dir.cleanup();
    }
  });

  test('memory stays flat: 256 MiB streamed in and out, RSS grows < 64 MiB', async (t) => {
    const dir = await tempDir();
    try {
      const s = new FsObjectStore({ root: dir.path, fsync: false });
      const total = 256 * 1024 * 1024;
      globalThis.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      try {
        const r = await s.put('big/blob', Readable.from(patternChunks(total, 1024 * 1024, 3)), { size: total });
        assert.equal(r.size, total);
        const h = createHash('sha256');
        for await (const c of (await s.get('big/blob')).body) h.update(c as Buffer);
        assert.equal(`sha256:${h.digest('hex')}`, r.digest);
      } finally {
        clearInterval(timer);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.equal((await stat(join(dir.path, 'objects', 'big'))).isDirectory(), true);
      const growth = (peak - base) / 1024 / 1024;
      t.diagnostic(`RSS growth ${growth.toFixed(1)} MiB for a ${total / 1024 / 1024} MiB object`);
      assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB`);
    } finally {
      await dir.cleanup();
    }
  });
});
