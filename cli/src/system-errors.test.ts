// What a user reads when a file, port or server is not what a command expected (issue 7
// point 5): one sentence naming it and what to do, through the real `stella` process.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, makeOpensslTsaPki, needTool, opensslTimestamp, tempDir, type OpensslTsaPki } from '@stella/testkit';
import { spawnCli } from './testing/spawn-cli.js';
import { explainError } from './system-errors.js';

/** Node's and OpenSSL's own wording, which must not reach the user. */
const INTERNALS = /\b(E[A-Z]{3,}): \1|ENOENT|EISDIR|EADDRINUSE|fetch failed|routines::|error:[0-9A-F]{8}/;

function assertSentence(stderr: string, command: string, expected: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.ok(lines[0]!.startsWith(`stella ${command}: `), stderr);
  assert.match(lines[0]!, expected);
  assert.doesNotMatch(lines[0]!, INTERNALS);
}

describe('system errors become sentences', { skip: needTool('openssl') }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: OpensslTsaPki;
  let data: string;
  let tsr: string;
  before(async () => {
    dir = await tempDir('stella-cli-errors-');
    pki = await makeOpensslTsaPki(dir.path);
    data = join(dir.path, 'manifest.json');
    await writeFile(data, '{"a":1}\n');
    tsr = join(dir.path, 'manifest.tsr');
    await writeFile(tsr, await opensslTimestamp(pki, Buffer.from('{"a":1}\n')));
    await mkdir(join(dir.path, 'adir'));
  });
  after(() => dir.cleanup());

  test('a missing file is named once, without ENOENT', async () => {
    const missing = join(dir.path, 'nope.pem');
    const r = await spawnCli(['timestamp', 'verify', '--ca', missing, data, tsr]);
    assert.equal(r.code, 1);
    assertSentence(r.stderr, 'timestamp verify', new RegExp(`^stella timestamp verify: ${missing} does not exist`));
  });

  test('a directory where a file belongs is named, without EISDIR', async () => {
    const r = await spawnCli(['timestamp', 'verify', '--ca', pki.caCert, data, join(dir.path, 'adir')]);
    assert.equal(r.code, 1);
    assertSentence(r.stderr, 'timestamp verify', new RegExp(`${join(dir.path, 'adir')} is a directory; give a file`));
  });

  test('a busy port is named with the option that changes it', async () => {
    const busy: Server = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await spawnCli(['tsa', 'serve', '--key', pki.tsaKey, '--cert', pki.tsaCert, '--port', String(port)]);
      assert.equal(r.code, 1);
      assertSentence(r.stderr, 'tsa serve', new RegExp(`port ${port} .*already in use.*--port`));
    } finally {
      busy.close();
    }
  });

  test('a server that is down is named by its URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await spawnCli(['whoami', '--server', url, '--token', 'x.y.z', '--tenant', 'acme']);
    assert.equal(r.code, 1);
    assertSentence(r.stderr, 'whoami', new RegExp(`cannot reach ${url}: connection refused.*--server`));
  });

  test('a public key given to dsse sign is called a public key, not an OpenSSL decoder error', async () => {
    const r = await spawnCli(['dsse', 'sign', '--key', pki.caCert, '--payload-type', 'text/plain', data]);
    assert.equal(r.code, 1);
    assertSentence(r.stderr, 'dsse sign', /KEY_INVALID: .* is a certificate; signing needs the private key/);
    const garbage = join(dir.path, 'garbage.pem');
    const key = await spawnCli(['keys', 'generate', '-o', join(dir.path, 'tsa-signer.pem')]);
    assert.equal(key.code, 0, key.stderr);
    const r2 = await spawnCli([
      'dsse',
      'sign',
      '--key',
      join(dir.path, 'tsa-signer.pub.pem'),
      '--payload-type',
      't',
      data,
    ]);
    assert.equal(r2.code, 1);
    assertSentence(r2.stderr, 'dsse sign', /is a public key; signing needs the private key/);
    await writeFile(garbage, 'not a key at all\n');
    const r3 = await spawnCli(['dsse', 'sign', '--key', garbage, '--payload-type', 't', data]);
    assertSentence(r3.stderr, 'dsse sign', /is not a private key stella can read/);
    // The same mistake with the TSA's key.
    const tsa = await spawnCli(['tsa', 'serve', '--key', pki.tsaCert, '--cert', pki.tsaCert, '--port', '0']);
    assert.equal(tsa.code, 1);
    assertSentence(tsa.stderr, 'tsa serve', /--key .* is a certificate; the TSA needs its private key/);
  });

  test('timestamp verify --ca <not a certificate> is an input error (exit 1), not a failed verification', async () => {
    const ok = await spawnCli(['timestamp', 'verify', '--ca', pki.caCert, data, tsr]);
    assert.equal(ok.code, 0, ok.stderr);
    const r = await spawnCli(['timestamp', 'verify', '--ca', data, data, tsr]);
    assert.equal(r.code, 1, r.stderr);
    assertSentence(r.stderr, 'timestamp verify', new RegExp(`--ca ${data} is not an X.509 certificate`));
    const key = await spawnCli(['timestamp', 'verify', '--ca', pki.caKey, data, tsr]);
    assert.equal(key.code, 1, key.stderr);
  });
});

describe('explainError on the errors Node and undici actually throw', () => {
  const server = 'http://stella.example:8080';
  test('timeouts, unknown hosts, privileged ports and existing files', async () => {
    assert.equal(
      explainError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), { server }),
      `no answer from ${server} in time; check that the server is up and reachable`,
    );
    const notFound = await fetch('http://stella-no-such-host.invalid/').catch((e: unknown) => e);
    assert.match(explainError(notFound, { server }), /^cannot reach http:\/\/stella\.example:8080: host .* not found/);
    const listen = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), {
      code: 'EACCES',
      syscall: 'listen',
      address: '0.0.0.0',
      port: 80,
    });
    assert.match(explainError(listen), /^not allowed to listen on 0\.0\.0\.0:80; .*--port$/);
    const exists = await writeFile(tmpdir(), '', { flag: 'wx' }).catch((e: unknown) => e);
    assert.equal(explainError(exists), `${tmpdir()} already exists; remove it or choose another name`);
  });
});
