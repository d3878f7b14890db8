/**
 * The verification API (issue #11 §3, EXPORT-SVC-37-004): `GET /v1/exports/runs/{id}/verify`
 * re-verifies a succeeded run's stored export.tgz, `POST /v1/exports/verify` an uploaded one.
 * Both run the one verifier the CLI runs (`stella export verify`, bundle/verify-export.ts), with
 * this service's own signing key as the trusted key, and stream its checks as they are decided:
 * NDJSON by default (`application/x-ndjson`, one `{"type":"check",…}` line per check, then one
 * `{"type":"summary",…}` line), or Server-Sent Events (`event: check` … `event: summary`) when the
 * client accepts `text/event-stream` or asks `?format=sse`. The upload is read as a stream by the
 * tar reader and hashed as it passes; it is never held whole. A broken bundle is still a 200: its
 * failing checks and `attestStatus: "failed"` are the answer (docs/export/verify.md).
 */
import { createPublicKey } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import { spkiPem } from '@stella/core/signing';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import { resolveSigner } from '@stella/platform/keys';
import type { ServiceDeps } from '@stella/platform/service';
import { verifyExportBundle, type ExportVerifyCheck, type ExportVerifyReport } from '../bundle/verify-export.js';
import { getRun } from '../runs/run.repository.js';
import { IdParams, TAG } from './schemas.js';

/** What the summary line says of the signatures: checked against this service's key, or not. */
export type AttestStatus = 'verified' | 'failed';

export interface VerifySummary {
  type: 'summary';
  attestStatus: AttestStatus;
  ok: boolean;
  signerChecked: boolean;
  checks: number;
  failed: number;
  tenant?: string;
  profile?: { id: string; name: string; version: number };
  manifestDigest?: string;
  rerunHash?: string;
}

/** The summary line of a finished verification. */
export function verifySummary(report: ExportVerifyReport): VerifySummary {
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  return {
    type: 'summary',
    attestStatus: report.ok && report.signerChecked ? 'verified' : 'failed',
    ok: report.ok,
    signerChecked: report.signerChecked,
    checks: report.checks.length,
    failed,
    ...(report.tenant !== undefined ? { tenant: report.tenant } : {}),
    ...(report.profile !== undefined ? { profile: report.profile } : {}),
    ...(report.manifestDigest !== undefined ? { manifestDigest: report.manifestDigest } : {}),
    ...(report.rerunHash !== undefined ? { rerunHash: report.rerunHash } : {}),
  };
}

const UPLOAD_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream'];

const NDJSON_EXAMPLE = [
  '{"type":"check","check":"archive","status":"pass","detail":"9 files"}',
  '{"type":"check","check":"file:data/advisory.jsonl.gz","status":"pass","digest":"sha256:5f0c…"}',
  '{"type":"check","check":"signature:export.dsse.json","status":"pass","detail":"sha256:ab12… (given key)"}',
  '{"type":"summary","attestStatus":"verified","ok":true,"signerChecked":true,"checks":21,"failed":0,"manifestDigest":"sha256:…","rerunHash":"sha256:…"}',
].join('\n');

const SSE_EXAMPLE = [
  'event: check\ndata: {"check":"archive","status":"pass","detail":"9 files"}\n',
  'event: summary\ndata: {"attestStatus":"verified","ok":true,"signerChecked":true,"checks":21,"failed":0}\n',
].join('\n');

const FormatQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    format: {
      type: 'string',
      enum: ['ndjson', 'sse'],
      description: 'Response framing; default from Accept (text/event-stream → sse), else ndjson.',
    },
  },
} as const;

const STREAM_RESPONSE = {
  description: 'The checks as they are decided, then a summary (NDJSON or Server-Sent Events).',
  content: {
    'application/x-ndjson': { schema: { type: 'string' }, example: NDJSON_EXAMPLE },
    'text/event-stream': { schema: { type: 'string' }, example: SSE_EXAMPLE },
  },
} as const;

type Framing = 'ndjson' | 'sse';

function framingOf(query: unknown, accept: string | undefined): Framing {
  const asked = (query as { format?: Framing }).format;
  if (asked) return asked;
  return accept?.includes('text/event-stream') ? 'sse' : 'ndjson';
}

