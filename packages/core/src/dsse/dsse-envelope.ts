import { parseJson } from '../canonical-json/index.js';
import { StellaError } from '../errors/index.js';
import { decodeBase64Strict, encodeBase64 } from './base64-strict.js';

/** One DSSE signature, decoded. `keyid` is an unauthenticated hint and may be `""`. */
export interface DsseSignature {
  keyid: string;
  sig: Uint8Array;
}

/** A DSSE v1 envelope with the payload and signatures decoded from base64. */
export interface DsseEnvelope {
  payloadType: string;
  payload: Uint8Array;
  signatures: DsseSignature[];
}

/** The JSON wire form of a DSSE envelope (DSSE envelope.md). */
export interface DsseEnvelopeJson {
  payload: string;
  payloadType: string;
  signatures: { keyid: string; sig: string }[];
}

/** Options for {@link parseEnvelope}. */
export interface ParseEnvelopeOptions {
  /** Largest accepted serialized envelope in bytes (default 64 MiB). */
  maxBytes?: number;
}

/** Default {@link ParseEnvelopeOptions.maxBytes}: 64 MiB of JSON. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

function malformed(message: string, details?: unknown, cause?: unknown): StellaError {
  return new StellaError('DSSE_MALFORMED', message, { details, cause });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks an already-parsed JSON value against the DSSE envelope shape and decodes it. Used by
 * {@link parseEnvelope} and by containers that embed an envelope (Sigstore bundles, evidence
 * bundles). Unknown members are ignored (protobuf JSON semantics); known members must have the
 * right type. Throws DSSE_MALFORMED or BASE64_INVALID.
 */
export function envelopeFromJson(value: unknown): DsseEnvelope {
  if (!isPlainObject(value)) throw malformed('envelope is not a JSON object');
  const { payload, payloadType, signatures } = value;
  if (typeof payloadType !== 'string' || payloadType === '')
    throw malformed('payloadType must be a non-empty string', { field: 'payloadType' });
  if (typeof payload !== 'string') throw malformed('payload must be a base64 string', { field: 'payload' });
  if (!Array.isArray(signatures) || signatures.length === 0) {
    throw malformed('signatures must be a non-empty array', { field: 'signatures' });
  }
  const decoded = decodeBase64Strict(payload, 'payload');
  const sigs: DsseSignature[] = signatures.map((s: unknown, i) => {
    if (!isPlainObject(s)) throw malformed(`signatures[${i}] is not an object`, { field: `signatures[${i}]` });
    const { keyid = '', sig } = s;
    if (typeof keyid !== 'string')
      throw malformed(`signatures[${i}].keyid must be a string`, { field: `signatures[${i}].keyid` });
    if (typeof sig !== 'string' || sig === '')
      throw malformed(`signatures[${i}].sig must be a non-empty base64 string`, { field: `signatures[${i}].sig` });
    return { keyid, sig: decodeBase64Strict(sig, `signatures[${i}].sig`) };
  });
  return { payloadType, payload: decoded, signatures: sigs };
}

/**
 * Parses a serialized DSSE envelope (UTF-8 JSON text or bytes). Strict: the input must be valid
 * UTF-8 I-JSON (no duplicate members) within `maxBytes`, the fields must have DSSE types, and payload/signatures must be
 * canonical padded base64 (standard or URL-safe alphabet). Throws DSSE_MALFORMED or BASE64_INVALID
 * and never returns a partially decoded envelope.
 */
export function parseEnvelope(input: string | Uint8Array, options: ParseEnvelopeOptions = {}): DsseEnvelope {
  const max = options.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > max) throw malformed(`envelope is ${size} bytes, above the limit of ${max}`, { size, maxBytes: max });
  let json: unknown;
  try {
    // Strict I-JSON parse: JSON.parse would silently keep the last of two "payload" members, letting
    // two readers of the same bytes disagree on what was signed (RFC 7493 §2.3).
    json = parseJson(input);
  } catch (err) {
    throw malformed(`envelope is not valid JSON: ${(err as Error).message}`, undefined, err);
  }
  return envelopeFromJson(json);
}

/** The JSON wire form (standard base64 with padding, as DSSE asks encoders to use). */
export function envelopeToJson(envelope: DsseEnvelope): DsseEnvelopeJson {
  return {
    payload: encodeBase64(envelope.payload),
    payloadType: envelope.payloadType,
    signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) })),
  };
}

/**
 * Serializes an envelope deterministically. Members are emitted in sorted order and all values
 * are strings, so `JSON.stringify` here yields exactly the RFC 8785 canonical form: the same
 * envelope always gives the same bytes.
 */
export function serializeEnvelope(envelope: DsseEnvelope): string {
  const j = envelopeToJson(envelope);
  return JSON.stringify({
    payload: j.payload,
    payloadType: j.payloadType,
    signatures: j.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  });
}
