import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import fc from 'fast-check';
import { assertStellaError, needTool, tempDir } from '@stella/testkit';
import { decodeDer, derOf } from './asn1-support.js';
import { decodeOid, encodeOid } from './object-identifier.js';

/** Random OIDs: arcs from tiny to far beyond 2^53 (up to 2^200), and `2.<huge>` first pairs. */
const bigArc = fc.bigInt({ min: 0n, max: 2n ** 200n });
const arc = fc.oneof(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 2n ** 52n, max: 2n ** 57n }), bigArc);
const oid = fc
  .tuple(
    fc.oneof(fc.tuple(fc.constantFrom(0n, 1n), fc.bigInt({ min: 0n, max: 39n })), fc.tuple(fc.constant(2n), arc)),
    fc.array(arc, { maxLength: 6 }),
  )
  .map(([[x, y], rest]) => [x, y, ...rest].join('.'));

/** Random OIDs openssl will not print by name (no registered OID lives under these arcs). */
const unnamedOid = fc.oneof(
  fc.array(arc, { minLength: 1, maxLength: 5 }).map((rest) => ['2.25', ...rest].join('.')),
  fc
    .tuple(fc.bigInt({ min: 2n ** 64n, max: 2n ** 160n }), fc.array(arc, { maxLength: 4 }))
    .map(([y, rest]) => ['2', y, ...rest].join('.')),
);

const pkijsEngine = () => import('./asn1-support.js').then((m) => m.ensurePkijsEngine());

describe('object identifiers with arcs of any size (issue 7, point 2)', () => {
  test('the 2.25 UUID OID, 2^53 + 1 and 2.<huge> encode and decode exactly', () => {
    const cases: [string, string][] = [
      ['2.25.329800735698586629295641978511506172918', '6983f09da7ebcfdee0c7a1a7b2c0948cc8f9d776'],
      ['1.2.9007199254740993', '2a9080808080808001'],
      ['2.999999999999999999999999.3', '86cf849be7b39dda8880804f03'],
      ['1.3.6.1.5.5.7.3.8', '2b06010505070308'],
    ];
    for (const [dotted, hex] of cases) {
      assert.equal(Buffer.from(encodeOid(dotted)).toString('hex'), hex, dotted);
      assert.equal(decodeOid(Buffer.from(hex, 'hex')), dotted);
    }
  });

  test('random OIDs round-trip through our codec, asn1js ObjectIdentifier and pkijs (fast-check)', async () => {
    await pkijsEngine();
    fc.assert(
      fc.property(oid, (dotted) => {
        assert.equal(decodeOid(encodeOid(dotted)), dotted);
        const der = new Uint8Array(new asn1js.ObjectIdentifier({ value: dotted }).toBER(false));
        const content = encodeOid(dotted);
        assert.deepEqual(der.subarray(der.length - content.length), content);
        const back = decodeDer(der, 'oid') as asn1js.ObjectIdentifier;
        assert.equal(back.getValue(), dotted);
        // through pkijs too: an AlgorithmIdentifier and an ExtKeyUsage
        const alg = new pkijs.AlgorithmIdentifier({ algorithmId: dotted });
        assert.equal(new pkijs.AlgorithmIdentifier({ schema: decodeDer(derOf(alg), 'alg') }).algorithmId, dotted);
        const eku = new pkijs.ExtKeyUsage({ keyPurposes: [dotted, '1.3.6.1.5.5.7.3.8'] });
        assert.deepEqual(new pkijs.ExtKeyUsage({ schema: decodeDer(derOf(eku), 'eku') }).keyPurposes, [
          dotted,
          '1.3.6.1.5.5.7.3.8',
        ]);
      }),
      { numRuns: 300 },
    );
  });

  test('bad text and non-DER content are refused', () => {
    for (const bad of ['', '1', '3.1', '1.40', '0.40', '1.02', '1..2', '1.2.', '-1.2', '1.2.x', ' 1.2'])
      assertStellaError(() => encodeOid(bad), 'VALIDATION_FAILED');
    assertStellaError(() => new asn1js.ObjectIdentifier({ value: '1.40' }), 'VALIDATION_FAILED');
    for (const hex of ['', '2a80', '2a8001', '8001'])
      assertStellaError(() => decodeOid(Buffer.from(hex, 'hex')), 'ASN1_MALFORMED');
    // a leading 0x80 (non-minimal subidentifier) inside a DER element
    assertStellaError(() => decodeDer(Buffer.from('06032a8001', 'hex'), 'oid'), 'ASN1_MALFORMED');
    assertStellaError(() => encodeOid(`1.2.${'9'.repeat(3000)}`), 'VALIDATION_FAILED');
  });

  test('encoding and decoding agree with openssl asn1parse', { skip: needTool('openssl') }, async () => {
    const tmp = await tempDir('stella-oid-');
    try {
      const samples = fc.sample(unnamedOid, 60);
      // openssl encodes them (genconf) …
      const conf = ['asn1 = SEQUENCE:seq', '[seq]', ...samples.map((o, i) => `o${i} = OID:${o}`)].join('\n');
      writeFileSync(join(tmp.path, 'oids.cnf'), `${conf}\n`);
      const gen = spawnSync('openssl', ['asn1parse', '-genconf', 'oids.cnf', '-noout', '-out', 'oids.der'], {
        cwd: tmp.path,
      });
      assert.equal(gen.status, 0, gen.stderr.toString());
      const opensslDer = spawnSync('cat', ['oids.der'], { cwd: tmp.path }).stdout;
      const seq = decodeDer(new Uint8Array(opensslDer), 'oids') as asn1js.Sequence;
      // … we read them back exactly and encode the same bytes
      assert.deepEqual(
        seq.valueBlock.value.map((v) => (v as asn1js.ObjectIdentifier).getValue()),
        samples,
      );
      const ours = new asn1js.Sequence({ value: samples.map((o) => new asn1js.ObjectIdentifier({ value: o })) });
      assert.deepEqual(Buffer.from(ours.toBER(false)), opensslDer);
      // … and openssl prints what we encoded as the same dotted text
      writeFileSync(join(tmp.path, 'ours.der'), Buffer.from(ours.toBER(false)));
      const parsed = spawnSync('openssl', ['asn1parse', '-inform', 'DER', '-in', 'ours.der'], { cwd: tmp.path });
      assert.equal(parsed.status, 0, parsed.stderr.toString());
      const printed = [...parsed.stdout.toString().matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1]);
      assert.deepEqual(printed, samples);
    } finally {
      await tmp.cleanup();
    }
  });
});
