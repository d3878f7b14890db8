import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  makeOpensslTsaPki,
  needTool,
  opensslVerify,
  startOpensslTsaHttp,
  tempDir,
  type OpensslTsaPki,
} from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { buildTimeStampRequest, parseTimeStampResponseStatus, verifyTimeStampToken } from '@stella/core/rfc3161';
import { requestTimestamp, startTsaServer, type TsaServer } from './index.js';

const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());

async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('timestamp client and TSA server on loopback', { skip: needTool('openssl') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let pki: OpensslTsaPki;
  let tsa: TsaServer;
  const data = new TextEncoder().encode('evidence bundle manifest');
  const issued: bigint[] = [];

  before(async () => {
    tmp = await tempDir('stella-tsa-');
    pki = await makeOpensslTsaPki(tmp.path);
    tsa = await startTsaServer({
      key: await readFile(pki.tsaKey, 'utf8'),
      cert: await readFile(pki.tsaCert, 'utf8'),
      chain: [await readFile(pki.caCert, 'utf8')],
      policy: '1.3.6.1.4.1.99999.2.1',
      onResponse: (e) => e.serialNumber !== undefined && issued.push(e.serialNumber),
    });
  });
  after(async () => {
    await tsa?.close();
    await tmp?.cleanup();
  });

  test('client → openssl ts -reply behind HTTP; token verified by our verifier', async () => {
    const http = await startOpensslTsaHttp(pki);
    try {
      const r = await requestTimestamp(http.url, sha256(data));
      const v = await verifyTimeStampToken(r.response, {
        data,
        trustedCerts: [await readFile(pki.caCert, 'utf8')],
        nonce: r.nonce,
      });
      assert.equal(v.policy, '1.2.3.4.1');
      assert.equal(http.requests, 1);
    } finally {
      await http.close();
    }
  });

  test('client → our TSA; reply passes openssl ts -verify (-data and -digest)', async () => {
    const r = await requestTimestamp(tsa.url, sha256(data));
    const tsr = join(tmp.path, 'ours.tsr');
    await writeFile(tsr, r.response);
    await writeFile(join(tmp.path, 'data.bin'), data);
    const a = await opensslVerify(['-data', join(tmp.path, 'data.bin'), '-in', tsr, '-CAfile', pki.caCert]);
    assert.equal(a.code, 0, a.output);
    assert.match(a.output, /Verification: OK/);
    const hex = Buffer.from(sha256(data)).toString('hex');
    const b = await opensslVerify(['-digest', hex, '-in', tsr, '-CAfile', pki.caCert]);
    assert.equal(b.code, 0, b.output);
    const c = await opensslVerify(['-data', tsr, '-in', tsr, '-CAfile', pki.caCert]);
    assert.notEqual(c.code, 0, 'openssl must reject the token for other data');
  });

  test('serial numbers are unique across concurrent requests', async () => {
    const before = issued.length;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => requestTimestamp(tsa.url, sha256(`doc ${i}`))),
    );
    const serials = new Set(results.map((r) => r.token.info.serialNumber));
    assert.equal(serials.size, 40);
    assert.equal(issued.length - before, 40);
  });

  test('bad requests get a rejection TimeStampResp with the right HTTP status', async () => {
    const post = (body: Uint8Array | string, type = 'application/timestamp-query', method = 'POST') =>
      fetch(tsa.url, { method, headers: { 'content-type': type }, ...(method === 'POST' ? { body } : {}) });
    const garbage = await post(new Uint8Array([0x30, 0x03, 0x02, 0x01]));
    assert.equal(garbage.status, 400);
    assert.equal(garbage.headers.get('content-type'), 'application/timestamp-reply');
    assert.deepEqual(parseTimeStampResponseStatus(new Uint8Array(await garbage.arrayBuffer())).failInfo, [
      'badDataFormat',
    ]);
    const wrongType = await post(buildTimeStampRequest(sha256(data)).der, 'application/octet-stream');
    assert.equal(wrongType.status, 415);
    assert.equal(parseTimeStampResponseStatus(new Uint8Array(await wrongType.arrayBuffer())).statusText, 'rejection');
    const big = await post(new Uint8Array(70 * 1024));
    assert.equal(big.status, 413);
    await big.arrayBuffer();
    const get = await post('', 'text/plain', 'GET');
    assert.equal(get.status, 405);
    await get.arrayBuffer();
    const policy = await post(buildTimeStampRequest(sha256(data), { policy: '1.9.9' }).der);
    assert.equal(policy.status, 400);
    assert.deepEqual(parseTimeStampResponseStatus(new Uint8Array(await policy.arrayBuffer())).failInfo, [
      'unacceptedPolicy',
    ]);
  });

  test('client: rejection, replayed nonce, foreign imprint, HTML errors and timeouts are coded', async () => {
    await assert.rejects(
      requestTimestamp(tsa.url, sha256(data), { policy: '1.9.9' }),
      (e) => isStellaError(e, 'TIMESTAMP_REQUEST_FAILED') && /rejection/.test(e.message),
    );

    const stored = (await requestTimestamp(tsa.url, sha256(data))).response;
    const replay = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/timestamp-reply' });
        res.end(stored);
      });
    });
    try {
      await assert.rejects(
        requestTimestamp(replay.url, sha256(data)),
        (e) => isStellaError(e, 'TIMESTAMP_INVALID') && (e.details as { check: string }).check === 'nonce',
      );
      const r0 = await requestTimestamp(tsa.url, sha256(data));
      const nonce = r0.nonce;
      // Same nonce, different document: the TSA (here: a replay) answers for another imprint.
      const replay2 = await listen((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/timestamp-reply' });
          res.end(r0.response);
        });
      });
      try {
        await assert.rejects(
          requestTimestamp(replay2.url, sha256('other'), { nonce }),
          (e) => isStellaError(e, 'TIMESTAMP_INVALID') && (e.details as { check: string }).check === 'imprint',
        );
      } finally {
        await replay2.close();
      }
    } finally {
      await replay.close();
    }

    const html = await listen((req, res) => {
      req.resume();
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>bad gateway</h1>');
    });
    const garbage = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' });
      res.end('not der');
    });
    const silent = await listen(() => {});
    try {
      await assert.rejects(
        requestTimestamp(html.url, sha256(data)),
        (e) => isStellaError(e, 'TIMESTAMP_REQUEST_FAILED') && /502/.test(e.message),
      );
      await assert.rejects(requestTimestamp(garbage.url, sha256(data)), (e) => isStellaError(e, 'ASN1_MALFORMED'));
      await assert.rejects(
        requestTimestamp(silent.url, sha256(data), { timeoutMs: 300 }),
        (e) => isStellaError(e, 'TIMESTAMP_REQUEST_FAILED') && /300 ms/.test(e.message),
      );
    } finally {
      await html.close();
      await garbage.close();
      await silent.close();
    }
    await assert.rejects(requestTimestamp('ftp://x/', sha256(data)), (e) => isStellaError(e, 'VALIDATION_FAILED'));
  });

  test('a TSA with a key that does not match its certificate never starts', async () => {
    const other = await makeOpensslTsaPki(tmp.path, { name: 'other', keyType: 'rsa' });
    await assert.rejects(
      startTsaServer({
        key: await readFile(other.tsaKey, 'utf8'),
        cert: await readFile(pki.tsaCert, 'utf8'),
        policy: '1.2',
      }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
  });
});
