import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Type } from '@sinclair/typebox';
import canonicalize from 'canonicalize';
import { ERROR_CODES, StellaError } from '@stella/core/errors';
import { needTool, run, tempDir } from '@stella/testkit';
import { createTokenVerifier, loadOrCreateDevIssuer, type DevIssuer, type Scope } from '@stella/platform/auth';
import {
  buildApp,
  buildOpenApiDocument,
  ErrorEnvelopeSchema,
  ifNoneMatchHits,
  stableOpenApiJson,
  tenantRoute,
  requirePrincipal,
  type RoutePlugin,
  type StellaApp,
} from '@stella/platform/http';
import { parseTraceparent } from '@stella/platform/telemetry';

/** A service-like plugin with a JSON body route, as services will register. */
const itemsPlugin: RoutePlugin = (app) => {
  app.post(
    '/v1/test/items',
    {
      config: tenantRoute('timeline:write'),
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 50 }), count: Type.Integer({ minimum: 0 }) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ tenant: Type.String(), name: Type.String(), count: Type.Integer() }) },
      },
    },
    async (req, reply) => {
      if (req.body.name === 'dup') throw new StellaError('CONFLICT', 'item exists', { details: { name: 'dup' } });
      if (req.body.name === 'bug') throw new Error('db password is hunter2 at 10.0.0.5');
      return reply.status(201).send({ tenant: requirePrincipal(req).tenant, ...req.body });
    },
  );
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let dev: DevIssuer;
let app: StellaApp;
let readyState: { db: 'ok' | 'fail' | 'hang' };

const ENVELOPE_KEYS = ['code', 'message', 'statusCode', 'traceId'];

function envelope(
  res: { statusCode: number; body: string; headers: Record<string, unknown> },
  status: number,
  code: string,
): Record<string, unknown> {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  // The envelope's shape (ErrorEnvelopeSchema): integer status, registry code, string message, 32-hex traceId.
  assert.ok(
    Number.isInteger(body.statusCode) &&
      typeof body.message === 'string' &&
      /^[0-9a-f]{32}$/.test(String(body.traceId)),
    res.body,
  );
  assert.ok(Object.hasOwn(ERROR_CODES, String(body.code)), `code ${String(body.code)} is not in the registry`);
  assert.deepEqual(ErrorEnvelopeSchema.required, ['statusCode', 'code', 'message', 'traceId']);
  assert.equal(body.code, code, res.body);
  assert.equal(body.statusCode, status);
  // The traceId in the body is the one in the traceparent response header.
  assert.equal(body.traceId, parseTraceparent(String(res.headers.traceparent))?.traceId);
  assert.ok(Object.keys(body).every((k) => [...ENVELOPE_KEYS, 'details'].includes(k)));
  return body;
}

async function token(
  scopes: Scope[],
  tenant = 'acme',
  extra: { ttlSeconds?: number; now?: number } = {},
): Promise<string> {
  return dev.mint({ tenant, scopes, subject: 'alice', ...extra });
}

before(async () => {
  dir = await tempDir('stella-http-');
  dev = await loadOrCreateDevIssuer(dir.path);
  readyState = { db: 'ok' };
  app = await buildApp({
    config: { http: { bodyLimit: 4096 } },
    verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
    version: '9.8.7',
    logger: false,
    readinessTimeoutMs: 200,
    readiness: [
      {
        name: 'db',
        check: (signal) =>
          readyState.db === 'ok'
            ? Promise.resolve()
            : readyState.db === 'fail'
              ? Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:5432'))
              : new Promise((_res, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
      },
      { name: 'bus', check: async () => undefined },
    ],
    plugins: [itemsPlugin],
  });
  await app.ready();
});
after(async () => {
  await app.close();
  await dir.cleanup();
});

describe('request ids and traceparent', () => {
  test('x-request-id is echoed when well-formed, replaced when not; traceparent continues the caller trace', async () => {
    const a = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'req-123' } });
    assert.equal(a.statusCode, 200);
    assert.deepEqual(JSON.parse(a.body), { status: 'ok', version: '9.8.7' });
    assert.equal(a.headers['x-request-id'], 'req-123');
    const b = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\twith "quotes"' } });
    assert.match(String(b.headers['x-request-id']), /^[0-9A-Z]{26}$/);

    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const c = await app.inject({ url: '/nope', headers: { traceparent: incoming } });
    const out = parseTraceparent(String(c.headers.traceparent));
    assert.equal(out?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(out?.parentId, '00f067aa0ba902b7', 'we mint our own span id');
    assert.equal(out?.flags, '01');
    assert.equal(envelope(c, 404, 'NOT_FOUND').traceId, '4bf92f3577b34da6a3ce929d0e0e4736');

    const d = await app.inject({
      url: '/healthz',
      headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
    });
    assert.notEqual(parseTraceparent(String(d.headers.traceparent))?.traceId, '0'.repeat(32));
  });
});

