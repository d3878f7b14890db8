/**
 * `GET /v1/exports/runs/{id}/events`: the run's event log as Server-Sent Events (WHATWG HTML
 * §9.2 "Server-sent events"). Each stored event is sent with `id: <seq>` (monotonic per run), so
 * a client that reconnects with `Last-Event-ID` (or `?lastEventId=`) resumes exactly after the
 * last event it saw. Types: `status`, `progress` ({done, total}), `artifact`, `final` (then the
 * stream ends), and `heartbeat` every STELLA_EXPORT_SSE_HEARTBEAT_MS (no id: not part of the log).
 * A finished run replays its log and ends.
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { eventsAfter, getRun } from '../runs/run.repository.js';
import type { ExportSettings } from '../settings.js';
import { IdParams, TAG } from './schemas.js';

const SSE_EXAMPLE = [
  'id: 1\nevent: status\ndata: {"status":"queued","attempt":0}\n',
  'id: 4\nevent: progress\ndata: {"done":40,"total":120}\n',
  'event: heartbeat\ndata: {"at":"2026-12-01T10:05:15.000Z"}\n',
  'id: 9\nevent: final\ndata: {"status":"succeeded","result":{"path":"export.tgz","digest":"sha256:…","size":18231}}\n',
].join('\n');

function parseLastEventId(header: unknown, query: unknown): number {
  const raw = (typeof header === 'string' ? header : undefined) ?? (typeof query === 'string' ? query : undefined);
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,15}$/.test(raw))
    throw new StellaError('VALIDATION_FAILED', 'Last-Event-ID must be an event id of this stream', {
      details: { field: 'last-event-id' },
    });
  return Number(raw);
}

export function runEventRoutes(deps: ServiceDeps, settings: ExportSettings) {
  // How often an open stream looks for new events.
  const pollMs = Math.min(settings.pollMs, 250);
  return (app: StellaApp) => {
    const open = new Set<() => void>();
    app.addHook('onClose', async () => {
      for (const end of [...open]) end();
    });

    app.get(
      '/v1/exports/runs/:id/events',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'Run progress as Server-Sent Events (status, progress, artifact, heartbeat, final); resumable',
          params: IdParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              lastEventId: {
                type: 'string',
                description: 'Like the Last-Event-ID header, for clients that cannot set it.',
              },
            },
          },
          headers: { type: 'object', properties: { 'last-event-id': { type: 'string' } } },
          response: {
            200: {
              description: 'text/event-stream',
              content: { 'text/event-stream': { schema: { type: 'string' }, example: SSE_EXAMPLE } },
            },
            ...errorResponses(400, 404),
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        let last = parseLastEventId(req.headers['last-event-id'], (req.query as { lastEventId?: string }).lastEventId);
        const ctx = deps.tenants.forRequest(req);
        await ctx.transaction((tx) => getRun(tx, id)); // 404 before the stream starts

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(`retry: 1000\n\n`);
        let ended = false;
        let timer: NodeJS.Timeout | undefined;
        const end = () => {
          if (ended) return;
          ended = true;
          clearTimeout(timer);
          clearInterval(beat);
          open.delete(end);
          res.end();
        };
        open.add(end);
        req.raw.on('close', end);
        res.on('error', end);
        const beat = setInterval(() => {
          if (!ended) res.write(`event: heartbeat\ndata: ${JSON.stringify({ at: new Date().toISOString() })}\n\n`);
        }, settings.sseHeartbeatMs);

        const poll = async () => {
          try {
            const events = await ctx.transaction((tx) => eventsAfter(tx, id, last));
            for (const e of events) {
              if (ended) return;
              res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify({ ...e.data, at: e.at })}\n\n`);
              last = e.seq;
              if (e.type === 'final') return end();
            }
          } catch (err) {
            req.log.warn({ err, runId: id }, 'run events: poll failed');
          }
          if (!ended) timer = setTimeout(() => void poll(), pollMs);
        };
        await poll();
      },
    );
  };
}
