/**
 * Evidence Locker custody and incident events on the timeline, end to end (issue #9 item 4):
 * one `startRuntime` on PostgreSQL 15 with NATS JetStream as the bus (its own
 * STELLA_BUS_NAMESPACE stream), so the locker's events go outbox → relay → JetStream → the
 * timeline consumer. A sealed snapshot, its download and verification, a legal hold placed and
 * released, and incident mode on and off show up as `evidence.custody.*` and
 * `evidence.incident.*` events; the custody events without references are linked to the bundle
 * (seal, holds, DSSE location), every bundle link lists the chain of custody, the events during
 * the incident are linked to it; another tenant sees none of it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTestDatabase, needService, services, tempDir, uniqueName } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { deleteNatsStream } from '@stella/platform/bus';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const skip = await needService('postgres', 'nats');
const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let rt: Runtime;
let namespace: string;
const tokens = new Map<string, string>();
before(async () => {
  if (skip) return;
  dir = await tempDir('stella-timeline-custody-');
  db = await createTestDatabase('tl_custody');
  namespace = uniqueName('tlcust')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 32);
  const config = loadConfig(
    {
      STELLA_HTTP_PORT: '0',
      STELLA_WORKERS: '1',
      STELLA_DATABASE_URL: db.url,
      STELLA_BUS_URL: services.nats.url,
      STELLA_BUS_NAMESPACE: namespace,
    },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
});
after(async () => {
  await rt?.close();
  if (namespace)
    await deleteNatsStream(services.nats.url, `STELLA_EVENTS_${namespace.toUpperCase().replace(/-/g, '_')}`).catch(
      () => undefined,
    );
  await db?.drop();
  await dir?.cleanup();
});

async function call(tenant: string, method: string, path: string, json?: unknown): Promise<Response> {
  if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken(rt.devIssuer!, tenant));
  return fetch(`${rt.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens.get(tenant)}`,
      'x-stella-tenant': tenant,
      ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
}
const body = async (res: Response) => {
  const text = await res.text();
  assert.ok(res.ok, `${res.status} ${text}`);
  return JSON.parse(text);
};
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
type Ev = { eventId: string; kind: string; occurredAt: string; attributes?: Record<string, unknown> };
const timeline = async (tenant: string, query = ''): Promise<Ev[]> =>
  (await body(await call(tenant, 'GET', `/timeline?limit=1000${query}`))).events;
const ofKind = async (tenant: string, kind: string, n = 1) =>
  until(`${n} × ${kind}`, async () => {
    const got = await timeline(tenant, `&kind=${kind}`);
    return got.length >= n ? got : undefined;
  });

describe('Evidence Locker custody and incidents on the timeline (PostgreSQL, NATS)', { skip, timeout: 180_000 }, () => {
  test('custody and incident events are linked to the bundle and the incident; another tenant sees none', async () => {
    const [A, B] = ['cust-e2e-a', 'cust-e2e-b'];
    await call(A, 'GET', '/v1/whoami'); // mints A's token
    const sbom = Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', tenant: A }));
    const put = await fetch(`${rt.url}/evidence/blobs/${sha(sbom)}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${tokens.get(A)}`,
        'x-stella-tenant': A,
        'content-type': 'application/octet-stream',
      },
      body: sbom,
    });
    assert.ok([200, 201].includes(put.status), await put.text());
    const snap = await call(A, 'POST', '/evidence/snapshot', {
      kind: 'evaluation',
      subject: { name: 'registry.example/app:1.0', digest: sha(`app image ${A}`) },
      artifacts: [
        { path: 'inputs/sbom.cdx.json', role: 'input', mediaType: 'application/vnd.cyclonedx+json', digest: sha(sbom) },
      ],
    });
    assert.equal(snap.status, 201);
    const s = (await body(snap)) as { bundleId: string; rootHash: string; manifestDigest: string };
    const bundle = await body(await call(A, 'GET', `/evidence/${s.bundleId}`));
    const archive = await call(A, 'GET', `/evidence/${s.bundleId}/download`);
    assert.equal(archive.status, 200);
    await archive.arrayBuffer();
    assert.equal((await call(A, 'POST', '/evidence/verify', { bundleId: s.bundleId })).status, 200);
    assert.equal(
      (await call(A, 'POST', `/evidence/hold/case-77`, { reason: 'litigation', bundleIds: [s.bundleId] })).status,
      201,
    );
    assert.equal((await call(A, 'DELETE', '/evidence/hold/case-77', { reason: 'settled' })).status, 200);
    const on = await call(A, 'POST', '/evidence/incident', { active: true, reason: 'INC-77: suspected leak' });
    assert.equal(on.status, 200, await on.clone().text());
    const incidentId = (await body(on)).incident.id as string;
    // During the incident: another download.
    const during = await call(A, 'GET', `/evidence/${s.bundleId}/download`);
    await during.arrayBuffer();
    assert.equal((await call(A, 'POST', '/evidence/incident', { active: false, reason: 'contained' })).status, 200);

    // Everything reached the timeline through the outbox and JetStream.
    const kinds = [
      'evidence.custody.seal',
      'evidence.custody.verify',
      'evidence.custody.hold',
      'evidence.custody.release',
      'evidence.custody.incident-activated',
      'evidence.custody.incident-deactivated',
      'evidence.incident.activated',
      'evidence.incident.deactivated',
    ];
    for (const k of kinds) await ofKind(A, k);
    const downloads = await ofKind(A, 'evidence.custody.download', 2);
    const [holdCustody] = await ofKind(A, 'evidence.custody.hold');
    const [sealed] = await ofKind(A, 'evidence.bundle.sealed');

    // The hold's custody event has no evidence reference of its own: linked to the bundle anyway.
    const links = await body(await call(A, 'GET', `/timeline/${holdCustody!.eventId}/evidence`));
    assert.equal(links.evidence.length, 1);
    const link = links.evidence[0];
    assert.equal(link.origin, 'custody');
    assert.equal(link.bundleId, s.bundleId);
    assert.equal(link.digest, bundle.archive.digest);
    assert.deepEqual(link.dsseEnvelope, { href: `/evidence/${s.bundleId}/download`, path: 'signature.json' });
    assert.equal(link.bundle.rootHash, s.rootHash);
    assert.equal(link.bundle.manifestDigest, s.manifestDigest);
    assert.equal(link.bundle.sealedEventId, sealed!.eventId);
    assert.equal(link.legalHolds, undefined); // released since
    // The chain of custody, in timeline order, as the locker recorded it.
    const actions = link.custody.map((c: { action: string }) => c.action);
    assert.deepEqual(actions, ['seal', 'download', 'verify', 'hold', 'release', 'download']);
    assert.ok(link.custody.every((c: { actor?: string }) => c.actor === 'dev-user'));
    // The hold placed/released events are linked to the bundle they name in their payload.
    const [placed] = await ofKind(A, 'evidence.hold.placed');
    const placedLinks = (await body(await call(A, 'GET', `/timeline/${placed!.eventId}/evidence`))).evidence;
    assert.deepEqual(
      placedLinks.map((l: { origin: string; bundleId: string }) => [l.origin, l.bundleId]),
      [['hold', s.bundleId]],
    );

    // The incident: its events name it; the download during it is linked to it.
    const [activated] = await ofKind(A, 'evidence.incident.activated');
    const [deactivated] = await ofKind(A, 'evidence.incident.deactivated');
    const expected = {
      incidentId,
      active: false,
      activatedAt: new Date(activated!.occurredAt).toISOString(),
      activatedEventId: activated!.eventId,
      activateReason: 'INC-77: suspected leak',
      deactivatedAt: new Date(deactivated!.occurredAt).toISOString(),
      deactivatedEventId: deactivated!.eventId,
      deactivateReason: 'contained',
    };
    const lastDownload = downloads[downloads.length - 1]!;
    for (const id of [activated!.eventId, deactivated!.eventId, lastDownload.eventId])
      assert.deepEqual((await body(await call(A, 'GET', `/timeline/${id}/evidence`))).incidents, [expected], id);
    assert.equal(
      (await body(await call(A, 'GET', `/timeline/${downloads[0]!.eventId}/evidence`))).incidents,
      undefined,
    );

    // Tenant B: none of A's events, links or incidents.
    assert.deepEqual(await timeline(B), []);
    assert.equal((await call(B, 'GET', `/timeline/${holdCustody!.eventId}/evidence`)).status, 404);
    assert.equal((await call(B, 'GET', `/timeline/${activated!.eventId}/evidence`)).status, 404);
  });
});
