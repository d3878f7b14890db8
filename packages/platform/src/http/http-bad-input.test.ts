/**
 * Hostile HTTP input against a real server listening on 127.0.0.1 (issue 19 findings 3, 4, 6, 7;
 * issue 7 point 4): every answer is the error envelope with request ids, including what Node's
 * parser refuses before Fastify sees it, and slow clients are cut off by the configured timeouts.
 * Raw `net` sockets, so the bytes on the wire are exactly the attack.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as signBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Type } from '@sinclair/typebox';
import { ERROR_CODES } from '@stella/core/errors';
import { tempDir } from '@stella/testkit';
import { createTokenVerifier, loadOrCreateDevIssuer, type DevIssuer } from '@stella/platform/auth';
import {
  buildApp,
  publicRoute,
  requirePrincipal,
  tenantRoute,
  type RoutePlugin,
  type StellaApp,
} from '@stella/platform/http';
import { parseTraceparent } from '@stella/platform/telemetry';

const TIMEOUTS = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 };
/** Upper bound for any one exchange: a hung connection fails the test instead of hanging it. */
const EXCHANGE_LIMIT_MS = 5000;

const plugin: RoutePlugin = (app) => {
  app.post(
    '/v1/test/items',
    {
      config: tenantRoute('timeline:write'),
      schema: {
        body: Type.Object(
          { name: Type.String({ maxLength: 50 }), count: Type.Integer({ minimum: 0 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => reply.status(201).send({ tenant: requirePrincipal(req).tenant, ...req.body }),
  );
  // Querystrings are text: coercion stays on for them.
  app.get(
    '/v1/test/items',
    { config: publicRoute, schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1 }) }) } },
    async (req) => ({ limit: req.query.limit, type: typeof req.query.limit }),
  );
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let dev: DevIssuer;
let app: StellaApp;
let port: number;
let auth: string;

before(async () => {
  dir = await tempDir('stella-http-bad-');
  dev = await loadOrCreateDevIssuer(dir.path);
  app = await buildApp({
    config: { http: { bodyLimit: 256 * 1024, ...TIMEOUTS } },
    verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
    version: '0.0.0',
    logger: false,
    plugins: [plugin],
  });
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  auth = `Bearer ${await dev.mint({ tenant: 'acme', scopes: ['timeline:write', 'timeline:read'] })}`;
});
after(async () => {
  await app.close();
  await dir.cleanup();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From the first byte written to the server closing the connection. */
  elapsedMs: number;
}

/**
 * Writes `parts` on a fresh connection (`pauseMs` between them) and reads until the server closes
 * it. Only the first response on the connection is parsed.
 */
function exchange(parts: (string | Buffer)[], pauseMs = 0): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const started = Date.now();
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${EXCHANGE_LIMIT_MS} ms`));
    }, EXCHANGE_LIMIT_MS);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is fine; the close decides
    socket.on('close', () => {
      clearTimeout(limit);
      const raw = Buffer.concat(chunks).toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(raw)}`));
      const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const length = Number(headers['content-length'] ?? NaN);
      const body = raw.slice(end + 4);
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers,
        body: Number.isNaN(length) ? body : body.slice(0, length),
        elapsedMs: Date.now() - started,
      });
    });
    void (async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        if (socket.destroyed) return;
        socket.write(p);
      }
    })();
  });
}

