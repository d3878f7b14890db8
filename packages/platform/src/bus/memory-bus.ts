/**
 * In-process adapter for the embedded mode (DESIGN.md §2 "Runtime modes") and for tests. It
 * mirrors the broker semantics on purpose — durable groups, at-least-once with redelivery of
 * unacknowledged messages, bounded retention, publish dedupe window — so code that works here
 * does not start losing or duplicating events on NATS or Redis. Nothing survives the process.
 */
import { encodeEventJson, eventKey, type EventEnvelope } from './event-envelope.js';
import {
  resolveBusOptions,
  settleWithin,
  sleep,
  type BatchHandler,
  type BusOptions,
  type EventBus,
  type GroupLag,
  type EventHandler,
  type ResolvedSubscribeOptions,
  type Subscription,
} from './event-bus.js';
import { BusSubscriptions, deliverBatch, deliverEvent, type DeliveryActions } from './bus-support.js';

interface LogEntry {
  seq: number;
  raw: string;
  /**
   * True when `raw` is the output of `encodeEventJson` in this process (the bus's own publish):
   * it was validated before it entered the log and strings are immutable, so consumers only
   * parse it. Entries appended directly (tests modelling poison) are validated on delivery.
   */
  trusted: boolean;
}

interface Delivery {
  seq: number;
  raw: string;
  trusted: boolean;
  attempt: number;
  token: number;
}

/** One delivery in progress: its group token and whether close() gave up waiting for it. */
interface InFlight {
  token: number;
  abandoned: boolean;
}

/** A subscription's handler: one per message or one per batch. */
type Handlers = { single: EventHandler } | { batch: BatchHandler };

const parseTrusted = (raw: string): EventEnvelope => JSON.parse(raw) as EventEnvelope;

/** One durable consumer group: a cursor into the log plus retries and in-flight deliveries. */
class MemoryGroup {
  cursor: number;
  private readonly retries: (LogEntry & { dueAt: number })[] = [];
  /** Deliveries handed out and not settled, with their ack deadline (`performance.now()` ms). */
  private readonly inflight = new Map<number, { entry: LogEntry; deadline: number }>();
  /**
   * ONE timer per group enforces ack_wait for all in-flight deliveries (a timer per delivery cost
   * about 15% of the consume path). It is armed for the earliest deadline it knows of; firing, it
   * releases every expired delivery and re-arms for the earliest one left. An ack does not
   * disarm it (the next delivery would only arm it again): a firing that finds nothing expired
   * is cheap, and the timer is unref'd so it never holds the process open.
   */
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Infinity;
  private readonly attempts = new Map<number, number>();
  private readonly waiters = new Set<() => void>();
  private nextToken = 1;

  constructor(
    private readonly broker: MemoryBroker,
    startSeq: number,
  ) {
    this.cursor = startSeq;
  }

  /** The next delivery for one consumer, or undefined (with the delay until a retry is due). */
  take(now: number, ackWaitMs: number): Delivery | { waitMs: number } {
    let entry: LogEntry | undefined;
    const dueIdx = this.retries.length === 0 ? -1 : this.retries.findIndex((r) => r.dueAt <= now);
    if (dueIdx >= 0) entry = this.retries.splice(dueIdx, 1)[0]!;
    else {
      // Retention trimmed entries this group had not read yet: they are gone, as with MAXLEN.
      if (this.cursor < this.broker.firstSeq) this.cursor = this.broker.firstSeq;
      const e = this.broker.entry(this.cursor);
      if (e) {
        entry = e;
        this.cursor++;
      }
    }
    if (!entry) {
      const next = this.retries.reduce((m, r) => Math.min(m, r.dueAt), Infinity);
      return { waitMs: next === Infinity ? 60_000 : Math.max(1, next - now) };
    }
    const attempt = (this.attempts.get(entry.seq) ?? 0) + 1;
    this.attempts.set(entry.seq, attempt);
    const token = this.nextToken++;
    const e = entry;
    // Like JetStream ack_wait: a delivery nobody acknowledges in time goes to someone else.
    // Monotonic clock, as setTimeout itself: a wall-clock step must not expire deliveries early.
    const deadline = performance.now() + ackWaitMs;
    this.inflight.set(token, { entry: e, deadline });
    if (deadline < this.sweepAt) this.armSweep(deadline);
    return { seq: e.seq, raw: e.raw, trusted: e.trusted, attempt, token };
  }

