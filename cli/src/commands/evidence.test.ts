/**
 * `stella evidence` (issue #8 item 9): offline `verify` on the committed fixture and on copies
 * tampered with GNU tar — also as a real process in a network namespace without interfaces
 * (`unshare -n`), so any network call would fail — and the online subcommands against a real
 * in-process server (PGlite), ending in a snapshot → download → offline verify round trip.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeOpensslTsaPki,
  needTool,
  run,
  startOpensslTsaHttp,
  tempDir,
  type OpensslTsaHttp,
  type OpensslTsaPki,
} from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { runCli } from '../testing/run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../testdata/evidence/', import.meta.url));
const BUNDLE = join(FIXTURES, 'bundle.tgz');
const PORTABLE = join(FIXTURES, 'portable-bundle-v1.tgz');
const KEY = join(FIXTURES, 'seal.pub.pem');
const BIN = fileURLToPath(new URL('../../bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Report {
  ok: boolean;
  bundleId?: string;
  rootHash?: string;
  checks: { check: string; status: string; detail?: string }[];
}

/** A copy of the fixture with one byte of `member` flipped, re-packed by GNU tar. */
async function tampered(dir: string, member: string, source = BUNDLE): Promise<string> {
  const work = join(dir, 'unpacked');
  await mkdir(work, { recursive: true });
  assert.equal((await run('tar', ['-xzf', source, '-C', work])).code, 0);
  const file = join(work, member);
  const bytes = await readFile(file);
  bytes[0] = bytes[0]! ^ 0x01;
  await writeFile(file, bytes);
  const out = join(dir, 'tampered.tgz');
  assert.equal((await run('tar', ['-czf', out, '-C', work, '.'])).code, 0);
  return out;
}

/** The real `stella` process with no network at all: `unshare -n` gives it an empty network namespace. */
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

/**
 * A re-sealed copy of the fixture, built only with tools we did not write (openssl, sha256sum, GNU
 * tar, Python's json): an attacker's own Ed25519 key signs the same statement (DSSE PAE, by hand),
 * replaces keys/seal.pub.pem, the signature in signature.json and seal.sigstore.json, and every
 * checksum. Only a trusted --key can tell it from the real bundle.
 */
async function resealed(dir: string): Promise<string> {
  const work = join(dir, 'resealed');
  await mkdir(work, { recursive: true });
  assert.equal((await run('tar', ['-xzf', BUNDLE, '-C', work])).code, 0);
  const key = join(dir, 'attacker.key');
  assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
  assert.equal(
    (await run('openssl', ['pkey', '-in', key, '-pubout', '-out', join(work, 'keys/seal.pub.pem')])).code,
    0,
  );
  const script = `
import base64, hashlib, json, subprocess, sys
work, key = sys.argv[1], sys.argv[2]
env = json.load(open(work + '/signature.json'))
t, body = env['payloadType'].encode(), base64.b64decode(env['payload'])
pae = b'DSSEv1 %d %s %d %s' % (len(t), t, len(body), body)
open(work + '/../pae.bin', 'wb').write(pae)
sig = subprocess.run(['openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', key, '-in', work + '/../pae.bin'], capture_output=True, check=True).stdout
der = subprocess.run(['openssl', 'pkey', '-pubin', '-in', work + '/keys/seal.pub.pem', '-outform', 'DER'], capture_output=True, check=True).stdout
kid = hashlib.sha256(der).hexdigest()
env['signatures'] = [{'keyid': kid, 'sig': base64.b64encode(sig).decode()}]
json.dump(env, open(work + '/signature.json', 'w'), separators=(',', ':'))
sb = json.load(open(work + '/seal.sigstore.json'))
sb['verificationMaterial']['publicKey']['hint'] = kid
sb['dsseEnvelope'] = env
json.dump(sb, open(work + '/seal.sigstore.json', 'w'), separators=(',', ':'))
`;
  const py = await run('/usr/bin/python3', ['-c', script, work, key]);
  assert.equal(py.code, 0, py.stderr.toString());
  const sums = await run(
    'bash',
    ['-c', "find . -type f ! -name checksums.txt | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum > checksums.txt"],
    { cwd: work },
  );
  assert.equal(sums.code, 0, sums.stderr.toString());
  const out = join(dir, 'resealed.tgz');
  assert.equal((await run('tar', ['-czf', out, '-C', work, '.'])).code, 0);
  return out;
}

