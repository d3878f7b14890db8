/**
 * Typed client for the Stella HTTP API, built on `openapi-fetch` with the types generated from the
 * committed OpenAPI document. It adds the auth and tenant headers (DESIGN.md §3) and turns every
 * non-2xx error envelope into an {@link ApiError} that carries the registry `code`.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/openapi.js';

export interface StellaClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** Bearer token (JWT). */
  token?: string;
  /** Sent as `X-Stella-Tenant` on every request. */
  tenant?: string;
  /** Injected fetch (tests); default global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Per-request timeout (not for event streams, which run until their signal aborts). Default 30 s. */
  timeoutMs?: number;
}

/** The error envelope `{statusCode, code, message, details?, traceId}` as a thrown error. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly traceId?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The {@link ApiError} of an error answer (`status`, the parsed envelope). The SDK's one mapping. */
export function toApiError(status: number, body: unknown): ApiError {
  const b = (body ?? {}) as { code?: unknown; message?: unknown; traceId?: unknown; details?: unknown };
  return new ApiError(
    status,
    typeof b.code === 'string' ? b.code : `HTTP_${status}`,
    typeof b.message === 'string' ? b.message : `HTTP ${status}`,
    typeof b.traceId === 'string' ? b.traceId : undefined,
    b.details,
  );
}

export type WhoAmI = paths['/v1/whoami']['get']['responses']['200']['content']['application/json'];

/** The Stella API client. Methods throw {@link ApiError} for error answers. */
export class StellaClient {
  readonly raw: Client<paths>;

  constructor(private readonly options: StellaClientOptions) {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.tenant) headers['x-stella-tenant'] = options.tenant;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const baseFetch = options.fetch ?? globalThis.fetch;
    this.raw = createClient<paths>({
      baseUrl: options.server.replace(/\/+$/, ''),
      headers,
      // An event stream has no end to wait for: only the caller's signal (on the request) ends it.
      fetch: (req: Request) =>
        req.headers.get('accept') === 'text/event-stream'
          ? baseFetch(req)
          : baseFetch(req, { signal: AbortSignal.timeout(timeoutMs) }),
    });
  }

  /**
   * A raw GET for long streams (SSE, resumable downloads): the auth and tenant headers, but not
   * the per-request timeout — a stream lives as long as it flows; pass `signal` to stop it.
   */
  stream(path: string, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (this.options.tenant) headers['x-stella-tenant'] = this.options.tenant;
    return (this.options.fetch ?? globalThis.fetch)(`${this.options.server.replace(/\/+$/, '')}${path}`, {
      headers,
      ...(init.signal ? { signal: init.signal } : {}),
    });
  }

  private tenant(): string {
    if (!this.options.tenant)
      throw new ApiError(400, 'TENANT_HEADER_MISSING', 'no tenant configured (--tenant / STELLA_TENANT)');
    return this.options.tenant;
  }

  /** `GET /v1/whoami`: the caller's tenant, subject and scopes. */
  async whoami(): Promise<WhoAmI> {
    const { data, error, response } = await this.raw.GET('/v1/whoami', {
      params: { header: { 'x-stella-tenant': this.tenant() } },
    });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** `GET /readyz`: readiness of the server and its dependencies. */
  async ready(): Promise<{ ok: boolean; status: number; body: unknown }> {
    const { data, error, response } = await this.raw.GET('/readyz');
    return { ok: response.ok, status: response.status, body: data ?? error };
  }
}
