import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { assertRejectsStella } from '@stella/testkit';
import { createTar, createTarGz, compareUtf8, readTar, type TarEntryInput } from '@stella/core/tar';
import { collect, readAll } from './tar-testing.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function sample(): TarEntryInput[] {
  return [
    { path: 'z.txt', size: 3, body: Buffer.from('zzz') },
    { path: 'artifacts/sbom/app.cdx.json', size: 13, body: () => Buffer.from('{"bom":"x"}\n\n') },
    { path: 'manifest.json', size: 2, body: () => Readable.from([Buffer.from('{'), Buffer.from('}')]) },
    { path: 'bin/run.sh', size: 10, mode: 0o755, body: async () => Buffer.from('#!/bin/sh\n') },
    { path: 'empty', size: 0, body: new Uint8Array(0) },
    { path: 'keys', type: 'directory' },
  ];
}

async function expectCode(stream: AsyncIterable<Uint8Array>, code: string): Promise<Buffer> {
  const got: Buffer[] = [];
  await assertRejectsStella(async () => {
    for await (const c of stream) got.push(Buffer.from(c));
  }, code);
  return Buffer.concat(got);
}

// Golden digests of the sample above. The tar digest depends only on our code and tar-stream; the
// tar.gz digest also on the deflate output of Node's bundled zlib, recorded with its version.
const GOLDEN_TAR = '1d13bf81cf89370b589019126248298aa342ab0843537c38eb51b9032ad56d4e';
const GOLDEN_TGZ = {
  zlib: '1.3.1-e00f703',
  sha256: 'dd04863c911714c69e36ec1cb50f11d583b574aa580be29ac8eea2af837bc9bf',
};

