import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assertValidKey,
  assertValidPrefix,
  decodeCursor,
  encodeCursor,
  isContentAddressedKey,
  parseLimit,
} from './object-key.js';
import { checkDate, checkPutOptions, resolveRange } from './object-store-support.js';

const segChar = fc.constantFrom(...'abcXYZ019._-:@+=,'.split(''));
const segment = fc
  .string({ unit: segChar, minLength: 1, maxLength: 20 })
  .filter((s) => s !== '.' && s !== '..' && !s.startsWith('sha256:'));
const validKey = fc.array(segment, { minLength: 1, maxLength: 6 }).map((a) => a.join('/'));

function errCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('object keys', () => {
  test('property: keys built from allowed segments are valid', () => {
    fc.assert(fc.property(validKey, (k) => errCode(() => assertValidKey(k)) === undefined));
  });

  test('property: inserting a traversal segment, NUL, backslash or ~ anywhere makes a key invalid', () => {
    const poison = fc.constantFrom('..', '.', '', 'a\0b', 'a\\b', 'x~y', ' ', 'é');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 0, maxLength: 4 }), poison, fc.nat(), (segs, bad, at) => {
        const i = segs.length === 0 ? 0 : at % (segs.length + 1);
        const key = [...segs.slice(0, i), bad, ...segs.slice(i)].join('/');
        return errCode(() => assertValidKey(key)) === 'OBJECT_KEY_INVALID';
      }),
    );
  });

  test('property: any string either validates or throws OBJECT_KEY_INVALID, never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (k) => {
        const c = errCode(() => assertValidKey(k));
        if (c === undefined) {
          // Accepted keys never traverse and never hold driver-reserved characters.
          return (
            !k.split('/').some((s) => s === '..' || s === '.' || s === '') && !k.includes('~') && !k.startsWith('/')
          );
        }
        return c === 'OBJECT_KEY_INVALID';
      }),
    );
  });

  test('sha256: keys must be 64 lowercase hex', () => {
    assert.equal(isContentAddressedKey(`sha256:${'a'.repeat(64)}`), true);
    assertValidKey(`sha256:${'0f'.repeat(32)}`);
    for (const k of [`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(65)}`, 'sha256:', `sha256:${'a'.repeat(64)}/x`]) {
      assert.equal(
        errCode(() => assertValidKey(k)),
        'OBJECT_KEY_INVALID',
        k,
      );
    }
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{64}$/),
        (h) => errCode(() => assertValidKey(`sha256:${h}`)) === undefined,
      ),
    );
  });

  test('digest-shaped keys other than lowercase sha256:<64 hex> are refused, not stored as names', () => {
    const hex = 'ab'.repeat(32);
    for (const k of [
      `SHA256:${hex.toUpperCase()}`,
      `SHA256:${hex}`,
      `Sha256:${hex}`,
      `sha512:${'cd'.repeat(64)}`,
      `sha384:${'ef'.repeat(48)}`,
      `sha-256:${hex}`,
      `sha3-256:${hex}`,
      `sha1:${'a'.repeat(40)}`,
      `md5:${'0'.repeat(32)}`,
      `blake3:${hex}`,
      `SHA512:x/y`,
      `foo:${hex}`,
      `sha256+b64:${hex}`,
      `SHA256:${hex}/child`,
    ]) {
      assert.equal(
        errCode(() => assertValidKey(k)),
        'OBJECT_KEY_INVALID',
        k,
      );
    }
    // Colons and hash-like words elsewhere stay ordinary names.
    for (const k of [
      'build:1234',
      'urn:stella:x',
      'shared:docs',
      `tenants/acme/sha512:${hex}`,
      `x:${'a'.repeat(31)}`,
    ]) {
      assert.equal(
        errCode(() => assertValidKey(k)),
        undefined,
        k,
      );
    }
  });

  test('length limits: 1024 bytes per key, 200 per segment', () => {
    assertValidKey(`${'a'.repeat(200)}/${'b'.repeat(200)}`);
    assert.equal(
      errCode(() => assertValidKey('a'.repeat(201))),
      'OBJECT_KEY_INVALID',
    );
    const long = Array.from({ length: 6 }, () => 'c'.repeat(170)).join('/');
    assert.ok(long.length > 1024);
    assert.equal(
      errCode(() => assertValidKey(long)),
      'OBJECT_KEY_INVALID',
    );
    assert.equal(
      errCode(() => assertValidKey(undefined)),
      'OBJECT_KEY_INVALID',
    );
  });

  test('prefixes: any prefix of a valid key is a valid prefix', () => {
    fc.assert(
      fc.property(
        validKey,
        fc.nat(),
        (k, n) => errCode(() => assertValidPrefix(k.slice(0, n % (k.length + 1)))) === undefined,
      ),
    );
    assert.equal(
      errCode(() => assertValidPrefix('a/../')),
      undefined,
      'prefixes are only charset-checked; they select, never address',
    );
    assert.equal(
      errCode(() => assertValidPrefix('a b')),
      'OBJECT_KEY_INVALID',
    );
  });
});

