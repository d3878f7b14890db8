/**
 * Strict JSON parser for hostile input. `JSON.parse` silently keeps the last of duplicate member
 * names, which lets two readers of the same bytes see different values; RFC 8785 §3.1 requires
 * I-JSON (RFC 7493), whose §2.3 forbids duplicate names. This parser is RFC 8259 grammar plus the
 * I-JSON rules: UTF-8 only (no BOM), no duplicate names, no lone surrogates (§2.1), no numbers that
 * overflow an IEEE-754 double (§2.2), and a nesting limit so deep input cannot exhaust the stack.
 *
 * Two paths, one verdict (see docs/benchmarks.md for the numbers):
 *
 * - **Fast path** (accepts only). `JSON.parse` (native; it builds objects ~2× faster than any JS
 *   parser can) checks the grammar — ECMA-262 `JSON.parse` implements exactly the ECMA-404 /
 *   RFC 8259 grammar, the same one the strict parser below implements — and builds the value. What
 *   `JSON.parse` does NOT check is verified around it without re-tokenizing values:
 *   - duplicate names: one pass over the text (before `JSON.parse`) counts object members (`:`
 *     outside strings; strings are skipped with native `indexOf`); a walk of the parsed value sums
 *     the own keys of its objects. `JSON.parse` collapses duplicates, so fewer keys than members
 *     means a duplicate;
 *   - lone surrogates: only possible if the text is not well-formed UTF-16 (raw) or contains a
 *     `\uD800`–`\uDFFF` escape; then every string and key of the value is checked;
 *   - overflow: `JSON.parse` turns `1e400` into `Infinity`; the walk rejects non-finite numbers;
 *   - depth: the same pre-pass counts nesting and gives up past `maxDepth` before `JSON.parse`
 *     spends time on hostile `[[[[…` input.
 * - **Strict path** (the reference). Whenever the fast path finds anything wrong — or `JSON.parse`
 *   throws — the whole input is parsed again by the one-pass strict parser, which produces the
 *   coded error with its exact offset and message. So every rejection, error code, message and
 *   offset is the strict parser's, and the fast path can only ever *accept* input the strict parser
 *   accepts (tested differentially against the original per-character parser).
 */
import { StellaError } from '../errors/index.js';
import { MAX_JSON_DEPTH, hasLoneSurrogate, type JsonValue } from './jcs.js';

/** Options for {@link parseJson}. */
export interface ParseJsonOptions {
  /** Maximum nesting of arrays/objects: an integer 1…{@link MAX_JSON_DEPTH} (default 256). */
  maxDepth?: number;
}

/**
 * The nesting limit to parse with. Anything but an integer in 1…MAX_JSON_DEPTH is refused: `NaN`
 * would make every depth comparison false (no limit at all) and a huge limit would let the
 * recursive strict parser overflow the stack.
 */
