// parseJson = JSON.parse fast path + strict fallback. These tests hold it to two oracles:
// JSON.parse (same value on valid, duplicate-free input) and the ORIGINAL per-character strict parser
// (parse-json-testing.ts: same verdict, value, error code, message and offset on everything).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { repoRoot, run } from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { canonicalJcsBytes } from './jcs.js';
import { parseJson, parseJsonStrict } from './parse-json.js';
import { parseJsonReference } from './parse-json-testing.js';

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string; offset: unknown };

function outcome(
  parse: (i: string | Uint8Array, o?: { maxDepth?: number }) => unknown,
  input: string | Uint8Array,
  maxDepth?: number,
): Outcome {
  try {
    return { ok: true, value: parse(input, maxDepth === undefined ? {} : { maxDepth }) };
  } catch (e) {
    if (!isStellaError(e)) throw e;
    return {
      ok: false,
      code: e.code,
      message: e.message,
      offset: (e.details as { offset?: unknown } | undefined)?.offset,
    };
  }
}

/** Asserts the new parser (both paths) behaves exactly like the original; returns the outcome. */
function sameAsReference(input: string | Uint8Array, maxDepth?: number): Outcome {
  const want = outcome(parseJsonReference, input, maxDepth);
  assert.deepStrictEqual(outcome(parseJson, input, maxDepth), want);
  assert.deepStrictEqual(outcome(parseJsonStrict, input, maxDepth), want);
  if (!want.ok) assert.equal(want.code, 'JSON_INVALID');
  return want;
}

function rejects(input: string | Uint8Array, why: RegExp, maxDepth?: number): void {
  const o = sameAsReference(input, maxDepth);
  assert.ok(!o.ok, `accepted ${JSON.stringify(String(input).slice(0, 80))}`);
  assert.match(o.message, why);
}

// --- a JSON writer with knobs: whitespace, escaping, and one injected I-JSON defect -------------

interface Style {
  /** Seed of the whitespace/escape choices. */
  seed: number;
  /** Whitespace between tokens: none, some, lots. */
  spacing: 0 | 1 | 2;
  /** Probability that a string code unit is written as \uXXXX. */
  escape: 0 | 0.3 | 1;
}
type Defect =
  | { kind: 'none' }
  | { kind: 'dup'; at: number; pick: number }
  | { kind: 'surrogate'; at: number; pos: number; unit: number; raw: boolean }
  | { kind: 'overflow'; at: number; text: string };

class Writer {
  objects = 0;
  strings = 0;
  numbers = 0;
  private state: number;
  constructor(
    private readonly style: Style,
    private readonly defect: Defect,
  ) {
    this.state = style.seed >>> 0 || 1;
  }

  private rnd(): number {
    // xorshift32: the same document for the same seed (reproducible counterexamples).
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  private ws(): string {
    if (this.style.spacing === 0) return '';
    const n = Math.floor(this.rnd() * (this.style.spacing === 1 ? 2 : 5));
    let s = '';
    for (let i = 0; i < n; i++) s += ' \t\n\r'[Math.floor(this.rnd() * 4)];
    return s;
  }

  private hex(c: number): string {
    const h = c.toString(16).padStart(4, '0');
    return '\\u' + (this.rnd() < 0.5 ? h : h.toUpperCase());
  }

  str(s: string): string {
    const d = this.defect;
    let rawAt = -1;
    if (d.kind === 'surrogate' && this.strings === d.at) {
      const p = d.pos % (s.length + 1);
      s = s.slice(0, p) + String.fromCharCode(d.unit) + s.slice(p);
      if (d.raw) rawAt = p;
    }
    this.strings++;
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (i === rawAt) out += s[i];
      else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 && i + 1 !== rawAt) {
        // A pair is escaped whole or written whole, so the text stays encodable as UTF-8.
        out += this.rnd() < this.style.escape ? this.hex(c) + this.hex(s.charCodeAt(i + 1)) : s.slice(i, i + 2);
        i++;
      } else if (c === 0x22) out += this.rnd() < this.style.escape ? this.hex(c) : '\\"';
      else if (c === 0x5c) out += this.rnd() < this.style.escape ? this.hex(c) : '\\\\';
      else if (c < 0x20) out += this.rnd() < 0.5 ? this.hex(c) : (JSON.stringify(s[i]) as string).slice(1, -1);
      else if (c === 0x2f && this.rnd() < 0.3) out += '\\/';
      else out += this.rnd() < this.style.escape ? this.hex(c) : s[i];
    }
    return out + '"';
  }

  value(v: unknown): string {
    if (v === null || typeof v === 'boolean') return String(v);
    if (typeof v === 'number') {
      const d = this.defect;
      if (d.kind === 'overflow' && this.numbers === d.at) {
        this.numbers++;
        return d.text;
      }
      this.numbers++;
      return JSON.stringify(v);
    }
    if (typeof v === 'string') return this.str(v);
    if (Array.isArray(v))
      return '[' + this.ws() + v.map((x) => this.value(x)).join(this.ws() + ',' + this.ws()) + this.ws() + ']';
    const d = this.defect;
    const members = Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, x] as [string, unknown]);
    if (d.kind === 'dup' && this.objects === d.at) {
      // Repeat an existing name (or two fresh equal ones) somewhere after its first occurrence.
      if (members.length === 0) members.push(['d', 0], ['d', 1]);
      else {
        const i = d.pick % members.length;
        const j = i + 1 + (d.pick % (members.length - i));
        members.splice(j, 0, [members[i]![0], d.pick % 2 ? members[i]![1] : 'other']);
      }
    }
    this.objects++;
    const parts = members.map(([k, x]) => this.str(k) + this.ws() + ':' + this.ws() + this.value(x));
    return '{' + this.ws() + parts.join(this.ws() + ',' + this.ws()) + this.ws() + '}';
  }

  doc(v: unknown): string {
    return this.ws() + this.value(v) + this.ws();
  }
}

