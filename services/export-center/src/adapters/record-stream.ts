/**
 * Streaming helpers shared by the adapters. The ledger yields records ordered by (kind, recordId)
 * (sources/source-record.ts `LedgerReader.iterate`), so the records of one kind are contiguous:
 * an adapter can write one file per kind in a single pass, holding one record at a time.
 */
import { canonicalJcsBytes, canonicalizeJcs, type JsonValue } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import type { SourceKind, SourceRecord } from '../sources/source-record.js';
import type { AdapterInput } from './adapter.js';

/** How often progress is reported (records). */
const PROGRESS_EVERY = 500;
/** Lines are gathered into chunks of about this size before compression and writing. */
const CHUNK_BYTES = 64 * 1024;

export interface KindGroup {
  readonly kind: SourceKind;
  /** The records of this kind; consume it fully before taking the next group. */
  readonly records: AsyncIterable<SourceRecord>;
}

/** Consumed-record counter that drives `input.progress` and honours `input.signal`. */
export class RecordCursor {
  private done = 0;
  constructor(private readonly input: Pick<AdapterInput, 'signal' | 'progress'>) {}

  /** Call once per record consumed. Throws `signal.reason` when the run was cancelled. */
  step(): void {
    this.input.signal.throwIfAborted();
    this.done++;
    if (this.done % PROGRESS_EVERY === 0) this.input.progress(this.done);
  }

  get count(): number {
    return this.done;
  }

  finish(): void {
    this.input.progress(this.done);
  }
}

/**
 * Splits the ordered record stream into one group per kind, lazily. A kind that shows up again
 * after another kind means the stream was not ordered as the ledger promises: INTERNAL.
 */
export async function* kindGroups(
  records: AsyncIterable<SourceRecord>,
  cursor: RecordCursor,
): AsyncGenerator<KindGroup> {
  const it = records[Symbol.asyncIterator]();
  const seen = new Set<SourceKind>();
  let next = await it.next();
  while (!next.done) {
    const kind = next.value.kind;
    if (seen.has(kind))
      throw new StellaError('INTERNAL', `records of kind ${kind} are not contiguous: the ledger order was broken`);
    seen.add(kind);
    yield {
      kind,
      records: (async function* () {
        while (!next.done && next.value.kind === kind) {
          cursor.step();
          yield next.value;
          next = await it.next();
        }
      })(),
    };
  }
}

/** Concatenates the byte lines produced for each item into chunks of about 64 KiB. */
export async function* chunkedLines<T>(
  items: AsyncIterable<T>,
  line: (item: T) => Uint8Array,
): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  const newline = new Uint8Array([0x0a]);
  for await (const item of items) {
    const bytes = line(item);
    parts.push(bytes, newline);
    size += bytes.byteLength + 1;
    if (size >= CHUNK_BYTES) {
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts);
}

/**
 * A record as one JSON value (docs/formats/export-bundle.md "json:raw"): the ledger's fields and
 * the document. `ledgerSeq` is a decimal string (a bigint is not a JSON number).
 */
export function rawRecordJson(r: SourceRecord): JsonValue {
  return {
    kind: r.kind,
    recordId: r.recordId,
    tenant: r.tenant,
    project: r.project,
    ledgerSeq: r.ledgerSeq.toString(10),
    digest: r.digest,
    format: r.format,
    ecosystem: r.ecosystem,
    packages: [...r.packages],
    severity: r.severity,
    modifiedAt: r.modifiedAt,
    document: r.document as JsonValue,
  };
}

/** RFC 8785 bytes of a JSON value: one JSONL line (never contains a raw newline). */
export const canonicalLine = (value: unknown): Uint8Array => canonicalJcsBytes(value);

/** RFC 8785 bytes of a record's document: the stored canonical text when the reader has it. */
export function documentBytes(r: SourceRecord): Uint8Array {
  return r.canonicalDocument !== undefined ? Buffer.from(r.canonicalDocument, 'utf8') : canonicalLine(r.document);
}

/**
 * The json:raw line of a record: exactly `canonicalLine(rawRecordJson(r))`. When the record
 * carries its stored RFC 8785 text (`canonicalDocument`, from the ledger) that text is spliced in
 * instead of parsing and re-canonicalising the document — the same bytes, because RFC 8785
 * output is a fixed point (parse + canonicalise gives it back) and a nested value's canonical
 * form does not depend on where it stands. In RFC 8785 key order "digest" < "document" < every
 * other field, so the line is `{"digest":…,"document":<stored>,` + the rest's members.
 */
export function rawRecordLine(r: SourceRecord): Uint8Array {
  if (r.canonicalDocument === undefined) return canonicalLine(rawRecordJson(r));
  const rest = canonicalizeJcs({
    kind: r.kind,
    recordId: r.recordId,
    tenant: r.tenant,
    project: r.project,
    ledgerSeq: r.ledgerSeq.toString(10),
    format: r.format,
    ecosystem: r.ecosystem,
    packages: [...r.packages],
    severity: r.severity,
    modifiedAt: r.modifiedAt,
  });
  return Buffer.from(
    `{"digest":${canonicalizeJcs(r.digest)},"document":${r.canonicalDocument},${rest.slice(1)}`,
    'utf8',
  );
}
