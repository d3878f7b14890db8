/**
 * Turns single bus deliveries into multi-row batches. The bus port hands a subscription one
 * event at a time and acknowledges it when the handler resolves (event-bus.ts: at-least-once,
 * ack after the handler). The consumer therefore runs several subscriptions of one group and
 * every handler `submit`s its event here; the promise resolves only once the batch holding the
 * event has COMMITTED — so the ack always follows the commit — and rejects if it rolled back
 * (the bus then redelivers). A batch is flushed when `maxBatch` events wait or `flushMs` after
 * its first event. In-flight work is bounded by the number of subscriptions: a slow database
 * holds their handlers, so they stop pulling (backpressure), visible as the in-flight gauge.
 */
import type { EventEnvelope } from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import { storeTenantBatch, type IngestOutcome } from './ingest.js';
import type { TimelineMetrics } from './metrics.js';

interface Waiting {
  event: EventEnvelope;
  resolve: (o: IngestOutcome) => void;
  reject: (err: unknown) => void;
}

export interface IngestBatcherOptions {
  maxBatch: number;
  flushMs: number;
}

export class IngestBatcher {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly opts: IngestBatcherOptions,
    private readonly metrics: TimelineMetrics,
  ) {}

  /** Resolves with the event's outcome after its batch committed. */
  submit(event: EventEnvelope): Promise<IngestOutcome> {
    this.metrics.inFlight.inc();
    return new Promise<IngestOutcome>((resolve, reject) => {
      this.waiting.push({ event, resolve, reject });
      if (this.waiting.length >= this.opts.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
    }).finally(() => this.metrics.inFlight.dec());
  }

  /** Writes what is waiting now: one transaction per tenant (RLS), tenants concurrently. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    const byTenant = new Map<string, Waiting[]>();
    for (const w of batch) {
      const list = byTenant.get(w.event.tenant);
      if (list) list.push(w);
      else byTenant.set(w.event.tenant, [w]);
    }
    for (const [tenant, items] of byTenant) void this.write(tenant, items);
  }

  private async write(tenant: string, items: Waiting[]): Promise<void> {
    const end = this.metrics.batchSeconds.startTimer({ path: 'bus' });
    try {
      const outcomes = await this.db.withTenant(tenant, (tx) =>
        storeTenantBatch(
          tx,
          tenant,
          items.map((w) => w.event),
        ),
      );
      end();
      let stored = 0;
      outcomes.forEach((o, i) => {
        if (o.status === 'stored') stored++;
        items[i]!.resolve(o);
      });
      this.metrics.stored.inc({ path: 'bus' }, stored);
      this.metrics.duplicates.inc({ path: 'bus' }, outcomes.length - stored);
    } catch (err) {
      for (const w of items) w.reject(err);
    }
  }
}
