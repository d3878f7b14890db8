import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  makeOpensslTsaPki,
  needTool,
  opensslReply as opensslReplyDer,
  tempDir,
  type OpensslTsaPki,
} from '@stella/testkit';
import { isStellaError, StellaError } from '../errors/index.js';
import {
  buildTimeStampRequest,
  createRejectionResponse,
  createSerialSource,
  createTimeStampResponse,
  createTimeStampToken,
  parseTimeStampRequest,
  parseTimeStampResponse,
  parseTimeStampResponseStatus,
  parseTimeStampToken,
  prepareTsaSigner,
  readTimeStampToken,
  verifyTimeStampToken,
  type TsaSigner,
} from './index.js';

const skip = needTool('openssl');

function ossl(args: string[], cwd: string, input?: Uint8Array): Buffer {
  const r = spawnSync('openssl', args, { cwd, input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

type Pki = OpensslTsaPki;

/** `openssl ts -reply`, with the reply also left at `<pki.dir>/resp.tsr` for `-text` checks. */
async function opensslReply(pki: Pki, req: Uint8Array, extra: string[] = []): Promise<Uint8Array> {
  const resp = await opensslReplyDer(pki, req, extra);
  writeFileSync(join(pki.dir, 'resp.tsr'), resp);
  return new Uint8Array(resp);
}

const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());

async function expectCheck(p: Promise<unknown>, check: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isStellaError(err, 'TIMESTAMP_INVALID'), `expected TIMESTAMP_INVALID, got ${String(err)}`);
    assert.equal((err.details as { check: string }).check, check, err.message);
    return true;
  });
}

