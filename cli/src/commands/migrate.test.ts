import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, needService, tempDir } from '@stella/testkit';
import { openDb } from '@stella/platform/db';
import { runCli } from '../testing/run-cli.js';

const SERVICE_FILES = [
  'evidence-locker/0001_schema.sql',
  'export-center/0001_schema.sql',
  'timeline-indexer/0001_schema.sql',
];

function flowFor(
  label: string,
  skip: string | false,
  target: () => Promise<{ args: string[]; env: NodeJS.ProcessEnv; cleanup: () => Promise<void> }>,
) {
  describe(`stella migrate (${label})`, { skip }, () => {
    let t: { args: string[]; env: NodeJS.ProcessEnv; cleanup: () => Promise<void> };
    const cli = (argv: string[]) => runCli([...argv, ...t.args], { env: t.env });
    before(async () => {
      t = await target();
    });
    after(async () => t?.cleanup());

    test('plan → migrate → status → migrate again', async () => {
      const plan = await cli(['migrate', 'plan', '--json']);
      assert.equal(plan.code, 0, plan.stderr);
      const planned = (JSON.parse(plan.stdout) as { plan: { set: string; file: string; checksum: string }[] }).plan;
      for (const f of SERVICE_FILES)
        assert.ok(
          planned.some((p) => `${p.set}/${p.file}` === f),
          f,
        );

      const human = await cli(['migrate', 'plan']);
      assert.match(human.stdout, /Would apply to .* in order:\n/);
      assert.match(human.stdout, /evidence-locker\/0001_schema\.sql {2}sha256:[0-9a-f]{64}/);

      const run = await cli(['migrate']);
      assert.equal(run.code, 0, run.stderr);
      for (const f of SERVICE_FILES)
        assert.match(run.stdout, new RegExp(`applied ${f.replace('.', '\\.')} \\(\\d+ ms\\)`));
      assert.match(run.stdout, new RegExp(`${planned.length} migration\\(s\\) applied\\.`));

      const status = await cli(['migrate', 'status', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const st = JSON.parse(status.stdout) as { migrations: { state: string }[]; pending: number; changed: number };
      assert.equal(st.pending, 0);
      assert.equal(st.changed, 0);
      assert.ok(st.migrations.length >= 3 && st.migrations.every((m) => m.state === 'applied'));
      const statusHuman = await cli(['migrate', 'status']);
      assert.match(statusHuman.stdout, /applied {2}evidence-locker\/0001_schema\.sql +\d{4}-\d\d-\d\dT/);

      const again = await cli(['migrate', '--json']);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout).applied, []);
      const planAgain = await cli(['migrate', 'plan']);
      assert.match(planAgain.stdout, /Nothing to apply/);
    });

    test('an edited applied migration: status exits 1 and shows it, migrate and plan refuse', async () => {
      // Simulate the edit on the database side (the files belong to the repository).
      const dataDir = t.args[0] === '--data-dir' ? t.args[1] : undefined;
      const db = await openDb(
        dataDir ? { kind: 'pglite', dataDir } : { kind: 'postgres', url: t.env.STELLA_DATABASE_URL! },
      );
      try {
        await db.query(
          "update stella_migrations.applied set checksum = repeat('0', 64) where set_name = 'export-center' and version = 1",
        );
      } finally {
        await db.close();
      }
      const status = await cli(['migrate', 'status']);
      assert.equal(status.code, 1);
      assert.match(status.stdout, /changed {2}export-center\/0001_schema\.sql/);
      assert.match(status.stdout, /1 changed\./);
      const run = await cli(['migrate']);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /MIGRATION_CHECKSUM_MISMATCH: .*export-center\/0001_schema\.sql/);
      const plan = await cli(['migrate', 'plan', '--json']);
      assert.equal(plan.code, 1);
      assert.match(plan.stderr, /MIGRATION_CHECKSUM_MISMATCH/);
    });

    test('usage errors exit 2', async () => {
      const r = await cli(['migrate', 'extra']);
      assert.equal(r.code, 2);
      const bad = await cli(['migrate', '--no-such-flag']);
      assert.equal(bad.code, 2);
      const timeout = await cli(['migrate', '--lock-timeout', 'soon']);
      assert.equal(timeout.code, 2);
      assert.match(timeout.stderr, /--lock-timeout/);
    });
  });
}

flowFor('pglite --data-dir', false, async () => {
  const dir = await tempDir('stella-cli-migrate-');
  const env = { ...process.env };
  delete env.STELLA_DATABASE_URL;
  return { args: ['--data-dir', join(dir.path, 'data')], env, cleanup: dir.cleanup };
});

flowFor('postgres via STELLA_DATABASE_URL', await needService('postgres'), async () => {
  const tdb = await createTestDatabase('climigrate');
  return { args: [], env: { ...process.env, STELLA_DATABASE_URL: tdb.url }, cleanup: tdb.drop };
});

describe('stella migrate: failures', () => {
  test('an unreachable database exits 1 with DB_UNAVAILABLE and no password', async () => {
    const r = await runCli(['migrate', 'status', '--database-url', 'postgres://u:hunter2@127.0.0.1:1/x'], {
      env: { ...process.env },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DB_UNAVAILABLE/);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  });
  test('a data dir in use by another live process is refused, not touched', async () => {
    const dir = await tempDir();
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir.path, 'pgdata.lock'), `${process.ppid}\n`);
      const r = await runCli(['migrate', '--data-dir', dir.path], { env: { ...process.env, STELLA_DATABASE_URL: '' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /DB_UNAVAILABLE: .*in use by process/);
      assert.equal(existsSync(join(dir.path, 'pgdata', 'PG_VERSION')), false);
    } finally {
      await dir.cleanup();
    }
  });
});
