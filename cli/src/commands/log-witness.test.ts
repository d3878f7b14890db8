// `stella log witness`: cosigns only checkpoints consistent with the last one it cosigned; refuses
// an unknown log key, a rollback, a proof for the wrong sizes and a fork, each exit 3 naming the
// check, and leaves its state unchanged when it refuses. Trees, tiles and proofs are real
// (TileAppender / TileTree over an in-memory tile store).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stella/testkit';
import {
  TileAppender,
  TileTree,
  generateNoteKey,
  parseCosignerVerifierKey,
  parseNote,
  parseSignerKey,
  signCheckpoint,
  tilePath,
  verifyCosignatures,
  type TileId,
} from '@stella/core/tlog';
import { StellaError } from '@stella/core/errors';
import { runCli } from '../testing/run-cli.js';

const ORIGIN = 'stella.test/timeline/acme';
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** A log: entries appended with the real appender, tiles kept in memory. */
class MemLog {
  readonly tiles = new Map<string, Uint8Array>();
  private readonly app = TileAppender.empty();
  constructor(readonly skey: string) {}
  async grow(n: number, tag = 'e'): Promise<string> {
    const r = this.app.append(Array.from({ length: n }, (_, i) => Buffer.from(`${tag}-${this.app.size + i}`)));
    for (const b of r.blobs) this.tiles.set(b.path, b.data);
    return signCheckpoint({ origin: ORIGIN, size: r.size, rootHash: r.rootHash, extensions: [] }, [
      parseSignerKey(this.skey),
    ]);
  }
  async proof(oldSize: number, newSize: number) {
    const tree = new TileTree(
      {
        readTile: async (t: TileId) => {
          const b = this.tiles.get(tilePath(t));
          if (!b) throw new StellaError('TLOG_TILE_MISSING', tilePath(t));
          return b;
        },
      },
      newSize,
    );
    const p = await tree.consistencyProof(oldSize, newSize);
    return { oldSize: p.oldSize, newSize: p.newSize, hashes: p.hashes.map(b64) };
  }
}