describe('auth', () => {
  test('whoami answers tenant, subject and scopes', async () => {
    const res = await app.inject({
      url: '/v1/whoami',
      headers: { authorization: `Bearer ${await token(['timeline:read', 'export:run'])}`, 'x-stella-tenant': 'acme' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = JSON.parse(res.body);
    assert.equal(body.tenant, 'acme');
    assert.equal(body.subject, 'alice');
    assert.deepEqual(body.scopes, ['timeline:read', 'export:run']);
    assert.equal(body.issuer, 'urn:stella:dev-issuer');
    assert.ok(Date.parse(body.expiresAt) > Date.now());
  });

  test('missing, malformed, expired and forged tokens are 401 with their codes', async () => {
    const h = { 'x-stella-tenant': 'acme' };
    const none = await app.inject({ url: '/v1/whoami', headers: h });
    envelope(none, 401, 'AUTH_REQUIRED');
    assert.match(String(none.headers['www-authenticate']), /^Bearer realm="stella"/);
    envelope(
      await app.inject({ url: '/v1/whoami', headers: { ...h, authorization: 'Basic YWxpY2U6cHc=' } }),
      401,
      'AUTH_INVALID_TOKEN',
    );
    envelope(
      await app.inject({ url: '/v1/whoami', headers: { ...h, authorization: 'Bearer not-a-jwt' } }),
      401,
      'AUTH_INVALID_TOKEN',
    );
    const expired = await app.inject({
      url: '/v1/whoami',
      headers: {
        ...h,
        authorization: `Bearer ${await token(['timeline:read'], 'acme', { ttlSeconds: 60, now: Math.floor(Date.now() / 1000) - 7200 })}`,
      },
    });
    envelope(expired, 401, 'AUTH_TOKEN_EXPIRED');
    assert.match(String(expired.headers['www-authenticate']), /error="invalid_token"/);
    const other = await tempDir('stella-http-evil-');
    try {
      const evil = await loadOrCreateDevIssuer(other.path);
      const forged = await evil.mint({ tenant: 'acme', scopes: ['timeline:read'] });
      envelope(
        await app.inject({ url: '/v1/whoami', headers: { ...h, authorization: `Bearer ${forged}` } }),
        401,
        'AUTH_INVALID_TOKEN',
      );
    } finally {
      await other.cleanup();
    }
  });

  test('tenant header: missing → 400, different → 403; missing scope → 403', async () => {
    const tok = await token(['timeline:read']);
    envelope(
      await app.inject({ url: '/v1/whoami', headers: { authorization: `Bearer ${tok}` } }),
      400,
      'TENANT_HEADER_MISSING',
    );
    envelope(
      await app.inject({ url: '/v1/whoami', headers: { authorization: `Bearer ${tok}`, 'x-stella-tenant': 'globex' } }),
      403,
      'TENANT_FORBIDDEN',
    );
    // Duplicate headers arrive joined ("acme, acme"): never equal to a tenant id.
    envelope(
      await app.inject({
        url: '/v1/whoami',
        headers: { authorization: `Bearer ${tok}`, 'x-stella-tenant': ['acme', 'acme'] },
      }),
      403,
      'TENANT_FORBIDDEN',
    );
    const noScope = await app.inject({
      method: 'POST',
      url: '/v1/test/items',
      headers: { authorization: `Bearer ${tok}`, 'x-stella-tenant': 'acme', 'content-type': 'application/json' },
      payload: { name: 'a', count: 1 },
    });
    const body = envelope(noScope, 403, 'SCOPE_FORBIDDEN');
    assert.deepEqual(body.details, { required: ['timeline:write'] });
    assert.match(String(noScope.headers['www-authenticate']), /error="insufficient_scope", scope="timeline:write"/);
  });

  test('auth runs before the body is read: no token + malformed JSON is a 401', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/test/items',
      headers: { 'content-type': 'application/json', 'x-stella-tenant': 'acme' },
      payload: '{oops',
    });
    envelope(res, 401, 'AUTH_REQUIRED');
  });

  test('every route must declare config.auth; unknown scopes are refused at startup', async () => {
    const verifier = createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience });
    const undeclared: RoutePlugin = (a) => {
      a.get('/v1/oops', async () => ({}));
    };
    await assert.rejects(async () => {
      const bad = await buildApp({
        config: { http: { bodyLimit: 1024 } },
        verifier,
        version: '0',
        logger: false,
        plugins: [undeclared],
      });
      await bad.close();
    }, /does not declare config.auth/);
    const unknownScope: RoutePlugin = (a) => {
      a.get('/v1/oops', { config: { auth: { scopes: ['evidence:nuke' as Scope] } } }, async () => ({}));
    };
    await assert.rejects(async () => {
      const bad = await buildApp({
        config: { http: { bodyLimit: 1024 } },
        verifier,
        version: '0',
        logger: false,
        plugins: [unknownScope],
      });
      await bad.close();
    }, /unknown scope 'evidence:nuke'/);
  });
});

