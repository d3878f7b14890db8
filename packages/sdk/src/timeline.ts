/**
 * Typed helpers for the Timeline Indexer routes (docs/timeline.md): ingest, one page of the
 * query, a walk over every page, one event and its evidence links. Error answers throw
 * {@link ApiError} with the registry code, as the client's own methods do.
 */
import { ApiError, toApiError, type StellaClient } from './client.js';
import type { components, paths } from './generated/openapi.js';
import { readEventStream } from './sse.js';

export type TimelineEvent = components['schemas']['TimelineEvent'];
/** The query filters and page size of `GET /timeline` (without the cursor). */
export type TimelineQuery = Omit<NonNullable<paths['/timeline']['get']['parameters']['query']>, 'cursor'>;
export type TimelinePage = paths['/timeline']['get']['responses']['200']['content']['application/json'];
export type TimelineEvidence =
  paths['/timeline/{eventId}/evidence']['get']['responses']['200']['content']['application/json'];
/** The filters of `GET /timeline/stream` (those of the query, without paging). */
export type TimelineStreamQuery = NonNullable<paths['/timeline/stream']['get']['parameters']['query']>;

/** One event of the stream and its stream id (pass it as `lastEventId` to resume after it). */
export interface StreamedTimelineEvent {
  id: string;
  event: TimelineEvent;
}

export interface FollowOptions {
  /** Resume right after this stream id; default: from the present. */
  lastEventId?: string;
  /** Ends the stream (the generator returns). */
  signal?: AbortSignal;
  /** Reconnect when nothing, not even a heartbeat, arrived for this long. Default 60 s (the server's heartbeat is 15 s). */
  idleMs?: number;
  /** Called with each new position (after an event, or past events the filters skipped): persist it to resume later. */
  onPosition?: (id: string) => void;
  /** Called when the connection ended or failed and the client is about to reconnect. */
  onReconnect?: (reason: unknown) => void;
}

export type TimelineIngestResult = paths['/timeline/events']['post']['responses']['200']['content']['application/json'];

/** Waits `ms`, or less if `signal` aborts (the SDK has no Node-only imports). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

/** The timeline routes for one tenant (sent as `X-Stella-Tenant`; it must match the token). */
export class TimelineApi {
  constructor(
    private readonly client: StellaClient,
    private readonly tenant: string,
  ) {}

  private get header() {
    return { 'x-stella-tenant': this.tenant };
  }

  /** `POST /timeline/events`: one batch (1 to `STELLA_TIMELINE_HTTP_MAX_BATCH` events). */
  async ingest(events: Record<string, unknown>[]): Promise<TimelineIngestResult> {
    const { data, error, response } = await this.client.raw.POST('/timeline/events', {
      params: { header: this.header },
      body: { events },
    });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** `GET /timeline`: one page; pass the previous page's `nextCursor` to continue. */
  async page(query: TimelineQuery, cursor?: string): Promise<TimelinePage> {
    const { data, error, response } = await this.client.raw.GET('/timeline', {
      params: { header: this.header, query: { ...query, ...(cursor ? { cursor } : {}) } },
    });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** Every page of a query, in timeline order, following `nextCursor` one page at a time. */
  async *pages(query: TimelineQuery): AsyncGenerator<TimelinePage> {
    let cursor: string | undefined;
    do {
      const page = await this.page(query, cursor);
      yield page;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /**
   * The stream's position now (its first `id`), without waiting for events: `follow(query,
   * {lastEventId})` from it delivers every event that arrives after this call. Lets a caller read
   * the existing pages first and then continue with the stream, missing nothing in between.
   */
  async streamPosition(query: TimelineStreamQuery): Promise<string> {
    const connection = new AbortController();
    try {
      const { data, error, response } = await this.client.raw.GET('/timeline/stream', {
        params: { header: this.header, query },
        headers: { accept: 'text/event-stream' },
        parseAs: 'stream',
        signal: connection.signal,
      });
      if (error !== undefined || !data) throw toApiError(response.status, error);
      for await (const item of readEventStream(data as AsyncIterable<Uint8Array>))
        if (item.type === 'position' || item.type === 'event') return item.id;
      throw new Error('the timeline stream ended before it named its position');
    } finally {
      connection.abort();
    }
  }

  /**
   * `GET /timeline/stream`: new events matching `query`, as they arrive, until `signal` aborts.
   * When the connection ends (server restart, token rotation, network) it reconnects with
   * `Last-Event-ID`, so no event is missed or repeated. An error answer (bad filters, 401/403)
   * is thrown as {@link ApiError}; a 5xx or a network error is retried after the server's
   * `retry` interval.
   */
  async *follow(query: TimelineStreamQuery, o: FollowOptions = {}): AsyncGenerator<StreamedTimelineEvent> {
    let last = o.lastEventId;
    let retryMs = 1000;
    const idleMs = o.idleMs ?? 60_000;
    while (!o.signal?.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort();
      o.signal?.addEventListener('abort', abort);
      let idle: ReturnType<typeof setTimeout> | undefined;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
      };
      try {
        alive();
        const { data, error, response } = await this.client.raw.GET('/timeline/stream', {
          params: { header: { ...this.header, ...(last !== undefined ? { 'last-event-id': last } : {}) }, query },
          headers: { accept: 'text/event-stream' },
          parseAs: 'stream',
          signal: connection.signal,
        });
        if (error !== undefined || !data) {
          if (response.status < 500) throw toApiError(response.status, error);
          throw new Error(`HTTP ${response.status}`);
        }
        for await (const item of readEventStream(data as AsyncIterable<Uint8Array>, last ?? '')) {
          alive();
          if (item.type === 'retry') retryMs = Math.min(Math.max(item.ms, 100), 60_000);
          else if (item.type === 'position') {
            last = item.id;
            o.onPosition?.(last);
          } else if (item.type === 'event' && item.event === 'timeline.event') {
            last = item.id;
            yield { id: item.id, event: JSON.parse(item.data) as TimelineEvent };
            o.onPosition?.(last);
          }
        }
        o.onReconnect?.(new Error('the server ended the stream'));
      } catch (err) {
        if (o.signal?.aborted) return;
        if (err instanceof ApiError) throw err;
        o.onReconnect?.(err);
      } finally {
        clearTimeout(idle);
        o.signal?.removeEventListener('abort', abort);
        connection.abort();
      }
      await pause(retryMs, o.signal);
    }
  }

  /** `GET /timeline/{eventId}`. */
  async get(eventId: string): Promise<TimelineEvent> {
    const { data, error, response } = await this.client.raw.GET('/timeline/{eventId}', {
      params: { header: this.header, path: { eventId } },
    });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** `GET /timeline/{eventId}/evidence`: the event's evidence references, in envelope order. */
  async evidence(eventId: string): Promise<TimelineEvidence> {
    const { data, error, response } = await this.client.raw.GET('/timeline/{eventId}/evidence', {
      params: { header: this.header, path: { eventId } },
    });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }
}
