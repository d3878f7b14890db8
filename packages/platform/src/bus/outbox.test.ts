import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, needService, services, tempDir, uniqueName } from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { migrate, openDb, type Db } from '../db/index.js';
import { appendToOutbox, startOutboxRelay } from './outbox.js';
import { PLATFORM_MIGRATIONS } from '../db/platform-migrations.js';
import { MemoryBroker, createMemoryBus } from './memory-bus.js';
import { newEvent, type EventEnvelope } from './event-envelope.js';
import type { EventBus } from './event-bus.js';
import { PgDedupeStore, dedupedHandler, pruneProcessedEvents } from './dedupe-store.js';
import { deleteNatsStream, openNatsBus } from './nats-bus.js';
import { deleteRedisStream, openRedisBus } from './redis-bus.js';
import { waitFor } from './testing/bus-contract.js';

const ev = (tenant = 'tenant-a', kind = 'export.built') => newEvent({ tenant, kind, source: 'outbox-test' });

/** A bus that records what was published (publish dedupe off, so double sends would show). */
function recordingBus(): { bus: EventBus; published: EventEnvelope[]; failNext: (n: number) => void } {
  const inner = createMemoryBus({ broker: new MemoryBroker(), dedupeWindowMs: 0 });
  const published: EventEnvelope[] = [];
  let failures = 0;
  const bus: EventBus = {
    kind: 'memory',
    async publish(e) {
      if (failures > 0) {
        failures--;
        throw Object.assign(new Error('bus down (injected)'), { code: 'ECONNREFUSED' });
      }
      await inner.publish(e);
      published.push(e);
    },
    subscribe: (g, h, o) => inner.subscribe(g, h, o),
    subscribeBatch: (g, h, o) => inner.subscribeBatch(g, h, o),
    groupLag: (g) => inner.groupLag(g),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return { bus, published, failNext: (n) => (failures = n) };
}

async function outboxCount(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM stella_platform.outbox');
  return Number(rows[0]!.n);
}

function outboxSuite(
  driver: 'pg' | 'pglite',
  open: () => Promise<{ db: Db; done: () => Promise<void> }>,
  skip: string | false,
) {
  describe(`transactional outbox + Postgres dedupe (${driver})`, { skip, timeout: 120_000 }, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      const applied = await migrate(db, [PLATFORM_MIGRATIONS]);
      assert.deepEqual(
        applied.map((m) => m.file),
        ['0001_outbox.sql', '0002_processed_events.sql', '0003_audit_log.sql'],
      );
    });
    after(async () => {
      await db?.close();
      await done?.();
    });

    test('committed → published exactly once and removed; rolled back → never published', async () => {
      const { bus, published } = recordingBus();
      const committed = ev();
      const rolledBack = ev();
      await db.withTenant('tenant-a', (tx) => appendToOutbox(tx, committed));
      await assert.rejects(
        db.withTenant('tenant-a', async (tx) => {
          await appendToOutbox(tx, rolledBack);
          throw new Error('business rule failed');
        }),
        /business rule failed/,
      );
      const relay = startOutboxRelay(db, bus, { pollIntervalMs: 20 });
      try {
        await waitFor('publish', () => published.length >= 1);
        await new Promise((r) => setTimeout(r, 150));
      } finally {
        await relay.stop();
      }
      assert.deepEqual(
        published.map((e) => e.eventId),
        [committed.eventId],
      );
      assert.deepEqual(published[0], committed);
      assert.equal(await outboxCount(db), 0);
      await bus.close();
    });

    test('RLS: a tenant transaction cannot enqueue another tenant’s event, and cannot read the outbox', async () => {
      await assert.rejects(
        db.withTenant('tenant-a', (tx) => appendToOutbox(tx, ev('tenant-b'))),
        /row-level security|violates/i,
      );
      await assert.rejects(
        db.withTenant('tenant-a', (tx) => tx.query('SELECT * FROM stella_platform.outbox')),
        /permission denied/i,
      );
      assert.equal(await outboxCount(db), 0, 'nothing half-written');
    });

    test('an invalid envelope is EVENT_INVALID and the business transaction rolls back with it', async () => {
      await assert.rejects(
        db.withTenant('tenant-a', async (tx) => {
          await appendToOutbox(tx, ev());
          await appendToOutbox(tx, { ...ev(), kind: 'bad kind' });
        }),
        (err: unknown) => isStellaError(err, 'EVENT_INVALID'),
      );
      assert.equal(await outboxCount(db), 0);
    });

    test('duplicate (tenant, eventId) in the outbox is enqueued once', async () => {
      const e = ev();
      const first = await db.withTenant('tenant-a', (tx) => appendToOutbox(tx, e));
      const second = await db.withTenant('tenant-a', (tx) => appendToOutbox(tx, e));
      assert.deepEqual([first, second], [true, false]);
      const { bus, published } = recordingBus();
      const relay = startOutboxRelay(db, bus, { pollIntervalMs: 20 });
      await relay.stop({ drain: true });
      assert.deepEqual(
        published.map((x) => x.eventId),
        [e.eventId],
      );
      await bus.close();
    });

    test('bus failure: the relay retries with backoff, records attempts, keeps order, then publishes all', async () => {
      const { bus, published, failNext } = recordingBus();
      const sent = [ev(), ev(), ev()];
      await db.withTenant('tenant-a', async (tx) => {
        for (const e of sent) await appendToOutbox(tx, e);
      });
      failNext(2);
      const errors: unknown[] = [];
      const relay = startOutboxRelay(db, bus, {
        pollIntervalMs: 20,
        retryBaseMs: 20,
        retryMaxMs: 100,
        onError: (e) => errors.push(e),
      });
      try {
        await waitFor('three published', () => published.length >= 3, 10_000);
      } finally {
        await relay.stop();
      }
      assert.equal(errors.length, 2);
      assert.deepEqual(
        published.map((e) => e.eventId),
        sent.map((e) => e.eventId),
      );
      assert.equal(await outboxCount(db), 0);
      await bus.close();
    });

    test('notify() wakes an idle relay at once instead of waiting for the poll period', async () => {
      const { bus, published } = recordingBus();
      const relay = startOutboxRelay(db, bus, { pollIntervalMs: 60_000 });
      try {
        await new Promise((r) => setTimeout(r, 100)); // the first (empty) pass is done; now it sleeps 60 s
        const e = ev();
        await db.withTenant('tenant-a', (tx) => appendToOutbox(tx, e));
        const t0 = Date.now();
        relay.notify();
        await waitFor('published after notify', () => published.length === 1, 5_000);
        assert.ok(Date.now() - t0 < 5_000);
        assert.equal(published[0]!.eventId, e.eventId);
      } finally {
        await relay.stop();
        await bus.close();
      }
    });

    test('a row that is not an envelope (written behind our back) is marked dead, not retried forever', async () => {
      await db.transaction((tx) =>
        tx.query(
          "INSERT INTO stella_platform.outbox (tenant_id, event_id, kind, envelope) VALUES ('tenant-a', 'X', 'x.y', '{\"nope\":1}')",
        ),
      );
      const { bus, published } = recordingBus();
      const errors: unknown[] = [];
      const relay = startOutboxRelay(db, bus, { pollIntervalMs: 20, onError: (e) => errors.push(e) });
      try {
        await waitFor('dead-letter report', () => errors.length >= 1);
        assert.deepEqual(
          await relay.runOnce(),
          { published: 0, failed: false, dead: 0 },
          'a dead row is not picked up again',
        );
      } finally {
        await relay.stop();
      }
      assert.equal(published.length, 0);
      assert.ok(isStellaError(errors[0], 'EVENT_INVALID'));
      const { rows } = await db.query<{ dead_at: Date | null }>(
        "SELECT dead_at FROM stella_platform.outbox WHERE event_id = 'X'",
      );
      assert.ok(rows[0]!.dead_at instanceof Date);
      await db.query("DELETE FROM stella_platform.outbox WHERE event_id = 'X'");
      await bus.close();
    });

    if (driver === 'pg') {
      for (const broker of ['nats', 'redis'] as const) {
        test(`end to end over ${broker}: outbox → relay → bus → deduped consumer, with a replayed outbox row`, async (t) => {
          const why = await needService(broker);
          if (why) return void t.skip(why);
          const name = uniqueName('e2e');
          const bus =
            broker === 'nats'
              ? await openNatsBus(services.nats.url, {
                  stream: name.toUpperCase(),
                  subjectPrefix: `t.${name}`,
                  dedupeWindowMs: 0,
                })
              : await openRedisBus(services.redis.url, {
                  streamKey: `stella:test:${name}`,
                  dedupeWindowMs: 0,
                  pollMs: 100,
                });
          const relay = startOutboxRelay(db, bus, { pollIntervalMs: 20 });
          try {
            await db.transaction((tx) =>
              tx.exec(`CREATE TABLE IF NOT EXISTS stella_platform.e2e_effects (tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true), event_id text NOT NULL);
              GRANT INSERT ON stella_platform.e2e_effects TO ${db.appRole};`),
            );
            const deliveries: string[] = [];
            const handler = dedupedHandler(db, `timeline-${name}`, async (e, tx) => {
              await tx.query('INSERT INTO stella_platform.e2e_effects (event_id) VALUES ($1)', [e.eventId]);
            });
            // Recorded once the handler's transaction committed (replays included).
            await bus.subscribe('timeline', async (e, meta) => {
              await handler(e, meta);
              deliveries.push(e.eventId);
            });
            const events = [ev('tenant-a'), ev('tenant-b'), ev('tenant-a')];
            for (const e of events) await db.withTenant(e.tenant, (tx) => appendToOutbox(tx, e));
            await waitFor('three effects', () => deliveries.length >= 3, 15_000);
            // A relay that crashed after publishing but before its DELETE committed republishes:
            await db.withTenant('tenant-a', (tx) => appendToOutbox(tx, events[0]!));
            const marker = ev('tenant-b');
            await db.withTenant('tenant-b', (tx) => appendToOutbox(tx, marker));
            await waitFor('marker', () => deliveries.includes(marker.eventId), 15_000);
            const { rows } = await db.query<{ event_id: string }>('SELECT event_id FROM stella_platform.e2e_effects');
            const effects = rows
              .map((r) => r.event_id)
              .filter((id) => [...events, marker].some((e) => e.eventId === id));
            assert.deepEqual(
              effects.sort(),
              [...events, marker].map((e) => e.eventId).sort(),
              'each event took effect exactly once',
            );
          } finally {
            await relay.stop();
            await bus.close();
            if (broker === 'nats') await deleteNatsStream(services.nats.url, name.toUpperCase());
            else await deleteRedisStream(services.redis.url, `stella:test:${name}`);
          }
        });
      }

      test('two relays (SKIP LOCKED) share the table: every committed event is published exactly once', async () => {
        const { bus, published } = recordingBus();
        const sent: string[] = [];
        for (let t = 0; t < 10; t++) {
          await db.withTenant(`tenant-${t % 3}`, async (tx) => {
            for (let i = 0; i < 30; i++) {
              const e = ev(`tenant-${t % 3}`);
              sent.push(e.eventId);
              await appendToOutbox(tx, e);
            }
          });
        }
        const relays = [
          startOutboxRelay(db, bus, { batchSize: 7, pollIntervalMs: 10 }),
          startOutboxRelay(db, bus, { batchSize: 7, pollIntervalMs: 10 }),
        ];
        try {
          await waitFor('300 published', () => published.length >= 300, 20_000);
          await new Promise((r) => setTimeout(r, 100));
        } finally {
          await Promise.all(relays.map((r) => r.stop()));
        }
        assert.equal(published.length, 300, 'no double sends');
        assert.deepEqual(published.map((e) => e.eventId).sort(), sent.sort());
        await bus.close();
      });
    }

    test('PgDedupeStore: a replayed event is a no-op, the handler’s writes commit with the dedupe row', async () => {
      // The consumer's own table, as a service migration would declare it (RLS + app role).
      await db.transaction(async (tx) => {
        await tx.exec(`
          CREATE TABLE IF NOT EXISTS stella_platform.test_effects (tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true), event_id text NOT NULL);
          ALTER TABLE stella_platform.test_effects ENABLE ROW LEVEL SECURITY;
          ALTER TABLE stella_platform.test_effects FORCE ROW LEVEL SECURITY;
          DROP POLICY IF EXISTS t ON stella_platform.test_effects;
          CREATE POLICY t ON stella_platform.test_effects USING (tenant_id = current_setting('app.tenant_id', true));
          GRANT INSERT, SELECT ON stella_platform.test_effects TO ${db.appRole};
        `);
      });
      const store = new PgDedupeStore(db);
      const e = ev('tenant-b');
      let calls = 0;
      const handler = dedupedHandler(db, 'timeline-indexer', async (event, tx) => {
        calls++;
        await tx.query('INSERT INTO stella_platform.test_effects (event_id) VALUES ($1)', [event.eventId]);
        if (calls === 1) throw new Error('fails after its write: both roll back');
      });
      const meta = { group: 'g', attempt: 1, messageId: '1' };
      await assert.rejects(handler(e, meta), /fails after its write/);
      await handler(e, { ...meta, attempt: 2 });
      await handler(e, { ...meta, attempt: 3 }); // replay: no-op
      assert.equal(calls, 2);
      assert.equal(await store.once('timeline-indexer', e, async () => assert.fail('must not run')), false);
      assert.equal(await store.once('other-consumer', e, async () => undefined), true, 'dedupe is per consumer');
      const { rows } = await db.query<{ n: string }>(
        'SELECT count(*) AS n FROM stella_platform.test_effects WHERE event_id = $1',
        [e.eventId],
      );
      assert.equal(Number(rows[0]!.n), 1);
      // Concurrent duplicates: exactly one does the work.
      const e2 = ev('tenant-b');
      let ran = 0;
      const results = await Promise.all(Array.from({ length: 5 }, () => store.once('c2', e2, async () => void ran++)));
      assert.equal(ran, 1);
      assert.equal(results.filter(Boolean).length, 1);
      await assert.rejects(
        store.once('bad name', e2, async () => undefined),
        (err: unknown) => isStellaError(err, 'VALIDATION_FAILED'),
      );
      assert.equal(await pruneProcessedEvents(db, 60_000), 0, 'fresh rows are kept');
      assert.ok((await pruneProcessedEvents(db, -1_000)) >= 3, 'older-than-now rows are pruned');
    });
  });
}

outboxSuite(
  'pg',
  async () => {
    const t = await createTestDatabase('bus_outbox');
    return { db: await openDb({ kind: 'postgres', url: t.url }), done: t.drop };
  },
  await needService('postgres'),
);

outboxSuite(
  'pglite',
  async () => {
    const d = await tempDir('stella-outbox-');
    return { db: await openDb({ kind: 'pglite', dataDir: d.path }), done: d.cleanup };
  },
  false,
);