describe('bad input on a JSON route', () => {
  let headers: Record<string, string>;
  before(async () => {
    headers = { authorization: `Bearer ${await token(['timeline:write'])}`, 'x-stella-tenant': 'acme' };
  });
  const post = (payload: string | object, contentType = 'application/json') =>
    app.inject({
      method: 'POST',
      url: '/v1/test/items',
      headers: { ...headers, 'content-type': contentType },
      payload,
    });

  test('a valid body is accepted', async () => {
    const res = await post({ name: 'widget', count: 3 });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(JSON.parse(res.body), { tenant: 'acme', name: 'widget', count: 3 });
  });

  test('malformed JSON, empty body, prototype poisoning → 400 MALFORMED_JSON', async () => {
    envelope(await post('{"name": "x", '), 400, 'MALFORMED_JSON');
    envelope(await post(''), 400, 'MALFORMED_JSON');
    envelope(await post('{"name":"x","count":1,"__proto__":{"admin":true}}'), 400, 'MALFORMED_JSON');
  });

  test('wrong content type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    envelope(await post('name=x', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    envelope(await post('{"name":"x","count":1}', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('oversize body → 413 PAYLOAD_TOO_LARGE', async () => {
    envelope(await post({ name: 'x'.repeat(5000), count: 1 }), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('schema violations → 400 VALIDATION_FAILED with details; unknown properties are rejected, not dropped', async () => {
    const body = envelope(await post({ name: '', count: -1 }), 400, 'VALIDATION_FAILED');
    const problems = (body.details as { problems: { in: string; path: string }[] }).problems;
    assert.ok(problems.length >= 1 && problems[0]!.in === 'body');
    envelope(await post({ name: 'x', count: 'many' }), 400, 'VALIDATION_FAILED');
    envelope(await post({ name: 'x', count: 1, admin: true }), 400, 'VALIDATION_FAILED');
    envelope(await post([1, 2]), 400, 'VALIDATION_FAILED');
  });

  test('StellaError keeps its code; unexpected errors are 500 INTERNAL without internals', async () => {
    const dup = envelope(await post({ name: 'dup', count: 1 }), 409, 'CONFLICT');
    assert.deepEqual(dup.details, { name: 'dup' });
    const bug = await post({ name: 'bug', count: 1 });
    const body = envelope(bug, 500, 'INTERNAL');
    assert.equal(body.message, 'internal server error');
    assert.ok(!bug.body.includes('hunter2') && !bug.body.includes('10.0.0.5') && !bug.body.includes('stack'));
  });

  test('unknown route → 404 NOT_FOUND; wrong method → 405 METHOD_NOT_ALLOWED with Allow', async () => {
    envelope(await app.inject({ url: '/v1/nothing' }), 404, 'NOT_FOUND');
    const wrong = await app.inject({ method: 'DELETE', url: '/healthz' });
    envelope(wrong, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(wrong.headers.allow, 'GET, HEAD');
  });
});

describe('over a real socket', () => {
  test('listen() on loopback: healthz, and a chunked oversize body is cut off with 413', async () => {
    const served = await buildApp({
      config: { http: { bodyLimit: 4096 } },
      verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
      version: '1.0.0',
      logger: false,
      plugins: [itemsPlugin],
    });
    try {
      const address = await served.listen({ host: '127.0.0.1', port: 0 });
      const health = await fetch(`${address}/healthz`, { headers: { 'x-request-id': 'net-1' } });
      assert.equal(health.status, 200);
      assert.equal(health.headers.get('x-request-id'), 'net-1');
      assert.deepEqual(await health.json(), { status: 'ok', version: '1.0.0' });

      const tok = await token(['timeline:write']);
      const { port } = new URL(address);
      // No Content-Length: the limit must hold while streaming, not only on a declared length.
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/test/items',
            headers: {
              authorization: `Bearer ${tok}`,
              'x-stella-tenant': 'acme',
              'content-type': 'application/json',
              'transfer-encoding': 'chunked',
            },
          },
          (r) => {
            const chunks: Buffer[] = [];
            r.on('data', (c: Buffer) => chunks.push(c));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          },
        );
        req.on('error', reject);
        req.write('{"name":"');
        for (let i = 0; i < 8; i++) req.write('x'.repeat(1024));
        req.end('","count":1}');
      });
      assert.equal(res.status, 413, res.body);
      assert.equal(JSON.parse(res.body).code, 'PAYLOAD_TOO_LARGE');
    } finally {
      await served.close();
    }
  });
});

