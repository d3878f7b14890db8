/**
 * The timeline log over HTTP (issue 12 item 4; docs/timeline.md "Transparency log"), scope
 * `timeline:read`, always the caller's own tenant's log (the log id and origin come from the
 * token's tenant; batch and event rows are read under RLS):
 *
 * - `GET /timeline/log`: origin, verifier key, tree size and the latest checkpoint;
 * - `GET /timeline/log/checkpoint`: the latest signed checkpoint (C2SP tlog-checkpoint, text);
 * - `GET /timeline/log/proof/consistency?from=&to=`: an RFC 9162 consistency proof (for witnesses);
 * - `GET /timeline/log/export?from=&to=[&since=]`: a window of events with the proofs that it is
 *   complete, NDJSON (`stella timeline export` writes it, `stella timeline verify-export` checks it).
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type RoutePlugin } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { exportLines, type TimelineLogs } from './timeline-log.js';

const TAG = 'timeline';
const Size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export function timelineLogRoutes(deps: ServiceDeps, logs: TimelineLogs): RoutePlugin {
  return (app) => {
    app.get(
      '/timeline/log',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's timeline log: origin, key, size, latest checkpoint",
          response: {
            200: Type.Object(
              {
                origin: Type.String(),
                logKey: Type.String({ description: 'Verifier key `<origin>+<key id>+<base64>` (C2SP signed-note).' }),
                treeSize: Size,
                checkpoint: Type.Union([Type.String(), Type.Null()]),
              },
              { additionalProperties: false },
            ),
            ...errorResponses(401, 403, 503),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const log = await logs.log(ctx.tenant);
        const cp = await log.checkpoint();
        return {
          origin: logs.origin(ctx.tenant),
          logKey: await logs.verifierKey(ctx.tenant),
          treeSize: cp.size,
          checkpoint: cp.note,
        };
      },
    );

    app.get(
      '/timeline/log/checkpoint',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: 'The latest signed checkpoint of the tenant’s timeline log (C2SP tlog-checkpoint)',
          response: {
            200: { description: 'A signed note.', content: { 'text/plain': { schema: Type.String() } } },
            ...errorResponses(401, 403, 404, 503),
          },
        },
      },
      async (req, reply) => {
        const ctx = deps.tenants.forRequest(req);
        const cp = await (await logs.log(ctx.tenant)).checkpoint();
        if (!cp.note)
          throw new StellaError('TIMELINE_LOG_EMPTY', `the timeline log of ${ctx.tenant} has no checkpoint yet`);
        return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(cp.note);
      },
    );

    app.get(
      '/timeline/log/proof/consistency',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: 'Consistency proof between two published sizes of the tenant’s timeline log (RFC 9162)',
          querystring: Type.Object({ from: Size, to: Type.Optional(Size) }, { additionalProperties: false }),
          response: {
            200: Type.Object(
              { oldSize: Size, newSize: Size, hashes: Type.Array(Type.String({ description: 'base64' })) },
              { additionalProperties: false },
            ),
            ...errorResponses(400, 401, 403, 503),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const log = await logs.log(ctx.tenant);
        const { from, to } = req.query as { from: number; to?: number };
        const p = await log.consistencyProof(from, to);
        return {
          oldSize: p.oldSize,
          newSize: p.newSize,
          hashes: p.hashes.map((h) => Buffer.from(h).toString('base64')),
        };
      },
    );

    app.get(
      '/timeline/log/export',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: 'A window of events with the proofs that it is complete (NDJSON, offline-verifiable)',
          description:
            'Lines: a header with the latest checkpoint; every batch entry from the one before the first that can hold window events to the checkpoint’s end, each with its inclusion proof and, when it holds window events, their stubs; consistency proofs from the checkpoints that first included those batches (and from `since`); the window’s events in timeline order; an end line. See docs/formats/tlog.md "Timeline export".',
          querystring: Type.Object(
            {
              from: Type.String({ format: 'date-time', description: 'Inclusive lower bound of occurredAt.' }),
              to: Type.String({ format: 'date-time', description: 'Exclusive upper bound of occurredAt.' }),
              since: Type.Optional(Size),
            },
            { additionalProperties: false },
          ),
          response: {
            200: { description: 'NDJSON lines.', content: { 'application/x-ndjson': { schema: Type.String() } } },
            ...errorResponses(400, 401, 403, 404, 503),
          },
        },
      },
      async (req, reply) => {
        const ctx = deps.tenants.forRequest(req);
        const q = req.query as { from: string; to: string; since?: number };
        const from = new Date(q.from);
        const to = new Date(q.to);
        if (!(from.getTime() < to.getTime()))
          throw new StellaError('VALIDATION_FAILED', '`from` must be before `to`', { details: { field: 'from' } });
        const lines = exportLines(deps.db, logs, {
          tenant: ctx.tenant,
          from,
          to,
          ...(q.since !== undefined ? { since: q.since } : {}),
        });
        // The header first, so "no checkpoint yet" is an HTTP error rather than a cut stream.
        const first = await lines.next();
        await ctx.transaction((tx) => tx.audit({ action: 'timeline.log.export', details: { from: q.from, to: q.to } }));
        const body = Readable.from(
          (async function* () {
            if (!first.done) yield `${first.value}\n`;
            for await (const l of lines) yield `${l}\n`;
          })(),
        );
        return reply
          .type('application/x-ndjson')
          .header('cache-control', 'no-store')
          .send(body as unknown as string);
      },
    );
  };
}
