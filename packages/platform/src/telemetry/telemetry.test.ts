import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHttpMetrics, formatTraceparent, parseTraceparent, startTrace } from '@stella/platform/telemetry';

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

describe('traceparent (W3C Trace Context §3.2)', () => {
  test('spec example and invalid forms', () => {
    assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: '00f067aa0ba902b7',
      flags: '01',
    });
    for (const bad of [
      undefined,
      '',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff is invalid
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // uppercase
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero parent id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // v00 must be exactly 55 chars
      '00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01',
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
    // A future version: parse the first four fields, ignore what follows a '-'.
    assert.equal(
      parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever')?.traceId,
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  test('property: formatted contexts round-trip; arbitrary strings never throw', () => {
    fc.assert(
      fc.property(hex(32), hex(16), fc.constantFrom('00', '01'), (traceId, spanId, flags) => {
        fc.pre(!/^0+$/.test(traceId) && !/^0+$/.test(spanId));
        const tp = formatTraceparent({ traceId, spanId, flags });
        assert.deepEqual(parseTraceparent(tp), { traceId, parentId: spanId, flags });
        const child = startTrace(tp);
        assert.equal(child.traceId, traceId);
        assert.equal(child.parentId, spanId);
        assert.match(child.spanId, /^[0-9a-f]{16}$/);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const r = parseTraceparent(s);
        if (r) assert.match(`${r.traceId}${r.parentId}${r.flags}`, /^[0-9a-f]{50}$/);
        assert.match(formatTraceparent(startTrace(s)), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      }),
    );
  });

  test('only the sampled flag is propagated', () => {
    assert.equal(startTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff').flags, '01');
    assert.equal(startTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02').flags, '00');
  });
});

describe('HTTP metrics', () => {
  test('registries are independent and count by route pattern and status', async () => {
    const a = createHttpMetrics({ defaultMetrics: false });
    const b = createHttpMetrics({ defaultMetrics: false, labels: { service: 'export-center' } });
    a.observe('GET', '/v1/things/:id', 200, 0.003);
    a.observe('GET', '/v1/things/:id', 200, 0.2);
    a.observe('GET', '/v1/things/:id', 404, 0.001);
    const text = await a.render();
    assert.match(text, /^stella_http_requests_total\{method="GET",route="\/v1\/things\/:id",status_code="200"\} 2$/m);
    assert.match(
      text,
      /^stella_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/v1\/things\/:id",status_code="200"\} 1$/m,
    );
    assert.match(
      text,
      /^stella_http_request_duration_seconds_count\{method="GET",route="\/v1\/things\/:id",status_code="404"\} 1$/m,
    );
    assert.ok(!(await b.render()).includes('route="/v1/things/:id"'));
    b.observe('POST', '/x', 201, 0.01);
    assert.match(await b.render(), /service="export-center"/);
  });
});
