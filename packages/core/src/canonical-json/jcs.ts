/**
 * RFC 8785 JSON Canonicalization Scheme (JCS) for everything the project hashes or signs
 * (DESIGN.md §3 "Determinism"). Serialization itself is delegated to `canonicalize@4`, which
 * implements RFC 8785 §3.2 (ES number serialization, UTF-16 code-unit key order, JSON.stringify
 * string escaping). That package is lenient where RFC 8785 is not — it maps `undefined` in arrays to
 * `null`, calls `toJSON()`, and emits `undefined` for functions — so every value is first checked
 * against the I-JSON data model (RFC 8785 §3.1, RFC 7493) and anything else is a JSON_INVALID error.
 */
import canonicalize from 'canonicalize';
import { StellaError } from '../errors/index.js';

const encoder = new TextEncoder();

/**
 * Hard ceiling on the nesting of arrays/objects anywhere in canonical JSON: the parsers, both
 * canonicalizers and {@link assertJsonValue} recurse once per level, and a bound far below the
 * engine's stack (≈10,000 frames) turns hostile nesting into JSON_INVALID instead of a
 * RangeError. No document the project signs or reads comes near it.
 */
export const MAX_JSON_DEPTH = 1024;

/** A JSON value in the I-JSON data model (what JCS can serialize). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// ES2024 String#isWellFormed: native, and O(1) on one-byte strings. Every Node this project
// supports (engines: >= 20.17) has it; the ES2023 lib we compile against does not declare it yet.
type WellFormedString = string & { isWellFormed(): boolean };

/** True when `s` contains an unpaired UTF-16 surrogate (not representable in UTF-8, RFC 8785 §3.2.2.2). */
export function hasLoneSurrogate(s: string): boolean {
  return !(s as WellFormedString).isWellFormed();
}

function invalid(path: string, why: string): StellaError {
  return new StellaError('JSON_INVALID', `not canonicalizable at ${path || '$'}: ${why}`, {
    details: { path: path || '$' },
  });
}

/** A plain object: made by `{}`/`JSON.parse` or `Object.create(null)` — not a Date, Map, class instance. */
function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Walks `value` and throws JSON_INVALID for anything outside the I-JSON model. Object properties
 * whose value is `undefined` are skipped (as JSON.stringify does), because optional TypeScript
 * fields are routinely `undefined`; `undefined` inside an array has no JSON meaning and is rejected.
 */
export function assertJsonValue(value: unknown, path = '$', seen: Set<object> = new Set()): asserts value is JsonValue {
  switch (typeof value) {
    case 'string':
      if (hasLoneSurrogate(value)) throw invalid(path, 'string contains a lone surrogate');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw invalid(path, `${String(value)} is not a JSON number`);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw invalid(path, 'circular reference');
      // `seen` holds exactly the containers enclosing `value`: its size is the nesting depth.
      if (seen.size >= MAX_JSON_DEPTH) throw invalid(path, `nesting deeper than ${MAX_JSON_DEPTH}`);
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || value[i] === undefined)
            throw invalid(`${path}[${i}]`, 'undefined (or a hole) in an array');
          assertJsonValue(value[i], `${path}[${i}]`, seen);
        }
        seen.delete(value);
        return;
      }
      if (!isPlainObject(value))
        throw invalid(path, `${value.constructor?.name ?? 'exotic'} object is not a plain JSON object`);
      if (Object.getOwnPropertySymbols(value).length > 0) throw invalid(path, 'symbol-keyed property');
      seen.add(value);
      for (const key of Object.keys(value)) {
        if (hasLoneSurrogate(key)) throw invalid(path, `key ${JSON.stringify(key)} contains a lone surrogate`);
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined) continue;
        assertJsonValue(v, `${path}.${key}`, seen);
      }
      seen.delete(value);
      return;
    }
    case 'undefined':
      throw invalid(path, 'undefined is not a JSON value');
    default:
      // bigint, function, symbol: JSON has no representation (RFC 8785 §3.2.2.3 numbers are doubles).
      throw invalid(path, `${typeof value} is not a JSON value`);
  }
}

/**
 * RFC 8785 canonical JSON text of `value`.
 * @throws StellaError JSON_INVALID for NaN/±Infinity, lone surrogates, BigInt, functions, symbols,
 *   non-plain objects (Date, Map, class instances), `undefined` in arrays, cycles and nesting
 *   deeper than {@link MAX_JSON_DEPTH}.
 */
export function canonicalizeJcs(value: unknown): string {
  assertJsonValue(value);
  const out = canonicalize(value);
  if (typeof out !== 'string') throw invalid('$', 'value has no JSON representation');
  return out;
}

/** UTF-8 bytes of {@link canonicalizeJcs} — the exact input to hashes and signatures. */
export function canonicalJcsBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalizeJcs(value));
}