/** Asserts the envelope (docs/errors.md) with its request id and traceparent; returns the body. */
function envelope(
  res: RawResponse | { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
) {
  const statusCode = 'status' in res ? res.status : res.statusCode;
  assert.equal(statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(body.code, code, res.body);
  assert.equal(body.statusCode, status);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, status);
  assert.equal(typeof body.message, 'string');
  assert.ok(Object.keys(body).every((k) => ['statusCode', 'code', 'message', 'details', 'traceId'].includes(k)));
  assert.match(String(res.headers['x-request-id']), /^[A-Za-z0-9._:@/+=-]{1,128}$/);
  assert.equal(body.traceId, parseTraceparent(String(res.headers.traceparent))?.traceId, 'traceId = traceparent');
  return body;
}

const post = (path: string, headers: Record<string, string>, body: string | Buffer) =>
  app.inject({
    method: 'POST',
    url: path,
    headers: { authorization: auth, 'x-stella-tenant': 'acme', ...headers },
    payload: body,
  });
const postJson = (body: string | Buffer, headers: Record<string, string> = {}) =>
  post('/v1/test/items', { 'content-type': 'application/json', ...headers }, body);

describe('slow clients are cut off (issue 19 finding 3)', () => {
  test('a stalled header → 408 REQUEST_TIMEOUT and the connection is closed', async () => {
    const res = await exchange(['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '], 0);
    envelope(res, 408, 'REQUEST_TIMEOUT');
    assert.ok(res.elapsedMs >= TIMEOUTS.headersTimeoutMs - 50, `closed after ${res.elapsedMs} ms`);
  });

  test('a stalled body (Content-Length 100, 2 bytes sent) → 408 and closed', async () => {
    const head =
      `POST /v1/test/items HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nX-Stella-Tenant: acme\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const res = await exchange([head + '{"']);
    envelope(res, 408, 'REQUEST_TIMEOUT');
    assert.ok(res.elapsedMs >= TIMEOUTS.requestTimeoutMs - 50, `closed after ${res.elapsedMs} ms`);
  });

  test('a body trickled byte by byte is cut off at the request timeout', async () => {
    const head =
      `POST /v1/test/items HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nX-Stella-Tenant: acme\r\n` +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const res = await exchange([head, ...'{"name":"slow-loris-slow-loris"'.split('')], 50);
    envelope(res, 408, 'REQUEST_TIMEOUT');
    assert.ok(res.elapsedMs < EXCHANGE_LIMIT_MS - 1000);
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const res = await exchange(['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.equal(res.status, 200, res.body);
    assert.ok(res.elapsedMs >= TIMEOUTS.keepAliveTimeoutMs - 50, `closed after ${res.elapsedMs} ms`);
  });
});

describe('what Node refuses before routing gets the envelope too (issue 19 finding 7, issue 7 point 4)', () => {
  test('a 100 KB header → 431 HEADERS_TOO_LARGE', async () => {
    const res = await exchange([
      `GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(100_000)}\r\n\r\n`,
    ]);
    envelope(res, 431, 'HEADERS_TOO_LARGE');
  });

  test('bad chunked encoding, CL+TE, NUL in a header → 400 HTTP_MALFORMED', async () => {
    const base = `POST /v1/test/items HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nX-Stella-Tenant: acme\r\nContent-Type: application/json\r\n`;
    const chunked = await exchange([`${base}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`]);
    envelope(chunked, 400, 'HTTP_MALFORMED');
    // RFC 9112 §6.1: both framings at once is the request-smuggling shape.
    const clte = await exchange([`${base}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`]);
    envelope(clte, 400, 'HTTP_MALFORMED');
    // Smuggling variants: a space before the colon, two different Content-Lengths.
    const spaced = await exchange([`${base}Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`]);
    envelope(spaced, 400, 'HTTP_MALFORMED');
    const twoLengths = await exchange([`${base}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}`]);
    envelope(twoLengths, 400, 'HTTP_MALFORMED');
    const nul = await exchange(['GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n']);
    envelope(nul, 400, 'HTTP_MALFORMED');
  });

  test('an unknown method → 501 METHOD_NOT_IMPLEMENTED', async () => {
    envelope(await exchange(['FROB /healthz HTTP/1.1\r\nHost: x\r\n\r\n']), 501, 'METHOD_NOT_IMPLEMENTED');
  });

  test('an Expect other than 100-continue → 417 EXPECTATION_FAILED; CONNECT → 501', async () => {
    const expect = await exchange(['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n']);
    assert.deepEqual(envelope(expect, 417, 'EXPECTATION_FAILED').details, { expect: 'teapot' });
    const tunnel = await exchange(['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']);
    envelope(tunnel, 501, 'METHOD_NOT_IMPLEMENTED');
  });

  test('a malformed %-escape in the URL → 400 HTTP_MALFORMED', async () => {
    envelope(await exchange(['GET /% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']), 400, 'HTTP_MALFORMED');
    envelope(await app.inject({ url: '/v1/%zz' }), 400, 'HTTP_MALFORMED');
  });

  test('HTTP/1.1 without Host, or with two → 400 HTTP_MALFORMED (RFC 9112 §3.2); HTTP/1.0 needs none', async () => {
    const missing = envelope(
      await exchange(['GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n']),
      400,
      'HTTP_MALFORMED',
    );
    assert.deepEqual(missing.details, { header: 'host' });
    const two = await exchange(['GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n']);
    assert.deepEqual(envelope(two, 400, 'HTTP_MALFORMED').details, { header: 'host' });
    assert.equal((await exchange(['GET /healthz HTTP/1.0\r\n\r\n'])).status, 200);
  });
});

describe('duplicate single-valued headers (issue 19 finding 6)', () => {
  test('two Authorization headers → 400 whichever comes first; two Content-Types too', async () => {
    const req = (lines: string) =>
      exchange([`GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Stella-Tenant: acme\r\nConnection: close\r\n${lines}\r\n`]);
    assert.equal((await req(`Authorization: ${auth}\r\n`)).status, 200);
    for (const lines of [
      `Authorization: ${auth}\r\nAuthorization: Bearer garbage\r\n`,
      `Authorization: Bearer garbage\r\nAuthorization: ${auth}\r\n`,
    ]) {
      assert.deepEqual(envelope(await req(lines), 400, 'HTTP_MALFORMED').details, { header: 'authorization' });
    }
    const types = await exchange([
      `POST /v1/test/items HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nX-Stella-Tenant: acme\r\nConnection: close\r\n` +
        'Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}',
    ]);
    assert.deepEqual(envelope(types, 400, 'HTTP_MALFORMED').details, { header: 'content-type' });
  });
});

describe('tenant header tricks stay refused (issue 19, what held)', () => {
  test('a homoglyph tenant → 403, a control character in the header → 400, joined duplicates → 403', async () => {
    const req = (tenantLines: Buffer) =>
      exchange([
        Buffer.concat([
          Buffer.from(`GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ${auth}\r\n`),
          tenantLines,
          Buffer.from('\r\n'),
        ]),
      ]);
    // Cyrillic "а" (U+0430) in UTF-8 bytes.
    envelope(await req(Buffer.from('X-Stella-Tenant: \u0430cme\r\n', 'utf8')), 403, 'TENANT_FORBIDDEN');
    envelope(await req(Buffer.from('X-Stella-Tenant: ac\u0001me\r\n', 'latin1')), 400, 'HTTP_MALFORMED');
    envelope(await req(Buffer.from('X-Stella-Tenant: acme\r\nX-Stella-Tenant: acme\r\n')), 403, 'TENANT_FORBIDDEN');
    envelope(await req(Buffer.from('X-Stella-Tenant: acme,acme\r\n')), 403, 'TENANT_FORBIDDEN');
    assert.equal((await req(Buffer.from('X-Stella-Tenant: acme\r\n'))).status, 200);
  });
});

describe('routing before body parsing (issue 7 point 4)', () => {
  test('an unknown route is 404 whatever its body: malformed, oversize or gzip', async () => {
    for (const body of ['{oops', 'x'.repeat(300 * 1024)]) {
      envelope(await post('/v1/nothing', { 'content-type': 'application/json' }, body), 404, 'NOT_FOUND');
    }
    envelope(
      await post('/v1/nothing', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, '{}'),
      404,
      'NOT_FOUND',
    );
    // Over a socket: a declared 10 MB body is not waited for.
    const res = await exchange([
      'POST /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{',
    ]);
    envelope(res, 404, 'NOT_FOUND');
  });

  test('URL traversal does not reach another route', async () => {
    // Raw bytes: inject() would resolve the dot segments itself, as a browser does.
    for (const url of ['/v1/../healthz', '/v1/%2e%2e/healthz', '/v1/test/items/..%2f..%2fhealthz']) {
      envelope(await exchange([`GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]), 404, 'NOT_FOUND');
    }
  });

  test('a method the route does not have → 405 METHOD_NOT_ALLOWED with Allow, before the body is read', async () => {
    const del = await app.inject({ method: 'DELETE', url: '/healthz' });
    assert.deepEqual(envelope(del, 405, 'METHOD_NOT_ALLOWED').details, { allow: ['GET', 'HEAD'] });
    assert.equal(del.headers.allow, 'GET, HEAD');
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/test/items?x=1',
      headers: { 'content-type': 'application/json' },
      payload: '{oops',
    });
    envelope(put, 405, 'METHOD_NOT_ALLOWED');
    const patch = await app.inject({ method: 'PATCH', url: '/v1/test/items', payload: 'x'.repeat(300 * 1024) });
    envelope(patch, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(patch.headers.allow, 'GET, HEAD, POST');
  });
});

