import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { needService, services, uniqueName } from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { busContract, waitFor } from './testing/bus-contract.js';
import { deleteRedisStream, openRedisBus } from './redis-bus.js';
import { newEvent } from './event-envelope.js';

const skip = await needService('redis');
const url = services.redis.url;

busContract(
  'redis',
  async () => {
    const streamKey = uniqueName('stella:test:events');
    const base = { streamKey, ackWaitMs: 1_000, drainTimeoutMs: 200, pollMs: 100 };
    return {
      open: (extra) => openRedisBus(url, { ...base, ...extra }),
      child: { url, options: base },
      async poison(raw) {
        const r = new Redis(url);
        await r.xadd(streamKey, '*', 'kind', 'poison', 'event', raw);
        r.disconnect();
      },
      cleanup: () => deleteRedisStream(url, streamKey),
    };
  },
  skip,
);

describe('redis bus specifics', { skip }, () => {
  test('entries carry kind + event fields; MAXLEN ~ trims; dedupe marker expires with the window', async () => {
    const streamKey = uniqueName('stella:test:layout');
    const bus = await openRedisBus(url, { streamKey, maxLen: 10, dedupeWindowMs: 300 });
    const r = new Redis(url);
    try {
      const e = newEvent({ tenant: 'acme', kind: 'export.built', source: 'test' });
      await bus.publish(e);
      await bus.publish(e);
      assert.equal(await r.xlen(streamKey), 1);
      const [[, fields]] = (await r.xrange(streamKey, '-', '+')) as [string, string[]][] as [[string, string[]]];
      assert.equal(fields[0], 'kind');
      assert.equal(fields[1], 'export.built');
      assert.deepEqual(JSON.parse(fields[3]!), e);
      await new Promise((res) => setTimeout(res, 400));
      await bus.publish(e); // window expired: accepted again (consumers dedupe)
      assert.equal(await r.xlen(streamKey), 2);
      for (let i = 0; i < 500; i++) await bus.publish(newEvent({ tenant: 'acme', kind: 'x.y', source: 'test' }));
      assert.ok((await r.xlen(streamKey)) < 500, 'approximate MAXLEN trimmed the stream');
    } finally {
      r.disconnect();
      await bus.close();
      await deleteRedisStream(url, streamKey);
    }
  });

  test('dedupeWindowMs 0 publishes with a plain XADD: same entry layout, no marker, republish accepted', async () => {
    const streamKey = uniqueName('stella:test:nodedupe');
    const bus = await openRedisBus(url, { streamKey, dedupeWindowMs: 0, pollMs: 50 });
    const r = new Redis(url);
    try {
      const e = newEvent({ tenant: 'acme', kind: 'export.built', source: 'test' });
      await bus.publish(e);
      await bus.publish(e);
      assert.equal(await r.xlen(streamKey), 2);
      const entries = (await r.xrange(streamKey, '-', '+')) as [string, string[]][];
      for (const [, fields] of entries) {
        assert.deepEqual(fields.slice(0, 3), ['kind', 'export.built', 'event']);
        assert.deepEqual(JSON.parse(fields[3]!), e);
      }
      assert.deepEqual(await r.keys(`{${streamKey}}:dedupe:*`), []);
      const got: number[] = [];
      await bus.subscribe('svc', async (_e, m) => void got.push(m.attempt));
      await waitFor('both delivered', () => got.length === 2);
      await assert.rejects(bus.publish({ ...e, kind: 'Bad Kind' }), (err: unknown) =>
        isStellaError(err, 'EVENT_INVALID'),
      );
      assert.equal(await r.xlen(streamKey), 2);
    } finally {
      r.disconnect();
      await bus.close();
      await deleteRedisStream(url, streamKey);
    }
  });

  test('the group is recreated when Redis loses it (NOGROUP)', async () => {
    const streamKey = uniqueName('stella:test:nogroup');
    const bus = await openRedisBus(url, { streamKey, pollMs: 50 });
    const r = new Redis(url);
    try {
      const got: string[] = [];
      await bus.subscribe('svc', async (e) => void got.push(e.eventId));
      await r.del(streamKey); // stream and its groups vanish
      await new Promise((res) => setTimeout(res, 200));
      const e = newEvent({ tenant: 'acme', kind: 'x.y', source: 'test' });
      await bus.publish(e);
      await waitFor('delivery after recreation', () => got.includes(e.eventId));
      const groups = (await r.xinfo('GROUPS', streamKey)) as unknown[];
      assert.equal(groups.length, 1);
    } finally {
      r.disconnect();
      await bus.close();
      await deleteRedisStream(url, streamKey);
    }
  });

  test('a clean close removes its consumer name from the group', async () => {
    const streamKey = uniqueName('stella:test:ghosts');
    const bus = await openRedisBus(url, { streamKey, pollMs: 50 });
    const r = new Redis(url);
    try {
      const sub = await bus.subscribe('svc', async () => undefined);
      await bus.publish(newEvent({ tenant: 'acme', kind: 'x.y', source: 'test' }));
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(((await r.xinfo('CONSUMERS', streamKey, 'svc')) as unknown[]).length, 1);
      await sub.close();
      assert.equal(((await r.xinfo('CONSUMERS', streamKey, 'svc')) as unknown[]).length, 0);
    } finally {
      r.disconnect();
      await bus.close();
      await deleteRedisStream(url, streamKey);
    }
  });

  test('an unreachable server is BUS_UNAVAILABLE', async () => {
    await assert.rejects(openRedisBus('redis://127.0.0.1:1'), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));
  });
});