function depthLimit(options: ParseJsonOptions): number {
  const d = options.maxDepth ?? 256;
  if (!Number.isInteger(d) || d < 1 || d > MAX_JSON_DEPTH)
    throw new StellaError(
      'VALIDATION_FAILED',
      `maxDepth must be an integer from 1 to ${MAX_JSON_DEPTH}, got ${String(d)}`,
    );
  return d;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** A run of string characters that need no attention: not `"`, `\` or a control (RFC 8259 §7). */
// eslint-disable-next-line no-control-regex -- matching the controls RFC 8259 §7 forbids is the point
const PLAIN_CHARS_RE = /[^"\\\u0000-\u001f]*/y;
const HEX4_RE = /[0-9a-fA-F]{4}/y;
const OBJECT_PROTO = Object.prototype;

/** Well-formed UTF-16 (String#isWellFormed where available: native, O(1) on one-byte strings). */
const isWellFormed = (s: string): boolean => !hasLoneSurrogate(s);

function fail(pos: number, why: string): never {
  throw new StellaError('JSON_INVALID', `invalid JSON at offset ${pos}: ${why}`, { details: { offset: pos } });
}

/**
 * Could the text contain a `\uD800`–`\uDFFF` escape? False positives (e.g. an escaped backslash
 * before `uD8…`) only cost the per-string check. `indexOf` is ~10× faster than a regex search here.
 */
function mayHaveSurrogateEscape(s: string): boolean {
  for (let i = s.indexOf('\\u'); i >= 0; i = s.indexOf('\\u', i + 2)) {
    const d = s.charCodeAt(i + 2) | 0x20; // ASCII lower-case
    const x = s.charCodeAt(i + 3) | 0x20;
    if (d === 0x64 && (x === 0x38 || x === 0x39 || (x >= 0x61 && x <= 0x66))) return true; // d, 8-9 / a-f
  }
  return false;
}

function isWs(c: number): boolean {
  // RFC 8259 §2 insignificant whitespace: space, tab, LF, CR.
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The one-pass strict parser: the reference for what is accepted and for every error. */
class StrictParser {
  pos = 0;
  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  ws(): void {
    const s = this.s;
    let p = this.pos;
    while (p < s.length && isWs(s.charCodeAt(p))) p++;
    this.pos = p;
  }

  value(depth: number): JsonValue {
    this.ws();
    const c = this.s[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case undefined:
        return fail(this.pos, 'unexpected end of input');
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number();
        return fail(this.pos, `unexpected character ${JSON.stringify(c)}`);
    }
  }

  literal<T>(word: string, v: T): T {
    if (this.s.startsWith(word, this.pos)) {
      this.pos += word.length;
      return v;
    }
    return fail(this.pos, `expected ${word}`);
  }

  number(): number {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.s);
    if (!m) return fail(this.pos, 'malformed number');
    const n = Number(m[0]);
    if (!Number.isFinite(n)) fail(this.pos, `number ${m[0]} overflows an IEEE-754 double (RFC 7493 §2.2)`);
    this.pos += m[0].length;
    return n;
  }

  string(): string {
    const s = this.s;
    const start = this.pos;
    let p = start + 1; // past the opening quote
    let hasEscape = false;
    for (;;) {
      // Jump natively over the plain run instead of looping per character in JS.
      PLAIN_CHARS_RE.lastIndex = p;
      PLAIN_CHARS_RE.test(s);
      p = PLAIN_CHARS_RE.lastIndex;
      if (p >= s.length) fail(start, 'unterminated string');
      const c = s.charCodeAt(p);
      if (c === 0x22) break;
      if (c < 0x20) fail(p, 'unescaped control character in string');
      // c is a backslash (RFC 8259 §7 escapes).
      hasEscape = true;
      const e = s[p + 1];
      if (e === 'u') {
        HEX4_RE.lastIndex = p + 2;
        if (!HEX4_RE.test(s)) fail(p, 'bad \\u escape');
        p += 6;
        continue;
      }
      if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(p, 'bad escape');
      p += 2;
    }
    this.pos = p + 1; // past the closing quote
    // The grammar was checked above, so JSON.parse only decodes escapes here.
    const v = hasEscape ? (JSON.parse(s.slice(start, p + 1)) as string) : s.slice(start + 1, p);
    if (!isWellFormed(v)) fail(start, 'string contains a lone surrogate (RFC 7493 §2.1)');
    return v;
  }

  array(depth: number): JsonValue[] {
    if (depth > this.maxDepth) fail(this.pos, `nesting deeper than ${this.maxDepth}`);
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') this.pos++;
      else if (c === ']') {
        this.pos++;
        return out;
      } else fail(this.pos, c === undefined ? 'unexpected end of input' : "expected ',' or ']'");
    }
  }

  object(depth: number): { [k: string]: JsonValue } {
    if (depth > this.maxDepth) fail(this.pos, `nesting deeper than ${this.maxDepth}`);
    this.pos++;
    const out: { [k: string]: JsonValue } = {};
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"')
        fail(this.pos, this.pos >= this.s.length ? 'unexpected end of input' : 'expected a member name');
      const keyPos = this.pos;
      const key = this.string();
      // `out` only ever holds own members, so an own-property test is the duplicate test.
      if (Object.hasOwn(out, key)) fail(keyPos, `duplicate member name ${JSON.stringify(key)} (RFC 7493 §2.3)`);
      this.ws();
      if (this.s[this.pos] !== ':') fail(this.pos, "expected ':'");
      this.pos++;
      const v = this.value(depth);
      // An own data property, never an inherited setter ("__proto__") and no assignment to a name
      // Object.prototype already has (which would throw if the prototype were frozen).
      if (key in OBJECT_PROTO)
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') this.pos++;
      else if (c === '}') {
        this.pos++;
        return out;
      } else fail(this.pos, c === undefined ? 'unexpected end of input' : "expected ',' or '}'");
    }
  }
}

function parseStrict(text: string, maxDepth: number): JsonValue {
  const p = new StrictParser(text, maxDepth);
  const v = p.value(0);
  p.ws();
  if (p.pos !== text.length) fail(p.pos, 'trailing characters after the JSON value');
  return v;
}

/**
 * One pass over the text, BEFORE `JSON.parse`: the number of object members — the `:` outside
 * strings (RFC 8259 §4: a `:` only separates a member name from its value) — or -1 when nesting
 * exceeds `maxDepth` or a string never ends. Checking depth here, not after `JSON.parse`, keeps
 * hostile deep nesting (`[[[[…`, which `JSON.parse` builds slowly) as cheap to reject as before.
 * The scan trusts nothing: its answer only matters once `JSON.parse` has accepted the same text,
 * i.e. the grammar is known good and string boundaries are exactly where it assumes; on any other
 * text the caller goes strict anyway. Strings are skipped with native `indexOf`.
 */
function scanMembers(s: string, maxDepth: number): number {
  let members = 0;
  let depth = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote is the next `"` preceded by an even run of backslashes. Each backslash
      // run is walked once (it ends at the quote it precedes), so the scan stays O(n).
      let j = s.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return -1;
        let k = j - 1;
        while (s.charCodeAt(k) === 0x5c) k--;
        if (((j - 1 - k) & 1) === 0) break;
        j = s.indexOf('"', j + 1);
      }
      i = j;
    } else if (c === 0x3a) members++;
    else if (c === 0x7b || c === 0x5b) {
      // The strict parser counts the top-level container as depth 1.
      if (++depth > maxDepth) return -1;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return members;
}

/**
 * Walks a `JSON.parse` result and checks the I-JSON rules the grammar does not cover, summing the
 * own keys of every object. `JSON.parse` keeps one key per distinct name, so each object has at most
 * as many keys as members in the text, with equality exactly when its names are distinct; hence the
 * whole document is duplicate-free iff the key total equals {@link scanMembers}'s count (order-independent,
 * so it does not matter that integer-like keys enumerate first). `ok` false means "let the strict
 * parser decide", never "invalid" by itself.
 */
class FastChecker {
  keys = 0;
  constructor(
    private readonly maxDepth: number,
    private readonly checkStrings: boolean,
  ) {}

  ok(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'number':
        return Number.isFinite(v); // JSON.parse maps 1e400 to Infinity (RFC 7493 §2.2)
      case 'string':
        return !this.checkStrings || isWellFormed(v);
      case 'object': {
        if (v === null) return true;
        // scanMembers already bounded the depth; this keeps the recursion bounded on its own.
        if (depth >= this.maxDepth) return false;
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) if (!this.ok(v[i], depth + 1)) return false;
          return true;
        }
        if (this.checkStrings) {
          const keys = Object.keys(v);
          this.keys += keys.length;
          for (const k of keys) {
            if (!isWellFormed(k) || !this.ok((v as Record<string, unknown>)[k], depth + 1)) return false;
          }
          return true;
        }
        const values = Object.values(v as object);
        this.keys += values.length;
        for (let i = 0; i < values.length; i++) if (!this.ok(values[i], depth + 1)) return false;
        return true;
      }
      default:
        return true; // boolean
    }
  }
}

