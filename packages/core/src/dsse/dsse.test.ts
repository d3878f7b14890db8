import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ECDH, createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { isStellaError } from '../errors/index.js';
import {
  createKeySigner,
  keySetFromPublicKeys,
  parsePrivateKey,
  spkiDer,
  verificationKey,
  type Signer,
} from '../signing/index.js';
import {
  decodeBase64Strict,
  envelopeToJson,
  pae,
  parseEnvelope,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
} from './index.js';

const te = new TextEncoder();
const INTOTO = 'application/vnd.in-toto+json';
const coded = (code: string) => (err: unknown) => isStellaError(err) && err.code === code;

/** TEST-ONLY key (seed 32 × 0x01), see testdata/README.md. */
const testKey = parsePrivateKey(
  readFileSync(new URL('./testdata/TEST-ONLY-ed25519-seed01.key.pem', import.meta.url), 'utf8'),
);
const VECTOR_PAYLOAD =
  '{"_type":"https://in-toto.io/Statement/v1","predicate":{},"predicateType":"https://example.com/p/v1","subject":[{"digest":{"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},"name":"hello"}]}';
const VECTOR_SIG = 'idUMjOkyNs/1LzUd1YjDgXLYZl26ViVMh19LRBYr7zt+yDAN1CKyT8Hw/S14YDCmGtr55U5X/ozuA8YydMzABA==';
/** sha256 of the serialized golden envelope (committed; changes only if the wire form changes). */
const GOLDEN_ENVELOPE_SHA256 = '889215658c424c65ba215ed9a50aa028ce75871b1b21bbbe2c09f7d9a63824dd';

function newSigner(kind: 'ed25519' | 'ec' | 'rsa'): { signer: Signer; publicKey: import('node:crypto').KeyObject } {
  const kp =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { signer: createKeySigner(kp.privateKey), publicKey: kp.publicKey };
}

describe('PAE (DSSE protocol.md)', () => {
  test('spec vectors', () => {
    const dec = new TextDecoder();
    assert.equal(
      dec.decode(pae('http://example.com/HelloWorld', te.encode('hello world'))),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    assert.equal(dec.decode(pae('', new Uint8Array())), 'DSSEv1 0  0 ');
    assert.equal(dec.decode(pae('t', te.encode('ಠ'))), 'DSSEv1 1 t 3 ಠ');
    assert.equal(dec.decode(pae('ಠ', new Uint8Array())), 'DSSEv1 3 ಠ 0 ');
    const p = pae(INTOTO, te.encode(VECTOR_PAYLOAD));
    assert.equal(
      createHash('sha256').update(p).digest('hex'),
      '44d6cae74a946aa49a11687474be0764c92313a4efd480e27898bdd7801dea3f',
    );
  });

  test('property: PAE is injective on (type, body) pairs', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array(), fc.string(), fc.uint8Array(), (t1, b1, t2, b2) => {
        const same = t1 === t2 && Buffer.from(b1).equals(Buffer.from(b2));
        assert.equal(Buffer.from(pae(t1, b1)).equals(Buffer.from(pae(t2, b2))), same);
      }),
    );
  });
});

