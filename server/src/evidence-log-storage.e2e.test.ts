/**
 * The evidence log's storage faults and its worker (issue 12 "Bad input"; ADR 0013): a tile with a
 * flipped byte and a tile missing from the object store are coded errors on the tile and proof
 * routes (real PostgreSQL, fs store); and on the embedded database (PGlite) the sequencer worker
 * integrates a seal by itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { needService, run } from '@stella/testkit';
import type { LogSequencer } from '@stella/evidence-locker';
import { harness, sleep, type ErrorBody, type Harness } from './testing/evidence-retention-harness.js';
import {
  checkEntries,
  logHarness,
  type EntriesBody,
  type LogHarness,
  type LogInfo,
} from './testing/evidence-log-harness.js';

describe('evidence log storage faults on PostgreSQL', { skip: await needService('postgres') }, () => {
  let lh: LogHarness;
  let h: Harness;
  let seq: LogSequencer;
  before(async () => {
    lh = await logHarness('evlog_tiles');
    ({ h, seq } = lh);
  });
  after(() => lh.close());

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
