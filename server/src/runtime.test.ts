/**
 * The runtime in process (issue #6 item 6): `startRuntime` on PGlite, the fs object store and the
 * in-process bus, with a dummy service that uses the tenant context (RLS transaction, audit,
 * outbox) — fast enough for service tests, beside the spawned-process tests of `stella serve`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { tenantRoute } from '@stella/platform/http';
import { defineService, type BackgroundWorker, type ServiceModule } from '@stella/platform/service';
import type { EventEnvelope } from '@stella/platform/bus';
import { SERVICES } from './service-registry.js';
import { mintDevToken, startRuntime } from './runtime.js';

interface Probe {
  started: string[];
  stopped: string[];
}

async function echoService(dir: string, probe: Probe): Promise<ServiceModule> {
  const migrations = join(dir, 'echo-migrations');
  await mkdir(migrations, { recursive: true });
  await writeFile(
    join(migrations, '0001_schema.sql'),
    `CREATE SCHEMA echo;
     GRANT USAGE ON SCHEMA echo TO \${app_role};
     CREATE TABLE echo.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true), note text NOT NULL);
     ALTER TABLE echo.notes ENABLE ROW LEVEL SECURITY;
     ALTER TABLE echo.notes FORCE ROW LEVEL SECURITY;
     CREATE POLICY tenant_isolation ON echo.notes TO \${app_role}
       USING (tenant_id = current_setting('app.tenant_id', true))
       WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
     GRANT SELECT, INSERT ON echo.notes TO \${app_role};`,
  );
  return defineService({
    name: 'echo',
    summary: 'test service',
    migrations: { name: 'echo', dir: migrations },
    openApiTags: [{ name: 'echo', description: 'Echo routes' }],
    routes: (deps) => [
      (app) => {
        app.post(
          '/echo/notes',
          {
            config: tenantRoute('timeline:write'),
            schema: {
              tags: ['echo'],
              body: {
                type: 'object',
                required: ['note'],
                additionalProperties: false,
                properties: { note: { type: 'string' } },
              },
              response: { 201: { type: 'object', properties: { count: { type: 'integer' } } } },
            },
          },
          async (req, reply) => {
            const ctx = deps.tenants.forRequest(req);
            const { note } = req.body as { note: string };
            const count = await ctx.transaction(async (tx) => {
              await tx.query('INSERT INTO echo.notes (note) VALUES ($1)', [note]);
              await tx.audit({ action: 'echo.note', resource: note });
              await tx.publish({ kind: 'echo.noted', subject: note });
              const r = await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM echo.notes');
              return Number(r.rows[0]!.n);
            });
            return reply.status(201).send({ count });
          },
        );
      },
    ],
    workers: (_deps, count) =>
      Array.from({ length: count }, (_, i): BackgroundWorker => ({
        name: `echo-${i}`,
        start: () => void probe.started.push(`echo-${i}`),
        stop: async () => void probe.stopped.push(`echo-${i}`),
      })),
  });
}

describe('startRuntime in process (PGlite, fs store, memory bus)', () => {
  test('routes, tenant context (RLS + audit + outbox), OpenAPI and --workers N', async () => {
    const dir = await tempDir();
    const probe: Probe = { started: [], stopped: [] };
    try {
      const registry = [...SERVICES, await echoService(dir.path, probe)];
      const config = loadConfig(
        { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '3', STELLA_BUS_URL: 'memory://runtime-test' },
        {},
        { cwd: dir.path, services: registry },
      );
      const rt = await startRuntime(config, { version: '0.0.0-test', logger: false, registry });
      try {
        assert.deepEqual(rt.workers, [
          'outbox-relay',
          'evidence-purge',
          'evidence-sweeper',
          'evidence-log-sequencer',
          'export-run-worker',
          'export-scheduler',
          'timeline-consumer-0',
          'timeline-consumer-1',
          'timeline-consumer-2',
          'timeline-maintenance',
          'timeline-log',
          'echo-0',
          'echo-1',
          'echo-2',
        ]);
        assert.deepEqual(probe.started, ['echo-0', 'echo-1', 'echo-2']);
        const published: EventEnvelope[] = [];
        await rt.bus.subscribe('runtime-test', async (e) => void published.push(e));

        const tokenA = await mintDevToken(rt.devIssuer!, 'tenant-a');
        const tokenB = await mintDevToken(rt.devIssuer!, 'tenant-b');
        const post = (token: string, tenant: string, note: string) =>
          fetch(`${rt.url}/echo/notes`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'x-stella-tenant': tenant,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ note }),
          });
        assert.deepEqual(await (await post(tokenA, 'tenant-a', 'a1')).json(), { count: 1 });
        assert.deepEqual(await (await post(tokenA, 'tenant-a', 'a2')).json(), { count: 2 });
        // Another tenant sees only its own rows (RLS through the tenant context).
        assert.deepEqual(await (await post(tokenB, 'tenant-b', 'b1')).json(), { count: 1 });
        assert.equal((await post(tokenA, 'tenant-b', 'x')).status, 403);

        const audit = await rt.db.query<{ tenant_id: string; service: string; action: string; actor: string }>(
          'SELECT tenant_id, service, action, actor FROM stella_platform.audit_log ORDER BY id',
        );
        assert.deepEqual(
          audit.rows.map((r) => [r.tenant_id, r.service, r.action, r.actor]),
          [
            ['tenant-a', 'echo', 'echo.note', 'dev-user'],
            ['tenant-a', 'echo', 'echo.note', 'dev-user'],
            ['tenant-b', 'echo', 'echo.note', 'dev-user'],
          ],
        );
        // The outbox relay (a worker) publishes each committed event with the service as source.
        const deadline = Date.now() + 5000;
        while (published.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        assert.deepEqual(published.map((e) => [e.tenant, e.kind, e.source, e.subject, e.actor]).sort(), [
          ['tenant-a', 'echo.noted', 'echo', 'a1', 'dev-user'],
          ['tenant-a', 'echo.noted', 'echo', 'a2', 'dev-user'],
          ['tenant-b', 'echo.noted', 'echo', 'b1', 'dev-user'],
        ]);

        const doc = (await (await fetch(`${rt.url}/.well-known/openapi`)).json()) as {
          paths: Record<string, unknown>;
          tags: { name: string }[];
        };
        assert.ok(doc.paths['/echo/notes']);
        assert.deepEqual(
          doc.tags.map((t) => t.name),
          [...SERVICES.flatMap((s) => s.openApiTags ?? []).map((t) => t.name), 'echo'].sort(),
        );
        assert.equal((await fetch(`${rt.url}/readyz`)).status, 200);
        // Services register their collectors in the app's registry (ServiceDeps.metrics).
        assert.match(
          await (await fetch(`${rt.url}/metrics`)).text(),
          /^# TYPE stella_timeline_ingest_in_flight gauge$/m,
        );
      } finally {
        await rt.close();
      }
      assert.deepEqual(probe.stopped.sort(), ['echo-0', 'echo-1', 'echo-2']);
    } finally {
      await dir.cleanup();
    }
  });

  test('--workers 0 serves HTTP only; --services leaves other services out', async () => {
    const dir = await tempDir();
    const probe: Probe = { started: [], stopped: [] };
    try {
      const registry = [...SERVICES, await echoService(dir.path, probe)];
      const config = loadConfig(
        { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_SERVICES: 'export-center' },
        {},
        { cwd: dir.path, services: registry },
      );
      const rt = await startRuntime(config, { version: '0.0.0-test', logger: false, registry });
      try {
        assert.deepEqual(rt.workers, []);
        assert.deepEqual(probe.started, []);
        assert.deepEqual(
          rt.services.map((s) => s.name),
          ['export-center'],
        );
        // Migrations of every registered service still apply (one schema for all replicas).
        assert.ok(rt.applied.some((m) => m.set === 'echo'));
        assert.equal((await fetch(`${rt.url}/echo/notes`, { method: 'POST' })).status, 404);
      } finally {
        await rt.close();
      }
    } finally {
      await dir.cleanup();
    }
  });
});
