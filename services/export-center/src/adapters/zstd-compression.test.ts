/**
 * zstd in `json:raw` and `json:policy` (issue #10 §5 "gzip or zstd"), checked with Debian's
 * `zstd` CLI (a decoder we did not write): `zstd -t` accepts the `.zst` files and `zstd -dc`
 * gives back exactly the canonical lines of the uncompressed export; equal input gives equal
 * bytes (rerun, other input chunking); options are validated with every problem at once; and a
 * large input streams through with flat memory.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { createStagingSink } from '../bundle/staging-sink.js';
import type { SourceRecord } from '../sources/source-record.js';
import { datasetRecords, iterate } from '../testing/index.js';

const chunksOf = async function* (xs: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* xs;
};
import { compress } from './compression.js';
import { getAdapter } from './registry.js';
import { ZSTD_BLOCK_BYTES, zstdFrames } from './zstd-frames.js';

const noZstd = needTool('zstd');

let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
before(async () => {
  dir = await tempDir('stella-zstd-');
  records = await datasetRecords(datasetsDir, 5);
});
after(async () => {
  await dir?.cleanup();
});

/** Every file an adapter writes over `records` with `options`: path → bytes, and the media types. */
async function exportFiles(adapter: string, options: Record<string, unknown>, name: string) {
  const checked = getAdapter(adapter).validateOptions(options);
  assert.ok(checked.ok, JSON.stringify(checked));
  const s = await createStagingSink(join(dir.path, name));
  try {
    await getAdapter(adapter).write({
      records: iterate(records),
      options: checked.options,
      out: s,
      signal: new AbortController().signal,
      progress: () => undefined,
      exportTime: null,
    });
    const files = new Map<string, Buffer>();
    for (const f of s.files()) files.set(f.path, await readFile(join(s.dir, f.path)));
    return { files, media: s.files().map((f) => [f.path, f.mediaType]), digests: s.files().map((f) => f.digest) };
  } finally {
    await s.dispose();
  }
}

describe('zstd options', () => {
  for (const id of ['json:raw', 'json:policy']) {
    test(`${id}: zstd at level 3 by default, zstdLevel 1–19, each level only with its codec`, () => {
      const a = getAdapter(id);
      const ok = a.validateOptions({ compression: 'zstd' });
      assert.ok(ok.ok);
      assert.equal(ok.options.compression, 'zstd');
      assert.equal(ok.options.zstdLevel, 3);
      assert.equal(ok.options.gzipLevel, undefined);
      const nine = a.validateOptions({ compression: 'zstd', zstdLevel: 19 });
      assert.ok(nine.ok && nine.options.zstdLevel === 19);
      const bad = a.validateOptions({ compression: 'zstd', zstdLevel: 20, gzipLevel: 6 });
      assert.equal(bad.ok, false);
      assert.deepEqual((bad as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
        '/gzipLevel',
        '/zstdLevel',
      ]);
      const onGzip = a.validateOptions({ compression: 'gzip', zstdLevel: 3 });
      assert.equal(onGzip.ok, false);
      assert.deepEqual(
        (onGzip as { problems: { path: string }[] }).problems.map((p) => p.path),
        ['/zstdLevel'],
      );
    });
  }
});

