import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { run, tempDir } from '@stella/testkit';
import { FsObjectStore } from './fs-object-store.js';
import { objectStoreContract, patternChunks } from './testing/object-store-contract.js';

objectStoreContract('fs', async () => {
  const dir = await tempDir('stella-os-fs-');
  return { store: new FsObjectStore({ root: dir.path }), cleanup: dir.cleanup };
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

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e: { code?: string }) => e.code ?? 'uncoded',
  );

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
      assert.equal(
        await code(s.put('keep/three', Buffer.from('abc'), { expectedDigest: `sha256:${'0'.repeat(64)}` })),
        'OBJECT_DIGEST_MISMATCH',
      );
      assert.equal(await code(s.put('keep/four', Buffer.from('abc'), { size: 2 })), 'OBJECT_SIZE_MISMATCH');
      assert.equal(
        await code(s.put('keep/one', Buffer.from('abc'), { expectedDigest: `sha256:${'0'.repeat(64)}` })),
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
      assert.equal(await code(s.delete('r')), 'OBJECT_RETAINED');
      now = Date.parse('2030-06-01T00:00:00Z') - 1;
      assert.equal(await code(s.delete('r')), 'OBJECT_RETAINED');
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

  test('a relative root is refused', () => {
    assert.throws(() => new FsObjectStore({ root: 'relative/dir' }), { code: 'CONFIG_INVALID' });
  });

  test('ping fails with OBJECT_STORE_UNAVAILABLE when the root cannot be created', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'file'), 'x');
      const s = new FsObjectStore({ root: join(dir.path, 'file', 'sub') });
      assert.equal(await code(s.ping()), 'OBJECT_STORE_UNAVAILABLE');
      assert.equal(await code(s.put('a', Buffer.from('x'))), 'OBJECT_STORE_UNAVAILABLE');
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
