/**
 * One contract suite for every EventBus adapter (issue #2 item 5; DESIGN.md §5 "Run the same
 * contract suite over every adapter"). Adapter test files call `busContract(name, makeHarness)`;
 * each test gets a fresh harness (its own stream / broker) and closes everything it opened, so
 * suites run in parallel against the same loopback NATS and Redis and never hang.
 *
 * Test-only code (imports node:test); it lives under src/ like cli/src/testing so that the three
 * adapter test files can share it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { isStellaError } from '@stella/core/errors';
import { newEvent, type EventEnvelope } from '../event-envelope.js';
import type { BatchDelivery, BusOptions, DeadLetter, DeliveryMeta, EventBus } from '../event-bus.js';
import { MemoryDedupeStore, dedupedHandler } from '../dedupe-store.js';

/** What a contract test needs from an adapter. */
export interface BusHarness {
  /** A new bus — a new connection — on this test's stream (several model several processes). */
  open(extra?: BusOptions): Promise<EventBus>;
  /** For the SIGKILL test: how a child process opens the same bus (omit for in-process buses). */
  child?: { url: string; options: Record<string, unknown> };
  /** Writes raw bytes onto the stream as a foreign client could (poison messages). */
  poison(raw: string): Promise<void>;
  /** Removes the stream and anything else the harness created. */
  cleanup(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '../../../../..');

/** Polls `cond` every 10 ms until it is true or `timeoutMs` passes (then fails with `what`). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let counter = 0;
function ev(kind = 'test.contract.ping', tenant = 'tenant-a', extra: Partial<EventEnvelope> = {}): EventEnvelope {
  return newEvent({ tenant, kind, source: 'bus-contract', attributes: { n: counter++ }, ...extra });
}

/**
 * Registers the contract suite. `makeHarness` is called once per test. `skip` is passed to
 * `describe` (a needService() message).
 */
export function busContract(name: string, makeHarness: () => Promise<BusHarness>, skip: string | false = false): void {
  describe(`EventBus contract: ${name}`, { skip, timeout: 120_000 }, () => {
    /** Runs `fn` with a fresh harness; closes every bus it opened and cleans up, even on failure. */
    async function withHarness(fn: (open: (extra?: BusOptions) => Promise<EventBus>, h: BusHarness) => Promise<void>) {
      const h = await makeHarness();
      const opened: EventBus[] = [];
      try {
        await fn(async (extra) => {
          const b = await h.open(extra);
          opened.push(b);
          return b;
        }, h);
      } finally {
        await Promise.all(opened.map((b) => b.close().catch(() => undefined)));
        await h.cleanup();
      }
    }

    test('publish → consume delivers the envelope unchanged', () =>
      withHarness(async (open) => {
        const bus = await open();
        const got: EventEnvelope[] = [];
        await bus.subscribe('svc-a', async (e) => void got.push(e));
        const sent = [
          ev('evidence.bundle.sealed', 'tenant-a', {
            subject: 'bundle/1',
            correlationId: 'c-1',
            traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
            actor: 'user:alice',
            payload: { nested: { list: [1, 'two', null], ok: true } },
            evidence: [
              { bundleId: 'b1', digest: `sha256:${'a'.repeat(64)}`, manifestDigest: `sha256:${'b'.repeat(64)}` },
            ],
          }),
          ev('export.built', 'tenant-b'),
        ];
        for (const e of sent) await bus.publish(e);
        await waitFor('both events', () => got.length >= 2);
        assert.deepEqual(got, sent);
      }));

    test('two groups each receive every event', () =>
      withHarness(async (open) => {
        const bus = await open();
        const a: string[] = [];
        const b: string[] = [];
        await bus.subscribe('group-a', async (e) => void a.push(e.eventId));
        await bus.subscribe('group-b', async (e) => void b.push(e.eventId));
        const sent = Array.from({ length: 10 }, () => ev());
        for (const e of sent) await bus.publish(e);
        await waitFor('10 events in both groups', () => a.length >= 10 && b.length >= 10);
        assert.deepEqual(
          a,
          sent.map((e) => e.eventId),
        );
        assert.deepEqual(
          b,
          sent.map((e) => e.eventId),
        );
      }));

    test('two consumers of one group share the work, each event handled once', () =>
      withHarness(async (open) => {
        const [bus1, bus2] = [await open(), await open()];
        const seen = new Map<string, number>();
        const by = { one: 0, two: 0 };
        const handler = (who: 'one' | 'two') => async (e: EventEnvelope) => {
          by[who]++;
          seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 15)); // slow enough that both get turns
        };
        await bus1.subscribe('shared', handler('one'), { batchSize: 1 });
        await bus2.subscribe('shared', handler('two'), { batchSize: 1 });
        const sent = Array.from({ length: 30 }, () => ev());
        for (const e of sent) await bus1.publish(e);
        await waitFor('30 distinct events', () => seen.size >= 30);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(by.one + by.two, 30, 'no event handled twice');
        assert.ok(by.one > 0 && by.two > 0, `both consumers worked (one=${by.one}, two=${by.two})`);
        assert.deepEqual([...seen.keys()].sort(), sent.map((e) => e.eventId).sort());
      }));

    test('a consumer abandoned before ack: the event is redelivered to another consumer of the group', () =>
      withHarness(async (open) => {
        const crashing = await open({ drainTimeoutMs: 100 });
        const got: { id: string; meta: DeliveryMeta }[] = [];
        await crashing.subscribe(
          'crashy',
          async (e, meta) => {
            got.push({ id: e.eventId, meta });
            await new Promise<void>(() => undefined); // never acks
          },
          { batchSize: 1 },
        );
        const e = ev();
        await crashing.publish(e);
        await waitFor('first delivery', () => got.length === 1);
        const t0 = Date.now();
        await crashing.close(); // gives up on the hung handler after drainTimeoutMs
        assert.ok(Date.now() - t0 < 3_000, 'close() returns promptly with a hung handler');
        const survivor = await open();
        const again: { id: string; meta: DeliveryMeta }[] = [];
        await survivor.subscribe('crashy', async (ev2, meta) => void again.push({ id: ev2.eventId, meta }));
        await waitFor('redelivery to the survivor', () => again.length >= 1, 15_000);
        assert.equal(again[0]!.id, e.eventId);
        assert.ok(again[0]!.meta.attempt >= 2, `attempt counts the lost delivery (got ${again[0]!.meta.attempt})`);
        assert.equal(got[0]!.meta.attempt, 1);
      }));

    test('a consumer process killed (SIGKILL) before ack: the event is redelivered', (t) =>
      withHarness(async (open, h) => {
        if (!h.child) return void t.skip('in-process adapter: a killed process takes the broker with it');
        const bus = await open();
        const child = spawn(
          process.execPath,
          [
            '--conditions=development',
            '--import',
            'tsx',
            resolve(here, 'bus-consumer-child.ts'),
            h.child!.url,
            'killed',
            JSON.stringify(h.child!.options),
          ],
          { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        try {
          await waitFor(`child ready (stderr: ${err})`, () => out.includes('ready'), 30_000);
          const e = ev();
          await bus.publish(e);
          await waitFor('child got the event', () => out.includes(`got ${e.eventId} 1`), 15_000);
          child.kill('SIGKILL');
          await exited;
          const again: DeliveryMeta[] = [];
          await bus.subscribe('killed', async (got, meta) => {
            if (got.eventId === e.eventId) again.push(meta);
          });
          await waitFor('redelivery after the kill', () => again.length >= 1, 20_000);
          assert.ok(again[0]!.attempt >= 2);
        } finally {
          child.kill('SIGKILL');
          await exited;
        }
      }));

    test('a handler that throws gets the event again (bounded backoff), then it is acknowledged', () =>
      withHarness(async (open) => {
        const bus = await open();
        const attempts: number[] = [];
        await bus.subscribe(
          'flaky',
          async (_e, meta) => {
            attempts.push(meta.attempt);
            if (meta.attempt < 3) throw new Error('transient');
          },
          { retryBaseMs: 20, retryMaxMs: 100 },
        );
        await bus.publish(ev());
        await waitFor('third attempt', () => attempts.length >= 3, 15_000);
        await new Promise((r) => setTimeout(r, 1_500));
        assert.deepEqual(attempts, [1, 2, 3], 'acknowledged after success: no fourth delivery');
      }));

    test('after maxDeliveries failures the event is dead-lettered once and not redelivered', () =>
      withHarness(async (open) => {
        const dead: DeadLetter[] = [];
        const bus = await open({ onDeadLetter: (d) => dead.push(d) });
        let calls = 0;
        const e = ev();
        await bus.subscribe(
          'doomed',
          async () => {
            calls++;
            throw new Error('permanent');
          },
          { maxDeliveries: 3, retryBaseMs: 10, retryMaxMs: 20 },
        );
        await bus.publish(e);
        await waitFor('dead letter', () => dead.length >= 1, 15_000);
        await new Promise((r) => setTimeout(r, 1_200));
        assert.equal(calls, 3);
        assert.equal(dead.length, 1);
        assert.equal(dead[0]!.event?.eventId, e.eventId);
        assert.equal(dead[0]!.attempt, 3);
        assert.match(String((dead[0]!.error as Error).message), /permanent/);
      }));

    test('republishing the same (tenant, eventId) within the window is dropped at publish', () =>
      withHarness(async (open) => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe('dups', async (e) => void got.push(e.eventId));
        const e = ev();
        const sameIdOtherTenant = { ...e, tenant: 'tenant-other' };
        const sentinel = ev();
        await bus.publish(e);
        await bus.publish(e);
        await bus.publish(sameIdOtherTenant);
        await bus.publish(sentinel);
        await waitFor('sentinel', () => got.includes(sentinel.eventId));
        // Order is kept per publisher, so a stored duplicate would have arrived before the sentinel.
        assert.deepEqual(
          got,
          [e.eventId, e.eventId, sentinel.eventId],
          'one per (tenant, eventId): the other tenant is a different event',
        );
      }));

    test('dedupedHandler makes a consumer idempotent across republish and redelivery', () =>
      withHarness(async (open) => {
        // Window 0: publish-side dedupe off, as after the window expired or from a second outbox relay.
        const bus = await open({ dedupeWindowMs: 0 });
        const store = new MemoryDedupeStore();
        const effects: string[] = [];
        let crashOnce = true;
        const business = dedupedHandler(store, 'idem', async (e) => void effects.push(`${e.tenant}:${e.eventId}`));
        const deliveries: number[] = [];
        await bus.subscribe(
          'idem',
          async (e, meta) => {
            deliveries.push(meta.attempt);
            await business(e, meta);
            // The work committed, then the process "died" before the ack: the bus redelivers.
            if (crashOnce) {
              crashOnce = false;
              throw new Error('crash after commit');
            }
          },
          { retryBaseMs: 10 },
        );
        const e = ev();
        const sentinel = ev();
        await bus.publish(e);
        await bus.publish(e);
        await bus.publish(sentinel);
        await waitFor('sentinel effect', () => effects.includes(`${sentinel.tenant}:${sentinel.eventId}`), 15_000);
        await waitFor('all deliveries (2 copies, 1 retry, 1 sentinel)', () => deliveries.length >= 4, 15_000);
        assert.deepEqual(effects, [`${e.tenant}:${e.eventId}`, `${sentinel.tenant}:${sentinel.eventId}`]);
      }));

    test('an invalid envelope is refused with EVENT_INVALID and nothing is published', () =>
      withHarness(async (open) => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe('strict', async (e) => void got.push(e.kind));
        const good = ev('good.event');
        const bad: unknown[] = [
          { ...good, kind: 'evil.*' },
          { ...good, kind: 'Upper.Case' },
          { ...good, kind: 'a.>' },
          { ...good, tenant: 'has:colon' },
          { ...good, eventId: 'not-a-ulid' },
          { ...good, occurredAt: '2024-02-30T00:00:00Z' },
          { ...good, extra: 1 },
          { ...good, evidence: [{ digest: 'md5:abc' }] },
        ];
        for (const b of bad) {
          await assert.rejects(bus.publish(b as EventEnvelope), (err: unknown) => isStellaError(err, 'EVENT_INVALID'));
        }
        await bus.publish(good);
        await waitFor('the good event', () => got.length >= 1);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(got, ['good.event']);
      }));

    test('order of one publisher is preserved within a single consumer', () =>
      withHarness(async (open) => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe('ordered', async (e) => void got.push(e.eventId), { batchSize: 7 });
        const sent = Array.from({ length: 100 }, (_, i) => ev(i % 2 ? 'kind.odd' : 'kind.even'));
        for (const e of sent) await bus.publish(e);
        await waitFor('100 events', () => got.length >= 100);
        assert.deepEqual(
          got,
          sent.map((e) => e.eventId),
        );
      }));

