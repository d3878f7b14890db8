import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalize as tufCanonicalize } from '@tufjs/canonical-json';
import { assertStellaError } from '@stella/testkit';
import {
  MAX_JSON_DEPTH,
  canonicalizeJcs,
  canonicalJcsBytes,
  canonicalizeOlpc,
  canonicalOlpcBytes,
  parseJson,
} from '@stella/core/canonical-json';
import { isStellaError } from '@stella/core/errors';
import { sha256Hex } from '@stella/core/digest';

const isJsonInvalid = (e: unknown) => isStellaError(e, 'JSON_INVALID');

/** Arbitrary I-JSON values (finite doubles, well-formed strings incl. astral chars). */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: 'grapheme' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'grapheme' }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('JCS (RFC 8785)', () => {
  test('RFC 8785 §3.2.2 example serialises exactly', () => {
    const input =
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}';
    assert.equal(
      canonicalizeJcs(parseJson(input)),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test('RFC 8785 Appendix B number serialisation samples', () => {
    // IEEE-754 bit patterns → expected text, from RFC 8785 Appendix B.
    const cases: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, want] of cases) {
      const n = Buffer.from(bits, 'hex').readDoubleBE(0);
      assert.equal(canonicalizeJcs(n), want, bits);
    }
  });

  test('rejects what RFC 8785 forbids with JSON_INVALID', () => {
    class Thing {
      a = 1;
    }
    const bad: unknown[] = [
      NaN,
      Infinity,
      -Infinity,
      { a: [1, NaN] },
      '\ud800',
      { ['\udc00x']: 1 },
      [1, undefined, 2],
      // eslint-disable-next-line no-sparse-arrays
      [1, , 2],
      10n,
      { big: 1n },
      () => 1,
      { f: () => 1 },
      Symbol('s'),
      new Date(0),
      new Map(),
      new Thing(),
      undefined,
      { [Symbol('k')]: 1 },
    ];
    for (const v of bad) assert.throws(() => canonicalizeJcs(v), isJsonInvalid, String(typeof v));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalizeJcs(cyclic), isJsonInvalid);
  });

  test('skips undefined object members, keeps shared (non-cyclic) references; Object.create(null) is plain', () => {
    const shared = { x: 1 };
    assert.equal(canonicalizeJcs({ b: undefined, a: shared, c: shared }), '{"a":{"x":1},"c":{"x":1}}');
    const o = Object.create(null) as Record<string, unknown>;
    o.z = 1;
    o.a = 'é';
    assert.deepEqual(canonicalJcsBytes(o), new TextEncoder().encode('{"a":"é","z":1}'));
  });

  test('keys sort by UTF-16 code units (RFC 8785 §3.2.3)', () => {
    assert.equal(
      canonicalizeJcs({ '\ufb33': 1, '\u{1f600}': 2, a: 3, '\u00e9': 4 }),
      '{"a":3,"é":4,"😀":2,"שּׁ":1}'.replace('שּׁ', '\ufb33'),
    );
  });

  test('property: output parses back to an equal value, is idempotent and key-order independent', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const text = canonicalizeJcs(v);
        const back = parseJson(text);
        // -0 canonicalises to 0; compare through JSON semantics.
        assert.deepEqual(back, JSON.parse(JSON.stringify(v)));
        assert.equal(canonicalizeJcs(back), text);
        assert.equal(text, canonicalizeJcs(JSON.parse(text)));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), jsonValue, { maxKeys: 8 }), (d) => {
        const reversed = Object.fromEntries(Object.entries(d).reverse());
        assert.equal(canonicalizeJcs(reversed), canonicalizeJcs(d));
      }),
      { numRuns: 200 },
    );
  });

  test('determinism: golden digest of a fixed document', () => {
    const doc = { schema: 'stella/test@1', n: [1, 2.5, -0, 1e21], s: 'Zürich\n\u2028', nested: { b: true, a: null } };
    const bytes = canonicalJcsBytes(doc);
    assert.deepEqual(canonicalJcsBytes(structuredClone(doc)), bytes);
    assert.equal(
      new TextDecoder().decode(bytes),
      '{"n":[1,2.5,0,1e+21],"nested":{"a":null,"b":true},"s":"Zürich\\n\u2028","schema":"stella/test@1"}',
    );
    // Golden digest, cross-checked with `printf … | sha256sum` (docs/formats/canonical-json.md).
    assert.equal(sha256Hex(bytes), 'af288d8f1ce2ead3c83b3de9a5378b6b8c823bb8d0e2b0394af8069c5b53e933');
  });
});

