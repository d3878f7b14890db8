/**
 * Evidence Locker retention, tombstones, hold expiry, incident mode and the chain of custody
 * (issue 8 items 5–7; docs/evidence/retention.md, docs/evidence/incident-mode.md), end to end
 * through `startRuntime` on PGlite and on real PostgreSQL (RLS, and a purge process killed with
 * SIGKILL at each stage). Tombstone signatures are checked with openssl over a DSSE PAE built by
 * python3 — neither is our code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, datasetsDir, needService, needTool, run, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { purgeAll } from '@stella/evidence-locker';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const VEX = join(datasetsDir, 'vex/csaf/csaf_2.0/examples/csaf/csaf_vex/sec-vex-2022-0001.json');
const SPDX = join(datasetsDir, 'sbom/spdx/software/example9/spdx3.0/appbomination.spdx3.json');
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

interface Tombstone {
  bundleId: string;
  rootHash: string;
  manifestDigest: string;
  reason: string;
  policy: { version: number; rule: string; keepFor: string; incidentExtension: string | null };
  publicKeyPem: string;
  envelope: { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] };
  objectsRemoved: boolean;
}

interface Harness {
  rt: Runtime;
  dir: string;
  call(
    tenant: string,
    method: string,
    path: string,
    init?: { json?: unknown; body?: string; headers?: Record<string, string>; token?: string },
  ): Promise<Response>;
  json<T = Record<string, unknown>>(tenant: string, method: string, path: string, json?: unknown): Promise<T>;
  seal(tenant: string, kind: string, unique: string): Promise<{ bundleId: string; rootHash: string }>;
  close(): Promise<void>;
}

async function harness(env: Record<string, string> = {}): Promise<Harness> {
  const dir = await tempDir('stella-retention-');
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: `memory://retention-${Date.now()}`, ...env },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  const tokens = new Map<string, string>();
  const token = async (tenant: string) => {
    if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken(rt.devIssuer!, tenant));
    return tokens.get(tenant)!;
  };
  const call: Harness['call'] = async (tenant, method, path, init = {}) =>
    fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${init.token ?? (await token(tenant))}`,
        'x-stella-tenant': tenant,
        ...(init.json !== undefined || init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body ? { body: init.body } : {}),
    });
  const json: Harness['json'] = async (tenant, method, path, body) => {
    const res = await call(tenant, method, path, body === undefined ? {} : { json: body });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const shared = [await readFile(VEX), await readFile(SPDX)];
  return {
    rt,
    dir: dir.path,
    call,
    json,
    async seal(tenant, kind, unique) {
      for (const b of shared)
        await call(tenant, 'PUT', `/evidence/blobs/${sha(b)}`, {
          body: b as unknown as string,
          headers: { 'content-type': 'application/octet-stream' },
        });
      return json(tenant, 'POST', '/evidence/snapshot', {
        kind,
        artifacts: [
          { path: 'inputs/vex.json', role: 'input', mediaType: 'application/csaf+json', digest: sha(shared[0]!) },
          { path: 'inputs/sbom.json', role: 'input', mediaType: 'application/spdx+json', digest: sha(shared[1]!) },
          // Content only this bundle has: its blob goes with it; the shared ones stay.
          {
            path: 'run/unique.txt',
            role: 'metadata',
            mediaType: 'text/plain',
            content: Buffer.from(unique).toString('base64'),
          },
        ],
      });
    },
    close: async () => {
      await rt.close();
      await dir.cleanup();
    },
  };
}

const archiveKey = (tenant: string, id: string) => `evidence/${tenant}/bundles/${id}.tgz`;
const blobKey = (tenant: string, text: string) =>
  `evidence/${tenant}/blobs/sha256/${sha(Buffer.from(text)).slice('sha256:'.length)}`;

async function outboxKinds(rt: Runtime): Promise<string[]> {
  const r = await rt.db.query<{ kind: string }>('SELECT kind FROM stella_platform.outbox ORDER BY id');
  return r.rows.map((row) => row.kind);
}

async function custody(rt: Runtime, bundleId: string | null): Promise<string[]> {
  const r = await rt.db.query<{ action: string }>(
    `SELECT action FROM evidence_locker.custody_events WHERE bundle_id IS NOT DISTINCT FROM $1 ORDER BY id`,
    [bundleId],
  );
  return r.rows.map((row) => row.action);
}

/**
 * Checks a tombstone's DSSE signature with openssl over the PAE (DSSE v1 "Protocol") that
 * python3 builds from the envelope, as docs/evidence/retention.md tells an auditor to; returns
 * the decoded statement (parsed by python3 too).
 */
