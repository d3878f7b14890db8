/**
 * The sources repository: the only module that writes `export_center.source_records` (migration
 * 0002; docs/export/sources.md). An import appends one new version per changed record, in the
 * caller's tenant transaction; a record whose digest (and project) equal its current version's is
 * `unchanged` and writes nothing, which makes every import idempotent by content digest.
 */
import type { Queryable } from '@stella/platform/db';
import type { NewSourceRecord } from './importers/importer.js';

/** Where the records go: the tenant's own rows, or (advisories only) the global ones. */
export interface ImportScope {
  readonly tenant: string;
  /** Write global advisories (tenant NULL). The caller must have authorized it. */
  readonly global: boolean;
  /** The project stamped on tenant records (never on global ones). */
  readonly project?: string | null;
}

export type AppendOutcome =
  | { readonly status: 'imported'; readonly ledgerSeq: bigint }
  | { readonly status: 'unchanged'; readonly ledgerSeq: bigint };

/**
 * The transaction-level advisory lock that orders ledger appends by commit (the same key the
 * table's trigger takes). Taken before reading the current versions so that "unchanged" is
 * decided against what no concurrent importer can change before this commit.
 */
const LEDGER_LOCK = 'SELECT pg_advisory_xact_lock(1398031692, 2)';

const keyOf = (kind: string, recordId: string) => `${kind}\n${recordId}`;

/**
 * Appends the changed records of `records` (one batch; same order in the outcomes). Must run in
 * a `withTenant` transaction of `scope.tenant`. Two entries of one batch for the same record are
 * compared in order, so a file carrying two versions of a record writes both.
 */
export async function appendSourceRecords(
  tx: Queryable,
  scope: ImportScope,
  records: readonly NewSourceRecord[],
): Promise<AppendOutcome[]> {
  if (records.length === 0) return [];
  if (scope.global && records.some((r) => r.kind !== 'advisory')) {
    throw new TypeError('only advisories may be global');
  }
  const project = scope.global ? null : (scope.project ?? null);
  await tx.query(LEDGER_LOCK);
  if (scope.global) await tx.query("SELECT set_config('app.sources_global', 'on', true)");

  const kinds = records.map((r) => r.kind);
  const ids = records.map((r) => r.recordId);
  const current = await tx.query<{
    kind: string;
    record_id: string;
    digest: string;
    project: string | null;
    seq: string;
  }>(
    `SELECT DISTINCT ON (s.kind, s.record_id) s.kind, s.record_id, s.digest, s.project, s.ledger_seq::text AS seq
       FROM export_center.source_records s
       JOIN unnest($1::text[], $2::text[]) AS k(kind, record_id) ON s.kind = k.kind AND s.record_id = k.record_id
      WHERE ${scope.global ? 's.tenant_id IS NULL' : 's.tenant_id = $3'}
      ORDER BY s.kind, s.record_id, s.ledger_seq DESC`,
    scope.global ? [kinds, ids] : [kinds, ids, scope.tenant],
  );
  // Per record key: the version a new entry is compared with — the stored one (its sequence
  // known) or one earlier in this batch (`pending`: its index in `records`).
  const latest = new Map<string, { digest: string; project: string | null; seq?: bigint; pending?: number }>();
  for (const row of current.rows) {
    latest.set(keyOf(row.kind, row.record_id), { digest: row.digest, project: row.project, seq: BigInt(row.seq) });
  }
  const plan: ({ insert: true } | { sameAs: number } | { seq: bigint })[] = records.map((record, index) => {
    const key = keyOf(record.kind, record.recordId);
    const prev = latest.get(key);
    if (prev && prev.digest === record.digest && prev.project === project) {
      return prev.seq !== undefined ? { seq: prev.seq } : { sameAs: prev.pending! };
    }
    latest.set(key, { digest: record.digest, project, pending: index });
    return { insert: true };
  });

  const inserts = records.filter((_, i) => 'insert' in plan[i]!);
  const seqs: bigint[] = [];
  if (inserts.length > 0) {
    const col = <T>(f: (r: NewSourceRecord) => T) => inserts.map(f);
    // One multi-row INSERT per batch; the trigger numbers the rows in this (array) order.
    const inserted = await tx.query<{ seq: string }>(
      `INSERT INTO export_center.source_records
         (tenant_id, kind, record_id, project, digest, format, ecosystem, packages, severity, modified_at, document, document_bytes)
       SELECT $1::text, u.kind, u.record_id, $2::text, u.digest, u.format, u.ecosystem,
              ARRAY(SELECT jsonb_array_elements_text(u.packages::jsonb)), u.severity, u.modified_at, u.document, u.bytes
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::timestamptz[], $11::text[], $12::int[]) WITH ORDINALITY
              AS u(kind, record_id, digest, format, ecosystem, packages, severity, modified_at, document, bytes, ord)
        ORDER BY u.ord
       RETURNING ledger_seq::text AS seq`,
      [
        scope.global ? null : scope.tenant,
        project,
        col((r) => r.kind),
        col((r) => r.recordId),
        col((r) => r.digest),
        col((r) => r.format),
        col((r) => r.ecosystem),
        col((r) => JSON.stringify(r.packages)),
        col((r) => r.severity),
        col((r) => r.modifiedAt),
        col((r) => r.canonical),
        col((r) => r.bytes),
      ],
    );
    // RETURNING order is not specified; the sequence order is the insert order (ORDER BY u.ord).
    seqs.push(...inserted.rows.map((r) => BigInt(r.seq)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  const outcomes: AppendOutcome[] = [];
  let next = 0;
  plan.forEach((step, i) => {
    if ('insert' in step) outcomes[i] = { status: 'imported', ledgerSeq: seqs[next++]! };
    else if ('seq' in step) outcomes[i] = { status: 'unchanged', ledgerSeq: step.seq };
    else outcomes[i] = { status: 'unchanged', ledgerSeq: outcomes[step.sameAs]!.ledgerSeq };
  });
  return outcomes as AppendOutcome[];
}

/** Per kind: how many current records (own + global) and the highest sequence, for `GET /v1/sources`. */
export async function sourceCounts(
  tx: Queryable,
  tenant: string,
): Promise<{ kind: string; records: number; globalRecords: number; headSeq: bigint }[]> {
  const r = await tx.query<{ kind: string; records: string; global_records: string; head: string }>(
    `SELECT kind, count(*) FILTER (WHERE tenant_id IS NOT NULL)::text AS records,
            count(*) FILTER (WHERE tenant_id IS NULL)::text AS global_records, max(head)::text AS head
       FROM (SELECT tenant_id, kind, record_id, max(ledger_seq) AS head FROM export_center.source_records
              WHERE tenant_id = $1 OR tenant_id IS NULL GROUP BY tenant_id, kind, record_id) latest
      GROUP BY kind ORDER BY kind`,
    [tenant],
  );
  return r.rows.map((row) => ({
    kind: row.kind,
    records: Number(row.records),
    globalRecords: Number(row.global_records),
    headSeq: BigInt(row.head),
  }));
}