  ack(token: number): void {
    const d = this.inflight.get(token);
    if (!d) return; // stale token: ack_wait expired and the message was handed out again
    this.inflight.delete(token);
    this.attempts.delete(d.entry.seq);
  }

  /** Returns an unacknowledged delivery to the group, due after `delayMs`. */
  release(token: number, delayMs: number): void {
    const d = this.inflight.get(token);
    if (!d) return;
    this.inflight.delete(token);
    this.retries.push({ ...d.entry, dueAt: Date.now() + delayMs });
    this.wake();
  }

  private armSweep(at: number): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()));
    this.sweepTimer.unref();
  }

  /** Drops the ack_wait timer when nothing is in flight (a closing consumer leaves no timer behind). */
  disarmIfIdle(): void {
    if (this.inflight.size > 0 || !this.sweepTimer) return;
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
  }

  /** Releases every delivery past its ack deadline, then re-arms for the earliest one left. */
  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    // Deleting the visited entry (release does) while iterating a Map is well defined.
    for (const [token, d] of this.inflight) {
      if (d.deadline <= now) this.release(token, 0);
      else if (d.deadline < next) next = d.deadline;
    }
    if (next !== Infinity) this.armSweep(next);
  }

  /** Entries after the cursor plus retries waiting (pending), deliveries handed out (unacknowledged). */
  lag(): GroupLag {
    const unread = Math.max(0, this.broker.lastSeq - Math.max(this.cursor, this.broker.firstSeq) + 1);
    return { pending: unread + this.retries.length, unacknowledged: this.inflight.size };
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((res) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        res();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  wake(): void {
    // Called on every append: skip the copy when no consumer is parked.
    if (this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w();
  }
}

/** Holds the log and the groups; share one between several buses to model several processes. */
export class MemoryBroker {
  private log: LogEntry[] = [];
  firstSeq = 1;
  private nextSeq = 1;
  private readonly dedupe = new Map<string, number>();
  readonly groups = new Map<string, MemoryGroup>();

  /** `maxLen` bounds retention like Redis `MAXLEN` / JetStream `max_msgs`. */
  constructor(readonly maxLen = 100_000) {}

  /** Sequence of the newest entry (firstSeq - 1 when the log is empty). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  entry(seq: number): LogEntry | undefined {
    return this.log[seq - this.firstSeq];
  }

  /** Appends unless `(tenant, eventId)` was seen within `windowMs`; returns false for a duplicate. */
  append(key: string, raw: string, windowMs: number, trusted = false): boolean {
    const now = Date.now();
    if (windowMs > 0) {
      const seen = this.dedupe.get(key);
      if (seen !== undefined && seen > now) return false;
      // Map keeps insertion order, so expired keys are at the front.
      for (const [k, exp] of this.dedupe) {
        if (exp > now) break;
        this.dedupe.delete(k);
      }
      this.dedupe.set(key, now + windowMs);
    }
    this.log.push({ seq: this.nextSeq++, raw, trusted });
    if (this.log.length > this.maxLen) {
      const drop = this.log.length - this.maxLen;
      this.log = this.log.slice(drop);
      this.firstSeq += drop;
    }
    for (const g of this.groups.values()) g.wake();
    return true;
  }

  group(name: string, startFrom: 'all' | 'new'): MemoryGroup {
    let g = this.groups.get(name);
    if (!g) {
      g = new MemoryGroup(this, startFrom === 'all' ? this.firstSeq : this.nextSeq);
      this.groups.set(name, g);
    }
    return g;
  }
}

const namedBrokers = new Map<string, MemoryBroker>();

/** A process-wide broker by name (`memory://<name>`), so separately opened buses meet. */
export function namedMemoryBroker(name: string): MemoryBroker {
  let b = namedBrokers.get(name);
  if (!b) namedBrokers.set(name, (b = new MemoryBroker()));
  return b;
}

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions extends BusOptions {
  /** Share a broker between buses; default: a private one. */
  broker?: MemoryBroker;
}

/** The in-process adapter. */
export function createMemoryBus(options: MemoryBusOptions = {}): EventBus {
  const opts = resolveBusOptions(options);
  const broker = options.broker ?? new MemoryBroker();
  const subs = new BusSubscriptions<MemorySubscription>();

  class MemorySubscription implements Subscription {
    private readonly abort = new AbortController();
    /** The delivery (or batch) whose handler runs now. */
    private current: { promise: Promise<void>; handles: InFlight[] } | undefined;
    private readonly loop: Promise<void>;
    private sinceYield = 0;
    // A token the group no longer holds (ack_wait expired, or an abandoning close() released it)
    // makes ack and release no-ops, like a late ack to a broker. One object for all deliveries.
    private readonly actions: DeliveryActions<InFlight> = {
      ack: (c) => this.g.ack(c.token),
      giveUp: (c) => this.g.ack(c.token),
      retry: (c, delayMs) => this.g.release(c.token, delayMs),
      abandoned: (c) => c.abandoned,
    };

    constructor(
      readonly group: string,
      private readonly g: MemoryGroup,
      private readonly handler: Handlers,
      private readonly o: ResolvedSubscribeOptions,
    ) {
      this.loop = this.run();
    }

    private async run(): Promise<void> {
      const signal = this.abort.signal;
      const max = 'batch' in this.handler ? this.o.batchSize : 1;
      while (!signal.aborted) {
        const taken: Delivery[] = [];
        let waitMs = 0;
        while (taken.length < max) {
          const d = this.g.take(Date.now(), opts.ackWaitMs);
          if (!('token' in d)) {
            waitMs = d.waitMs;
            break;
          }
          taken.push(d);
        }
        if (taken.length === 0) {
          await this.g.wait(waitMs, signal);
          continue;
        }
        const handles = taken.map((d): InFlight => ({ token: d.token, abandoned: false }));
        const cur = { promise: this.deliver(taken, handles), handles };
        this.current = cur;
        await cur.promise;
        this.current = undefined;
        // Yield now and then so publishers and other consumers interleave as over a socket
        // (every delivery would halve throughput; never would starve the publisher).
        this.sinceYield += taken.length;
        if (this.sinceYield >= 16) {
          this.sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    }

    private deliver(taken: Delivery[], handles: InFlight[]): Promise<void> {
      const meta = (d: Delivery) => ({ group: this.group, attempt: d.attempt, messageId: String(d.seq) });
      const decode = (d: Delivery) => (d.trusted ? parseTrusted : undefined);
      if ('batch' in this.handler) {
        const items = taken.map((d, i) => ({ raw: d.raw, meta: meta(d), d: handles[i]!, decode: decode(d) }));
        return deliverBatch(items, this.handler.batch, this.o, this.actions);
      }
      const d = taken[0]!;
      return deliverEvent(d.raw, meta(d), this.handler.single, this.o, this.actions, handles[0]!, decode(d));
    }

    async close(): Promise<void> {
      if (this.abort.signal.aborted) return this.loop;
      this.abort.abort();
      const cur = this.current;
      if (cur && !(await settleWithin(cur.promise, opts.drainTimeoutMs))) {
        // Abandoned like a crashed process: the messages go back to the group now.
        for (const h of cur.handles) {
          h.abandoned = true;
          this.g.release(h.token, 0);
        }
        this.g.disarmIfIdle();
        subs.remove(this);
        return;
      }
      await this.loop;
      this.g.disarmIfIdle();
      subs.remove(this);
    }
  }

  return {
    kind: 'memory',
    async publish(event) {
      subs.assertOpen();
      const raw = encodeEventJson(event);
      broker.append(eventKey(event), raw, opts.dedupeWindowMs, true);
    },
    subscribe: (group, handler, subOpts) =>
      subs.subscribe(
        group,
        subOpts,
        opts,
        (o) => new MemorySubscription(group, broker.group(group, o.startFrom), { single: handler }, o),
      ),
    subscribeBatch: (group, handler, subOpts) =>
      subs.subscribe(
        group,
        subOpts,
        opts,
        (o) => new MemorySubscription(group, broker.group(group, o.startFrom), { batch: handler }, o),
      ),
    async groupLag(group) {
      subs.assertOpen();
      return broker.groups.get(group)?.lag();
    },
    async ping() {
      subs.assertOpen();
    },
    async close() {
      await subs.closeAll();
      // Let the event loop settle timers created by this bus.
      await sleep(0);
    },
  };
}
