/**
 * The timeline's transparency log (issue 12 item 4; docs/timeline.md "Transparency log", ADR 0014):
 * one RFC 9162 log per tenant (`TransparencyLog`, C2SP tiles and checkpoints) whose entries are
 * *timeline batches* (`@stella/core/tlog` timeline-batch.ts).
 *
 * Derived after the fact, not enqueued by ingest: ingest.ts is untouched. A tenant's arrival
 * numbers are gap-free and in commit order (arrivals.ts: a snapshot that sees the counter at N
 * sees every arrival ≤ N), so the worker can cut the next batch — arrivals (last logged, N], at
 * most MAX_BATCH_EVENTS — from stored rows alone, in one owner transaction that also records it
 * (`timeline.log_batches`, batch_no = log index). A crash before that commit leaves the range to
 * the next cut; after it, appending the recorded entry is idempotent (the log dedupes by digest).
 *
 * Cadence: a tenant's batch is cut, appended and integrated (one signed checkpoint) when its
 * last batch is `checkpointMs` old (default 60 s) — `incidentCheckpointMs` (10 s) while an
 * Evidence Locker incident is active for the tenant (`timeline.evidence_incidents`, filled from
 * `evidence.incident.activated|deactivated`, evidence.ts) — and it has new arrivals. No new
 * events, no new checkpoint: the last one stays current.
 */
import { createHash } from 'node:crypto';
import { StellaError, isStellaError } from '@stella/core/errors';
import {
  MAX_BATCH_EVENTS,
  TIMELINE_BATCH_SCHEMA,
  TIMELINE_EXPORT_SCHEMA,
  TileTree,
  eventContentDigest,
  encodeBatchEntry,
  formatVerifierKey,
  noteSignerFromSigner,
  stubsRoot,
  type BatchStub,
  type NoteSigner,
  type TimelineBatchEntry,
} from '@stella/core/tlog';
import type { Signer } from '@stella/core/signing';
import type { Db, Queryable } from '@stella/platform/db';
import type { ObjectStore } from '@stella/platform/object-store';
import type { BackgroundWorker } from '@stella/platform/service';
import { TransparencyLog } from '@stella/platform/tlog';
import { detailsOf, type DetailsColumns } from './query.js';

/** Settings of the timeline log (service variables). */
export interface TimelineLogSettings {
  /** Origin prefix; a tenant's origin is `<prefix>/<tenant>` (also its note key name). */
  originPrefix: string;
  checkpointMs: number;
  incidentCheckpointMs: number;
  /** How often the worker looks for due tenants. */
  tickMs: number;
}

export const DEFAULT_TIMELINE_LOG: TimelineLogSettings = {
  originPrefix: 'stella.local/timeline',
  checkpointMs: 60_000,
  incidentCheckpointMs: 10_000,
  tickMs: 1_000,
};

/** classid of the per-tenant cut lock: 'TLTL'. */
const CUT_LOCK_CLASS = 0x544c544c;

/** What the log needs from the process. */
export interface TimelineLogDeps {
  db: Db;
  store: ObjectStore;
  /** Signer URI (deps.signingKey); must be an Ed25519 key. */
  signingKey: string;
  /** Resolves the signer (tests inject a key). */
  resolveSigner?: (uri: string) => Promise<Signer>;
}

/** The tenant's log id in the tlog schema: a hash, as tenant ids may hold upper case and be 128 long. */
export function timelineLogId(tenant: string): string {
  return `tl-${createHash('sha256').update(tenant, 'utf8').digest('hex').slice(0, 40)}`;
}

const iso = (d: Date) => d.toISOString();

type EventRow = {
  arrival_seq: string;
  event_id: string;
  tenant_id: string;
  kind: string;
  source: string;
  occurred_at: Date;
  subject: string | null;
  correlation_id: string | null;
  trace_id: string | null;
  actor: string | null;
} & DetailsColumns;

