import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot, run } from '@stella/testkit';
import { loadMigrationSets } from '@stella/platform/db';
import { migrationSets } from './migration-sets.js';

test('migrationSets: platform first, then one folder per service, all loadable', async () => {
  const sets = migrationSets();
  assert.deepEqual(
    sets.map((s) => [s.name, s.dir]),
    [
      ['platform', join(repoRoot, 'packages/platform/migrations')],
      ['evidence-locker', join(repoRoot, 'services/evidence-locker/migrations')],
      ['export-center', join(repoRoot, 'services/export-center/migrations')],
      ['timeline-indexer', join(repoRoot, 'services/timeline-indexer/migrations')],
    ],
  );
  const files = await loadMigrationSets(sets);
  for (const svc of ['evidence-locker', 'export-center', 'timeline-indexer']) {
    assert.ok(
      files.some((f) => f.set === svc && f.file === '0001_schema.sql'),
      svc,
    );
  }
});

test('migrationSets resolves the same folders from the built dist (no development condition)', async () => {
  const script = `import('${join(repoRoot, 'server/src/migration-sets.ts')}').then((m) => console.log(JSON.stringify(m.migrationSets())))`;
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot });
  assert.equal(r.code, 0, r.stderr.toString());
  assert.deepEqual(JSON.parse(r.stdout.toString()), migrationSets());
});
