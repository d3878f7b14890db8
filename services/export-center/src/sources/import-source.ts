/**
 * One import: an input stream of one kind → its format's importer → batched ledger appends →
 * a summary `{imported, unchanged, rejected}` (issue #10 item 1). Rejected records are reported
 * with their position and skipped; everything else is appended in batches of `batchSize`, each
 * batch its own transaction (a 200 MB file never holds the ledger lock for the whole file, and an
 * interrupted import resumes by running it again: what was appended comes back `unchanged`).
 */
import type { Queryable } from '@stella/platform/db';
import { StellaError } from '@stella/core/errors';
import type { SourceKind } from './source-record.js';
import { appendSourceRecords, type ImportScope } from './source-store.js';
import type { NewSourceRecord, Rejection, SourceFormat, SourceImporter } from './importers/importer.js';
import { detectFormat, importerOf } from './importers/registry.js';
import { peekPrefix } from './importers/json-stream.js';

export interface ImportSummary {
  imported: number;
  unchanged: number;
  /** The first `maxRejections` rejections, in input order. */
  rejected: Rejection[];
  /** All rejections, also those past `maxRejections`. */
  rejectedCount: number;
  /** The highest ledger sequence this import wrote (0 when it wrote nothing). */
  ledgerSeq: bigint;
  format: SourceFormat;
}

export interface ImportOptions {
  readonly kind: SourceKind;
  /** Default: detected from the start of the input. */
  readonly format?: SourceFormat;
  readonly scope: ImportScope;
  /** Runs `fn` in one tenant transaction of `scope.tenant` (db.withTenant, or a request's context). */
  readonly transaction: <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>;
  readonly batchSize?: number;
  /** Called after each batch (for progress). */
  readonly onBatch?: (summary: Readonly<ImportSummary>) => void;
  /** Most rejections kept in the summary (the count goes on: `rejectedCount`). */
  readonly maxRejections?: number;
}

export const DEFAULT_IMPORT_BATCH = 500;
export const DEFAULT_MAX_REJECTIONS = 1000;

export async function importSource(input: AsyncIterable<Uint8Array>, o: ImportOptions): Promise<ImportSummary> {
  if (o.scope.global && o.kind !== 'advisory') {
    throw new StellaError('SOURCE_GLOBAL_FORBIDDEN', 'only advisories can be global');
  }
  const peeked = await peekPrefix(input, 64 * 1024);
  const format = o.format ?? detectFormat(o.kind, peeked.prefix);
  const importer: SourceImporter = importerOf(format);
  if (!importer.kinds.includes(o.kind)) {
    throw new StellaError('SOURCE_FORMAT_UNKNOWN', `format ${format} does not carry ${o.kind} records`, {
      details: { kind: o.kind, format },
    });
  }
  const summary: ImportSummary = { imported: 0, unchanged: 0, rejected: [], rejectedCount: 0, ledgerSeq: 0n, format };
  const maxRejections = o.maxRejections ?? DEFAULT_MAX_REJECTIONS;
  const reject = (r: Rejection) => {
    summary.rejectedCount++;
    if (summary.rejected.length < maxRejections) summary.rejected.push(r);
  };
  const batchSize = o.batchSize ?? DEFAULT_IMPORT_BATCH;
  let batch: NewSourceRecord[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    const outcomes = await o.transaction((tx) => appendSourceRecords(tx, o.scope, records));
    for (const out of outcomes) {
      if (out.status === 'imported') {
        summary.imported++;
        if (out.ledgerSeq > summary.ledgerSeq) summary.ledgerSeq = out.ledgerSeq;
      } else summary.unchanged++;
    }
    o.onBatch?.(summary);
  };
  try {
    for await (const item of importer.read(peeked.input, o.kind)) {
      if ('rejection' in item) {
        reject(item.rejection);
        continue;
      }
      batch.push(item.record);
      if (batch.length >= batchSize) await flush();
    }
  } catch (err) {
    // A syntax error ends the file: what was read before it is still appended, and the error
    // becomes the last rejection (with its position).
    if (!(err instanceof StellaError) || err.code !== 'SOURCE_SYNTAX') throw err;
    const position = (err.details as { position?: string } | undefined)?.position ?? 'document';
    reject({ position, code: err.code, message: err.message });
  }
  await flush();
  return summary;
}
