/**
 * `stella export verify` (issue #10 §8): a real export bundle (dataset records through json:raw,
 * sealed with a key openssl made), then copies tampered with GNU tar; in-process and as a real
 * process in a network namespace without interfaces (`unshare -n`), so any network use would fail.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStagingSink, getAdapter, sealExportBundle } from '@stella/export-center';
import { datasetRecords, iterate } from '@stella/export-center/testing';
import { resolveSigner } from '@stella/platform/keys';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

const BIN = fileURLToPath(new URL('../../bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');
const skip = needTool('openssl') || needTool('tar');

interface Report {
  ok: boolean;
  signerChecked: boolean;
  checks: { check: string; status: string; detail?: string }[];
}

function stellaWithoutNetwork(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-n', process.execPath, '--conditions=development', '--import', TSX, BIN, ...argv],
      { encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

describe('stella export verify', { skip }, () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let bundle: string;
  let pub: string;
  let otherPub: string;

  /** A copy of the bundle with one byte of `member` flipped, re-packed by GNU tar. */
  async function tampered(member: string): Promise<string> {
    const work = join(dir.path, `unpacked-${member.replace(/\W/g, '_')}`);
    await mkdir(work, { recursive: true });
    assert.equal((await run('tar', ['-xzf', bundle, '-C', work])).code, 0);
    const file = join(work, member);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(file, bytes);
    const out = join(dir.path, `tampered-${member.replace(/\W/g, '_')}.tgz`);
    assert.equal((await run('tar', ['-czf', out, '-C', work, '.'])).code, 0);
    return out;
  }

  /**
   * Forgeries built only with tools we did not write (GNU tar, openssl, sha256sum, Python's json).
   * `resign`: an attacker's own Ed25519 key re-signs both envelopes (DSSE PAE by hand) over the
   * unchanged payloads and replaces keys/export.pub.pem; `swap`: a data file's bytes change and
   * checksums.txt is regenerated, export.json left as signed. Every checksum is regenerated either
   * way, so `sha256sum -c` accepts both.
   */
  async function forged(kind: 'resign' | 'swap'): Promise<string> {
    const work = join(dir.path, `forged-${kind}`);
    await mkdir(work, { recursive: true });
    assert.equal((await run('tar', ['-xzf', bundle, '-C', work])).code, 0);
    if (kind === 'resign') {
      const key = join(dir.path, 'attacker.key');
      assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
      const pubOut = join(work, 'keys/export.pub.pem');
      assert.equal((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pubOut])).code, 0);
      const script = `
import base64, hashlib, json, subprocess, sys
work, key = sys.argv[1], sys.argv[2]
der = subprocess.run(['openssl', 'pkey', '-pubin', '-in', work + '/keys/export.pub.pem', '-outform', 'DER'], capture_output=True, check=True).stdout
kid = hashlib.sha256(der).hexdigest()
for name in ('export.dsse.json', 'export.intoto.dsse.json'):
    env = json.load(open(work + '/' + name))
    t, body = env['payloadType'].encode(), base64.b64decode(env['payload'])
    open(work + '/../pae.bin', 'wb').write(b'DSSEv1 %d %s %d %s' % (len(t), t, len(body), body))
    sig = subprocess.run(['openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', key, '-in', work + '/../pae.bin'], capture_output=True, check=True).stdout
    env['signatures'] = [{'keyid': kid, 'sig': base64.b64encode(sig).decode()}]
    json.dump(env, open(work + '/' + name, 'w'), separators=(',', ':'))
`;
      const py = await run('/usr/bin/python3', ['-c', script, work, key]);
      assert.equal(py.code, 0, py.stderr.toString());
    } else {
      await writeFile(join(work, 'data/advisory.jsonl.gz'), await readFile(join(work, 'data/sbom.jsonl.gz')));
    }
    const sums = await run(
      'bash',
      [
        '-c',
        "find . -type f ! -name checksums.txt | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum > checksums.txt",
      ],
      { cwd: work },
    );
    assert.equal(sums.code, 0, sums.stderr.toString());
    assert.equal((await run('sha256sum', ['-c', '--strict', 'checksums.txt'], { cwd: work })).code, 0);
    const out = join(dir.path, `forged-${kind}.tgz`);
    assert.equal((await run('tar', ['-czf', out, '-C', work, '.'])).code, 0);
    return out;
  }

  before(async () => {
    dir = await tempDir('stella-export-verify-');
    const key = join(dir.path, 'export.key');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    pub = join(dir.path, 'export.pub.pem');
    assert.equal((await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code, 0);
    const other = join(dir.path, 'other.key');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', other])).code, 0);
    otherPub = join(dir.path, 'other.pub.pem');
    assert.equal((await run('openssl', ['pkey', '-in', other, '-pubout', '-out', otherPub])).code, 0);

    const signer = await resolveSigner(`file:${key}`);
    const adapter = getAdapter('json:raw');
    const v = adapter.validateOptions({});
    assert.ok(v.ok);
    const staging = await createStagingSink(join(dir.path, 'runs'));
    try {
      const { counts } = await adapter.write({
        records: iterate(await datasetRecords(datasetsDir, 10)),
        options: v.options,
        out: staging,
        signal: new AbortController().signal,
        progress: () => undefined,
        exportTime: null,
      });
      const sealed = await sealExportBundle(
        staging,
        {
          profile: { id: 'p-1', name: 'advisories', version: 1 },
          tenant: 'acme',
          adapter: { id: adapter.id, version: adapter.version, options: v.options },
          filter: { kinds: ['advisory', 'sbom', 'vex'] },
          ledgerSeq: 7n,
          counts,
          exportTime: null,
        },
        signer,
      );
      bundle = join(dir.path, 'export.tgz');
      await writeFile(bundle, await readFile(sealed.archivePath));
      await rm(sealed.archivePath);
    } finally {
      await staging.dispose();
      await signer.close();
    }
  });
  after(async () => {
    await dir?.cleanup();
  });

  test('a good bundle: exit 0; without --key the signer is NOT CHECKED', async () => {
    const r = await runCli(['export', 'verify', bundle]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pass {2}file:data\/advisory\.jsonl\.gz/);
    assert.match(r.stdout, /pass {2}signature:export\.dsse\.json/);
    assert.match(r.stdout, /pass {2}signature:export\.intoto\.dsse\.json/);
    assert.match(r.stdout, /Verification: OK — tenant acme, profile advisories v1,/);
    assert.match(r.stdout, /Signer NOT CHECKED/);
  });

  test('--key with the signer: exit 0 and no NOT CHECKED; --json reports every check', async () => {
    const r = await runCli(['export', 'verify', '--key', pub, bundle]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /NOT CHECKED/);
    const j = await runCli(['export', 'verify', '--json', '--key', pub, bundle]);
    const report = JSON.parse(j.stdout) as Report;
    assert.equal(report.ok, true);
    assert.equal(report.signerChecked, true);
    assert.ok(report.checks.every((c) => c.status === 'pass'));
    for (const c of [
      'archive',
      'manifest',
      'rerun-hash',
      'statement',
      'checksum:export.json',
      'file:data/vex.jsonl.gz',
    ])
      assert.ok(
        report.checks.some((x) => x.check === c),
        c,
      );
  });

  test('another --key: exit 3 naming both signatures', async () => {
    const r = await runCli(['export', 'verify', '--key', otherPub, bundle]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /signature:export\.dsse\.json/);
    assert.match(r.stderr, /signature:export\.intoto\.dsse\.json/);
  });

  test('a flipped byte in a data file: exit 3 naming the file', async () => {
    const r = await runCli(['export', 'verify', await tampered('data/advisory.jsonl.gz')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /checksum:data\/advisory\.jsonl\.gz/);
    assert.match(r.stderr, /file:data\/advisory\.jsonl\.gz: sha256:/);
    assert.doesNotMatch(r.stderr, /data\/vex/);
  });

  test('a flipped byte in export.json: exit 3 naming export.json and its signature', async () => {
    const r = await runCli(['export', 'verify', '--json', await tampered('export.json')]);
    assert.equal(r.code, 3);
    const report = JSON.parse(r.stdout) as Report;
    const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.check);
    assert.ok(failed.includes('checksum:export.json'), failed.join());
    assert.ok(failed.includes('signature:export.dsse.json') || failed.includes('manifest'), failed.join());
  });

  test('re-signed with an attacker key (openssl-built): passes only as integrity; the trusted --key refuses it', async () => {
    const forgery = await forged('resign');
    // openssl agrees the forgery is validly signed by the key it carries, and not by ours.
    const work = join(dir.path, 'forged-resign');
    const env = JSON.parse(await readFile(join(work, 'export.dsse.json'), 'utf8')) as {
      payloadType: string;
      payload: string;
      signatures: { sig: string }[];
    };
    const body = Buffer.from(env.payload, 'base64');
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${Buffer.byteLength(env.payloadType)} ${env.payloadType} ${body.length} `),
      body,
    ]);
    await writeFile(join(dir.path, 'forged.pae'), pae);
    await writeFile(join(dir.path, 'forged.sig'), Buffer.from(env.signatures[0]!.sig, 'base64'));
    const ossl = (inkey: string) =>
      run('openssl', [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        inkey,
        '-rawin',
        '-in',
        join(dir.path, 'forged.pae'),
        '-sigfile',
        join(dir.path, 'forged.sig'),
      ]);
    assert.equal((await ossl(join(work, 'keys/export.pub.pem'))).code, 0);
    assert.notEqual((await ossl(pub)).code, 0);

    const loose = await runCli(['export', 'verify', forgery]);
    assert.equal(loose.code, 0, loose.stderr);
    assert.match(loose.stdout, /Signer NOT CHECKED/);
    const strict = await runCli(['export', 'verify', '--key', pub, forgery]);
    assert.equal(strict.code, 3);
    assert.match(strict.stderr, /signature:export\.dsse\.json/);
    assert.match(strict.stderr, /signature:export\.intoto\.dsse\.json/);
  });

  test('a data file swapped and checksums.txt regenerated (sha256sum -c accepts it): exit 3 naming the file', async () => {
    const r = await runCli(['export', 'verify', '--key', pub, await forged('swap')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /file:data\/advisory\.jsonl\.gz/);
  });

  test('unreadable input is exit 1, usage is exit 2', async () => {
    const notGzip = join(dir.path, 'not.tgz');
    await writeFile(notGzip, 'plain text');
    assert.equal((await runCli(['export', 'verify', notGzip])).code, 1);
    assert.equal((await runCli(['export', 'verify', join(dir.path, 'missing.tgz')])).code, 1);
    assert.equal((await runCli(['export', 'verify', '--key', notGzip, bundle])).code, 1);
    assert.equal((await runCli(['export', 'verify'])).code, 2);
    assert.equal((await runCli(['export', 'verify', bundle, bundle])).code, 2);
  });

  test('as a real process without any network (unshare -n): 0 for the bundle, 3 for a tampered copy', async (t) => {
    // needTool fails (not skips) under CI=true: the offline proof must run there.
    const missing = needTool('unshare', { args: ['-n', 'true'] });
    if (missing) return t.skip(missing);
    const ok = await stellaWithoutNetwork(['export', 'verify', '--key', pub, bundle]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Verification: OK/);
    const bad = await stellaWithoutNetwork(['export', 'verify', await tampered('data/sbom.jsonl.gz')]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /file:data\/sbom\.jsonl\.gz/);
  });
});
