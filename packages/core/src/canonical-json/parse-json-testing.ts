// Test oracle (no I/O; not exported from the barrel): the ORIGINAL per-character strict parser, kept
// verbatim from before the JSON.parse fast path was added (docs/benchmarks.md), so the
// differential tests can prove the new parseJson accepts exactly the same inputs, returns the same
// values, and rejects with the same code, message and offset. Do not optimise this file.
import { StellaError } from '../errors/index.js';
import type { JsonValue } from './jcs.js';

/** The original lone-surrogate scan (jcs.ts now delegates to String#isWellFormed). */
function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function fail(pos: number, why: string): never {
  throw new StellaError('JSON_INVALID', `invalid JSON at offset ${pos}: ${why}`, { details: { offset: pos } });
}

class ReferenceParser {
  pos = 0;
  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  ws(): void {
    while (this.pos < this.s.length && WS.has(this.s.charCodeAt(this.pos))) this.pos++;
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
    const start = this.pos;
    this.pos++; // opening quote
    let hasEscape = false;
    for (;;) {
      if (this.pos >= this.s.length) fail(start, 'unterminated string');
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) break;
      if (c < 0x20) fail(this.pos, 'unescaped control character in string');
      if (c === 0x5c) {
        hasEscape = true;
        const e = this.s[this.pos + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.s.slice(this.pos + 2, this.pos + 6))) fail(this.pos, 'bad \\u escape');
          this.pos += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(this.pos, 'bad escape');
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.pos++; // closing quote
    const raw = this.s.slice(start, this.pos);
    // The grammar was checked above, so JSON.parse only decodes escapes here.
    const v = hasEscape ? (JSON.parse(raw) as string) : raw.slice(1, -1);
    if (hasLoneSurrogate(v)) fail(start, 'string contains a lone surrogate (RFC 7493 §2.1)');
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
    const names = new Set<string>();
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
      if (names.has(key)) fail(keyPos, `duplicate member name ${JSON.stringify(key)} (RFC 7493 §2.3)`);
      names.add(key);
      this.ws();
      if (this.s[this.pos] !== ':') fail(this.pos, "expected ':'");
      this.pos++;
      const v = this.value(depth);
      // An own data property, never the prototype setter, for the name "__proto__".
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
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

/** The original `parseJson`, unchanged: the oracle for verdicts, values, messages and offsets. */
export function parseJsonReference(input: string | Uint8Array, options: { maxDepth?: number } = {}): JsonValue {
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
  const p = new ReferenceParser(text, options.maxDepth ?? 256);
  const v = p.value(0);
  p.ws();
  if (p.pos !== text.length) fail(p.pos, 'trailing characters after the JSON value');
  return v;
}
