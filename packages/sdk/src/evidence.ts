/**
 * Typed helpers for the Evidence Locker routes (docs/formats/evidence-bundle.md "API"). Bodies of
 * blobs and bundles are streams both ways: an upload is sent as the file is read and a download
 * is handed back as the response stream, so neither is held in memory.
 */
import { toApiError, type StellaClient } from './client.js';
import type { paths } from './generated/openapi.js';

type Json<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

export type EvidenceBundle = Json<'/evidence/{id}', 'get', 200>;
export type EvidenceList = Json<'/evidence', 'get', 200>;
export type EvidenceListQuery = NonNullable<paths['/evidence']['get']['parameters']['query']>;
export type BlobUpload = Json<'/evidence/blobs/{digest}', 'put', 201>;
export type SnapshotBody = paths['/evidence/snapshot']['post']['requestBody']['content']['application/json'];
export type SnapshotResult = Json<'/evidence/snapshot', 'post', 201>;
export type EvidenceHold = Json<'/evidence/hold/{caseId}', 'post', 200>;
export type HoldBody = paths['/evidence/hold/{caseId}']['post']['requestBody']['content']['application/json'];
export type IncidentStatus = Json<'/evidence/incident', 'get', 200>;
export type RetentionPolicy = Json<'/evidence/retention', 'get', 200>;
export type RetentionPolicyBody = paths['/evidence/retention']['put']['requestBody']['content']['application/json'];
export type PurgeResult = Json<'/evidence/retention/purge', 'post', 200>;
export type TombstoneList = Json<'/evidence/tombstones', 'get', 200>;
export type Tombstone = Json<'/evidence/tombstones/{id}', 'get', 200>;

/** The evidence routes of one tenant, through a {@link StellaClient}. Methods throw {@link ApiError}. */
export class EvidenceApi {
  private readonly header: { 'x-stella-tenant': string };

  constructor(
    private readonly client: StellaClient,
    tenant: string,
  ) {
    this.header = { 'x-stella-tenant': tenant };
  }

  /** `GET /evidence/{id}`: seal, archive digest and artifact entries. */
  async get(id: string): Promise<EvidenceBundle> {
    const r = await this.client.raw.GET('/evidence/{id}', { params: { header: this.header, path: { id } } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence`: one page, newest first; pass `nextCursor` back as `cursor` for the next. */
  async list(query: EvidenceListQuery = {}): Promise<EvidenceList> {
    const r = await this.client.raw.GET('/evidence', { params: { header: this.header, query } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence/{id}/download`: the bundle.tgz as a stream, with its `ETag` digest. */
  async download(id: string): Promise<{ body: ReadableStream<Uint8Array>; etag: string | null }> {
    const r = await this.client.raw.GET('/evidence/{id}/download', {
      params: { header: this.header, path: { id } },
      parseAs: 'stream',
    });
    if (!r.response.ok || !r.data) throw toApiError(r.response.status, await r.response.json().catch(() => undefined));
    return { body: r.data as ReadableStream<Uint8Array>, etag: r.response.headers.get('etag') };
  }

  /**
   * `GET /evidence/{id}/portable`: the portable-bundle-v1.tgz as a stream — redacted, with the
   * content of `withhold` paths left out (their entries stay) and only `keepMetadata` members kept.
   */
  async portable(
    id: string,
    options: { withhold?: string[]; keepMetadata?: string[] } = {},
  ): Promise<{ body: ReadableStream<Uint8Array> }> {
    const r = await this.client.raw.GET('/evidence/{id}/portable', {
      params: {
        header: this.header,
        path: { id },
        query: {
          ...(options.withhold?.length ? { withhold: options.withhold } : {}),
          ...(options.keepMetadata?.length ? { keepMetadata: options.keepMetadata } : {}),
        },
      },
      parseAs: 'stream',
    });
    if (!r.response.ok || !r.data) throw toApiError(r.response.status, await r.response.json().catch(() => undefined));
    return { body: r.data as ReadableStream<Uint8Array> };
  }

  /**
   * `PUT /evidence/blobs/{digest}`: streams `body` (whose sha256 the caller computed) to the store.
   * `size`, when known, is sent as Content-Length so the server refuses an oversize blob up front.
   */
  async uploadBlob(digest: string, body: ReadableStream<Uint8Array>, size?: number): Promise<BlobUpload> {
    const r = await this.client.raw.PUT('/evidence/blobs/{digest}', {
      params: { header: this.header, path: { digest } },
      headers: {
        'content-type': 'application/octet-stream',
        ...(size !== undefined ? { 'content-length': String(size) } : {}),
      },
      body: body as never,
      bodySerializer: (b: unknown) => b as never,
      // A stream body must say so (fetch standard: half-duplex request streams).
      duplex: 'half',
    } as never);
    const { data, error, response } = r as { data?: BlobUpload; error?: unknown; response: Response };
    if (data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** `POST /evidence/snapshot`: seals a bundle from uploaded blobs and inline artifacts. */
  async snapshot(body: SnapshotBody, idempotencyKey?: string): Promise<SnapshotResult> {
    const r = await this.client.raw.POST('/evidence/snapshot', {
      params: { header: { ...this.header, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `POST /evidence/hold/{caseId}`: places a legal hold, or adds bundles to an active one. */
  async hold(caseId: string, body: HoldBody): Promise<EvidenceHold> {
    const r = await this.client.raw.POST('/evidence/hold/{caseId}', {
      params: { header: this.header, path: { caseId } },
      body,
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `DELETE /evidence/hold/{caseId}`: releases a legal hold (a reason is required). */
  async release(caseId: string, reason: string): Promise<EvidenceHold> {
    const r = await this.client.raw.DELETE('/evidence/hold/{caseId}', {
      params: { header: this.header, path: { caseId } },
      body: { reason },
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence/incident`: whether incident mode is active, and the current or last incident. */
  async incidentStatus(): Promise<IncidentStatus> {
    const r = await this.client.raw.GET('/evidence/incident', { params: { header: this.header } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `POST /evidence/incident`: activates (`true`) or deactivates incident mode; a reason is required. */
  async setIncident(active: boolean, reason: string): Promise<IncidentStatus> {
    const r = await this.client.raw.POST('/evidence/incident', {
      params: { header: this.header },
      body: { active, reason },
    });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence/retention`: the tenant's retention policy (version 0: none). */
  async retention(): Promise<RetentionPolicy> {
    const r = await this.client.raw.GET('/evidence/retention', { params: { header: this.header } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `PUT /evidence/retention`: replaces the tenant's retention policy. */
  async setRetention(body: RetentionPolicyBody): Promise<RetentionPolicy> {
    const r = await this.client.raw.PUT('/evidence/retention', { params: { header: this.header }, body });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `POST /evidence/retention/purge`: one purge pass for this tenant, now. */
  async purge(): Promise<PurgeResult> {
    const r = await this.client.raw.POST('/evidence/retention/purge', { params: { header: this.header } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence/tombstones`: one page of signed tombstones, newest bundle first. */
  async tombstones(query: { limit?: number; cursor?: string } = {}): Promise<TombstoneList> {
    const r = await this.client.raw.GET('/evidence/tombstones', { params: { header: this.header, query } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }

  /** `GET /evidence/tombstones/{id}`: the signed tombstone of one purged bundle. */
  async tombstone(id: string): Promise<Tombstone> {
    const r = await this.client.raw.GET('/evidence/tombstones/{id}', { params: { header: this.header, path: { id } } });
    if (r.data === undefined) throw toApiError(r.response.status, r.error);
    return r.data;
  }
}