describe('rfc3161 requests (no tools needed)', () => {
  test('request bytes match the spec layout and are deterministic for a fixed nonce', () => {
    const digest = sha256('hello');
    const a = buildTimeStampRequest(digest, { nonce: 0x0102030405060708n });
    const b = buildTimeStampRequest(digest, { nonce: 0x0102030405060708n });
    assert.deepEqual(a.der, b.der);
    const hex = Buffer.from(a.der).toString('hex');
    assert.equal(
      hex,
      `30430201013031300d0609608648016503040201050004 20${Buffer.from(digest).toString('hex')}02080102030405060708 0101ff`.replace(
        / /g,
        '',
      ),
    );
    const parsed = parseTimeStampRequest(a.der);
    assert.deepEqual(parsed.digest, digest);
    assert.equal(parsed.certReq, true);
    assert.equal(parsed.hashName, 'sha256');
  });

  test('random nonces are positive and differ; certReq false is omitted (DER default)', () => {
    const d = sha256('x');
    const a = buildTimeStampRequest(d);
    const b = buildTimeStampRequest(d, { certReq: false, policy: '1.2.3.4.5.6' });
    assert.ok(a.nonce! > 0n && b.nonce! > 0n && a.nonce !== b.nonce);
    const pb = parseTimeStampRequest(b.der);
    assert.equal(pb.certReq, false);
    assert.equal(pb.policy, '1.2.3.4.5.6');
    assert.equal(buildTimeStampRequest(d, { nonce: false }).nonce, undefined);
  });

  test('wrong digest length or algorithm is VALIDATION_FAILED', () => {
    assert.throws(
      () => buildTimeStampRequest(new Uint8Array(20)),
      (e) => isStellaError(e, 'VALIDATION_FAILED'),
    );
    assert.throws(
      () => buildTimeStampRequest(new Uint8Array(32), { hashAlgorithm: 'md5' as never }),
      (e) => isStellaError(e, 'VALIDATION_FAILED'),
    );
  });

  test('serial source is strictly increasing, unique and positive even when the clock stalls or goes back', () => {
    let t = 1_700_000_000_000;
    const clock = () => t;
    const next = createSerialSource({ clock, random: () => new Uint8Array(8).fill(0xab) });
    const seen = new Set<bigint>();
    let prev = 0n;
    for (let i = 0; i < 70_000; i++) {
      if (i === 100) t -= 5_000; // clock steps backwards
      const s = next();
      assert.ok(s > prev, 'monotonic');
      seen.add(s);
      prev = s;
    }
    assert.equal(seen.size, 70_000);
    assert.ok(prev < 1n << 159n);
  });

  test('garbage never crashes the parsers (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const fn of [parseTimeStampResponse, parseTimeStampToken, readTimeStampToken, parseTimeStampRequest]) {
          try {
            fn(bytes);
          } catch (err) {
            assert.ok(err instanceof StellaError, `non-coded error: ${String(err)}`);
            assert.ok(['ASN1_MALFORMED', 'TIMESTAMP_REQUEST_FAILED', 'BASE64_INVALID'].includes(err.code), err.code);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('strict lengths: overrunning children, non-minimal lengths and empty INTEGERs are ASN1_MALFORMED', () => {
    const der = Buffer.from(buildTimeStampRequest(sha256('x'), { nonce: 5n }).der);
    assert.equal(der[1], der.length - 2);
    const shorter = Buffer.from(der);
    shorter[1]! -= 1; // children now run past the declared SEQUENCE length (asn1js alone accepts this)
    const longForm = Buffer.concat([Buffer.from([0x30, der[1]! + 1, 0x02, 0x81, 0x01, 0x01]), der.subarray(5)]);
    const emptyInt = Buffer.concat([Buffer.from([0x30, der[1]! - 1, 0x02, 0x00]), der.subarray(5)]);
    for (const bad of [shorter, longForm, emptyInt]) {
      assert.throws(
        () => parseTimeStampRequest(bad),
        (e) => isStellaError(e, 'ASN1_MALFORMED'),
        bad.toString('hex'),
      );
    }
    assert.equal(parseTimeStampRequest(der).version, 1);
  });

  test('rejection responses carry status, text and failInfo', () => {
    const der = createRejectionResponse('unacceptedPolicy', 'policy 1.9 is not offered');
    const st = parseTimeStampResponseStatus(der);
    assert.equal(st.statusText, 'rejection');
    assert.deepEqual(st.failInfo, ['unacceptedPolicy']);
    assert.throws(
      () => parseTimeStampResponse(der),
      (e) =>
        isStellaError(e, 'TIMESTAMP_REQUEST_FAILED') &&
        /rejection/.test(e.message) &&
        /unacceptedPolicy/.test(e.message),
    );
  });
});

describe('rfc3161 against openssl', { skip }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let pki: Pki;
  let other: Pki;
  let rsa: Pki;
  let signer: TsaSigner;
  const data = new TextEncoder().encode('{"manifest":"evidence"}\n');

  before(async () => {
    tmp = await tempDir('stella-rfc3161-');
    pki = await makeOpensslTsaPki(tmp.path, { name: 'tsa' });
    other = await makeOpensslTsaPki(tmp.path, { name: 'other' });
    rsa = await makeOpensslTsaPki(tmp.path, { name: 'rsa', keyType: 'rsa' });
    signer = prepareTsaSigner({
      key: readFileSync(pki.tsaKey, 'utf8'),
      certificate: readFileSync(pki.tsaCert, 'utf8'),
      chain: [readFileSync(pki.caCert, 'utf8')],
      policy: '1.2.3.4.1',
    });
  });
  after(async () => tmp?.cleanup());

  test('openssl ts -reply token verifies; fields match `openssl ts -reply -text`', async () => {
    const req = buildTimeStampRequest(sha256(data), { policy: '1.2.3.4.5.6' });
    const resp = await opensslReply(pki, req.der);
    const parsed = parseTimeStampResponse(resp);
    const v = await verifyTimeStampToken(resp, {
      data,
      trustedCerts: [readFileSync(pki.caCert, 'utf8')],
      nonce: req.nonce!,
    });
    const text = ossl(['ts', '-reply', '-in', 'resp.tsr', '-text'], pki.dir).toString();
    assert.match(text, /Status: Granted/);
    assert.equal(v.policy, '1.2.3.4.5.6');
    // openssl names this OID from its default config (tsa_policy2) or prints it dotted.
    assert.match(text, /Policy OID: (1\.2\.3\.4\.5\.6|tsa_policy2)\n/);
    assert.equal(v.serialNumber, BigInt(text.match(/Serial number: (0x[0-9A-Fa-f]+)/)![1]!));
    const ts = text.match(/Time stamp: (.+)/)![1]!.trim(); // e.g. "Nov 27 06:30:00 2026 GMT"
    assert.equal(v.genTime.getTime(), new Date(ts.replace(' GMT', ' UTC')).getTime());
    assert.equal(BigInt(text.match(/Nonce: (0x[0-9A-Fa-f]+)/)![1]!), req.nonce);
    assert.deepEqual(v.accuracy, { seconds: 1, millis: 500, micros: 100 });
    assert.equal(v.ordering, true);
    assert.match(v.tsaName!, /CN=Test tsa/);
    assert.equal(parsed.token.info.serialNumber, v.serialNumber);
    assert.deepEqual(v.chain, ['O=Stella Test, CN=Test tsa', 'CN=Test tsa Root']);
  });

  test('bare token (-token_out) and an RSA TSA verify too', async () => {
    const req = buildTimeStampRequest(sha256(data));
    const token = await opensslReply(pki, req.der, ['-token_out']);
    assert.equal(readTimeStampToken(token).form, 'token');
    await verifyTimeStampToken(token, { data, trustedCerts: [readFileSync(pki.caCert)] });
    const r2 = await opensslReply(rsa, req.der);
    const v = await verifyTimeStampToken(r2, {
      digest: sha256(data),
      digestAlgorithm: 'sha256',
      trustedCerts: [readFileSync(rsa.caCert, 'utf8')],
    });
    assert.match(v.signer.subject, /CN=Test rsa/);
  });

  test('openssl-built queries parse, and our TSA answers them so that openssl ts -verify -queryfile passes', async () => {
    writeFileSync(join(pki.dir, 'data.bin'), data);
    ossl(['ts', '-query', '-data', 'data.bin', '-sha256', '-cert', '-out', 'o.tsq'], pki.dir);
    const q = new Uint8Array(readFileSync(join(pki.dir, 'o.tsq')));
    const parsed = parseTimeStampRequest(q);
    assert.deepEqual(parsed.digest, sha256(data));
    const res = createTimeStampResponse(q, signer);
    assert.ok(res.granted);
    writeFileSync(join(pki.dir, 'ours.tsr'), res.der);
    const out = spawnSync(
      'openssl',
      ['ts', '-verify', '-queryfile', 'o.tsq', '-in', 'ours.tsr', '-CAfile', pki.caCert],
      { cwd: pki.dir },
    );
    assert.equal(out.status, 0, out.stderr.toString());
    assert.match(out.stdout.toString(), /Verification: OK/);
    const out2 = spawnSync(
      'openssl',
      ['ts', '-verify', '-data', 'data.bin', '-in', 'ours.tsr', '-CAfile', pki.caCert],
      { cwd: pki.dir },
    );
    assert.equal(out2.status, 0, out2.stderr.toString());
    // and ours verifies our own token, with the fields we put in
    const v = await verifyTimeStampToken(res.der, { data, trustedCerts: [readFileSync(pki.caCert)] });
    assert.equal(v.serialNumber, res.serialNumber);
    assert.equal(v.genTime.getTime(), res.genTime!.getTime());
  });

  test('our RSA TSA token verifies with openssl (certReq=false, -untrusted)', async () => {
    const rsaSigner = prepareTsaSigner({
      key: readFileSync(rsa.tsaKey, 'utf8'),
      certificate: readFileSync(rsa.tsaCert),
      policy: '1.2.3.4.1',
    });
    const req = buildTimeStampRequest(sha256(data), { certReq: false });
    const res = createTimeStampResponse(req.der, rsaSigner);
    writeFileSync(join(rsa.dir, 'data.bin'), data);
    writeFileSync(join(rsa.dir, 'ours.tsr'), res.der);
    const out = spawnSync(
      'openssl',
      ['ts', '-verify', '-data', 'data.bin', '-in', 'ours.tsr', '-CAfile', rsa.caCert, '-untrusted', rsa.tsaCert],
      { cwd: rsa.dir },
    );
    assert.equal(out.status, 0, out.stderr.toString());
    await expectCheck(
      verifyTimeStampToken(res.der, { data, trustedCerts: [readFileSync(rsa.caCert)] }),
      'signer-certificate',
    );
    await verifyTimeStampToken(res.der, {
      data,
      trustedCerts: [readFileSync(rsa.caCert)],
      certificates: [readFileSync(rsa.tsaCert)],
    });
  });

  test('tampered data, wrong CA, nonce and policy mismatch fail with the named check', async () => {
    const req = buildTimeStampRequest(sha256(data));
    const resp = await opensslReply(pki, req.der);
    const ca = readFileSync(pki.caCert);
    await expectCheck(
      verifyTimeStampToken(resp, { data: new TextEncoder().encode('tampered'), trustedCerts: [ca] }),
      'imprint',
    );
    await expectCheck(verifyTimeStampToken(resp, { data, trustedCerts: [readFileSync(other.caCert)] }), 'chain');
    await expectCheck(verifyTimeStampToken(resp, { data, trustedCerts: [ca], nonce: req.nonce! + 1n }), 'nonce');
    await expectCheck(verifyTimeStampToken(resp, { data, trustedCerts: [ca], policy: '1.2.3.4.5.6' }), 'policy');
    await expectCheck(
      verifyTimeStampToken(resp, { data, trustedCerts: [ca], notAfter: new Date('2001-01-01') }),
      'gen-time',
    );
  });

  test('truncated or extended DER is ASN1_MALFORMED', async () => {
    const resp = await opensslReply(pki, buildTimeStampRequest(sha256(data)).der);
    for (const bad of [
      resp.subarray(0, resp.length - 1),
      resp.subarray(0, 10),
      Buffer.concat([resp, Buffer.from([0])]),
    ]) {
      await assert.rejects(verifyTimeStampToken(bad, { data, trustedCerts: [readFileSync(pki.caCert)] }), (e) =>
        isStellaError(e, 'ASN1_MALFORMED'),
      );
    }
  });

  test('altered TSTInfo or signature bytes fail message-digest / signature', async () => {
    const req = buildTimeStampRequest(sha256(data), { nonce: 0x11223344556677n });
    const resp = Buffer.from(await opensslReply(pki, req.der));
    const ca = readFileSync(pki.caCert);
    // Flip a byte of the nonce inside the TSTInfo: the imprint still matches, the messageDigest not.
    const nonceAt = resp.indexOf(Buffer.from('11223344556677', 'hex'));
    assert.ok(nonceAt > 0);
    const t1 = Buffer.from(resp);
    t1[nonceAt + 3]! ^= 0x01;
    await expectCheck(verifyTimeStampToken(t1, { data, trustedCerts: [ca] }), 'message-digest');
    // Flip the last byte (inside the ECDSA signature's s value).
    const t2 = Buffer.from(resp);
    t2[t2.length - 1]! ^= 0x01;
    await expectCheck(verifyTimeStampToken(t2, { data, trustedCerts: [ca] }), 'signature');
  });

  test('signer validity at genTime, future genTime and missing critical EKU are caught', async () => {
    const req = parseTimeStampRequest(buildTimeStampRequest(sha256(data)).der);
    const ca = readFileSync(pki.caCert);
    const past = createTimeStampToken(req, {
      ...signer,
      options: { ...signer.options, clock: () => new Date('2001-06-01T00:00:00Z') },
    });
    await expectCheck(verifyTimeStampToken(past.der, { data, trustedCerts: [ca] }), 'certificate-validity');
    const future = createTimeStampToken(req, {
      ...signer,
      options: { ...signer.options, clock: () => new Date(Date.now() + 86_400_000) },
    });
    await expectCheck(verifyTimeStampToken(future.der, { data, trustedCerts: [ca] }), 'gen-time');
    const far = createTimeStampToken(req, {
      ...signer,
      options: { ...signer.options, clock: () => new Date('2040-01-01T00:00:00Z') },
    });
    await expectCheck(
      verifyTimeStampToken(far.der, { data, trustedCerts: [ca], now: new Date('2040-01-01T00:00:00Z') }),
      'certificate-validity',
    );

    const weak = await makeOpensslTsaPki(tmp.path, { name: 'weak', ekuCritical: false });
    assert.throws(
      () =>
        prepareTsaSigner({
          key: readFileSync(weak.tsaKey, 'utf8'),
          certificate: readFileSync(weak.tsaCert),
          policy: '1.2',
        }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
    // Bypass our own TSA's guard to prove the verifier checks the EKU independently.
    const weakSigner = prepareTsaSigner({
      key: readFileSync(pki.tsaKey, 'utf8'),
      certificate: readFileSync(pki.tsaCert),
      policy: '1.2',
    });
    const forged = createTimeStampToken(req, {
      ...weakSigner,
      key: (await import('node:crypto')).createPrivateKey(readFileSync(weak.tsaKey, 'utf8')),
      certificate: (await import('./asn1-support.js')).parseCertificates(readFileSync(weak.tsaCert, 'utf8'))[0]!,
      chain: [],
    });
    await expectCheck(verifyTimeStampToken(forged.der, { data, trustedCerts: [readFileSync(weak.caCert)] }), 'eku');
  });

  test('a key that does not match the certificate is refused', () => {
    assert.throws(
      () =>
        prepareTsaSigner({
          key: readFileSync(rsa.tsaKey, 'utf8'),
          certificate: readFileSync(pki.tsaCert),
          policy: '1.2',
        }),
      (e) => isStellaError(e, 'KEY_INVALID') && /does not match/.test(e.message),
    );
    assert.throws(
      () => prepareTsaSigner({ key: 'not a key', certificate: readFileSync(pki.tsaCert), policy: '1.2' }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
  });

  test('openssl rejection (unknown policy) → TIMESTAMP_REQUEST_FAILED; our TSA rejects bad requests with the RFC failInfo', async () => {
    const req = buildTimeStampRequest(sha256(data), { policy: '1.9.9.9' });
    const resp = await opensslReply(pki, req.der);
    assert.throws(
      () => parseTimeStampResponse(resp),
      (e) => isStellaError(e, 'TIMESTAMP_REQUEST_FAILED') && /rejection/.test(e.message),
    );
    const ours = createTimeStampResponse(req.der, signer);
    assert.equal(ours.granted, false);
    assert.deepEqual(parseTimeStampResponseStatus(ours.der).failInfo, ['unacceptedPolicy']);
    assert.deepEqual(
      parseTimeStampResponseStatus(createTimeStampResponse(new Uint8Array([1, 2, 3]), signer).der).failInfo,
      ['badDataFormat'],
    );
    const sha1Req = Buffer.from(buildTimeStampRequest(sha256(data)).der);
    const at = sha1Req.indexOf(Buffer.from('608648016503040201', 'hex'));
    sha1Req[at + 8] = 0x02; // sha256 → sha384 OID with a 32-byte imprint: wrong length
    assert.deepEqual(parseTimeStampResponseStatus(createTimeStampResponse(sha1Req, signer).der).failInfo, [
      'badDataFormat',
    ]);
    // And openssl reads our rejection.
    writeFileSync(join(pki.dir, 'rej.tsr'), ours.der);
    assert.match(
      ossl(['ts', '-reply', '-in', 'rej.tsr', '-text'], pki.dir).toString(),
      /Status: Rejected[\s\S]*policy is not supported/,
    );
  });

  test('mutated tokens never verify differently (fast-check)', async () => {
    const req = buildTimeStampRequest(sha256(data));
    const resp = await opensslReply(pki, req.der);
    const ca = readFileSync(pki.caCert);
    const good = await verifyTimeStampToken(resp, { data, trustedCerts: [ca] });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: resp.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, x) => {
        const m = Buffer.from(resp);
        m[pos]! ^= x;
        try {
          const v = await verifyTimeStampToken(m, { data, trustedCerts: [ca] });
          // Unsigned framing (e.g. SignedData.version, digestAlgorithms) may change harmlessly,
          // but what the token asserts may not.
          assert.equal(v.genTime.getTime(), good.genTime.getTime());
          assert.equal(v.serialNumber, good.serialNumber);
          assert.deepEqual(v.messageImprint, good.messageImprint);
        } catch (err) {
          assert.ok(err instanceof StellaError, `uncoded error at byte ${pos}: ${String(err)}`);
          assert.ok(['ASN1_MALFORMED', 'TIMESTAMP_INVALID', 'TIMESTAMP_REQUEST_FAILED'].includes(err.code), err.code);
        }
      }),
      { numRuns: 200 },
    );
  });
});