/** The envelope of a stored event, as the log's content digest and the export see it. */
export function envelopeOf(r: EventRow): Record<string, unknown> {
  const d = detailsOf(r);
  const e: Record<string, unknown> = {
    eventId: r.event_id,
    tenant: r.tenant_id,
    kind: r.kind,
    source: r.source,
    occurredAt: d.occurredAt,
  };
  if (r.subject !== null) e.subject = r.subject;
  if (r.correlation_id !== null) e.correlationId = r.correlation_id;
  if (r.trace_id !== null) e.traceId = r.trace_id;
  if (r.actor !== null) e.actor = r.actor;
  if (d.attributes !== null) e.attributes = d.attributes;
  if (d.payload !== null) e.payload = d.payload;
  if (d.evidence !== null) e.evidence = d.evidence;
  return e;
}

const EVENT_COLUMNS = `a.arrival_seq::text AS arrival_seq, e.event_id, e.tenant_id, e.kind, e.source, e.occurred_at,
  e.subject, e.correlation_id, e.trace_id, e.actor, e.details, d.occurred_at_text, d.attributes, d.payload, d.evidence`;
// Details are inline in events.details (migration 0005) or, for large ones, in event_details:
// the row is probed only when the column is NULL (query.ts DETAILS_PROBE).
const EVENT_JOINS = `JOIN timeline.events e ON e.tenant_id = a.tenant_id AND e.occurred_at = a.occurred_at
    AND e.source = a.source AND e.ingest_seq = a.ingest_seq
  LEFT JOIN LATERAL (SELECT d.occurred_at_text, d.attributes, d.payload, d.evidence FROM timeline.event_details d
    WHERE e.details IS NULL AND d.tenant_id = e.tenant_id AND d.occurred_at = e.occurred_at
      AND d.event_id = e.event_id LIMIT 1) d ON true`;

/** The events of arrivals [first, last] in arrival order (RLS applies on a tenant transaction). */
async function eventsByArrival(q: Queryable, tenant: string, first: number, last: number): Promise<EventRow[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM timeline.event_arrivals a ${EVENT_JOINS}
     WHERE a.tenant_id = $1 AND a.arrival_seq BETWEEN $2 AND $3 ORDER BY a.arrival_seq`,
    [tenant, String(first), String(last)],
  );
  return rows;
}

const stubOf = (r: EventRow): BatchStub => ({
  arrival: Number(r.arrival_seq),
  eventId: r.event_id,
  occurredAt: iso(r.occurred_at),
  digest: eventContentDigest(envelopeOf(r)),
});

type BatchRow = {
  batch_no: string;
  first_arrival: string;
  last_arrival: string;
  min_at: Date;
  max_at: Date;
  max_at_so_far: Date;
  logged_at: Date;
  entry: Buffer;
};

/**
 * Cuts the tenant's next batches up to its committed arrivals (each ≤ MAX_BATCH_EVENTS), each in
 * its own owner transaction under the tenant's cut lock. Returns how many were cut.
 */
export async function cutBatches(db: Db, tenant: string, now: Date): Promise<number> {
  let cut = 0;
  // Up to the arrivals committed when the cut began: under sustained ingest the loop ends anyway
  // (the rest is the next cut's), so one busy tenant cannot hold the round.
  let target: number | undefined;
  for (;;) {
    const more = await db.transaction(async (tx) => {
      const lock = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [
        CUT_LOCK_CLASS,
        tenant,
      ]);
      if (!lock.rows[0]!.ok) return false;
      const prev = await tx.query<{ batch_no: string; last_arrival: string; max_at_so_far: Date }>(
        `SELECT batch_no::text, last_arrival::text, max_at_so_far FROM timeline.log_batches
         WHERE tenant_id = $1 ORDER BY batch_no DESC LIMIT 1`,
        [tenant],
      );
      const counter = await tx.query<{ last_arrival: string }>(
        'SELECT last_arrival::text FROM timeline.tenant_arrivals WHERE tenant_id = $1',
        [tenant],
      );
      const p = prev.rows[0];
      const from = p ? Number(p.last_arrival) + 1 : 1;
      target ??= Number(counter.rows[0]?.last_arrival ?? 0);
      const upto = Math.min(Number(counter.rows[0]?.last_arrival ?? 0), target, from + MAX_BATCH_EVENTS - 1);
      if (upto < from) return false;
      const rows = await eventsByArrival(tx, tenant, from, upto);
      if (rows.length !== upto - from + 1 || rows.some((r, i) => Number(r.arrival_seq) !== from + i))
        throw new StellaError(
          'TIMELINE_LOG_UNAVAILABLE',
          `tenant ${tenant}: arrivals ${from}…${upto} are not all stored (purged before they were logged?)`,
          { details: { tenant, from, upto, found: rows.length } },
        );
      const stubs = rows.map(stubOf);
      let min = stubs[0]!.occurredAt;
      let max = min;
      for (const s of stubs) {
        if (s.occurredAt < min) min = s.occurredAt;
        if (s.occurredAt > max) max = s.occurredAt;
      }
      const prevMax = p ? iso(p.max_at_so_far) : undefined;
      const maxSoFar = prevMax && prevMax > max ? prevMax : max;
      const batch = p ? Number(p.batch_no) + 1 : 0;
      const entry: TimelineBatchEntry = {
        schema: TIMELINE_BATCH_SCHEMA,
        tenant,
        batch,
        arrivals: { first: from, last: upto },
        count: stubs.length,
        occurred: { min, max, maxSoFar },
        loggedAt: iso(now),
        events: stubsRoot(stubs),
      };
      await tx.query(
        `INSERT INTO timeline.log_batches (tenant_id, batch_no, first_arrival, last_arrival, min_at, max_at, max_at_so_far, logged_at, entry)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [tenant, batch, from, upto, min, max, maxSoFar, iso(now), Buffer.from(encodeBatchEntry(entry))],
      );
      return true;
    });
    if (!more) return cut;
    cut++;
  }
}

