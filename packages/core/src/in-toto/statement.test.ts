import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { signEnvelope, verifyEnvelope } from '../dsse/index.js';
import { isStellaError } from '../errors/index.js';
import { createKeySigner, keySetFromPublicKeys } from '../signing/index.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  STATEMENT_V1_TYPE,
  buildStatement,
  parseStatement,
  serializeStatement,
  statementFromEnvelope,
  validateStatement,
} from './index.js';

const HELLO = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const invalid = (err: unknown) => isStellaError(err, 'INTOTO_STATEMENT_INVALID');

describe('in-toto Statement v1', () => {
  test('builds the canonical payload of the published DSSE vector', () => {
    const st = buildStatement({
      subject: [{ name: 'hello', digest: { sha256: HELLO } }],
      predicateType: 'https://example.com/p/v1',
      predicate: {},
    });
    assert.equal(st._type, STATEMENT_V1_TYPE);
    assert.equal(
      new TextDecoder().decode(serializeStatement(st)),
      `{"_type":"https://in-toto.io/Statement/v1","predicate":{},"predicateType":"https://example.com/p/v1","subject":[{"digest":{"sha256":"${HELLO}"},"name":"hello"}]}`,
    );
  });

  test('sign → verify → parse round trip through DSSE', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const st = buildStatement({
      subject: [{ name: 'bundle', digest: { sha256: HELLO, sha512: 'ab'.repeat(64) }, annotations: { n: 1 } }],
      predicateType: 'https://stella-ops.org/evidence/v1',
      predicate: { manifestDigest: `sha256:${HELLO}`, list: [1, 'a', null, true] },
    });
    const env = await signEnvelope(serializeStatement(st), IN_TOTO_PAYLOAD_TYPE, [createKeySigner(privateKey)]);
    verifyEnvelope(env, { keys: keySetFromPublicKeys([publicKey]), expectedPayloadType: IN_TOTO_PAYLOAD_TYPE });
    assert.deepEqual(statementFromEnvelope(env), st);
    assert.throws(
      () => statementFromEnvelope({ ...env, payloadType: 'text/plain' }),
      (e: unknown) => isStellaError(e, 'DSSE_PAYLOAD_TYPE_MISMATCH'),
    );
  });

  const base = {
    _type: STATEMENT_V1_TYPE,
    subject: [{ name: 'a', digest: { sha256: HELLO } }],
    predicateType: 'https://x.test/p',
  };
  const bad: [string, unknown][] = [
    ['not object', []],
    ['wrong _type', { ...base, _type: 'https://in-toto.io/Statement/v0.1' }],
    ['missing subject', { ...base, subject: undefined }],
    ['empty subject', { ...base, subject: [] }],
    ['subject not object', { ...base, subject: ['a'] }],
    ['no digest', { ...base, subject: [{ name: 'a' }] }],
    ['empty digest', { ...base, subject: [{ name: 'a', digest: {} }] }],
    ['uppercase hex', { ...base, subject: [{ name: 'a', digest: { sha256: HELLO.toUpperCase() } }] }],
    ['short sha256', { ...base, subject: [{ name: 'a', digest: { sha256: 'abc' } }] }],
    ['non-string digest', { ...base, subject: [{ name: 'a', digest: { gitCommit: 1 } }] }],
    ['numeric name', { ...base, subject: [{ name: 1, digest: { sha256: HELLO } }] }],
    ['relative predicateType', { ...base, predicateType: 'p/v1' }],
    ['predicate array', { ...base, predicate: [] }],
    ['annotations array', { ...base, subject: [{ digest: { sha256: HELLO }, annotations: [] }] }],
  ];
  for (const [name, value] of bad) {
    test(`rejects ${name}`, () => {
      assert.throws(() => validateStatement(value), invalid);
      assert.throws(() => parseStatement(JSON.stringify(value) ?? ''), invalid);
    });
  }

  test('parser rejects bad JSON, duplicate members; keeps unknown members', () => {
    assert.throws(() => parseStatement('{'), invalid);
    assert.throws(() => parseStatement(`{"_type":"${STATEMENT_V1_TYPE}","_type":"x"}`), invalid);
    const st = parseStatement(JSON.stringify({ ...base, future: { x: 1 } }));
    assert.deepEqual((st as unknown as { future: unknown }).future, { x: 1 });
    assert.throws(
      () => serializeStatement({ ...base, predicate: { n: Number.NaN } } as never),
      (e: unknown) => isStellaError(e, 'JSON_INVALID'),
    );
  });

  test('property: build → serialize → parse is identity and serialization is deterministic', () => {
    const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.string(), digest: fc.record({ sha256: hex64 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (subject, predicate) => {
          const st = buildStatement({ subject, predicateType: 'https://x.test/p/v1', predicate: predicate as never });
          const bytes = serializeStatement(st);
          const back = parseStatement(bytes);
          assert.deepEqual(serializeStatement(back), bytes);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('fuzz: arbitrary JSON text yields a statement or INTOTO_STATEMENT_INVALID', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        try {
          parseStatement(text);
        } catch (err) {
          assert.ok(invalid(err), String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});
