/**
 * The database contract suite (issue #2 item 3): ONE function, run against both drivers — PGlite
 * in a temp dir and real PostgreSQL 15 in a fresh database. Everything a service relies on is
 * asserted here, so the two drivers cannot drift apart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRejectsStella, createTestDatabase, needService, repoRoot, tempDir, uniqueName } from '@stella/testkit';
import {
  MIGRATION_LOCK_KEY,
  migrate,
  migrationPlan,
  migrationStatus,
  openDb,
  type Db,
  type MigrationSet,
} from './index.js';

const fixtureRls: MigrationSet = {
  name: 'contract-rls',
  dir: join(repoRoot, 'packages/platform/src/db/__fixtures__/rls-set'),
};
const serviceSets: MigrationSet[] = [
  { name: 'platform', dir: join(repoRoot, 'packages/platform/migrations') },
  { name: 'evidence-locker', dir: join(repoRoot, 'services/evidence-locker/migrations') },
  { name: 'export-center', dir: join(repoRoot, 'services/export-center/migrations') },
  { name: 'timeline-indexer', dir: join(repoRoot, 'services/timeline-indexer/migrations') },
];

interface Harness {
  db: Db;
  /** A second, independent Db on the same database (pg: another pool); undefined on PGlite. */
  openSecond?: () => Promise<Db>;
  /** Close `db` and open it again (persistence). Returns the new Db. */
  reopen: () => Promise<Db>;
  /** Same storage, opened while `db` is still open (PGlite: must be refused). */
  openAgain: () => Promise<Db>;
  cleanup: () => Promise<void>;
}

