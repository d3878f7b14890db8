/**
 * The service seam (issue #6 item 1): every consumer reads the one registry. A dummy
 * `ServiceModule` added in a test is enough for its route to reach the served OpenAPI document,
 * the generated docs/openapi.json and docs/config.md, and its migration to reach `migrate plan`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, run, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { loadMigrationSets, migrationPlan, openDb } from '@stella/platform/db';
import { defineService, type ServiceModule } from '@stella/platform/service';
import { stableOpenApiJson } from '@stella/platform/http';
import { SERVICES, migrationSets, selectServices } from './service-registry.js';
import { serviceConfigMarkdown, serviceOpenApiDocument } from './service-docs.js';

async function dummyService(dir: string): Promise<ServiceModule> {
  const migrations = join(dir, 'migrations');
  await mkdir(migrations, { recursive: true });
  await writeFile(join(migrations, '0001_schema.sql'), 'CREATE SCHEMA dummy_echo;\n');
  return defineService({
    name: 'dummy-echo',
    summary: 'A test service',
    migrations: { name: 'dummy-echo', dir: migrations },
    openApiTags: [{ name: 'dummy', description: 'Dummy routes' }],
    variables: [
      {
        name: 'STELLA_DUMMY_GREETING',
        audience: 'server',
        type: 'string',
        default: 'hello',
        description: 'What the dummy says.',
        parse: (raw: string) => raw,
      },
    ],
    routes: () => [
      (app) => {
        app.get(
          '/dummy/echo',
          { config: { auth: false }, schema: { tags: ['dummy'], response: { 200: { type: 'object' } } } },
          async () => ({}),
        );
      },
    ],
  });
}

test('the registry: platform set first, then one set per registered service, all loadable', async () => {
  assert.deepEqual(
    SERVICES.map((s) => s.name),
    ['evidence-locker', 'export-center', 'timeline-indexer'],
  );
  const sets = migrationSets();
  assert.deepEqual(
    sets.map((s) => [s.name, s.dir]),
    [
      ['platform', join(repoRoot, 'packages/platform/migrations')],
      // Required by the evidence locker (its per-tenant transparency log), applied once.
      ['tlog', join(repoRoot, 'packages/platform/tlog-migrations')],
      ...SERVICES.map((s) => [s.name, join(repoRoot, 'services', s.name, 'migrations')]),
    ],
  );
  const files = await loadMigrationSets(sets);
  for (const s of SERVICES)
    assert.ok(
      files.some((f) => f.set === s.name && f.file === '0001_schema.sql'),
      s.name,
    );
  assert.throws(() => selectServices(['billing']), /unknown service/);
});

test('the registry resolves the same migration folders from the built dist (no development condition)', async () => {
  const script = `import('${join(repoRoot, 'server/dist/service-registry.js')}').then((m) => console.log(JSON.stringify(m.migrationSets())))`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot });
  assert.equal(r.code, 0, r.stderr.toString());
  assert.deepEqual(JSON.parse(r.stdout.toString()), migrationSets());
});

test('every consumer lists every registered service: config, docs/config.md, docs/openapi.json', async () => {
  const config = loadConfig({}, {}, { services: SERVICES });
  assert.deepEqual(
    config.services,
    SERVICES.map((s) => s.name),
  );
  const md = serviceConfigMarkdown();
  for (const s of SERVICES) assert.ok(md.includes(`\`${s.name}\``), `docs/config.md lists ${s.name}`);
  // The committed document is exactly what the registry's routes generate.
  const committed = await readFile(join(repoRoot, 'docs/openapi.json'), 'utf8');
  const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(committed, stableOpenApiJson(await serviceOpenApiDocument(version)));
});

test('a dummy ServiceModule reaches the OpenAPI document, docs/config.md, its config and migrate plan', async () => {
  const dir = await tempDir();
  try {
    const dummy = await dummyService(dir.path);
    const registry = [...SERVICES, dummy];
    const doc = await serviceOpenApiDocument('0.0.0-test', registry);
    assert.ok(doc.paths['/dummy/echo'], 'route in the OpenAPI document');
    assert.deepEqual(
      (doc.tags as { name: string }[]).map((t) => t.name),
      [...SERVICES.flatMap((s) => s.openApiTags ?? []).map((t) => t.name), 'dummy'].sort(),
    );
    const md = serviceConfigMarkdown(registry);
    assert.match(md, /`dummy-echo` — A test service/);
    assert.match(md, /STELLA_DUMMY_GREETING/);

    const config = loadConfig({ STELLA_DUMMY_GREETING: 'hi' }, {}, { services: registry, cwd: dir.path });
    assert.ok(config.services.includes('dummy-echo'));
    assert.deepEqual(config.serviceSettings['dummy-echo'], { STELLA_DUMMY_GREETING: 'hi' });

    const db = await openDb({ kind: 'pglite', dataDir: dir.path });
    try {
      const plan = await migrationPlan(db, migrationSets(registry));
      assert.ok(plan.some((p) => p.set === 'dummy-echo' && p.file === '0001_schema.sql'));
    } finally {
      await db.close();
    }
  } finally {
    await dir.cleanup();
  }
});
