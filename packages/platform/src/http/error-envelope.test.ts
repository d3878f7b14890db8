import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_CODES, StellaError, type ErrorCode } from '@stella/core/errors';
import { bearerToken, errorResponses, toErrorEnvelope } from '@stella/platform/http';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('toErrorEnvelope', () => {
  test('StellaError: its code, registry status, message and details', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const { envelope, unexpected } = toErrorEnvelope(new StellaError(code, 'm', { details: { a: 1 } }), TRACE);
      assert.deepEqual(envelope, {
        statusCode: ERROR_CODES[code].status,
        code,
        message: 'm',
        details: { a: 1 },
        traceId: TRACE,
      });
      assert.equal(unexpected, false);
    }
  });

  test("Fastify's own errors map onto the registry", () => {
    const fst = (code: string, statusCode: number) => Object.assign(new Error('fastify says'), { code, statusCode });
    const cases: [string, number, ErrorCode][] = [
      ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'MALFORMED_JSON'],
      ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'MALFORMED_JSON'],
      ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'PAYLOAD_TOO_LARGE'],
      ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'VALIDATION_FAILED'],
      ['FST_ERR_SOMETHING_NEW', 429, 'QUOTA_EXCEEDED'],
      ['FST_ERR_SOMETHING_ELSE', 418, 'VALIDATION_FAILED'],
    ];
    for (const [code, status, expected] of cases) {
      const { envelope } = toErrorEnvelope(fst(code, status), TRACE);
      assert.equal(envelope.code, expected, code);
      assert.equal(envelope.statusCode, ERROR_CODES[expected].status, code);
    }
    // A Fastify 5xx is our fault: INTERNAL.
    assert.equal(toErrorEnvelope(fst('FST_ERR_REP_INVALID_PAYLOAD_TYPE', 500), TRACE).envelope.code, 'INTERNAL');
  });

  test('Ajv validation errors become VALIDATION_FAILED with problems', () => {
    const err = Object.assign(new Error('body/count must be >= 0'), {
      statusCode: 400,
      code: 'FST_ERR_VALIDATION',
      validationContext: 'querystring',
      validation: [{ instancePath: '/limit', message: 'must be <= 100', keyword: 'maximum', params: { limit: 100 } }],
    });
    const { envelope } = toErrorEnvelope(err, TRACE);
    assert.equal(envelope.code, 'VALIDATION_FAILED');
    assert.equal(envelope.message, 'querystring/limit must be <= 100');
    assert.deepEqual(envelope.details, {
      problems: [
        { in: 'querystring', path: '/limit', message: 'must be <= 100', keyword: 'maximum', params: { limit: 100 } },
      ],
    });
  });

  test('property: anything that is not a StellaError or a Fastify 4xx is INTERNAL and reveals nothing', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.integer({ min: 100, max: 599 })),
        fc.option(fc.string()),
        (message, statusCode, code) => {
          fc.pre(!(typeof code === 'string' && code.startsWith('FST_')));
          const err = Object.assign(
            new Error(message),
            statusCode === null ? {} : { statusCode },
            code === null ? {} : { code },
          );
          const { envelope, unexpected } = toErrorEnvelope(err, TRACE);
          assert.deepEqual(envelope, {
            statusCode: 500,
            code: 'INTERNAL',
            message: 'internal server error',
            traceId: TRACE,
          });
          assert.equal(unexpected, true);
        },
      ),
    );
    for (const thrown of [undefined, null, 'a string', 42, { statusCode: 404 }]) {
      assert.equal(toErrorEnvelope(thrown, TRACE).envelope.code, 'INTERNAL');
    }
  });

  test('errorResponses references the shared envelope schema', () => {
    assert.deepEqual(Object.keys(errorResponses(404, 409)), ['404', '409']);
    assert.equal(errorResponses(404)[404]!.$ref, 'ErrorEnvelope#');
  });
});

describe('bearerToken (RFC 6750 §2.1)', () => {
  test('extracts b64token credentials; scheme is case-insensitive', () => {
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken('bearer   abc.def-_~+/='), 'abc.def-_~+/=');
    for (const bad of ['Basic abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearer "abc"', 'Bearerabc']) {
      assert.throws(
        () => bearerToken(bad),
        (e: unknown) => e instanceof StellaError && e.code === 'AUTH_INVALID_TOKEN',
        bad,
      );
    }
  });

  test('property: never throws anything but AUTH_INVALID_TOKEN', () => {
    fc.assert(
      fc.property(fc.string(), (h) => {
        try {
          const t = bearerToken(h);
          assert.ok(t === undefined || /^[A-Za-z0-9\-._~+/]+=*$/.test(t));
        } catch (e) {
          assert.ok(e instanceof StellaError && e.code === 'AUTH_INVALID_TOKEN');
        }
      }),
    );
  });
});
