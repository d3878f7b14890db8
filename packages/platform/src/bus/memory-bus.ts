/**
 * In-process adapter for the embedded mode (DESIGN.md §2 "Runtime modes") and for tests. It
 * mirrors the broker semantics on purpose — durable groups, at-least-once with redelivery of
 * unacknowledged messages, bounded retention, publish dedupe window — so code that works here
 * does not start losing or duplicating events on NATS or Redis. Nothing survives the process.
 */
import { encodeEvent, eventKey } from './event-envelope.js';
import {
  resolveBusOptions,
  settleWithin,
  sleep,
  type BusOptions,
  type EventBus,
  type EventHandler,
  type ResolvedSubscribeOptions,
  type Subscription,
} from './event-bus.js';
import { BusSubscriptions, deliverEvent } from './bus-support.js';

interface LogEntry {
  seq: number;
  raw: string;
}

interface Delivery {
  seq: number;
  raw: string;
  attempt: number;
  token: number;
}

/** One durable consumer group: a cursor into the log plus retries and in-flight deliveries. */
class MemoryGroup {
  cursor: number;
  private readonly retries: { seq: number; raw: string; dueAt: number }[] = [];
  private readonly inflight = new Map<number, { seq: number; raw: string; timer: NodeJS.Timeout }>();
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
    let entry: { seq: number; raw: string } | undefined;
    const dueIdx = this.retries.findIndex((r) => r.dueAt <= now);
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
    const timer = setTimeout(() => this.release(token, 0), ackWaitMs);
    timer.unref();
    this.inflight.set(token, { seq: e.seq, raw: e.raw, timer });
    return { seq: e.seq, raw: e.raw, attempt, token };
  }

  ack(token: number): void {
    const d = this.inflight.get(token);
    if (!d) return; // stale token: ack_wait expired and the message was handed out again
    clearTimeout(d.timer);
    this.inflight.delete(token);
    this.attempts.delete(d.seq);
  }

  /** Returns an unacknowledged delivery to the group, due after `delayMs`. */
  release(token: number, delayMs: number): void {
    const d = this.inflight.get(token);
    if (!d) return;
    clearTimeout(d.timer);
    this.inflight.delete(token);
    this.retries.push({ seq: d.seq, raw: d.raw, dueAt: Date.now() + delayMs });
    this.wake();
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

  entry(seq: number): LogEntry | undefined {
    return this.log[seq - this.firstSeq];
  }

  /** Appends unless `(tenant, eventId)` was seen within `windowMs`; returns false for a duplicate. */
  append(key: string, raw: string, windowMs: number): boolean {
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
    this.log.push({ seq: this.nextSeq++, raw });
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
    private current: { promise: Promise<void>; token: number; abandoned: boolean } | undefined;
    private readonly loop: Promise<void>;
    private sinceYield = 0;

    constructor(
      readonly group: string,
      private readonly g: MemoryGroup,
      private readonly handler: EventHandler,
      private readonly o: ResolvedSubscribeOptions,
    ) {
      this.loop = this.run();
    }

    private async run(): Promise<void> {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        const d = this.g.take(Date.now(), opts.ackWaitMs);
        if (!('token' in d)) {
          await this.g.wait(d.waitMs, signal);
          continue;
        }
        const cur = { promise: Promise.resolve(), token: d.token, abandoned: false };
        cur.promise = this.deliver(d, cur);
        this.current = cur;
        await cur.promise;
        this.current = undefined;
        // Yield now and then so publishers and other consumers interleave as over a socket
        // (every delivery would halve throughput; never would starve the publisher).
        if (++this.sinceYield >= 16) {
          this.sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    }

    private deliver(d: Delivery, cur: { abandoned: boolean }): Promise<void> {
      const meta = { group: this.group, attempt: d.attempt, messageId: String(d.seq) };
      // A token the group no longer holds (ack_wait expired, or an abandoning close() released
      // it) makes ack and release no-ops, like a late ack to a broker.
      return deliverEvent(d.raw, meta, this.handler, this.o, {
        ack: () => this.g.ack(d.token),
        giveUp: () => this.g.ack(d.token),
        retry: (delayMs) => this.g.release(d.token, delayMs),
        abandoned: () => cur.abandoned,
      });
    }

    async close(): Promise<void> {
      if (this.abort.signal.aborted) return this.loop;
      this.abort.abort();
      const cur = this.current;
      if (cur && !(await settleWithin(cur.promise, opts.drainTimeoutMs))) {
        // Abandoned like a crashed process: the message goes back to the group now.
        cur.abandoned = true;
        this.g.release(cur.token, 0);
        subs.remove(this);
        return;
      }
      await this.loop;
      subs.remove(this);
    }
  }

  return {
    kind: 'memory',
    async publish(event) {
      subs.assertOpen();
      const raw = Buffer.from(encodeEvent(event)).toString('utf8');
      broker.append(eventKey(event), raw, opts.dedupeWindowMs);
    },
    subscribe: (group, handler, subOpts) =>
      subs.subscribe(
        group,
        subOpts,
        opts,
        (o) => new MemorySubscription(group, broker.group(group, o.startFrom), handler, o),
      ),
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
