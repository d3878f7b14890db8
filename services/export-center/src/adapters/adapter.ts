/**
 * The adapter seam (issue #10 §5): one interface, one small module per adapter. An adapter turns
 * the records of a run's snapshot into the data files of an export bundle; the core (planner, run
 * worker, manifest writer) never knows which adapter it runs. Adding an adapter = one module plus
 * one line in adapters/registry.ts; no core code changes.
 */
import { StellaError, type ErrorCode } from '@stella/core/errors';
import type { SourceKind, SourceRecord } from '../sources/source-record.js';

/** One problem with a profile's adapter options (all are reported at once). */
export interface OptionProblem {
  /** JSON pointer into the options object, e.g. `/compression`. */
  readonly path: string;
  readonly message: string;
  /**
   * The error code of this problem when it has one of its own — the code the same mistake gets
   * where it is thrown alone (`EXPORT_ADAPTER_UNKNOWN` at `/adapter`).
   */
  readonly code?: ErrorCode;
}

/** The message of an unknown adapter id, the same wherever it is reported. */
export function unknownAdapterMessage(id: unknown, known: Iterable<string>): string {
  return `unknown adapter ${JSON.stringify(id)}; known: ${[...known].sort().join(', ')}`;
}

/**
 * EXPORT_ADAPTER_UNKNOWN for an id no adapter has: thrown by a direct lookup, and the `code`
 * of the `/adapter` problem when a profile names it (profiles/profile.ts).
 */
export function unknownAdapter(id: unknown, known: Iterable<string>): StellaError {
  const ids = [...known].sort();
  return new StellaError('EXPORT_ADAPTER_UNKNOWN', unknownAdapterMessage(id, ids), {
    details: { adapter: String(id), known: ids },
  });
}

/** A file written into the bundle's staging area. */
export interface ExportFile {
  /** Bundle-relative POSIX path (core's archive-path rules), e.g. `data/advisories.jsonl.gz`. */
  readonly path: string;
  readonly mediaType: string;
  readonly size: number;
  /** `sha256:<hex>` of the bytes. */
  readonly digest: string;
}

/** Where an adapter writes its files: streamed to disk, hashed on the way (bundle/staging-sink.ts). */
export interface ExportFileSink {
  writeFile(path: string, body: AsyncIterable<Uint8Array> | Uint8Array, mediaType: string): Promise<ExportFile>;
}

export interface AdapterInput {
  /** The run's snapshot, in the ledger's deterministic order. */
  readonly records: AsyncIterable<SourceRecord>;
  /** The profile's options for this adapter, already validated by `validateOptions`. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly out: ExportFileSink;
  /** Aborted on cancel or lease loss: stop promptly and throw `signal.reason`. */
  readonly signal: AbortSignal;
  /** Called as records are consumed (cumulative count), for SSE progress. */
  progress(done: number): void;
  /** Fixed export time (ISO 8601) when the profile asks for one; otherwise no time in the bytes. */
  readonly exportTime: string | null;
}

export interface AdapterResult {
  /** Counts for the manifest, e.g. `{ advisory: 120, vex: 3, redactedFields: 7 }`; keys sorted by the writer. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface ExportAdapter {
  /** `<family>:<variant>`, e.g. `json:raw`, `mirror:full`; profiles name it. */
  readonly id: string;
  /** Goes into export.json; bump whenever the bytes an adapter writes change. */
  readonly version: string;
  /** Source kinds it can export; a profile asking for others is invalid. */
  readonly sourceKinds: readonly SourceKind[];
  /** Options with their defaults applied, or every problem at once. */
  validateOptions(
    options: unknown,
  ): { ok: true; options: Readonly<Record<string, unknown>> } | { ok: false; problems: OptionProblem[] };
  write(input: AdapterInput): Promise<AdapterResult>;
}
