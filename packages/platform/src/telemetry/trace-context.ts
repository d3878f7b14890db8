/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/ §3.2). We parse the
 * caller's header, keep its trace id, and mint our own span id, so a request can be followed
 * across services and the trace id shown in every error body (DESIGN.md §3 "HTTP habits").
 */
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  /** 32 lowercase hex, not all zeros. */
  readonly traceId: string;
  /** Our span id for this request: 16 lowercase hex. */
  readonly spanId: string;
  /** The caller's span id, when a valid `traceparent` came in. */
  readonly parentId?: string;
  /** Trace flags, 2 lowercase hex (`01` = sampled). */
  readonly flags: string;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a `traceparent` value; `undefined` when it is absent or invalid (§3.2.2: an invalid
 * header is ignored and a new trace is started). Future versions are parsed by their first four
 * fields as §3.2.4 requires; version `ff` is invalid.
 */
export function parseTraceparent(
  value: string | undefined,
): { traceId: string; parentId: string; flags: string } | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v.length < 55) return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return undefined;
  const [, traceId, parentId, flags] = v.slice(0, 55).split('-');
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  if (!traceId || !parentId || !flags) return undefined;
  if (traceId.length !== 32 || !HEX.test(traceId) || traceId === ZERO_TRACE) return undefined;
  if (parentId.length !== 16 || !HEX.test(parentId) || parentId === ZERO_SPAN) return undefined;
  if (flags.length !== 2 || !HEX.test(flags)) return undefined;
  return { traceId, parentId, flags };
}

/** A new span under the incoming trace, or a new trace when there is none. */
export function startTrace(traceparent: string | undefined): TraceContext {
  const parent = parseTraceparent(traceparent);
  const spanId = randomBytes(8).toString('hex');
  if (parent) {
    // Only the "sampled" bit is defined in version 00; other bits must not be propagated blindly.
    const flags = (parseInt(parent.flags, 16) & 0x01).toString(16).padStart(2, '0');
    return { traceId: parent.traceId, spanId, parentId: parent.parentId, flags };
  }
  return { traceId: randomBytes(16).toString('hex'), spanId, flags: '00' };
}

/** The version-00 `traceparent` for our span. */
export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}
