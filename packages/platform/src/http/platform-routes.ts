/**
 * Routes every process serves (issue #2 item 6): liveness, readiness, `whoami`, metrics and the
 * OpenAPI document. Each has a TypeBox schema so the generated document is complete.
 */
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import canonicalize from 'canonicalize';
import { StellaError } from '@stella/core/errors';
import { SCOPES } from '../auth/scopes.js';
import type { HttpMetrics } from '../telemetry/metrics.js';
import { publicRoute, requirePrincipal } from './route-auth.js';

/** A dependency `/readyz` checks; `check` rejects (or exceeds the timeout) when not ready. */
export interface ReadinessCheck {
  readonly name: string;
  check(signal: AbortSignal): Promise<void>;
}

export interface PlatformRoutesOptions {
  version: string;
  readiness: readonly ReadinessCheck[];
  readinessTimeoutMs: number;
  metrics: HttpMetrics;
}

const CheckResult = Type.Object({
  name: Type.String(),
  ok: Type.Boolean(),
  durationMs: Type.Integer({ minimum: 0 }),
  error: Type.Optional(Type.Union([Type.Literal('timeout'), Type.Literal('failed')])),
});

/**
 * RFC 9110 §13.1.2: If-None-Match uses the *weak* comparison, so `W/"x"` matches `"x"`, and `*`
 * matches any current representation.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => opaque(t) === opaque(etag));
}

async function runCheck(
  c: ReadinessCheck,
  timeoutMs: number,
): Promise<{ name: string; ok: boolean; durationMs: number; error?: 'timeout' | 'failed'; cause?: unknown }> {
  const started = performance.now();
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => {
      ac.abort();
      res('timeout');
    }, timeoutMs);
  });
  try {
    const r = await Promise.race([c.check(ac.signal).then(() => 'ok' as const), timeout]);
    const durationMs = Math.round(performance.now() - started);
    return r === 'ok'
      ? { name: c.name, ok: true, durationMs }
      : { name: c.name, ok: false, durationMs, error: 'timeout' };
  } catch (cause) {
    return { name: c.name, ok: false, durationMs: Math.round(performance.now() - started), error: 'failed', cause };
  } finally {
    clearTimeout(timer);
  }
}

export const platformRoutes: FastifyPluginAsync<PlatformRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/healthz',
    {
      config: publicRoute,
      schema: {
        tags: ['platform'],
        operationId: 'getHealth',
        summary: 'Liveness: the process is up and serving HTTP',
        response: {
          200: Type.Object(
            { status: Type.Literal('ok'), version: Type.String() },
            { description: 'The process is alive.' },
          ),
        },
      },
    },
    async () => ({ status: 'ok' as const, version: opts.version }),
  );

  app.get(
    '/readyz',
    {
      config: publicRoute,
      schema: {
        tags: ['platform'],
        operationId: 'getReadiness',
        summary: 'Readiness: database, bus and other dependencies answer',
        description:
          'Runs every readiness check in parallel with a timeout. 503 `SERVICE_UNAVAILABLE` lists the failing checks in `details.checks`.',
        response: {
          200: Type.Object(
            { status: Type.Literal('ready'), checks: Type.Array(CheckResult) },
            { description: 'Every dependency answered.' },
          ),
        },
      },
    },
    async (req) => {
      const results = await Promise.all(opts.readiness.map((c) => runCheck(c, opts.readinessTimeoutMs)));
      const failed = results.filter((r) => !r.ok);
      // Causes are logged, not returned: /readyz is unauthenticated and errors name hosts/ports.
      for (const f of failed) req.log.warn({ check: f.name, err: f.cause, error: f.error }, 'readiness check failed');
      const checks = results.map(({ cause: _cause, ...r }) => r);
      if (failed.length) {
        throw new StellaError('SERVICE_UNAVAILABLE', `not ready: ${failed.map((f) => f.name).join(', ')}`, {
          details: { checks },
        });
      }
      return { status: 'ready' as const, checks };
    },
  );

  app.get(
    '/v1/whoami',
    {
      config: { auth: { tenant: true, anyOf: SCOPES } },
      schema: {
        tags: ['platform'],
        operationId: 'whoami',
        summary: "The caller's tenant, subject and scopes, from the verified token",
        response: {
          200: Type.Object(
            {
              tenant: Type.String(),
              subject: Type.String(),
              scopes: Type.Array(Type.String()),
              issuer: Type.String(),
              expiresAt: Type.String({ format: 'date-time' }),
            },
            { description: 'The verified caller.' },
          ),
        },
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      return {
        tenant: p.tenant,
        subject: p.subject,
        scopes: [...p.scopes],
        issuer: p.issuer,
        expiresAt: new Date(p.expiresAt * 1000).toISOString(),
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: publicRoute,
      schema: {
        tags: ['platform'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        response: {
          200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: Type.String() } } },
        },
      },
    },
    async (_req, reply) => {
      const text = await opts.metrics.render();
      return reply.type(opts.metrics.contentType).send(text);
    },
  );

  // The document is fixed once the app is ready, so hash it once (lazily: routes registered
  // after this plugin are part of it).
  let cached: { body: Buffer; etag: string } | undefined;
  app.get(
    '/.well-known/openapi',
    {
      config: publicRoute,
      schema: {
        tags: ['platform'],
        operationId: 'getOpenApi',
        summary: 'This OpenAPI 3.1 document (RFC 8785 canonical JSON)',
        description: '`ETag` is `"sha256:<hex>"` of the body; a matching `If-None-Match` answers 304.',
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()) }),
        response: {
          200: {
            description: 'OpenAPI 3.1 document.',
            content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } },
          },
          304: { description: 'Not modified.', type: 'null' },
        },
      },
    },
    async (req, reply) => {
      if (!cached) {
        const body = Buffer.from(canonicalize(fastify.swagger()) ?? '', 'utf8');
        cached = { body, etag: `"sha256:${createHash('sha256').update(body).digest('hex')}"` };
      }
      reply.header('etag', cached.etag).header('cache-control', 'no-cache');
      if (ifNoneMatchHits(req.headers['if-none-match'], cached.etag)) return reply.status(304).send();
      return reply.type('application/json; charset=utf-8').send(cached.body);
    },
  );
};
