/**
 * jsonElements on broken input: every element completed before a syntax error is yielded, then
 * SOURCE_SYNTAX names the byte of the error — whatever the chunk boundaries of the input stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import { jsonElements } from './json-stream.js';

/** `bytes` as a stream cut at the given (sorted, deduplicated) offsets. */
async function* chunked(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const c of [...cuts, bytes.byteLength]) {
    if (c > at) yield bytes.subarray(at, c);
    at = Math.max(at, c);
  }
}

async function collect(bytes: Uint8Array, cuts: number[], arrayKey: string | null) {
  const elements: unknown[] = [];
  let error: unknown = null;
  try {
    for await (const e of jsonElements(chunked(bytes, cuts), arrayKey)) if ('element' in e) elements.push(e.element);
  } catch (err) {
    error = err;
  }
  return { elements, error };
}

// Elements are objects (as in every source format), with strings that contain the characters
// that matter to the recovery: braces, brackets, commas, quotes, escapes and non-ASCII text.
const str = fc.string({ unit: fc.constantFrom('a', '}', ']', ',', '"', '\\', ' ', 'é', '😀', '{'), maxLength: 40 });
const element = fc.dictionary(
  fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
  fc.oneof(str, fc.integer(), fc.boolean(), fc.constant(null), fc.array(str, { maxLength: 3 })),
  { maxKeys: 5, noNullPrototype: true },
);

test('property: complete elements before garbage are yielded, then SOURCE_SYNTAX at the garbage byte', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(element, { minLength: 1, maxLength: 40 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.boolean(),
      fc.constantFrom('\u0001', '\u0001 trailing', '\u0001"}]'),
      async (elements, where, rawCuts, wrapped, garbage) => {
        const parts = elements.map((e) => JSON.stringify(e));
        const open = wrapped ? '{"meta": {"x": [1]}, "items": [' : '[';
        const body = open + parts.join(', ') + ']' + (wrapped ? '}' : '');
        // Ends (exclusive, in characters) of each element in `body`.
        const ends: number[] = [];
        let at = open.length;
        for (const p of parts) {
          at += p.length;
          ends.push(at);
          at += 2;
        }
        // Garbage (a control character: never valid JSON, not even in a string) at any offset
        // from just after the opening bracket to the end of the array.
        const insert = open.length + Math.floor(where * (body.length - (wrapped ? 1 : 0) - open.length));
        const text = body.slice(0, insert) + garbage + body.slice(insert);
        const bytes = new TextEncoder().encode(text);
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
        const { elements: got, error } = await collect(bytes, cuts, wrapped ? 'items' : null);
        const complete = ends.filter((e) => e <= insert).length;
        assert.deepEqual(got, JSON.parse(JSON.stringify(elements.slice(0, complete))));
        assert.ok(isStellaError(error) && error.code === 'SOURCE_SYNTAX', String(error));
        const bytesOf = (s: string) => new TextEncoder().encode(s).byteLength;
        const label = complete === 0 ? 'the start' : `${wrapped ? 'items' : ''}[${complete - 1}]`;
        const m = /^after (.+), at byte (\d+)$/.exec(
          String((error.details as { position?: string } | undefined)?.position),
        );
        assert.ok(m, String((error.details as { position?: string } | undefined)?.position));
        assert.equal(m[1], label);
        // The byte of the garbage — or later: the tokenizer recognises a bad character inside a
        // string only with 5 more characters read, where a value is expected only with 16 more
        // (its MAX_PATTERN_SIZE), or else at the end of the input.
        const byte = Number(m[2]);
        const first = bytesOf(text.slice(0, insert));
        assert.ok(
          byte === first ||
            (byte > first && byte <= bytesOf(text.slice(0, insert + 1 + 16 * 2))) ||
            byte === bytes.byteLength,
          `${byte} vs ${first}`,
        );
      },
    ),
    // A fixed seed keeps CI deterministic (run with a random seed locally: drop `seed` to search
    // for more). Its one counterexample before the fix is the test below.
    { numRuns: 300, seed: 20261204 },
  );
});