/** The per-tenant logs of one process (opened once each). */
export class TimelineLogs {
  private readonly logs = new Map<string, Promise<TransparencyLog>>();
  private signer: Promise<Signer> | undefined;

  constructor(
    private readonly deps: TimelineLogDeps,
    readonly settings: TimelineLogSettings = DEFAULT_TIMELINE_LOG,
  ) {}

  origin(tenant: string): string {
    return `${this.settings.originPrefix}/${tenant}`;
  }

  private async baseSigner() {
    this.signer ??= (async () => {
      const resolve =
        this.deps.resolveSigner ?? (async (uri: string) => (await import('@stella/platform/keys')).resolveSigner(uri));
      let s: Signer;
      try {
        s = await resolve(this.deps.signingKey);
      } catch (err) {
        // A server configuration problem, not the caller's: 503, the cause logged with it.
        throw new StellaError(
          'TIMELINE_LOG_UNAVAILABLE',
          `the timeline log's signing key cannot be used (${isStellaError(err) ? err.code : 'error'})`,
          { cause: err },
        );
      }
      if (s.algorithm !== 'ed25519')
        throw new StellaError(
          'TIMELINE_LOG_UNAVAILABLE',
          `timeline checkpoints need an Ed25519 signing key, not ${s.algorithm}`,
        );
      return s;
    })();
    this.signer.catch(() => (this.signer = undefined));
    return this.signer;
  }

  /** The tenant's note signer (key name = origin). */
  async noteSigner(tenant: string): Promise<NoteSigner> {
    return noteSignerFromSigner(this.origin(tenant), await this.baseSigner());
  }

  /** The tenant's verifier key `<origin>+<id>+<base64>`. */
  async verifierKey(tenant: string): Promise<string> {
    return formatVerifierKey(this.origin(tenant), (await this.baseSigner()).publicKeySpki());
  }

  log(tenant: string): Promise<TransparencyLog> {
    let l = this.logs.get(tenant);
    if (!l) {
      l = (async () =>
        TransparencyLog.open({
          db: this.deps.db,
          store: this.deps.store,
          logId: timelineLogId(tenant),
          origin: this.origin(tenant),
          signers: [await this.noteSigner(tenant)],
        }))();
      this.logs.set(tenant, l);
      l.catch(() => this.logs.delete(tenant));
    }
    return l;
  }

