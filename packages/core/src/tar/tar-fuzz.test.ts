// Property tests (fast-check): random bytes and random headers give entries or coded errors —
// never a crash, a hang or an uncoded error; random safe trees round-trip and are deterministic.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import { createTar, createTarGz, normalizeArchivePath, compareUtf8 } from '@stella/core/tar';
import { collect, rawTar, readAll, type RawHeader } from './tar-testing.js';

const ARCHIVE_CODES = new Set(['ARCHIVE_MALFORMED', 'ARCHIVE_UNSAFE_ENTRY', 'ARCHIVE_LIMIT_EXCEEDED']);

async function onlyCodedErrors(bytes: Uint8Array, gzip: boolean): Promise<void> {
  try {
    const entries = await readAll(bytes, { gzip, links: 'internal', maxTotalSize: 1 << 20, maxEntrySize: 1 << 20 });
    // Whatever was accepted is safe.
    for (const e of entries) {
      assert.ok(!e.path.startsWith('/') && !e.path.split('/').includes('..'), e.path);
      assert.equal(e.data.length, e.size);
    }
  } catch (e) {
    if (!isStellaError(e) || !ARCHIVE_CODES.has(e.code)) throw e;
  }
}

const pathChars = fc.constantFrom('a', 'b', '.', '/', '..', '\\', '\u0000', 'é', ' ', '-', 'C:', '\u{1F600}');
const nastyPath = fc.array(pathChars, { minLength: 0, maxLength: 12 }).map((a) => a.join(''));

const header: fc.Arbitrary<{ header: RawHeader; body?: Buffer }> = fc.record({
  header: fc.record({
    name: fc.oneof(nastyPath, fc.string({ maxLength: 120 })),
    typeflag: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'V', '\u0000', 'Z'),
    linkname: fc.oneof(nastyPath, fc.constant('')),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    prefix: fc.oneof(fc.constant(''), nastyPath),
    magic: fc.constantFrom('ustar\u000000', 'ustar  \u0000', 'xxxxxxxx'),
  }),
  body: fc.option(
    fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)),
    { nil: undefined },
  ),
});

describe('tar fuzzing', () => {
  test('random bytes → only coded archive errors (tar and tar.gz)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        await onlyCodedErrors(bytes, false);
        await onlyCodedErrors(bytes, true);
        await onlyCodedErrors(gzipSync(bytes), true);
      }),
      { numRuns: 300 },
    );
  });

  test('random headers with valid checksums → entries or coded errors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(header, { maxLength: 6 }), fc.boolean(), async (entries, eof) => {
        const tar = rawTar(entries, { eof });
        await onlyCodedErrors(tar, false);
        await onlyCodedErrors(gzipSync(tar), true);
      }),
      { numRuns: 400 },
    );
  });

  test('mutated valid archives → entries or coded errors', async () => {
    const base = await collect(
      createTar([
        { path: 'a/b.txt', size: 700, body: Buffer.alloc(700, 0x61) },
        { path: 'c', size: 3, body: Buffer.from('ccc') },
      ]),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat({ max: base.length }),
        async (flips, cut) => {
          const b = Buffer.from(base);
          for (const [i, v] of flips) b[i] = v;
          await onlyCodedErrors(b.subarray(0, Math.max(cut, 1)), false);
          await onlyCodedErrors(b, false);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('normalizeArchivePath: safe result or a coded error', () => {
    fc.assert(
      fc.property(fc.oneof(nastyPath, fc.string(), fc.string({ unit: 'binary' })), (p) => {
        try {
          const n = normalizeArchivePath(p);
          assert.ok(
            n === '' ||
              (!n.startsWith('/') &&
                !n.includes('\\') &&
                !n.split('/').some((s) => s === '..' || s === '' || s === '.')),
            n,
          );
          // eslint-disable-next-line no-control-regex
          assert.ok(!/[\u0000-\u001f]/.test(n));
          assert.equal(normalizeArchivePath(n === '' ? '.' : n), n, 'idempotent');
        } catch (e) {
          if (!isStellaError(e) || !ARCHIVE_CODES.has(e.code)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('random safe trees round-trip and are byte-identical across runs and input orders', async () => {
    // lower case only: names differing by case are refused (they collide on macOS/Windows)
    const seg = fc.stringMatching(/^[a-z0-9_é\u{1F600}-]{1,12}$/u);
    const tree = fc
      .uniqueArray(
        fc.record({
          path: fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
          data: fc.uint8Array({ maxLength: 2000 }),
        }),
        { selector: (e) => e.path, maxLength: 12 },
      )
      .filter((es) => !es.some((a) => es.some((b) => b.path.startsWith(`${a.path}/`))));
    await fc.assert(
      fc.asyncProperty(tree, fc.integer({ min: 0, max: 9 }), async (files, level) => {
        const mk = (list: typeof files) =>
          list.map((f) => ({ path: f.path, size: f.data.length, body: () => Buffer.from(f.data) }));
        const a = await collect(createTarGz(mk(files), { gzipLevel: level }));
        const b = await collect(createTarGz(mk([...files].reverse()), { gzipLevel: level }));
        assert.ok(a.equals(b));
        const back = (await readAll(a)).filter((e) => e.type === 'file');
        const want = [...files].sort((x, y) => compareUtf8(x.path, y.path));
        assert.deepEqual(
          back.map((e) => e.path),
          want.map((f) => f.path),
        );
        back.forEach((e, i) => assert.ok(e.data.equals(Buffer.from(want[i]!.data))));
      }),
      { numRuns: 100 },
    );
  });
});