/** Marks "the fast path cannot vouch for this input"; `null` is a valid JSON value. */
const DEFER: unique symbol = Symbol('defer');

/** The fast path: the value if it is certainly what the strict parser returns, else DEFER. */
function parseFast(text: string, maxDepth: number, fromUtf8: boolean): JsonValue | typeof DEFER {
  const members = scanMembers(text, maxDepth);
  if (members < 0) return DEFER;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return DEFER;
  }
  if (typeof v !== 'object' || v === null) {
    // A scalar document: only a string can hide a lone surrogate, only a number can overflow.
    if (typeof v === 'string') return isWellFormed(v) ? v : DEFER;
    if (typeof v === 'number') return Number.isFinite(v) ? v : DEFER;
    return v as boolean | null;
  }
  // Lone surrogates can only come from a raw lone surrogate or a `\uD8xx` escape. Text decoded by
  // the fatal UTF-8 decoder has no raw surrogates (UTF-8 cannot encode them, RFC 3629 §3), which
  // saves a full scan: isWellFormed is O(1) on one-byte strings but ~1.5 ns/char on two-byte ones.
  const checkStrings = (!fromUtf8 && !isWellFormed(text)) || mayHaveSurrogateEscape(text);
  const checker = new FastChecker(maxDepth, checkStrings);
  if (!checker.ok(v, 0)) return DEFER;
  return checker.keys === members ? (v as JsonValue) : DEFER;
}

function decodeText(input: string | Uint8Array): string {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = decoder.decode(input);
    } catch (err) {
      throw new StellaError('JSON_INVALID', 'invalid JSON: input is not valid UTF-8', { cause: err });
    }
  }
  if (text.charCodeAt(0) === 0xfeff) fail(0, 'byte order mark is not allowed (RFC 8259 §8.1)');
  return text;
}

/**
 * Parses JSON text or UTF-8 bytes strictly (see module comment). The result contains only plain
 * objects, arrays, strings, finite numbers, booleans and null, so it can be fed to the
 * canonicalizers directly.
 * @throws StellaError JSON_INVALID with `details.offset` (UTF-16 offset in the decoded text);
 *   VALIDATION_FAILED for a `maxDepth` that is not an integer from 1 to {@link MAX_JSON_DEPTH}.
 */
export function parseJson(input: string | Uint8Array, options: ParseJsonOptions = {}): JsonValue {
  const maxDepth = depthLimit(options);
  const text = decodeText(input);
  const v = parseFast(text, maxDepth, typeof input !== 'string');
  return v === DEFER ? parseStrict(text, maxDepth) : v;
}

/**
 * {@link parseJson} through the one-pass strict parser only, without the `JSON.parse` fast path:
 * same verdicts, values and errors; up to ~2× slower on object-heavy input. Not part of the
 * module's public barrel: exported for the differential tests and the benchmark.
 * @throws StellaError JSON_INVALID exactly as {@link parseJson}.
 */
export function parseJsonStrict(input: string | Uint8Array, options: ParseJsonOptions = {}): JsonValue {
  const maxDepth = depthLimit(options);
  return parseStrict(decodeText(input), maxDepth);
}
