import { canonicalJcsBytes, parseJson, type JsonValue } from '../canonical-json/index.js';
import type { DsseEnvelope } from '../dsse/dsse-envelope.js';
import { StellaError } from '../errors/index.js';

/** DSSE payloadType of in-toto statements (in-toto attestation spec, envelope.md). */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** `_type` of an in-toto Statement v1 (in-toto/attestation spec/v1/statement.md). */
export const STATEMENT_V1_TYPE = 'https://in-toto.io/Statement/v1';

/** A ResourceDescriptor (spec/v1/resource_descriptor.md) as used for Statement subjects. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  /** Algorithm → lowercase hex digest (a DigestSet); at least one entry. */
  digest: Record<string, string>;
  mediaType?: string;
  downloadLocation?: string;
  /** Base64 of the resource's bytes, for tiny inline resources. */
  content?: string;
  annotations?: Record<string, JsonValue>;
}

/** An in-toto Statement v1. `predicate` is any JSON object whose meaning `predicateType` names. */
export interface StatementV1<P extends Record<string, JsonValue> = Record<string, JsonValue>> {
  _type: typeof STATEMENT_V1_TYPE;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: P;
}

/** Input of {@link buildStatement}. */
export interface StatementInput<P extends Record<string, JsonValue> = Record<string, JsonValue>> {
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: P;
}

/*
 * Digest lengths (hex chars) of the algorithms in spec/v1/digest_set.md that are plain hashes;
 * their values must be lowercase hex of exactly this length. Other algorithm names (gitCommit,
 * dirHash, …) need only a non-empty value.
 */
const HEX_LENGTHS: Record<string, number> = {
  sha256: 64,
  sha224: 56,
  sha384: 96,
  sha512: 128,
  sha512_224: 56,
  sha512_256: 64,
  sha3_224: 56,
  sha3_256: 64,
  sha3_384: 96,
  sha3_512: 128,
  sha1: 40,
  md5: 32,
};
const OPTIONAL_STRINGS = ['name', 'uri', 'mediaType', 'downloadLocation', 'content'] as const;

function invalid(path: string, why: string): StellaError {
  return new StellaError('INTOTO_STATEMENT_INVALID', `in-toto statement ${path}: ${why}`, { details: { path } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUri(s: string): boolean {
  // TypeURI / ResourceURI are RFC 3986 URIs; the WHATWG parser accepts every absolute URI we care
  // about and rejects relative references, which the spec does not allow for predicateType.
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

function checkDescriptor(d: unknown, path: string): void {
  if (!isObject(d)) throw invalid(path, 'is not an object');
  for (const f of OPTIONAL_STRINGS) {
    if (d[f] !== undefined && typeof d[f] !== 'string') throw invalid(`${path}.${f}`, 'must be a string');
  }
  if (d.annotations !== undefined && !isObject(d.annotations))
    throw invalid(`${path}.annotations`, 'must be an object');
  const digest = d.digest;
  // Statement v1: "Each subject MUST have a digest" — a name alone identifies nothing.
  if (!isObject(digest)) throw invalid(`${path}.digest`, 'must be an object of algorithm → hex');
  const algs = Object.keys(digest);
  if (algs.length === 0) throw invalid(`${path}.digest`, 'must name at least one algorithm');
  for (const alg of algs) {
    const v = digest[alg];
    if (alg === '') throw invalid(`${path}.digest`, 'has an empty algorithm name');
    if (typeof v !== 'string' || v === '') throw invalid(`${path}.digest.${alg}`, 'must be a non-empty string');
    const len = HEX_LENGTHS[alg];
    if (len !== undefined && (v.length !== len || !/^[0-9a-f]+$/.test(v))) {
      throw invalid(`${path}.digest.${alg}`, `must be ${len} lowercase hex characters`);
    }
  }
}

/**
 * Checks that `value` is an in-toto Statement v1 and returns it typed. Unknown members are kept
 * (the attestation spec asks consumers to ignore, not reject, them). Throws
 * INTOTO_STATEMENT_INVALID with `details.path` naming the first bad member.
 */
export function validateStatement(value: unknown): StatementV1 {
  if (!isObject(value)) throw invalid('$', 'is not a JSON object');
  if (value._type !== STATEMENT_V1_TYPE) throw invalid('$._type', `must be ${JSON.stringify(STATEMENT_V1_TYPE)}`);
  if (!Array.isArray(value.subject) || value.subject.length === 0)
    throw invalid('$.subject', 'must be a non-empty array');
  value.subject.forEach((s, i) => checkDescriptor(s, `$.subject[${i}]`));
  if (typeof value.predicateType !== 'string' || !isUri(value.predicateType)) {
    throw invalid('$.predicateType', 'must be an absolute URI');
  }
  if (value.predicate !== undefined && !isObject(value.predicate)) throw invalid('$.predicate', 'must be an object');
  return value as unknown as StatementV1;
}

/** Builds and validates a Statement v1 (throws INTOTO_STATEMENT_INVALID on bad input). */
export function buildStatement<P extends Record<string, JsonValue>>(input: StatementInput<P>): StatementV1<P> {
  const st: Record<string, unknown> = {
    _type: STATEMENT_V1_TYPE,
    subject: input.subject,
    predicateType: input.predicateType,
  };
  if (input.predicate !== undefined) st.predicate = input.predicate;
  return validateStatement(st) as StatementV1<P>;
}

/**
 * The statement as RFC 8785 canonical JSON bytes — what goes into a DSSE payload, so the same
 * statement always yields the same payload and signature. JSON_INVALID if a predicate holds
 * something JSON cannot carry (NaN, undefined in arrays, lone surrogates).
 */
export function serializeStatement(statement: StatementV1): Uint8Array {
  validateStatement(statement);
  return canonicalJcsBytes(statement as unknown as JsonValue);
}

/**
 * Parses statement bytes (strict I-JSON: no duplicate members) and validates them. Throws
 * INTOTO_STATEMENT_INVALID for bad JSON or a bad statement.
 */
export function parseStatement(input: string | Uint8Array): StatementV1 {
  let json: unknown;
  try {
    json = parseJson(input);
  } catch (err) {
    throw new StellaError(
      'INTOTO_STATEMENT_INVALID',
      `in-toto statement is not valid JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return validateStatement(json);
}

/**
 * The statement carried by a DSSE envelope. DSSE_PAYLOAD_TYPE_MISMATCH unless the payloadType is
 * `application/vnd.in-toto+json`. Does not verify signatures: call `verifyEnvelope` first.
 */
export function statementFromEnvelope(envelope: Pick<DsseEnvelope, 'payloadType' | 'payload'>): StatementV1 {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new StellaError(
      'DSSE_PAYLOAD_TYPE_MISMATCH',
      `payloadType is ${JSON.stringify(envelope.payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`,
      {
        details: { check: 'payloadType', expected: IN_TOTO_PAYLOAD_TYPE, actual: envelope.payloadType },
      },
    );
  }
  return parseStatement(envelope.payload);
}