describe('deterministic tar writer', () => {
  test('entries sorted by UTF-8 bytes, parents added, fixed metadata', async () => {
    const tar = await collect(createTar(sample()));
    const entries = await readAll(tar, { gzip: false });
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.mode, e.size]),
      [
        ['artifacts', 'directory', 0o755, 0],
        ['artifacts/sbom', 'directory', 0o755, 0],
        ['artifacts/sbom/app.cdx.json', 'file', 0o644, 13],
        ['bin', 'directory', 0o755, 0],
        ['bin/run.sh', 'file', 0o755, 10],
        ['empty', 'file', 0o644, 0],
        ['keys', 'directory', 0o755, 0],
        ['manifest.json', 'file', 0o644, 2],
        ['z.txt', 'file', 0o644, 3],
      ],
    );
    for (const e of entries) assert.equal(e.mtime.getTime(), 0);
    assert.equal(entries.find((e) => e.path === 'manifest.json')!.data.toString(), '{}');
    // Raw header fields: uid/gid 0, empty uname/gname, ustar magic, directory names end in '/'.
    const h = tar.subarray(0, 512);
    assert.equal(h.subarray(0, 10).toString(), 'artifacts/');
    assert.equal(h.subarray(108, 115).toString(), '000000 ');
    assert.equal(h.subarray(116, 123).toString(), '000000 ');
    assert.equal(h.subarray(265, 297).toString('hex'), '00'.repeat(32));
    assert.equal(h.subarray(297, 329).toString('hex'), '00'.repeat(32));
    assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\u0000');
    // Ends with exactly two zero blocks and nothing else.
    assert.equal(tar.length % 512, 0);
    assert.ok(tar.subarray(tar.length - 1024).every((x) => x === 0));
  });

  test('same entries in any order → same bytes; golden digests', async () => {
    const a = await collect(createTarGz(sample()));
    const b = await collect(createTarGz(sample().reverse()));
    assert.ok(a.equals(b));
    const tar = await collect(createTar(sample()));
    assert.ok(gunzipSync(a).equals(tar));
    assert.equal(sha256(tar), GOLDEN_TAR);
    if (process.versions.zlib === GOLDEN_TGZ.zlib) assert.equal(sha256(a), GOLDEN_TGZ.sha256);
    else
      console.log(
        `# tar.gz golden digest skipped: zlib ${process.versions.zlib} ≠ ${GOLDEN_TGZ.zlib} (deflate output may differ)`,
      );
  });

  test('gzip header: no name, mtime 0, OS byte 3, level reflected in XFL', async () => {
    for (const [level, xfl] of [
      [6, 0],
      [9, 2],
      [1, 4],
    ] as const) {
      const gz = await collect(createTarGz(sample(), { gzipLevel: level }));
      assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
    }
    const l0 = await collect(createTarGz(sample(), { gzipLevel: 0 }));
    assert.equal(l0[9], 3);
  });

  test('UTF-8 byte order differs from UTF-16 order and is what we use', async () => {
    // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16 units.
    const names = ['\u{1F600}.txt', '\uFF5E.txt', 'B.txt', 'a.txt', 'a-b', 'a/b'];
    assert.ok('\u{1F600}' < '\uFF5E');
    assert.ok(compareUtf8('\uFF5E', '\u{1F600}') < 0);
    const tar = await collect(
      createTar(
        names.map((path) => ({ path, size: 1, body: Buffer.from('x') })),
        { parentDirectories: false },
      ),
    );
    const got = (await readAll(tar, { gzip: false })).map((e) => e.path);
    assert.deepEqual(got, ['B.txt', 'a-b', 'a.txt', 'a/b', '\uFF5E.txt', '\u{1F600}.txt']);
  });

  test('long and non-ASCII names round-trip (ustar prefix and PAX path)', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}.json`;
    const veryLong = `${'x'.repeat(300)}.bin`;
    const accents = 'évidence/ﬁchier-ü.txt';
    const entries = [long, veryLong, accents].map((path) => ({
      path,
      size: Buffer.byteLength(path),
      body: Buffer.from(path),
    }));
    const out = await readAll(await collect(createTarGz(entries)));
    const files = out.filter((e) => e.type === 'file');
    assert.deepEqual(files.map((e) => e.path).sort(compareUtf8), [long, veryLong, accents].sort(compareUtf8));
    for (const f of files) assert.equal(f.data.toString(), f.path);
  });

  test('mtime option and parentDirectories: false', async () => {
    const t = new Date('2024-05-06T07:08:09.750Z');
    const out = await readAll(
      await collect(
        createTarGz([{ path: 'a/b/c', size: 1, body: Buffer.from('c') }], { mtime: t, parentDirectories: false }),
      ),
    );
    assert.deepEqual(
      out.map((e) => e.path),
      ['a/b/c'],
    );
    assert.equal(out[0]!.mtime.getTime(), Date.parse('2024-05-06T07:08:09Z'));
  });

  test('bodies are opened one at a time, in archive order, and only when reached', async () => {
    let open = 0;
    let maxOpen = 0;
    const order: string[] = [];
    const entries = ['c', 'a', 'b'].map((path) => ({
      path,
      size: 200_000,
      body: () => {
        order.push(path);
        open++;
        maxOpen = Math.max(maxOpen, open);
        return (async function* () {
          for (let i = 0; i < 4; i++) yield Buffer.alloc(50_000, path);
          open--;
        })();
      },
    }));
    const tar = createTar(entries);
    assert.deepEqual(order, []);
    const bytes = await collect(tar);
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(maxOpen, 1);
    const read = await readAll(bytes, { gzip: false });
    assert.ok(read.every((e) => e.data.equals(Buffer.alloc(200_000, e.path))));
  });

  test('a body shorter or longer than its size aborts the output (ARCHIVE_MALFORMED)', async () => {
    for (const body of [Buffer.from('abc'), Buffer.from('abcdefgh')]) {
      const entries = [
        { path: 'a', size: 1, body: Buffer.from('a') },
        { path: 'b', size: 5, body: () => Readable.from([body]) },
        { path: 'c', size: 1, body: Buffer.from('c') },
      ];
      const partial = await expectCode(createTar(entries), 'ARCHIVE_MALFORMED');
      // Whatever was emitted before the failure is not a complete archive.
      await assertRejectsStella(readAll(partial, { gzip: false }), 'ARCHIVE_MALFORMED');
      await expectCode(createTarGz(entries), 'ARCHIVE_MALFORMED');
    }
  });

  test('a failing body fails the archive', async () => {
    const entries = [
      {
        path: 'a',
        size: 10,
        body: () =>
          (async function* () {
            yield Buffer.from('12345');
            throw new Error('disk on fire');
          })(),
      },
    ];
    await expectCode(createTarGz(entries), 'ARCHIVE_MALFORMED');
  });

  test('unsafe, duplicate and conflicting paths are refused before any byte is written', async () => {
    const bad: Array<[TarEntryInput[], string]> = [
      [[{ path: '../x', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: '/etc/passwd', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a/../../x', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a\\b', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a\u0000b', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: './a', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a//b', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a/', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'C:/x', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: '', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [
        [
          { path: 'a', size: 0, body: Buffer.alloc(0) },
          { path: 'a', size: 0, body: Buffer.alloc(0) },
        ],
        'ARCHIVE_UNSAFE_ENTRY',
      ],
      [
        [
          { path: 'a', size: 0, body: Buffer.alloc(0) },
          { path: 'a/b', size: 0, body: Buffer.alloc(0) },
        ],
        'ARCHIVE_UNSAFE_ENTRY',
      ],
      [[{ path: 'a', size: 0, mode: 0o4755, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a', size: 0, mode: 0o777, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a', type: 'symlink' as 'file', size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_UNSAFE_ENTRY'],
      [[{ path: 'a', size: -1, body: Buffer.alloc(0) }], 'VALIDATION_FAILED'],
      [[{ path: 'a', size: 1.5, body: Buffer.alloc(0) }], 'VALIDATION_FAILED'],
      [[{ path: 'a', size: 1 }], 'VALIDATION_FAILED'],
      [[{ path: 'a', size: 3, body: Buffer.from('ab') }], 'ARCHIVE_MALFORMED'],
      [[{ path: 'd', type: 'directory', size: 3 }], 'VALIDATION_FAILED'],
      [[{ path: 'x'.repeat(5000), size: 0, body: Buffer.alloc(0) }], 'ARCHIVE_LIMIT_EXCEEDED'],
    ];
    for (const [entries, code] of bad) {
      let opened = false;
      const wrapped = [
        { path: 'zzz-first-body', size: 1, body: () => ((opened = true), Buffer.from('x')) },
        ...entries,
      ];
      const out = await expectCode(createTarGz(wrapped), code);
      assert.equal(opened, false, `body opened for ${JSON.stringify(entries[0]!.path)}`);
      assert.equal(out.length, 0, `bytes written for ${JSON.stringify(entries[0]!.path)}`);
    }
    await expectCode(createTarGz(sample(), { gzipLevel: 11 }), 'VALIDATION_FAILED');
    await expectCode(createTar(sample(), { mtime: new Date(-1000) }), 'VALIDATION_FAILED');
  });

  test('a consumer that stops early releases the open body', async () => {
    const body = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
      },
    });
    const closed = new Promise<boolean>((r) => body.on('close', () => r(true)));
    const out = createTarGz([{ path: 'endless', size: 1024 ** 3, body: () => body }]);
    for await (const _ of out) break; // destroys `out`
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20_000)));
    assert.ok(await Promise.race([closed, timeout]), 'body stream was not closed');
    clearTimeout(timer);
  });

  test('async iterable of entries is accepted', async () => {
    async function* gen() {
      for (const e of sample()) yield e;
    }
    const a = await collect(createTar(gen()));
    const b = await collect(createTar(sample()));
    assert.ok(a.equals(b));
    assert.ok((await readAll(a, { gzip: false })).length > 0);
  });

  test('an empty archive is valid', async () => {
    const tar = await collect(createTar([]));
    assert.equal(tar.length, 1024);
    assert.deepEqual(await readAll(tar, { gzip: false }), []);
    assert.equal((await readAll(await collect(createTarGz([])))).length, 0);
    for await (const _ of readTar(tar)) assert.fail('no entries expected');
  });
});
