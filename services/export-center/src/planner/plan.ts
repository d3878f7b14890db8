/**
 * The planner's dry run (issue #10 §3, `POST /v1/exports/plan`): what a run of a profile would
 * export if it started now — the ledger head it would pin, the records per source kind and their
 * document bytes (RFC 8785, before compression: an upper bound of the data files' size). Counts
 * come from the same ledger reader and filter the run uses, so plan and run agree.
 * A filter that matches nothing is a valid, empty plan (and an empty export), not an error.
 */
import type { LedgerReader, SourceFilter, SourceKind } from '../sources/source-record.js';

export interface ExportPlan {
  /** The ledger head a run would pin now (decimal string: it may pass 2^53). */
  ledgerSeq: string;
  records: number;
  /** Document bytes (RFC 8785) of the selected records: the data files' size before compression. */
  estimatedBytes: number;
  byKind: { kind: SourceKind; records: number; bytes: number }[];
  empty: boolean;
}

export async function planExport(ledger: LedgerReader, filter: SourceFilter): Promise<ExportPlan> {
  const head = await ledger.head();
  const byKind = [];
  for (const kind of filter.kinds) {
    const c = await ledger.count({ ...filter, kinds: [kind] }, head);
    byKind.push({ kind, records: c.records, bytes: c.bytes });
  }
  const records = byKind.reduce((n, k) => n + k.records, 0);
  return {
    ledgerSeq: head.toString(),
    records,
    estimatedBytes: byKind.reduce((n, k) => n + k.bytes, 0),
    byKind,
    empty: records === 0,
  };
}