describe('stella evidence verify (offline)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('stella-evidence-cli-');
  });
  after(() => dir.cleanup());

  test('a bundle re-sealed with an attacker key (openssl-built) passes only as "integrity"; --key refuses it', async () => {
    const forged = await resealed(join(dir.path, 'reseal'));
    // The independent checksum tool agrees the archive is self-consistent: nothing but the key tells.
    const unpacked = join(dir.path, 'reseal', 'resealed');
    assert.equal((await run('sha256sum', ['-c', '--quiet', 'checksums.txt'], { cwd: unpacked })).code, 0);
    const loose = await runCli(['evidence', 'verify', forged]);
    assert.equal(loose.code, 0, loose.stderr);
    assert.match(loose.stdout, /Signer NOT CHECKED: the seal was verified with the key inside the bundle/);
    const pinned = await runCli(['evidence', 'verify', '--key', KEY, forged]);
    assert.equal(pinned.code, 3, pinned.stdout);
    assert.match(pinned.stderr, /signature: DSSE_SIGNATURE_INVALID/);
    // The genuine fixture with its trusted key says nothing about an unchecked signer.
    const genuine = await runCli(['evidence', 'verify', '--key', KEY, BUNDLE]);
    assert.equal(genuine.code, 0, genuine.stderr);
    assert.doesNotMatch(genuine.stdout, /NOT CHECKED/);
  });

  test('the fixture verifies with its key: every check passes, exit 0', async () => {
    const r = await runCli(['evidence', 'verify', '--key', KEY, BUNDLE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pass {2}signature — .*\(given key\)$/m);
    assert.match(r.stdout, /Verification: OK — bundle 01JGZ000000000000000000001/);
    const json = await runCli(['evidence', 'verify', '--key', KEY, '--json', BUNDLE]);
    const report = JSON.parse(json.stdout) as Report;
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.filter((c) => c.status !== 'pass'),
      [],
    );
    for (const check of [
      'archive',
      'manifest',
      'merkle',
      'signature',
      'statement',
      'sigstore',
      'artifact:logs/scan.log',
    ])
      assert.ok(
        report.checks.some((c) => c.check === check),
        check,
      );
  });

  test('the fixture is what make-fixture.ts writes (byte for byte) and sha256sum -c accepts it', async () => {
    const out = join(dir.path, 'regenerated');
    await mkdir(out);
    const gen = await run(process.execPath, [
      '--conditions=development',
      '--import',
      TSX,
      join(FIXTURES, 'make-fixture.ts'),
      out,
    ]);
    assert.equal(gen.code, 0, gen.stderr.toString());
    assert.deepEqual(await readFile(join(out, 'bundle.tgz')), await readFile(BUNDLE));
    assert.deepEqual(await readFile(join(out, 'portable-bundle-v1.tgz')), await readFile(PORTABLE));
    assert.equal(await readFile(join(out, 'seal.pub.pem'), 'utf8'), await readFile(KEY, 'utf8'));
    const x = join(dir.path, 'x');
    await mkdir(x);
    assert.equal((await run('tar', ['-xzf', BUNDLE, '-C', x])).code, 0);
    const sums = await run('sha256sum', ['-c', '--strict', 'checksums.txt'], { cwd: x });
    assert.equal(sums.code, 0, sums.stdout.toString());
  });

  test('a flipped byte in one artifact (re-packed with GNU tar): exit 3 naming that artifact', async () => {
    const bad = await tampered(join(dir.path, 'flip'), 'artifacts/logs/scan.log');
    const r = await runCli(['evidence', 'verify', '--key', KEY, bad]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /Verification: FAILED — 2 check\(s\) failed/);
    assert.match(r.stderr, /^ {2}checksum:artifacts\/logs\/scan\.log: sha256 is /m);
    assert.match(r.stderr, /^ {2}artifact:logs\/scan\.log: sha256:[0-9a-f]{64} differs from its opening's/m);
    assert.match(r.stdout, /^fail {2}artifact:logs\/scan\.log/m);
    const json = JSON.parse((await runCli(['evidence', 'verify', '--key', KEY, '--json', bad])).stdout) as Report;
    assert.equal(json.ok, false);
    assert.deepEqual(
      json.checks.filter((c) => c.status === 'fail').map((c) => c.check),
      ['checksum:artifacts/logs/scan.log', 'artifact:logs/scan.log'],
    );
  });

  test('the portable fixture verifies offline (withheld entry named); a flipped byte is exit 3 naming it', async () => {
    const ok = await stellaWithoutNetwork(['evidence', 'verify', '--key', KEY, PORTABLE]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^pass {2}artifact:outputs\/verdict\.json — withheld/m);
    assert.match(
      ok.stdout,
      /^Withheld \(entry verified, content not in this portable bundle\): outputs\/verdict\.json$/m,
    );
    assert.match(ok.stdout, /^Verification: OK — portable bundle 01JGZ000000000000000000001/m);
    const bad = await tampered(join(dir.path, 'flip-portable'), 'artifacts/logs/scan.log', PORTABLE);
    const r = await stellaWithoutNetwork(['evidence', 'verify', '--key', KEY, bad]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^ {2}artifact:logs\/scan\.log: sha256:[0-9a-f]{64} differs from its opening's/m);
  });

  test('a key that did not seal the bundle: exit 3 naming the signature check', async () => {
    const other = join(dir.path, 'other.pub.pem');
    await writeFile(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await runCli(['evidence', 'verify', '--key', other, BUNDLE]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^ {2}signature: /m);
    assert.match(r.stdout, /^fail {2}signature/m);
  });

  test('unreadable input is exit 1 (not a gzip, missing file, --key not a key); no bundle is exit 2', async () => {
    const notGzip = join(dir.path, 'not.tgz');
    await writeFile(notGzip, 'just text\n');
    const a = await runCli(['evidence', 'verify', notGzip]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /ARCHIVE_MALFORMED: .*not\.tgz is not a gzip file/);
    const missing = join(dir.path, 'missing.tgz');
    const b = await runCli(['evidence', 'verify', missing]);
    assert.equal(b.code, 1);
    assert.ok(b.stderr.includes(`${missing} does not exist`), b.stderr);
    const c = await runCli(['evidence', 'verify', '--key', notGzip, BUNDLE]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /VALIDATION_FAILED: --key .* is not a public key/);
    assert.equal((await runCli(['evidence', 'verify'])).code, 2);
  });

  test('the real process in a network namespace without interfaces: fixture exit 0, tampered exit 3', async (t) => {
    const missing = needTool('unshare', { args: ['-n', 'true'] });
    if (missing) return t.skip(missing);
    const ok = await stellaWithoutNetwork(['evidence', 'verify', '--key', KEY, BUNDLE]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Verification: OK/);
    const bad = await tampered(join(dir.path, 'netns'), 'artifacts/inputs/sbom.cdx.json');
    const fail = await stellaWithoutNetwork(['evidence', 'verify', '--key', KEY, bad]);
    assert.equal(fail.code, 3, fail.stderr);
    assert.match(fail.stderr, /artifact:inputs\/sbom\.cdx\.json: /);
  });
});

describe('stella evidence online (in-process server)', () => {
  let rt: Runtime;
  let dir: { path: string; cleanup: () => Promise<void> };
  let pki: OpensslTsaPki;
  let otherPki: OpensslTsaPki;
  let tsa: OpensslTsaHttp;
  const tokens: Record<string, string> = {};
  const cli = (tenant: string, argv: string[]) =>
    runCli(argv, {
      cwd: dir.path,
      env: { STELLA_SERVER: rt.url, STELLA_TOKEN: tokens[tenant]!, STELLA_TENANT: tenant },
    });

  before(async () => {
    dir = await tempDir('stella-evidence-online-');
    // Bundles are time-stamped by an openssl TSA, so `verify --tsa-ca` has a token to check.
    pki = await makeOpensslTsaPki(join(dir.path, 'pki'));
    otherPki = await makeOpensslTsaPki(join(dir.path, 'pki'), { name: 'other' });
    tsa = await startOpensslTsaHttp(pki);
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '0',
        STELLA_BUS_URL: `memory://cli-evidence-${Date.now()}`,
        STELLA_TSA_URL: tsa.url,
      },
      {},
      { cwd: dir.path, services: SERVICES },
    );
    rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
    for (const t of ['acme', 'globex']) tokens[t] = await mintDevToken(rt.devIssuer!, t);
  });
  after(async () => {
    await rt.close();
    await tsa.close();
    await dir.cleanup();
  });

  test('snapshot → get → list → download → offline verify; hold and release; tenant isolation', async () => {
    const sbom = Buffer.from('{"bomFormat":"CycloneDX","specVersion":"1.5"}\n');
    const log = Buffer.from('step 1 ok\n');
    await writeFile(join(dir.path, 'sbom.json'), sbom);
    await writeFile(join(dir.path, 'run.log'), log);
    const snap = await cli('acme', [
      'evidence',
      'snapshot',
      '--kind',
      'evaluation',
      '--media-type',
      'application/json',
      '--json',
      'sbom.json',
      'run.log',
    ]);
    assert.equal(snap.code, 0, snap.stderr);
    const sealed = JSON.parse(snap.stdout) as { bundleId: string; rootHash: string };
    assert.match(sealed.bundleId, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    const human = await cli('acme', ['evidence', 'snapshot', '--kind', 'job', '--role', 'log', 'run.log']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^bundle: [0-9A-Z]{26}\nroot: {3}[0-9a-f]{64}\n$/);

    // A directory argument: every file under it, named by its relative POSIX path, sorted.
    await mkdir(join(dir.path, 'outdir', 'nested'), { recursive: true });
    await writeFile(join(dir.path, 'outdir', 'b.txt'), 'b\n');
    await writeFile(join(dir.path, 'outdir', 'nested', 'a.txt'), 'a\n');
    const fromDir = await cli('acme', [
      'evidence',
      'snapshot',
      '--kind',
      'job',
      '--role',
      'output',
      '--json',
      'outdir',
    ]);
    assert.equal(fromDir.code, 0, fromDir.stderr);
    const dirBundle = await cli('acme', [
      'evidence',
      'get',
      '--json',
      (JSON.parse(fromDir.stdout) as { bundleId: string }).bundleId,
    ]);
    assert.deepEqual(
      (JSON.parse(dirBundle.stdout) as { artifacts: { path: string }[] }).artifacts.map((a) => a.path),
      ['b.txt', 'nested/a.txt'],
    );
    await mkdir(join(dir.path, 'emptydir'));
    const empty = await cli('acme', ['evidence', 'snapshot', '--kind', 'job', '--role', 'output', 'emptydir']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /holds no files/);

    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const got = await cli('acme', ['evidence', 'get', '--json', sealed.bundleId]);
    assert.equal(got.code, 0, got.stderr);
    const bundle = JSON.parse(got.stdout) as { rootHash: string; artifacts: { path: string; digest: string }[] };
    assert.equal(bundle.rootHash, sealed.rootHash);
    assert.deepEqual(
      bundle.artifacts.map((a) => [a.path, a.digest]),
      [
        ['run.log', sha(log)],
        ['sbom.json', sha(sbom)],
      ],
    );

    const listed = await cli('acme', ['evidence', 'list', '--kind', 'evaluation', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { items: { bundleId: string }[] }).items.map((b) => b.bundleId),
      [sealed.bundleId],
    );
    const byDigest = await cli('acme', ['evidence', 'list', '--digest', sha(sbom), '--limit', '1']);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.match(byDigest.stdout, new RegExp(`^${sealed.bundleId} {2}evaluation`));

    // Another tenant sees nothing of acme's: the same answer as for a bundle that does not exist.
    const foreign = await cli('globex', ['evidence', 'get', sealed.bundleId]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /EVIDENCE_NOT_FOUND: .*\(HTTP 404/);
    assert.equal((await cli('globex', ['evidence', 'download', sealed.bundleId, '-o', 'x.tgz'])).code, 1);
    assert.ok(!(await readdir(dir.path)).some((f) => f.startsWith('x.tgz')), 'nothing written for a refused download');

    const dl = await cli('acme', ['evidence', 'download', sealed.bundleId, '-o', 'bundle.tgz']);
    assert.equal(dl.code, 0, dl.stderr);
    const tgz = await readFile(join(dir.path, 'bundle.tgz'));
    assert.ok(dl.stdout.includes(sha(tgz)));
    const verified = await runCli(['evidence', 'verify', '--json', join(dir.path, 'bundle.tgz')]);
    assert.equal(verified.code, 0, verified.stderr);
    const report = JSON.parse(verified.stdout) as Report;
    assert.equal(report.bundleId, sealed.bundleId);
    assert.equal(report.rootHash, sealed.rootHash);
    assert.equal(report.checks.find((c) => c.check === 'timestamp')?.status, 'skip');
    // With the TSA's CA the token's signature and chain are checked too; another CA fails it.
    const withCa = await runCli(['evidence', 'verify', '--tsa-ca', pki.caCert, join(dir.path, 'bundle.tgz')]);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.match(withCa.stdout, /^pass {2}timestamp — genTime /m);
    const wrongCa = await runCli(['evidence', 'verify', '--tsa-ca', otherPki.caCert, join(dir.path, 'bundle.tgz')]);
    assert.equal(wrongCa.code, 3);
    assert.match(wrongCa.stderr, /^ {2}timestamp: /m);
    const notCa = await runCli([
      'evidence',
      'verify',
      '--tsa-ca',
      join(dir.path, 'run.log'),
      join(dir.path, 'bundle.tgz'),
    ]);
    assert.equal(notCa.code, 1);
    assert.match(notCa.stderr, /VALIDATION_FAILED: --tsa-ca .* is not an X\.509 certificate/);

    const held = await cli('acme', ['evidence', 'hold', 'case-1', '--reason', 'audit', '--bundle', sealed.bundleId]);
    assert.equal(held.code, 0, held.stderr);
    assert.equal(held.stdout, `hold case-1: active, 1 bundle(s): ${sealed.bundleId}\n`);
    const foreignHold = await cli('globex', [
      'evidence',
      'hold',
      'case-2',
      '--reason',
      'x',
      '--bundle',
      sealed.bundleId,
    ]);
    assert.equal(foreignHold.code, 1);
    assert.match(foreignHold.stderr, /EVIDENCE_NOT_FOUND/);
    const released = await cli('acme', ['evidence', 'release', 'case-1', '--reason', 'closed', '--json']);
    assert.equal(released.code, 0, released.stderr);
    assert.equal((JSON.parse(released.stdout) as { active: boolean }).active, false);
    const again = await cli('acme', ['evidence', 'release', 'case-1', '--reason', 'closed']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /CONFLICT/);

    assert.equal((await cli('acme', ['evidence', 'hold', 'case-3', '--bundle', sealed.bundleId])).code, 2);
    assert.equal((await cli('acme', ['evidence', 'snapshot', '--kind', 'nope', 'run.log'])).code, 2);
  });

  test('hold by filter; incident on/off/status; retention set/get; usage errors are exit 2', async () => {
    await writeFile(join(dir.path, 'job.log'), 'job ran\n');
    const snap = await cli('globex', ['evidence', 'snapshot', '--kind', 'job', '--role', 'log', '--json', 'job.log']);
    assert.equal(snap.code, 0, snap.stderr);
    const { bundleId } = JSON.parse(snap.stdout) as { bundleId: string };
    const byFilter = await cli('globex', [
      'evidence',
      'hold',
      'case-f',
      '--filter',
      'kind=job',
      '--reason',
      'all jobs',
      '--ends-at',
      '2099-01-01T00:00:00Z',
      '--json',
    ]);
    assert.equal(byFilter.code, 0, byFilter.stderr);
    const hold = JSON.parse(byFilter.stdout) as { bundleIds: string[]; endsAt: string };
    assert.deepEqual(hold.bundleIds, [bundleId]);
    assert.equal(hold.endsAt, '2099-01-01T00:00:00.000Z');
    for (const bad of [
      ['--filter', 'kind=backup'],
      ['--filter', 'owner=me'],
      ['--filter', 'subject=abc'],
      ['--filter', 'kind'],
      ['--bundle', bundleId, '--ends-at', 'soon'],
      [],
    ]) {
      const r = await cli('globex', ['evidence', 'hold', 'case-x', '--reason', 'r', ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    }

    const on = await cli('globex', ['evidence', 'incident', 'on', '--reason', 'INC-7 outage']);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^incident mode: ACTIVE \(retention extension P30D\)\n {2}since: .* — INC-7 outage\n$/);
    const twice = await cli('globex', ['evidence', 'incident', 'on', '--reason', 'again']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /CONFLICT/);
    assert.equal((await cli('globex', ['evidence', 'incident', 'off'])).code, 2, 'a reason is required');
    const status = await cli('globex', ['evidence', 'incident', 'status', '--json']);
    assert.equal((JSON.parse(status.stdout) as { active: boolean }).active, true);
    // Per tenant: acme's incident mode is untouched.
    const acme = await cli('acme', ['evidence', 'incident', 'status']);
    assert.match(acme.stdout, /^incident mode: off/);
    const off = await cli('globex', ['evidence', 'incident', 'off', '--reason', 'INC-7 over']);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /ended: .* — INC-7 over/);

    const none = await cli('globex', ['evidence', 'retention', 'get']);
    assert.equal(none.stdout, 'retention: no policy (bundles are kept forever)\n');
    const set = await cli('globex', ['evidence', 'retention', 'set', '--default', 'P365D', '--kind', 'job=P90D']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^retention policy v1 .*\n {2}default: P365D\n {2}job: P90D\n$/);
    const badDuration = await cli('globex', ['evidence', 'retention', 'set', '--default', 'P1M']);
    assert.equal(badDuration.code, 1);
    assert.match(badDuration.stderr, /VALIDATION_FAILED/);
    assert.equal(
      (await cli('globex', ['evidence', 'retention', 'set', '--default', 'P1D', '--kind', 'x=P1D'])).code,
      2,
    );
    const got = await cli('globex', ['evidence', 'retention', 'get', '--json']);
    assert.equal((JSON.parse(got.stdout) as { version: number }).version, 1);
  });
});

test('stella evidence download: bytes that differ from the ETag digest are not kept', async () => {
  // A server whose archive does not match its ETag (a corrupting proxy, say).
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/gzip', etag: `"sha256:${'0'.repeat(64)}"` });
    res.end(Buffer.from('not the bundle'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = await tempDir('stella-evidence-etag-');
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await runCli(
      [
        'evidence',
        'download',
        '01JGZ000000000000000000001',
        '-o',
        'b.tgz',
        '--server',
        url,
        '--token',
        't',
        '--tenant',
        'a',
      ],
      { cwd: dir.path, env: {} },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OBJECT_DIGEST_MISMATCH: downloaded sha256:[0-9a-f]{64}, the server's ETag says/);
    assert.deepEqual(await readdir(dir.path), []);
  } finally {
    server.close();
    await dir.cleanup();
  }
});