describe('signing and determinism', () => {
  test('golden: Ed25519 TEST key reproduces the published vector and the committed envelope digest', async () => {
    const env = await signEnvelope(te.encode(VECTOR_PAYLOAD), INTOTO, [createKeySigner(testKey)]);
    assert.equal(envelopeToJson(env).signatures[0]!.sig, VECTOR_SIG);
    assert.equal(env.signatures[0]!.keyid, 'fd110d301d2f077de1414b8f99f441b1403fab207b2052fbd2c065e4ee8e7dc2');
    const a = serializeEnvelope(env);
    const b = serializeEnvelope(await signEnvelope(te.encode(VECTOR_PAYLOAD), INTOTO, [createKeySigner(testKey)]));
    assert.equal(a, b, 'same input, same bytes');
    assert.equal(createHash('sha256').update(a).digest('hex'), GOLDEN_ENVELOPE_SHA256);
  });

  test('serialization round-trips through the parser and is stable', async () => {
    const { signer } = newSigner('ec');
    const env = await signEnvelope(te.encode('x'.repeat(1000)), 'text/plain', [signer, createKeySigner(testKey)]);
    const s = serializeEnvelope(env);
    assert.equal(serializeEnvelope(parseEnvelope(s)), s);
    assert.equal(serializeEnvelope(parseEnvelope(te.encode(s))), s);
  });

  test('bad sign inputs', async () => {
    await assert.rejects(signEnvelope(te.encode('x'), INTOTO, []), coded('VALIDATION_FAILED'));
    await assert.rejects(signEnvelope(te.encode('x'), '', [createKeySigner(testKey)]), coded('VALIDATION_FAILED'));
  });
});