function dbContract(label: string, skip: string | false, setup: () => Promise<Harness>): void {
  describe(`db contract: ${label}`, { skip }, () => {
    let h: Harness;
    let db: Db;
    let work: { path: string; cleanup: () => Promise<void> };

    /** A migration set in a fresh folder under this suite's temp dir. */
    async function makeSet(files: Record<string, string>): Promise<MigrationSet> {
      const name = uniqueName('set').toLowerCase().replace(/_/g, '-');
      const dir = join(work.path, name);
      await mkdir(dir, { recursive: true });
      for (const [f, sql] of Object.entries(files)) await writeFile(join(dir, f), sql);
      return { name, dir };
    }
    const schemaName = () => uniqueName('s').toLowerCase();
    async function tableExists(qualified: string): Promise<boolean> {
      const { rows } = await db.query<{ t: string | null }>('select to_regclass($1)::text as t', [qualified]);
      return rows[0]!.t !== null;
    }
    async function trackedVersions(set: string): Promise<number[]> {
      const { rows } = await db.query<{ version: number }>(
        'select version from stella_migrations.applied where set_name = $1 order by version',
        [set],
      );
      return rows.map((r) => r.version);
    }

    before(async () => {
      work = await tempDir('stella-db-contract-');
      h = await setup();
      db = h.db;
    });
    after(async () => {
      await h?.cleanup();
      await work?.cleanup();
    });

    test('migrations apply: service sets + RLS fixture, tracking rows, app role without BYPASSRLS', async () => {
      const applied = await migrate(db, [...serviceSets, fixtureRls]);
      const names = applied.map((a) => `${a.set}/${a.file}`);
      for (const svc of ['evidence-locker', 'export-center', 'timeline-indexer'])
        assert.ok(names.includes(`${svc}/0001_schema.sql`), names.join());
      assert.deepEqual(names.slice(-2), ['contract-rls/0001_notes.sql', 'contract-rls/0002_note_tags.sql']);
      for (const a of applied) {
        assert.match(a.checksum, /^[0-9a-f]{64}$/);
        assert.ok(a.durationMs >= 0);
      }
      const { rows: schemas } = await db.query<{ nspname: string }>(
        "select nspname from pg_namespace where nspname in ('evidence_locker','export_center','timeline') order by 1",
      );
      assert.deepEqual(
        schemas.map((r) => r.nspname),
        ['evidence_locker', 'export_center', 'timeline'],
      );
      const { rows: role } = await db.query<Record<string, boolean>>(
        'select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = $1',
        [db.appRole],
      );
      assert.deepEqual(role, [{ rolsuper: false, rolbypassrls: false, rolcanlogin: false }]);
      // The app role can use the service schemas (USAGE) but not create objects in them.
      const { rows: privs } = await db.query<{ usage: boolean; create: boolean }>(
        "select has_schema_privilege($1, 'evidence_locker', 'USAGE') as usage, has_schema_privilege($1, 'evidence_locker', 'CREATE') as create",
        [db.appRole],
      );
      assert.deepEqual(privs, [{ usage: true, create: false }]);
      const { rows: tracked } = await db.query<{ n: string }>(
        "select count(*)::text as n from stella_migrations.applied where set_name = 'contract-rls'",
      );
      assert.equal(tracked[0]!.n, '2');
    });

    test('re-running applies nothing; status says applied; plan is empty', async () => {
      assert.deepEqual(await migrate(db, [...serviceSets, fixtureRls]), []);
      const status = await migrationStatus(db, [fixtureRls]);
      assert.deepEqual(
        status.map((s) => [s.file, s.state]),
        [
          ['0001_notes.sql', 'applied'],
          ['0002_note_tags.sql', 'applied'],
        ],
      );
      assert.ok(status[0]!.appliedAt instanceof Date);
      assert.deepEqual(await migrationPlan(db, [...serviceSets, fixtureRls]), []);
    });

    test('default privileges: a table created by a later service migration is usable by the app role', async () => {
      // Simulates a service's 0002: no explicit GRANT, relying on ALTER DEFAULT PRIVILEGES of 0001.
      const set = await makeSet({
        '0001_t.sql': 'CREATE TABLE timeline.contract_dp (tenant_id text NOT NULL, x int);',
      });
      await migrate(db, [set]);
      const n = await db.withTenant(
        'acme',
        async (tx) => (await tx.query('insert into timeline.contract_dp values ($1, 1)', ['acme'])).rowCount,
      );
      assert.equal(n, 1);
      await db.query('drop table timeline.contract_dp');
    });

    test('status and plan: pending files in order, then applied; a new file appears alone in the plan', async () => {
      const s1 = schemaName();
      const set = await makeSet({
        '0002_second.sql': `CREATE TABLE ${s1}.b (x int);`,
        '0001_first.sql': `CREATE SCHEMA ${s1}; CREATE TABLE ${s1}.a (x int);`,
        'README.md': 'not a migration',
      });
      const st = await migrationStatus(db, [set]);
      assert.deepEqual(
        st.map((s) => [s.version, s.state]),
        [
          [1, 'pending'],
          [2, 'pending'],
        ],
      );
      const plan = await migrationPlan(db, [set]);
      assert.deepEqual(
        plan.map((p) => p.file),
        ['0001_first.sql', '0002_second.sql'],
      );
      assert.equal(await tableExists(`${s1}.a`), false, 'plan must not run anything');
      const applied = await migrate(db, [set]);
      assert.deepEqual(
        applied.map((a) => a.version),
        [1, 2],
      );
      assert.deepEqual(
        (await migrationStatus(db, [set])).map((s) => s.state),
        ['applied', 'applied'],
      );
      await writeFile(join(set.dir, '0010_third.sql'), `CREATE TABLE ${s1}.c (x int);`);
      assert.deepEqual(
        (await migrationPlan(db, [set])).map((p) => p.file),
        ['0010_third.sql'],
      );
      assert.deepEqual(
        (await migrate(db, [set])).map((a) => a.file),
        ['0010_third.sql'],
      );
    });

    test('checksum mismatch: detected before anything runs; CRLF/BOM changes do not count', async () => {
      const s1 = schemaName();
      const set = await makeSet({ '0001_a.sql': `CREATE SCHEMA ${s1};\nCREATE TABLE ${s1}.a (x int);\n` });
      await migrate(db, [set]);
      // Same text with CRLF line endings and a BOM (a Windows checkout): still "applied".
      await writeFile(join(set.dir, '0001_a.sql'), `\uFEFFCREATE SCHEMA ${s1};\r\nCREATE TABLE ${s1}.a (x int);\r\n`);
      assert.deepEqual(
        (await migrationStatus(db, [set])).map((s) => s.state),
        ['applied'],
      );
      // A real edit + a new pending file: nothing may run.
      await writeFile(join(set.dir, '0001_a.sql'), `CREATE SCHEMA ${s1};\nCREATE TABLE ${s1}.a (x bigint);\n`);
      await writeFile(join(set.dir, '0002_b.sql'), `CREATE TABLE ${s1}.b (x int);`);
      const err = await assertRejectsStella(migrate(db, [set]), 'MIGRATION_CHECKSUM_MISMATCH', /0001_a\.sql/);
      assert.ok(Array.isArray((err as { details?: unknown }).details));
      await assertRejectsStella(migrationPlan(db, [set]), 'MIGRATION_CHECKSUM_MISMATCH');
      assert.equal(await tableExists(`${s1}.b`), false);
      assert.deepEqual(
        (await migrationStatus(db, [set])).map((s) => s.state),
        ['changed', 'pending'],
      );
    });

    test('a failing migration rolls back completely and names the file; fixing it lets it apply', async () => {
      const s1 = schemaName();
      const set = await makeSet({
        '0001_ok.sql': `CREATE SCHEMA ${s1}; CREATE TABLE ${s1}.ok (x int);`,
        '0002_broken.sql': `CREATE TABLE ${s1}.half (x int);\nINSERT INTO ${s1}.half VALUES (1);\nSELECT * FROM ${s1}.no_such_table;\n`,
        '0003_after.sql': `CREATE TABLE ${s1}.after (x int);`,
      });
      const err = await assertRejectsStella(migrate(db, [set]), 'MIGRATION_FAILED', /0002_broken\.sql/);
      assert.match(err.message, new RegExp(set.name));
      assert.match(err.message, /no_such_table/);
      assert.equal((err as { details?: { sqlstate?: string } }).details?.sqlstate, '42P01');
      assert.equal(await tableExists(`${s1}.ok`), true, 'files before the failing one stay applied');
      assert.equal(await tableExists(`${s1}.half`), false, 'the failing file left nothing behind');
      assert.equal(await tableExists(`${s1}.after`), false, 'nothing after the failing file ran');
      assert.deepEqual(await trackedVersions(set.name), [1]);
      await writeFile(join(set.dir, '0002_broken.sql'), `CREATE TABLE ${s1}.half (x int);`);
      assert.deepEqual(
        (await migrate(db, [set])).map((a) => a.version),
        [2, 3],
      );
    });

    test('a migration that ends the surrounding transaction is refused and named', async () => {
      const s1 = schemaName();
      const set = await makeSet({
        '0001_commits.sql': `CREATE SCHEMA ${s1}; COMMIT; BEGIN; CREATE TABLE ${s1}.t (x int);`,
      });
      await assertRejectsStella(
        migrate(db, [set]),
        'MIGRATION_FAILED',
        /0001_commits\.sql.*(BEGIN\/COMMIT|transaction)/s,
      );
      assert.deepEqual(await trackedVersions(set.name), []);
    });

    test('bad file names, repeated numbers, bad set names and out-of-order files are rejected; nothing runs', async () => {
      const s1 = schemaName();
      const good = `CREATE SCHEMA ${s1};`;
      for (const bad of [
        '1_short.sql',
        '0002-dash.sql',
        '0002_Upper.sql',
        '0000_zero.sql',
        '0002_.sql',
        '0002_x.SQL',
      ]) {
        const set = await makeSet({ '0001_good.sql': good, [bad]: 'select 1;' });
        await assertRejectsStella(migrate(db, [set]), 'MIGRATION_INVALID_NAME', new RegExp(bad.replace('.', '\\.')));
        await assertRejectsStella(migrationStatus(db, [set]), 'MIGRATION_INVALID_NAME');
      }
      const dup = await makeSet({ '0001_good.sql': good, '0001_again.sql': 'select 1;' });
      await assertRejectsStella(migrate(db, [dup]), 'MIGRATION_INVALID_NAME', /share version 1/);
      await assertRejectsStella(migrate(db, [{ name: 'Bad Name', dir: dup.dir }]), 'MIGRATION_INVALID_NAME');
      await assertRejectsStella(migrate(db, [fixtureRls, fixtureRls]), 'MIGRATION_INVALID_NAME', /twice/);
      const { rows } = await db.query<{ n: string }>(
        'select count(*)::text as n from pg_namespace where nspname = $1',
        [s1],
      );
      assert.equal(rows[0]!.n, '0', 'no file of a rejected set ran');
      // Forward-only: a file numbered below an applied one is refused.
      const ooo = await makeSet({ '0002_b.sql': good });
      await migrate(db, [ooo]);
      await writeFile(join(ooo.dir, '0001_a.sql'), 'select 1;');
      await assertRejectsStella(migrate(db, [ooo]), 'MIGRATION_INVALID_NAME', /forward-only/);
      // A folder that does not exist is an empty set.
      assert.deepEqual(await migrate(db, [{ name: 'nowhere', dir: join(work.path, 'missing') }]), []);
    });

    test('concurrent migrate calls serialize: every file applied exactly once', async () => {
      const s1 = schemaName();
      const files: Record<string, string> = {
        '0001_a.sql': `CREATE SCHEMA ${s1}; CREATE TABLE ${s1}.log (n int); SELECT pg_sleep(1);`,
      };
      for (let i = 2; i <= 5; i++) files[`000${i}_f${i}.sql`] = `INSERT INTO ${s1}.log VALUES (${i});`;
      const set = await makeSet(files);
      const other = h.openSecond ? await h.openSecond() : db;
      try {
        const runs = [migrate(db, [set]), migrate(other, [set])];
        if (h.openSecond) {
          // While a run is inside 0001 (pg_sleep), its session lock is visible in pg_locks.
          await new Promise((r) => setTimeout(r, 100));
          const probe = await openDb({ kind: 'postgres', url: (h as unknown as { url: string }).url });
          try {
            const { rows } = await probe.query<{ n: string }>(
              "select count(*)::text as n from pg_locks where locktype = 'advisory' and classid = $1 and objid = $2 and granted",
              [MIGRATION_LOCK_KEY[0], MIGRATION_LOCK_KEY[1]],
            );
            assert.equal(rows[0]!.n, '1');
          } finally {
            await probe.close();
          }
        }
        if (h.openSecond) {
          // A third runner with a short lock timeout gives up with a coded error, naming the holder.
          await assertRejectsStella(
            migrate(other, [set], { lockTimeoutMs: 50 }),
            'MIGRATION_FAILED',
            /timed out after 50 ms waiting for the migration lock \(held by backend pid \d+\)/,
          );
        }
        const [a, b] = await Promise.all(runs);
        const counts = [a!.length, b!.length].sort();
        assert.deepEqual(counts, [0, 5], 'one runner applies everything, the other finds nothing pending');
        assert.deepEqual(await trackedVersions(set.name), [1, 2, 3, 4, 5]);
        const { rows } = await db.query<{ n: string }>(`select count(*)::text as n from ${s1}.log`);
        assert.equal(rows[0]!.n, '4');
      } finally {
        if (other !== db) await other.close();
      }
    });

    test('RLS: two tenants — B reads nothing of A, cannot update/delete it, cannot insert as A', async () => {
      const idA = await db.withTenant('tenant-a', async (tx) => {
        const r = await tx.query<{ id: string }>(
          "insert into contract_rls.notes (body) values ('secret of A') returning id",
        );
        await tx.query("insert into contract_rls.tags (note_id, tag) values ($1, 'x')", [r.rows[0]!.id]);
        return r.rows[0]!.id;
      });
      const seenByA = await db.withTenant('tenant-a', (tx) =>
        tx.query('select tenant_id, body from contract_rls.notes where id = $1', [idA]),
      );
      assert.deepEqual(seenByA.rows, [{ tenant_id: 'tenant-a', body: 'secret of A' }]);

      const seenByB = await db.withTenant('tenant-b', (tx) => tx.query('select * from contract_rls.notes'));
      assert.equal(seenByB.rowCount, 0);
      assert.equal((await db.withTenant('tenant-b', (tx) => tx.query('select * from contract_rls.tags'))).rowCount, 0);
      const upd = await db.withTenant('tenant-b', (tx) =>
        tx.query("update contract_rls.notes set body = 'pwned' where id = $1", [idA]),
      );
      assert.equal(upd.rowCount, 0);
      const del = await db.withTenant('tenant-b', (tx) =>
        tx.query('delete from contract_rls.notes where id = $1', [idA]),
      );
      assert.equal(del.rowCount, 0);
      const ins = db.withTenant('tenant-b', (tx) =>
        tx.query("insert into contract_rls.notes (tenant_id, body) values ('tenant-a', 'forged')"),
      );
      await assert.rejects(ins, (err: { code?: string }) => err.code === '42501');
      // B cannot move its own row into A either (WITH CHECK on UPDATE).
      const move = db.withTenant('tenant-b', async (tx) => {
        await tx.query("insert into contract_rls.notes (body) values ('of B')");
        await tx.query("update contract_rls.notes set tenant_id = 'tenant-a' where body = 'of B'");
      });
      await assert.rejects(move, (err: { code?: string }) => err.code === '42501');
      // A's row is untouched, and the failed B transactions left nothing.
      const owner = await db.query<{ tenant_id: string; body: string }>(
        'select tenant_id, body from contract_rls.notes order by id',
      );
      assert.deepEqual(owner.rows, [{ tenant_id: 'tenant-a', body: 'secret of A' }]);
    });

    test('the app role without a tenant sees nothing; TRUNCATE is not granted', async () => {
      await db.withTenant('tenant-a', (tx) => tx.query("insert into contract_rls.notes (body) values ('more of A')"));
      const noTenant = await db.transaction(async (tx) => {
        await tx.exec(`SET LOCAL ROLE ${db.appRole}`);
        return tx.query('select * from contract_rls.notes');
      });
      assert.equal(noTenant.rowCount, 0);
      const trunc = db.withTenant('tenant-b', (tx) => tx.query('truncate contract_rls.notes cascade'));
      await assert.rejects(trunc, (err: { code?: string }) => err.code === '42501');
      const ddl = db.withTenant('tenant-b', (tx) => tx.query('create table evidence_locker.sneaky (x int)'));
      await assert.rejects(ddl, (err: { code?: string }) => err.code === '42501');
    });

    test('tenant context and role do not leak out of the transaction (same pooled connection)', async () => {
      await db.withTenant('tenant-a', (tx) => tx.query('select 1'));
      const { rows } = await db.query<{ t: string | null; u: string }>(
        "select current_setting('app.tenant_id', true) as t, current_user as u",
      );
      assert.ok(rows[0]!.t === null || rows[0]!.t === '', `tenant leaked: ${rows[0]!.t}`);
      assert.notEqual(rows[0]!.u, db.appRole);
      const inside = await db.withTenant('tenant-a', (tx) =>
        tx.query<{ t: string; u: string }>("select current_setting('app.tenant_id') as t, current_user as u"),
      );
      assert.deepEqual(inside.rows, [{ t: 'tenant-a', u: db.appRole }]);
    });

    test('invalid tenants are rejected before any SQL runs', async () => {
      const bad: unknown[] = [
        '',
        ' a',
        'a b',
        'a/b',
        '-a',
        '.a',
        "a'; drop table x; --",
        'é',
        'a'.repeat(129),
        'x\n',
        null,
        42,
      ];
      for (const t of bad) {
        let ran = false;
        await assertRejectsStella(
          db.withTenant(t as string, async () => {
            ran = true;
          }),
          'TENANT_INVALID',
        );
        assert.equal(ran, false);
      }
      assert.equal(await db.withTenant('a'.repeat(128), async () => 'ok'), 'ok');
      assert.equal(await db.withTenant('Org_1.eu-west', async () => 'ok'), 'ok');
    });

    test('rollback when fn throws: nothing written, the same error surfaces', async () => {
      const boom = new Error('boom');
      await assert.rejects(
        db.withTenant('tenant-r', async (tx) => {
          await tx.query("insert into contract_rls.notes (body) values ('rolled back')");
          throw boom;
        }),
        (err) => err === boom,
      );
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("insert into contract_rls.notes (tenant_id, body) values ('tenant-r', 'rolled back too')");
          throw boom;
        }),
        (err) => err === boom,
      );
      const { rows } = await db.query<{ n: string }>(
        "select count(*)::text as n from contract_rls.notes where tenant_id = 'tenant-r'",
      );
      assert.equal(rows[0]!.n, '0');
    });

    test('a swallowed SQL error does not commit silently', async () => {
      const p = db.withTenant('tenant-s', async (tx) => {
        await tx.query("insert into contract_rls.notes (body) values ('lost')");
        await tx.query('select * from no_such_table').catch(() => undefined);
      });
      await assertRejectsStella(p, 'DB_TRANSACTION_MISUSE', /rolled back/);
      const { rows } = await db.query<{ n: string }>(
        "select count(*)::text as n from contract_rls.notes where tenant_id = 'tenant-s'",
      );
      assert.equal(rows[0]!.n, '0');
    });

    test('nested or late use cannot deadlock or escape the transaction', async () => {
      let leaked: { query: (s: string) => Promise<unknown> } | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
        await assertRejectsStella(db.query('select 1'), 'DB_TRANSACTION_MISUSE');
        await assertRejectsStella(
          db.transaction(async () => 1),
          'DB_TRANSACTION_MISUSE',
        );
        await assertRejectsStella(
          db.withTenant('a', async () => 1),
          'DB_TRANSACTION_MISUSE',
        );
        await assertRejectsStella(
          db.withSession(async () => 1),
          'DB_TRANSACTION_MISUSE',
        );
        // Concurrent statements on the same handle are fine (queued on its connection).
        const rs = await Promise.all([tx.query('select 1 as x'), tx.query('select 2 as x')]);
        assert.deepEqual(
          rs.map((r) => r.rows[0]),
          [{ x: 1 }, { x: 2 }],
        );
      });
      await assertRejectsStella(leaked!.query('select 1'), 'DB_TRANSACTION_MISUSE', /after/);
      // Work that merely started inside a transaction may use the Db once it has ended.
      let later: Promise<unknown> | undefined;
      await db.transaction(async () => {
        later = new Promise((r) => setTimeout(r, 20)).then(() => db.query('select 1'));
      });
      await later;
    });

    test('concurrent transactions do not interleave', async () => {
      // Each transaction inserts, yields, then counts its own rows; under interleaving on one
      // connection (PGlite) the count would include the other's uncommitted rows.
      const results = await Promise.all(
        ['c1', 'c2', 'c3', 'c4'].map((t) =>
          db.withTenant(t, async (tx) => {
            await tx.query("insert into contract_rls.notes (body) values ('a')");
            await new Promise((r) => setTimeout(r, 5));
            await tx.query("insert into contract_rls.notes (body) values ('b')");
            const { rows } = await tx.query<{ n: string }>('select count(*)::text as n from contract_rls.notes');
            return rows[0]!.n;
          }),
        ),
      );
      assert.deepEqual(results, ['2', '2', '2', '2']);
    });

    test('both drivers return the same JS shapes and keep SQLSTATE codes', async () => {
      const { rows } = await db.query(
        "select 9007199254740993::int8 as i8, 7::int4 as i4, 1.50::numeric as n, '2024-01-02T03:04:05Z'::timestamptz as ts, '{\"a\":[1]}'::jsonb as j, '\\x0102'::bytea as b, true as t, null::text as z",
      );
      const r = rows[0]!;
      assert.equal(r.i8, '9007199254740993');
      assert.equal(r.i4, 7);
      assert.equal(r.n, '1.50');
      assert.ok(r.ts instanceof Date && r.ts.toISOString() === '2024-01-02T03:04:05.000Z');
      assert.deepEqual(r.j, { a: [1] });
      assert.ok(Buffer.isBuffer(r.b) && (r.b as Buffer).equals(Buffer.from([1, 2])));
      assert.equal(r.t, true);
      assert.equal(r.z, null);
      const param = await db.query<{ x: string }>('select $1::bytea as x', [Buffer.from('hi')]);
      assert.deepEqual(param.rows[0]!.x, Buffer.from('hi'));
      await assert.rejects(
        db.query(
          'insert into stella_migrations.applied (set_name, version, name, checksum, duration_ms) select set_name, version, name, checksum, 0 from stella_migrations.applied limit 1',
        ),
        (err: { code?: string }) => err.code === '23505',
      );
      assert.equal((await db.query('select 1 where false')).rowCount, 0);
    });

    test('data persists across close and reopen; a closed Db refuses work with DB_UNAVAILABLE', async () => {
      await db.withTenant('tenant-p', (tx) => tx.query("insert into contract_rls.notes (body) values ('durable')"));
      const old = db;
      db = await h.reopen();
      await assertRejectsStella(old.query('select 1'), 'DB_UNAVAILABLE');
      const { rows } = await db.withTenant('tenant-p', (tx) =>
        tx.query<{ body: string }>('select body from contract_rls.notes'),
      );
      assert.deepEqual(rows, [{ body: 'durable' }]);
      assert.deepEqual(await migrate(db, [...serviceSets, fixtureRls]), []);
      await db.ping();
    });

    test('opening the same storage twice', async () => {
      if (db.driver === 'pglite') {
        await assertRejectsStella(h.openAgain(), 'DB_UNAVAILABLE', /in use by process/);
      } else {
        const second = await h.openAgain();
        await second.ping();
        await second.close();
      }
    });
  });
}

