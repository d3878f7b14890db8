// The parallel gzip block format (ADR 0019): output independent of the thread count and of input
// chunking, byte-identical across runs, valid for zlib, GNU gzip, pigz and GNU tar (DESIGN.md §5).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createCipheriv } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { assertRejectsStella, needTool, run, tempDir } from '@stella/testkit';
import {
  GZIP_BLOCK_SIZE,
  createTarGz,
  gzipBlocks,
  gzipDeterministic,
  gzipParallel,
  type ParallelGzipOptions,
} from '@stella/core/tar';
import { collect } from './tar-testing.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const KiB = 1024;

/** Deterministic bytes: `compressible` JSON-ish text or AES-CTR keystream (incompressible). */
function bytes(n: number, seed: number, compressible: boolean): Buffer {
  if (compressible) {
    const parts: string[] = [];
    let len = 0;
    for (let i = 0; len < n; i++) {
      const s = `{"id":"CVE-2024-${(seed * 7919 + i * 104729) % 99991}","severity":"${['LOW', 'HIGH', 'CRITICAL'][i % 3]}","package":"pkg-${i % 57}"},\n`;
      parts.push(s);
      len += s.length;
    }
    return Buffer.from(parts.join('')).subarray(0, n);
  }
  const key = createHash('sha256').update(`seed ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** `data` cut at the given offsets (sorted, deduplicated), as a chunk iterable. */
function chunked(data: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

const gz = (src: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, o: ParallelGzipOptions) =>
  collect(gzipBlocks(src, o));

describe('parallel deterministic gzip', () => {
  test('property: same bytes for 1, 2 and 4 threads and any input chunking; zlib reads them back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 * 64 * KiB + 7 }),
        fc.integer({ min: 32 * KiB, max: 96 * KiB }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 9 }),
        fc.nat(1000),
        async (n, blockSize, cuts, compressible, level, seed) => {
          const data = bytes(n, seed, compressible);
          const one = await gz([data], { threads: 1, blockSize, level });
          assert.ok(gunzipSync(one).equals(data));
          for (const threads of [2, 4]) {
            const other = await gz(chunked(data, cuts), { threads, blockSize, level });
            assert.ok(other.equals(one), `threads ${threads}, block ${blockSize}, ${n} B, cuts ${cuts.join()}`);
          }
        },
      ),
      { numRuns: 60, seed: 0x13 },
    );
  });

  test('block boundaries: empty, 1 B, exactly one block, one block + 1, two blocks, many one-byte chunks', async () => {
    for (const n of [0, 1, GZIP_BLOCK_SIZE - 1, GZIP_BLOCK_SIZE, GZIP_BLOCK_SIZE + 1, 2 * GZIP_BLOCK_SIZE]) {
      const data = bytes(n, n, true);
      const a = await gz([data], { threads: 1 });
      const b = await gz([data], { threads: 4 });
      assert.ok(a.equals(b), `${n} B`);
      assert.ok(gunzipSync(a).equals(data), `${n} B round trip`);
      // Trailer: CRC-32 and ISIZE of the whole input (RFC 1952 §2.3.1).
      assert.equal(a.readUInt32LE(a.length - 4), n);
      assert.equal(a.readUInt32LE(a.length - 8), gzipSync(data).readUInt32LE(gzipSync(data).length - 8));
    }
    const data = bytes(GZIP_BLOCK_SIZE + 300, 9, true);
    const bytewise = await gz(
      Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1)),
      { threads: 2 },
    );
    assert.ok(bytewise.equals(await gz([data], { threads: 1 })));
  });

  test('one block or less: the same bytes as zlib one-shot gzip (OS byte 3); header bytes per level', async () => {
    for (const level of [0, 1, 6, 9]) {
      const data = bytes(100 * KiB, level, true);
      const ours = await gz([data], { level });
      const zlib = gzipSync(data, { level });
      zlib[9] = 3;
      // Level 0 (stored) cuts its blocks where zlib's output buffer fills, and zlib's gzip writes
      // its 10-byte header into that buffer: the stored-block lengths differ, nothing else.
      if (level > 0) assert.ok(ours.equals(zlib), `level ${level}`);
      assert.ok(gunzipSync(ours).equals(data));
      const big = await gz([bytes(3 * GZIP_BLOCK_SIZE, 1, true)], { level });
      assert.deepEqual([...big.subarray(0, 10)], [...zlib.subarray(0, 10)]);
    }
  });

  test('multi-block output is byte-identical across runs (golden digest, zlib of this Node)', async () => {
    const data = bytes(GZIP_BLOCK_SIZE * 5 + 12345, 42, true);
    const a = await gz([data], { threads: 2 });
    const b = await collect(gzipDeterministic(Readable.from(chunked(data, [7, 70000, 300001])), 6, { threads: 3 }));
    assert.ok(a.equals(b));
    // Recorded with zlib 1.3.1-e00f703 (Node 20.20); another zlib may deflate differently.
    const GOLDEN = {
      zlib: '1.3.1-e00f703',
      sha256: 'f8ef5295fe0c2510635719e59b2450c3ec148b45ce3fb7841bb4f142b30ad1e9',
    };
    if (process.versions.zlib === GOLDEN.zlib) assert.equal(sha256(a), GOLDEN.sha256);
  });

  test('GNU gzip -t, pigz -d and tar -tzf accept a multi-block archive', async (t) => {
    const missing = needTool('gzip') || needTool('tar') || needTool('pigz');
    if (missing) return t.skip(missing);
    const dir = await tempDir();
    try {
      const files = [
        { path: 'a/random.bin', data: bytes(3 * GZIP_BLOCK_SIZE + 17, 1, false) },
        { path: 'a/text.json', data: bytes(5 * GZIP_BLOCK_SIZE + 5, 2, true) },
        { path: 'b/small.txt', data: Buffer.from('small\n') },
      ];
      const tgz = await collect(
        createTarGz(
          files.map((f) => ({ path: f.path, size: f.data.length, body: f.data })),
          { gzipThreads: 2 },
        ),
      );
      assert.ok(
        tgz.equals(
          await collect(
            createTarGz(
              files.map((f) => ({ path: f.path, body: f.data, size: f.data.length })),
              { gzipThreads: 1 },
            ),
          ),
        ),
      );
      const file = join(dir.path, 'out.tgz');
      await writeFile(file, tgz);
      const tested = await run('gzip', ['-t', file]);
      assert.equal(tested.code, 0, tested.stderr.toString());
      const listed = await run('tar', ['-tzf', file]);
      assert.equal(listed.code, 0, listed.stderr.toString());
      assert.deepEqual(listed.stdout.toString().trim().split('\n'), [
        'a/',
        'a/random.bin',
        'a/text.json',
        'b/',
        'b/small.txt',
      ]);
      const unpigz = await run('pigz', ['-dc', file]);
      assert.equal(unpigz.code, 0, unpigz.stderr.toString());
      assert.ok(unpigz.stdout.equals(gunzipSync(tgz)));
    } finally {
      await dir.cleanup();
    }
  });

  test('a source error fails the stream with that error; bad settings are VALIDATION_FAILED', async () => {
    const boom = new Error('source broke');
    async function* failing() {
      yield bytes(3 * GZIP_BLOCK_SIZE, 3, false);
      throw boom;
    }
    await assert.rejects(collect(gzipParallel(failing(), { threads: 2 })), (e) => e === boom);
    await assertRejectsStella(() => gz([Buffer.from('x')], { threads: 0 }), 'VALIDATION_FAILED');
    // A bad thread count fails createTarGz's stream and releases the tar source (no open bodies).
    let opened = 0;
    const src = Readable.from(
      (async function* () {
        opened++;
        yield Buffer.from('never compressed');
      })(),
    );
    await assertRejectsStella(() => collect(gzipDeterministic(src, 6, { threads: 0 })), 'VALIDATION_FAILED');
    assert.ok(src.destroyed);
    assert.equal(opened, 0);
    await assertRejectsStella(
      () => collect(createTarGz([{ path: 'a', size: 1, body: Buffer.from('a') }], { gzipThreads: 99 })),
      'VALIDATION_FAILED',
    );
    await assertRejectsStella(() => gz([Buffer.from('x')], { level: 10 }), 'VALIDATION_FAILED');
    await assertRejectsStella(() => gz([Buffer.from('x')], { blockSize: 1024 }), 'VALIDATION_FAILED');
  });
});
