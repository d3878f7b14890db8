/**
 * `GET /timeline/stream` (issue #9 item 3): Server-Sent Events (WHATWG HTML "Server-sent
 * events") of a tenant's new events matching the filters, in arrival order (arrivals.ts).
 *
 * - Every event is `id: <arrival>`, `event: timeline.event`, `data: <TimelineEvent JSON>`.
 * - After events the filters skipped, an `id:` line alone moves the client's last event id on
 *   without dispatching anything (the spec sets the last event ID before it drops an empty
 *   event), so a resume never rescans them. The first thing sent is such a line: a client that
 *   reconnects before any event arrived resumes from where it connected, not from "now".
 * - A comment line (`: keep-alive`) every heartbeat interval keeps proxies from closing an idle
 *   connection.
 * - The stream ends when the client goes, when its token expires (it reconnects with a new one)
 *   and when the server stops ({@link StreamRegistry.closeAll} from the app's preClose hook).
 *
 * **One reader per tenant and process.** The streams of a tenant in one process share a
 * {@link TenantFeed}: while any is open, the feed asks the database for the tenant's last arrival
 * once per poll interval and, when there are new ones, reads them once — with, per distinct set
 * of filters among its streams, whether each event matches (query.ts `arrivalsMatching`, the
 * same SQL conditions as `GET /timeline`) — and hands every stream its matching events and the
 * new position. N streams of a tenant cost one query per tick, not N.
 *
 * A stream that is behind the feed (it resumed with an older `Last-Event-ID`, or fell behind)
 * first catches up alone, one window at a time with its own filtered reads (as every stream did
 * before), then joins the feed at the feed's position. A stream whose client reads slower than
 * events arrive holds at most one window of events queued; beyond that it leaves the feed and
 * catches up alone from what it has written, so memory per connection stays bounded and a slow
 * client never holds the others back.
 */
import type { Writable } from 'node:stream';
import type { MatchedArrival, StreamedEvent, TimelineFilters } from './query.js';

export interface StreamSettings {
  /** How often a tenant's feed asks the database for new arrivals. */
  pollMs: number;
  /** Idle time after which a comment line is sent. */
  heartbeatMs: number;
  /** Most arrivals read (and held) at once; also the most events a stream has queued. */
  window: number;
}

/** What the streams of one tenant read, each call in its own tenant transaction. */
export interface StreamSource {
  /** The tenant's last committed arrival. */
  last(): Promise<bigint>;
  /** One stream catching up: the events matching `filters` that arrived in `(after, upto]`. */
  between(filters: TimelineFilters, after: bigint, upto: bigint): Promise<StreamedEvent[]>;
  /** The feed: the events in `(after, upto]` matching any of `filterSets`, and which. */
  matching(filterSets: readonly TimelineFilters[], after: bigint, upto: bigint): Promise<MatchedArrival[]>;
}

/** The streams open in one app, so that stopping the server can end them. */
export class StreamRegistry {
  private readonly open = new Set<() => void>();
  add(stop: () => void): () => void {
    this.open.add(stop);
    return () => this.open.delete(stop);
  }
  get size(): number {
    return this.open.size;
  }
  closeAll(): void {
    for (const stop of [...this.open]) stop();
  }
}

/** `Last-Event-ID` as an arrival number; undefined when it is not one (the route answers 400). */
export function parseLastEventId(raw: string): bigint | undefined {
  return /^(0|[1-9]\d{0,18})$/.test(raw) && BigInt(raw) <= 9223372036854775807n ? BigInt(raw) : undefined;
}

/** One SSE event for `e`: JSON has no raw newlines, so `data` is one line. */
export function formatEvent(e: StreamedEvent): string {
  return `id: ${e.arrival}\nevent: timeline.event\ndata: ${JSON.stringify(e.event)}\n\n`;
}

/** A canonical key of a filter set: streams with equal filters share one match column. */
export function filtersKey(f: TimelineFilters): string {
  const keys = ['kind', 'source', 'subject', 'correlationId', 'traceId', 'digest', 'from', 'to'] as const;
  return JSON.stringify(keys.map((k) => f[k] ?? null));
}

/** One chunk queued for a stream and the arrival its client is at once it is written. */
interface Chunk {
  text: string;
  id: bigint;
}