function frame(framing: Framing, type: 'check' | 'summary', body: object): string {
  if (framing === 'ndjson') return `${JSON.stringify({ type, ...body })}\n`;
  const { type: _drop, ...data } = body as { type?: string };
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function runVerifyRoutes(deps: ServiceDeps) {
  // The trusted key is the public half of the key this service signs with (read once).
  let trusted: Promise<string> | undefined;
  const trustedKeyPem = () =>
    (trusted ??= (async () => {
      const signer = await resolveSigner(deps.signingKey);
      try {
        return spkiPem(createPublicKey({ key: Buffer.from(signer.publicKeySpki()), format: 'der', type: 'spki' }));
      } finally {
        await signer.close();
      }
    })().catch((err: unknown) => {
      trusted = undefined; // a key that fails to load now may load on the next request
      throw err;
    }));

  /** Streams the verification of `source` as the response and returns the report at the end. */
  async function streamVerification(
    reply: import('fastify').FastifyReply,
    framing: Framing,
    source: Readable,
  ): Promise<ExportVerifyReport> {
    const publicKeyPem = await trustedKeyPem();
    const out = new PassThrough();
    reply
      .type(framing === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('cache-control', 'no-cache, no-transform')
      .header('x-accel-buffering', 'no');
    void reply.send(out);
    const onCheck = (c: ExportVerifyCheck) => out.write(frame(framing, 'check', c));
    const report = await verifyExportBundle(source, { publicKeyPem, onCheck });
    out.end(frame(framing, 'summary', verifySummary(report)));
    return report;
  }

  return (app: StellaApp) => {
    app.get(
      '/v1/exports/runs/:id/verify',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: "Re-verify a succeeded run's export.tgz; streams each check, then attestStatus",
          description:
            "Runs the verifier of `stella export verify` over the stored archive with this service's signing key as the trusted key.",
          params: IdParams,
          querystring: FormatQuery,
          response: { 200: STREAM_RESPONSE, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const framing = framingOf(req.query, req.headers.accept);
        const ctx = deps.tenants.forRequest(req);
        const run = await ctx.transaction((tx) => getRun(tx, id));
        if (run.status !== 'succeeded')
          throw new StellaError('EXPORT_RUN_NOT_FINISHED', `export run ${id} is ${run.status}; nothing to verify`, {
            details: { runId: id, status: run.status },
          });
        const object = await deps.store.get(run.archive_key!);
        const report = await streamVerification(reply, framing, object.body as Readable);
        await ctx.transaction((tx) =>
          tx.audit({ action: 'export.verify', resource: id, details: { ok: report.ok, source: 'run' } }),
        );
        return reply;
      },
    );

    // Each route plugin is its own Fastify scope, so this parser is this plugin's only. The raw
    // body stream goes to the tar reader as it arrives: no buffering, no body limit (the
    // reader's own entry and size limits apply).
    app.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload));
    app.post(
      '/v1/exports/verify',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'Verify an uploaded export.tgz (streamed); streams each check, then attestStatus',
          description:
            "The body is the archive (`application/gzip` or `application/octet-stream`). Verified with this service's signing key as the trusted key.",
          querystring: FormatQuery,
          response: { 200: STREAM_RESPONSE, ...errorResponses(400, 415) },
        },
      },
      async (req, reply) => {
        // A JSON body reaches here parsed by the app's JSON parser: only the archive types come
        // as the raw stream.
        if (!(req.body instanceof Readable))
          throw new StellaError(
            'UNSUPPORTED_MEDIA_TYPE',
            `the body must be the export.tgz (${UPLOAD_TYPES.join(', ')})`,
            {
              details: { accepted: UPLOAD_TYPES },
            },
          );
        const framing = framingOf(req.query, req.headers.accept);
        const ctx = deps.tenants.forRequest(req);
        const report = await streamVerification(reply, framing, req.body);
        await ctx.transaction((tx) =>
          tx.audit({
            action: 'export.verify',
            resource: report.manifestDigest ?? 'upload',
            details: { ok: report.ok, source: 'upload' },
          }),
        );
        return reply;
      },
    );
  };
}
