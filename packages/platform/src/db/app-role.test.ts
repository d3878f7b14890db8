/**
 * Cluster-wide behaviour of the app role bootstrap on real PostgreSQL: roles are shared by all
 * databases of a server while advisory locks are per database, so two runners against two
 * databases can create the same role at the same moment.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isStellaError } from '@stella/core/errors';
import pg from 'pg';
import { join } from 'node:path';
import { createTestDatabase, needService, needTool, repoRoot, run, services, uniqueName } from '@stella/testkit';
import { migrate, openDb } from './index.js';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: services.postgres.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('app role bootstrap (pg)', { skip: await needService('postgres') }, () => {
  test('two databases bootstrapping the same new role concurrently both succeed', async () => {
    const role = uniqueName('stella_app_race').toLowerCase();
    const [d1, d2] = await Promise.all([createTestDatabase('race1'), createTestDatabase('race2')]);
    const [a, b] = await Promise.all([
      openDb({ kind: 'postgres', url: d1.url }, { appRole: role }),
      openDb({ kind: 'postgres', url: d2.url }, { appRole: role }),
    ]);
    try {
      for (let round = 0; round < 3; round++) await Promise.all([migrate(a, []), migrate(b, [])]);
      const { rows } = await a.query<Record<string, boolean>>(
        'select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = $1',
        [role],
      );
      assert.deepEqual(rows, [{ rolsuper: false, rolbypassrls: false, rolcanlogin: false }]);
      // withTenant switches to the configured role.
      const who = await b.withTenant('t1', (tx) => tx.query<{ u: string }>('select current_user as u'));
      assert.equal(who.rows[0]!.u, role);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([d1.drop(), d2.drop()]);
      await admin((c) => c.query(`DROP ROLE IF EXISTS "${role}"`));
    }
  });

  test('a pre-existing app role with BYPASSRLS is refused: tenant isolation would not hold', async () => {
    const role = uniqueName('stella_app_bypass').toLowerCase();
    const d = await createTestDatabase('bypass');
    await admin((c) => c.query(`CREATE ROLE "${role}" NOLOGIN BYPASSRLS`));
    const db = await openDb({ kind: 'postgres', url: d.url }, { appRole: role });
    try {
      await assert.rejects(
        migrate(db, []),
        (e: unknown) => isStellaError(e, 'MIGRATION_FAILED') && /BYPASSRLS/.test((e as Error).message),
      );
    } finally {
      await db.close();
      await d.drop();
      await admin((c) => c.query(`DROP ROLE IF EXISTS "${role}"`));
    }
  });

  test('a non-superuser owner can run migrations and withTenant (role granted to it)', async () => {
    const owner = uniqueName('stella_owner').toLowerCase();
    const role = uniqueName('stella_app_nsu').toLowerCase();
    const d = await createTestDatabase('nsu');
    await admin(async (c) => {
      await c.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE NOSUPERUSER`);
      await c.query(`ALTER DATABASE "${d.name}" OWNER TO "${owner}"`);
    });
    const url = new URL(d.url);
    url.username = owner;
    const db = await openDb({ kind: 'postgres', url: url.toString() }, { appRole: role });
    try {
      await migrate(db, []);
      const who = await db.withTenant('t1', (tx) =>
        tx.query<{ u: string; t: string }>("select current_user as u, current_setting('app.tenant_id') as t"),
      );
      assert.deepEqual(who.rows, [{ u: role, t: 't1' }]);
    } finally {
      await db.close();
      await d.drop();
      await admin(async (c) => {
        await c.query(`DROP ROLE IF EXISTS "${role}"`);
        await c.query(`DROP ROLE IF EXISTS "${owner}"`);
      });
    }
  });

  test(
    'psql (an independent client) sees the same isolation the driver enforces',
    { skip: needTool('psql') },
    async () => {
      const d = await createTestDatabase('psqlrls');
      const db = await openDb({ kind: 'postgres', url: d.url });
      try {
        await migrate(db, [
          { name: 'contract-rls', dir: join(repoRoot, 'packages/platform/src/db/__fixtures__/rls-set') },
        ]);
        await db.withTenant('tenant-a', (tx) =>
          tx.query("insert into contract_rls.notes (body) values ('one'), ('two')"),
        );
        const countAs = async (tenant: string) => {
          const sql = `begin; select set_config('app.tenant_id', '${tenant}', true) is not null; set local role stella_app; select count(*) from contract_rls.notes; commit;`;
          const r = await run('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', d.url, '-c', sql]);
          assert.equal(r.code, 0, r.stderr.toString());
          return r.stdout.toString().trim().split('\n').at(-1);
        };
        assert.equal(await countAs('tenant-a'), '2');
        assert.equal(await countAs('tenant-b'), '0');
        const forged = await run('psql', [
          '-X',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          d.url,
          '-c',
          "begin; select set_config('app.tenant_id', 'tenant-b', true); set local role stella_app; insert into contract_rls.notes (tenant_id, body) values ('tenant-a', 'x'); commit;",
        ]);
        assert.notEqual(forged.code, 0);
        assert.match(forged.stderr.toString(), /row-level security/);
        const policies = await run('psql', [
          '-X',
          '-A',
          '-t',
          d.url,
          '-c',
          "select tablename || ':' || policyname from pg_policies where schemaname = 'contract_rls' order by 1",
        ]);
        assert.deepEqual(policies.stdout.toString().trim().split('\n'), [
          'notes:tenant_isolation',
          'tags:tenant_isolation',
        ]);
      } finally {
        await db.close();
        await d.drop();
      }
    },
  );
});