describe('logging', () => {
  test('unexpected errors are logged server-side with the trace id; tokens are not logged', async () => {
    const lines: string[] = [];
    const logged = await buildApp({
      config: { http: { bodyLimit: 4096 }, logLevel: 'info' },
      verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
      version: '0',
      logStream: { write: (l) => void lines.push(l) },
      plugins: [itemsPlugin],
    });
    try {
      const tok = await token(['timeline:write']);
      const res = await logged.inject({
        method: 'POST',
        url: '/v1/test/items',
        headers: {
          authorization: `Bearer ${tok}`,
          'x-stella-tenant': 'acme',
          'content-type': 'application/json',
          'x-request-id': 'log-test-1',
        },
        payload: { name: 'bug', count: 1 },
      });
      const traceId = envelope(res, 500, 'INTERNAL').traceId;
      const records = lines.map((l) => JSON.parse(l) as Record<string, any>);
      const err = records.find((r) => r.msg === 'unhandled error');
      assert.ok(err, lines.join(''));
      assert.equal(err.level, 50);
      assert.equal(err.reqId, 'log-test-1');
      assert.equal(err.traceId, traceId);
      assert.match(err.err.message, /hunter2/, 'the real cause is in the server log');
      assert.ok(!lines.join('').includes(tok), 'bearer tokens never reach the logs');
    } finally {
      await logged.close();
    }
  });
});

describe('readiness', () => {
  test('200 when every check passes, 503 naming the failing check otherwise (no internals)', async () => {
    readyState.db = 'ok';
    const ok = await app.inject({ url: '/readyz' });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(
      JSON.parse(ok.body).checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [
        ['db', true],
        ['bus', true],
      ],
    );

    readyState.db = 'fail';
    const failed = await app.inject({ url: '/readyz' });
    const body = envelope(failed, 503, 'SERVICE_UNAVAILABLE');
    assert.deepEqual(
      (body.details as { checks: { name: string; ok: boolean; error?: string }[] }).checks.map((c) => [
        c.name,
        c.ok,
        c.error,
      ]),
      [
        ['db', false, 'failed'],
        ['bus', true, undefined],
      ],
    );
    assert.ok(!failed.body.includes('10.1.2.3'));

    readyState.db = 'hang';
    const started = Date.now();
    const hung = await app.inject({ url: '/readyz' });
    assert.ok(Date.now() - started < 2000, 'timeout applies');
    assert.equal(
      (envelope(hung, 503, 'SERVICE_UNAVAILABLE').details as { checks: { error?: string }[] }).checks[0]!.error,
      'timeout',
    );
    readyState.db = 'ok';
  });
});