describe('JSON bodies: strict parser, no coercion (issue 19 finding 4)', () => {
  test('a valid body is accepted, with or without charset=utf-8', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"']) {
      const res = await postJson('{"name":"w","count":3}', { 'content-type': type });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(JSON.parse(res.body), { tenant: 'acme', name: 'w', count: 3 });
    }
  });

  test('duplicate keys, 1e400, lone surrogates, invalid UTF-8, a BOM, 100,000-level nesting → 400 MALFORMED_JSON', async () => {
    const bad: (string | Buffer)[] = [
      '{"name":"a","name":"b","count":1}',
      '{"name":"a","count":1e400}',
      '{"name":"\\ud800","count":1}',
      Buffer.from([...Buffer.from('{"name":"'), 0xff, 0xfe, ...Buffer.from('","count":1}')]),
      Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"name":"a","count":1}')]),
      `{"name":"a","count":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      '{"name":"a","count":1,"__proto__":{"admin":true}}',
      '{"name":"a","count":1,"constructor":{"prototype":{"admin":true}}}',
      '',
    ];
    for (const body of bad) envelope(await postJson(body), 400, 'MALFORMED_JSON');
    // The limit is 64 levels, the body object included: 64 parse (then fail the schema), 65 do not.
    const deep = (n: number) => `{"name":"a","count":${'['.repeat(n)}${']'.repeat(n)}}`;
    envelope(await postJson(deep(63)), 400, 'VALIDATION_FAILED');
    envelope(await postJson(deep(64)), 400, 'MALFORMED_JSON');
    // Wide is not deep: a 131,000-element array (the whole body limit) is parsed and checked without blowing the stack.
    envelope(await postJson(`[${'0,'.repeat(130_999)}0]`), 400, 'VALIDATION_FAILED');
    // The strict parser's position is passed on.
    const dup = envelope(await postJson('{"name":"a","name":"b","count":1}'), 400, 'MALFORMED_JSON');
    assert.deepEqual(dup.details, { offset: 12 });
  });

  test('a charset other than UTF-8 → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const utf16 = Buffer.from('{"name":"a","count":1}', 'utf16le');
    for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1', '"latin1"']) {
      envelope(
        await postJson(utf16, { 'content-type': `application/json; charset=${charset}` }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
  });

  test('any Content-Encoding → 415 with Accept-Encoding: identity; identity is plain', async () => {
    const json = '{"name":"a","count":1}';
    const gz = await postJson(gzipSync(json), { 'content-encoding': 'gzip' });
    envelope(gz, 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(gz.headers['accept-encoding'], 'identity');
    // A label that does not match the bytes is refused just the same, not read as plain JSON.
    envelope(await postJson(json, { 'content-encoding': 'br' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    envelope(await postJson(json, { 'content-encoding': 'identity, gzip' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await postJson(json, { 'content-encoding': 'identity' })).statusCode, 201);
  });

  test('no type coercion in bodies: "1", true, ["1"] are not 1 and null is not ""', async () => {
    for (const count of ['"1"', 'true', '["1"]', '[1]', 'null', '1.5']) {
      envelope(await postJson(`{"name":"a","count":${count}}`), 400, 'VALIDATION_FAILED');
    }
    envelope(await postJson('{"name":null,"count":1}'), 400, 'VALIDATION_FAILED');
    envelope(await postJson('{"name":1,"count":1}'), 400, 'VALIDATION_FAILED');
    envelope(await postJson('{"name":"a","count":1,"extra":0}'), 400, 'VALIDATION_FAILED');
  });

  test('querystrings are text and still coerced by their schema', async () => {
    const ok = await app.inject({ url: '/v1/test/items?limit=5' });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { limit: 5, type: 'number' });
    envelope(await app.inject({ url: '/v1/test/items?limit=five' }), 400, 'VALIDATION_FAILED');
  });
});

/** A compact JWS over exactly these claims, signed with the dev issuer's key. */
async function devSigned(claims: Record<string, unknown>): Promise<string> {
  const jwk = JSON.parse(await readFile(join(dev.dir, 'private.jwk.json'), 'utf8')) as Record<string, string>;
  const header = { alg: 'EdDSA', kid: dev.kid };
  const input = [header, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.');
  return `${input}.${signBytes(null, Buffer.from(input), createPrivateKey({ key: jwk, format: 'jwk' })).toString('base64url')}`;
}

describe('JWT edge cases over HTTP (issue 19 finding 5)', () => {
  test('exp = 1e16 → 401 AUTH_INVALID_TOKEN, not 500', async () => {
    const tok = await devSigned({
      iss: dev.issuer,
      aud: dev.audience,
      sub: 'mallory',
      tenant: 'acme',
      scope: 'timeline:read',
      exp: 1e16,
    });
    const res = await app.inject({
      url: '/v1/whoami',
      headers: { authorization: `Bearer ${tok}`, 'x-stella-tenant': 'acme' },
    });
    assert.equal(envelope(res, 401, 'AUTH_INVALID_TOKEN').details && true, true);
  });
});

describe('shutdown', () => {
  test('a request arriving on an open connection while the server closes → 503 SERVICE_UNAVAILABLE envelope', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const closing = await buildApp({
      config: { http: { bodyLimit: 1024, ...TIMEOUTS } },
      verifier: createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience }),
      version: '0.0.0',
      logger: false,
      plugins: [
        (a) => {
          a.get('/v1/test/slow', { config: publicRoute }, async () => {
            entered();
            await gate;
            return { slow: true };
          });
        },
      ],
    });
    const p = Number(new URL(await closing.listen({ host: '127.0.0.1', port: 0 })).port);
    const socket = connect(p, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((r) => socket.on('close', () => r()));
    socket.write('GET /v1/test/slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await inHandler;
    const closed = closing.close();
    // Pipelined behind the in-flight request: it is routed while the server is closing.
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    release();
    await Promise.race([
      Promise.all([ended, closed]),
      new Promise((_r, rej) => setTimeout(() => rej(new Error('shutdown did not finish')), EXCHANGE_LIMIT_MS)),
    ]);
    const raw = Buffer.concat(chunks).toString('latin1');
    const second = raw.indexOf('HTTP/1.1', 1);
    assert.ok(raw.startsWith('HTTP/1.1 200') && second > 0, raw);
    const [head, body] = [
      raw.slice(second, raw.indexOf('\r\n\r\n', second)),
      raw.slice(raw.indexOf('\r\n\r\n', second) + 4),
    ];
    const headers: Record<string, string> = {};
    for (const l of head.split('\r\n').slice(1))
      headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    envelope({ status: Number(head.split(' ')[1]), headers, body, elapsedMs: 0 }, 503, 'SERVICE_UNAVAILABLE');
    assert.equal(headers.connection, 'close');
  });
});