describe('verification', () => {
  for (const kind of ['ed25519', 'ec', 'rsa'] as const) {
    test(`${kind}: valid envelope verifies; tampering is caught`, async () => {
      const { signer, publicKey } = newSigner(kind);
      const keys = keySetFromPublicKeys([publicKey]);
      const env = await signEnvelope(te.encode('{"a":1}'), INTOTO, [signer]);
      const ok = verifyEnvelope(env, { keys, expectedPayloadType: INTOTO });
      assert.deepEqual(ok.verifiedKeyIds, [signer.keyId]);
      assert.equal(new TextDecoder().decode(ok.payload), '{"a":1}');

      const tamperedPayload: DsseEnvelope = { ...env, payload: te.encode('{"a":2}') };
      assert.throws(() => verifyEnvelope(tamperedPayload, { keys }), coded('DSSE_SIGNATURE_INVALID'));
      // payloadType is inside PAE, so changing it breaks the signature even when no type is expected.
      assert.throws(
        () => verifyEnvelope({ ...env, payloadType: 'application/json' }, { keys }),
        coded('DSSE_SIGNATURE_INVALID'),
      );
      const sig = env.signatures[0]!.sig.slice();
      sig[5]! ^= 0x40;
      assert.throws(
        () => verifyEnvelope({ ...env, signatures: [{ keyid: env.signatures[0]!.keyid, sig }] }, { keys }),
        coded('DSSE_SIGNATURE_INVALID'),
      );
      const other = keySetFromPublicKeys([newSigner(kind).publicKey]);
      assert.throws(
        () => verifyEnvelope(env, { keys: other }),
        (err: unknown) => {
          assert.ok(isStellaError(err, 'DSSE_SIGNATURE_INVALID'));
          const d = err.details as { checks: { index: number; reason?: string }[] };
          assert.deepEqual(
            d.checks.map((c) => [c.index, c.reason]),
            [[0, 'no-trusted-key-verifies']],
          );
          assert.match(err.message, /signature #0/);
          return true;
        },
      );
    });
  }

  test('wrong payload type is reported before signatures', async () => {
    const { signer, publicKey } = newSigner('ed25519');
    const env = await signEnvelope(te.encode('x'), 'text/plain', [signer]);
    assert.throws(
      () => verifyEnvelope(env, { keys: keySetFromPublicKeys([publicKey]), expectedPayloadType: INTOTO }),
      (err: unknown) => {
        assert.ok(isStellaError(err, 'DSSE_PAYLOAD_TYPE_MISMATCH'));
        assert.deepEqual(err.details, { check: 'payloadType', expected: INTOTO, actual: 'text/plain' });
        return true;
      },
    );
  });

  test('threshold counts distinct trusted keys once', async () => {
    const a = newSigner('ed25519');
    const b = newSigner('ec');
    const c = newSigner('rsa');
    const keys = keySetFromPublicKeys([a.publicKey, b.publicKey, c.publicKey]);
    const payload = te.encode('multi');
    const two = await signEnvelope(payload, 'text/plain', [a.signer, b.signer]);
    assert.deepEqual(
      verifyEnvelope(two, { keys, threshold: 2 }).verifiedKeyIds.sort(),
      [a.signer.keyId, b.signer.keyId].sort(),
    );
    assert.throws(() => verifyEnvelope(two, { keys, threshold: 3 }), coded('DSSE_SIGNATURE_INVALID'));
    // The same key signing twice (ECDSA gives two different signatures) still counts once.
    const dup = await signEnvelope(payload, 'text/plain', [b.signer, b.signer]);
    const r = verifyEnvelope(dup, { keys, threshold: 1 });
    assert.deepEqual(r.verifiedKeyIds, [b.signer.keyId]);
    assert.equal(r.checks[1]!.reason, 'duplicate-key');
    assert.throws(() => verifyEnvelope(dup, { keys, threshold: 2 }), coded('DSSE_SIGNATURE_INVALID'));
    // An untrusted signer does not count; a trusted one still does.
    const mixed = await signEnvelope(payload, 'text/plain', [newSigner('ed25519').signer, c.signer]);
    assert.deepEqual(verifyEnvelope(mixed, { keys }).verifiedKeyIds, [c.signer.keyId]);
    for (const t of [0, -1, 1.5, Number.NaN])
      assert.throws(() => verifyEnvelope(two, { keys, threshold: t }), coded('VALIDATION_FAILED'));
    assert.throws(() => verifyEnvelope(two, { keys: new Map() }), coded('DSSE_SIGNATURE_INVALID'));
  });

  test('one key under two ids or in two encodings counts once (issue 19, finding 2)', async () => {
    const b = newSigner('ec');
    const payload = te.encode('threshold');
    const twice = await signEnvelope(payload, 'text/plain', [b.signer, b.signer]);
    const vk = verificationKey(b.publicKey);
    // A hand-built set naming the key under an invented second id is refused outright.
    const forgedId = `sha256:${'ab'.repeat(32)}`;
    const invented = new Map([
      [vk.keyId, vk],
      [forgedId, { ...vk, keyId: forgedId }],
    ]);
    assert.throws(() => verifyEnvelope(twice, { keys: invented, threshold: 2 }), coded('KEY_INVALID'));
    assert.throws(() => verifyEnvelope(twice, { keys: new Map([[forgedId, vk]]) }), coded('KEY_INVALID'));

    // The same P-256 key as a compressed-point SPKI has a different (genuine) key id …
    const jwk = b.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const compressedSpki = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer,
    ]);
    const compressed = verificationKey(createPublicKey({ key: compressedSpki, format: 'der', type: 'spki' }));
    assert.notEqual(compressed.keyId, vk.keyId);
    const bothEncodings = new Map([
      [vk.keyId, vk],
      [compressed.keyId, compressed],
    ]);
    // … but one signer still meets only a threshold of 1, whatever the hints say.
    const hinted = {
      ...twice,
      signatures: [
        { ...twice.signatures[0]!, keyid: vk.keyId },
        { ...twice.signatures[1]!, keyid: compressed.keyId },
      ],
    };
    assert.throws(() => verifyEnvelope(hinted, { keys: bothEncodings, threshold: 2 }), coded('DSSE_SIGNATURE_INVALID'));
    const one = verifyEnvelope(hinted, { keys: bothEncodings });
    assert.deepEqual(one.verifiedKeyIds, [vk.keyId]);
    assert.equal(one.checks[1]!.reason, 'duplicate-key');
    assert.equal(keySetFromPublicKeys([b.publicKey, compressed.publicKey]).size, 1);

    // One RSA modulus under rsaEncryption and under id-RSASSA-PSS is one key too.
    const c = newSigner('rsa');
    const rsaSpki = spkiDer(c.publicKey);
    const spki = asn1js.fromBER(rsaSpki).result as asn1js.Sequence;
    const pssSpki = new asn1js.Sequence({
      value: [
        new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.1.10' })] }),
        spki.valueBlock.value[1]!,
      ],
    }).toBER(false);
    const pss = createPublicKey({ key: Buffer.from(pssSpki), format: 'der', type: 'spki' });
    assert.equal(pss.asymmetricKeyType, 'rsa-pss');
    const rsaTwice = await signEnvelope(payload, 'text/plain', [c.signer, c.signer]);
    const rsaKeys = new Map([c.publicKey, pss].map((k) => [verificationKey(k).keyId, verificationKey(k)] as const));
    assert.equal(rsaKeys.size, 2);
    assert.throws(() => verifyEnvelope(rsaTwice, { keys: rsaKeys, threshold: 2 }), coded('DSSE_SIGNATURE_INVALID'));
    assert.equal(verifyEnvelope(rsaTwice, { keys: rsaKeys }).verifiedKeyIds.length, 1);
    assert.equal(keySetFromPublicKeys([c.publicKey, pss]).size, 1);
  });

  test('keyid is only a hint: a wrong or empty keyid does not change the outcome', async () => {
    const { signer, publicKey } = newSigner('ed25519');
    const keys = keySetFromPublicKeys([publicKey, newSigner('ec').publicKey]);
    const env = await signEnvelope(te.encode('x'), 'text/plain', [signer]);
    for (const keyid of ['', 'not-hex', 'ab'.repeat(32), `sha256:${env.signatures[0]!.keyid}`]) {
      assert.deepEqual(
        verifyEnvelope({ ...env, signatures: [{ keyid, sig: env.signatures[0]!.sig }] }, { keys }).verifiedKeyIds,
        [signer.keyId],
      );
    }
  });
});

