/**
 * OLPC canonical JSON (http://wiki.laptop.org/go/Canonical_JSON), the dialect TUF 1.0 signs
 * ("canonical JSON" in the TUF specification, as implemented by securesystemslib
 * `encode_canonical` and `@tufjs/canonical-json`). It differs from RFC 8785 (spec §7):
 * integers only, only `"` and `\` escaped (control characters are emitted as raw bytes), keys sorted.
 *
 * Key order: securesystemslib sorts by code point, JavaScript by UTF-16 code unit. The two
 * disagree only when one key holds an astral character (≥ U+10000) where another holds
 * U+E000–U+FFFF at the same position. Signatures over such bytes verify in one implementation and
 * not the other, so instead of silently picking one we refuse those key sets (JSON_INVALID);
 * see docs/adr/0006-canonical-json-dialects.md.
 */
import { StellaError } from '../errors/index.js';
import { MAX_JSON_DEPTH, hasLoneSurrogate } from './jcs.js';

const encoder = new TextEncoder();

function invalid(path: string, why: string): StellaError {
  return new StellaError('JSON_INVALID', `not OLPC-canonicalizable at ${path}: ${why}`, { details: { path } });
}

function olpcString(s: string, path: string): string {
  if (hasLoneSurrogate(s)) throw invalid(path, 'string contains a lone surrogate');
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Code-point comparison (what Python's `sorted()` does on str). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

function sortKeys(keys: string[], path: string): string[] {
  const byUnits = [...keys].sort();
  const byPoints = [...keys].sort(compareCodePoints);
  if (byUnits.some((k, i) => k !== byPoints[i])) {
    throw invalid(
      path,
      'key order differs between code-point and UTF-16 sorting (astral vs U+E000–U+FFFF keys); not portable across TUF implementations',
    );
  }
  return byPoints;
}

function encode(value: unknown, path: string, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return olpcString(value, path);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // OLPC has no floats; integers beyond 2^53 lose precision in JS and would be written with an
      // exponent by Number#toString, which OLPC forbids as well.
      if (!Number.isSafeInteger(value))
        throw invalid(path, `${String(value)} is not a safe integer (OLPC allows integers only)`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (value === null) return 'null';
      if (seen.has(value)) throw invalid(path, 'circular reference');
      // `seen` holds exactly the enclosing containers: its size is the nesting depth.
      if (seen.size >= MAX_JSON_DEPTH) throw invalid(path, `nesting deeper than ${MAX_JSON_DEPTH}`);
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || value[i] === undefined)
            throw invalid(`${path}[${i}]`, 'undefined (or a hole) in an array');
          parts.push(encode(value[i], `${path}[${i}]`, seen));
        }
        out = `[${parts.join(',')}]`;
      } else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) throw invalid(path, 'not a plain JSON object');
        const rec = value as Record<string, unknown>;
        const keys = Object.keys(rec).filter((k) => rec[k] !== undefined);
        const parts = sortKeys(keys, path).map((k) => `${olpcString(k, path)}:${encode(rec[k], `${path}.${k}`, seen)}`);
        out = `{${parts.join(',')}}`;
      }
      seen.delete(value);
      return out;
    }
    default:
      throw invalid(path, `${typeof value} is not a JSON value`);
  }
}

/**
 * OLPC canonical JSON text of `value` (the TUF signing input).
 * @throws StellaError JSON_INVALID for non-integers, unsafe integers, lone surrogates, non-JSON
 *   values, key sets whose order is implementation-dependent (see module comment) and nesting
 *   deeper than {@link MAX_JSON_DEPTH}.
 */
export function canonicalizeOlpc(value: unknown): string {
  return encode(value, '$', new Set());
}

/** UTF-8 bytes of {@link canonicalizeOlpc}. */
export function canonicalOlpcBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalizeOlpc(value));
}
