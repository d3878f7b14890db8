/**
 * Request bodies: JSON is parsed by the project's strict parser (ADR 0006, RFC 7493 I-JSON), not
 * Fastify's `JSON.parse`, so two readers of the same bytes can never see different values
 * (issue 19 finding 4): duplicate member names, numbers that overflow a double (`1e400`), lone
 * surrogates, invalid UTF-8, a BOM and deep nesting are all 400 `MALFORMED_JSON`. Bodies we would
 * misread are refused before parsing with 415 `UNSUPPORTED_MEDIA_TYPE`: a `charset` other than
 * UTF-8 and any `Content-Encoding` (we decode none).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseJson } from '@stella/core/canonical-json';
import { isStellaError, StellaError } from '@stella/core/errors';

/**
 * Deepest accepted body nesting. API bodies are shallow; 64 leaves room for nested documents
 * (SBOM components, in-toto predicates) while keeping every walk of the value cheap.
 */
export const JSON_BODY_MAX_DEPTH = 64;

function malformed(message: string, details?: unknown): StellaError {
  return new StellaError('MALFORMED_JSON', message, details === undefined ? {} : { details });
}

/**
 * Whether `bytes` nests arrays/objects deeper than `max`, by an iterative scan that skips strings.
 * Checked here as well as by `parseJson` so no parser recursion ever sees hostile depth.
 */
export function nestingExceeds(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x22) {
      // Skip the string: up to the next quote that is not escaped.
      for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++;
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}

/**
 * Refuses the member names that poison prototypes when a value is later merged with
 * `Object.assign` or a naive deep merge: `__proto__`, and `constructor.prototype` (the same rule
 * as Fastify's default `secure-json-parse` with `onProtoPoisoning`/`onConstructorPoisoning: error`).
 */
function assertNoPoison(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    // No `push(...values)`: spreading a 100,000-element array overflows the call stack.
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) stack.push(item);
      continue;
    }
    const o = v as Record<string, unknown>;
    if (Object.hasOwn(o, '__proto__')) throw malformed('the member name "__proto__" is not allowed');
    const ctor = o.constructor;
    if (
      Object.hasOwn(o, 'constructor') &&
      ctor !== null &&
      typeof ctor === 'object' &&
      Object.hasOwn(ctor, 'prototype')
    )
      throw malformed('the member "constructor.prototype" is not allowed');
    for (const item of Object.values(o)) stack.push(item);
  }
}

/** The `charset` parameter of a Content-Type (RFC 9110 §8.3.1), lower-cased, or undefined. */
function charsetOf(contentType: string): string | undefined {
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return undefined;
}

/** Fastify content-type parser for `application/json` (`parseAs: 'buffer'`). */
export function parseJsonBody(req: FastifyRequest, body: Buffer): unknown {
  const charset = charsetOf(String(req.headers['content-type'] ?? ''));
  // RFC 8259 §8.1: JSON exchanged between systems is UTF-8; another charset would be misread.
  if (charset !== undefined && charset !== 'utf-8') {
    throw new StellaError('UNSUPPORTED_MEDIA_TYPE', `charset '${charset}' is not accepted; send UTF-8 JSON`, {
      details: { charset },
    });
  }
  if (nestingExceeds(body, JSON_BODY_MAX_DEPTH))
    throw malformed(`the request body nests deeper than ${JSON_BODY_MAX_DEPTH}`);
  let value: unknown;
  try {
    value = parseJson(body, { maxDepth: JSON_BODY_MAX_DEPTH });
  } catch (err) {
    if (isStellaError(err, 'JSON_INVALID')) throw malformed(err.message, err.details);
    throw err;
  }
  assertNoPoison(value);
  return value;
}

/**
 * `preParsing` hook: a coded body (`Content-Encoding: gzip`, `br`, …) is refused with 415 and
 * `Accept-Encoding: identity` (RFC 9110 §8.4 and §12.5.3; RFC 7694 §3), instead of being parsed as
 * if it were plain.
 */
export async function refuseContentEncoding(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const coding = req.headers['content-encoding'];
  if (coding === undefined || coding.trim().toLowerCase() === 'identity') return;
  reply.header('accept-encoding', 'identity');
  throw new StellaError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Encoding '${coding}' is not supported; send the body uncompressed`,
    {
      details: { contentEncoding: coding },
    },
  );
}