async function opensslVerifyTombstone(dir: string, t: Tombstone): Promise<Record<string, unknown>> {
  await writeFile(join(dir, 'tombstone.json'), JSON.stringify(t.envelope));
  await writeFile(join(dir, 'tombstone.pub.pem'), t.publicKeyPem);
  const py = [
    'import base64, json, sys',
    'e = json.load(open("tombstone.json"))',
    'body = base64.b64decode(e["payload"])',
    't = e["payloadType"].encode()',
    'open("pae.bin", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))',
    'open("sig.bin", "wb").write(base64.b64decode(e["signatures"][0]["sig"]))',
    'sys.stdout.write(json.dumps(json.loads(body)))',
  ].join('\n');
  const built = await run('/usr/bin/python3', ['-c', py], { cwd: dir });
  assert.equal(built.code, 0, built.stderr.toString());
  const v = await run(
    'openssl',
    ['pkeyutl', '-verify', '-pubin', '-inkey', 'tombstone.pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'],
    { cwd: dir },
  );
  assert.equal(v.code, 0, v.stdout.toString() + v.stderr.toString());
  assert.match(v.stdout.toString(), /Signature Verified Successfully/);
  // One flipped byte of the statement and openssl refuses it.
  const pae = await readFile(join(dir, 'pae.bin'));
  pae.writeUInt8(pae.readUInt8(pae.length - 2) ^ 1, pae.length - 2);
  await writeFile(join(dir, 'pae.bin'), pae);
  const bad = await run(
    'openssl',
    ['pkeyutl', '-verify', '-pubin', '-inkey', 'tombstone.pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'],
    { cwd: dir },
  );
  assert.notEqual(bad.code, 0);
  return JSON.parse(built.stdout.toString()) as Record<string, unknown>;
}

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
      // bHeld under two named holds; bEnds under one that ends in 2.5 s.
      await h.json(t, 'POST', '/evidence/hold/case-1', { reason: 'subpoena', bundleIds: [bHeld.bundleId] });
      await h.json(t, 'POST', '/evidence/hold/case-2', { reason: 'audit', bundleIds: [bHeld.bundleId] });
      const endsAt = new Date(Date.now() + 2500).toISOString();
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

      // endsAt passes: the hold no longer protects, the next pass records its expiry and purges.
      await sleep(Math.max(0, Date.parse(endsAt) - Date.now() + 100));
      const holds = await h.json<{ items: { caseId: string; active: boolean }[] }>(t, 'GET', '/evidence/holds');
      assert.equal(holds.items.find((i) => i.caseId === 'case-3')?.active, false);
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

