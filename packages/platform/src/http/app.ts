/**
 * `buildApp(deps)`: the one Fastify application builder (issue #2 item 6; DESIGN.md §6 "fastify:
 * buildApp(deps) separate from listen(), tests through app.inject()"). It wires, once for every
 * route any service adds:
 *
 * - request ids (`x-request-id` accepted when well-formed, else a ULID; echoed on every answer)
 *   and W3C `traceparent` (parsed, a new span id minted, returned as a response header);
 * - route auth from `config.auth` (route-auth.ts) and the error envelope for every non-2xx;
 * - body limit from config; only `application/json` bodies unless a route plugin adds a parser,
 *   parsed by the strict I-JSON parser and validated without type coercion (json-body.ts,
 *   validators.ts);
 * - header, request and keep-alive timeouts (a slow client cannot hold a connection forever);
 * - the envelope also for what never reaches a route: parser-level client errors
 *   (client-errors.ts), bad URLs, 404/405 before any body is read (request-guards.ts);
 * - Prometheus metrics per route pattern and the OpenAPI 3.1 document from route schemas.
 *
 * The app is returned *not listening*; the composition root calls `listen()`.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ulid } from 'ulid';
import { HTTP_TIMEOUT_DEFAULTS, type LogFormat, type LogLevel } from '../config/config-variables.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { TENANT_ID_PATTERN } from '../tenant/tenant-id.js';
import { createHttpMetrics, type HttpMetrics } from '../telemetry/metrics.js';
import { loggerOptions, StellaLogController, type LogStream } from '../telemetry/logger.js';
import { formatTraceparent, startTrace, type TraceContext } from '../telemetry/trace-context.js';
import { ERROR_ENVELOPE_ID, ErrorEnvelopeSchema, toErrorEnvelope } from './error-envelope.js';
import { assertRouteAuth, createAuthHook, TENANT_HEADER, type RouteAuth } from './route-auth.js';
import { onCheckExpectation, onClientError, onConnect } from './client-errors.js';
import { parseJsonBody, refuseContentEncoding } from './json-body.js';
import { createRequestGuard, createRouteIndex } from './request-guards.js';
import { AJV_OPTIONS, buildValidator } from './validators.js';
import { platformRoutes, type ReadinessCheck } from './platform-routes.js';

/** The app type route plugins receive: Fastify with the TypeBox type provider. */
export type StellaApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** A service's routes: `registerRoutes(app)`. Registered in its own encapsulated context. */
export type RoutePlugin = (app: StellaApp) => void | Promise<void>;

export const API_TITLE = 'StellaOps Export & Evidence API';

declare module 'fastify' {
  interface FastifyRequest {
    /** W3C trace context of this request (always set). */
    trace: TraceContext;
  }
}

export interface AppDeps {
  /** The subset of `StellaConfig` the HTTP layer reads. */
  config: {
    http: {
      bodyLimit: number;
      /** Defaults: {@link HTTP_TIMEOUT_DEFAULTS} (the `STELLA_HTTP_*_TIMEOUT_MS` defaults). */
      requestTimeoutMs?: number;
      headersTimeoutMs?: number;
      keepAliveTimeoutMs?: number;
    };
    logLevel?: LogLevel;
    logFormat?: LogFormat;
  };
  verifier: TokenVerifier;
  /** Reported in `/healthz` and as OpenAPI `info.version`. */
  version: string;
  /** Run by `GET /readyz` (the composition root passes the DB and bus checks). */
  readiness?: readonly ReadinessCheck[];
  /** Per-check timeout of `/readyz`. Default 2000 ms. */
  readinessTimeoutMs?: number;
  /** Service routes, each registered in its own context after the platform routes. */
  plugins?: readonly RoutePlugin[];
  /** OpenAPI tags the service routes use (from their `ServiceModule`s), listed in the document. */
  openApiTags?: readonly { name: string; description: string }[];
  /**
   * `false` disables logging (tests, doc generation); a pino-compatible instance is used as is;
   * default: logs at `config.logLevel` in `config.logFormat` to stderr (telemetry/logger.ts).
   */
  logger?: false | FastifyBaseLogger;
  /** Where the default logger writes. Default `process.stderr`. */
  logStream?: LogStream;
  /** Default: a fresh registry with process metrics. */
  metrics?: HttpMetrics;
}

// Printable, no spaces or quotes: a request id ends up in logs and headers verbatim.
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const BEARER_SCHEME = 'bearerAuth';

/** Adds the documentation-only parts every route shares: security, tenant header, error responses. */
function decorateSchema(schema: Record<string, any> | undefined, auth: RouteAuth): Record<string, any> {
  const s: Record<string, any> = { ...(schema ?? {}) };
  if (auth !== false) {
    s.security ??= [{ [BEARER_SCHEME]: [] }];
    s['x-stella-auth'] = {
      tenant: auth.tenant === true,
      scopes: [...(auth.scopes ?? [])],
      ...(auth.anyOf ? { anyOf: [...auth.anyOf] } : {}),
    };
    if (auth.tenant) {
      const headers = (s.headers ?? { type: 'object', properties: {} }) as {
        type: string;
        properties: Record<string, unknown>;
        required?: string[];
      };
      s.headers = {
        ...headers,
        properties: {
          ...headers.properties,
          [TENANT_HEADER]: {
            type: 'string',
            pattern: TENANT_ID_PATTERN.source,
            description: 'Tenant id; must equal the `tenant` claim of the token.',
          },
        },
        required: [...new Set([...(headers.required ?? []), TENANT_HEADER])],
      };
    }
  }
  const response = { ...((s.response ?? {}) as Record<string, unknown>) };
  const ref = { $ref: `${ERROR_ENVELOPE_ID}#` };
  if (!Object.keys(response).some((k) => k.startsWith('4')))
    response['4xx'] = { description: 'Error envelope (docs/errors.md).', ...ref };
  if (!Object.keys(response).some((k) => k.startsWith('5')))
    response['5xx'] = { description: 'Error envelope (docs/errors.md).', ...ref };
  s.response = response;
  return s;
}

