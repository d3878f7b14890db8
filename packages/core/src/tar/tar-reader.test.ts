import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { assertRejectsStella } from '@stella/testkit';
import { createTar, createTarGz, readTar, readTarGz, type TarReadOptions } from '@stella/core/tar';
import { collect, rawTar, rawTarGz, readAll, type RawHeader } from './tar-testing.js';

const f = (name: string, body = 'x', extra: Partial<RawHeader> = {}) => ({
  header: { name, ...extra },
  body: Buffer.from(body),
});
const sym = (name: string, linkname: string) => ({ header: { name, typeflag: '2', linkname } });
const hard = (name: string, linkname: string) => ({ header: { name, typeflag: '1', linkname } });
const dir = (name: string) => ({ header: { name, typeflag: '5', mode: 0o755 } });

async function rejectsWith(
  bytes: Uint8Array | AsyncIterable<Uint8Array>,
  code: string,
  opts: TarReadOptions & { gzip?: boolean } = {},
): Promise<void> {
  await assertRejectsStella(readAll(bytes, opts), code);
}

describe('safe tar reader', () => {
  test('reads what the writer wrote, bodies streamed', async () => {
    // random, so it compresses like real data (3 MiB of one byte would be a 1000:1 gzip bomb)
    const big = randomBytes(3 * 1024 * 1024 + 7);
    const gz = await collect(
      createTarGz([
        { path: 'big.bin', size: big.length, body: big },
        { path: 'dir/small.txt', size: 5, body: Buffer.from('small') },
      ]),
    );
    const chunks: number[] = [];
    const seen: string[] = [];
    for await (const e of readTarGz(gz)) {
      seen.push(`${e.type}:${e.path}:${e.size}`);
      if (e.path === 'big.bin') for await (const c of e.body) chunks.push(c.length);
    }
    assert.deepEqual(seen, ['file:big.bin:3145735', 'directory:dir:0', 'file:dir/small.txt:5']);
    assert.equal(
      chunks.reduce((a, b) => a + b, 0),
      big.length,
    );
    assert.ok(chunks.length > 1, 'body arrives in several chunks');
  });

  test('unread or half-read bodies are skipped', async () => {
    const tar = await collect(
      createTar([
        { path: 'a', size: 200_000, body: Buffer.alloc(200_000, 1) },
        { path: 'b', size: 200_000, body: Buffer.alloc(200_000, 2) },
        { path: 'c', size: 3, body: Buffer.from('ccc') },
      ]),
    );
    const got: string[] = [];
    for await (const e of readTar(tar)) {
      got.push(e.path);
      if (e.path === 'b') for await (const _ of e.body) break;
      if (e.path === 'c') assert.equal((await collect(e.body)).toString(), 'ccc');
    }
    assert.deepEqual(got, ['a', 'b', 'c']);
  });

  test('stopping early releases the archive', async () => {
    const tar = await collect(createTar(['a', 'b', 'c'].map((path) => ({ path, size: 1, body: Buffer.from(path) }))));
    for await (const e of readTar(tar)) {
      assert.equal(e.path, 'a');
      break;
    }
  });

  test('accepts ./-prefixed names, a ./ root entry and trailing-slash directories', async () => {
    const tar = rawTar([dir('./'), dir('./d/'), f('./d/x', 'hi')]);
    const got = await readAll(tar, { gzip: false });
    assert.deepEqual(
      got.map((e) => [e.type, e.path]),
      [
        ['directory', 'd'],
        ['file', 'd/x'],
      ],
    );
  });

  test('escaping and odd paths are refused', async () => {
    for (const name of ['../x', 'a/../../x', 'a/..', '/etc/x', '//x', 'a\\..\\x', 'C:/x', 'a//b', 'a\u0001b', '..']) {
      await rejectsWith(rawTar([f(name)]), 'ARCHIVE_UNSAFE_ENTRY', { gzip: false });
    }
    // ustar prefix field joined with the name
    await rejectsWith(rawTar([f('x', 'x', { prefix: '..' })]), 'ARCHIVE_UNSAFE_ENTRY', { gzip: false });
  });

  test('duplicates (also after normalisation) are refused', async () => {
    await rejectsWith(rawTarGz([f('a'), f('a')]), 'ARCHIVE_UNSAFE_ENTRY');
    await rejectsWith(rawTarGz([f('a/b'), f('./a/./b')]), 'ARCHIVE_UNSAFE_ENTRY');
    await rejectsWith(rawTarGz([dir('d/'), dir('d/')]), 'ARCHIVE_UNSAFE_ENTRY');
    // file then directory of the same name, and a file beneath a file
    await rejectsWith(rawTarGz([f('a'), dir('a/')]), 'ARCHIVE_UNSAFE_ENTRY');
    await rejectsWith(rawTarGz([f('a'), f('a/b')]), 'ARCHIVE_UNSAFE_ENTRY');
    await rejectsWith(rawTarGz([f('a/b'), f('a')]), 'ARCHIVE_UNSAFE_ENTRY');
  });

  test('devices, FIFOs and unknown types are refused', async () => {
    for (const typeflag of ['3', '4', '6', 'S', 'V', 'Z']) {
      await rejectsWith(rawTarGz([{ header: { name: 'dev', typeflag } }]), 'ARCHIVE_UNSAFE_ENTRY');
    }
  });

  test('links are refused by default', async () => {
    await rejectsWith(rawTarGz([sym('l', 'target')]), 'ARCHIVE_UNSAFE_ENTRY');
    await rejectsWith(rawTarGz([f('t'), hard('h', 't')]), 'ARCHIVE_UNSAFE_ENTRY');
  });

  test("links: 'internal' allows links that stay inside and refuses the rest", async () => {
    const ok = await readAll(
      rawTarGz([
        f('lib/real.so'),
        sym('lib/alias.so', 'real.so'),
        sym('bin/tool', '../lib/real.so'),
        hard('copy', 'lib/real.so'),
        sym('here', '.'),
      ]),
      { links: 'internal' },
    );
    assert.deepEqual(
      ok.map((e) => [e.type, e.path, e.linkTarget ?? null]),
      [
        ['file', 'lib/real.so', null],
        ['symlink', 'lib/alias.so', 'real.so'],
        ['symlink', 'bin/tool', '../lib/real.so'],
        ['hardlink', 'copy', 'lib/real.so'],
        ['symlink', 'here', '.'],
      ],
    );
    const bad: Array<Array<{ header: RawHeader; body?: Buffer }>> = [
      [sym('root', '/')],
      [sym('up', '..')],
      [sym('a/b', '../../x')],
      [sym('a', 'b/../c')],
      [sym('x/d', '..'), sym('l', 'x/d/../etc')],
      [sym('l', 'dir'), f('l/evil')], // symlink then a file through it
      [sym('l', 'dir'), dir('l/')],
      [hard('h', '../../etc/passwd')],
      [hard('h', '/etc/passwd')],
      [hard('h', 'not-yet-seen')],
      [dir('d/'), hard('h', 'd')],
      [sym('s', 'a\\..\\..')],
      [sym('s', '')],
    ];
    for (const entries of bad) await rejectsWith(rawTarGz(entries), 'ARCHIVE_UNSAFE_ENTRY', { links: 'internal' });
  });

  test('allowDirectories: false refuses directory entries', async () => {
    await rejectsWith(rawTarGz([dir('d/'), f('d/x')]), 'ARCHIVE_UNSAFE_ENTRY', { allowDirectories: false });
    assert.equal((await readAll(rawTarGz([f('d/x')]), { allowDirectories: false })).length, 1);
  });

  test('limits: entry size (before reading the body), total size, entry count, path length, archive size', async () => {
    // A header that declares 64 GiB but carries nothing: refused on the header alone.
    const huge = rawTarGz([{ header: { name: 'huge', sizeField: '1000000000000' } }], { eof: false });
    await rejectsWith(huge, 'ARCHIVE_LIMIT_EXCEEDED');
    await rejectsWith(rawTarGz([f('a', '12345')]), 'ARCHIVE_LIMIT_EXCEEDED', { maxEntrySize: 4 });
    assert.equal((await readAll(rawTarGz([f('a', '1234')]), { maxEntrySize: 4 })).length, 1);
    await rejectsWith(rawTarGz([f('a', '123'), f('b', '123')]), 'ARCHIVE_LIMIT_EXCEEDED', { maxTotalSize: 5 });
    await rejectsWith(rawTarGz([f('a'), f('b'), f('c')]), 'ARCHIVE_LIMIT_EXCEEDED', { maxEntries: 2 });
    assert.equal((await readAll(rawTarGz([f('a'), f('b')]), { maxEntries: 2 })).length, 2);
    await rejectsWith(rawTarGz([f('abcdef')]), 'ARCHIVE_LIMIT_EXCEEDED', { maxPathBytes: 5 });
    // 64 MiB of zero blocks compress to ~64 KiB; the archive-size bound stops the work early.
    const zeros = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    await rejectsWith(zeros, 'ARCHIVE_LIMIT_EXCEEDED', { maxArchiveSize: 1024 * 1024 });
  });

  test('truncated, garbage and non-gzip input → ARCHIVE_MALFORMED', async () => {
    const good = rawTar([f('a', 'x'.repeat(3000)), f('b', 'y'.repeat(700))]);
    const gz = gzipSync(good);
    for (const cut of [1, 10, 100, gz.length - 20, gz.length - 1])
      await rejectsWith(gz.subarray(0, cut), 'ARCHIVE_MALFORMED');
    for (const cut of [100, 512, 1000, 512 * 8, good.length - 1024, good.length - 512]) {
      await rejectsWith(good.subarray(0, cut), 'ARCHIVE_MALFORMED', { gzip: false });
    }
    await rejectsWith(Buffer.alloc(0), 'ARCHIVE_MALFORMED');
    await rejectsWith(Buffer.alloc(0), 'ARCHIVE_MALFORMED', { gzip: false });
    await rejectsWith(good, 'ARCHIVE_MALFORMED'); // not gzip
    await rejectsWith(Buffer.from('hello world, definitely not a tarball'.repeat(40)), 'ARCHIVE_MALFORMED', {
      gzip: false,
    });
    // a header with a broken checksum
    const broken = Buffer.from(good);
    broken[0] = 0x7a;
    await rejectsWith(broken, 'ARCHIVE_MALFORMED', { gzip: false });
    // a directory or link that declares a body (found by fuzzing: tar-stream never ends its stream)
    await rejectsWith(
      rawTar([{ header: { name: ' ', typeflag: '5' }, body: Buffer.from([0]) }], { eof: false }),
      'ARCHIVE_MALFORMED',
      { gzip: false },
    );
    await rejectsWith(
      rawTar([{ header: { name: 'l', typeflag: '2', linkname: 'a' }, body: Buffer.from('abc') }]),
      'ARCHIVE_MALFORMED',
      { gzip: false, links: 'internal' },
    );
    // non-octal size field
    await rejectsWith(rawTar([{ header: { name: 'a', sizeField: 'zzzzzzzzzzz' } }]), 'ARCHIVE_MALFORMED', {
      gzip: false,
    });
    // corrupted deflate data (CRC mismatch)
    const flipped = Buffer.from(gz);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    await rejectsWith(flipped, 'ARCHIVE_MALFORMED');
  });

  test('errors of the source itself pass through unchanged', async () => {
    const boom = new Error('EIO: read failed');
    async function* failing() {
      yield rawTar([f('a')]).subarray(0, 512);
      throw boom;
    }
    await assert.rejects(readAll(failing(), { gzip: false }), (e) => e === boom);
    async function* failingGz() {
      yield rawTarGz([f('a')]).subarray(0, 20);
      throw boom;
    }
    await assert.rejects(readAll(failingGz()), (e) => e === boom);
  });

  test('concatenated gzip members are one archive stream; trailing bytes', async () => {
    const tar = rawTar([f('a', 'abc'), f('b', 'def')]);
    const two = Buffer.concat([gzipSync(tar.subarray(0, 1024)), gzipSync(tar.subarray(1024))]);
    assert.deepEqual(
      (await readAll(two)).map((e) => e.data.toString()),
      ['abc', 'def'],
    );
    // zero padding after the last member is ignored; other trailing bytes are not
    assert.equal((await readAll(Buffer.concat([two, Buffer.alloc(100)]))).length, 2);
    await rejectsWith(Buffer.concat([two, Buffer.from('garbage!')]), 'ARCHIVE_MALFORMED');
  });
});