describe('parseJson (strict I-JSON)', () => {
  test('parses ordinary JSON like JSON.parse', () => {
    const t = ' {"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"],"b":{},"c":[]} ';
    assert.deepEqual(parseJson(t), JSON.parse(t));
    assert.deepEqual(parseJson(new TextEncoder().encode(t)), JSON.parse(t));
  });

  test('keeps "__proto__" as an own data member', () => {
    const v = parseJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(canonicalizeJcs(v), '{"__proto__":{"polluted":1}}');
  });

  test('rejects malformed, truncated and non-I-JSON input with JSON_INVALID', () => {
    const bad = [
      '',
      ' ',
      '{',
      '{"a":1',
      '{"a":1,}',
      '[1,]',
      '[1 2]',
      '{"a" 1}',
      '{a:1}',
      "{'a':1}",
      '"unterminated',
      '"bad \\x escape"',
      '"\\u12"',
      '"raw \n newline"',
      '01',
      '1.',
      '.5',
      '+1',
      '-',
      '1e',
      'NaN',
      'Infinity',
      'tru',
      'nul',
      '1 2',
      '{"a":1}x',
      '{"a":1,"a":2}',
      '{"a":{"b":1,"b":1}}',
      '"\\ud800"',
      '"\\udc00\\ud800"',
      '1e400',
      '\ufeff{}',
      '['.repeat(300) + ']'.repeat(300),
    ];
    for (const t of bad) assert.throws(() => parseJson(t), isJsonInvalid, JSON.stringify(t.slice(0, 40)));
    assert.throws(() => parseJson(Uint8Array.of(0x22, 0xff, 0x22)), isJsonInvalid, 'invalid UTF-8');
    assert.throws(() => parseJson(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d)), isJsonInvalid, 'UTF-8 BOM');
    assert.doesNotThrow(() => parseJson('['.repeat(100) + ']'.repeat(100)));
    assert.throws(() => parseJson('[[[]]]', { maxDepth: 2 }), isJsonInvalid);
  });

  test('property: agrees with JSON.parse on valid JSON without duplicate names', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        assert.deepEqual(parseJson(text), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  test('property (fuzz): arbitrary and mutated text either parses like JSON.parse or throws JSON_INVALID', () => {
    const mutated = fc
      .tuple(fc.json(), fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 }))
      .map(([t, at, ins, del]) => {
        const i = at % (t.length + 1);
        return t.slice(0, i) + ins + t.slice(i + del);
      });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          mutated,
          fc.uint8Array().map((b) => Buffer.from(b).toString('latin1')),
        ),
        (text) => {
          let ours: unknown;
          try {
            ours = parseJson(text);
          } catch (e) {
            assert.ok(isJsonInvalid(e), `unexpected error ${String(e)}`);
            return;
          }
          // Whatever we accept, JSON.parse accepts identically (we are strictly stricter).
          assert.deepEqual(ours, JSON.parse(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('property (fuzz): truncating valid JSON never crashes', () => {
    fc.assert(
      fc.property(fc.json(), fc.nat(), (text, cut) => {
        const t = text.slice(0, cut % Math.max(1, text.length));
        try {
          assert.deepEqual(parseJson(t), JSON.parse(t));
        } catch (e) {
          assert.ok(isJsonInvalid(e), String(e));
        }
      }),
    );
  });
});

/** `[[…[0]…]]` with `depth` arrays, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('nesting is bounded everywhere (issue 19, finding 8)', () => {
  test('parseJson: maxDepth must be an integer from 1 to MAX_JSON_DEPTH; deep text is JSON_INVALID', () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    // 1e6 used to reach the recursive parser and overflow the stack; NaN switched the limit off.
    for (const maxDepth of [1e6, Number.NaN, 0, -1, 1.5, Number.POSITIVE_INFINITY, MAX_JSON_DEPTH + 1])
      assertStellaError(() => parseJson(deep, { maxDepth }), 'VALIDATION_FAILED');
    assertStellaError(() => parseJson(deep), 'JSON_INVALID');
    assertStellaError(() => parseJson(deep, { maxDepth: MAX_JSON_DEPTH }), 'JSON_INVALID');
    const atCeiling = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    assert.deepEqual(parseJson(atCeiling, { maxDepth: MAX_JSON_DEPTH }), JSON.parse(atCeiling));
    assertStellaError(() => parseJson(`[${atCeiling}]`, { maxDepth: MAX_JSON_DEPTH }), 'JSON_INVALID');
  });

  test('canonicalizeJcs and canonicalizeOlpc refuse a 10,000-deep value with JSON_INVALID', () => {
    for (const canon of [canonicalizeJcs, canonicalizeOlpc]) {
      assertStellaError(() => canon(nested(10_000)), 'JSON_INVALID');
      assertStellaError(() => canon(nested(MAX_JSON_DEPTH + 1)), 'JSON_INVALID');
      assertStellaError(() => canon({ a: nested(MAX_JSON_DEPTH) }), 'JSON_INVALID');
      // at the ceiling, both agree with JSON.stringify and parse back
      const text = canon(nested(MAX_JSON_DEPTH));
      assert.equal(text, JSON.stringify(nested(MAX_JSON_DEPTH)));
      assert.equal(canon(parseJson(text, { maxDepth: MAX_JSON_DEPTH })), text);
    }
  });
});

describe('OLPC canonical JSON (TUF)', () => {
  test('escapes only quote and backslash; control characters are raw bytes', () => {
    assert.equal(
      canonicalizeOlpc({ b: 'a"b\\c\nd\te', a: [1, -2, 0, true, null] }),
      '{"a":[1,-2,0,true,null],"b":"a\\"b\\\\c\nd\te"}',
    );
    assert.deepEqual(
      canonicalOlpcBytes({ t: '\u0001' }),
      Uint8Array.of(0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0x01, 0x22, 0x7d),
    );
  });

  test('rejects floats, unsafe integers, lone surrogates, non-JSON values', () => {
    for (const v of [
      1.5,
      { a: 333333333.3333333 },
      2 ** 53,
      NaN,
      Infinity,
      '\ud800',
      [undefined],
      1n,
      new Date(0),
      () => 1,
    ]) {
      assert.throws(() => canonicalizeOlpc(v), isJsonInvalid, String(v));
    }
    assert.equal(canonicalizeOlpc(-0), '0');
    assert.equal(canonicalizeOlpc(2 ** 53 - 1), '9007199254740991');
  });

  test('refuses key sets whose order differs between code-point and UTF-16 sorting', () => {
    assert.throws(() => canonicalizeOlpc({ '\u{1F600}': 1, '\uFB33': 2 }), isJsonInvalid);
    // Astral keys alone, or BMP keys alone, sort the same either way.
    assert.equal(canonicalizeOlpc({ '\u{1F600}': 1, a: 2 }), '{"a":2,"😀":1}');
  });

  test('property: matches @tufjs/canonical-json (what tuf-js verifies with) on integer JSON', () => {
    const olpcValue = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.maxSafeInteger(),
        fc.string(),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(olpcValue, (v) => {
        assert.equal(canonicalizeOlpc(v), tufCanonicalize(v));
      }),
      { numRuns: 500 },
    );
  });
});
