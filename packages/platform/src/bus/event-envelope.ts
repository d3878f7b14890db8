/**
 * The one event envelope (DESIGN.md §3 "Events"), shared by every bus adapter, the outbox and
 * HTTP ingest. Validation is strict (unknown fields are rejected) because the envelope crosses
 * process and trust boundaries: a kind becomes a NATS subject, a tenant becomes part of the
 * `Nats-Msg-Id`, and consumers key their dedupe on `(tenant, eventId)`.
 */
import { monotonicFactory } from 'ulid';
import { StellaError } from '@stella/core/errors';
import { TENANT_ID_PATTERN } from '../tenant/tenant-id.js';

/** One piece of evidence an event links to (DESIGN.md §3). */
export interface EventEvidenceRef {
  bundleId?: string;
  /** `sha256:<64 hex>` of the evidence object. */
  digest: string;
  manifestDigest?: string;
  attestationSubject?: string;
}

/** Scalar attribute values: attributes are indexed by the timeline, so they stay flat. */
export type EventAttributeValue = string | number | boolean;

/** The event envelope. `(tenant, eventId)` is unique forever. */
export interface EventEnvelope {
  /** ULID (Crockford base32, 26 chars, upper case). */
  eventId: string;
  tenant: string;
  /** Dotted lower-case kind, e.g. `evidence.bundle.sealed`; becomes `stella.events.<kind>`. */
  kind: string;
  /** The emitting service or component, e.g. `evidence-locker`. */
  source: string;
  /** RFC 3339 date-time. */
  occurredAt: string;
  subject?: string;
  correlationId?: string;
  /** W3C trace-context trace-id (32 lower-case hex, not all zero). */
  traceId?: string;
  actor?: string;
  attributes?: Record<string, EventAttributeValue>;
  payload?: unknown;
  evidence?: EventEvidenceRef[];
}

/** One validation problem: a JSON-pointer-ish path and what is wrong there. */
export interface EventProblem {
  path: string;
  message: string;
}

/** Upper bound of an encoded envelope. NATS' default `max_payload` is 1 MiB; stay well below it. */
export const MAX_EVENT_BYTES = 256 * 1024;

// Crockford base32 without I, L, O, U; the first char is at most 7 because a ULID is 128 bits
// (https://github.com/ulid/spec "Encoding": larger values overflow).
const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
// Kinds are NATS subject suffixes: tokens separated by '.', and a token must never contain
// '*', '>' or whitespace (NATS "Subject-Based Messaging"). We allow a strict lower-case subset.
const KIND_TOKEN = '[a-z][a-z0-9_-]{0,63}';
const KIND_RE = new RegExp(`^${KIND_TOKEN}(\\.${KIND_TOKEN}){0,9}$`);
// RFC 3339 §5.6 date-time; 'T' and 'Z' may be lower case (§5.6 NOTE).
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const TRACE_ID_RE = /^(?!0{32})[0-9a-f]{32}$/;

const TOP_LEVEL = new Set([
  'eventId',
  'tenant',
  'kind',
  'source',
  'occurredAt',
  'subject',
  'correlationId',
  'traceId',
  'actor',
  'attributes',
  'payload',
  'evidence',
]);
const EVIDENCE_KEYS = new Set(['bundleId', 'digest', 'manifestDigest', 'attestationSubject']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  if (m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) return 29;
  return DAYS_IN_MONTH[m - 1]!;
}

