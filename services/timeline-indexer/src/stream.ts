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
 * - Memory per connection is one window of at most `window` events: the next window is read only
 *   after the previous one was written and the socket drained.
 * - The stream ends when the client goes, when its token expires (it reconnects with a new one)
 *   and when the server stops ({@link StreamRegistry.closeAll} from the app's preClose hook).
 */
import type { Writable } from 'node:stream';
import type { StreamedEvent } from './query.js';

export interface StreamSettings {
  /** How often a caught-up stream asks the database for new arrivals. */
  pollMs: number;
  /** Idle time after which a comment line is sent. */
  heartbeatMs: number;
  /** Most arrivals read (and held) at once. */
  window: number;
}

/** What one stream reads, each call in its own tenant transaction. */
export interface StreamSource {
  /** The tenant's last committed arrival. */
  last(): Promise<bigint>;
  /** The matching events that arrived in `(after, upto]`. */
  between(after: bigint, upto: bigint): Promise<StreamedEvent[]>;
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

/**
 * Writes the stream to `out` from arrival `start` on until `signal` aborts (client gone, server
 * stopping), `deadline` (epoch ms, the token's expiry) passes or the registry closes it, then
 * ends `out`. Rejects only if reading failed (the caller logs it; `out` is ended either way).
 */
export async function runStream(
  out: Writable,
  source: StreamSource,
  start: bigint,
  settings: StreamSettings,
  registry: StreamRegistry,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  const unregister = registry.add(stop);
  signal.addEventListener('abort', stop);
  out.on('close', stop);
  const expiry = setTimeout(stop, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
  let lastWrite = Date.now();
  const write = async (chunk: string) => {
    lastWrite = Date.now();
    if (out.write(chunk)) return;
    // Backpressure: the next window is read only once the client took this one.
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
  /** Waits `ms` or until stopped. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });
  try {
    let position = start;
    await write(`retry: ${Math.max(1000, settings.pollMs)}\nid: ${position}\n\n`);
    while (!stopped) {
      const last = await source.last();
      if (stopped) return;
      if (last > position) {
        const upto = last - position > BigInt(settings.window) ? position + BigInt(settings.window) : last;
        const events = await source.between(position, upto);
        for (const e of events) {
          if (stopped) return;
          await write(formatEvent(e));
        }
        if (stopped) return;
        // Skipped arrivals (filtered out): move the client's last event id past them.
        if (events.length === 0 || events[events.length - 1]!.arrival !== upto) await write(`id: ${upto}\n\n`);
        position = upto;
        if (upto < last) continue;
      }
      if (Date.now() - lastWrite >= settings.heartbeatMs) await write(': keep-alive\n\n');
      if (stopped) return;
      await pause(Math.min(settings.pollMs, Math.max(1, settings.heartbeatMs - (Date.now() - lastWrite))));
    }
  } finally {
    clearTimeout(expiry);
    unregister();
    signal.removeEventListener('abort', stop);
    out.off('close', stop);
    out.end();
  }
}