describe('OpenAPI', () => {
  test('3.1 document with info.version, bearer scheme, the error envelope and every route', async () => {
    const res = await app.inject({ url: '/.well-known/openapi' });
    assert.equal(res.statusCode, 200);
    const doc = JSON.parse(res.body);
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.version, '9.8.7');
    assert.equal(doc.info.title, 'StellaOps Export & Evidence API');
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
    assert.ok(doc.components.schemas.ErrorEnvelope);
    for (const p of ['/healthz', '/readyz', '/v1/whoami', '/metrics', '/.well-known/openapi', '/v1/test/items'])
      assert.ok(doc.paths[p], p);
    const whoami = doc.paths['/v1/whoami'].get;
    assert.deepEqual(whoami.security, [{ bearerAuth: [] }]);
    assert.ok(
      whoami.parameters.some(
        (p: { in: string; name: string; required: boolean }) =>
          p.in === 'header' && p.name === 'x-stella-tenant' && p.required,
      ),
    );
    assert.equal(
      doc.paths['/v1/test/items'].post.responses['4XX'].content['application/json'].schema.$ref,
      '#/components/schemas/ErrorEnvelope',
    );
    assert.equal(doc.paths['/healthz'].get.security, undefined);
  });

  test('ETag is sha256 of the served bytes; If-None-Match → 304', async () => {
    const res = await app.inject({ url: '/.well-known/openapi' });
    const etag = String(res.headers.etag);
    assert.equal(etag, `"sha256:${createHash('sha256').update(res.rawPayload).digest('hex')}"`);
    // Canonical (RFC 8785) bytes: re-serializing the parsed document sorted gives the same text.
    assert.equal(canonicalize(JSON.parse(res.body)), res.body);
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const r = await app.inject({ url: '/.well-known/openapi', headers: { 'if-none-match': inm } });
      assert.equal(r.statusCode, 304, inm);
      assert.equal(r.body, '');
      assert.equal(r.headers.etag, etag);
    }
    const miss = await app.inject({ url: '/.well-known/openapi', headers: { 'if-none-match': '"sha256:00"' } });
    assert.equal(miss.statusCode, 200);
    assert.equal(ifNoneMatchHits(undefined, etag), false);
  });

  test('the generated document is deterministic', async () => {
    const a = stableOpenApiJson(await buildOpenApiDocument([itemsPlugin], { version: '1.0.0' }));
    const b = stableOpenApiJson(await buildOpenApiDocument([itemsPlugin], { version: '1.0.0' }));
    assert.equal(a, b);
    assert.ok(JSON.parse(a).paths['/v1/test/items']);
  });
});

describe('metrics', () => {
  test(
    'Prometheus text with per-route request metrics (checked by promtool when present)',
    { skip: needTool('promtool') },
    async () => {
      await app.inject({ url: '/healthz' });
      await app.inject({ url: '/v1/does-not-exist-123' });
      const res = await app.inject({ url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = res.body;
      assert.match(text, /^stella_http_requests_total\{method="GET",route="\/healthz",status_code="200"\} [1-9]\d*$/m);
      assert.match(text, /^stella_http_requests_total\{method="GET",route="unmatched",status_code="404"\} [1-9]/m);
      assert.ok(!text.includes('does-not-exist-123'), 'raw URLs never become label values');
      assert.match(
        text,
        /^stella_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/healthz",status_code="200"\} \d+$/m,
      );
      assert.match(text, /^process_cpu_user_seconds_total /m);
      // Every sample line parses as `name{labels} value`.
      for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
        assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/, line);
      }
      const check = await run('promtool', ['check', 'metrics'], { input: text });
      // promtool exits 0, or 3 for lint-only warnings (e.g. counters from prom-client defaults).
      assert.ok(check.code === 0 || check.code === 3, check.stderr.toString());
      assert.ok(!/error/i.test(check.stderr.toString()), check.stderr.toString());
    },
  );
});