/** A stream following its tenant's feed. */
interface Follower {
  readonly key: string;
  readonly filters: TimelineFilters;
  /** The last arrival handed to it (what it has queued or written). */
  position: bigint;
  /** Called synchronously by the feed: the stream's new events in `(position, upto]`, and `upto`. */
  deliver(events: readonly FormattedArrival[], upto: bigint): void;
  /** The feed let it go: it must catch up alone (`resync`), or the feed's read failed (an Error). */
  drop(reason: 'resync' | Error): void;
}

/** A row of the shared read; `text` is formatted once for every stream that sends it. */
interface FormattedArrival {
  arrival: bigint;
  text: string;
}

/** The one reader of a tenant's new arrivals in this process (see the module comment). */
export class TenantFeed {
  /** Every arrival up to here has been handed to every follower; undefined while idle. */
  head: bigint | undefined;
  private readonly followers = new Set<Follower>();
  private running = false;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly source: StreamSource,
    private readonly settings: StreamSettings,
    private readonly onIdle: () => void,
  ) {}

  get size(): number {
    return this.followers.size;
  }

  /**
   * Adds `f` at its position, synchronously, and returns true — or false when `f` is behind the
   * feed and must catch up alone to {@link head} first. The first follower of an idle feed sets
   * its position.
   */
  join(f: Follower): boolean {
    if (this.closed) return false;
    if (this.head !== undefined && f.position < this.head) return false;
    this.followers.add(f);
    this.head ??= f.position;
    if (!this.running) {
      this.running = true;
      void this.loop();
    }
    return true;
  }

  leave(f: Follower): void {
    this.followers.delete(f);
  }

  /** Ends the loop (the server is stopping); followers were stopped by the registry. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    const window = BigInt(this.settings.window);
    try {
      while (this.followers.size > 0 && !this.closed) {
        const last = await this.source.last();
        while (this.followers.size > 0 && !this.closed && last > this.head!) {
          const head = this.head!;
          const upto = last - head > window ? head + window : last;
          // One match column per distinct filter set of the followers at the time of the read.
          const columns = new Map<string, number>();
          const sets: TimelineFilters[] = [];
          for (const f of this.followers)
            if (!columns.has(f.key)) {
              columns.set(f.key, sets.length);
              sets.push(f.filters);
            }
          const rows = await this.source.matching(sets, head, upto);
          this.head = upto;
          const formatted = rows.map((r) => ({ row: r, text: formatEvent(r) }));
          for (const f of [...this.followers]) {
            const column = columns.get(f.key);
            // Joined during the read with filters it did not ask about: it reads that part alone.
            if (column === undefined) {
              this.followers.delete(f);
              f.drop('resync');
              continue;
            }
            f.deliver(
              formatted
                .filter((x) => x.row.matches[column] && x.row.arrival > f.position)
                .map((x) => ({ arrival: x.row.arrival, text: x.text })),
              upto,
            );
          }
        }
        if (this.followers.size === 0 || this.closed) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.settings.pollMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
    } catch (err) {
      for (const f of [...this.followers]) {
        this.followers.delete(f);
        f.drop(err instanceof Error ? err : new Error(String(err)));
      }
    } finally {
      // Synchronously after the last check (no follower is left): one that joins from now on
      // starts the loop again at its own position.
      this.running = false;
      this.head = undefined;
      this.onIdle();
    }
  }
}

/** The feeds of one app, one per tenant with open streams. */
export class StreamHub {
  private readonly feeds = new Map<string, TenantFeed>();
  private closed = false;

  constructor(
    private readonly sourceOf: (tenant: string) => StreamSource,
    readonly settings: StreamSettings,
  ) {}

  /** The tenant's current feed (a new one after the previous went idle). */
  feed(tenant: string): TenantFeed {
    let f = this.feeds.get(tenant);
    if (!f) {
      const created: TenantFeed = new TenantFeed(this.sourceOf(tenant), this.settings, () => {
        if (this.feeds.get(tenant) === created) this.feeds.delete(tenant);
      });
      if (this.closed) created.close();
      this.feeds.set(tenant, created);
      f = created;
    }
    return f;
  }

  /** The tenant's source, for a stream catching up alone. */
  source(tenant: string): StreamSource {
    return this.sourceOf(tenant);
  }

  /** Tenants with an active feed in this process. */
  get tenants(): number {
    return this.feeds.size;
  }

  close(): void {
    this.closed = true;
    for (const f of this.feeds.values()) f.close();
  }
}

