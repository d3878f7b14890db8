/**
 * bundle.tgz with its transparency-log proof, and `stella evidence verify --checkpoint` /
 * `stella log verify-inclusion` / `stella log verify-consistency` as real processes without any
 * network (`unshare -n`), on real PostgreSQL (issue 12 items 3 and 5; ADR 0013): deterministic
 * logged archives checked by GNU tar and sha256sum; a checkpoint by an unknown key, a rollback, a
 * proof for the wrong sizes, a tampered checkpoint — each exit 3 naming the failed check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { needService, needTool, run } from '@stella/testkit';
import { formatVerifierKey, generateNoteKey, openCheckpoint, parseVerifierKey } from '@stella/core/tlog';
import type { LogSequencer } from '@stella/evidence-locker';
import type { Harness } from './testing/evidence-retention-harness.js';
import { logHarness, sha, stellaOffline, type LogHarness, type LogInfo } from './testing/evidence-log-harness.js';

describe('evidence log: bundle.tgz proofs and the offline CLI', { skip: await needService('postgres') }, () => {
  let lh: LogHarness;
  let h: Harness;
  let seq: LogSequencer;
  before(async () => {
    lh = await logHarness('evlog_cli');
    ({ h, seq } = lh);
  });
  after(() => lh.close());

  test('bundle.tgz carries the log proof once integrated (deterministic); stella verifies offline (unshare -n)', async (t) => {
    const missing = needTool('unshare', { args: ['-n', 'true'] }) || needTool('tar') || needTool('sha256sum');
    if (missing) return t.skip(missing);
    const tenant = 'log-cli';
    const dir = join(h.dir, 'cli');
    await mkdir(dir, { recursive: true });
    const x = (await h.seal(tenant, 'job', 'cli-1')) as { bundleId: string };
    const download = async (id: string, headers: Record<string, string> = {}) => {
      const r = await h.call(tenant, 'GET', `/evidence/${id}/download`, { headers });
      return { r, bytes: new Uint8Array(await r.arrayBuffer()) };
    };
    const list = async (file: string) => (await run('tar', ['-tzf', file])).stdout.toString().split('\n');
    // Before integration: the archive as sealed, no log/ files, and the header says so.
    const before = await download(x.bundleId);
    assert.equal(before.r.headers.get('x-stella-log-proof'), 'pending');
    const stored = (await h.json<{ archive: { digest: string } }>(tenant, 'GET', `/evidence/${x.bundleId}`)).archive;
    assert.equal(sha(before.bytes), stored.digest);
    await writeFile(join(dir, 'pending.tgz'), before.bytes);
    assert.ok(!(await list(join(dir, 'pending.tgz'))).some((p) => p.startsWith('log/')));

    await seq.pass();
    const info = await h.json<LogInfo>(tenant, 'GET', '/evidence/log');
    await writeFile(join(dir, 'log.vkey'), `${info.verifierKey}\n`);
    await writeFile(join(dir, 'held.note'), await (await h.call(tenant, 'GET', '/evidence/log/checkpoint')).text());
    const one = await download(x.bundleId);
    const two = await download(x.bundleId);
    assert.equal(one.r.headers.get('x-stella-log-proof'), 'included');
    assert.equal(one.r.headers.get('etag'), `"${sha(one.bytes)}"`);
    assert.deepEqual(one.bytes, two.bytes, 'the logged archive is deterministic');
    assert.notEqual(sha(one.bytes), stored.digest);
    const part = await download(x.bundleId, { range: 'bytes=100-1099' });
    assert.equal(part.r.status, 206);
    assert.deepEqual(part.bytes, one.bytes.subarray(100, 1100));
    const bundle = join(dir, 'bundle.tgz');
    await writeFile(bundle, one.bytes);
    const names = await list(bundle);
    for (const f of ['log/entry.json', 'log/inclusion-proof.json', 'log/checkpoint.txt', 'log/verifier-key.txt'])
      assert.ok(names.includes(f), f);
    // GNU tar and sha256sum (not our code): the log files are covered by checksums.txt.
    const out = join(dir, 'x');
    await mkdir(out);
    assert.equal((await run('tar', ['-xzf', bundle, '-C', out])).code, 0);
    const sums = await run('sha256sum', ['-c', 'checksums.txt'], { cwd: out });
    assert.equal(sums.code, 0, sums.stdout.toString() + sums.stderr.toString());
    assert.match(sums.stdout.toString(), /log\/checkpoint\.txt: OK/);

    // A second seal moves the log on; its consistency proof and the inclusion proof at the new size.
    await h.seal(tenant, 'job', 'cli-2');
    await seq.pass();
    const latest = await (await h.call(tenant, 'GET', '/evidence/log/checkpoint')).text();
    await writeFile(join(dir, 'latest.note'), latest);
    const held = openCheckpoint(await readFile(join(dir, 'held.note'), 'utf8'), {
      origin: info.origin,
      verifiers: [parseVerifierKey(info.verifierKey)],
    });
    const newSize = openCheckpoint(latest, {
      origin: info.origin,
      verifiers: [parseVerifierKey(info.verifierKey)],
    }).size;
    const cons = await h.json(tenant, 'GET', `/evidence/log/proof/consistency?from=${held.size}&to=${newSize}`);
    await writeFile(join(dir, 'consistency.json'), JSON.stringify(cons));
    await writeFile(
      join(dir, 'consistency-wrong.json'),
      JSON.stringify({ ...cons, oldSize: held.size - 1 > 0 ? held.size - 1 : held.size + 1 }),
    );
    const incl = await h.json(tenant, 'GET', `/evidence/log/proof/inclusion?bundleId=${x.bundleId}`);
    await writeFile(join(dir, 'inclusion.json'), JSON.stringify(incl));
    const other = generateNoteKey(info.origin, new Uint8Array(32).fill(7)).vkey;
    assert.notEqual(other, formatVerifierKey(info.origin, parseVerifierKey(info.verifierKey).publicKey));
    await writeFile(join(dir, 'other.vkey'), other);

    const ok = async (argv: string[]) => {
      const r = await stellaOffline(argv, dir);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      return r;
    };
    const fails = async (argv: string[], check: RegExp) => {
      const r = await stellaOffline(argv, dir);
      assert.equal(r.code, 3, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, check, argv.join(' '));
      return r;
    };
    // The bundle alone: its own log proof verifies (key from the bundle: integrity only).
    const plain = await ok(['evidence', 'verify', 'bundle.tgz']);
    assert.match(plain.stdout, /pass\s+log:inclusion/);
    // In the log the auditor trusts: the checkpoint held at download (same size) …
    await ok(['evidence', 'verify', '--checkpoint', 'held.note', '--log-key', 'log.vkey', 'bundle.tgz']);
    // … a newer one needs the consistency proof (named check otherwise) …
    await fails(
      ['evidence', 'verify', '--checkpoint', 'latest.note', '--log-key', 'log.vkey', 'bundle.tgz'],
      /log:trusted/,
    );
    await ok([
      'evidence',
      'verify',
      '--checkpoint',
      'latest.note',
      '--log-key',
      'log.vkey',
      '--log-proof',
      'consistency.json',
      'bundle.tgz',
    ]);
    // … or the inclusion proof at that size; and a bundle downloaded while pending, with it, too.
    await ok([
      'evidence',
      'verify',
      '--checkpoint',
      'latest.note',
      '--log-key',
      'log.vkey',
      '--log-proof',
      'inclusion.json',
      'pending.tgz',
    ]);
    await fails(
      ['evidence', 'verify', '--checkpoint', 'latest.note', '--log-key', 'log.vkey', 'pending.tgz'],
      /log:trusted/,
    );
    // A checkpoint by a key the auditor does not trust.
    await fails(
      ['evidence', 'verify', '--checkpoint', 'held.note', '--log-key', 'other.vkey', 'bundle.tgz'],
      /log:trusted-checkpoint: TLOG_UNKNOWN_KEY/,
    );
    // `stella log verify-*` with these files: evidence-log-verify.e2e.test.ts (its own file: the per-file time limit).
    // Rollback: a bundle sealed after the checkpoint held is not in it (the held one predates it).
    const y = (await h.seal(tenant, 'job', 'cli-3')) as { bundleId: string };
    await seq.pass();
    await writeFile(join(dir, 'later.tgz'), (await download(y.bundleId)).bytes);
    await fails(
      ['evidence', 'verify', '--checkpoint', 'held.note', '--log-key', 'log.vkey', 'later.tgz'],
      /log:trusted: TLOG_ROLLBACK/,
    );
    // A tampered log/checkpoint.txt in the bundle: checksum and log:checkpoint both fail.
    const note = join(out, 'log/checkpoint.txt');
    await writeFile(note, (await readFile(note, 'utf8')).replace(/\n\d+\n/, '\n999\n'));
    assert.equal((await run('tar', ['-czf', join(dir, 'tampered.tgz'), '-C', out, '.'])).code, 0);
    await fails(['evidence', 'verify', 'tampered.tgz'], /log:checkpoint: TLOG_BAD_SIGNATURE/);
  });
});
