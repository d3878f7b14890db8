/**
 * The Evidence Locker's transparency log on real PostgreSQL (issue 12 item 3, ADR 0013): seals,
 * holds, releases and purge tombstones become entries of the tenant's log in their own
 * transactions; the sequencer integrates them; the routes serve checkpoints, tiles and proofs —
 * checked by our verifiers and by the Go reference code (interop/cmd/tlog-check `serve`: x/mod
 * note/tlog and transparency-dev formats/merkle reading the live HTTP API). The acceptance "purge
 * a bundle → its tombstone is logged, and every earlier checkpoint is still consistent with the
 * new one" is the third test. Tenants apart on every route.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, goHarness, needGo, needService, needTool, run } from '@stella/testkit';
import { leafHash } from '@stella/core/merkle';
import {
  formatVerifierKey,
  generateNoteKey,
  openCheckpoint,
  parseVerifierKey,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
} from '@stella/core/tlog';
import { LogSequencer, purgeAll, sealEntry } from '@stella/evidence-locker';
import { mintDevToken } from './runtime.js';
import { harness, sleep, type ErrorBody, type Harness } from './testing/evidence-retention-harness.js';

interface EntryView {
  type: string;
  bundleId: string;
  entryDigest: string;
  entry: string;
  status: 'pending' | 'integrated';
  index?: number;
  inclusionProof?: { index: number; size: number; hashes: string[] };
}
interface EntriesBody {
  origin: string;
  size: number;
  checkpoint?: string;
  entries: EntryView[];
}
interface LogInfo {
  origin: string;
  verifierKey: string;
  size: number;
  rootHash: string;
}

const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const BIN = fileURLToPath(new URL('../../cli/bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** `stella …` as a real process in a network namespace without interfaces: any network use fails. */
function stellaOffline(argv: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-n', process.execPath, '--conditions=development', '--import', TSX, BIN, ...argv],
      { encoding: 'utf8', timeout: 60_000, cwd },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Checks every proof of `body` with our verifiers against its checkpoint, opened with the pinned key. */
function checkEntries(body: EntriesBody, info: LogInfo): void {
  const cp = openCheckpoint(body.checkpoint!, { origin: info.origin, verifiers: [parseVerifierKey(info.verifierKey)] });
  assert.equal(cp.size, body.size);
  for (const e of body.entries) {
    assert.equal(e.status, 'integrated', `${e.type} integrated`);
    const p = e.inclusionProof!;
    verifyInclusionInCheckpoint(leafHash(unb64(e.entry)), { ...p, hashes: p.hashes.map(unb64) }, cp);
  }
}

describe('evidence transparency log on PostgreSQL', { skip: (await needService('postgres')) || needGo() }, () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let h: Harness;
  let seq: LogSequencer;
  let goBin = '';
  before(async () => {
    db = await createTestDatabase('evlog');
    h = await harness({ STELLA_DATABASE_URL: db.url, STELLA_EVIDENCE_LOG_ORIGIN: 'stella.test/evidence' });
    seq = new LogSequencer(
      {
        db: h.rt.db,
        store: h.rt.store,
        signingKey: h.rt.signingKey,
        originPrefix: 'stella.test/evidence',
      },
      (err) => {
        throw err;
      },
    );
    goBin = await goHarness('tlog-check');
  });
  after(async () => {
    await seq.close();
    await h.close();
    await db.drop();
  });
  const go = async (tenant: string, info: LogInfo, args: string[]) => {
    const token = await mintDevToken(h.rt.devIssuer!, tenant);
    const r = await run(
      goBin,
      [
        'serve',
        '-url',
        `${h.rt.url}/evidence/log`,
        '-token',
        token,
        '-tenant',
        tenant,
        '-vkey',
        info.verifierKey,
        '-origin',
        info.origin,
        ...args,
      ],
      { timeoutMs: 120_000 },
    );
    return { code: r.code, json: JSON.parse(r.stdout.toString()) as Record<string, unknown> };
  };

  test('seal → pending entry in the seal response; the sequencer integrates; proofs, checkpoint and tiles verify (ours and Go)', async () => {
    const t = 'log-a';
    const sealed = (await h.seal(t, 'job', 'first')) as {
      bundleId: string;
      rootHash: string;
      manifestDigest: string;
      log: { entryDigest: string; status: string };
    };
    // The seal answers at once: its entry is durable (same transaction) and pending.
    assert.equal(sealed.log.status, 'pending');
    const bundle = await h.json<{ createdAt: string; kind: string }>(t, 'GET', `/evidence/${sealed.bundleId}`);
    const expected = sealEntry({
      bundleId: sealed.bundleId,
      kind: bundle.kind,
      createdAt: bundle.createdAt,
      rootHash: sealed.rootHash,
      manifestDigest: sealed.manifestDigest,
    });
    assert.equal(sealed.log.entryDigest, expected.digest);
    const pending = await h.json<EntriesBody>(t, 'GET', `/evidence/log/proof/inclusion?bundleId=${sealed.bundleId}`);
    assert.deepEqual(
      pending.entries.map((e) => [e.type, e.status]),
      [['seal', 'pending']],
    );
    assert.equal(
      (await h.call(t, 'GET', '/evidence/log/checkpoint')).status,
      404,
      'no checkpoint before the first integration',
    );

    const pass = await seq.pass();
    assert.equal(pass.forwarded, 1);
    assert.equal(pass.indexed, 1);
    const info = await h.json<LogInfo>(t, 'GET', '/evidence/log');
    assert.equal(info.size, 1);
    assert.match(info.origin, /^stella\.test\/evidence\/[0-9a-f]{16}$/);
    assert.ok(!info.origin.includes(t), 'the origin does not name the tenant');
    const res = await h.call(t, 'GET', '/evidence/log/checkpoint');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const note = await res.text();
    const cp = openCheckpoint(note, { origin: info.origin, verifiers: [parseVerifierKey(info.verifierKey)] });
    assert.equal(cp.size, 1);

    const proven = await h.json<EntriesBody>(t, 'GET', `/evidence/log/proof/inclusion?bundleId=${sealed.bundleId}`);
    assert.equal(proven.entries[0]!.index, 0);
    assert.deepEqual(Buffer.from(proven.entries[0]!.entry, 'base64'), Buffer.from(expected.bytes));
    checkEntries(proven, info);
    // Idempotent replay of the seal request now reports the index.
    const again = (await h.seal(t, 'job', 'second')) as { bundleId: string };
    assert.notEqual(again.bundleId, sealed.bundleId);
    await seq.pass();

    // Lookup by digest: root, manifest digest → the seal entry with its proof.
    for (const d of [`sha256:${sealed.rootHash}`, sealed.manifestDigest, expected.digest]) {
      const found = await h.json<EntriesBody>(t, 'GET', `/evidence/log/entries?digest=${d}`);
      assert.deepEqual(
        found.entries.map((e) => [e.type, e.bundleId]),
        [['seal', sealed.bundleId]],
        d,
      );
      checkEntries(found, info);
    }

    // Tiles: immutable, ETag/304, C2SP paths only.
    const tile = await h.call(t, 'GET', '/evidence/log/tile/0/000.p/2');
    assert.equal(tile.status, 200);
    assert.equal(tile.headers.get('cache-control'), 'private, max-age=31536000, immutable');
    assert.equal((await tile.arrayBuffer()).byteLength, 64);
    const etag = tile.headers.get('etag')!;
    assert.equal(
      (await h.call(t, 'GET', '/evidence/log/tile/0/000.p/2', { headers: { 'if-none-match': etag } })).status,
      304,
    );
    assert.equal((await h.call(t, 'GET', '/evidence/log/tile/entries/000.p/2')).status, 200);
    const bad = await h.call(t, 'GET', '/evidence/log/tile/0/0.p/2');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as ErrorBody).code, 'TLOG_PATH_INVALID');
    const unpublished = await h.call(t, 'GET', '/evidence/log/tile/0/001');
    assert.equal(unpublished.status, 404);

    // The Go reference code over HTTP: checkpoint (formats + note), tiles (x/mod TileHashReader),
    // the served inclusion proofs (merkle) recomputed by x/mod tlog.
    const g = await go(t, info, ['-bundle', sealed.bundleId]);
    assert.equal(g.code, 0, JSON.stringify(g.json));
    assert.deepEqual(g.json.entries, [{ type: 'seal', index: 0 }]);
    assert.equal(g.json.size, 2);
  });

  test('cross-tenant: B sees none of A’s log — not its entries, proofs, lookups, tiles or checkpoint', async () => {
    const a = 'iso-a';
    const b = 'iso-b';
    const sealed = (await h.seal(a, 'job', 'iso')) as { bundleId: string; rootHash: string; manifestDigest: string };
    await seq.pass();
    const infoA = await h.json<LogInfo>(a, 'GET', '/evidence/log');
    const infoB = await h.json<LogInfo>(b, 'GET', '/evidence/log');
    assert.notEqual(infoA.origin, infoB.origin);
    assert.equal(infoB.size, 0);
    // A's bundle is B's EVIDENCE_NOT_FOUND exactly like a missing id.
    const strip = async (r: Response) => {
      const { traceId: _t, ...rest } = (await r.json()) as ErrorBody & { traceId: string };
      return JSON.parse(JSON.stringify(rest).replace(/[0-9A-HJKMNP-TV-Z]{26}/g, 'ID')) as unknown;
    };
    const foreign = await h.call(b, 'GET', `/evidence/log/proof/inclusion?bundleId=${sealed.bundleId}`);
    assert.equal(foreign.status, 404);
    assert.deepEqual(
      await strip(foreign),
      await strip(await h.call(b, 'GET', '/evidence/log/proof/inclusion?bundleId=01J00000000000000000000000')),
    );
    const lookup = await h.json<EntriesBody>(b, 'GET', `/evidence/log/entries?digest=${sealed.manifestDigest}`);
    assert.deepEqual(lookup.entries, []);
    assert.equal((await h.call(b, 'GET', '/evidence/log/checkpoint')).status, 404);
    assert.equal((await h.call(b, 'GET', '/evidence/log/tile/0/000.p/1')).status, 404);
    assert.equal((await h.call(b, 'GET', '/evidence/log/proof/consistency?from=0&to=1')).status, 404);
    // B's token cannot name A (X-Stella-Tenant must equal the token's tenant).
    const tokenB = await mintDevToken(h.rt.devIssuer!, b);
    const forged = await h.call(a, 'GET', '/evidence/log/checkpoint', { token: tokenB });
    assert.equal(forged.status, 403);
    // RLS at the table: the app role as B reads none of A's queue rows, and cannot edit its own.
    const asB = await h.rt.db.withTenant(b, (tx) =>
      tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.log_entries'),
    );
    assert.equal(asB.rows[0]!.n, '0');
    await assert.rejects(
      h.rt.db.withTenant(a, (tx) => tx.query('UPDATE evidence_locker.log_entries SET log_index = 7')),
      (err: { code?: string }) => err.code === '42501',
    );
    await assert.rejects(
      h.rt.db.withTenant(a, (tx) => tx.query('DELETE FROM evidence_locker.log_entries')),
      (err: { code?: string }) => err.code === '42501',
    );
  });

  test('hold, release, purge: each logged; every earlier checkpoint is consistent with the one after the purge (ours and Go)', async () => {
    const t = 'log-purge';
    const first = (await h.seal(t, 'job', 'p1')) as { bundleId: string };
    await seq.pass();
    const held: string[] = [await (await h.call(t, 'GET', '/evidence/log/checkpoint')).text()];
    await h.json(t, 'POST', `/evidence/hold/case-1`, { reason: 'audit', bundleIds: [first.bundleId] });
    await seq.pass();
    held.push(await (await h.call(t, 'GET', '/evidence/log/checkpoint')).text());
    await h.json(t, 'DELETE', `/evidence/hold/case-1`, { reason: 'done' });
    const second = (await h.seal(t, 'job', 'p2')) as { bundleId: string };
    await seq.pass();
    held.push(await (await h.call(t, 'GET', '/evidence/log/checkpoint')).text());

    await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
    await sleep(1100);
    const results = await purgeAll({
      db: h.rt.db,
      store: h.rt.store,
      signingKey: h.rt.signingKey,
      settings: h.rt.config.serviceSettings['evidence-locker'] ?? {},
      log: { error: () => undefined, info: () => undefined },
    } as never);
    assert.deepEqual(
      results
        .get(t)!
        .purged.map((p) => p.bundleId)
        .sort(),
      [first.bundleId, second.bundleId].sort(),
    );
    const pass = await seq.pass();
    assert.equal(pass.integrated.get(t)?.entries, 2, 'two tombstones');
    const info = await h.json<LogInfo>(t, 'GET', '/evidence/log');
    assert.equal(info.size, 6, 'seal, hold, release, seal, tombstone, tombstone');

    // The purged bundle is 410 elsewhere, but its log entries remain, tombstone last.
    const proven = await h.json<EntriesBody>(t, 'GET', `/evidence/log/proof/inclusion?bundleId=${first.bundleId}`);
    assert.deepEqual(
      proven.entries.map((e) => e.type),
      ['seal', 'hold', 'release', 'tombstone'],
    );
    checkEntries(proven, info);
    const tomb = await h.json<{ envelope: unknown }>(t, 'GET', `/evidence/tombstones/${first.bundleId}`);
    const entry = JSON.parse(Buffer.from(proven.entries[3]!.entry, 'base64').toString('utf8')) as {
      tombstone: { digest: string };
      bundleId: string;
    };
    assert.equal(entry.bundleId, first.bundleId);
    assert.match(entry.tombstone.digest, /^sha256:[0-9a-f]{64}$/);
    void tomb;

    // Every checkpoint held before the purge is consistent with the latest (our verifier).
    const verifiers = [parseVerifierKey(info.verifierKey)];
    const latest = openCheckpoint(await (await h.call(t, 'GET', '/evidence/log/checkpoint')).text(), {
      origin: info.origin,
      verifiers,
    });
    for (const n of held) {
      const old = openCheckpoint(n, { origin: info.origin, verifiers });
      const p = await h.json<{ oldSize: number; newSize: number; hashes: string[] }>(
        t,
        'GET',
        `/evidence/log/proof/consistency?from=${old.size}&to=${latest.size}`,
      );
      verifyCheckpointConsistency(old, latest, { ...p, hashes: p.hashes.map(unb64) });
    }
    // … and by the Go reference code over HTTP, with the tombstone's inclusion proof.
    const files: string[] = [];
    for (const [i, n] of held.entries()) {
      const f = join(h.dir, `held-${i}.note`);
      await writeFile(f, n);
      files.push(f);
    }
    const g = await go(t, info, ['-bundle', first.bundleId, '-held', files.join(',')]);
    assert.equal(g.code, 0, JSON.stringify(g.json));
    assert.deepEqual(
      (g.json.entries as { type: string }[]).map((e) => e.type),
      ['seal', 'hold', 'release', 'tombstone'],
    );
    assert.deepEqual(g.json.consistency, [
      { from: 1, to: 6 },
      { from: 2, to: 6 },
      { from: 4, to: 6 },
    ]);
  });

  test('bad input: wrong sizes, rollback request, duplicates, unknown checkpoint size', async () => {
    const t = 'log-bad';
    await h.seal(t, 'job', 'b1');
    await h.seal(t, 'job', 'b2');
    await seq.pass();
    const err = async (path: string) => {
      const r = await h.call(t, 'GET', path);
      return [r.status, ((await r.json()) as ErrorBody).code];
    };
    assert.deepEqual(await err('/evidence/log/proof/consistency?from=3&to=2'), [400, 'TLOG_CONSISTENCY_SIZE_MISMATCH']);
    assert.deepEqual(await err('/evidence/log/proof/consistency?from=2&to=1'), [404, 'NOT_FOUND']);
    const size = (await h.json<LogInfo>(t, 'GET', '/evidence/log')).size;
    assert.deepEqual(await err(`/evidence/log/proof/consistency?from=${size + 1}`), [
      400,
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
    ]);
    assert.deepEqual(await err('/evidence/log/proof/consistency?from=-1'), [400, 'VALIDATION_FAILED']);
    assert.deepEqual(await err('/evidence/log/checkpoint?size=99'), [404, 'NOT_FOUND']);
    assert.deepEqual(await err('/evidence/log/entries?digest=sha256:xyz'), [400, 'VALIDATION_FAILED']);
    // An entry enqueued twice (a retried transaction, a replayed seal) is one log entry.
    const before = await h.rt.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM tlog.entries e JOIN tlog.logs l USING (log_id) WHERE l.origin LIKE 'stella.test/%'",
    );
    const row = await h.rt.db.withTenant(t, (tx) =>
      tx.query<{ entry_type: string; bundle_id: string; entry: Buffer; entry_digest: string }>(
        'SELECT entry_type, bundle_id, entry, entry_digest FROM evidence_locker.log_entries ORDER BY seq LIMIT 1',
      ),
    );
    const { enqueueLogEntries } = await import('@stella/evidence-locker/log');
    await h.rt.db.withTenant(t, (tx) =>
      enqueueLogEntries(tx, [
        {
          type: 'seal',
          bundleId: row.rows[0]!.bundle_id,
          bytes: new Uint8Array(row.rows[0]!.entry),
          digest: row.rows[0]!.entry_digest,
          names: [],
        },
      ]),
    );
    // Forwarded again (as after a crash between append and mark): the log dedupes by entry digest.
    await h.rt.db.query('UPDATE evidence_locker.log_entries SET forwarded = false WHERE tenant_id = $1', [t]);
    const again = await seq.pass();
    assert.equal(again.integrated.size, 0, 'nothing new integrated');
    const after = await h.rt.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM tlog.entries e JOIN tlog.logs l USING (log_id) WHERE l.origin LIKE 'stella.test/%'",
    );
    assert.equal(after.rows[0]!.n, before.rows[0]!.n);
    assert.equal((await h.json<LogInfo>(t, 'GET', '/evidence/log')).size, size);
    // The other crash state: integrated, but killed before the indexes were written back.
    const indexes = async () =>
      (
        await h.rt.db.query<{ entry_digest: string; log_index: string | null }>(
          'SELECT entry_digest, log_index::text AS log_index FROM evidence_locker.log_entries WHERE tenant_id = $1 ORDER BY seq',
          [t],
        )
      ).rows;
    const was = await indexes();
    assert.ok(was.every((r) => r.log_index !== null));
    await h.rt.db.query('UPDATE evidence_locker.log_entries SET log_index = NULL WHERE tenant_id = $1', [t]);
    const redo = await seq.pass();
    assert.equal(redo.indexed, was.length);
    assert.deepEqual(await indexes(), was, 'the same indexes, nothing integrated again');
    assert.equal((await h.json<LogInfo>(t, 'GET', '/evidence/log')).size, size);
  });

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
    await fails(
      ['log', 'verify-inclusion', '--key', 'other.vkey', '--checkpoint', 'latest.note', '--proof', 'inclusion.json'],
      /checkpoint: TLOG_UNKNOWN_KEY/,
    );
    await ok([
      'log',
      'verify-inclusion',
      '--key',
      'log.vkey',
      '--checkpoint',
      'latest.note',
      '--proof',
      'inclusion.json',
    ]);
    // The inclusion proof is for the latest size: against the older checkpoint it is for the wrong size.
    await fails(
      ['log', 'verify-inclusion', '--key', 'log.vkey', '--checkpoint', 'held.note', '--proof', 'inclusion.json'],
      /inclusion:seal:0: TLOG_CONSISTENCY_SIZE_MISMATCH/,
    );
    await ok([
      'log',
      'verify-consistency',
      '--key',
      'log.vkey',
      '--old',
      'held.note',
      '--new',
      'latest.note',
      '--proof',
      'consistency.json',
    ]);
    // Rollback: the "new" checkpoint is older than the one held.
    await fails(
      [
        'log',
        'verify-consistency',
        '--key',
        'log.vkey',
        '--old',
        'latest.note',
        '--new',
        'held.note',
        '--proof',
        'consistency.json',
      ],
      /rollback: TLOG_ROLLBACK/,
    );
    // A proof for other sizes.
    await fails(
      [
        'log',
        'verify-consistency',
        '--key',
        'log.vkey',
        '--old',
        'held.note',
        '--new',
        'latest.note',
        '--proof',
        'consistency-wrong.json',
      ],
      /proof-sizes: TLOG_CONSISTENCY_SIZE_MISMATCH/,
    );
    // --json: every check with its status.
    const json = await ok([
      'log',
      'verify-consistency',
      '--json',
      '--key',
      'log.vkey',
      '--old',
      'held.note',
      '--new',
      'latest.note',
      '--proof',
      'consistency.json',
    ]);
    assert.deepEqual(
      (JSON.parse(json.stdout) as { checks: { check: string; status: string }[] }).checks.map((c) => [
        c.check,
        c.status,
      ]),
      [
        ['old-checkpoint', 'pass'],
        ['new-checkpoint', 'pass'],
        ['consistency', 'pass'],
      ],
    );
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

  test('a tile with a flipped byte, or missing from storage: coded errors on the tile and proof routes', async () => {
    const tenant = 'log-tiles';
    const x = (await h.seal(tenant, 'job', 'tile-1')) as { bundleId: string };
    await seq.pass();
    const tile = await h.rt.db.query<{ digest: string }>(
      `SELECT t.digest FROM tlog.tiles t JOIN tlog.logs l USING (log_id) WHERE l.origin = $1 AND t.path = 'tile/0/000.p/1'`,
      [(await h.json<LogInfo>(tenant, 'GET', '/evidence/log')).origin],
    );
    const digest = tile.rows[0]!.digest;
    const hex = digest.slice('sha256:'.length);
    const found = await run('find', [h.dir, '-name', `${hex}~blob`]);
    const blob = found.stdout.toString().trim().split('\n')[0]!;
    assert.ok(blob, 'the tile object on the filesystem store');
    const good = await readFile(blob);
    const flipped = Buffer.from(good);
    flipped[5] = flipped[5]! ^ 1;
    await writeFile(blob, flipped);
    const code = async (path: string) => {
      const r = await h.call(tenant, 'GET', path);
      return [r.status, ((await r.json()) as ErrorBody).code];
    };
    assert.deepEqual(await code('/evidence/log/tile/0/000.p/1'), [500, 'TLOG_TILE_MISMATCH']);
    assert.deepEqual(await code(`/evidence/log/proof/inclusion?bundleId=${x.bundleId}`), [500, 'TLOG_TILE_MISMATCH']);
    await writeFile(blob, good);
    assert.equal((await h.call(tenant, 'GET', '/evidence/log/tile/0/000.p/1')).status, 200);
    await h.rt.store.delete(digest);
    assert.deepEqual(await code('/evidence/log/tile/0/000.p/1'), [500, 'TLOG_TILE_MISSING']);
    assert.deepEqual(await code(`/evidence/log/proof/inclusion?bundleId=${x.bundleId}`), [500, 'TLOG_TILE_MISSING']);
  });
});

describe('evidence transparency log with the worker, embedded (PGlite)', () => {
  test('the sequencer worker integrates a seal by itself; the proof verifies', async () => {
    const h = await harness({ STELLA_WORKERS: '1', STELLA_EVIDENCE_LOG_INTERVAL_MS: '50' });
    try {
      const t = 'embedded';
      const started = Date.now();
      const sealed = (await h.seal(t, 'job', 'embedded-1')) as unknown as { bundleId: string; log: { status: string } };
      assert.equal(sealed.log.status, 'pending');
      let body: EntriesBody | undefined;
      while (Date.now() - started < 60_000) {
        body = await h.json<EntriesBody>(t, 'GET', `/evidence/log/proof/inclusion?bundleId=${sealed.bundleId}`);
        if (body.entries[0]?.inclusionProof) break;
        await sleep(50);
      }
      assert.ok(body?.entries[0]?.inclusionProof, 'integrated by the worker');
      checkEntries(body, await h.json<LogInfo>(t, 'GET', '/evidence/log'));
      const res = await h.call(t, 'GET', `/evidence/${sealed.bundleId}/download`);
      assert.equal(res.headers.get('x-stella-log-proof'), 'included');
      await res.arrayBuffer();
    } finally {
      await h.close();
    }
  });
});
