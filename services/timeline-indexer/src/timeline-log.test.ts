/**
 * The timeline log in the embedded mode (PGlite, filesystem store): a round, an export and its
 * offline verification, and what happens without a usable key (nothing is cut). The full matrix
 * (cadence, tampering, the stella binary, isolation) runs on PostgreSQL: timeline-log-pg.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '@stella/testkit';
import { newEvent } from '@stella/platform/bus';
import { generateFileKey } from '@stella/platform/keys';
import { isStellaError } from '@stella/core/errors';
import { TimelineExportVerifier, parseVerifierKey } from '@stella/core/tlog';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { timelineLogs } from './service.js';
import { TimelineLogs } from './timeline-log.js';

describe('timeline log on PGlite', () => {
  let h: TimelineHarness;
  let noKey: TimelineHarness;
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('stella-tl-log-');
    await generateFileKey(join(dir.path, 'k.pem'), 'ed25519');
    h = await startTimelineHarness({ signingKey: `file:${join(dir.path, 'k.pem')}` });
    noKey = await startTimelineHarness();
  });
  after(async () => {
    await h?.close();
    await noKey?.close();
    await dir?.cleanup();
  });

  const T0 = Date.parse('2026-12-01T10:00:00.000Z');
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();

  test('round → checkpoint → export verifies offline; the events are exactly the window', async () => {
    const T = 'acme';
    const events = [3, 1, 2, 9].map((s, i) =>
      newEvent({ tenant: T, kind: 'scan.completed', source: `s${i % 2}`, occurredAt: at(s), payload: { s } }),
    );
    assert.equal((await h.call(T, 'POST', '/timeline/events', { events })).status, 200);
    const r = await timelineLogs(h.deps).round(new Date(T0 + 60_000));
    assert.deepEqual(r, [{ tenant: T, cut: 1, size: 1 }]);
    const info = (await h.call(T, 'GET', '/timeline/log')).body;
    const res = await h.app.inject({
      method: 'GET',
      url: `/timeline/log/export?from=${at(1)}&to=${at(5)}`,
      headers: { authorization: `Bearer ${await h.token(T)}`, 'x-stella-tenant': T },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /application\/x-ndjson/);
    const v = new TimelineExportVerifier({ key: parseVerifierKey(info.logKey) });
    for (const l of res.body.split('\n')) v.push(l);
    const rep = v.finish();
    assert.equal(rep.events, 3);
    const seen = res.body
      .split('\n')
      .filter((l) => l && JSON.parse(l).type === 'event')
      .map((l) => JSON.parse(l).event.payload.s);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('without an Ed25519 key nothing is cut and the routes answer 503 TIMELINE_LOG_UNAVAILABLE', async () => {
    const T = 'nokey';
    await noKey.call(T, 'POST', '/timeline/events', {
      events: [newEvent({ tenant: T, kind: 'k', source: 's', occurredAt: at(0) })],
    });
    await assert.rejects(timelineLogs(noKey.deps).round(new Date()), (err: unknown) => isStellaError(err));
    const rows = await noKey.db.query<{ n: string }>('SELECT count(*)::text AS n FROM timeline.log_batches');
    assert.equal(rows.rows[0]!.n, '0');
    const res = await noKey.call(T, 'GET', '/timeline/log');
    assert.equal(res.status, 503, JSON.stringify(res));
    assert.equal(res.body.code, 'TIMELINE_LOG_UNAVAILABLE');
    // An ECDSA key cannot sign C2SP Ed25519 notes: the same coded refusal.
    const ec = join(dir.path, 'ec.pem');
    await generateFileKey(ec, 'ecdsa-p256-sha256');
    const logs = new TimelineLogs({ db: noKey.db, store: noKey.deps.store, signingKey: `file:${ec}` });
    await assert.rejects(
      logs.verifierKey(T),
      (err: unknown) => isStellaError(err) && err.code === 'TIMELINE_LOG_UNAVAILABLE' && /Ed25519/.test(err.message),
    );
  });
});