// --- PGlite: one instance for the whole suite (initdb takes ~5 s) ----------------------------
dbContract('pglite', false, async () => {
  const dir = await tempDir('stella-pglite-');
  const h: Harness = {
    db: await openDb({ kind: 'pglite', dataDir: dir.path }),
    reopen: async () => {
      await h.db.close();
      h.db = await openDb({ kind: 'pglite', dataDir: dir.path });
      return h.db;
    },
    openAgain: () => openDb({ kind: 'pglite', dataDir: dir.path }),
    cleanup: async () => {
      await h.db.close();
      await dir.cleanup();
    },
  };
  return h;
});

// --- PostgreSQL 15: a fresh database per suite -------------------------------------------------
dbContract('pg', await needService('postgres'), async () => {
  const tdb = await createTestDatabase('dbcontract');
  const h: Harness & { url: string } = {
    url: tdb.url,
    db: await openDb({ kind: 'postgres', url: tdb.url, poolMax: 1 }),
    openSecond: () => openDb({ kind: 'postgres', url: tdb.url }),
    reopen: async () => {
      await h.db.close();
      h.db = await openDb({ kind: 'postgres', url: tdb.url, poolMax: 1 });
      return h.db;
    },
    openAgain: () => openDb({ kind: 'postgres', url: tdb.url }),
    cleanup: async () => {
      await h.db.close();
      await tdb.drop();
    },
  };
  return h;
});

