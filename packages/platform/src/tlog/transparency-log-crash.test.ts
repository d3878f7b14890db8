// Crash safety of the log storage (issue 12 acceptance): real child processes append and
// sequence on real PostgreSQL and the filesystem store, and are SIGKILLed at random points, at
// least 50 times. After every kill the published checkpoint's tiles must all be in storage and
// reproduce its root; at the end every acknowledged entry is in the log exactly once and every
// checkpoint ever published is consistent with the last one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, needService, repoRoot, tempDir } from '@stella/testkit';
import { leafHash } from '@stella/core/merkle';
import {
  TileAppender,
  TileTree,
  generateNoteKey,
  openCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  verifyCheckpointConsistency,
} from '@stella/core/tlog';
import { PLATFORM_MIGRATIONS, migrate, openDb, type Db } from '@stella/platform/db';
import { FsObjectStore } from '@stella/platform/object-store';
import { TLOG_MIGRATIONS, TransparencyLog } from '@stella/platform/tlog';

const skip = await needService('postgres');
const childSource = fileURLToPath(new URL('./__fixtures__/tlog-crash-child.ts', import.meta.url));
// The child is bundled once with esbuild (tsx's own compiler) so that each of the 50+ restarts
// costs a Node start, not a TypeScript compile; npm packages stay external and resolve from the
// repository's node_modules.
const childBundle = join(repoRoot, 'node_modules', '.cache', 'stella-tlog', `crash-child-${process.pid}.mjs`);
const KILLS = 50;
const PARALLEL = 4;
const BUDGET_MS = 60_000;

describe('transparency log: SIGKILL the sequencer at random points', { skip }, () => {
  let db: Db;
  let url: string;
  let drop: () => Promise<void>;
  let dir: { path: string; cleanup: () => Promise<void> };
  const origin = 'stella.test/tlog/crash';
  const key = generateNoteKey(origin, randomBytes(32));
  const verifier = parseVerifierKey(key.vkey);

  before(async () => {
    const t = await createTestDatabase('tlogcrash');
    url = t.url;
    drop = t.drop;
    db = await openDb({ kind: 'postgres', url });
    await migrate(db, [PLATFORM_MIGRATIONS, TLOG_MIGRATIONS]);
    dir = await tempDir('tlog-crash-');
    const { build } = await import('esbuild');
    await build({
      entryPoints: [childSource],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['development'],
      external: ['pg', 'pg-native', '@aws-sdk/*', '@smithy/*', '@electric-sql/pglite'],
      outfile: childBundle,
      logLevel: 'warning',
    });
  });
  after(async () => {
    await db?.close();
    await drop?.();
    await dir?.cleanup();
    await rm(childBundle, { force: true });
  });

  test(`${KILLS} kills: no acknowledged entry lost, no checkpoint without its tiles`, async () => {
    const store = new FsObjectStore({ root: dir.path });
    const log = await TransparencyLog.open({ db, store, logId: 'crash', origin, signers: [parseSignerKey(key.skey)] });
    const acked = new Set<string>();
    const stats = { kills: 0, betweenStoreAndCommit: 0, checks: 0 };
    const started = Date.now();

    /** The published state must be complete at every instant: tiles present and reproducing the root. */
    const checkPublished = async () => {
      const cp = await log.checkpoint();
      if (cp.size === 0) return;
      const opened = openCheckpoint(cp.note!, { origin, verifiers: [verifier] });
      assert.equal(opened.size, cp.size);
      await new TileTree(log.tileReader(), cp.size).verifyAgainst(opened);
      await TileAppender.open(log.tileReader(), cp.size, cp.rootHash); // right edge + partial bundle
      stats.checks++;
    };

    const runOne = (run: number) =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(process.execPath, [childBundle, url, dir.path, key.skey, origin, `r${run}`], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let buf = '';
        let lastPhase = '';
        let stderr = '';
        let timer: NodeJS.Timeout | undefined;
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!; // a line cut by the kill is not counted
          for (const l of lines) {
            if (l.startsWith('ack ')) acked.add(l.slice(4));
            else if (l.startsWith('phase ')) {
              lastPhase = l.split(' ')[1]!;
              // Every other run is killed the moment its blobs are stored, aiming at the window
              // between storing tiles and publishing the checkpoint.
              if (lastPhase === 'stored' && run % 2 === 0) {
                p.kill('SIGKILL');
                break;
              }
            } else if (l === 'ready' && !timer) {
              // Odd runs: kill at a random point 20…420 ms into the work; even runs wait for the
              // stored phase (at most 5 s).
              const ms = run % 2 === 0 ? 5000 : 20 + Math.floor(Math.random() * 400);
              timer = setTimeout(() => p.kill('SIGKILL'), ms);
            }
          }
        });
        p.on('error', reject);
        p.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (signal !== 'SIGKILL') return reject(new Error(`child exited ${code} ${signal}: ${stderr.slice(-2000)}`));
          stats.kills++;
          if (lastPhase === 'stored') stats.betweenStoreAndCommit++;
          checkPublished().then(resolve, reject);
        });
      });

    let run = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (stats.kills < KILLS && Date.now() - started < BUDGET_MS) await runOne(run++);
      }),
    );
    assert.ok(stats.kills >= KILLS, `only ${stats.kills} kills in ${BUDGET_MS} ms`);
    assert.ok(acked.size > 0);

    // Recovery: a fresh sequencer integrates everything that was acknowledged but not published.
    for (;;) {
      const r = await log.integrate();
      if (!r.busy && r.integrated === 0) break;
    }
    assert.equal(await log.pending(), 0);
    const cp = await log.checkpoint();
    const final = openCheckpoint(cp.note!, { origin, verifiers: [verifier] });
    const tree = new TileTree(log.tileReader(), cp.size);
    await tree.verifyAgainst(final);

    // No acknowledged entry is lost: each is at exactly one index, and that entry is its bytes.
    const { rows } = await db.query<{ n: string; d: string; max: string }>(
      "SELECT count(*) AS n, count(DISTINCT idx) AS d, max(idx) AS max FROM tlog.entries WHERE log_id = 'crash'",
    );
    assert.equal(Number(rows[0]!.n), cp.size);
    assert.equal(Number(rows[0]!.d), cp.size);
    assert.equal(Number(rows[0]!.max), cp.size - 1);
    const seen = new Set<string>();
    for (let b = 0; b * 256 < cp.size; b++)
      for (const e of await tree.entryBundle(b)) seen.add(new TextDecoder().decode(e));
    assert.equal(seen.size, cp.size, 'an entry appears twice in the log');
    const lost = [...acked].filter((e) => !seen.has(e));
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged entries are not in the log`);
    const some = [...acked][Math.floor(acked.size / 2)]!;
    const found = await log.lookup(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(some))),
    );
    assert.ok(found);
    assert.deepEqual(await tree.leafHash(found.index), leafHash(new TextEncoder().encode(some)));

    // Every checkpoint ever published is consistent with the final one.
    const history = await log.checkpoints();
    for (const h of history) {
      const old = openCheckpoint(h.note, { origin, verifiers: [verifier] });
      verifyCheckpointConsistency(old, final, await tree.consistencyProof(h.size));
    }
    console.log(
      `# tlog crash: ${stats.kills} kills in ${Date.now() - started} ms, ${stats.betweenStoreAndCommit} between blob store and commit, ` +
        `${stats.checks} published-state checks, ${acked.size} acked entries, final size ${cp.size}, ${history.length} checkpoints`,
    );
  });
});
