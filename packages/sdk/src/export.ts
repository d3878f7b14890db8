/**
 * Typed helpers for the Export Center routes (docs/export/runs.md): profiles (versioned), the
 * planner's dry run, runs, their Server-Sent Events and the bundle download. The two long streams
 * survive a dropped connection: `events` reconnects with `Last-Event-ID` until the run's `final`
 * event, and `download` continues with `Range: bytes=<received>-` and `If-Range: <ETag>` (so a
 * resumed download can never splice two different archives).
 */
import { toApiError, type StellaClient } from './client.js';
import type { paths } from './generated/openapi.js';
import { readEventStream } from './sse.js';

type Json<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

export type ExportProfile = Json<'/v1/exports/profiles/{id}', 'get', 200>;
export type ExportProfileBody = paths['/v1/exports/profiles']['post']['requestBody']['content']['application/json'];
export type ExportPlan = Json<'/v1/exports/plan', 'post', 200>;
export type ExportPlanBody = paths['/v1/exports/plan']['post']['requestBody']['content']['application/json'];
export type ExportRun = Json<'/v1/exports/runs/{id}', 'get', 200>;
export type ExportRunList = Json<'/v1/exports/runs', 'get', 200>;
export type ExportRunQuery = NonNullable<paths['/v1/exports/runs']['get']['parameters']['query']>;
export type ExportSchedule = Json<'/v1/exports/schedules/{id}', 'get', 200>;
export type ExportScheduleBody = paths['/v1/exports/schedules']['post']['requestBody']['content']['application/json'];

/** One Server-Sent Event of a run: `status`, `progress`, `artifact`, `final` or `heartbeat`. */
export interface ExportRunEvent {
  /** The event's id (absent on heartbeats, which are not part of the run's log). */
  id?: number;
  type: 'status' | 'progress' | 'artifact' | 'final' | 'heartbeat';
  data: Record<string, unknown> & { at?: string };
}

export interface ExportDownload {
  /** `"sha256:<hex>"` of the whole archive. */
  etag: string;
  /** Size of the whole archive. */
  size: number;
  /** The bytes from `start` to the end; reconnects with Range when the connection drops. */
  body: AsyncIterable<Uint8Array>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The export routes of one tenant, through a {@link StellaClient}. Methods throw {@link ApiError}. */
export class ExportApi {
  private readonly header: { 'x-stella-tenant': string };

  constructor(
    private readonly client: StellaClient,
    tenant: string,
  ) {
    this.header = { 'x-stella-tenant': tenant };
  }

