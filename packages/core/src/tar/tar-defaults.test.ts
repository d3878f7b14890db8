// Issue 19, finding 10: the reader's defaults. Names that collide on macOS/Windows file systems
// (letter case, NFC vs NFD) are refused unless asked for, and a gzip bomb is stopped by the
// compression-ratio bound. The archives are made by GNU tar and gzip from a real directory.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRejectsStella, needTool, run, tempDir } from '@stella/testkit';
import { DEFAULT_TAR_READ_LIMITS, createTar, readTar, readTarGz, type TarReadOptions } from '@stella/core/tar';
import { collect, rawTar, readAll } from './tar-testing.js';

/** Paths of the entries of a tar.gz file, read with `opts`. */
async function pathsOf(file: string, opts: TarReadOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTarGz(createReadStream(file), opts)) out.push(e.path);
  return out;
}

describe('tar reader defaults', { skip: needTool('tar') || needTool('gzip') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };

  /** `tar -czf <name>.tgz -C <dir> <members…>` after writing `files` under a fresh `<dir>`. */
  async function gnuTarGz(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(tmp.path, name);
    for (const [p, body] of Object.entries(files)) {
      await mkdir(join(dir, p, '..'), { recursive: true });
      await writeFile(join(dir, p), body);
    }
    const out = join(tmp.path, `${name}.tgz`);
    const r = await run('tar', ['--sort=name', '-czf', out, '-C', dir, ...Object.keys(files)]);
    assert.equal(r.code, 0, r.stderr.toString());
    return out;
  }

  before(async () => {
    tmp = await tempDir('stella-tar-defaults-');
  });
  after(() => tmp.cleanup());

  const collisions: [string, Record<string, string>][] = [
    ['letter case', { README: 'upper', readme: 'lower' }],
    ['NFC vs NFD', { 'r\u00e9sum\u00e9.txt': 'nfc', 're\u0301sume\u0301.txt': 'nfd' }],
    ['parent directories by case', { 'Docs/a.txt': 'a', 'docs/b.txt': 'b' }],
    ['NFD directory vs NFC file below', { 'cafe\u0301/x': 'nfd dir', 'caf\u00e9/y': 'nfc dir' }],
  ];
  for (const [name, files] of collisions) {
    test(`names differing only by ${name} are refused by default, read with nameCollisions: 'allow'`, async () => {
      const file = await gnuTarGz(name.replace(/\W+/g, '-'), files);
      await assertRejectsStella(pathsOf(file), 'ARCHIVE_UNSAFE_ENTRY');
      const all = await pathsOf(file, { nameCollisions: 'allow' });
      for (const p of Object.keys(files)) assert.ok(all.includes(p), `${p} in ${JSON.stringify(all)}`);
    });
  }

  test('distinct names are still fine, and our writer refuses what the reader refuses', async () => {
    const file = await gnuTarGz('distinct', { 'a/readme': '1', 'b/README': '2', 'r\u00e9sum\u00e9': '3' });
    assert.deepEqual(await pathsOf(file), ['a/readme', 'b/README', 'r\u00e9sum\u00e9']);
    const entries = ['README', 'readme'].map((path) => ({ path, size: 1, body: Buffer.from('x') }));
    await assertRejectsStella(collect(createTar(entries)), 'ARCHIVE_UNSAFE_ENTRY');
  });

  test('a gzip bomb (64 MiB of zeros in ~64 KiB) is refused by the default compression ratio', async () => {
    // 64 MiB of zeros: GNU gzip makes ~64 KiB of it (ratio ~1000:1).
    const dir = join(tmp.path, 'bomb');
    await mkdir(dir);
    await writeFile(join(dir, 'zeros'), Buffer.alloc(64 * 1024 * 1024));
    const file = join(tmp.path, 'bomb.tgz');
    const r = await run('tar', ['-czf', file, '-C', dir, 'zeros']);
    assert.equal(r.code, 0, r.stderr.toString());
    await assertRejectsStella(pathsOf(file), 'ARCHIVE_LIMIT_EXCEEDED');
    // Within the default limits otherwise: it is the ratio that refuses it, and it is configurable.
    assert.ok(64 * 1024 * 1024 < DEFAULT_TAR_READ_LIMITS.maxEntrySize);
    const entries: number[] = [];
    for await (const e of readTarGz(createReadStream(file), { maxCompressionRatio: 5000 })) {
      let n = 0;
      for await (const c of e.body) n += c.length;
      entries.push(n);
    }
    assert.deepEqual(entries, [64 * 1024 * 1024]);
  });

  test('defaults: a 2 MB gzip can expand to at most 200 MB; totals are 2 GiB per entry, 4 GiB in all', () => {
    assert.equal(DEFAULT_TAR_READ_LIMITS.maxCompressionRatio, 100);
    assert.equal(DEFAULT_TAR_READ_LIMITS.maxEntrySize, 2 * 1024 ** 3);
    assert.equal(DEFAULT_TAR_READ_LIMITS.maxTotalSize, 4 * 1024 ** 3);
  });

  test('limits that are not non-negative integers (NaN would disable them) are VALIDATION_FAILED', async () => {
    const tar = rawTar([{ header: { name: 'a' }, body: Buffer.from('x') }]);
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY])
      for (const key of ['maxEntrySize', 'maxTotalSize', 'maxEntries', 'maxPathBytes', 'maxArchiveSize'] as const)
        await assertRejectsStella(readAll(tar, { gzip: false, [key]: bad }), 'VALIDATION_FAILED');
    for (const bad of [Number.NaN, 0, 0.5, -3])
      await assertRejectsStella(collectPaths(readTarGz(tar, { maxCompressionRatio: bad })), 'VALIDATION_FAILED');
    assert.equal((await readAll(tar, { gzip: false })).length, 1);
    assert.equal((await collectPaths(readTar(tar))).length, 1);
  });
});

async function collectPaths(it: AsyncIterable<{ path: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(e.path);
  return out;
}
