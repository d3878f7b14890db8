// Log storage on real PostgreSQL and the filesystem object store: append with dedupe, batched
// integration, checkpoints verified with the log key, tiles re-read from storage and checked by
// the Go reference (x/mod tlog, transparency-dev), proofs, one sequencer across replicas, and the
// coded errors (duplicate entry, missing tile, flipped byte in storage).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertRejectsStella, createTestDatabase, goHarness, needGo, needService, run, tempDir } from '@stella/testkit';
import { leafHash, verifyConsistency } from '@stella/core/merkle';
import {
  TileTree,
  generateNoteKey,
  openCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
} from '@stella/core/tlog';
import { PLATFORM_MIGRATIONS, migrate, openDb, type Db } from '@stella/platform/db';
import { FsObjectStore } from '@stella/platform/object-store';
import { TLOG_MIGRATIONS, TransparencyLog } from '@stella/platform/tlog';

const skip = await needService('postgres');
const enc = (s: string) => new TextEncoder().encode(s);

describe('transparency log storage (pg + fs store)', { skip }, () => {
  let db: Db;
  let db2: Db;
  let drop: () => Promise<void>;
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FsObjectStore;
  const origin = 'stella.test/tlog/t1';
  const key = generateNoteKey(origin, randomBytes(32));
  const signer = parseSignerKey(key.skey);
  const verifier = parseVerifierKey(key.vkey);

  before(async () => {
    const t = await createTestDatabase('tlog');
    drop = t.drop;
    db = await openDb({ kind: 'postgres', url: t.url });
    db2 = await openDb({ kind: 'postgres', url: t.url });
    await migrate(db, [PLATFORM_MIGRATIONS, TLOG_MIGRATIONS]);
    dir = await tempDir('tlog-store-');
    store = new FsObjectStore({ root: dir.path });
  });
  after(async () => {
    await db?.close();
    await db2?.close();
    await drop?.();
    await dir?.cleanup();
  });

  test('append, dedupe, batched checkpoints, proofs, history consistent', async () => {
    const log = await TransparencyLog.open({ db, store, logId: 't1', origin, signers: [signer], maxBatch: 300 });
    const first = await log.append(enc('bundle-0'));
    assert.equal(first.duplicate, false);
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    const again = await log.append(enc('bundle-0'));
    assert.equal(again.duplicate, true);
    const many = await log.appendMany(
      Array.from({ length: 999 }, (_, i) => enc(`bundle-${i + 1}`)).concat([enc('bundle-5')]),
    );
    assert.equal(many.filter((m) => m.duplicate).length, 1);
    assert.equal(await log.pending(), 1000);
    // Batches of at most 300 entries per checkpoint.
    const sizes: number[] = [];
    for (;;) {
      const r = await log.integrate();
      assert.equal(r.busy, false);
      if (r.busy || r.integrated === 0) break;
      sizes.push(r.size);
    }
    assert.deepEqual(sizes, [300, 600, 900, 1000]);
    assert.equal(await log.pending(), 0);
    // Duplicates of integrated entries name their index; rejectDuplicates makes it a coded error.
    const dup = await log.append(enc('bundle-7'));
    assert.deepEqual([dup.duplicate, dup.index], [true, 7]);
    await assertRejectsStella(log.append(enc('bundle-7'), { rejectDuplicates: true }), 'TLOG_DUPLICATE_ENTRY');
    await assertRejectsStella(
      log.appendMany([enc('new-1'), enc('new-1')], { rejectDuplicates: true }),
      'TLOG_DUPLICATE_ENTRY',
    );
    // The checkpoint verifies with the log key; tiles from storage reproduce it.
    const cp = await log.checkpoint();
    const opened = openCheckpoint(cp.note!, { origin, verifiers: [verifier] });
    assert.equal(opened.size, 1000);
    const tree = await log.tree();
    await tree.verifyAgainst(opened);
    for (const t of [0, 1, 2, 3]) await tree.verifyTile({ level: 0, index: t }, opened);
    assert.deepEqual(await tree.entry(7), enc('bundle-7'));
    const { proof, leafHash: lh } = await log.inclusionProof(7);
    assert.deepEqual(lh, leafHash(enc('bundle-7')));
    verifyInclusionInCheckpoint(lh, proof, opened);
    assert.deepEqual(await log.lookup(again.digest), { index: 0 });
    // Every earlier checkpoint is consistent with the latest.
    const history = await log.checkpoints();
    assert.deepEqual(
      history.map((h) => h.size),
      [300, 600, 900, 1000],
    );
    for (const h of history) {
      const old = openCheckpoint(h.note, { origin, verifiers: [verifier] });
      verifyCheckpointConsistency(old, opened, await log.consistencyProof(h.size));
      // Each historical note is also stored in the object store under its digest.
      assert.equal(await readAll(store, h.digest), h.note);
    }
  });

  test(
    'tiles exported from storage pass the Go reference (x/mod tlog, transparency-dev/formats)',
    { skip: needGo() },
    async () => {
      const log = await TransparencyLog.open({ db, store, logId: 't1', origin, signers: [signer] });
      const bin = await goHarness('tlog-check');
      const out = await tempDir('tlog-export-');
      try {
        const { rows } = await db.query<{ path: string }>('SELECT path FROM tlog.tiles WHERE log_id = $1', ['t1']);
        for (const { path } of rows) {
          await mkdir(dirname(join(out.path, path)), { recursive: true });
          await writeFile(join(out.path, path), await log.readPath(path));
        }
        for (const h of await log.checkpoints()) {
          const r = await run(bin, [
            'tiles',
            '-dir',
            out.path,
            '-size',
            String(h.size),
            '-root',
            Buffer.from(h.rootHash).toString('base64'),
          ]);
          assert.equal(r.code, 0, r.stdout.toString());
          await writeFile(join(out.path, 'cp'), h.note);
          const c = await run(bin, ['checkpoint', '-vkey', key.vkey, '-origin', origin, '-in', join(out.path, 'cp')]);
          assert.equal(c.code, 0, c.stdout.toString());
          assert.equal((JSON.parse(c.stdout.toString()) as { size: number }).size, h.size);
        }
      } finally {
        await out.cleanup();
      }
    },
  );

  test('one sequencer per log across replicas (advisory lock), nothing integrated twice', async () => {
    const a = await TransparencyLog.open({
      db,
      store,
      logId: 'rep',
      origin: 'stella.test/tlog/rep',
      signers: [signer],
      maxBatch: 50,
    });
    const b = await TransparencyLog.open({
      db: db2,
      store,
      logId: 'rep',
      origin: 'stella.test/tlog/rep',
      signers: [signer],
      maxBatch: 50,
    });
    await a.appendMany(Array.from({ length: 2000 }, (_, i) => enc(`rep-${i}`)));
    const sa = a.startSequencer({ idleMs: 5 });
    const sb = b.startSequencer({ idleMs: 5 });
    const deadline = Date.now() + 60_000;
    while ((await a.pending()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sa.stop();
    await sb.stop();
    const cp = await a.checkpoint();
    assert.equal(cp.size, 2000);
    const { rows } = await db.query<{ n: string; d: string }>(
      "SELECT count(*) AS n, count(DISTINCT idx) AS d FROM tlog.entries WHERE log_id = 'rep'",
    );
    assert.deepEqual([rows[0]!.n, rows[0]!.d], ['2000', '2000']);
    const tree = new TileTree(a.tileReader(), 2000);
    await tree.verifyAgainst(cp);
    const hist = await a.checkpoints();
    for (let i = 1; i < hist.length; i++) {
      const p = await tree.consistencyProof(hist[i - 1]!.size, hist[i]!.size);
      verifyConsistency(p.oldSize, p.newSize, p.hashes, hist[i - 1]!.rootHash, hist[i]!.rootHash);
    }
    // While a transaction holds the lock, the other replica reports busy instead of waiting.
    await db2.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x544c4f47, 'rep']);
      await a.append(enc('rep-late'));
      assert.deepEqual(await a.integrate(), { busy: true });
    });
    assert.equal((await a.integrate()).busy, false);
  });

  test('missing tile and flipped stored byte are coded errors; origin is fixed', async () => {
    const log = await TransparencyLog.open({
      db,
      store,
      logId: 'bad',
      origin: 'stella.test/tlog/bad',
      signers: [signer],
    });
    await log.appendMany(Array.from({ length: 300 }, (_, i) => enc(`bad-${i}`)));
    await log.integrate();
    await assertRejectsStella(log.readPath('tile/0/999'), 'TLOG_TILE_MISSING');
    // Flip a byte inside the stored blob of the full level-0 tile.
    const { rows } = await db.query<{ digest: string }>(
      "SELECT digest FROM tlog.tiles WHERE log_id = 'bad' AND path = 'tile/0/000'",
    );
    const hex = rows[0]!.digest.slice('sha256:'.length);
    const blob = await findFile(dir.path, `${hex}~blob`);
    const bytes = await readFile(blob);
    bytes[10]! ^= 0x40;
    await writeFile(blob, bytes);
    await assertRejectsStella(log.readPath('tile/0/000'), 'TLOG_TILE_MISMATCH');
    await assertRejectsStella(log.inclusionProof(3), 'TLOG_TILE_MISMATCH');
    await assertRejectsStella(
      TransparencyLog.open({ db, store, logId: 'bad', origin: 'someone.else/log', signers: [signer] }),
      'TLOG_ORIGIN_MISMATCH',
    );
  });
});

async function readAll(store: FsObjectStore, key: string): Promise<string> {
  const r = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function findFile(root: string, name: string): Promise<string> {
  for (const e of await readdir(root, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name === name) return join(e.parentPath, e.name);
  throw new Error(`no ${name} under ${root}`);
}