  /** `POST /v1/exports/profiles` (version 1). */
  async createProfile(body: ExportProfileBody, idempotencyKey?: string): Promise<ExportProfile> {
    const r = await this.client.raw.POST('/v1/exports/profiles', {
      params: { header: { ...this.header, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `PUT /v1/exports/profiles/{id}`: writes version n+1. */
  async updateProfile(id: string, body: ExportProfileBody): Promise<ExportProfile> {
    const r = await this.client.raw.PUT('/v1/exports/profiles/{id}', {
      params: { header: this.header, path: { id } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /v1/exports/profiles/{id}` (the latest version, or `version`). */
  async getProfile(id: string, version?: number): Promise<ExportProfile> {
    const r = await this.client.raw.GET('/v1/exports/profiles/{id}', {
      params: { header: this.header, path: { id }, query: version === undefined ? {} : { version } },
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /v1/exports/profiles`: live profiles, latest versions. */
  async listProfiles(): Promise<ExportProfile[]> {
    const r = await this.client.raw.GET('/v1/exports/profiles', { params: { header: this.header } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data.items;
  }

  /** `DELETE /v1/exports/profiles/{id}`. */
  async deleteProfile(id: string): Promise<void> {
    const r = await this.client.raw.DELETE('/v1/exports/profiles/{id}', {
      params: { header: this.header, path: { id } },
    });
    if (!r.response.ok) throw toApiError(r.response.status, r.error);
  }

  /** `POST /v1/exports/plan`: counts and estimated size now, nothing written. */
  async plan(body: ExportPlanBody): Promise<ExportPlan> {
    const r = await this.client.raw.POST('/v1/exports/plan', { params: { header: this.header }, body });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `POST /v1/exports/runs` → the queued run. */
  async startRun(body: { profileId: string; profileVersion?: number }, idempotencyKey?: string): Promise<ExportRun> {
    const r = await this.client.raw.POST('/v1/exports/runs', {
      params: { header: { ...this.header, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  async getRun(id: string): Promise<ExportRun> {
    const r = await this.client.raw.GET('/v1/exports/runs/{id}', { params: { header: this.header, path: { id } } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /v1/exports/runs`: one page, newest first; pass `nextCursor` back as `cursor`. */
  async listRuns(query: ExportRunQuery = {}): Promise<ExportRunList> {
    const r = await this.client.raw.GET('/v1/exports/runs', { params: { header: this.header, query } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  async cancelRun(id: string): Promise<ExportRun> {
    const r = await this.client.raw.POST('/v1/exports/runs/{id}/cancel', {
      params: { header: this.header, path: { id } },
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /**
   * The run's events until its `final` one. A dropped stream is reopened with `Last-Event-ID`
   * (the stream's last event id; up to `maxReconnects` times in a row without progress, after
   * the server's `retry:` time or a backoff), so no event is lost or repeated.
   */
  async *events(
    id: string,
    opts: { lastEventId?: number | string; signal?: AbortSignal; maxReconnects?: number } = {},
  ): AsyncGenerator<ExportRunEvent> {
    let last = opts.lastEventId === undefined ? '' : String(opts.lastEventId);
    let failures = 0;
    let retryMs: number | undefined;
    const backoff = () => retryMs ?? Math.min(250 * 2 ** failures, 5_000);
    for (;;) {
      let res: Response;
      try {
        res = await this.client.stream(`/v1/exports/runs/${encodeURIComponent(id)}/events`, {
          headers: { ...this.header, accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        if (opts.signal?.aborted || ++failures > (opts.maxReconnects ?? 5)) throw err;
        await sleep(backoff());
        continue;
      }
      if (!res.ok) throw toApiError(res.status, await res.json().catch(() => undefined));
      try {
        const events = runEvents(
          res.body as unknown as AsyncIterable<Uint8Array>,
          last,
          (position) => {
            if (position !== last) failures = 0;
            last = position;
          },
          (ms) => (retryMs = Math.min(Math.max(ms, 100), 60_000)),
        );
        for await (const e of events) {
          yield e;
          if (e.type === 'final') return;
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
      }
      // The stream ended without a final event (server restart, proxy timeout): resume.
      if (++failures > (opts.maxReconnects ?? 5))
        throw toApiError(503, { code: 'SERVICE_UNAVAILABLE', message: 'the event stream keeps dropping' });
      await sleep(backoff());
    }
  }

  /**
   * `GET /v1/exports/runs/{id}/download` from byte `start`: the archive's ETag and size, and its
   * bytes as they arrive. When the connection drops the helper continues where it stopped
   * (`Range` + `If-Range`), up to `maxResumes` times.
   */
  async download(
    id: string,
    opts: { start?: number; signal?: AbortSignal; maxResumes?: number } = {},
  ): Promise<ExportDownload> {
    const path = `/v1/exports/runs/${encodeURIComponent(id)}/download`;
    const open = async (from: number, etag?: string) => {
      const res = await this.client.stream(path, {
        headers: {
          ...this.header,
          ...(from > 0 ? { range: `bytes=${from}-` } : {}),
          ...(from > 0 && etag ? { 'if-range': etag } : {}),
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (!res.ok) throw toApiError(res.status, await res.json().catch(() => undefined));
      if (from > 0 && res.status !== 206)
        throw toApiError(409, {
          code: 'CONFLICT',
          message: 'the server did not resume the download (archive changed?)',
        });
      return res;
    };
    const start = opts.start ?? 0;
    const first = await open(start);
    const etag = first.headers.get('etag') ?? '';
    const range = first.headers.get('content-range');
    const size = range ? Number(range.split('/')[1]) : Number(first.headers.get('content-length'));
    const maxResumes = opts.maxResumes ?? 3;
    async function* body(): AsyncGenerator<Uint8Array> {
      let res = first;
      let at = start;
      let resumes = 0;
      for (;;) {
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            at += chunk.byteLength;
            yield chunk;
          }
        } catch (err) {
          if (opts.signal?.aborted || resumes >= maxResumes) throw err;
        }
        if (at >= size) return;
        if (resumes++ >= maxResumes)
          throw toApiError(503, { code: 'SERVICE_UNAVAILABLE', message: `download stopped at byte ${at} of ${size}` });
        res = await open(at, etag);
      }
    }
    return { etag, size, body: body() };
  }

  /** `POST /v1/exports/schedules` (docs/export/schedules.md). */
  async createSchedule(body: ExportScheduleBody, idempotencyKey?: string): Promise<ExportSchedule> {
    const r = await this.client.raw.POST('/v1/exports/schedules', {
      params: { header: { ...this.header, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /v1/exports/schedules` (optionally of one profile). */
  async listSchedules(profileId?: string): Promise<ExportSchedule[]> {
    const r = await this.client.raw.GET('/v1/exports/schedules', {
      params: { header: this.header, query: profileId ? { profileId } : {} },
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data.items;
  }

  /** `DELETE /v1/exports/schedules/{id}`. */
  async deleteSchedule(id: string): Promise<void> {
    const r = await this.client.raw.DELETE('/v1/exports/schedules/{id}', {
      params: { header: this.header, path: { id } },
    });
    if (!r.response.ok) throw toApiError(r.response.status, r.error);
  }
}

/**
 * The run events of a text/event-stream body, read by the SDK's one SSE reader (sse.ts). The
 * stream's last event id (what a reconnect sends as `Last-Event-ID`) is reported through
 * `position` for every dispatched event and every id-only block, heartbeats included.
 */
async function* runEvents(
  body: AsyncIterable<Uint8Array>,
  lastEventId: string,
  position: (id: string) => void,
  retry: (ms: number) => void,
): AsyncGenerator<ExportRunEvent> {
  for await (const item of readEventStream(body, lastEventId)) {
    if (item.type === 'retry') retry(item.ms);
    else if (item.type === 'position') position(item.id);
    else if (item.type === 'event') {
      position(item.id);
      const type = item.event as ExportRunEvent['type'];
      // Heartbeats are not part of the run's log: the id the stream is at is not theirs.
      const id = type !== 'heartbeat' && /^[0-9]+$/.test(item.id) ? { id: Number(item.id) } : {};
      yield { ...id, type, data: JSON.parse(item.data) as ExportRunEvent['data'] };
    }
  }
}
