/**
 * The Evidence Locker's transparency log on real PostgreSQL (issue 12 item 3, ADR 0013): seals,
 * holds, releases and purge tombstones become entries of the tenant's log in their own
 * transactions; the sequencer integrates them; the routes serve checkpoints, tiles and proofs —
 * checked by our verifiers and by the Go reference code (interop/cmd/tlog-check `serve`: x/mod
 * note/tlog and transparency-dev formats/merkle reading the live HTTP API). The acceptance "purge
 * a bundle → its tombstone is logged, and every earlier checkpoint is still consistent with the
 * new one" is the third test. Tenants apart on every route. The CLI offline checks:
 * evidence-log-cli.e2e.test.ts; storage faults and the worker: evidence-log-storage.e2e.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { goHarness, needGo, needService, run } from '@stella/testkit';
import { openCheckpoint, parseVerifierKey, verifyCheckpointConsistency } from '@stella/core/tlog';
import { purgeAll, sealEntry, type LogSequencer } from '@stella/evidence-locker';
import { mintDevToken } from './runtime.js';
import { sleep, type ErrorBody, type Harness } from './testing/evidence-retention-harness.js';
import {
  checkEntries,
  logHarness,
  unb64,
  type EntriesBody,
  type LogHarness,
  type LogInfo,
} from './testing/evidence-log-harness.js';

describe('evidence transparency log on PostgreSQL', { skip: (await needService('postgres')) || needGo() }, () => {
  let lh: LogHarness;
  let h: Harness;
  let seq: LogSequencer;
  before(async () => {
    lh = await logHarness('evlog');
    ({ h, seq } = lh);
  });
  after(() => lh.close());
  let goBin = '';
  before(async () => {
    goBin = await goHarness('tlog-check');
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
});