/** True when `s` is an RFC 3339 date-time with real calendar values (no Feb 30, no hour 24). */
export function isRfc3339(s: string): boolean {
  const m = RFC3339_RE.exec(s);
  if (!m) return false;
  // Plain locals, not an array map: this runs for every event published and consumed.
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const se = Number(m[6]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return false;
  // Seconds may be 60 only for a leap second (RFC 3339 §5.7).
  if (h > 23 || mi > 59 || se > 60) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

/** True when `kind` is a valid dotted lower-case kind (safe as a NATS subject suffix). */
export function isValidKind(kind: string): boolean {
  return KIND_RE.test(kind);
}

function checkString(
  problems: EventProblem[],
  obj: Record<string, unknown>,
  key: string,
  opts: { required: boolean; max: number; re?: RegExp; reMessage?: string; path?: string },
): void {
  const path = opts.path ?? `/${key}`;
  const v = obj[key];
  if (v === undefined) {
    if (opts.required) problems.push({ path, message: 'is required' });
    return;
  }
  if (typeof v !== 'string') return void problems.push({ path, message: 'must be a string' });
  if (v.length === 0) return void problems.push({ path, message: 'must not be empty' });
  if (v.length > opts.max) return void problems.push({ path, message: `must be at most ${opts.max} characters` });
  if (opts.re && !opts.re.test(v)) problems.push({ path, message: opts.reMessage ?? 'has an invalid format' });
}

/**
 * Lists every problem of `input` as an envelope (empty when valid). Never throws.
 */
export function eventProblems(input: unknown): EventProblem[] {
  return collectProblems(input, {});
}

/**
 * `fromJson`: the input was just parsed from JSON (it is serializable by construction);
 * `bytes`: its encoded size is already known (or -1: the caller checks it after encoding). Both
 * only skip work (a second JSON.stringify per event on the hot path), never a check.
 */
function collectProblems(
  input: unknown,
  o: { fromJson?: boolean; bytes?: number; payloadSerializable?: boolean },
): EventProblem[] {
  const problems: EventProblem[] = [];
  if (!isPlainObject(input)) return [{ path: '', message: 'must be a JSON object' }];
  for (const key of Object.keys(input)) {
    if (!TOP_LEVEL.has(key)) problems.push({ path: `/${key}`, message: 'is not an envelope field' });
  }
  checkString(problems, input, 'eventId', {
    required: true,
    max: 26,
    re: ULID_RE,
    reMessage: 'must be a ULID (26 upper-case Crockford base32 chars)',
  });
  checkString(problems, input, 'tenant', {
    required: true,
    max: 128,
    re: TENANT_ID_PATTERN,
    reMessage: 'must match [A-Za-z0-9][A-Za-z0-9._-]*',
  });
  checkString(problems, input, 'kind', {
    required: true,
    max: 300,
    re: KIND_RE,
    reMessage: 'must be dotted lower-case tokens [a-z][a-z0-9_-]* (at most 10)',
  });
  checkString(problems, input, 'source', { required: true, max: 256 });
  checkString(problems, input, 'subject', { required: false, max: 1024 });
  checkString(problems, input, 'correlationId', { required: false, max: 256 });
  checkString(problems, input, 'traceId', {
    required: false,
    max: 32,
    re: TRACE_ID_RE,
    reMessage: 'must be a W3C trace-id (32 lower-case hex, not all zero)',
  });
  checkString(problems, input, 'actor', { required: false, max: 256 });
  const occurredAt = input['occurredAt'];
  if (occurredAt === undefined) problems.push({ path: '/occurredAt', message: 'is required' });
  else if (typeof occurredAt !== 'string' || !isRfc3339(occurredAt)) {
    problems.push({ path: '/occurredAt', message: 'must be an RFC 3339 date-time' });
  }
  const attributes = input['attributes'];
  if (attributes !== undefined) {
    if (!isPlainObject(attributes)) problems.push({ path: '/attributes', message: 'must be an object' });
    else {
      const keys = Object.keys(attributes);
      if (keys.length > 64) problems.push({ path: '/attributes', message: 'must have at most 64 keys' });
      for (const k of keys) {
        const v = attributes[k];
        if (k.length === 0 || k.length > 128)
          problems.push({ path: `/attributes/${k}`, message: 'key must be 1..128 characters' });
        const ok =
          typeof v === 'string'
            ? v.length <= 4096
            : typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
        if (!ok)
          problems.push({
            path: `/attributes/${k}`,
            message: 'must be a string (<= 4096 chars), finite number or boolean',
          });
      }
    }
  }
  const evidence = input['evidence'];
  if (evidence !== undefined) {
    if (!Array.isArray(evidence)) problems.push({ path: '/evidence', message: 'must be an array' });
    else {
      if (evidence.length > 256) problems.push({ path: '/evidence', message: 'must have at most 256 items' });
      evidence.forEach((item: unknown, i) => {
        const base = `/evidence/${i}`;
        if (!isPlainObject(item)) return void problems.push({ path: base, message: 'must be an object' });
        for (const key of Object.keys(item)) {
          if (!EVIDENCE_KEYS.has(key)) problems.push({ path: `${base}/${key}`, message: 'is not an evidence field' });
        }
        checkString(problems, item, 'digest', {
          required: true,
          max: 71,
          re: DIGEST_RE,
          reMessage: 'must be sha256:<64 lower-case hex>',
          path: `${base}/digest`,
        });
        checkString(problems, item, 'manifestDigest', {
          required: false,
          max: 71,
          re: DIGEST_RE,
          reMessage: 'must be sha256:<64 lower-case hex>',
          path: `${base}/manifestDigest`,
        });
        checkString(problems, item, 'bundleId', { required: false, max: 256, path: `${base}/bundleId` });
        checkString(problems, item, 'attestationSubject', {
          required: false,
          max: 1024,
          path: `${base}/attestationSubject`,
        });
      });
    }
  }
  if (!o.fromJson && !o.payloadSerializable && input['payload'] !== undefined) {
    // A payload with a BigInt, a cycle or only a function is not an event.
    let ok = true;
    try {
      ok = JSON.stringify(input['payload']) !== undefined;
    } catch {
      ok = false;
    }
    if (!ok) problems.push({ path: '/payload', message: 'must be JSON-serializable' });
  }
  if (problems.length === 0 && o.bytes !== -1) {
    const bytes = o.bytes ?? Buffer.byteLength(JSON.stringify(input), 'utf8');
    sizeProblem(problems, bytes);
  }
  return problems;
}

function sizeProblem(problems: EventProblem[], bytes: number): void {
  if (bytes > MAX_EVENT_BYTES)
    problems.push({ path: '', message: `encodes to ${bytes} bytes, more than ${MAX_EVENT_BYTES}` });
}

function throwProblems(problems: EventProblem[]): never {
  const first = problems[0]!;
  throw new StellaError(
    'EVENT_INVALID',
    `invalid event envelope: ${first.path || '(root)'} ${first.message}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`,
    {
      details: { problems },
    },
  );
}

/**
 * Validates `input` as an envelope and returns it typed. Throws `EVENT_INVALID` whose
 * `details.problems` lists every problem (not only the first), so a producer fixes all at once.
 */
export function validateEvent(input: unknown): EventEnvelope {
  const problems = eventProblems(input);
  if (problems.length > 0) throwProblems(problems);
  return input as EventEnvelope;
}

/**
 * True when `JSON.stringify(payload)` cannot return `undefined`: null, a string, number or
 * boolean, or an object without `toJSON` (such an object stringifies to text or throws). Only
 * functions, symbols, bigints and `toJSON` objects need the separate payload check.
 */
function payloadNeverUndefined(payload: unknown): boolean {
  const t = typeof payload;
  if (t === 'string' || t === 'number' || t === 'boolean') return true;
  return t === 'object' && (payload === null || typeof (payload as { toJSON?: unknown }).toJSON !== 'function');
}

/**
 * Validates and encodes an envelope as its wire JSON text; `EVENT_INVALID` when it is not one.
 * The adapters that carry text (memory, Redis) use this directly, so an event is stringified
 * once per publish: the whole-envelope `JSON.stringify` doubles as the payload serializability
 * check when it succeeds and the payload cannot stringify to `undefined`; otherwise the full
 * per-field check runs exactly as before, so the reported problems do not change.
 */
export function encodeEventJson(event: EventEnvelope): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch {
    json = undefined; // a BigInt or a cycle somewhere: let the full check name the field
  }
  const payload = (event as { payload?: unknown } | null)?.payload;
  const payloadSerializable = json !== undefined && (payload === undefined || payloadNeverUndefined(payload));
  const problems = collectProblems(event, { bytes: -1, payloadSerializable });
  if (problems.length === 0 && json === undefined) problems.push({ path: '', message: 'must be JSON-serializable' });
  if (problems.length > 0 || json === undefined) throwProblems(problems);
  sizeProblem(problems, Buffer.byteLength(json, 'utf8'));
  if (problems.length > 0) throwProblems(problems);
  return json;
}

/** Validates and encodes an envelope for the wire (UTF-8 JSON); `EVENT_INVALID` when it is not one. */
export function encodeEvent(event: EventEnvelope): Uint8Array {
  return Buffer.from(encodeEventJson(event), 'utf8');
}

/** Decodes and validates wire bytes; `EVENT_INVALID` when they are not JSON or not an envelope. */
export function decodeEvent(bytes: Uint8Array | string): EventEnvelope {
  const text =
    typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StellaError('EVENT_INVALID', 'event bytes are not JSON', {
      details: { problems: [{ path: '', message: 'is not JSON' }] },
      cause: err,
    });
  }
  const problems = collectProblems(parsed, {
    fromJson: true,
    bytes: typeof bytes === 'string' ? Buffer.byteLength(bytes, 'utf8') : bytes.byteLength,
  });
  if (problems.length > 0) throwProblems(problems);
  return parsed as EventEnvelope;
}

/** The dedupe key used everywhere: `<tenant>:<eventId>` (also the NATS `Nats-Msg-Id`). */
export function eventKey(event: Pick<EventEnvelope, 'tenant' | 'eventId'>): string {
  return `${event.tenant}:${event.eventId}`;
}

// Monotonic within one process so events created in the same millisecond still sort in
// creation order (ULID spec "Monotonicity").
const nextUlid = monotonicFactory();

/** Fields a producer supplies; `eventId` and `occurredAt` default to a fresh ULID and now. */
export type NewEventInit = Omit<EventEnvelope, 'eventId' | 'occurredAt'> & {
  eventId?: string;
  occurredAt?: string | Date;
};

/** Builds and validates a new envelope (throws `EVENT_INVALID` on bad input). */
export function newEvent(init: NewEventInit): EventEnvelope {
  const { eventId, occurredAt, ...rest } = init;
  const now = Date.now();
  const at =
    occurredAt === undefined
      ? new Date(now).toISOString()
      : occurredAt instanceof Date
        ? occurredAt.toISOString()
        : occurredAt;
  const event: Record<string, unknown> = { eventId: eventId ?? nextUlid(now), occurredAt: at };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) event[k] = v;
  return validateEvent(event);
}
