/**
 * What every importer produces (issue #10 item 1): a stream of source records, each already in
 * the ledger's shape (canonical JSON, digest, byte size), or a rejection naming where in the
 * input the bad record was. One importer per input format, one module each; docs/export/sources.md
 * says how each format maps onto a record.
 */
import { canonicalizeJcs, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { isStellaError, StellaError, type ErrorCode } from '@stella/core/errors';
import { SEVERITIES, type Severity, type SourceKind } from '../source-record.js';

export const SOURCE_FORMATS = [
  'osv',
  'alpine-secdb',
  'openvex',
  'csaf',
  'cyclonedx',
  'spdx',
  'findings',
  'policy-pack',
  'maven-index',
] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** A record ready to append (the ledger adds tenant, project and sequence). */
export interface NewSourceRecord {
  readonly kind: SourceKind;
  readonly recordId: string;
  readonly format: SourceFormat;
  readonly ecosystem: string | null;
  readonly packages: readonly string[];
  readonly severity: Severity;
  readonly modifiedAt: string | null;
  /** The RFC 8785 text of the document: what is stored, hashed and counted. */
  readonly canonical: string;
  /** `sha256:<hex>` of `canonical` (UTF-8). */
  readonly digest: string;
  /** UTF-8 length of `canonical`. */
  readonly bytes: number;
}

/** A record the importer refused; the rest of the input goes on. */
export interface Rejection {
  /** Where: `line 12`, `[3]` (array index), `packages[7]`, `document`, `byte 1024` … */
  readonly position: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export type ImportItem =
  { readonly record: NewSourceRecord; readonly position: string } | { readonly rejection: Rejection };

/** A format reader: bytes in, records and rejections out, in input order. */
export interface SourceImporter {
  readonly format: SourceFormat;
  /** The kinds this format can carry (CycloneDX: an SBOM, or VEX when it states analyses). */
  readonly kinds: readonly SourceKind[];
  read(input: AsyncIterable<Uint8Array>, kind: SourceKind): AsyncIterable<ImportItem>;
}

/** The fields a mapper extracts from one document. */
export interface RecordFields {
  readonly recordId: string;
  readonly ecosystem?: string | null;
  readonly packages?: readonly string[];
  readonly severity?: Severity;
  readonly modifiedAt?: string | null;
}

/** Most a single record may hold (its canonical bytes); larger ones are rejected, not stored. */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

export function invalidRecord(message: string, details?: Record<string, unknown>): StellaError {
  return new StellaError('SOURCE_RECORD_INVALID', message, details ? { details } : {});
}

/** Builds the stored record: canonical text, digest, size, normalized fields. */
export function sourceRecord(
  kind: SourceKind,
  format: SourceFormat,
  document: JsonValue,
  fields: RecordFields,
): NewSourceRecord {
  if (typeof fields.recordId !== 'string' || fields.recordId.length === 0 || fields.recordId.length > 1024) {
    throw invalidRecord('the record has no usable id (a non-empty string of at most 1024 characters)');
  }
  const canonical = canonicalizeJcs(document); // JSON_INVALID for values outside I-JSON
  const bytes = Buffer.byteLength(canonical, 'utf8');
  if (bytes > MAX_RECORD_BYTES) {
    throw new StellaError('SOURCE_RECORD_TOO_LARGE', `the record is ${bytes} bytes; at most ${MAX_RECORD_BYTES}`, {
      details: { bytes, limit: MAX_RECORD_BYTES },
    });
  }
  return {
    kind,
    recordId: fields.recordId,
    format,
    ecosystem: fields.ecosystem ?? null,
    packages: [...new Set(fields.packages ?? [])].filter((p) => p.length > 0).sort(byteOrder),
    severity: fields.severity ?? 'unknown',
    modifiedAt: normalizeTime(fields.modifiedAt ?? null),
    canonical,
    digest: sha256Digest(canonical),
    bytes,
  };
}

/** Code-unit order = byte order for the ASCII ids we sort; stable everywhere (no locale). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** ISO 8601 UTC (millisecond precision) or null when absent or unparsable. */
export function normalizeTime(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** The highest of several severities (critical > high > medium > low > none > unknown). */
export function highestSeverity(values: Iterable<Severity>): Severity {
  let best: Severity = 'unknown';
  for (const v of values) if (SEVERITIES.indexOf(v) < SEVERITIES.indexOf(best)) best = v;
  return best;
}

/** A severity word as formats spell it (`HIGH`, `Moderate`, `important` …) → ours. */
export function severityWord(value: unknown): Severity | undefined {
  if (typeof value !== 'string') return undefined;
  switch (value.trim().toLowerCase()) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important':
      return 'high';
    case 'medium':
    case 'moderate':
      return 'medium';
    case 'low':
      return 'low';
    case 'none':
    case 'info':
    case 'informational':
      return 'none';
    default:
      return undefined;
  }
}

/** A CVSS base score → its qualitative rating (CVSS v3.1/v4.0 specification, table "Qualitative Severity Rating Scale"). */
export function severityOfScore(score: number): Severity {
  if (!Number.isFinite(score) || score < 0 || score > 10) return 'unknown';
  if (score === 0) return 'none';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

/** A rejection from what a mapper threw (coded errors keep their code; anything else is a bug). */
export function rejectionOf(position: string, err: unknown): Rejection {
  if (isStellaError(err)) return { position, code: err.code, message: err.message };
  throw err;
}

export function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
