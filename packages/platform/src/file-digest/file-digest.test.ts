// digestFiles (issue #13 item 1): the digests of sha256sum (an independent tool, DESIGN.md §5), in
// input order for every thread count and window, so a Merkle root over them never depends on the
// schedule; coded errors for files that cannot be read.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MerkleTreeBuilder } from '@stella/core/merkle';
import { assertRejectsStella, needTool, run, tempDir } from '@stella/testkit';
import { digestFiles, type DigestFilesOptions, type FileDigest } from '@stella/platform/file-digest';

const BUF = 4096; // small read buffer: files span 0, 1, exactly 1 and many buffers

async function all(paths: string[], o: DigestFilesOptions): Promise<FileDigest[]> {
  const out: FileDigest[] = [];
  for await (const d of digestFiles(paths, o)) out.push(d);
  return out;
}

function rootOf(ds: FileDigest[]): string {
  const b = new MerkleTreeBuilder();
  for (const d of ds) b.pushData(`${d.path}\n${d.digest}`);
  return Buffer.from(b.root()).toString('hex');
}

describe('digestFiles', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const paths: string[] = [];
  const sizes = [0, 1, BUF - 1, BUF, BUF + 1, 3 * BUF, 200_000, 17, 5 * BUF + 3, 0, 1_000_003, 64];

  before(async () => {
    dir = await tempDir('stella-file-digest-');
    await mkdir(join(dir.path, 'sub'));
    const key = createHash('sha256').update('file-digest test').digest();
    for (let i = 0; i < 40; i++) {
      // Sizes vary wildly so that workers finish out of order.
      const n = sizes[i % sizes.length]! + (i > 12 ? i * 977 : 0);
      const iv = Buffer.alloc(16);
      iv.writeUInt32BE(i);
      const p = join(dir.path, 'sub', `f${String(i).padStart(2, '0')}`);
      await writeFile(p, createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(n)));
      paths.push(p);
    }
  });
  after(() => dir.cleanup());

  test('digests equal sha256sum, in input order, for 0–4 threads and windows 1–64', async (t) => {
    const missing = needTool('sha256sum');
    if (missing) return t.skip(missing);
    const res = await run('sha256sum', paths);
    assert.equal(res.code, 0);
    const expected = res.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.slice(0, 64));
    let root: string | undefined;
    for (const threads of [0, 1, 2, 4]) {
      for (const window of [1, 3, 64]) {
        const got = await all(paths, { threads, window, bufferBytes: BUF, inFlight: 3 });
        assert.deepEqual(
          got.map((d) => d.hex),
          expected,
          `threads ${threads} window ${window}`,
        );
        assert.deepEqual(
          got.map((d) => [d.index, d.path]),
          paths.map((p, i) => [i, p]),
        );
        for (const d of got) assert.equal(d.digest, `sha256:${d.hex}`);
        // The Merkle root built from the stream is the same whatever the schedule.
        root ??= rootOf(got);
        assert.equal(rootOf(got), root);
      }
    }
    // Default options too (threads = available parallelism, 256 KiB buffers).
    assert.equal(rootOf(await all(paths, {})), root);
  });

  test('sizes are the bytes read; an empty list yields nothing', async () => {
    const got = await all(paths.slice(0, 12), { threads: 2, bufferBytes: BUF });
    assert.deepEqual(
      got.map((d) => d.size),
      sizes,
    );
    assert.deepEqual(await all([], { threads: 2 }), []);
  });

  test('a missing file is NOT_FOUND, a directory VALIDATION_FAILED, with details.path', async () => {
    for (const threads of [0, 2]) {
      const gone = join(dir.path, 'nope');
      const e = await assertRejectsStella(() => all([paths[0]!, gone, paths[1]!], { threads }), 'NOT_FOUND');
      assert.equal((e.details as { path: string }).path, gone);
      await assertRejectsStella(() => all([join(dir.path, 'sub')], { threads }), 'VALIDATION_FAILED');
    }
  });

  test('leaving the loop early stops the workers; bad options are VALIDATION_FAILED', async () => {
    let n = 0;
    for await (const _ of digestFiles(paths, { threads: 2 })) if (++n === 3) break;
    assert.equal(n, 3);
    await assertRejectsStella(() => all(paths, { threads: -1 }), 'VALIDATION_FAILED');
    await assertRejectsStella(() => all(paths, { bufferBytes: 10 }), 'VALIDATION_FAILED');
    await assertRejectsStella(() => all(paths, { window: 0 }), 'VALIDATION_FAILED');
  });
});