describe('zstd output, read by Debian zstd', { skip: noZstd }, () => {
  for (const [id, dirName] of [
    ['json:raw', 'data'],
    ['json:policy', 'policy-input'],
  ] as const) {
    test(`${id}: ${dirName}/<kind>.jsonl.zst passes zstd -t; zstd -dc gives exactly the uncompressed lines; a rerun is byte-identical`, async () => {
      const plain = await exportFiles(id, { compression: 'none' }, `${id}-none`);
      const z = await exportFiles(id, { compression: 'zstd' }, `${id}-zstd`);
      assert.deepEqual([...z.files.keys()].sort(), [...plain.files.keys()].map((p) => `${p}.zst`).sort());
      for (const [path, media] of z.media) {
        assert.match(path ?? '', new RegExp(`^${dirName}/[a-z]+\\.jsonl\\.zst$`));
        assert.equal(media, 'application/jsonl+zstd');
      }
      for (const [path, bytes] of z.files) {
        assert.deepEqual([...bytes.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], `${path}: zstd frame magic`);
        const t = await run('zstd', ['-t', '-q'], { input: bytes });
        assert.equal(t.code, 0, `zstd -t ${path}: ${t.stderr.toString()}`);
        const d = await run('zstd', ['-dc'], { input: bytes });
        assert.equal(d.code, 0, d.stderr.toString());
        assert.ok(
          d.stdout.equals(plain.files.get(path.slice(0, -4))!),
          `${path}: zstd -dc differs from the plain file`,
        );
      }
      const again = await exportFiles(id, { compression: 'zstd' }, `${id}-zstd-again`);
      assert.deepEqual(again.digests, z.digests);
      // Another level gives other bytes (the level is really applied) that decompress the same.
      const nine = await exportFiles(id, { compression: 'zstd', zstdLevel: 9 }, `${id}-zstd-9`);
      assert.notDeepEqual(nine.digests, z.digests);
    });
  }

  test('frames of fixed blocks: the bytes do not depend on how the input is chunked; zstd -dc reads them all', async () => {
    const input = Buffer.from(
      Array.from({ length: 3000 }, (_, i) => `{"id":"R-${i}","text":"${'ab'.repeat(i % 50)}"}\n`).join(''),
    );
    const collect = async (chunks: Uint8Array[]) => {
      const out: Uint8Array[] = [];
      for await (const f of zstdFrames(chunksOf(chunks), 3, 4096)) out.push(f);
      return Buffer.concat(out);
    };
    const whole = await collect([input]);
    const cuts = [1, 4095, 4096, 4097, 10_000, 65_537];
    const pieces: Uint8Array[] = [];
    let at = 0;
    for (const c of [...cuts, input.byteLength]) {
      pieces.push(input.subarray(at, c));
      at = c;
    }
    assert.ok((await collect(pieces)).equals(whole));
    const d = await run('zstd', ['-dc'], { input: whole });
    assert.equal(d.code, 0);
    assert.ok(d.stdout.equals(input));
    // One frame per 4096 input bytes: `zstd -l` (which reads files only) counts them.
    const file = join(dir.path, 'frames.zst');
    await writeFile(file, whole);
    const l = await run('zstd', ['-lv', file]);
    const frames = /# Zstandard Frames: (\d+)/.exec(l.stdout.toString() + l.stderr.toString())?.[1];
    assert.equal(Number(frames), Math.ceil(input.byteLength / 4096));
    // Empty input is one empty frame, which zstd reads as empty.
    const empty = await collect([]);
    const e = await run('zstd', ['-dc'], { input: empty });
    assert.equal(e.code, 0);
    assert.equal(e.stdout.byteLength, 0);
  });

  test('256 MiB stream into zstd -dc with the same peak memory as 32 MiB; the output hashes back to the input', async () => {
    /** Compresses `total` bytes of distinct JSONL-like 64 KiB chunks into `zstd -dc`; peak RSS. */
    const pump = async (total: number) => {
      const template = Buffer.from(
        Array.from({ length: 1024 }, (_, i) => `{"id":"L-${String(i).padStart(6, '0')}","x":"${'q'.repeat(i % 40)}"}\n`)
          .join('')
          .slice(0, 65_536),
      );
      const inputHash = createHash('sha256');
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for (let made = 0, i = 0; made < total; made += template.byteLength, i++) {
          const b = Buffer.from(template);
          b.write(String(i).padStart(12, '0'), 8); // every chunk differs
          inputHash.update(b);
          yield b;
        }
      }
      const child = spawn('zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const outHash = createHash('sha256');
      child.stdout.on('data', (c: Buffer) => outHash.update(c));
      const closed = new Promise<number | null>((r) => child.on('close', r));
      let peak = 0;
      for await (const frame of compress(chunks(), { compression: 'zstd', zstdLevel: 3 })) {
        if (!child.stdin.write(frame)) await new Promise((r) => child.stdin.once('drain', r));
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      child.stdin.end();
      assert.equal(await closed, 0);
      assert.equal(outHash.digest('hex'), inputHash.digest('hex'));
      return peak / 2 ** 20;
    };
    const small = await pump(32 * 2 ** 20);
    const large = await pump(256 * 2 ** 20);
    // One 1 MiB block and its frame at a time: 8× the input, (about) the same peak.
    assert.ok(large - small < 24, `peak RSS ${small.toFixed(1)} MiB at 32 MiB, ${large.toFixed(1)} MiB at 256 MiB`);
    assert.equal(ZSTD_BLOCK_BYTES, 1024 * 1024);
  });
});
