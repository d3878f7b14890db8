/**
 * INTERIM (removed when the sources ledger lands on this branch): a ledger over an in-memory
 * record list — just enough for the run state machine tests before the real ledger.
 */
import type { LedgerReader, OpenLedger, SourceFilter, SourceRecord } from '../sources/source-record.js';

export function memoryLedger(records: SourceRecord[]): OpenLedger {
  return (_db, tenant): LedgerReader => {
    const visible = (filter: SourceFilter, at: bigint) => {
      const latest = new Map<string, SourceRecord>();
      for (const r of records)
        if ((r.tenant === tenant || r.tenant === null) && r.ledgerSeq <= at && filter.kinds.includes(r.kind))
          latest.set(`${r.kind}\u0000${r.recordId}`, r);
      return [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    };
    return {
      head: () => Promise.resolve(records.reduce((m, r) => (r.ledgerSeq > m ? r.ledgerSeq : m), 0n)),
      async *iterate(filter, at, signal) {
        for (const r of visible(filter, at)) {
          signal?.throwIfAborted();
          yield r;
        }
      },
      count: (filter, at) => {
        const v = visible(filter, at);
        return Promise.resolve({
          records: v.length,
          bytes: v.reduce((n, r) => n + JSON.stringify(r.document).length, 0),
        });
      },
    };
  };
}
