import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isStellaError, type StellaError } from '@stella/core/errors';
import {
  MAX_EVENT_BYTES,
  decodeEvent,
  encodeEvent,
  encodeEventJson,
  eventKey,
  eventProblems,
  isRfc3339,
  isValidKind,
  newEvent,
  validateEvent,
  type EventEnvelope,
} from './event-envelope.js';

const base = (): EventEnvelope => ({
  eventId: '01J9Z8Q4R5S6T7V8W9X0Y1Z2A3',
  tenant: 'acme',
  kind: 'evidence.bundle.sealed',
  source: 'evidence-locker',
  occurredAt: '2025-01-02T03:04:05.678Z',
});

function problemsOf(input: unknown): string[] {
  try {
    validateEvent(input);
    return [];
  } catch (err) {
    assert.ok(isStellaError(err, 'EVENT_INVALID'), `expected EVENT_INVALID, got ${String(err)}`);
    return ((err as StellaError).details as { problems: { path: string }[] }).problems.map((p) => p.path);
  }
}

describe('event envelope', () => {
  test('a full envelope validates and round-trips through encode/decode', () => {
    const e: EventEnvelope = {
      ...base(),
      subject: 'bundle/b1',
      correlationId: 'req-1',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      actor: 'user:alice',
      attributes: { size: 3, sealed: true, profile: 'default' },
      payload: { a: [1, 2, { b: null }] },
      evidence: [
        {
          bundleId: 'b1',
          digest: `sha256:${'0'.repeat(64)}`,
          manifestDigest: `sha256:${'f'.repeat(64)}`,
          attestationSubject: 'pkg:oci/x',
        },
      ],
    };
    assert.deepEqual(validateEvent(e), e);
    assert.deepEqual(decodeEvent(encodeEvent(e)), e);
    assert.equal(eventKey(e), `acme:${e.eventId}`);
  });

  test('every problem is reported at once, with JSON-pointer paths', () => {
    const paths = problemsOf({
      eventId: 'x',
      tenant: '',
      kind: 'A.B',
      occurredAt: 'yesterday',
      bogus: 1,
      evidence: [{ digest: 'sha1:00', extra: true }],
    });
    assert.deepEqual(
      paths.sort(),
      [
        '/bogus',
        '/eventId',
        '/evidence/0/digest',
        '/evidence/0/extra',
        '/kind',
        '/occurredAt',
        '/source',
        '/tenant',
      ].sort(),
    );
  });

  test('negative cases: each is EVENT_INVALID at the expected path', () => {
    const cases: [Partial<Record<keyof EventEnvelope | 'x', unknown>>, string][] = [
      [{ eventId: '01J9Z8Q4R5S6T7V8W9X0Y1Z2AI' }, '/eventId'], // I is not Crockford
      [{ eventId: '81J9Z8Q4R5S6T7V8W9X0Y1Z2A3' }, '/eventId'], // overflows 128 bits
      [{ eventId: '01j9z8q4r5s6t7v8w9x0y1z2a3' }, '/eventId'], // lower case
      [{ tenant: 'a:b' }, '/tenant'],
      [{ tenant: 'a b' }, '/tenant'],
      [{ tenant: 42 }, '/tenant'],
      [{ kind: 'evidence..sealed' }, '/kind'],
      [{ kind: 'evidence.*' }, '/kind'],
      [{ kind: 'evidence.>' }, '/kind'],
      [{ kind: 'evidence sealed' }, '/kind'],
      [{ kind: '.evidence' }, '/kind'],
      [{ kind: 'a.b.c.d.e.f.g.h.i.j.k' }, '/kind'], // 11 tokens
      [{ occurredAt: '2025-02-29T00:00:00Z' }, '/occurredAt'], // not a leap year
      [{ occurredAt: '2025-01-01T24:00:00Z' }, '/occurredAt'],
      [{ occurredAt: '2025-01-01 00:00:00Z' }, '/occurredAt'],
      [{ occurredAt: '2025-01-01T00:00:00' }, '/occurredAt'], // no offset
      [{ occurredAt: 1735689600000 }, '/occurredAt'],
      [{ traceId: '0'.repeat(32) }, '/traceId'],
      [{ traceId: 'ABCDEF'.padEnd(32, '0') }, '/traceId'],
      [{ attributes: { nested: { no: 1 } } }, '/attributes/nested'],
      [{ attributes: { n: Number.NaN } }, '/attributes/n'],
      [{ attributes: [] }, '/attributes'],
      [{ evidence: {} }, '/evidence'],
      [{ evidence: [{ bundleId: 'b' }] }, '/evidence/0/digest'],
      [{ payload: 10n }, '/payload'],
      [{ source: '' }, '/source'],
      [{ x: 1 }, '/x'],
    ];
    for (const [patch, path] of cases)
      assert.deepEqual(
        problemsOf({ ...base(), ...patch }),
        [path],
        JSON.stringify(patch, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      );
    assert.deepEqual(problemsOf(null), ['']);
    assert.deepEqual(problemsOf([base()]), ['']);
    assert.deepEqual(problemsOf('{}'), ['']);
  });

  test('cyclic payloads and oversize envelopes are refused', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.deepEqual(problemsOf({ ...base(), payload: cyclic }), ['/payload']);
    assert.deepEqual(problemsOf({ ...base(), payload: 'x'.repeat(MAX_EVENT_BYTES) }), ['']);
    assert.throws(
      () => encodeEvent({ ...base(), payload: 'x'.repeat(MAX_EVENT_BYTES) }),
      (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
    );
    // Multi-byte characters count as bytes, not UTF-16 units.
    assert.throws(
      () => encodeEvent({ ...base(), payload: '\u00e9'.repeat(MAX_EVENT_BYTES / 2) }),
      (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
    );
    assert.throws(
      () => decodeEvent(JSON.stringify({ ...base(), payload: '\u00e9'.repeat(MAX_EVENT_BYTES / 2) })),
      (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
    );
  });

  test('encodeEventJson stringifies once yet still refuses every non-serializable payload at /payload', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const bad: unknown[] = [
      10n, // BigInt: JSON.stringify throws
      cyclic, // cycle: throws
      { deep: [1, { n: 2n }] }, // BigInt nested: throws
      () => 1, // a function stringifies to undefined (the key would silently vanish)
      Symbol('s'), // likewise
      { toJSON: () => undefined }, // toJSON may also make it vanish
    ];
    for (const payload of bad) {
      for (const encode of [encodeEventJson, encodeEvent]) {
        assert.throws(
          () => encode({ ...base(), payload } as EventEnvelope),
          (err: unknown) =>
            isStellaError(err, 'EVENT_INVALID') &&
            ((err as StellaError).details as { problems: { path: string }[] }).problems.some(
              (p) => p.path === '/payload',
            ),
          `payload ${String(typeof payload)} must be refused`,
        );
      }
    }
    // Other problems are still all listed next to the payload one.
    assert.throws(
      () => encodeEventJson({ ...base(), tenant: 'a:b', payload: 10n } as unknown as EventEnvelope),
      (err: unknown) =>
        isStellaError(err, 'EVENT_INVALID') &&
        ((err as StellaError).details as { problems: { path: string }[] }).problems.map((p) => p.path).join() ===
          '/tenant,/payload',
    );
    // A toJSON payload that does produce JSON is fine, encoded as JSON.stringify encodes it.
    const dated = { ...base(), payload: new Date('2025-01-02T03:04:05.000Z') } as EventEnvelope;
    assert.equal(encodeEventJson(dated), JSON.stringify(dated));
    assert.equal(decodeEvent(encodeEventJson(dated)).payload, '2025-01-02T03:04:05.000Z');
  });

  test('property: encodeEventJson is exactly JSON.stringify of a valid event, the bytes encodeEvent sends', () => {
    const arb = fc.record({ payload: fc.jsonValue(), subject: fc.string({ minLength: 1, maxLength: 30 }) });
    fc.assert(
      fc.property(arb, (extra) => {
        const e: EventEnvelope = { ...base(), ...extra };
        const json = encodeEventJson(e);
        assert.equal(json, JSON.stringify(e));
        assert.deepEqual(Buffer.from(encodeEvent(e)), Buffer.from(json, 'utf8'));
        assert.equal(encodeEventJson(structuredClone(e)), json); // deterministic
        assert.deepEqual(decodeEvent(json), JSON.parse(json));
      }),
    );
  });

  test('decodeEvent: bytes that are not JSON are EVENT_INVALID', () => {
    for (const bad of ['', '{', 'null', '[]', '{"eventId":1}']) {
      assert.throws(
        () => decodeEvent(Buffer.from(bad)),
        (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
      );
    }
  });

  test('RFC 3339 details: offsets, lower-case t/z, leap seconds, leap years', () => {
    for (const ok of [
      '2024-02-29T23:59:60Z',
      '2025-06-30t12:00:00z',
      '2025-01-01T00:00:00+05:30',
      '2025-01-01T00:00:00.123456789-08:00',
    ])
      assert.ok(isRfc3339(ok), ok);
    for (const bad of [
      '1900-02-29T00:00:00Z',
      '2025-13-01T00:00:00Z',
      '2025-01-01T00:00:00+24:00',
      '2025-01-01T00:60:00Z',
      '25-01-01T00:00:00Z',
    ])
      assert.ok(!isRfc3339(bad), bad);
  });

  test('newEvent: fresh monotonic ULIDs, now as occurredAt, undefined fields dropped', () => {
    const a = newEvent({ tenant: 't', kind: 'x.y', source: 's', subject: undefined });
    const b = newEvent({ tenant: 't', kind: 'x.y', source: 's', occurredAt: new Date(0) });
    assert.ok(a.eventId < b.eventId, 'monotonic within a process');
    assert.ok(!('subject' in a));
    assert.equal(b.occurredAt, '1970-01-01T00:00:00.000Z');
    assert.throws(
      () => newEvent({ tenant: 't', kind: 'Bad', source: 's' }),
      (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
    );
  });

  test('property: generated valid envelopes validate, and encoding is deterministic', () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
    const arb = fc.record(
      {
        eventId: fc.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
        tenant: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
        kind: fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join('.')),
        source: fc.string({ minLength: 1, maxLength: 30 }),
        occurredAt: fc
          .date({ min: new Date('1970-01-01'), max: new Date('2999-12-31'), noInvalidDate: true })
          .map((d) => d.toISOString()),
        attributes: fc.dictionary(
          fc.string({ minLength: 1, maxLength: 10 }),
          fc.oneof(fc.string({ maxLength: 20 }), fc.boolean(), fc.integer()),
        ),
        payload: fc.jsonValue(),
      },
      { requiredKeys: ['eventId', 'tenant', 'kind', 'source', 'occurredAt'] },
    );
    fc.assert(
      fc.property(arb, (e) => {
        assert.deepEqual(eventProblems(e), []);
        assert.ok(isValidKind(e.kind));
        assert.deepEqual(Buffer.from(encodeEvent(e)), Buffer.from(encodeEvent(structuredClone(e))));
      }),
    );
  });

  test('property: arbitrary JSON never crashes the validator, and anything it accepts re-validates after a wire round trip', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.object()), (v) => {
        const problems = eventProblems(v);
        assert.ok(Array.isArray(problems));
        if (problems.length === 0) assert.deepEqual(eventProblems(JSON.parse(JSON.stringify(v))), []);
      }),
    );
  });

  test('property: a kind with any character outside [a-z0-9_.-] is rejected (it would be a NATS wildcard/subject break)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.constantFrom('*', '>', ' ', '\t', 'A', ':', '/', '\u00e9'),
        (s, bad) => {
          const kind = `a.${s}${bad}`;
          assert.ok(!isValidKind(kind));
          assert.deepEqual(problemsOf({ ...base(), kind }), ['/kind']);
        },
      ),
    );
  });
});
