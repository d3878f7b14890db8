import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { busContract, waitFor } from './testing/bus-contract.js';
import { MemoryBroker, createMemoryBus } from './memory-bus.js';
import { openBus } from './open-bus.js';
import { ConfigProblem, parseBusUrl } from '../config/config-variables.js';
import { newEvent } from './event-envelope.js';
import { isStellaError } from '@stella/core/errors';

busContract('memory', async () => {
  const broker = new MemoryBroker();
  return {
    open: async (extra) => createMemoryBus({ broker, ackWaitMs: 1_000, drainTimeoutMs: 200, ...extra }),
    poison: async (raw) => void broker.append(`poison:${raw.length}:${Math.random()}`, raw, 0),
    cleanup: async () => undefined,
  };
});

describe('memory bus specifics', () => {
  test('retention is bounded like MAXLEN: a group created later starts at the oldest kept event', async () => {
    const broker = new MemoryBroker(5);
    const bus = createMemoryBus({ broker });
    try {
      const sent = [];
      for (let i = 0; i < 12; i++) {
        const e = newEvent({ tenant: 't1', kind: 'x.y', source: 'test' });
        sent.push(e.eventId);
        await bus.publish(e);
      }
      const got: string[] = [];
      await bus.subscribe('late', async (e) => void got.push(e.eventId));
      await waitFor('5 retained', () => got.length >= 5);
      assert.deepEqual(got, sent.slice(7));
    } finally {
      await bus.close();
    }
  });

  test('startFrom new skips history; all (default) replays it', async () => {
    const bus = createMemoryBus();
    try {
      const old = newEvent({ tenant: 't1', kind: 'x.y', source: 'test' });
      await bus.publish(old);
      const fresh: string[] = [];
      const all: string[] = [];
      await bus.subscribe('fresh', async (e) => void fresh.push(e.eventId), { startFrom: 'new' });
      await bus.subscribe('all', async (e) => void all.push(e.eventId));
      const next = newEvent({ tenant: 't1', kind: 'x.y', source: 'test' });
      await bus.publish(next);
      await waitFor('both', () => fresh.length >= 1 && all.length >= 2);
      assert.deepEqual(fresh, [next.eventId]);
      assert.deepEqual(all, [old.eventId, next.eventId]);
    } finally {
      await bus.close();
    }
  });

  test('entries appended to the log directly (not through publish) are validated on delivery: poison is dead-lettered', async () => {
    const broker = new MemoryBroker();
    const dead: { raw: string; messageId: string }[] = [];
    const bus = createMemoryBus({ broker, onDeadLetter: (d) => void dead.push(d) });
    try {
      const seen: string[] = [];
      await bus.subscribe('g', async (e) => void seen.push(e.eventId));
      const good = newEvent({ tenant: 't1', kind: 'x.y', source: 'test' });
      // Valid JSON but not an envelope (unknown field), then a well-formed one appended raw.
      broker.append('t1:poison', JSON.stringify({ ...good, extra: 1 }), 0);
      broker.append('t1:raw', JSON.stringify(good), 0);
      await bus.publish(newEvent({ tenant: 't1', kind: 'x.y', source: 'test' }));
      await waitFor('deliveries', () => seen.length === 2 && dead.length === 1);
      assert.equal(seen[0], good.eventId);
      assert.equal(dead[0]!.messageId, '1');
    } finally {
      await bus.close();
    }
  });

  test('ack_wait with one timer per group: several overdue deliveries all come back, acked ones do not', async () => {
    const broker = new MemoryBroker();
    const bus = createMemoryBus({ broker, ackWaitMs: 80, drainTimeoutMs: 20 });
    try {
      const attempts = new Map<string, number[]>();
      let release!: () => void;
      const blocked = new Promise<void>((r) => (release = r));
      const handler = async (e: { subject?: string }, m: { attempt: number }) => {
        const s = e.subject!;
        attempts.set(s, [...(attempts.get(s) ?? []), m.attempt]);
        // "quick" events are acked at once; "stuck" ones hang on their first attempt only.
        if (s.startsWith('stuck') && m.attempt === 1) await blocked;
      };
      for (let i = 0; i < 3; i++) await bus.subscribe('g', handler);
      await bus.publish(newEvent({ tenant: 't1', kind: 'x.y', source: 'test', subject: 'quick-0' }));
      await bus.publish(newEvent({ tenant: 't1', kind: 'x.y', source: 'test', subject: 'stuck-1' }));
      await bus.publish(newEvent({ tenant: 't1', kind: 'x.y', source: 'test', subject: 'stuck-2' }));
      await waitFor('both stuck events redelivered', () =>
        ['stuck-1', 'stuck-2'].every((s) => attempts.get(s)?.includes(2)),
      );
      release();
      await new Promise((r) => setTimeout(r, 200)); // longer than ackWaitMs: no spurious redelivery
      assert.deepEqual(attempts.get('quick-0'), [1]);
      assert.deepEqual(attempts.get('stuck-1'), [1, 2]);
      assert.deepEqual(attempts.get('stuck-2'), [1, 2]);
    } finally {
      await bus.close();
    }
  });

  test('a handler slower than ackWaitMs has its event handed to another consumer (like JetStream ack_wait)', async () => {
    const broker = new MemoryBroker();
    const bus = createMemoryBus({ broker, ackWaitMs: 100, drainTimeoutMs: 50 });
    try {
      const seen: string[] = [];
      let release!: () => void;
      const blocked = new Promise<void>((r) => (release = r));
      await bus.subscribe('slow', async (_e, m) => {
        seen.push(`slow:${m.attempt}`);
        await blocked;
      });
      await bus.subscribe('slow', async (_e, m) => void seen.push(`fast:${m.attempt}`));
      await bus.publish(newEvent({ tenant: 't1', kind: 'x.y', source: 'test' }));
      await waitFor('redelivery', () => seen.some((s) => s.endsWith(':2')));
      release();
      assert.ok(seen.includes('slow:1') || seen.includes('fast:1'));
    } finally {
      await bus.close();
    }
  });

  test('openBus(parseBusUrl(…)): memory:, memory://name sharing, and unknown schemes', async () => {
    const a = await openBus(parseBusUrl('memory://shared-test'));
    const b = await openBus(parseBusUrl('memory://shared-test'));
    const c = await openBus(parseBusUrl('memory:'));
    try {
      assert.equal(c.kind, 'memory');
      const got: string[] = [];
      await b.subscribe('g', async (e) => void got.push(e.eventId));
      const e = newEvent({ tenant: 't1', kind: 'x.y', source: 'test' });
      await a.publish(e);
      await waitFor('shared broker delivery', () => got.length === 1);
      assert.throws(() => parseBusUrl('kafka://x'), ConfigProblem);
      assert.throws(() => parseBusUrl('memory://'), ConfigProblem);
      assert.throws(
        () => parseBusUrl('amqp://user:s3cret@host/'),
        (err: unknown) => err instanceof ConfigProblem && !err.message.includes('s3cret'),
      );
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('subscribe options are bounds-checked', async () => {
    const bus = createMemoryBus();
    try {
      for (const bad of [{ maxDeliveries: 0 }, { batchSize: 0 }, { retryBaseMs: -1 }, { kinds: ['Bad Kind'] }]) {
        await assert.rejects(
          bus.subscribe('g', async () => undefined, bad),
          (err: unknown) => isStellaError(err, 'VALIDATION_FAILED'),
        );
      }
    } finally {
      await bus.close();
    }
  });
});