  /**
   * Appends the tenant's recorded batches not yet appended (in batch order) and integrates them:
   * one checkpoint per integrate. Checks that every batch landed at its own index.
   */
  async publish(tenant: string): Promise<{ size: number; appended: number }> {
    const log = await this.log(tenant);
    const { rows } = await this.deps.db.query<{ batch_no: string; entry: Buffer }>(
      `SELECT batch_no::text, entry FROM timeline.log_batches WHERE tenant_id = $1 AND NOT appended ORDER BY batch_no`,
      [tenant],
    );
    if (rows.length > 0) {
      await log.appendMany(rows.map((r) => new Uint8Array(r.entry)));
      await this.deps.db.query(
        'UPDATE timeline.log_batches SET appended = true WHERE tenant_id = $1 AND batch_no = ANY($2::bigint[])',
        [tenant, rows.map((r) => r.batch_no)],
      );
    }
    for (;;) {
      const r = await log.integrate();
      if (r.busy || r.integrated === 0) break;
    }
    for (const r of rows) {
      const at = await log.lookup(new Uint8Array(createHash('sha256').update(r.entry).digest()));
      if (at && at.index !== Number(r.batch_no))
        throw new StellaError(
          'TIMELINE_LOG_UNAVAILABLE',
          `tenant ${tenant}: batch ${r.batch_no} is log entry ${at.index}`,
        );
    }
    return { size: (await log.checkpoint()).size, appended: rows.length };
  }

  /**
   * One round: every tenant whose checkpoint is due (see the module doc) gets its batches cut,
   * appended and integrated. `now` is a parameter so tests move time.
   */
  async round(now = new Date()): Promise<{ tenant: string; cut: number; size: number }[]> {
    await this.baseSigner(); // no usable key: cut nothing (the batches would wait unsigned)
    const { rows } = await this.deps.db.query<{
      tenant_id: string;
      last_arrival: string;
      logged: string | null;
      logged_at: Date | null;
      pending: boolean;
      incident: boolean;
    }>(
      `SELECT a.tenant_id, a.last_arrival::text, b.last_arrival::text AS logged, b.logged_at,
         EXISTS (SELECT 1 FROM timeline.log_batches p WHERE p.tenant_id = a.tenant_id AND NOT p.appended) AS pending,
         EXISTS (SELECT 1 FROM timeline.evidence_incidents i WHERE i.tenant_id = a.tenant_id
           AND i.activated_at IS NOT NULL AND (i.deactivated_at IS NULL OR i.deactivated_at < i.activated_at)) AS incident
       FROM timeline.tenant_arrivals a
       LEFT JOIN LATERAL (SELECT last_arrival, logged_at FROM timeline.log_batches l
         WHERE l.tenant_id = a.tenant_id ORDER BY batch_no DESC LIMIT 1) b ON true`,
    );
    const out: { tenant: string; cut: number; size: number }[] = [];
    for (const r of rows) {
      const interval = r.incident ? this.settings.incidentCheckpointMs : this.settings.checkpointMs;
      const fresh = Number(r.last_arrival) > Number(r.logged ?? 0);
      const due = fresh && (r.logged_at === null || now.getTime() - r.logged_at.getTime() >= interval);
      if (!due && !r.pending) continue;
      const cut = due ? await cutBatches(this.deps.db, r.tenant_id, now) : 0;
      const { size } = await this.publish(r.tenant_id);
      out.push({ tenant: r.tenant_id, cut, size });
    }
    return out;
  }
}