/** Starts the trace of a request and sets the id headers every answer carries. */
function startRequest(req: FastifyRequest, reply: FastifyReply): void {
  const tp = req.headers.traceparent;
  req.trace = startTrace(typeof tp === 'string' ? tp : undefined);
  reply.header('x-request-id', req.id);
  reply.header('traceparent', formatTraceparent(req.trace));
}

/** The error handler: the envelope for anything thrown, logged by who is at fault. */
function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const traceId = req.trace?.traceId ?? startTrace(undefined).traceId;
  const { envelope, unexpected } = toErrorEnvelope(err, traceId);
  if (unexpected) req.log.error({ err, traceId }, 'unhandled error');
  else if (envelope.statusCode >= 500) req.log.warn({ code: envelope.code, err, traceId }, envelope.message);
  else req.log.info({ code: envelope.code, traceId }, envelope.message);
  // Headers set before the error (request id, traceparent, WWW-Authenticate, Allow) are kept.
  return reply.status(envelope.statusCode).type('application/json; charset=utf-8').send(envelope);
}

/** Builds the application (not listening). Register nothing on it after `ready()`. */
export async function buildApp(deps: AppDeps): Promise<StellaApp> {
  const logger: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> =
    deps.logger === false
      ? { logger: false }
      : deps.logger
        ? { loggerInstance: deps.logger }
        : {
            logger: loggerOptions({
              level: deps.config.logLevel ?? 'info',
              format: deps.config.logFormat ?? 'auto',
              ...(deps.logStream ? { stream: deps.logStream } : {}),
            }),
          };
  const { requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs } = { ...HTTP_TIMEOUT_DEFAULTS, ...deps.config.http };
  const app = Fastify({
    ...logger,
    logController: new StellaLogController(),
    bodyLimit: deps.config.http.bodyLimit,
    // Node's defaults are off under Fastify (requestTimeout 0): without these a client that sends
    // half a request holds its connection forever (issue 19 finding 3). Node enforces the header
    // and request timeouts on a timer; check often enough that a timeout is late by at most 1 s.
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    http: {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, headersTimeoutMs),
      // Checked by the request guard instead, which answers with the envelope.
      requireHostHeader: false,
    },
    clientErrorHandler: onClientError,
    frameworkErrors: (err, req, reply) => {
      // A bad URL (`/%`) fails before routing, so the onRequest hooks never ran.
      startRequest(req, reply);
      return sendError(err, req, reply);
    },
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : ulid();
    },
    ajv: AJV_OPTIONS,
    schemaController: { compilersFactory: { buildValidator } },
    // Shutdown is answered by the request guard, with the envelope (Fastify still sets Connection: close).
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.on('checkExpectation', onCheckExpectation);
  app.server.on('connect', onConnect);

  // Only JSON by default: a text/plain body to a JSON route is a 415, not a confusing 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      done(null, parseJsonBody(req, body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.decorateRequest('principal', undefined);
  app.decorateRequest('trace', undefined as unknown as TraceContext);
  app.addSchema(ErrorEnvelopeSchema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: API_TITLE,
        version: deps.version,
        description: 'Evidence Locker, Export Center and Timeline Indexer. Errors: docs/errors.md; auth: docs/http.md.',
        license: { name: 'AGPL-3.0-or-later', identifier: 'AGPL-3.0-or-later' },
      },
      tags: [...(deps.openApiTags ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'EdDSA or ES256 JWT with sub, tenant, scope, iss, aud, exp.',
          },
        },
      },
    },
    // Name shared schemas by their $id (`#/components/schemas/ErrorEnvelope`), not `def-N`.
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });

  const routes = createRouteIndex();
  app.addHook('onRoute', (route) => {
    routes.add(route);
    const auth = route.config?.auth;
    assertRouteAuth(String(route.method), route.url, auth);
    route.schema = decorateSchema(route.schema as Record<string, any> | undefined, auth as RouteAuth);
  });

  const metrics = deps.metrics ?? createHttpMetrics();
  app.addHook('onRequest', async (req, reply) => startRequest(req, reply));
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook(
    'onRequest',
    createRequestGuard(routes, () => closing),
  );
  app.addHook('onRequest', createAuthHook(deps.verifier));
  app.addHook('preParsing', refuseContentEncoding);
  app.addHook('onResponse', async (req, reply) => {
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(sendError);
  app.setNotFoundHandler((req, reply) => {
    const traceId = req.trace?.traceId ?? startTrace(undefined).traceId;
    return reply
      .status(404)
      .type('application/json; charset=utf-8')
      .send({
        statusCode: 404,
        code: 'NOT_FOUND',
        message: `no route ${req.method} ${req.url.split('?')[0]}`,
        traceId,
      });
  });

  await app.register(platformRoutes, {
    version: deps.version,
    readiness: deps.readiness ?? [],
    readinessTimeoutMs: deps.readinessTimeoutMs ?? 2000,
    metrics,
  });
  for (const plugin of deps.plugins ?? []) {
    await app.register(async (scope) => {
      await plugin(scope as StellaApp);
    });
  }
  return app;
}