/**
 * Writes the stream of `tenant`'s events matching `filters` to `out` from arrival `start` on
 * until `signal` aborts (client gone, server stopping), `deadline` (epoch ms, the token's
 * expiry) passes or the registry closes it, then ends `out`. Rejects only if reading failed
 * (the caller logs it; `out` is ended either way).
 */
export async function runStream(
  out: Writable,
  hub: StreamHub,
  tenant: string,
  filters: TimelineFilters,
  start: bigint,
  registry: StreamRegistry,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  const settings = hub.settings;
  const window = BigInt(settings.window);
  const source = hub.source(tenant);
  let stopped = false;
  let notify: (() => void) | undefined;
  const poke = () => notify?.();
  const stop = () => {
    stopped = true;
    poke();
  };
  const unregister = registry.add(stop);
  signal.addEventListener('abort', stop);
  out.on('close', stop);
  const expiry = setTimeout(stop, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
  let lastWrite = Date.now();
  const write = async (chunk: string) => {
    lastWrite = Date.now();
    if (out.write(chunk)) return;
    // Backpressure: nothing more is written (or read alone) until the client took this.
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      out.on('drain', done);
      signal.addEventListener('abort', done);
    });
  };

  // What the feed handed over and the client has not been sent yet; at most one window of events.
  const queue: Chunk[] = [];
  let dropped: 'resync' | 'overflow' | Error | undefined;
  let feed: TenantFeed | undefined;
  const follower: Follower = {
    key: filtersKey(filters),
    filters,
    position: start,
    deliver(events, upto) {
      if (dropped) return;
      for (const e of events) queue.push({ text: e.text, id: e.arrival });
      // Skipped arrivals (filtered out): move the client's last event id past them.
      if (upto > follower.position && (events.length === 0 || events[events.length - 1]!.arrival !== upto))
        queue.push({ text: `id: ${upto}\n\n`, id: upto });
      if (upto > follower.position) follower.position = upto;
      // (One delivery is at most a window and its id line; two windows queued mean it is behind.)
      if (queue.length > 2 * settings.window + 1) {
        // A slow client: let the feed go on without it; it catches up alone from what it wrote.
        feed?.leave(follower);
        dropped = 'overflow';
      }
      poke();
    },
    drop(reason) {
      dropped = reason;
      poke();
    },
  };
  // (A function, so the checks below read the value the feed set, not a narrowed one.)
  const droppedWhy = () => dropped;
  /** Waits until the feed delivers, the heartbeat is due or the stream stops. */
  const idle = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.max(1, settings.heartbeatMs - (Date.now() - lastWrite)));
      function done() {
        clearTimeout(t);
        notify = undefined;
        resolve();
      }
      notify = done;
    });

  try {
    let written = start;
    await write(`retry: ${Math.max(1000, settings.pollMs)}\nid: ${written}\n\n`);
    while (!stopped) {
      // Alone until the feed's position is reached (or the feed is idle: this stream starts it).
      for (;;) {
        if (stopped) return;
        feed = hub.feed(tenant);
        follower.position = written;
        dropped = undefined;
        if (feed.join(follower)) break;
        const head = feed.head!;
        const upto = head - written > window ? written + window : head;
        const events = await source.between(filters, written, upto);
        for (const e of events) {
          if (stopped) return;
          await write(formatEvent(e));
        }
        if (stopped) return;
        if (events.length === 0 || events[events.length - 1]!.arrival !== upto) await write(`id: ${upto}\n\n`);
        written = upto;
      }
      // Following the feed.
      while (!stopped) {
        while (queue.length > 0 && !droppedWhy()) {
          const chunk = queue.shift()!;
          await write(chunk.text);
          written = chunk.id;
          if (stopped) return;
        }
        const why = droppedWhy();
        if (why) {
          if (why instanceof Error) throw why;
          feed.leave(follower);
          queue.length = 0;
          break; // catch up alone from `written`
        }
        if (Date.now() - lastWrite >= settings.heartbeatMs) await write(': keep-alive\n\n');
        if (stopped || queue.length > 0 || droppedWhy()) continue;
        await idle();
      }
    }
  } finally {
    feed?.leave(follower);
    notify = undefined;
    clearTimeout(expiry);
    unregister();
    signal.removeEventListener('abort', stop);
    out.off('close', stop);
    out.end();
  }
}