/** The worker: a round every `tickMs`; one replica cuts a tenant at a time (advisory locks). */
export function timelineLogWorker(logs: TimelineLogs, log: { warn(o: object, msg: string): void }): BackgroundWorker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    running ??= logs
      .round()
      .then(() => undefined)
      .catch((err: unknown) => log.warn({ err }, 'timeline log round failed; retried next tick'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, logs.settings.tickMs);
      });
  };
  return {
    name: 'timeline-log',
    start() {
      stopped = false;
      tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

// ---- export ------------------------------------------------------------------------------------

/** Query of an export. */
export interface ExportRequest {
  tenant: string;
  /** Inclusive, exclusive (Date). */
  from: Date;
  to: Date;
  /** A checkpoint size the caller holds: a consistency proof from it is included. */
  since?: number;
}

const PAGE = 500;
const MAX_CHAIN = 1000;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/**
 * The export file's lines (docs/formats/tlog.md "Timeline export"), produced page by page: the
 * header with the tenant's latest checkpoint; every batch from the one before the first whose
 * maxSoFar reaches `from` to the checkpoint's end, each with its inclusion proof and, when it
 * holds window events, its event stubs; consistency proofs from the checkpoints that first
 * included those batches (and from `since`); the window's events in timeline order; an end line.
 * Timeline rows are read in tenant transactions (RLS); the log through the owner.
 * @throws StellaError TIMELINE_LOG_EMPTY (no checkpoint yet), TIMELINE_LOG_UNAVAILABLE
 */
export async function* exportLines(db: Db, logs: TimelineLogs, req: ExportRequest): AsyncGenerator<string> {
  const log = await logs.log(req.tenant);
  const cp = await log.checkpoint();
  if (!cp.note || cp.size === 0)
    throw new StellaError('TIMELINE_LOG_EMPTY', `the timeline log of ${req.tenant} has no checkpoint yet`);
  const N = cp.size;
  if (req.since !== undefined && req.since > N)
    throw new StellaError('TLOG_ROLLBACK', `since ${req.since} is beyond the latest checkpoint (${N})`, {
      details: { since: req.since, size: N },
    });
  const tree = new TileTree(log.tileReader(), N);
  const from = iso(req.from);
  const to = iso(req.to);
  yield JSON.stringify({
    type: 'header',
    schema: TIMELINE_EXPORT_SCHEMA,
    tenant: req.tenant,
    origin: logs.origin(req.tenant),
    from,
    to,
    treeSize: N,
    checkpoint: cp.note,
    logKey: await logs.verifierKey(req.tenant),
    exportedAt: iso(new Date()),
  });
  // The fence: the last batch whose maxSoFar is still before the window (or none: from batch 0).
  const start = await db.withTenant(req.tenant, async (tx) => {
    const r = await tx.query<{ b: string | null }>(
      `SELECT max(batch_no)::text AS b FROM timeline.log_batches WHERE tenant_id = $1 AND max_at_so_far < $2 AND batch_no < $3`,
      [req.tenant, from, N],
    );
    return r.rows[0]!.b === null ? 0 : Number(r.rows[0]!.b);
  });
  const windowBatches: number[] = [];
  let lastArrival = 0;
  let batches = 0;
  for (let next = start; next < N;) {
    const page = await db.withTenant(req.tenant, (tx) =>
      tx.query<BatchRow>(
        `SELECT batch_no::text, first_arrival::text, last_arrival::text, min_at, max_at, max_at_so_far, logged_at, entry
         FROM timeline.log_batches WHERE tenant_id = $1 AND batch_no >= $2 AND batch_no < $3 ORDER BY batch_no LIMIT $4`,
        [req.tenant, next, N, PAGE],
      ),
    );
    if (page.rows.length === 0 || Number(page.rows[0]!.batch_no) !== next)
      throw new StellaError('TIMELINE_LOG_UNAVAILABLE', `batch ${next} of ${req.tenant} is not recorded`);
    for (const b of page.rows) {
      const k = Number(b.batch_no);
      const proof = await tree.inclusionProof(k, N);
      const line: Record<string, unknown> = {
        type: 'batch',
        index: k,
        entry: b.entry.toString('utf8'),
        proof: proof.hashes.map(b64),
      };
      if (b.min_at < req.to && b.max_at >= req.from) {
        const rows = await db.withTenant(req.tenant, (tx) =>
          eventsByArrival(tx, req.tenant, Number(b.first_arrival), Number(b.last_arrival)),
        );
        const stubs = rows.map(stubOf);
        const entry = JSON.parse(line.entry as string) as TimelineBatchEntry;
        if (stubs.length !== entry.count || stubsRoot(stubs) !== entry.events)
          throw new StellaError(
            'TIMELINE_LOG_UNAVAILABLE',
            `the stored events of batch ${k} no longer match its log entry (purged or changed)`,
            { details: { batch: k } },
          );
        line.stubs = stubs;
        windowBatches.push(k);
      }
      lastArrival = Number(b.last_arrival);
      batches++;
      yield JSON.stringify(line);
      next = k + 1;
    }
  }
  // Consistency: from the checkpoints that first included window batches, and from `since`.
  const sizes = new Set<number>();
  if (windowBatches.length > 0) {
    const { rows } = await db.query<{ size: string; note: string }>(
      `SELECT DISTINCT ON (c.first) c.first::text AS size, c.note FROM (
         SELECT (SELECT min(tree_size) FROM tlog.checkpoints k WHERE k.log_id = $1 AND k.tree_size > b) AS first,
           (SELECT note FROM tlog.checkpoints k WHERE k.log_id = $1 AND k.tree_size > b ORDER BY tree_size LIMIT 1) AS note
         FROM unnest($2::bigint[]) AS b) c
       WHERE c.first IS NOT NULL AND c.first < $3 ORDER BY c.first LIMIT $4`,
      [log.logId, windowBatches.slice(0, MAX_CHAIN), N, MAX_CHAIN],
    );
    for (const r of rows) {
      const size = Number(r.size);
      sizes.add(size);
      const p = await tree.consistencyProof(size, N);
      yield JSON.stringify({ type: 'consistency', size, note: r.note, hashes: p.hashes.map(b64) });
    }
  }
  if (req.since !== undefined && !sizes.has(req.since) && req.since < N) {
    const p = await tree.consistencyProof(req.since, N);
    yield JSON.stringify({ type: 'consistency', size: req.since, hashes: p.hashes.map(b64) });
  }
  // The window's events that the checkpoint covers, in timeline order (occurredAt, source, arrival);
  // sources compare bytewise (COLLATE "C"), as the offline verifier compares them, whatever the
  // database's collation.
  let events = 0;
  let after: { at: Date; source: string; arrival: string } | undefined;
  for (;;) {
    const rows = await db.withTenant(req.tenant, async (tx) => {
      const r = await tx.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM timeline.event_arrivals a ${EVENT_JOINS}
         WHERE a.tenant_id = $1 AND a.occurred_at >= $2 AND a.occurred_at < $3 AND a.arrival_seq <= $4
           AND ($5::timestamptz IS NULL
             OR (a.occurred_at, a.source COLLATE "C", a.arrival_seq) > ($5::timestamptz, $6::text COLLATE "C", $7::bigint))
         ORDER BY a.occurred_at, a.source COLLATE "C", a.arrival_seq LIMIT $8`,
        [
          req.tenant,
          from,
          to,
          String(lastArrival),
          after ? iso(after.at) : null,
          after?.source ?? null,
          after?.arrival ?? null,
          PAGE,
        ],
      );
      return r.rows;
    });
    for (const r of rows) {
      yield JSON.stringify({ type: 'event', arrival: Number(r.arrival_seq), event: envelopeOf(r) });
      events++;
    }
    if (rows.length < PAGE) break;
    const l = rows[rows.length - 1]!;
    after = { at: l.occurred_at, source: l.source, arrival: l.arrival_seq };
  }
  yield JSON.stringify({ type: 'end', batches, events });
}

/** True for errors that mean "the tlog schema is not migrated here" (TLOG_MIGRATIONS missing). */
export function isMissingTlogSchema(err: unknown): boolean {
  return !isStellaError(err) && (err as { code?: string } | null)?.code === '42P01';
}
