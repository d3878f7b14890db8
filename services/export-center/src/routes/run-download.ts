/**
 * `GET /v1/exports/runs/{id}/download`: the run's sealed export.tgz from the object store,
 * streamed. `ETag` = `"sha256:<hex>"` of the archive (it never changes), `If-None-Match` → 304,
 * one `Range` → 206 (resumable downloads; `If-Range` with another ETag → the whole archive). A run that has not succeeded is 409
 * EXPORT_RUN_NOT_FINISHED; another tenant's run is 404 like a missing one.
 *
 * The bundle names its inputs, not the run (docs/adr/0012): two runs over the same inputs have
 * the same bytes. Which run answered is said by `X-Stella-Export-Run` (and the file name in
 * `Content-Disposition`); the run row's archive digest, the ETag, ties that run to these bytes.
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, ifNoneMatchHits, parseByteRange, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { getRun } from '../runs/run.repository.js';
import { IdParams, TAG } from './schemas.js';

/** Response header naming the run whose archive is sent (the archive itself does not name it). */
export const EXPORT_RUN_HEADER = 'x-stella-export-run';

const DOWNLOAD_HEADERS = {
  etag: {
    type: 'string',
    description: '`"sha256:<hex>"` of the whole export.tgz: the run\'s `result.archive.digest`.',
  },
  'x-stella-export-run': {
    type: 'string',
    description:
      'The run whose archive this is. export.json names the inputs, not the run (ADR 0012): two runs over the same inputs send the same bytes.',
  },
} as const;

export function runDownloadRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.get(
      '/v1/exports/runs/:id/download',
      {
        config: tenantRoute('export:download'),
        schema: {
          tags: [TAG],
          summary: 'The sealed export.tgz of a succeeded run (ETag = its sha256; If-None-Match; one Range)',
          params: IdParams,
          response: {
            200: {
              description: 'export.tgz (application/gzip)',
              type: 'string',
              format: 'binary',
              headers: DOWNLOAD_HEADERS,
            },
            206: {
              description: 'The requested byte range of export.tgz',
              type: 'string',
              format: 'binary',
              headers: DOWNLOAD_HEADERS,
            },
            304: {
              description: 'Not modified (If-None-Match matched the ETag)',
              type: 'null',
              headers: DOWNLOAD_HEADERS,
            },
            ...errorResponses(400, 404, 409, 416),
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        const run = await ctx.transaction((tx) => getRun(tx, id));
        if (run.status !== 'succeeded')
          throw new StellaError('EXPORT_RUN_NOT_FINISHED', `export run ${id} is ${run.status}; nothing to download`, {
            details: { runId: id, status: run.status },
          });
        const etag = `"${run.archive_digest}"`;
        reply.header('etag', etag).header('accept-ranges', 'bytes').header(EXPORT_RUN_HEADER, run.run_id);
        if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.status(304).send();
        const size = Number(run.archive_size);
        // If-Range (RFC 9110 §13.1.5): resume only if the client holds part of this same archive.
        const ifRange = req.headers['if-range'];
        const range = ifRange === undefined || ifRange === etag ? parseByteRange(req.headers.range, size) : undefined;
        const object = await deps.store.get(run.archive_key!, range ? { range } : {});
        await ctx.transaction((tx) =>
          tx.audit({ action: 'export.download', resource: id, ...(range ? { details: { range } } : {}) }),
        );
        reply
          .type('application/gzip')
          .header('content-disposition', `attachment; filename="export-${id}.tgz"`)
          .header('content-length', String(object.length));
        if (object.range)
          reply.status(206).header('content-range', `bytes ${object.range.start}-${object.range.end}/${size}`);
        return reply.send(object.body);
      },
    );
  };
}
