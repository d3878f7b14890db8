/**
 * The Idempotency-Key helper on both drivers (PGlite and PostgreSQL 15), over a service's key
 * table (export-center's, from its migrations): replay of the same request (key order does not
 * matter), 409 for another body, per-route and per-tenant scoping, rollback releasing the key,
 * and — on PostgreSQL — concurrent requests with one key running the work once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertRejectsStella, createTestDatabase, needService, repoRoot, tempDir } from '@stella/testkit';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '../db/index.js';
import { idempotent, requestDigest } from './idempotency.js';

const TABLE = 'export_center.idempotency_keys';
const SETS = [PLATFORM_MIGRATIONS, { name: 'export-center', dir: join(repoRoot, 'services/export-center/migrations') }];

function suite(label: string, skip: string | false, open: () => Promise<{ db: Db; cleanup: () => Promise<void> }>) {
  describe(`idempotency helper: ${label}`, { skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db, cleanup } = await open());
      await migrate(db, SETS);
    });
    after(() => cleanup?.());

    let calls = 0;
    const create = (tenant: string, key: string | undefined, request: unknown, route = 'POST /things') =>
      db.withTenant(tenant, (tx) =>
        idempotent(tx, { table: TABLE, route, key, request: request as never }, async () => {
          calls++;
          return { statusCode: 201, body: { id: `thing-${calls}` } };
        }),
      );

    test('same key and body → the stored answer; another body → 409; scoped by route and tenant', async () => {
      calls = 0;
      const first = await create('t1', 'k1', { a: 1, b: [1, 2] });
      assert.deepEqual(first, { statusCode: 201, body: { id: 'thing-1' }, replayed: false });
      const again = await create('t1', 'k1', { b: [1, 2], a: 1 });
      assert.deepEqual(again, { statusCode: 201, body: { id: 'thing-1' }, replayed: true });
      await assertRejectsStella(create('t1', 'k1', { a: 2 }), 'IDEMPOTENCY_KEY_CONFLICT');
      assert.equal((await create('t1', 'k1', { a: 1, b: [1, 2] }, 'POST /others')).replayed, false);
      assert.equal((await create('t2', 'k1', { a: 1, b: [1, 2] })).replayed, false);
      assert.equal((await create('t1', undefined, { a: 1 })).replayed, false);
      assert.equal(calls, 4);
      await assertRejectsStella(create('t1', 'bad key', {}), 'VALIDATION_FAILED');
      assert.equal(requestDigest({ a: 1, b: 2 }), requestDigest({ b: 2, a: 1 }));
    });

    test('a failed request releases its key (the work and the key roll back together)', async () => {
      await assert.rejects(
        db.withTenant('t1', (tx) =>
          idempotent(tx, { table: TABLE, route: 'POST /things', key: 'boom', request: {} }, () =>
            Promise.reject(new Error('boom')),
          ),
        ),
        /boom/,
      );
      assert.equal((await create('t1', 'boom', {})).replayed, false);
    });

    if (label === 'postgres')
      test('concurrent requests with one key: the work runs once, every caller gets its answer', async () => {
        let runs = 0;
        const results = await Promise.all(
          Array.from({ length: 5 }, () =>
            db.withTenant('t3', (tx) =>
              idempotent(tx, { table: TABLE, route: 'POST /things', key: 'race', request: { x: 1 } }, async () => {
                runs++;
                await new Promise((r) => setTimeout(r, 200));
                return { statusCode: 202, body: { id: 'raced' } };
              }),
            ),
          ),
        );
        assert.equal(runs, 1);
        assert.deepEqual(
          results.map((r) => [r.statusCode, (r.body as { id: string }).id]),
          Array(5).fill([202, 'raced']),
        );
        assert.equal(results.filter((r) => !r.replayed).length, 1);
      });
  });
}

suite('pglite', false, async () => {
  const dir = await tempDir('stella-idem-');
  const db = await openDb({ kind: 'pglite', dataDir: dir.path });
  return {
    db,
    cleanup: async () => {
      await db.close();
      await dir.cleanup();
    },
  };
});

const pgSkip = await needService('postgres');
suite('postgres', pgSkip, async () => {
  const t = await createTestDatabase('idempotency');
  const db = await openDb({ kind: 'postgres', url: t.url });
  return {
    db,
    cleanup: async () => {
      await db.close();
      await t.drop();
    },
  };
});
