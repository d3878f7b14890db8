/**
 * The ledger reader (contract: source-record.ts `LedgerReader`): a tenant's records — its own and
 * the global advisories — as they were at one pinned ledger sequence. Sequences are
 * commit-ordered (migration 0002: appends are serialized by a transaction-level advisory lock),
 * so everything at or below `head()` is committed and a later import can only get a higher one.
 *
 * `iterate` reads two keyset-paged streams — the tenant's rows and the global rows — each page
 * its own short `withTenant` transaction using the (tenant_id, kind, record_id, ledger_seq)
 * index, and merges them in (kind, recordId) byte order (global first on a tie: a tenant's own
 * record with the id of a global one is a separate record, and both are read).
 */
import { StellaError } from '@stella/core/errors';
import { compareUtf8 } from '@stella/core/tar';
import type { Db, Queryable } from '@stella/platform/db';
import type { LedgerReader, OpenLedger, SourceFilter, SourceKind, SourceRecord, Severity } from './source-record.js';

/** Records per page (one transaction each). */
export const LEDGER_PAGE_SIZE = 500;

type Scope = 'tenant' | 'global';

type Row = {
  seq: string;
  tenant_id: string | null;
  kind: SourceKind;
  record_id: string;
  project: string | null;
  digest: string;
  format: string;
  ecosystem: string | null;
  packages: string[];
  severity: Severity;
  modified_at: Date | string | null;
  document: string;
};

/** SQL conditions on the latest version of each record, and their parameters from `$first` on. */
export function filterConditions(filter: SourceFilter, params: unknown[]): string[] {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (filter.ecosystems) where.push(`ecosystem = ANY(${p([...filter.ecosystems])}::text[])`);
  if (filter.packages) where.push(`packages && ${p([...filter.packages])}::text[]`);
  if (filter.severities) where.push(`severity = ANY(${p([...filter.severities])}::text[])`);
  if (filter.modifiedSince !== undefined) {
    if (Number.isNaN(Date.parse(filter.modifiedSince))) {
      throw new StellaError('VALIDATION_FAILED', `modifiedSince is not an ISO 8601 time: ${filter.modifiedSince}`);
    }
    where.push(`modified_at >= ${p(filter.modifiedSince)}::timestamptz`);
  }
  if (filter.projects) where.push(`project = ANY(${p([...filter.projects])}::text[])`);
  if (filter.sample) {
    const { rate, seed } = filter.sample;
    if (!(rate >= 0 && rate <= 1))
      throw new StellaError('VALIDATION_FAILED', `sample rate ${rate} is not within [0, 1]`);
    if (rate < 1) {
      // Kept iff the first 8 bytes of sha256(seed \n kind \n recordId), big-endian, are below
      // rate × 2^64. Both sides are 8-byte strings, so bytea order is the integer order.
      where.push(
        `substring(sha256(convert_to(${p(seed)} || E'\\n' || kind || E'\\n' || record_id, 'UTF8')) from 1 for 8) < ${p(sampleThreshold(rate))}::bytea`,
      );
    }
  }
  return where;
}

/** floor(rate × 2^64) as 8 big-endian bytes (rate < 1; a double times 2^64 is exact). */
export function sampleThreshold(rate: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(Math.floor(rate * 2 ** 64)));
  return out;
}

/**
 * One page of one kind: `kind = $1` (not `= ANY(kinds)`) and a keyset on record_id alone, so the
 * (tenant_id, kind, record_id, ledger_seq DESC) index yields the rows already in DISTINCT ON
 * order and the LIMIT stops the scan — no sort of everything after the cursor on every page
 * (which made a 100 000-record export quadratic: bench/export, docs/benchmarks.md).
 */
async function fetchPage(
  tx: Queryable,
  tenant: string,
  scope: Scope,
  kind: SourceKind,
  filter: SourceFilter,
  atSeq: bigint,
  after: string | null,
  limit: number,
): Promise<Row[]> {
  const params: unknown[] = [kind, atSeq.toString()];
  let inner = 'kind = $1 AND ledger_seq <= $2::bigint';
  if (scope === 'tenant') {
    params.push(tenant);
    inner += ` AND tenant_id = $${params.length}`;
  } else inner += ' AND tenant_id IS NULL';
  if (after !== null) {
    params.push(after);
    inner += ` AND record_id > $${params.length}`;
  }
  const where = filterConditions(filter, params);
  params.push(limit);
  const r = await tx.query<Row>(
    `SELECT ledger_seq::text AS seq, tenant_id, kind, record_id, project, digest, format, ecosystem, packages,
            severity, modified_at, document
       FROM (SELECT DISTINCT ON (record_id) *
               FROM export_center.source_records
              WHERE ${inner}
              ORDER BY record_id, ledger_seq DESC) latest
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY record_id
      LIMIT $${params.length}`,
    params,
  );
  return r.rows;
}