const pgSkip = await needService('postgres');
describe('openDb: connection failures and bad options', () => {
  test('an unreachable server is DB_UNAVAILABLE, password redacted', async () => {
    const err = await assertRejectsStella(
      openDb({ kind: 'postgres', url: 'postgres://u:hunter2@127.0.0.1:1/x' }, { connectTimeoutMs: 2000 }),
      'DB_UNAVAILABLE',
    );
    assert.doesNotMatch(err.message, /hunter2/);
  });
  test('a missing database is DB_UNAVAILABLE', { skip: pgSkip }, async () => {
    await assertRejectsStella(
      openDb({ kind: 'postgres', url: `postgres://postgres@127.0.0.1:5432/${uniqueName('nodb').toLowerCase()}` }),
      'DB_UNAVAILABLE',
      /does not exist/,
    );
  });
  test('bad URL, scheme, role name and pool size are CONFIG_INVALID', async () => {
    await assertRejectsStella(openDb({ kind: 'postgres', url: 'not a url' }), 'CONFIG_INVALID');
    await assertRejectsStella(openDb({ kind: 'postgres', url: 'mysql://x@127.0.0.1/db' }), 'CONFIG_INVALID');
    await assertRejectsStella(
      openDb({ kind: 'postgres', url: 'postgres://x@127.0.0.1/db' }, { appRole: 'Robert"); drop' }),
      'CONFIG_INVALID',
    );
    await assertRejectsStella(
      openDb({ kind: 'postgres', url: 'postgres://x@127.0.0.1/db', poolMax: 0 }),
      'CONFIG_INVALID',
    );
  });
  test('an unusable data dir is DB_UNAVAILABLE', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'a-file');
      await writeFile(file, 'x');
      await assertRejectsStella(openDb({ kind: 'pglite', dataDir: file }), 'DB_UNAVAILABLE');
    } finally {
      await dir.cleanup();
    }
  });
  async function lockCase(lock: string): Promise<'taken-over' | 'refused'> {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'pgdata.lock'), lock);
      // pgdata is a file, so an open that gets past the lock fails right after — no initdb cost.
      await writeFile(join(dir.path, 'pgdata'), 'not a dir');
      const err = await assertRejectsStella(openDb({ kind: 'pglite', dataDir: dir.path }), 'DB_UNAVAILABLE');
      if (/in use by process/.test(err.message)) {
        assert.equal(
          await readFile(join(dir.path, 'pgdata.lock'), 'utf8'),
          lock,
          'a refused open leaves the lock alone',
        );
        return 'refused';
      }
      assert.match(err.message, /cannot open the embedded database/);
      await assert.rejects(
        readFile(join(dir.path, 'pgdata.lock')),
        { code: 'ENOENT' },
        'a failed open releases the lock it took',
      );
      return 'taken-over';
    } finally {
      await dir.cleanup();
    }
  }
  test('PGlite lock file: live holders refuse the open, stale ones are taken over', async () => {
    const parentStart = (await readFile(`/proc/${process.ppid}/stat`, 'utf8').catch(() => undefined))
      ?.split(') ')[1]
      ?.split(' ')[19];
    assert.equal(await lockCase(`${process.ppid}\n`), 'refused', 'live pid, no start time recorded');
    if (parentStart)
      assert.equal(await lockCase(`${process.ppid}\n${parentStart}\n`), 'refused', 'live pid, same start time');
    assert.equal(await lockCase('2147483646\n'), 'taken-over', 'dead pid');
    assert.equal(
      await lockCase(`${process.ppid}\n1\n`),
      'taken-over',
      'pid reused by another process (start time differs)',
    );
    assert.equal(
      await lockCase(`${process.pid}\n\n`),
      'taken-over',
      'our own pid from a previous incarnation (container pid 1)',
    );
    assert.equal(await lockCase('garbage'), 'taken-over', 'unreadable lock');
  });
});
