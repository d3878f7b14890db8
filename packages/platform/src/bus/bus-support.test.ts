import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isStellaError } from '@stella/core/errors';
import { BusSubscriptions, deliverEvent, type DeliveryActions } from './bus-support.js';
import { resolveSubscribeOptions, type DeadLetter, type EventHandler, type Subscription } from './event-bus.js';
import { encodeEvent, newEvent } from './event-envelope.js';

/** Records what deliverEvent asked the adapter to do. */
function recorder(abandoned = () => false): { calls: string[]; actions: DeliveryActions } {
  const calls: string[] = [];
  return {
    calls,
    actions: {
      ack: () => void calls.push('ack'),
      giveUp: () => void calls.push('giveUp'),
      retry: (_d, ms) => void calls.push(`retry ${ms}`),
      abandoned,
    },
  };
}

const raw = Buffer.from(encodeEvent(newEvent({ tenant: 't1', kind: 'x.y', source: 'test' }))).toString('utf8');

function options(extra: Parameters<typeof resolveSubscribeOptions>[0] = {}) {
  const dead: DeadLetter[] = [];
  const o = resolveSubscribeOptions(
    { maxDeliveries: 3, retryBaseMs: 100, retryMaxMs: 1_000, onDeadLetter: (d) => void dead.push(d), ...extra },
    {},
  );
  return { o, dead };
}

const meta = (attempt: number) => ({ group: 'g', attempt, messageId: '7' });
const ok: EventHandler = async () => undefined;
const fails: EventHandler = async () => {
  throw new Error('boom');
};

describe('deliverEvent (the delivery decision shared by every adapter)', () => {
  test('a handler that resolves: the handler sees the decoded event, then one ack', async () => {
    const { o, dead } = options();
    const r = recorder();
    const seen: string[] = [];
    await deliverEvent(raw, meta(1), async (e, m) => void seen.push(`${e.kind}@${m.attempt}`), o, r.actions, undefined);
    assert.deepEqual(seen, ['x.y@1']);
    assert.deepEqual(r.calls, ['ack']);
    assert.equal(dead.length, 0);
  });

  test('poison bytes are dead-lettered at once, without calling the handler', async () => {
    const { o, dead } = options();
    const r = recorder();
    let called = false;
    await deliverEvent('{"not":"an event"}', meta(1), async () => void (called = true), o, r.actions, undefined);
    assert.equal(called, false);
    assert.deepEqual(r.calls, ['giveUp']);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.event, undefined);
    assert.equal(dead[0]!.raw, '{"not":"an event"}');
  });

  test('a kind outside the filter is acknowledged unseen', async () => {
    const { o } = options({ kinds: ['other.kind'] });
    const r = recorder();
    let called = false;
    await deliverEvent(raw, meta(1), async () => void (called = true), o, r.actions, undefined);
    assert.equal(called, false);
    assert.deepEqual(r.calls, ['ack']);
  });

  test('a throw with attempts left is retried with the bounded exponential delay', async () => {
    const { o, dead } = options();
    for (const [attempt, delay] of [
      [1, 100],
      [2, 200],
    ] as const) {
      const r = recorder();
      await deliverEvent(raw, meta(attempt), fails, o, r.actions, undefined);
      assert.deepEqual(r.calls, [`retry ${delay}`]);
    }
    assert.equal(dead.length, 0);
  });

  test('a throw on the last attempt dead-letters it with the error; a later attempt is given up unrun', async () => {
    const { o, dead } = options();
    const r = recorder();
    await deliverEvent(raw, meta(3), fails, o, r.actions, undefined);
    assert.deepEqual(r.calls, ['giveUp']);
    assert.equal((dead[0]!.error as Error).message, 'boom');
    assert.equal(dead[0]!.event?.kind, 'x.y');

    const r2 = recorder();
    let called = false;
    await deliverEvent(raw, meta(4), async () => void (called = true), o, r2.actions, undefined);
    assert.equal(called, false);
    assert.deepEqual(r2.calls, ['giveUp']);
    assert.match(String(dead[1]!.error), /not acknowledged after 3 deliveries/);
  });

  test('an abandoned delivery is neither acked late nor retried nor dead-lettered', async () => {
    const { o, dead } = options();
    for (const h of [ok, fails]) {
      const r = recorder(() => true);
      await deliverEvent(raw, meta(3), h, o, r.actions, undefined);
      assert.deepEqual(r.calls, []);
    }
    assert.equal(dead.length, 0);
  });
});

describe('BusSubscriptions', () => {
  class FakeSub implements Subscription {
    closes = 0;
    constructor(readonly group: string) {}
    async close() {
      this.closes++;
    }
  }

  test('validates before opening, tracks subscriptions, closes them once, then refuses', async () => {
    const subs = new BusSubscriptions<FakeSub>();
    let opened = 0;
    const open = () => {
      opened++;
      return new FakeSub('g');
    };
    await assert.rejects(
      subs.subscribe('bad group', undefined, {}, open),
      (e) => isStellaError(e) && e.code === 'VALIDATION_FAILED',
    );
    await assert.rejects(
      subs.subscribe('g', { batchSize: 0 }, {}, open),
      (e) => isStellaError(e) && e.code === 'VALIDATION_FAILED',
    );
    assert.equal(opened, 0);
    const a = await subs.subscribe('g', undefined, {}, open);
    const b = await subs.subscribe('g', undefined, {}, open);
    subs.remove(b);
    assert.equal(subs.closed, false);
    assert.equal(await subs.closeAll(), true);
    assert.equal(await subs.closeAll(), false);
    assert.deepEqual([a.closes, b.closes], [2, 0]);
    assert.equal(subs.closed, true);
    assert.throws(
      () => subs.assertOpen(),
      (e) => isStellaError(e) && e.code === 'BUS_UNAVAILABLE',
    );
    await assert.rejects(
      subs.subscribe('g', undefined, {}, open),
      (e) => isStellaError(e) && e.code === 'BUS_UNAVAILABLE',
    );
  });

  test('awaits start() before tracking; a subscription whose start fails is not tracked', async () => {
    class StartingSub extends FakeSub {
      started = false;
      constructor(private readonly fail: boolean) {
        super('g');
      }
      async start() {
        if (this.fail) throw new Error('broker down');
        this.started = true;
      }
    }
    const subs = new BusSubscriptions<StartingSub>();
    const ok = await subs.subscribe('g', undefined, {}, () => new StartingSub(false));
    assert.equal(ok.started, true);
    let failed: StartingSub | undefined;
    await assert.rejects(
      subs.subscribe('g', undefined, {}, () => (failed = new StartingSub(true))),
      /broker down/,
    );
    await subs.closeAll();
    assert.deepEqual([ok.closes, failed!.closes], [1, 0]);
  });
});
