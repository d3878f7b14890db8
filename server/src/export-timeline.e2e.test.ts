/**
 * Export Center lifecycle events on the timeline (issue #11 §6 acceptance: "lifecycle events land
 * on the timeline"): one `startRuntime` on the embedded defaults (PGlite, in-process bus) with
 * every service. A run created over HTTP publishes `export.requested` (in the run's transaction)
 * and `export.built` with the archive and manifest digests as evidence references (in the
 * success transaction); the outbox relay puts them on the bus, the Timeline Indexer stores them.
 * Shown: both events appear under the run as subject, in order, with the source and the digests;
 * a digest lookup of the archive digest finds `export.built`; the other tenant sees nothing; the
 * relay's redelivery does not store an event twice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsDir, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const A = 'acme';
const B = 'globex';

interface TimelineEvent {
  eventId: string;
  kind: string;
  source: string;
  subject?: string;
  attributes?: Record<string, unknown>;
  evidence?: { digest?: string; manifestDigest?: string }[];
}

describe('export lifecycle events on the timeline (embedded runtime)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  const tokens = new Map<string, string>();

  before(async () => {
    dir = await tempDir('stella-export-timeline-');
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '1',
        STELLA_BUS_URL: `memory://export-timeline-${Date.now()}`,
        STELLA_EXPORT_POLL_MS: '50',
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

  async function call(tenant: string, method: string, path: string, body?: unknown, type = 'application/json') {
    if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken(rt.devIssuer!, tenant));
    const res = await fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens.get(tenant)}`,
        'x-stella-tenant': tenant,
        ...(body !== undefined ? { 'content-type': type } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
  }
  async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  test('export.requested and export.built reach the timeline with the run and its digests; tenant-isolated', async () => {
    // Real advisories (Go vulndb OSV records, ../shared/datasets/SOURCE.md) through the HTTP importer.
    const osvDir = join(datasetsDir, 'osv/go-vulndb');
    for (const f of (await readdir(osvDir))
      .filter((n) => n.endsWith('.json'))
      .sort()
      .slice(0, 5)) {
      const r = await call(A, 'POST', '/v1/sources/advisory', await readFile(join(osvDir, f), 'utf8'));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const profile = await call(A, 'POST', '/v1/exports/profiles', {
      name: 'advisories',
      adapter: 'json:raw',
      filter: { kinds: ['advisory'] },
    });
    assert.equal(profile.status, 201, JSON.stringify(profile.body));
    const created = await call(A, 'POST', '/v1/exports/runs', { profileId: profile.body.id });
    assert.equal(created.status, 202);
    const runId = created.body.id as string;
    const done = await until('the run to succeed', async () => {
      const r = await call(A, 'GET', `/v1/exports/runs/${runId}`);
      assert.ok(!['failed', 'cancelled'].includes(r.body.status), JSON.stringify(r.body));
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    const archiveDigest = done.result.archive.digest as string;
    const manifestDigest = done.result.manifestDigest as string;
    assert.match(archiveDigest, /^sha256:[0-9a-f]{64}$/);

    const events = await until('both lifecycle events on the timeline', async () => {
      const r = await call(A, 'GET', `/timeline?subject=${encodeURIComponent(runId)}&limit=50`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const items = r.body.events as TimelineEvent[];
      return items.some((e) => e.kind === 'export.built') && items.some((e) => e.kind === 'export.requested')
        ? items
        : undefined;
    });
    const kinds = events.map((e) => e.kind);
    assert.ok(kinds.indexOf('export.requested') < kinds.indexOf('export.built'), kinds.join(', '));
    assert.equal(kinds.filter((k) => k === 'export.built').length, 1, 'stored once');
    const requested = events.find((e) => e.kind === 'export.requested')!;
    const built = events.find((e) => e.kind === 'export.built')!;
    assert.equal(requested.source, 'export-center');
    assert.equal(requested.attributes?.profileId, profile.body.id);
    assert.equal(built.attributes?.runId, runId);
    assert.deepEqual(
      built.evidence?.map((e) => ({ digest: e.digest, manifestDigest: e.manifestDigest })),
      [{ digest: archiveDigest, manifestDigest }],
    );

    // The archive digest finds the event; the manifest reference is the run's.
    const byDigest = await call(A, 'GET', `/timeline?digest=${encodeURIComponent(archiveDigest)}`);
    assert.equal(byDigest.status, 200);
    assert.deepEqual(
      (byDigest.body.events as TimelineEvent[]).map((e) => e.eventId),
      [built.eventId],
    );
    const one = await call(A, 'GET', `/timeline/${encodeURIComponent(built.eventId)}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.kind, 'export.built');

    // globex sees none of it: not by subject, not by digest, not by id.
    const other = await call(B, 'GET', `/timeline?subject=${encodeURIComponent(runId)}`);
    assert.equal(other.status, 200);
    assert.deepEqual(other.body.events, []);
    const otherDigest = await call(B, 'GET', `/timeline?digest=${encodeURIComponent(archiveDigest)}`);
    assert.deepEqual(otherDigest.body.events, []);
    const otherOne = await call(B, 'GET', `/timeline/${encodeURIComponent(built.eventId)}`);
    assert.equal(otherOne.status, 404);
  });
});
