/**
 * Evidence Locker → outbox relay → in-process bus → timeline consumer, all inside one
 * `startRuntime` (issue #9 item 4 acceptance: "an evidence.bundle.sealed event from the Evidence
 * Locker appears on the timeline with its evidence link"). A snapshot sealed over HTTP shows up on
 * the timeline with its bundle (Merkle root, manifest digest, where the DSSE envelope is — checked
 * against the bundle itself), on the stream, under digest lookup; holds placed and released on
 * the locker put and take hold markers on the timeline's events; another tenant sees none of it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
const tokens = new Map<string, string>();
before(async () => {
  dir = await tempDir('stella-timeline-e2e-');
  const config = loadConfig(
    {
      STELLA_HTTP_PORT: '0',
      STELLA_WORKERS: '1',
      STELLA_BUS_URL: `memory://timeline-e2e-${Date.now()}`,
      STELLA_TIMELINE_STREAM_POLL_MS: '25',
    },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
});
after(async () => {
  await rt?.close();
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
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function seal(tenant: string): Promise<{ bundleId: string; rootHash: string; manifestDigest: string }> {
  const sbom = Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', tenant }));
  const put = await fetch(`${rt.url}/evidence/blobs/${sha(sbom)}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${tokens.get(tenant)}`,
      'x-stella-tenant': tenant,
      'content-type': 'application/octet-stream',
    },
    body: sbom,
  });
  assert.ok([200, 201].includes(put.status), await put.text());
  const res = await call(tenant, 'POST', '/evidence/snapshot', {
    kind: 'evaluation',
    subject: { name: 'registry.example/app:1.0', digest: sha(`app image ${tenant}`) },
    artifacts: [
      { path: 'inputs/sbom.cdx.json', role: 'input', mediaType: 'application/vnd.cyclonedx+json', digest: sha(sbom) },
    ],
  });
  assert.equal(res.status, 201);
  return body(res);
}

describe('Evidence Locker events on the timeline (one runtime, outbox relay, in-process bus)', () => {
  test('a sealed snapshot appears with its link; holds mark its events; another tenant sees nothing', async () => {
    const [A, B] = ['e2e-a', 'e2e-b'];
    await mintDevToken(rt.devIssuer!, A).then((t) => tokens.set(A, t));
    const s = await seal(A);
    const bundle = await body(await call(A, 'GET', `/evidence/${s.bundleId}`));

    const sealedEvent = await until('the sealed event on the timeline', async () => {
      const page = await body(await call(A, 'GET', '/timeline?kind=evidence.bundle.sealed'));
      return page.events[0];
    });
    assert.equal(sealedEvent.source, 'evidence-locker');
    assert.equal(sealedEvent.attributes.bundleId, s.bundleId);
    const links = await body(await call(A, 'GET', `/timeline/${sealedEvent.eventId}/evidence`));
    // The chain of custody (the locker's evidence.custody.seal, published beside the seal event) is
    // checked in timeline-custody.e2e.test.ts; here the link without it.
    const { custody, ...link } = links.evidence[0];
    assert.ok(custody === undefined || custody.every((c: { action: string }) => c.action === 'seal'));
    assert.deepEqual(
      [link, ...links.evidence.slice(1)],
      [
        {
          bundleId: s.bundleId,
          digest: bundle.archive.digest,
          manifestDigest: s.manifestDigest,
          dsseEnvelope: { href: `/evidence/${s.bundleId}/download`, path: 'signature.json' },
          bundle: {
            rootHash: s.rootHash,
            archiveDigest: bundle.archive.digest,
            manifestDigest: s.manifestDigest,
            kind: 'evaluation',
            leafCount: 1,
            sealedEventId: sealedEvent.eventId,
            sealedAt: new Date(sealedEvent.occurredAt).toISOString(),
          },
        },
      ],
    );
    // Where the envelope is: the archive the href serves has the digest the link names — until
    // the seal's transparency-log entry is integrated; from then on the download also carries
    // log/ proof files (docs/evidence/transparency-log.md), so it is another archive around the
    // same sealed files, said by X-Stella-Log-Proof.
    const served = await call(A, 'GET', links.evidence[0].dsseEnvelope.href);
    const archive = Buffer.from(await served.arrayBuffer());
    const proof = served.headers.get('x-stella-log-proof');
    if (proof === 'pending') assert.equal(sha(archive), links.evidence[0].bundle.archiveDigest);
    else {
      assert.equal(proof, 'included');
      assert.ok(gunzipSync(archive).includes(Buffer.from('log/checkpoint.txt')), 'the proof files are in it');
    }
    for (const d of [`sha256:${s.rootHash}`, s.manifestDigest, bundle.archive.digest]) {
      const found = await body(await call(A, 'GET', `/timeline?digest=${d}&kind=evidence.bundle.sealed`));
      assert.deepEqual(
        found.events.map((e: { eventId: string }) => e.eventId),
        [sealedEvent.eventId],
        d,
      );
    }

    // Holds: two cases on the bundle; the download event (linked too) is marked; released one by one.
    const downloaded = await until('the download event', async () => {
      const page = await body(await call(A, 'GET', '/timeline?kind=evidence.bundle.downloaded'));
      return page.events[0];
    });
    for (const c of ['case-1', 'case-2'])
      assert.equal(
        (await call(A, 'POST', `/evidence/hold/${c}`, { reason: 'litigation', bundleIds: [s.bundleId] })).status,
        201,
      );
    const holds = async (id: string) => (await body(await call(A, 'GET', `/timeline/${id}`))).legalHolds;
    await until('both holds on the timeline', async () =>
      JSON.stringify(await holds(sealedEvent.eventId)) === '["case-1","case-2"]' ? true : undefined,
    );
    assert.deepEqual(await holds(downloaded.eventId), ['case-1', 'case-2']);
    assert.equal((await call(A, 'DELETE', '/evidence/hold/case-1', { reason: 'settled' })).status, 200);
    await until('case-1 released', async () =>
      JSON.stringify(await holds(sealedEvent.eventId)) === '["case-2"]' ? true : undefined,
    );
    assert.equal((await call(A, 'DELETE', '/evidence/hold/case-2', { reason: 'settled' })).status, 200);
    await until('no hold left', async () => ((await holds(sealedEvent.eventId)) === undefined ? true : undefined));

    // Tenant B: nothing of A's on its timeline, by id or by digest.
    await mintDevToken(rt.devIssuer!, B).then((t) => tokens.set(B, t));
    assert.deepEqual((await body(await call(B, 'GET', '/timeline'))).events, []);
    assert.equal((await call(B, 'GET', `/timeline/${sealedEvent.eventId}/evidence`)).status, 404);
    assert.deepEqual((await body(await call(B, 'GET', `/timeline?digest=sha256:${s.rootHash}`))).events, []);
  });
});
