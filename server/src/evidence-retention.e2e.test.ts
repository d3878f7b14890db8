/**
 * Evidence Locker retention end to end on PGlite (issue 8 items 5–6; docs/evidence/retention.md):
 * policy validation, purge of expired unheld bundles with content-addressed blobs kept while shared,
 * signed tombstones (openssl), 410 EVIDENCE_PURGED, hold endsAt expiry, WORM, custody and events.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { needTool } from '@stella/testkit';
import {
  VEX,
  archiveKey,
  blobKey,
  custody,
  harness,
  opensslVerifyTombstone,
  outboxKinds,
  sha,
  sleep,
  type ErrorBody,
  type Tombstone,
} from './testing/evidence-retention-harness.js';

describe('evidence retention: policy, purge, tombstones, holds (PGlite)', { skip: needTool('openssl') }, () => {
  test('held and in-retention bundles survive; expired unheld ones leave a signed tombstone; endsAt expires a hold', async () => {
    const h = await harness();
    try {
      const t = 'acme';
      assert.deepEqual(await h.json(t, 'GET', '/evidence/retention'), { version: 0, default: null, kinds: {} });

      // Bad policies: coded errors, nothing stored.
      const bad: [string, unknown, string][] = [
        ['negative', { default: '-P1D' }, 'VALIDATION_FAILED'],
        ['months are not fixed', { default: 'P1M' }, 'VALIDATION_FAILED'],
        ['zero', { default: 'PT0S' }, 'VALIDATION_FAILED'],
        ['number', { default: 86400 }, 'VALIDATION_FAILED'],
        ['unknown kind', { default: null, kinds: { backup: 'P1D' } }, 'VALIDATION_FAILED'],
        ['no default', { kinds: { job: 'P1D' } }, 'VALIDATION_FAILED'],
        ['kind zero', { default: null, kinds: { job: 'P0D' } }, 'VALIDATION_FAILED'],
      ];
      for (const [name, body, code] of bad) {
        const res = await h.call(t, 'PUT', '/evidence/retention', { json: body });
        assert.equal(res.status, 400, name);
        assert.equal(((await res.json()) as ErrorBody).code, code, name);
      }
      const malformed = await h.call(t, 'PUT', '/evidence/retention', { body: '{"default": ' });
      assert.equal(((await malformed.json()) as ErrorBody).code, 'MALFORMED_JSON');
      assert.equal((await h.json<{ version: number }>(t, 'GET', '/evidence/retention')).version, 0);

      const bEval = await h.seal(t, 'evaluation', 'eval');
      const bHeld = await h.seal(t, 'job', 'held');
      const bEnds = await h.seal(t, 'job', 'ends');
      const bGone = await h.seal(t, 'job', 'gone');
      // bHeld under two named holds; bEnds under one with an endsAt (moved into the past below).
      await h.json(t, 'POST', '/evidence/hold/case-1', { reason: 'subpoena', bundleIds: [bHeld.bundleId] });
      await h.json(t, 'POST', '/evidence/hold/case-2', { reason: 'audit', bundleIds: [bHeld.bundleId] });
      const endsAt = new Date(Date.now() + 3_600_000).toISOString();
      await h.json(t, 'POST', '/evidence/hold/case-3', { reason: 'short', bundleIds: [bEnds.bundleId], endsAt });
      const past = await h.call(t, 'POST', '/evidence/hold/case-4', {
        json: { reason: 'r', bundleIds: [bGone.bundleId], endsAt: '2000-01-01T00:00:00Z' },
      });
      assert.equal(((await past.json()) as ErrorBody).code, 'VALIDATION_FAILED');
      await h.json(t, 'DELETE', '/evidence/hold/case-1', { reason: 'first case closed' });

      const policy = await h.json<{ version: number; default: string; kinds: Record<string, string> }>(
        t,
        'PUT',
        '/evidence/retention',
        { default: 'PT1S', kinds: { evaluation: 'P1D' } },
      );
      assert.deepEqual([policy.version, policy.default, policy.kinds], [1, 'PT1S', { evaluation: 'P1D' }]);
      const usageBefore = Number(
        (await h.rt.db.query<{ n: string }>('SELECT blob_bytes::text AS n FROM evidence_locker.tenant_usage')).rows[0]!
          .n,
      );
      await sleep(1100);

      const first = await h.json<{ purged: { bundleId: string }[]; expiredHolds: string[]; pending: number }>(
        t,
        'POST',
        '/evidence/retention/purge',
      );
      assert.deepEqual(
        first.purged.map((p) => p.bundleId),
        [bGone.bundleId],
      );
      assert.deepEqual(first.expiredHolds, []);
      assert.equal(first.pending, 0);

      // The purged bundle: 410 with its tombstone on every bundle route; its own objects are gone.
      for (const path of [`/evidence/${bGone.bundleId}`, `/evidence/${bGone.bundleId}/download`]) {
        const res = await h.call(t, 'GET', path);
        assert.equal(res.status, 410, path);
        const err = (await res.json()) as ErrorBody & { details: { tombstone: Tombstone } };
        assert.equal(err.code, 'EVIDENCE_PURGED');
        assert.equal(err.details.tombstone.rootHash, bGone.rootHash);
      }
      assert.equal(await h.rt.store.exists(archiveKey(t, bGone.bundleId)), false);
      assert.equal(await h.rt.store.exists(blobKey(t, 'gone')), false);
      // Content-addressed blobs the survivors still name are kept, rows and objects.
      assert.equal(await h.rt.store.exists(blobKey(t, 'held')), true);
      const vexKey = `evidence/${t}/blobs/sha256/${sha(await readFile(VEX)).slice(7)}`;
      assert.equal(await h.rt.store.exists(vexKey), true);
      const usageAfter = Number(
        (await h.rt.db.query<{ n: string }>('SELECT blob_bytes::text AS n FROM evidence_locker.tenant_usage')).rows[0]!
          .n,
      );
      assert.equal(usageBefore - usageAfter, Buffer.byteLength('gone'));

      // The tombstone: from the API, in the store byte for byte, and verified with openssl.
      const list = await h.json<{ items: Tombstone[] }>(t, 'GET', '/evidence/tombstones');
      assert.deepEqual(
        list.items.map((i) => i.bundleId),
        [bGone.bundleId],
      );
      const tomb = await h.json<Tombstone>(t, 'GET', `/evidence/tombstones/${bGone.bundleId}`);
      assert.equal(tomb.objectsRemoved, true);
      assert.deepEqual(tomb.policy, {
        version: 1,
        rule: 'default',
        keepFor: 'PT1S',
        incidentExtension: null,
        expiresAt: (tomb.policy as unknown as { expiresAt: string }).expiresAt,
      });
      const stored = await h.rt.store.get(`evidence/${t}/tombstones/${bGone.bundleId}.dsse.json`);
      const storedJson = JSON.parse(Buffer.concat(await stored.body.toArray()).toString('utf8'));
      assert.deepEqual(storedJson, tomb.envelope);
      const statement = (await opensslVerifyTombstone(h.dir, tomb)) as {
        subject: { digest: { sha256: string } }[];
        predicateType: string;
        predicate: { bundleId: string; manifest: { digest: string }; reason: string; policy: { version: number } };
      };
      assert.equal(statement.subject[0]!.digest.sha256, bGone.rootHash);
      assert.equal(statement.predicateType, 'https://stella-ops.org/evidence/tombstone/v1');
      assert.equal(statement.predicate.bundleId, bGone.bundleId);
      assert.equal(statement.predicate.manifest.digest, tomb.manifestDigest);
      assert.match(statement.predicate.reason, /retention expired: kept PT1S/);
      assert.equal(statement.predicate.policy.version, 1);

      // Survivors: in retention (evaluation, P1D), held by case-2 (case-1 released), held until endsAt.
      for (const b of [bEval, bHeld, bEnds])
        assert.equal((await h.call(t, 'GET', `/evidence/${b.bundleId}`)).status, 200);
      // WORM: the store itself refuses to delete a held bundle's archive.
      await assert.rejects(
        h.rt.store.delete(archiveKey(t, bHeld.bundleId)),
        (e: { code?: string }) => e.code === 'OBJECT_RETAINED',
      );

      // endsAt passes (time travel: the hour is moved into the past, as the owner role, so the test
      // does not depend on how fast this machine is): the hold no longer protects, even before the
      // next pass records its expiry and purges.
      await h.rt.db.query(
        `UPDATE evidence_locker.holds SET ends_at = now() - interval '1 second' WHERE case_id = 'case-3'`,
      );
      const holds = await h.json<{ items: { caseId: string; active: boolean }[] }>(t, 'GET', '/evidence/holds');
      assert.equal(holds.items.find((i) => i.caseId === 'case-3')?.active, false);
      const activeOnly = await h.json<{ items: { caseId: string }[] }>(t, 'GET', '/evidence/holds?active=true');
      assert.deepEqual(
        activeOnly.items.map((i) => i.caseId),
        ['case-2'],
      );
      const second = await h.json<{ purged: { bundleId: string }[]; expiredHolds: string[] }>(
        t,
        'POST',
        '/evidence/retention/purge',
      );
      assert.deepEqual(second.expiredHolds, ['case-3']);
      assert.deepEqual(
        second.purged.map((p) => p.bundleId),
        [bEnds.bundleId],
      );
      const case3 = (
        await h.json<{ items: { caseId: string; releaseReason?: string; bundleIds: string[] }[] }>(
          t,
          'GET',
          '/evidence/holds?active=false',
        )
      ).items.find((i) => i.caseId === 'case-3')!;
      assert.match(case3.releaseReason!, /^endsAt .* reached$/);
      assert.deepEqual(case3.bundleIds, [bEnds.bundleId], 'a released hold still names what it covered');
      assert.equal((await h.call(t, 'GET', `/evidence/${bHeld.bundleId}`)).status, 200);
      assert.equal((await h.call(t, 'GET', `/evidence/${bEval.bundleId}`)).status, 200);

      // Chain of custody: rows and their events.
      assert.deepEqual(await custody(h.rt, bEnds.bundleId), ['seal', 'hold', 'hold-expired', 'purge']);
      assert.deepEqual(await custody(h.rt, bHeld.bundleId), ['seal', 'hold', 'hold', 'release']);
      const kinds = await outboxKinds(h.rt);
      for (const k of [
        'evidence.custody.seal',
        'evidence.custody.hold',
        'evidence.hold.placed',
        'evidence.custody.release',
        'evidence.hold.released',
        'evidence.retention.updated',
        'evidence.custody.purge',
        'evidence.bundle.purged',
        'evidence.custody.hold-expired',
      ])
        assert.ok(kinds.includes(k), k);
      assert.equal(kinds.filter((k) => k === 'evidence.bundle.purged').length, 2);
      // Audit: the policy change names before and after.
      const audit = await h.rt.db.query<{ action: string }>(
        `SELECT action FROM stella_platform.audit_log WHERE action LIKE 'evidence.retention%' OR action = 'evidence.purge'`,
      );
      assert.deepEqual(audit.rows.map((r) => r.action).sort(), [
        'evidence.purge',
        'evidence.purge',
        'evidence.retention.update',
      ]);

      // Bad input on the hold routes: release without reason, unknown case, unknown tombstone.
      const noReason = await h.call(t, 'DELETE', '/evidence/hold/case-2', { json: {} });
      assert.equal(((await noReason.json()) as ErrorBody).code, 'VALIDATION_FAILED');
      const unknown = await h.call(t, 'DELETE', '/evidence/hold/no-such-case', { json: { reason: 'x' } });
      assert.equal(((await unknown.json()) as ErrorBody).code, 'EVIDENCE_NOT_FOUND');
      const noTomb = await h.call(t, 'GET', `/evidence/tombstones/${bEval.bundleId}`);
      assert.equal(noTomb.status, 404);
      // Holding a purged bundle is 404 (it is gone), and leaves no hold.
      const holdPurged = await h.call(t, 'POST', '/evidence/hold/case-9', {
        json: { reason: 'late', bundleIds: [bGone.bundleId] },
      });
      assert.equal(((await holdPurged.json()) as ErrorBody).code, 'EVIDENCE_NOT_FOUND');
    } finally {
      await h.close();
    }
  });
});