describe('stella log witness', () => {
  let dir = '';
  let cleanup: () => Promise<void>;
  let vkey = '';
  const logKey = generateNoteKey(ORIGIN, randomBytes(32));
  const cli = (args: string[]) => runCli(['log', 'witness', ...args], { cwd: dir });
  const base = () => ['--log-key', logKey.vkey, '--key', 'w.skey', '--state', 'state.json'];
  const put = async (name: string, content: string | object) =>
    writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  const state = async () => JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));

  before(async () => {
    ({ path: dir, cleanup } = await tempDir('stella-witness-'));
    const k = await cli(['keygen', '--name', 'witness.test/w1', '-o', 'w.skey']);
    assert.equal(k.code, 0, k.stderr);
    vkey = k.stdout.trim();
  });
  after(() => cleanup());

  test('TOFU, then cosigns a consistent growth; Go-compatible line; rollback, wrong sizes, fork and unknown key refused', async () => {
    const log = new MemLog(logKey.skey);
    const cp3 = await log.grow(3);
    await put('cp3.txt', cp3);
    const first = await cli([...base(), '--time', '1000', 'cp3.txt']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /trusted on first use/);
    verifyCosignatures(first.stdout, { witnesses: [parseCosignerVerifierKey(vkey)], now: 1000 });
    assert.equal((await state()).logs[ORIGIN].size, 3);

    const cp300 = await log.grow(297);
    await put('cp300.txt', cp300);
    await put('p3-300.json', await log.proof(3, 300));
    const second = await cli([...base(), '--time', '1010', '--proof', 'p3-300.json', '--json', 'cp300.txt']);
    assert.equal(second.code, 0, second.stderr);
    const out = JSON.parse(second.stdout);
    assert.equal(out.size, 300);
    assert.equal(out.previousSize, 3);
    const found = verifyCosignatures(out.note, { witnesses: [parseCosignerVerifierKey(vkey)], now: 1010 });
    assert.equal(found[0]!.timestamp, 1010);
    assert.equal(parseNote(out.note).signatures[0]!.name, ORIGIN);
    const held = await state();
    assert.equal(held.logs[ORIGIN].size, 300);

    // Rollback: the older checkpoint again.
    const rb = await cli([...base(), '--time', '1020', 'cp3.txt']);
    assert.equal(rb.code, 3);
    assert.match(rb.stderr, /FAILED rollback: TLOG_ROLLBACK/);

    // A proof for the wrong sizes (3 → 310 while the witness holds 300), and a truncated one.
    const cp310 = await log.grow(10);
    await put('cp310.txt', cp310);
    await put('p3-310.json', await log.proof(3, 310));
    const wrong = await cli([...base(), '--time', '1030', '--proof', 'p3-310.json', 'cp310.txt']);
    assert.equal(wrong.code, 3);
    assert.match(wrong.stderr, /FAILED consistency: TLOG_CONSISTENCY_SIZE_MISMATCH/);
    const good = await log.proof(300, 310);
    await put('short.json', { ...good, hashes: good.hashes.slice(1) });
    const short = await cli([...base(), '--time', '1030', '--proof', 'short.json', '--json', 'cp310.txt']);
    assert.equal(short.code, 3);
    assert.deepEqual((({ check, code }) => ({ check, code }))(JSON.parse(short.stdout)), {
      check: 'consistency',
      code: 'TLOG_CONSISTENCY_SIZE_MISMATCH',
    });

    // A fork: another history of size 310 signed by the same log key, with its own (valid) proof.
    const fork = new MemLog(logKey.skey);
    await fork.grow(300, 'x');
    const fork310 = await fork.grow(10, 'x');
    await put('fork310.txt', fork310);
    await put('fork-p.json', await fork.proof(300, 310));
    const forked = await cli([...base(), '--time', '1030', '--proof', 'fork-p.json', 'fork310.txt']);
    assert.equal(forked.code, 3);
    assert.match(forked.stderr, /FAILED consistency: MERKLE_PROOF_INVALID/);
    // A same-size checkpoint with another root is a fork too (no proof needed to see it).
    const fork300 = new MemLog(logKey.skey);
    await put('fork300.txt', await fork300.grow(300, 'y'));
    const same = await cli([...base(), '--time', '1030', 'fork300.txt']);
    assert.equal(same.code, 3);
    assert.match(same.stderr, /FAILED consistency: MERKLE_PROOF_INVALID/);

    // Signed by a key the witness does not trust.
    const stranger = generateNoteKey(ORIGIN, randomBytes(32));
    const other = new MemLog(stranger.skey);
    await put('stranger.txt', await other.grow(400));
    const unknown = await cli([...base(), '--time', '1030', 'stranger.txt']);
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /FAILED log-signature: TLOG_UNKNOWN_KEY/);

    // None of the refusals moved the state.
    assert.deepEqual(await state(), held);

    // Missing proof for a growth: usage error, nothing written.
    const noProof = await cli([...base(), '--time', '1030', 'cp310.txt']);
    assert.equal(noProof.code, 2);
    assert.match(noProof.stderr, /--proof is required/);

    // And the right proof is accepted.
    await put('p300-310.json', good);
    const ok = await cli([
      ...base(),
      '--time',
      '1040',
      '--proof',
      'p300-310.json',
      '-o',
      'cp310.cosigned.txt',
      'cp310.txt',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const cosigned = await readFile(join(dir, 'cp310.cosigned.txt'), 'utf8');
    assert.equal(verifyCosignatures(cosigned, { witnesses: [parseCosignerVerifierKey(vkey)], now: 1040 }).length, 1);
    assert.equal((await state()).logs[ORIGIN].size, 310);
  });

  test('a corrupt state file is TLOG_WITNESS_STATE_INVALID (exit 1); a malformed proof is exit 3', async () => {
    const log = new MemLog(logKey.skey);
    await put('c.txt', await log.grow(2));
    await put('bad-state.json', '{"schema":"other"}');
    const r = await runCli(
      ['log', 'witness', '--log-key', logKey.vkey, '--key', 'w.skey', '--state', 'bad-state.json', 'c.txt'],
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TLOG_WITNESS_STATE_INVALID/);
    await put('garbage.json', '{"oldSize":0}');
    const g = await runCli(
      [
        'log',
        'witness',
        '--log-key',
        logKey.vkey,
        '--key',
        'w.skey',
        '--state',
        'fresh.json',
        '--proof',
        'garbage.json',
        'c.txt',
      ],
      { cwd: dir },
    );
    assert.equal(g.code, 3);
    assert.match(g.stderr, /FAILED consistency: MERKLE_PROOF_MALFORMED/);
  });
});
