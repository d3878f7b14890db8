/**
 * The Export Center sources API (docs/export/sources.md): stream one source file into the
 * tenant's ledger, and read what the tenant can export.
 */
import { toApiError, type StellaClient } from './client.js';
import type { paths } from './generated/openapi.js';

type ImportOp = paths['/v1/sources/{kind}']['post'];
export type SourceKind = ImportOp['parameters']['path']['kind'];
export type SourceImportQuery = NonNullable<ImportOp['parameters']['query']>;
export type SourceImportSummary = ImportOp['responses']['200']['content']['application/json'];
export type SourceCounts = paths['/v1/sources']['get']['responses']['200']['content']['application/json'];

export class SourcesApi {
  constructor(
    private readonly client: StellaClient,
    private readonly tenant: string,
  ) {}

  private get header() {
    return { 'x-stella-tenant': this.tenant };
  }

  /**
   * `POST /v1/sources/{kind}`: streams `body` (one document, or lines for findings and Maven index rows) and
   * returns the import summary. Idempotent: the same content again is all `unchanged`.
   */
  async import(
    kind: SourceKind,
    body: ReadableStream<Uint8Array>,
    query: Partial<SourceImportQuery> = {},
  ): Promise<SourceImportSummary> {
    const r = await this.client.raw.POST('/v1/sources/{kind}', {
      params: { header: this.header, path: { kind }, query: { global: false, ...query } },
      headers: {
        'content-type': kind === 'finding' || kind === 'artifact' ? 'application/x-ndjson' : 'application/json',
      },
      body: body as never,
      bodySerializer: (b: unknown) => b as never,
      // A stream body must say so (fetch standard: half-duplex request streams).
      duplex: 'half',
    } as never);
    const { data, error, response } = r as { data?: SourceImportSummary; error?: unknown; response: Response };
    if (data === undefined) throw toApiError(response.status, error);
    return data;
  }

  /** `GET /v1/sources`: current records per kind and the ledger head a run would pin. */
  async counts(): Promise<SourceCounts> {
    const { data, error, response } = await this.client.raw.GET('/v1/sources', { params: { header: this.header } });
    if (error !== undefined || data === undefined) throw toApiError(response.status, error);
    return data;
  }
}
