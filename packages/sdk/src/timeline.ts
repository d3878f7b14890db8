/**
 * Typed helpers for the Timeline Indexer routes (docs/timeline.md): ingest, one page of the
 * query, a walk over every page, one event and its evidence links. Error answers throw
 * {@link ApiError} with the registry code, as the client's own methods do.
 */
import { toApiError, type StellaClient } from './client.js';
import type { components, paths } from './generated/openapi.js';

export type TimelineEvent = components['schemas']['TimelineEvent'];
/** The query filters and page size of `GET /timeline` (without the cursor). */
export type TimelineQuery = Omit<NonNullable<paths['/timeline']['get']['parameters']['query']>, 'cursor'>;
export type TimelinePage = paths['/timeline']['get']['responses']['200']['content']['application/json'];
export type TimelineEvidence =
  paths['/timeline/{eventId}/evidence']['get']['responses']['200']['content']['application/json'];
export type TimelineIngestResult = paths['/timeline/events']['post']['responses']['200']['content']['application/json'];

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