describe('cursors and limits', () => {
  test('property: cursors round-trip and are opaque base64url', () => {
    fc.assert(
      fc.property(validKey, (k) => decodeCursor(encodeCursor(k)) === k && /^[A-Za-z0-9_-]+$/.test(encodeCursor(k))),
    );
  });

  test('property: random strings are either a canonical cursor or VALIDATION_FAILED', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (c) => {
        const e = errCode(() => decodeCursor(c));
        return e === undefined ? encodeCursor(decodeCursor(c)!) === c : e === 'VALIDATION_FAILED';
      }),
    );
  });

  test('limit validation', () => {
    assert.equal(parseLimit(undefined), 1000);
    assert.equal(parseLimit(1), 1);
    for (const bad of [0, -1, 1001, 1.5, '10', NaN])
      assert.equal(
        errCode(() => parseLimit(bad)),
        'VALIDATION_FAILED',
        String(bad),
      );
  });
});

describe('put options and ranges', () => {
  test('retention dates round up to whole seconds (never shorter than asked)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        const d = checkDate(new Date(ms), 'd').getTime();
        return d >= ms && d - ms < 1000 && d % 1000 === 0;
      }),
    );
    assert.equal(
      errCode(() => checkDate(new Date('x'), 'd')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      errCode(() => checkDate('2030-01-01', 'd')),
      'VALIDATION_FAILED',
    );
  });

  test('bad options are refused before any byte is read', () => {
    assert.equal(
      errCode(() => checkPutOptions({ expectedDigest: 'sha256:XYZ' })),
      'DIGEST_INVALID',
    );
    assert.equal(
      errCode(() => checkPutOptions({ size: 1.5 })),
      'VALIDATION_FAILED',
    );
    assert.equal(
      errCode(() => checkPutOptions({ contentType: 'text/plain\r\nX-Evil: 1' })),
      'VALIDATION_FAILED',
    );
    assert.equal(
      errCode(() => checkPutOptions({ legalHold: 'yes' as unknown as boolean })),
      'VALIDATION_FAILED',
    );
    assert.deepEqual(checkPutOptions(undefined), { legalHold: false });
  });

  test('property: resolved ranges stay inside the object', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(20_000),
        fc.option(fc.nat(20_000), { nil: undefined }),
        (size, start, end) => {
          const c = errCode(() => resolveRange({ start, ...(end !== undefined ? { end } : {}) }, size));
          if (start >= size || (end !== undefined && end < start)) return c === 'OBJECT_RANGE_INVALID';
          const r = resolveRange({ start, ...(end !== undefined ? { end } : {}) }, size)!;
          return c === undefined && r.start === start && r.end <= size - 1 && r.end >= r.start;
        },
      ),
    );
  });
});
