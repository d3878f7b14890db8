/**
 * Incident mode end to end on PGlite (issue 8 item 7; docs/evidence/incident-mode.md): scope, state
 * changes, debug artefacts sealed into snapshots (and what they must not contain), retention
 * extension, custody and the events for timeline and notifier; and the purge worker on its own
 * interval (--workers 1).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mintDevToken } from './runtime.js';
import {
  archiveKey,
  custody,
  harness,
  outboxKinds,
  sleep,
  type ErrorBody,
  type Tombstone,
} from './testing/evidence-retention-harness.js';

describe('evidence incident mode (PGlite)', () => {
  test('activate → debug artefacts in snapshots, retention extended → deactivate → purged; events for timeline and notifier', async () => {
    const h = await harness({ STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION: 'P7D' });
    try {
      const t = 'acme';
      const status0 = await h.json<{ active: boolean; retentionExtension: string }>(t, 'GET', '/evidence/incident');
      assert.deepEqual(status0, { active: false, retentionExtension: 'P7D' });

      // Scope: evidence scopes alone cannot toggle incident mode.
      const noScope = await h.rt.devIssuer!.mint({
        tenant: t,
        subject: 'auditor',
        scopes: ['evidence:read', 'evidence:hold'],
        ttlSeconds: 600,
      });
      const forbidden = await h.call(t, 'POST', '/evidence/incident', {
        json: { active: true, reason: 'x' },
        token: noScope,
      });
      assert.equal(forbidden.status, 403);
      for (const body of [{ active: true }, { active: 'yes', reason: 'r' }, { active: true, reason: '' }, {}]) {
        const res = await h.call(t, 'POST', '/evidence/incident', { json: body });
        assert.equal(((await res.json()) as ErrorBody).code, 'VALIDATION_FAILED', JSON.stringify(body));
      }
      const off = await h.call(t, 'POST', '/evidence/incident', { json: { active: false, reason: 'nothing on' } });
      assert.equal(((await off.json()) as ErrorBody).code, 'CONFLICT');

      await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
      const on = await h.json<{ active: boolean; incident: { id: string; reason: string } }>(
        t,
        'POST',
        '/evidence/incident',
        { active: true, reason: 'INC-42 suspected token leak' },
      );
      assert.equal(on.active, true);
      assert.equal(on.incident.reason, 'INC-42 suspected token leak');
      const twice = await h.call(t, 'POST', '/evidence/incident', { json: { active: true, reason: 'again' } });
      assert.equal(((await twice.json()) as ErrorBody).code, 'CONFLICT');

      // A snapshot now carries the debug artefacts, sealed like the rest.
      const b = await h.seal(t, 'job', 'during incident');
      const bundle = await h.json<{ artifacts: { path: string; role: string; digest: string }[] }>(
        t,
        'GET',
        `/evidence/${b.bundleId}`,
      );
      const captured = bundle.artifacts.filter((a) => a.path.startsWith('incident/'));
      assert.deepEqual(
        captured.map((a) => [a.path, a.role]),
        [
          ['incident/config.json', 'metadata'],
          ['incident/request-log.jsonl', 'log'],
          ['incident/request.json', 'metadata'],
        ],
      );
      const read = async (path: string) =>
        (await (await h.call(t, 'GET', `/evidence/${b.bundleId}/artifacts/${path}`)).text()) as string;
      const request = JSON.parse(await read('incident/request.json')) as {
        incident: { reason: string };
        method: string;
        route: string;
        headers: Record<string, string>;
        otherHeaderNames: string[];
      };
      assert.equal(request.incident.reason, 'INC-42 suspected token leak');
      assert.deepEqual([request.method, request.route], ['POST', '/evidence/snapshot']);
      assert.ok(request.otherHeaderNames.includes('authorization'), 'the header is named');
      const token = await mintDevToken(h.rt.devIssuer!, t);
      const all = (await read('incident/request.json')) + (await read('incident/config.json'));
      // No token, no bearer value, no key material in what was captured.
      assert.ok(!all.includes(token.split('.')[2]!), 'token signature not captured');
      assert.ok(!/Bearer|BEGIN .*PRIVATE KEY/.test(all));
      const config = JSON.parse(await read('incident/config.json')) as {
        configDigest: string;
        settings: Record<string, unknown>;
      };
      assert.match(config.configDigest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(config.settings.STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION, 7 * 86400);
      const log = (await read('incident/request-log.jsonl'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string });
      assert.deepEqual(
        log.map((l) => l.msg),
        ['snapshot request validated', 'incident mode: capturing debug artefacts'],
      );
      // Caller paths under incident/ are reserved meanwhile.
      const reserved = await h.call(t, 'POST', '/evidence/snapshot', {
        json: {
          kind: 'job',
          artifacts: [{ path: 'incident/x.txt', role: 'log', mediaType: 'text/plain', content: 'eA==' }],
        },
      });
      assert.equal(((await reserved.json()) as ErrorBody).code, 'VALIDATION_FAILED');

      // Retention PT1S has passed, but P7D more apply while the incident is active.
      await sleep(1100);
      const during = await h.json<{ purged: unknown[] }>(t, 'POST', '/evidence/retention/purge');
      assert.deepEqual(during.purged, []);
      assert.equal((await h.call(t, 'GET', `/evidence/${b.bundleId}`)).status, 200);

      const offNoReason = await h.call(t, 'POST', '/evidence/incident', { json: { active: false } });
      assert.equal(((await offNoReason.json()) as ErrorBody).code, 'VALIDATION_FAILED');
      const ended = await h.json<{ active: boolean; incident: { deactivateReason: string } }>(
        t,
        'POST',
        '/evidence/incident',
        { active: false, reason: 'INC-42 resolved' },
      );
      assert.equal(ended.active, false);
      assert.equal(ended.incident.deactivateReason, 'INC-42 resolved');
      const after = await h.json<{ purged: { bundleId: string }[] }>(t, 'POST', '/evidence/retention/purge');
      assert.deepEqual(
        after.purged.map((p) => p.bundleId),
        [b.bundleId],
      );

      // Custody (tenant-wide rows) and events for the timeline and for the notifier.
      assert.deepEqual(await custody(h.rt, null), ['incident-activated', 'incident-deactivated']);
      const kinds = await outboxKinds(h.rt);
      for (const k of [
        'evidence.incident.activated',
        'notify.evidence.incident.activated',
        'evidence.custody.incident-activated',
        'evidence.incident.deactivated',
        'notify.evidence.incident.deactivated',
        'evidence.custody.incident-deactivated',
      ])
        assert.equal(kinds.filter((x) => x === k).length, 1, k);
    } finally {
      await h.close();
    }
  });
});

describe('evidence purge worker (PGlite, --workers 1)', () => {
  test('the worker purges on its own interval, lifts a stale store legal hold, and the notifier gets incident events', async () => {
    const h = await harness({ STELLA_WORKERS: '1', STELLA_EVIDENCE_PURGE_INTERVAL: 'PT1S' });
    const notified: { kind: string; tenant: string; attributes?: Record<string, unknown> }[] = [];
    const sub = await h.rt.bus.subscribe(
      'test-notifier',
      async (event) => {
        notified.push(event);
      },
      { kinds: ['notify.evidence.incident.activated'] },
    );
    try {
      assert.ok(h.rt.workers.includes('evidence-purge'), h.rt.workers.join(','));
      const t = 'acme';
      const b1 = await h.seal(t, 'job', 'w1');
      const b2 = await h.seal(t, 'job', 'w2');
      // A release whose store call never ran: the archive is legally held though no hold covers it.
      await h.rt.store.setLegalHold(archiveKey(t, b2.bundleId), true);
      await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
      const deadline = Date.now() + 20_000;
      let items: Tombstone[] = [];
      while (Date.now() < deadline) {
        items = (await h.json<{ items: Tombstone[] }>(t, 'GET', '/evidence/tombstones')).items;
        if (items.length === 2 && items.every((i) => i.objectsRemoved)) break;
        await sleep(250);
      }
      assert.deepEqual(items.map((i) => i.bundleId).sort(), [b1.bundleId, b2.bundleId].sort());
      assert.ok(items.every((i) => i.objectsRemoved));
      assert.equal(await h.rt.store.exists(archiveKey(t, b2.bundleId)), false);
      assert.deepEqual(await custody(h.rt, b2.bundleId), ['seal', 'purge']);
      const actor = await h.rt.db.query<{ actor: string }>(
        `SELECT actor FROM evidence_locker.custody_events WHERE action = 'purge' LIMIT 1`,
      );
      assert.equal(actor.rows[0]!.actor, 'system:evidence-locker/purge');

      await h.json(t, 'POST', '/evidence/incident', { active: true, reason: 'INC-9' });
      while (notified.length === 0 && Date.now() < deadline + 10_000) await sleep(100);
      assert.equal(notified.length, 1);
      assert.equal(notified[0]!.tenant, t);
      assert.equal(notified[0]!.attributes?.active, true);
    } finally {
      await sub.close();
      await h.close();
    }
  });
});