    test('kinds filter: only the listed kinds reach the handler; the others are acknowledged', () =>
      withHarness(async (open) => {
        const bus = await open();
        const got: string[] = [];
        await bus.subscribe('filtered', async (e) => void got.push(e.kind), {
          kinds: ['export.built', 'export.failed'],
        });
        for (const k of ['export.requested', 'export.built', 'evidence.bundle.sealed', 'export.failed'])
          await bus.publish(ev(k));
        await waitFor('two matching kinds', () => got.length >= 2);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(got, ['export.built', 'export.failed']);
      }));

    test('close() stops idle consumers promptly; a closed bus refuses work with BUS_UNAVAILABLE', () =>
      withHarness(async (open) => {
        const bus = await open();
        await bus.ping();
        const sub = await bus.subscribe('idle', async () => undefined);
        await new Promise((r) => setTimeout(r, 100));
        let t0 = Date.now();
        await sub.close();
        assert.ok(Date.now() - t0 < 2_000, `subscription close took ${Date.now() - t0} ms`);
        await bus.subscribe('idle2', async () => undefined);
        t0 = Date.now();
        await bus.close();
        assert.ok(Date.now() - t0 < 2_000, `bus close took ${Date.now() - t0} ms`);
        await assert.rejects(bus.publish(ev()), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));
        await assert.rejects(bus.ping(), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));
        await assert.rejects(
          bus.subscribe('x', async () => undefined),
          (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'),
        );
      }));

    // --- batch delivery (subscribeBatch) -------------------------------------------------------

    test('batch: one handler call gets several messages, in publish order, each once', () =>
      withHarness(async (open) => {
        const bus = await open();
        const sent = Array.from({ length: 60 }, () => ev());
        for (const e of sent) await bus.publish(e);
        const sizes: number[] = [];
        const got: string[] = [];
        await bus.subscribeBatch(
          'batched',
          async (batch) => {
            sizes.push(batch.length);
            for (const d of batch) {
              assert.equal(d.meta.group, 'batched');
              assert.equal(d.meta.attempt, 1);
              got.push(d.event.eventId);
            }
          },
          { batchSize: 16 },
        );
        await waitFor('60 events', () => got.length >= 60);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(
          got,
          sent.map((e) => e.eventId),
        );
        assert.ok(Math.max(...sizes) <= 16, `no batch above batchSize (${sizes.join(',')})`);
        assert.ok(Math.max(...sizes) > 1, `published before subscribing: batches of several (${sizes.join(',')})`);
      }));

    test('batch: a throwing handler gets the whole batch again; it is acknowledged after success', () =>
      withHarness(async (open) => {
        const bus = await open();
        const sent = Array.from({ length: 5 }, () => ev());
        for (const e of sent) await bus.publish(e);
        const calls: { ids: string[]; attempts: number[] }[] = [];
        await bus.subscribeBatch(
          'batch-flaky',
          async (batch) => {
            calls.push({ ids: batch.map((d) => d.event.eventId), attempts: batch.map((d) => d.meta.attempt) });
            if (batch.some((d) => d.meta.attempt === 1)) throw new Error('transient');
          },
          { batchSize: 10, retryBaseMs: 20, retryMaxMs: 50 },
        );
        const ok = () => calls.filter((c) => c.attempts.every((a) => a === 2)).flatMap((c) => c.ids);
        await waitFor('every event at attempt 2', () => ok().length >= 5, 15_000);
        await new Promise((r) => setTimeout(r, 1_500));
        assert.deepEqual(ok().sort(), sent.map((e) => e.eventId).sort());
        const all = calls.flatMap((c) => c.attempts);
        assert.equal(all.length, 10, `each event delivered twice, no third time (${JSON.stringify(calls)})`);
      }));

    test('batch: failed indexes are retried alone, the rest acknowledged; poison never reaches the handler', () =>
      withHarness(async (open, h) => {
        const dead: DeadLetter[] = [];
        const bus = await open({ onDeadLetter: (d) => dead.push(d) });
        const [a, b, c] = [ev(), ev(), ev()];
        await bus.publish(a);
        await h.poison('{"not": "an envelope"');
        await bus.publish(b);
        await bus.publish(c);
        const seen: BatchDelivery[] = [];
        await bus.subscribeBatch(
          'batch-partial',
          async (batch) => {
            seen.push(...batch);
            const failed = new Map<number, unknown>();
            batch.forEach((d, i) => {
              if (d.event.eventId === b.eventId && d.meta.attempt === 1) failed.set(i, new Error('b failed'));
            });
            return failed.size > 0 ? { failed } : undefined;
          },
          { batchSize: 10, retryBaseMs: 20, retryMaxMs: 50 },
        );
        await waitFor('b again', () => seen.some((d) => d.event.eventId === b.eventId && d.meta.attempt === 2), 15_000);
        await waitFor('poison dead-lettered', () => dead.length >= 1);
        await new Promise((r) => setTimeout(r, 1_500));
        const attempts = (id: string) => seen.filter((d) => d.event.eventId === id).map((d) => d.meta.attempt);
        assert.deepEqual(attempts(a.eventId), [1]);
        assert.deepEqual(attempts(b.eventId), [1, 2]);
        assert.deepEqual(attempts(c.eventId), [1]);
        assert.equal(seen.length, 4, 'the poison message never reached the handler');
        assert.equal(dead.length, 1);
        assert.equal(dead[0]!.raw, '{"not": "an envelope"');
        assert.equal(dead[0]!.event, undefined);
      }));

    test('batch: out of attempts, each failing message is dead-lettered once', () =>
      withHarness(async (open) => {
        const dead: DeadLetter[] = [];
        const bus = await open({ onDeadLetter: (d) => dead.push(d) });
        const sent = [ev(), ev()];
        for (const e of sent) await bus.publish(e);
        let calls = 0;
        await bus.subscribeBatch(
          'batch-doomed',
          async () => {
            calls++;
            throw new Error('permanent');
          },
          { maxDeliveries: 2, retryBaseMs: 10, retryMaxMs: 20, batchSize: 10 },
        );
        await waitFor('two dead letters', () => dead.length >= 2, 15_000);
        await new Promise((r) => setTimeout(r, 1_200));
        assert.equal(dead.length, 2);
        assert.deepEqual(dead.map((d) => d.event?.eventId).sort(), sent.map((e) => e.eventId).sort());
        assert.ok(dead.every((d) => d.attempt === 2));
        assert.ok(calls >= 2 && calls <= 4, `calls ${calls}`);
      }));

    test('batch: two consumers of one group share the work, each event handled once', () =>
      withHarness(async (open) => {
        const [bus1, bus2] = [await open(), await open()];
        const seen = new Map<string, number>();
        const by = { one: 0, two: 0 };
        const handler = (who: 'one' | 'two') => async (batch: readonly BatchDelivery[]) => {
          by[who] += batch.length;
          for (const d of batch) seen.set(d.event.eventId, (seen.get(d.event.eventId) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        };
        await bus1.subscribeBatch('batch-shared', handler('one'), { batchSize: 4 });
        await bus2.subscribeBatch('batch-shared', handler('two'), { batchSize: 4 });
        const sent = Array.from({ length: 80 }, () => ev());
        for (const e of sent) await bus1.publish(e);
        await waitFor('80 distinct events', () => seen.size >= 80, 15_000);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(by.one + by.two, 80, 'no event handled twice');
        assert.ok(by.one > 0 && by.two > 0, `both consumers worked (one=${by.one}, two=${by.two})`);
      }));

    test('batch: a batch abandoned by close() is redelivered to another consumer of the group', () =>
      withHarness(async (open) => {
        const crashing = await open({ drainTimeoutMs: 100 });
        const sent = [ev(), ev(), ev()];
        for (const e of sent) await crashing.publish(e);
        let first: string[] = [];
        await crashing.subscribeBatch(
          'batch-crashy',
          async (batch) => {
            first = batch.map((d) => d.event.eventId);
            await new Promise<void>(() => undefined); // never acks
          },
          { batchSize: 10 },
        );
        await waitFor('first batch', () => first.length > 0);
        await crashing.close();
        const survivor = await open();
        const again: BatchDelivery[] = [];
        await survivor.subscribeBatch('batch-crashy', async (batch) => void again.push(...batch));
        await waitFor('all redelivered', () => new Set(again.map((d) => d.event.eventId)).size >= 3, 15_000);
        for (const d of again.filter((x) => first.includes(x.event.eventId))) assert.ok(d.meta.attempt >= 2);
      }));

    test('groupLag: pending + unacknowledged count what the group has not finished; undefined for no group', () =>
      withHarness(async (open) => {
        const bus = await open();
        assert.equal(await bus.groupLag('no-such-group'), undefined);
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let handled = 0;
        await bus.subscribeBatch(
          'lagging',
          async (batch) => {
            await gate;
            handled += batch.length;
          },
          { batchSize: 2 },
        );
        for (let i = 0; i < 10; i++) await bus.publish(ev());
        // Nothing is acknowledged while the gate is shut: every event is pending or unacknowledged
        // (wait until the first batch was handed out).
        let lag = await bus.groupLag('lagging');
        const deadline = Date.now() + 10_000;
        while ((lag?.unacknowledged ?? 0) === 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          lag = await bus.groupLag('lagging');
        }
        assert.ok(lag, 'the group exists');
        assert.ok(lag.unacknowledged >= 1 && lag.unacknowledged <= 10, JSON.stringify(lag));
        assert.equal((lag.pending ?? 0) + lag.unacknowledged, 10, JSON.stringify(lag));
        release();
        await waitFor('all handled', () => handled >= 10);
        const end = Date.now() + 10_000;
        do {
          lag = await bus.groupLag('lagging');
          if (lag?.pending === 0 && lag.unacknowledged === 0) break;
          await new Promise((r) => setTimeout(r, 20));
        } while (Date.now() < end);
        assert.deepEqual(lag, { pending: 0, unacknowledged: 0 });
      }));

    test('group names are validated (they become JetStream durables and Redis groups)', () =>
      withHarness(async (open) => {
        const bus = await open();
        for (const g of ['', 'has.dot', 'wild*', 'sp ace', 'x'.repeat(65)]) {
          await assert.rejects(
            bus.subscribe(g, async () => undefined),
            (err: unknown) => isStellaError(err, 'VALIDATION_FAILED'),
          );
        }
      }));
  });
}
