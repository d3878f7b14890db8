import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  makeOpensslTsaPki,
  needTool,
  opensslTimestamp,
  opensslVerify,
  run,
  startOpensslTsaHttp,
  tempDir,
  type OpensslTsaPki,
} from './index.js';

// The helper is itself checked with openssl: the certificates carry what RFC 3161 §2.3 asks for,
// and every token it produces verifies with `openssl ts -verify` against its own CA only.
describe('openssl test TSA (testkit)', { skip: needTool('openssl') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let pki: OpensslTsaPki;
  let other: OpensslTsaPki;

  before(async () => {
    tmp = await tempDir('stella-testkit-tsa-');
    pki = await makeOpensslTsaPki(tmp.path);
    other = await makeOpensslTsaPki(tmp.path, { name: 'other', keyType: 'rsa', ekuCritical: false });
  });
  after(async () => {
    await tmp.cleanup();
  });

  test('the TSA certificate has a critical timeStamping EKU and chains to its CA; name/keyType/ekuCritical apply', async () => {
    const text = (await run('openssl', ['x509', '-in', pki.tsaCert, '-noout', '-text'])).stdout.toString();
    assert.match(text, /X509v3 Extended Key Usage: critical\s+Time Stamping/);
    assert.match(text, /Public Key Algorithm: id-ecPublicKey/);
    assert.equal((await run('openssl', ['verify', '-CAfile', pki.caCert, pki.tsaCert])).code, 0);
    const rsa = (await run('openssl', ['x509', '-in', other.tsaCert, '-noout', '-text'])).stdout.toString();
    assert.match(rsa, /X509v3 Extended Key Usage: \s+Time Stamping/);
    assert.match(rsa, /Public Key Algorithm: rsaEncryption/);
    assert.equal(other.dir, join(tmp.path, 'other'));
    // Two PKIs are unrelated: one CA does not vouch for the other's TSA.
    assert.notEqual((await run('openssl', ['verify', '-CAfile', pki.caCert, other.tsaCert])).code, 0);
  });

  test('opensslTimestamp: a token over SHA-256(data) that openssl verifies with the right CA only', async () => {
    const data = new TextEncoder().encode('evidence bytes');
    const tsr = join(tmp.path, 'a.tsr');
    await writeFile(tsr, await opensslTimestamp(pki, data));
    const hex = createHash('sha256').update(data).digest('hex');
    const good = await opensslVerify(['-digest', hex, '-in', tsr, '-CAfile', pki.caCert]);
    assert.equal(good.code, 0, good.output);
    const wrongData = await opensslVerify([
      '-digest',
      createHash('sha256').update('other').digest('hex'),
      '-in',
      tsr,
      '-CAfile',
      pki.caCert,
    ]);
    assert.notEqual(wrongData.code, 0);
    const wrongCa = await opensslVerify(['-digest', hex, '-in', tsr, '-CAfile', other.caCert]);
    assert.notEqual(wrongCa.code, 0);
  });

  test('the HTTP front answers RFC 3161 queries and counts them; garbage gets a rejection, not a token', async () => {
    const http = await startOpensslTsaHttp(pki);
    try {
      assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const hex = createHash('sha256').update('x').digest('hex');
      const query = (await run('openssl', ['ts', '-query', '-digest', hex, '-sha256', '-cert'])).stdout;
      const res = await fetch(http.url, {
        method: 'POST',
        headers: { 'content-type': 'application/timestamp-query' },
        body: query,
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/timestamp-reply');
      const tsr = join(tmp.path, 'h.tsr');
      await writeFile(tsr, Buffer.from(await res.arrayBuffer()));
      const v = await opensslVerify(['-digest', hex, '-in', tsr, '-CAfile', pki.caCert]);
      assert.equal(v.code, 0, v.output);
      // openssl answers an undecodable query with a PKIStatus "rejection" response (RFC 3161 §2.4.2).
      const bad = await fetch(http.url, { method: 'POST', body: 'not DER' });
      const badTsr = join(tmp.path, 'bad.tsr');
      await writeFile(badTsr, Buffer.from(await bad.arrayBuffer()));
      const text = (await run('openssl', ['ts', '-reply', '-in', badTsr, '-text'])).stdout.toString();
      assert.match(text, /Status: Rejected\./);
      assert.match(text, /Failure info: the data submitted has the wrong format/);
      assert.match(text, /TST info:\s+Not included/);
      assert.equal(http.requests, 2);
    } finally {
      await http.close();
    }
  });
});
