/**
 * The evidence log sequencer (issue 12 item 3; ADR 0013; docs/evidence/transparency-log.md
 * "Sequencing"): drains `evidence_locker.log_entries` — where seals, holds, releases and purges
 * enqueued their entries in their own transactions — into each tenant's transparency log.
 *
 * One pass, every step idempotent so that a crash anywhere loses nothing and doubles nothing:
 * 1. forward: in one owner transaction, the queued rows (FOR UPDATE SKIP LOCKED: replicas share
 *    the queue) are appended to the tenant's log (`tlog.entries`, deduplicated by entry digest)
 *    and marked forwarded — both commit or neither;
 * 2. integrate: `TransparencyLog.integrate` per tenant with pending entries (its advisory lock
 *    keeps one sequencer per log across replicas; tiles durable before the checkpoint commits);
 * 3. index: the log index of every integrated entry is written back to its queue row, which is
 *    what the seal response, the proof routes and bundle.tgz read.
 */
import type { Db } from '@stella/platform/db';
import type { BackgroundWorker } from '@stella/platform/service';
import { TransparencyLog } from '@stella/platform/tlog';
import { noteSigner, tenantLogId, tenantLogOrigin, type LogDeps } from './tenant-log.js';

/** Entries forwarded per transaction at most. */
const FORWARD_BATCH = 4096;

export interface SequencePassResult {
  /** Entries handed to the logs in this pass. */
  forwarded: number;
  /** Per tenant that integrated anything: entries integrated and the new tree size. */
  integrated: Map<string, { entries: number; size: number }>;
  /** Queue rows that got their log index. */
  indexed: number;
}

/** The sequencer's open logs and signers, kept across passes (closed by {@link LogSequencer.close}). */
export class LogSequencer {
  private readonly logs = new Map<string, Promise<{ log: TransparencyLog; close: () => Promise<void> }>>();

  constructor(
    private readonly deps: LogDeps,
    private readonly onError: (err: unknown, tenant: string) => void = () => undefined,
  ) {}

  private failed(tenant: string, err: unknown): void {
    this.onError(err, tenant);
  }

  private logOf(tenant: string): Promise<TransparencyLog> {
    let p = this.logs.get(tenant);
    if (!p) {
      p = (async () => {
        const origin = tenantLogOrigin(this.deps.originPrefix, tenant);
        const s = await noteSigner(this.deps.signingKey, origin);
        try {
          const log = await TransparencyLog.open({
            db: this.deps.db,
            store: this.deps.store,
            logId: tenantLogId(tenant),
            origin,
            signers: [s.signer],
          });
          return { log, close: s.close };
        } catch (err) {
          await s.close();
          throw err;
        }
      })();
      this.logs.set(tenant, p);
      p.catch(() => this.logs.delete(tenant));
    }
    return p.then((x) => x.log);
  }

  /** One pass over every tenant's queue (see the module doc). */
  async pass(): Promise<SequencePassResult> {
    const db: Db = this.deps.db;
    let forwarded = 0;
    for (;;) {
      // Logs are opened (and created) before the transaction: the pool is not to be used inside it.
      const queued = await db.query<{ tenant_id: string }>(
        'SELECT DISTINCT tenant_id FROM evidence_locker.log_entries WHERE NOT forwarded',
      );
      if (queued.rows.length === 0) break;
      const open = new Map<string, TransparencyLog>();
      // One tenant's broken log (origin changed, key unusable) must not hold up the others.
      for (const { tenant_id: tenant } of queued.rows)
        await this.logOf(tenant).then(
          (log) => open.set(tenant, log),
          (err) => this.failed(tenant, err),
        );
      if (open.size === 0) break;
      const n = await db.transaction(async (tx) => {
        const r = await tx.query<{ tenant_id: string; entry_digest: string; entry: Buffer }>(
          `SELECT tenant_id, entry_digest, entry FROM evidence_locker.log_entries WHERE NOT forwarded
           ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [FORWARD_BATCH],
        );
        const byTenant = new Map<string, typeof r.rows>();
        for (const row of r.rows) byTenant.set(row.tenant_id, [...(byTenant.get(row.tenant_id) ?? []), row]);
        for (const [tenant, rows] of byTenant) {
          const log = open.get(tenant);
          if (!log) continue; // queued after the tenant list was read: the next round takes it
          await log.appendMany(
            rows.map((x) => new Uint8Array(x.entry)),
            { via: tx },
          );
          await tx.query(
            `UPDATE evidence_locker.log_entries SET forwarded = true WHERE tenant_id = $1 AND entry_digest = ANY($2::text[])`,
            [tenant, rows.map((x) => x.entry_digest)],
          );
        }
        return [...byTenant].filter(([t]) => open.has(t)).reduce((k, [, rows]) => k + rows.length, 0);
      });
      forwarded += n;
      if (n === 0) break;
    }

    const integrated = new Map<string, { entries: number; size: number }>();
    let indexed = 0;
    const waiting = await db.query<{ tenant_id: string }>(
      'SELECT DISTINCT tenant_id FROM evidence_locker.log_entries WHERE log_index IS NULL AND forwarded',
    );
    for (const { tenant_id: tenant } of waiting.rows) {
      let log: TransparencyLog;
      try {
        log = await this.logOf(tenant);
      } catch (err) {
        this.failed(tenant, err);
        continue;
      }
      for (;;) {
        const r = await log.integrate();
        if (r.busy || r.integrated === 0) break;
        const was = integrated.get(tenant);
        integrated.set(tenant, { entries: (was?.entries ?? 0) + r.integrated, size: r.size });
      }
      // tlog commits an entry's idx together with the checkpoint that covers it: idx set = published.
      const u = await db.query(
        `UPDATE evidence_locker.log_entries le SET log_index = e.idx
         FROM tlog.entries e
         WHERE le.tenant_id = $1 AND le.forwarded AND le.log_index IS NULL
           AND e.log_id = $2 AND e.digest = decode(substr(le.entry_digest, 8), 'hex') AND e.idx IS NOT NULL`,
        [tenant, tenantLogId(tenant)],
      );
      indexed += u.rowCount;
    }
    return { forwarded, integrated, indexed };
  }

  async close(): Promise<void> {
    const all = [...this.logs.values()];
    this.logs.clear();
    for (const p of all) await p.then((x) => x.close()).catch(() => undefined);
  }
}

/** The background worker: a pass every `intervalMs`, at once again while a pass found work. */
export function logSequencerWorker(
  deps: LogDeps & { onError: (err: unknown) => void },
  intervalMs: number,
): BackgroundWorker {
  let stopped = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  const seq = new LogSequencer(deps, (err) => deps.onError(err));
  return {
    name: 'evidence-log-sequencer',
    start() {
      loop = (async () => {
        while (!stopped) {
          let busy = false;
          try {
            const r = await seq.pass();
            busy = r.forwarded > 0;
          } catch (err) {
            deps.onError(err);
          }
          if (!busy && !stopped)
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, intervalMs);
              wake = () => {
                clearTimeout(t);
                resolve();
              };
            });
        }
      })();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await seq.close();
    },
  };
}