function toRecord(row: Row): SourceRecord {
  const modified = row.modified_at;
  let parsed: { value: unknown } | undefined;
  return {
    kind: row.kind,
    recordId: row.record_id,
    tenant: row.tenant_id,
    project: row.project,
    ledgerSeq: BigInt(row.seq),
    digest: row.digest,
    format: row.format,
    ecosystem: row.ecosystem,
    packages: row.packages,
    severity: row.severity,
    modifiedAt: modified === null ? null : new Date(modified).toISOString(),
    // Parsed on first use only: json:raw and mirror:full write `canonicalDocument` as it is.
    get document(): unknown {
      parsed ??= { value: JSON.parse(row.document) as unknown };
      return parsed.value;
    },
    canonicalDocument: row.document,
  };
}

/** Byte order of (kind, recordId) — what COLLATE "C" sorts by; global before tenant on a tie. */
function compareRecords(a: SourceRecord, b: SourceRecord): number {
  return (
    Buffer.compare(Buffer.from(a.kind), Buffer.from(b.kind)) ||
    Buffer.compare(Buffer.from(a.recordId), Buffer.from(b.recordId)) ||
    (a.tenant === null ? -1 : 0) - (b.tenant === null ? -1 : 0)
  );
}

/** One scope's records in (kind, recordId) byte order, a page (one transaction) at a time. */
async function* scopeStream(
  db: Db,
  tenant: string,
  scope: Scope,
  filter: SourceFilter,
  atSeq: bigint,
  pageSize: number,
  signal?: AbortSignal,
): AsyncGenerator<SourceRecord> {
  for (const kind of [...new Set(filter.kinds)].sort(compareUtf8)) {
    let after: string | null = null;
    for (;;) {
      signal?.throwIfAborted();
      const cursor = after;
      const rows: Row[] = await db.withTenant(tenant, (tx) =>
        fetchPage(tx, tenant, scope, kind, filter, atSeq, cursor, pageSize),
      );
      for (const row of rows) yield toRecord(row);
      if (rows.length < pageSize) break;
      after = rows[rows.length - 1]!.record_id;
    }
  }
}

export function openLedgerReader(db: Db, tenant: string, pageSize = LEDGER_PAGE_SIZE): LedgerReader {
  return {
    async head() {
      const r = await db.withTenant(tenant, (tx) =>
        tx.query<{ head: string }>(
          `SELECT greatest(
                    (SELECT max(ledger_seq) FROM export_center.source_records WHERE tenant_id = $1),
                    (SELECT max(ledger_seq) FROM export_center.source_records WHERE tenant_id IS NULL),
                    0)::text AS head`,
          [tenant],
        ),
      );
      return BigInt(r.rows[0]!.head);
    },

    async *iterate(filter, atSeq, signal) {
      if (filter.kinds.length === 0) return;
      filterConditions(filter, []); // validate before the first page
      const own = scopeStream(db, tenant, 'tenant', filter, atSeq, pageSize, signal);
      const global = filter.kinds.includes('advisory')
        ? scopeStream(db, tenant, 'global', { ...filter, kinds: ['advisory'] }, atSeq, pageSize, signal)
        : null;
      let a = await own.next();
      let g = global ? await global.next() : ({ done: true, value: undefined } as const);
      try {
        while (!a.done || !g.done) {
          signal?.throwIfAborted();
          if (g.done || (!a.done && compareRecords(a.value, g.value) < 0)) {
            yield a.value as SourceRecord;
            a = await own.next();
          } else {
            yield g.value;
            g = await global!.next();
          }
        }
      } finally {
        await own.return(undefined);
        await global?.return(undefined);
      }
    },

    async count(filter, atSeq) {
      if (filter.kinds.length === 0) return { records: 0, bytes: 0 };
      const params: unknown[] = [tenant, [...filter.kinds], atSeq.toString()];
      const where = filterConditions(filter, params);
      const r = await db.withTenant(tenant, (tx) =>
        tx.query<{ n: string; b: string }>(
          `SELECT count(*)::text AS n, coalesce(sum(document_bytes), 0)::text AS b
             FROM (SELECT DISTINCT ON (tenant_id, kind, record_id) *
                     FROM export_center.source_records
                    WHERE (tenant_id = $1 OR (tenant_id IS NULL AND kind = 'advisory'))
                      AND kind = ANY($2::text[]) AND ledger_seq <= $3::bigint
                    ORDER BY tenant_id, kind, record_id, ledger_seq DESC) latest
            ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`,
          params,
        ),
      );
      return { records: Number(r.rows[0]!.n), bytes: Number(r.rows[0]!.b) };
    },
  };
}

/** The contract's `OpenLedger`. */
export const openLedger: OpenLedger = (db, tenant) => openLedgerReader(db, tenant);