describe(
  'evidence retention on PostgreSQL: tenants apart; a killed purge leaves the bundle or its tombstone',
  {
    skip: await needService('postgres'),
  },
  () => {
    test('cross-tenant: B cannot change A’s retention, see A’s tombstones or toggle A’s incident', async () => {
      const db = await createTestDatabase('retention');
      const h = await harness({ STELLA_DATABASE_URL: db.url });
      try {
        const a = await h.seal('tenant-a', 'job', 'a-only');
        await h.json('tenant-a', 'PUT', '/evidence/retention', { default: 'PT1S' });
        await h.json('tenant-b', 'PUT', '/evidence/retention', { default: 'P3650D' });
        assert.equal((await h.json<{ default: string }>('tenant-a', 'GET', '/evidence/retention')).default, 'PT1S');
        await h.json('tenant-b', 'POST', '/evidence/incident', { active: true, reason: 'b only' });
        assert.equal((await h.json<{ active: boolean }>('tenant-a', 'GET', '/evidence/incident')).active, false);
        await sleep(1100);
        // B's purge never touches A's bundle; the worker pass (owner role enumerates, RLS per tenant) does.
        assert.deepEqual(
          (await h.json<{ purged: unknown[] }>('tenant-b', 'POST', '/evidence/retention/purge')).purged,
          [],
        );
        assert.equal((await h.call('tenant-a', 'GET', `/evidence/${a.bundleId}`)).status, 200);
        const results = await purgeAll({
          db: h.rt.db,
          store: h.rt.store,
          signingKey: h.rt.signingKey,
          settings: h.rt.config.serviceSettings['evidence-locker'] ?? {},
          log: { error: () => undefined, info: () => undefined },
        } as never);
        assert.deepEqual(
          results.get('tenant-a')!.purged.map((p) => p.bundleId),
          [a.bundleId],
        );
        assert.deepEqual(results.get('tenant-b')!.purged, []);
        // A sees 410 with the tombstone; B sees 404 exactly like a missing bundle, and no tombstones.
        assert.equal((await h.call('tenant-a', 'GET', `/evidence/${a.bundleId}`)).status, 410);
        const strip = async (r: Response) => {
          const { traceId: _t, ...rest } = (await r.json()) as ErrorBody & { traceId: string };
          return JSON.parse(JSON.stringify(rest).replace(/[0-9A-HJKMNP-TV-Z]{26}/g, 'ID')) as unknown;
        };
        const missingId = '01J00000000000000000000000';
        assert.deepEqual(
          await strip(await h.call('tenant-b', 'GET', `/evidence/${a.bundleId}`)),
          await strip(await h.call('tenant-b', 'GET', `/evidence/${missingId}`)),
        );
        assert.equal((await h.call('tenant-b', 'GET', `/evidence/tombstones/${a.bundleId}`)).status, 404);
        assert.deepEqual((await h.json<{ items: unknown[] }>('tenant-b', 'GET', '/evidence/tombstones')).items, []);
        // The app role: tombstones are append-only (no DELETE), and per tenant.
        await assert.rejects(
          h.rt.db.withTenant('tenant-a', (tx) => tx.query('DELETE FROM evidence_locker.tombstones')),
          (err: { code?: string }) => err.code === '42501',
        );
        const asB = await h.rt.db.withTenant('tenant-b', (tx) =>
          tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.tombstones'),
        );
        assert.equal(asB.rows[0]!.n, '0');
      } finally {
        await h.close();
        await db.drop();
      }
    });

    test('SIGKILL at each stage of a purge: the bundle or its tombstone, never neither; the next pass finishes', async () => {
      const db = await createTestDatabase('retention-kill');
      const h = await harness({ STELLA_DATABASE_URL: db.url });
      const child = fileURLToPath(new URL('./testing/purge-crash-child.ts', import.meta.url));
      try {
        const t = 'acme';
        await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
        const stages = ['tombstone-signed', 'committed', 'object-removed'] as const;
        const sealed = new Map<string, string>();
        for (const s of stages) sealed.set(s, (await h.seal(t, 'job', `kill at ${s}`)).bundleId);
        await sleep(1100);
        const tombstones = async () =>
          (
            await h.rt.db.withTenant(t, (tx) =>
              tx.query<{ bundle_id: string; finished_at: Date | null }>(
                'SELECT bundle_id, finished_at FROM evidence_locker.tombstones',
              ),
            )
          ).rows;
        const bundles = async () =>
          (
            await h.rt.db.withTenant(t, (tx) =>
              tx.query<{ bundle_id: string }>('SELECT bundle_id FROM evidence_locker.bundles'),
            )
          ).rows.map((r) => r.bundle_id);

        for (const stage of stages) {
          const before = await bundles();
          const r = await run(
            process.execPath,
            [
              '--conditions=development',
              '--import',
              import.meta.resolve('tsx'),
              child,
              t,
              h.rt.signingKey,
              stage,
              sealed.get(stage)!,
            ],
            { cwd: h.dir, env: { ...process.env, STELLA_DATABASE_URL: db.url }, timeoutMs: 60_000 },
          );
          assert.equal(r.code, null, `killed at ${stage}: ${r.stderr.toString()}`);
          // Whichever bundle the child was on: present as a bundle XOR as a tombstone.
          const now = await bundles();
          const tombs = await tombstones();
          for (const id of before)
            assert.ok(now.includes(id) !== tombs.some((x) => x.bundle_id === id), `${stage}: ${id}`);
          if (stage === 'tombstone-signed') {
            assert.deepEqual(now, before, 'killed inside the transaction: nothing purged');
            assert.equal(tombs.length, 0);
          } else {
            const unfinished = tombs.filter((x) => x.finished_at === null);
            assert.equal(unfinished.length, 1, `${stage}: one tombstone awaits its objects`);
          }
        }
        // A normal pass finishes the interrupted ones and purges the rest; nothing is left behind.
        const pass = await h.json<{ purged: unknown[]; finished: number; pending: number }>(
          t,
          'POST',
          '/evidence/retention/purge',
        );
        assert.equal(pass.pending, 0);
        assert.deepEqual(await bundles(), []);
        const all = await tombstones();
        assert.equal(all.length, 3);
        assert.ok(all.every((x) => x.finished_at !== null));
        for (const id of sealed.values()) {
          assert.equal(await h.rt.store.exists(archiveKey(t, id)), false);
          assert.equal(await h.rt.store.exists(`evidence/${t}/tombstones/${id}.dsse.json`), true);
        }
        for (const s of stages) assert.equal(await h.rt.store.exists(blobKey(t, `kill at ${s}`)), false);
      } finally {
        await h.close();
        await db.drop();
      }
    });
  },
);

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