/** Strings that stress string-boundary scanning: quotes, backslashes, colons, braces, astral chars. */
const trickyString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({
    unit: fc.constantFrom('"', '\\', ':', '{', '}', '[', ']', ',', ' ', 'a', '/', '\n', 'é', '😀', 'u', 'd'),
    maxLength: 10,
  }),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    trickyString,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(trickyString, tie('v'), { maxKeys: 5 }),
  ),
})).v;
const style: fc.Arbitrary<Style> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  spacing: fc.constantFrom(0 as const, 1 as const, 2 as const),
  escape: fc.constantFrom(0 as const, 0.3 as const, 1 as const),
});
const render = (v: unknown, s: Style, d: Defect = { kind: 'none' }) => {
  const w = new Writer(s, d);
  return { text: w.doc(v), w };
};
/** How many objects / strings / numbers a document has (to aim a defect at one of them). */
const census = (v: unknown) => render(v, { seed: 1, spacing: 0, escape: 0 }).w;

describe('parseJson fast path vs JSON.parse and the original strict parser', () => {
  test('property: valid duplicate-free JSON (any whitespace/escaping) parses to the JSON.parse value', () => {
    fc.assert(
      fc.property(value, style, fc.boolean(), (v, s, asBytes) => {
        const { text } = render(v, s);
        const input = asBytes ? new TextEncoder().encode(text) : text;
        const got = parseJson(input);
        assert.deepStrictEqual(got, JSON.parse(text));
        assert.deepStrictEqual(sameAsReference(input), { ok: true, value: got });
        // Determinism: the same bytes give the same canonical bytes by either path.
        assert.deepEqual(canonicalJcsBytes(parseJson(input)), canonicalJcsBytes(parseJsonStrict(input)));
      }),
      { numRuns: 600 },
    );
  });

  test('property: fc.json() documents (unicode strings) equal JSON.parse', () => {
    fc.assert(
      fc.property(fc.json({ stringUnit: 'grapheme' }), (text) => {
        assert.deepStrictEqual(parseJson(text), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('property: a duplicate member name at any depth is rejected like the original', () => {
    fc.assert(
      fc.property(value, style, fc.nat(), fc.nat(), (v, s, at, pick) => {
        const n = census(v).objects;
        fc.pre(n > 0);
        // `s`: a name may hold U+2028/U+2029, which JSON.stringify leaves raw and `.` does not match.
        rejects(render(v, s, { kind: 'dup', at: at % n, pick }).text, /duplicate member name .* \(RFC 7493 §2\.3\)/s);
      }),
      { numRuns: 400 },
    );
  });

  test('property: a lone surrogate in any key or value, escaped or raw, is rejected like the original', () => {
    fc.assert(
      fc.property(
        value,
        style,
        fc.nat(),
        fc.nat(),
        fc.oneof(fc.integer({ min: 0xd800, max: 0xdbff }), fc.integer({ min: 0xdc00, max: 0xdfff })),
        fc.boolean(),
        (v, s, at, pos, unit, raw) => {
          const n = census(v).strings;
          fc.pre(n > 0);
          rejects(
            render(v, s, { kind: 'surrogate', at: at % n, pos, unit, raw }).text,
            /lone surrogate \(RFC 7493 §2\.1\)/,
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  test('property: a number overflowing a double anywhere is rejected like the original', () => {
    const huge = fc.oneof(
      fc.constantFrom('1e400', '-1e309', '1.8e308', '-2E+308', '1' + '0'.repeat(309), '-' + '9'.repeat(400) + '.5'),
      fc.integer({ min: 309, max: 100000 }).map((e) => `${e % 2 ? '-' : ''}1e${e}`),
    );
    fc.assert(
      fc.property(value, style, fc.nat(), huge, (v, s, at, text) => {
        const n = census(v).numbers;
        fc.pre(n > 0);
        rejects(render(v, s, { kind: 'overflow', at: at % n, text }).text, /overflows an IEEE-754 double/);
      }),
      { numRuns: 200 },
    );
  });

  test('property: trailing garbage, a BOM, and too-deep nesting are rejected like the original', () => {
    const garbage = fc.constantFrom('x', ',', '}', ']', '{}', '[]', '0', '"a"', 'null', '\u0000', '\ufeff', '//');
    fc.assert(
      fc.property(value, style, garbage, (v, s, g) => {
        const { text } = render(v, s);
        rejects(`${text} ${g}`, /trailing characters/);
        rejects(`\ufeff${text}`, /byte order mark/);
        rejects(Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(text)]), /byte order mark/);
        const depth = census(v).objects === 0 && !Array.isArray(v) ? 0 : 1;
        rejects(`${'['.repeat(256 - depth + 1)}${text}${']'.repeat(256 - depth + 1)}`, /nesting deeper than 256/);
      }),
      { numRuns: 200 },
    );
  });

  test('property (fuzz): arbitrary text, mutated JSON and bytes get exactly the original verdict', () => {
    const mutated = fc
      .tuple(
        value,
        style,
        fc.nat(),
        fc.string({
          unit: fc.constantFrom('"', '\\', ':', ',', '{', '}', '[', ']', 'a', '1', ' ', 'u', 'e', '-', '.'),
          maxLength: 3,
        }),
        fc.nat({ max: 3 }),
      )
      .map(([v, s, at, ins, del]) => {
        const t = render(v, s).text;
        const i = at % (t.length + 1);
        return t.slice(0, i) + ins + t.slice(i + del);
      });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          mutated,
          fc.uint8Array().map((b) => Buffer.from(b).toString('latin1')),
          fc.uint8Array(),
        ),
        fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
        (input, maxDepth) => {
          sameAsReference(input, maxDepth);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('parseJson edge cases (same verdict and message as the original)', () => {
  test('duplicates the fast path must still see', () => {
    // [text, the second occurrence's name as written]: the error offset is where that name starts.
    const cases: [string, string][] = [
      ['{"a":1,"a":1}', '"a"'],
      ['{"__proto__":1,"__proto__":2}', '"__proto__"'],
      ['{"x":[{"__proto__":{"a":1,"a":2}}]}', '"a"'],
      // Integer-like keys enumerate first, so the parsed order differs from the text order.
      ['{"b":{"x":1},"1":{"y":1,"y":2}}', '"y"'],
      ['{"1":0,"01":1,"1":2}', '"1"'],
      // Colons, braces and escaped quotes inside strings must not be counted as members.
      ['{"a:\\"b":"c:d","e\\\\":"\\":","a:\\"b":0}', '"a:\\"b"'],
      ['{"a\\\\":1,"a\\u005c":2}', '"a\\u005c"'],
      ['{"\\u0061":1,"a":2}', '"a"'],
      ['{"\\ud83d\\ude00":1,"😀":2}', '"😀"'],
    ];
    for (const [text, second] of cases) {
      const o = sameAsReference(text);
      assert.ok(!o.ok, text);
      assert.equal(o.offset, text.lastIndexOf(second), text);
      assert.match(o.message, /duplicate member name/, text);
    }
  });

  test('valid look-alikes are accepted with the JSON.parse value', () => {
    for (const text of [
      '{"a:b":"c:d","e":"\\":"}',
      '{"a\\\\":1,"a\\"":2,"a":3}',
      '{"1":0,"01":1,"b":{"1":{}}}',
      '{"\\ud83d\\ude00":"\\uD83D\\uDE00","😀x":"😀"}',
      '"\\ud83d\ude00"', // escaped high + raw low: one well-formed pair after decoding
      '{"\\\\ud800":"\\\\udc00"}', // an escaped backslash, not a surrogate escape
      '{"toString":1,"constructor":{"prototype":2},"hasOwnProperty":[],"__proto__":{"polluted":1}}',
      '[-0,0,1e308,-1.7976931348623157e308,5e-324,1E-400]',
      ' \t\r\n{ "a" : [ 1 , { } , [ ] ] } \n',
    ]) {
      const o = sameAsReference(text);
      assert.ok(o.ok, text);
      assert.deepStrictEqual(o.value, JSON.parse(text));
    }
    const v = parseJson('{"__proto__":{"polluted":1},"toString":1}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__', 'toString']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('lone surrogates, escaped or raw, in keys and values; invalid UTF-8 bytes', () => {
    for (const text of [
      '"\\ud800"',
      '"\\uDC00\\uD800"',
      '{"\\udbff":1}',
      '{"a":"x\ud800"}',
      '{"\udc00":1}',
      '["ok","\\ud83d"]',
    ]) {
      rejects(text, /lone surrogate/);
    }
    // CESU-8 / WTF-8 encoded surrogate bytes are not UTF-8 at all.
    const o = sameAsReference(Uint8Array.of(0x22, 0xed, 0xa0, 0x80, 0x22));
    assert.ok(!o.ok && /not valid UTF-8/.test(o.message));
  });

  test('depth limit boundaries match the original', () => {
    assert.ok(sameAsReference('['.repeat(256) + ']'.repeat(256)).ok);
    rejects('['.repeat(257) + ']'.repeat(257), /nesting deeper than 256/);
    rejects('{"a":'.repeat(257) + '1' + '}'.repeat(257), /nesting deeper than 256/);
    rejects('[[]]', /nesting deeper than 1/, 1);
    rejects('{"a":[{}]}', /nesting deeper than 2/, 2);
    // Deep and unterminated: the depth error comes first, as before — and without JSON.parse first
    // building a million levels (the fast path checks depth in its pre-pass).
    rejects('['.repeat(1_000_000), /nesting deeper than 256/);
    rejects('[{"a":'.repeat(200) + '"x"' + '}]'.repeat(200), /nesting deeper than 256/);
  });

  test('a defect at the very end of a large document is still found (fast path falls back)', () => {
    const big = 'A'.repeat(4 << 20);
    const ok = `{"payloadType":"x","payload":"${big}","signatures":[{"sig":"${big.slice(0, 88)}"}]}`;
    assert.equal((parseJson(ok) as { payload: string }).payload.length, big.length);
    rejects(ok.slice(0, -1) + ',"payload":""}', /duplicate member name "payload"/);
    rejects(ok.replace(`${big}"`, `${big}\\udfff"`), /lone surrogate/);
    rejects(ok.replace(`${big}"`, `${big}\u0001"`), /unescaped control character/);
    rejects(ok + '\n}', /trailing characters/);
  });

  test('works under a frozen Object.prototype (hardened runtimes), on both paths', async () => {
    const code = `
      import { parseJson } from '@stella/core/canonical-json';
      import { parseJsonStrict } from './packages/core/src/canonical-json/parse-json.ts';
      Object.freeze(Object.prototype);
      const t = '{"toString":1,"a":[{"constructor":2,"valueOf":{"hasOwnProperty":3}}]}';
      const out = [parseJson(t), parseJsonStrict(t)].map((v) => JSON.stringify(v));
      try { parseJson('{"toString":1,"toString":2}'); out.push('accepted'); } catch (e) { out.push(e.code); }
      console.log(JSON.stringify(out));`;
    const r = await run(
      process.execPath,
      ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', code],
      {
        cwd: repoRoot,
        timeoutMs: 60_000,
      },
    );
    assert.equal(r.code, 0, r.stderr.toString());
    const t = '{"toString":1,"a":[{"constructor":2,"valueOf":{"hasOwnProperty":3}}]}';
    assert.deepEqual(JSON.parse(r.stdout.toString().trim()), [t, t, 'JSON_INVALID']);
  });
});
