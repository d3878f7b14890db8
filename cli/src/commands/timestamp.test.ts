import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  freePort,
  makeOpensslTsaPki,
  needTool,
  opensslVerify,
  repoRoot,
  run,
  startOpensslTsaHttp,
  tempDir,
  type OpensslTsaPki,
} from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';
import { DEFAULT_TSA_POLICY } from './tsa.js';

/** Run the real `stella` entry (TS sources via tsx) as a child process. */
function spawnStella(args: string[]): ChildProcessWithoutNullStreams {
  const code = `import { main } from ${JSON.stringify(join(repoRoot, 'cli/src/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`;
  return spawn(
    process.execPath,
    ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', code, ...args],
    { cwd: repoRoot, stdio: 'pipe' },
  );
}

describe('stella timestamp / stella tsa serve (end to end on loopback)', { skip: needTool('openssl') }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let pki: OpensslTsaPki;
  let other: OpensslTsaPki;
  let child: ChildProcessWithoutNullStreams;
  let url: string;
  let file: string;
  const stderr: string[] = [];

  before(async () => {
    tmp = await tempDir('stella-cli-ts-');
    pki = await makeOpensslTsaPki(tmp.path);
    other = await makeOpensslTsaPki(tmp.path, { name: 'other' });
    file = join(tmp.path, 'manifest.json');
    await writeFile(file, Buffer.alloc(3 * 1024 * 1024 + 7, 'evidence '));
    child = spawnStella([
      'tsa',
      'serve',
      '--key',
      pki.tsaKey,
      '--cert',
      pki.tsaCert,
      '--chain',
      pki.caCert,
      '--port',
      '0',
      '--policy',
      '1.3.6.1.4.1.99999.3.1',
      '--json',
    ]);
    child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (c) => reject(new Error(`tsa serve exited ${c}: ${stderr.join('')}`)));
    });
    url = (JSON.parse(first) as { url: string }).url;
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await tmp?.cleanup();
  });

  test('request → .tsr that openssl ts -verify accepts; stella verify passes with --json', async () => {
    const tsr = join(tmp.path, 'manifest.tsr');
    const r = await runCli(['timestamp', 'request', '--tsa', url, file, '-o', tsr]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /TimeStampResp/);
    const o = await opensslVerify(['-data', file, '-in', tsr, '-CAfile', pki.caCert]);
    assert.equal(o.code, 0, o.output);
    const v = await runCli(['timestamp', 'verify', '--ca', pki.caCert, file, tsr, '--json']);
    assert.equal(v.code, 0, v.stderr);
    const out = JSON.parse(v.stdout) as { ok: boolean; policy: string; form: string; chain: string[] };
    assert.equal(out.ok, true);
    assert.equal(out.policy, '1.3.6.1.4.1.99999.3.1');
    assert.equal(out.form, 'response');
    assert.equal(out.chain.length, 2);
    assert.ok(stderr.join('').includes('"granted":true'), 'the server logs each answer');
  });

  test('verify exits 3 naming the failed check: tampered file, wrong CA, truncated token', async () => {
    const tsr = join(tmp.path, 'm2.tsr');
    assert.equal((await runCli(['timestamp', 'request', '--tsa', url, file, '-o', tsr, '--hash', 'sha384'])).code, 0);
    const tampered = join(tmp.path, 'tampered.json');
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(tampered, bytes);
    const a = await runCli(['timestamp', 'verify', '--ca', pki.caCert, tampered, tsr]);
    assert.equal(a.code, 3);
    assert.match(a.stderr, /FAILED \(imprint\)/);
    const b = await runCli(['timestamp', 'verify', '--ca', other.caCert, file, tsr, '--json']);
    assert.equal(b.code, 3);
    assert.equal((JSON.parse(b.stdout) as { check: string }).check, 'chain');
    const trunc = join(tmp.path, 'trunc.tsr');
    await writeFile(trunc, (await readFile(tsr)).subarray(0, 100));
    const c = await runCli(['timestamp', 'verify', '--ca', pki.caCert, file, trunc]);
    assert.equal(c.code, 3);
    assert.match(c.stderr, /ASN1_MALFORMED/);
  });

  test('request from an openssl-backed TSA, verify with stella', async () => {
    const http = await startOpensslTsaHttp(pki);
    try {
      const tsr = join(tmp.path, 'o.tsr');
      const r = await runCli(['timestamp', 'request', '--tsa', http.url, file, '-o', tsr, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { policy: string }).policy, '1.2.3.4.1');
      const v = await runCli(['timestamp', 'verify', '--ca', pki.caCert, file, tsr]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /Verification: OK/);
    } finally {
      await http.close();
    }
  });

  test('the built-in TSA accepts requests naming its own 2.25 default policy, and verify --policy pins it', async () => {
    // The default is a 2.25.<128-bit> OID whose arc exceeds 2^53 (issue 7, point 2).
    assert.match(DEFAULT_TSA_POLICY, /^2\.25\.\d{30,}$/);
    const tsa = spawnStella(['tsa', 'serve', '--key', pki.tsaKey, '--cert', pki.tsaCert, '--port', '0', '--json']);
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: tsa.stdout }).once('line', resolve);
        tsa.once('exit', (c) => reject(new Error(`tsa serve exited ${c}`)));
      });
      const info = JSON.parse(first) as { url: string; policy: string };
      assert.equal(info.policy, DEFAULT_TSA_POLICY);
      const tsr = join(tmp.path, 'default-policy.tsr');
      const r = await runCli([
        'timestamp',
        'request',
        '--tsa',
        info.url,
        file,
        '-o',
        tsr,
        '--policy',
        DEFAULT_TSA_POLICY,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const v = await runCli(['timestamp', 'verify', '--ca', pki.caCert, '--policy', DEFAULT_TSA_POLICY, file, tsr]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`policy: +${DEFAULT_TSA_POLICY.replaceAll('.', '\\.')}\n`));
      // openssl reads the same policy from the token
      const text = await run('openssl', ['ts', '-reply', '-in', tsr, '-text']);
      assert.equal(text.code, 0, text.stderr.toString());
      assert.match(text.stdout.toString(), new RegExp(`Policy OID: ${DEFAULT_TSA_POLICY.replaceAll('.', '\\.')}\n`));
    } finally {
      tsa.kill('SIGTERM');
      await new Promise((r) => tsa.once('exit', r));
    }
  });

  test('usage errors exit 2; an unreachable TSA exits 1 and writes nothing', async () => {
    assert.equal((await runCli(['timestamp', 'verify', file, file])).code, 2);
    assert.equal((await runCli(['timestamp', 'request', file])).code, 2);
    assert.equal((await runCli(['timestamp', 'request', '--tsa', url, file, '--hash', 'md5'])).code, 2);
    const port = await freePort();
    const out = join(tmp.path, 'never.tsr');
    const r = await runCli([
      'timestamp',
      'request',
      '--tsa',
      `http://127.0.0.1:${port}/`,
      file,
      '-o',
      out,
      '--timeout',
      '2000',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TIMESTAMP_REQUEST_FAILED/);
    await assert.rejects(stat(out));
    const rej = await runCli(['timestamp', 'request', '--tsa', url, file, '-o', out, '--policy', '1.9.9']);
    assert.equal(rej.code, 1);
    assert.match(rej.stderr, /rejection.*unacceptedPolicy/);
  });

  test('tsa serve refuses a key that does not match its certificate, and stops cleanly on SIGTERM', async () => {
    const bad = spawnStella(['tsa', 'serve', '--key', other.tsaKey, '--cert', pki.tsaCert, '--port', '0']);
    const errs: Buffer[] = [];
    bad.stderr.on('data', (c: Buffer) => errs.push(c));
    const code = await new Promise<number | null>((r) => bad.once('exit', r));
    assert.equal(code, 1);
    assert.match(Buffer.concat(errs).toString(), /KEY_INVALID/);

    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.kill('SIGTERM');
    const exit = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(exit, 0);
  });
});