describe('parseEnvelope (strict)', () => {
  const good = { payload: 'aGVsbG8=', payloadType: 'text/plain', signatures: [{ keyid: '', sig: 'AAEC' }] };
  const cases: [string, unknown, string][] = [
    ['not JSON', '{"payload":', 'DSSE_MALFORMED'],
    ['array', '[]', 'DSSE_MALFORMED'],
    ['null', 'null', 'DSSE_MALFORMED'],
    ['missing payload', { ...good, payload: undefined }, 'DSSE_MALFORMED'],
    ['numeric payloadType', { ...good, payloadType: 1 }, 'DSSE_MALFORMED'],
    ['empty payloadType', { ...good, payloadType: '' }, 'DSSE_MALFORMED'],
    ['no signatures', { ...good, signatures: [] }, 'DSSE_MALFORMED'],
    ['signatures not array', { ...good, signatures: {} }, 'DSSE_MALFORMED'],
    ['signature not object', { ...good, signatures: ['x'] }, 'DSSE_MALFORMED'],
    ['numeric keyid', { ...good, signatures: [{ keyid: 1, sig: 'AAEC' }] }, 'DSSE_MALFORMED'],
    ['empty sig', { ...good, signatures: [{ sig: '' }] }, 'DSSE_MALFORMED'],
    ['truncated base64', { ...good, payload: 'aGVsbG8' }, 'BASE64_INVALID'],
    ['bad base64 char', { ...good, payload: 'aGVs*G8=' }, 'BASE64_INVALID'],
    ['mixed alphabets', { ...good, payload: 'a+_s' }, 'BASE64_INVALID'],
    ['whitespace in base64', { ...good, payload: 'aGVs bG8=' }, 'BASE64_INVALID'],
    ['non-canonical bits', { ...good, payload: 'aGVsbG9=' }, 'BASE64_INVALID'],
    ['unpadded URL-safe', { ...good, payload: '-_8' }, 'BASE64_INVALID'],
    ['over-padded', { ...good, payload: 'aGVsbG8==' }, 'BASE64_INVALID'],
    ['bad sig base64', { ...good, signatures: [{ sig: 'A' }] }, 'BASE64_INVALID'],
  ];
  for (const [name, input, code] of cases) {
    test(`rejects ${name} with ${code}`, () => {
      const text = typeof input === 'string' ? input : JSON.stringify(input);
      assert.throws(() => parseEnvelope(text), coded(code));
    });
  }

  test('rejects duplicate members, invalid UTF-8 and oversize input', () => {
    assert.throws(
      () => parseEnvelope('{"payload":"aGVsbG8=","payload":"eA==","payloadType":"t","signatures":[{"sig":"AAEC"}]}'),
      coded('DSSE_MALFORMED'),
    );
    assert.throws(() => parseEnvelope(Uint8Array.from([0x7b, 0xff, 0x7d])), coded('DSSE_MALFORMED'));
    assert.throws(() => parseEnvelope(JSON.stringify(good), { maxBytes: 10 }), coded('DSSE_MALFORMED'));
  });

  test('accepts padded URL-safe base64 and a missing keyid', () => {
    const env = parseEnvelope(
      JSON.stringify({ payload: '-_8=', payloadType: 't', signatures: [{ sig: '-_8=' }], extra: 1 }),
    );
    assert.deepEqual([...env.payload], [0xfb, 0xff]);
    assert.equal(env.signatures[0]!.keyid, '');
    assert.deepEqual([...decodeBase64Strict('', 'x')], []);
  });

  test('property: strict base64 accepts exactly the canonical padded spellings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const std = Buffer.from(bytes).toString('base64');
        const url = Buffer.from(bytes).toString('base64url');
        const urlPadded = url + '='.repeat((4 - (url.length % 4)) % 4);
        assert.deepEqual(Buffer.from(decodeBase64Strict(std, 'x')), Buffer.from(bytes));
        assert.deepEqual(Buffer.from(decodeBase64Strict(urlPadded, 'x')), Buffer.from(bytes));
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw+/-_= \n*'.split('')), maxLength: 16 }), (text) => {
        try {
          const out = Buffer.from(decodeBase64Strict(text, 'x'));
          const url = out.toString('base64url');
          assert.ok(text === out.toString('base64') || text === url + '='.repeat((4 - (url.length % 4)) % 4), text);
        } catch (err) {
          assert.ok(isStellaError(err, 'BASE64_INVALID'), String(err));
        }
      }),
      { numRuns: 3000, seed: 20261208 },
    );
  });

  test('fuzz: arbitrary text, JSON and mutated envelopes never crash or pass silently', async () => {
    const { signer, publicKey } = newSigner('ed25519');
    const keys = keySetFromPublicKeys([publicKey]);
    const valid = serializeEnvelope(await signEnvelope(te.encode('fuzz me'), 'text/plain', [signer]));
    const allowed = new Set(['DSSE_MALFORMED', 'BASE64_INVALID', 'DSSE_SIGNATURE_INVALID']);
    const check = (input: string | Uint8Array) => {
      try {
        const env = parseEnvelope(input);
        const r = verifyEnvelope(env, { keys });
        // Anything that verifies must carry exactly the signed payload and type.
        assert.equal(new TextDecoder().decode(r.payload), 'fuzz me');
        assert.equal(r.payloadType, 'text/plain');
      } catch (err) {
        assert.ok(isStellaError(err) && allowed.has(err.code), `unexpected ${String(err)}`);
      }
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.uint8Array({ maxLength: 300 }),
          fc
            .record({
              payload: fc.base64String(),
              payloadType: fc.string(),
              signatures: fc.array(fc.record({ keyid: fc.string(), sig: fc.base64String() })),
            })
            .map((o) => JSON.stringify(o)),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const b = te.encode(valid);
            b[i]! ^= x;
            return b;
          }),
          fc.nat(valid.length).map((n) => valid.slice(0, n)),
        ),
        check,
      ),
      // A fixed seed: CI run 8 saw this file hang once for 300 s with a random one (not reproduced
      // in 40 reruns); a seed makes a recurrence reproducible.
      { numRuns: 2000, seed: 20261208 },
    );
  });
});