test('an element followed by a piece of only whitespace, then garbage: that element is still imported', async () => {
  // Found by the property test (seed 20261204). The pieces are `…[1],` | ` ` | `{` | `…[2]}<garbage>…`:
  // the whitespace-only call yielded no token, and the checkpoint taken after [1] used to be
  // re-taken there, dropping the `,` from the replayed text, so the replay failed at `{` and [2]
  // was lost (the error was reported at the piece's end).
  const elements = [
    { '    ': false },
    { '" ': 'a"aa' },
    { '  ': 'aaa\\\\"', '     ': 'aaaéé"éaa\\' },
    {},
    { '     ': '\\a', '   ': true },
    { '': null },
    {},
  ];
  const parts = elements.map((e) => JSON.stringify(e));
  const body = `[${parts.join(', ')}]`;
  const insert = 1 + parts.slice(0, 3).join(', ').length; // just after element [2]'s closing brace
  const bytes = new TextEncoder().encode(body.slice(0, insert) + '\u0001"}]' + body.slice(insert));
  const { elements: got, error } = await collect(bytes, [33, 34, 35], null);
  assert.ok(isStellaError(error) && error.code === 'SOURCE_SYNTAX');
  assert.deepEqual(got, JSON.parse(JSON.stringify(elements.slice(0, 3))));
  const garbageByte = new TextEncoder().encode(body.slice(0, insert)).byteLength;
  assert.equal((error.details as { position?: string }).position, `after [2], at byte ${garbageByte}`);
});

test('whitespace-only pieces between elements, then a syntax error: every element before it is imported', async () => {
  const text = '[{"a":1},   \n\t  {"b":2} , {"c":3}x]';
  const bytes = new TextEncoder().encode(text);
  // Cut so that the separators arrive one byte per chunk (each a call that yields no token).
  const cuts = Array.from({ length: bytes.byteLength }, (_, i) => i);
  const { elements, error } = await collect(bytes, cuts, null);
  assert.deepEqual(elements, [{ a: 1 }, { b: 2 }, { c: 3 }]);
  assert.ok(isStellaError(error) && error.code === 'SOURCE_SYNTAX');
  assert.equal((error.details as { position?: string }).position, `after [2], at byte ${text.indexOf('x')}`);
});

test('a long broken file: the element just before the error is imported; good files still read whole', async () => {
  const many = Array.from({ length: 2000 }, (_, i) => ({ id: `E-${i}`, text: 'x'.repeat(i % 300) }));
  const good = new TextEncoder().encode(JSON.stringify(many));
  const all = await collect(good, [777, 4096, 4097], null);
  assert.equal(all.error, null);
  assert.deepEqual(all.elements, many);
  const text = JSON.stringify(many).replace(/,\{"id":"E-1500"/, ',{"id":"E-1500" "oops"');
  const bytes = new TextEncoder().encode(text);
  const broken = await collect(bytes, [65536], null);
  assert.deepEqual(broken.elements, many.slice(0, 1500));
  assert.ok(isStellaError(broken.error) && broken.error.code === 'SOURCE_SYNTAX');
  assert.equal(
    (broken.error.details as { position?: string } | undefined)?.position,
    `after [1499], at byte ${text.indexOf(' "oops"') + 1}`,
  );
});

test('a truncated file ends with SOURCE_SYNTAX at its end after the complete elements', async () => {
  const text = '[{"a":1}, {"b":2}, {"c":';
  const { elements, error } = await collect(new TextEncoder().encode(text), [3], null);
  assert.deepEqual(elements, [{ a: 1 }, { b: 2 }]);
  assert.ok(isStellaError(error) && error.code === 'SOURCE_SYNTAX');
  assert.equal((error.details as { position?: string } | undefined)?.position, `after [1], at byte ${text.length}`);
});

test('a 200 MiB array streams through with the same peak memory as a 20 MiB one (issue #10 "a 200 MB source file")', async () => {
  /** `total` bytes of an OSV-like JSON array in 64 KiB chunks, generated as read; peak RSS while parsed. */
  const pump = async (total: number) => {
    const element = (i: number) =>
      JSON.stringify({
        id: `OSV-${i}`,
        summary: 'x'.repeat(200 + (i % 300)),
        affected: [{ package: { name: `p${i}` } }],
      });
    async function* body(): AsyncGenerator<Uint8Array> {
      let made = 1;
      let i = 0;
      yield Buffer.from('[');
      while (made < total) {
        let s = '';
        while (s.length < 65_536) s += (i > 0 ? ',' : '') + element(i++);
        made += s.length;
        yield Buffer.from(s);
      }
      yield Buffer.from(']');
    }
    let n = 0;
    let peak = 0;
    for await (const e of jsonElements(body(), null))
      if ('element' in e && ++n % 2000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    return { n, peak: peak / 2 ** 20 };
  };
  const small = await pump(20 * 2 ** 20);
  const large = await pump(200 * 2 ** 20);
  assert.ok(large.n > 9 * small.n, `${large.n} vs ${small.n} elements`);
  // One element at a time: 10× the input, (about) the same peak — never the file in memory.
  assert.ok(
    large.peak - small.peak < 64,
    `peak RSS ${small.peak.toFixed(1)} MiB at 20 MiB, ${large.peak.toFixed(1)} MiB at 200 MiB`,
  );
});
