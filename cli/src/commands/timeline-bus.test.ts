/**
 * `stella timeline publish --via bus` against a real server in process (startRuntime on
 * PostgreSQL 15, one worker = the timeline consumers) on real NATS JetStream and real Redis
 * Streams, each run on its own `STELLA_BUS_NAMESPACE` (its own stream on the shared broker): the
 * CLI publishes a JSONL file with bad lines and duplicates → the running indexer stores exactly
 * the valid, unique events of the file, in the file's order per source; the summary names the
 * rejected lines. The bus is also the default when STELLA_BUS_URL names one; a memory: bus or an
 * unreachable broker is refused with the usual exit codes.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDatabase, needService, services, tempDir, uniqueName } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { deleteNatsStream, deleteRedisStream, newEvent, type EventEnvelope } from '@stella/platform/bus';
import { SERVICES, mintDevToken, startRuntime } from '@stella/server';
import { StellaClient, TimelineApi } from '@stella/sdk';
import { runCli } from '../testing/run-cli.js';

const skip = await needService('postgres', 'nats', 'redis');

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const BASE = Date.parse('2026-03-01T00:00:00Z');

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const broker of ['nats', 'redis'] as const) {
  describe(`stella timeline publish --via bus on ${broker}`, { skip, timeout: 180_000 }, () => {
    test('the running indexer stores exactly the valid, unique events of the file', async () => {
      const dir = await tempDir('stella-cli-timeline-bus-');
      cleanups.push(() => dir.cleanup());
      const db = await createTestDatabase('tlbus');
      cleanups.push(() => db.drop());
      const namespace = uniqueName('tlbus')
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-')
        .slice(0, 32);
      const busUrl = services[broker].url;
      cleanups.push(() =>
        broker === 'nats'
          ? deleteNatsStream(busUrl, `STELLA_EVENTS_${namespace.toUpperCase().replace(/-/g, '_')}`)
          : deleteRedisStream(busUrl, `stella:${namespace}:events`),
      );
      const env = { STELLA_BUS_URL: busUrl, STELLA_BUS_NAMESPACE: namespace };
      const config = loadConfig(
        // One subscription: then a source's ingest sequence follows the stream, i.e. the file
        // (docs/timeline.md "Order within a source"; with two, batches commit in either order).
        {
          ...env,
          STELLA_HTTP_PORT: '0',
          STELLA_WORKERS: '1',
          STELLA_TIMELINE_CONSUMERS: '1',
          STELLA_DATABASE_URL: db.url,
        },
        {},
        { cwd: dir.path, services: SERVICES },
      );
      const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
      cleanups.push(() => rt.close());
      const [A, B] = [`${broker}-a`, `${broker}-b`];

      // 300 events of tenant A from two sources, 30 of them twice; 5 of tenant B; shuffled
      // occurredAt; five bad lines: not JSON, an array, an envelope with no source, and two valid
      // envelopes the timeline cannot store (a NUL in the subject, UTC year 0000), which the CLI
      // refuses with the indexer's own check instead of publishing them to be dead-lettered.
      const a = Array.from({ length: 300 }, (_, i) =>
        newEvent({
          tenant: A,
          kind: 'build.step',
          source: i % 2 ? 'ci' : 'scanner',
          subject: `step-${i}`,
          occurredAt: new Date(BASE + ((i * 7919) % 300) * 1000),
        }),
      );
      const b = Array.from({ length: 5 }, (_, i) =>
        newEvent({ tenant: B, kind: 'b.kind', source: 'b', subject: `${i}` }),
      );
      const lines: string[] = a.map((e) => JSON.stringify(e));
      for (let i = 0; i < 30; i++) lines.splice(10 + i * 9, 0, JSON.stringify(a[i * 3]));
      lines.splice(5, 0, '{"eventId":');
      lines.splice(100, 0, '[1,2,3]');
      const { source: _s, ...noSource } = newEvent({ tenant: A, kind: 'x.y', source: 'z' });
      lines.splice(200, 0, JSON.stringify(noSource));
      lines.splice(300, 0, JSON.stringify(newEvent({ tenant: A, kind: 'x.y', source: 'z', subject: 'a\u0000b' })));
      lines.splice(
        301,
        0,
        JSON.stringify({ ...newEvent({ tenant: A, kind: 'x.y', source: 'z' }), occurredAt: '0000-06-01T00:00:00Z' }),
      );
      lines.push(...b.map((e) => JSON.stringify(e)));
      await writeFile(join(dir.path, 'events.jsonl'), `${lines.join('\n')}\n`);
      const badLines = [6, 101, 201, 301, 302];

      // Default --via: the environment names a bus, so no server URL or token is needed.
      const r = await runCli(['timeline', 'publish', '--json', 'events.jsonl'], {
        cwd: dir.path,
        env: { ...env, PATH: process.env.PATH },
      });
      assert.equal(r.code, 1, r.stderr); // the five bad lines
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.via, 'bus');
      assert.equal(summary.lines, lines.length);
      assert.equal(summary.sent, lines.length - 5);
      assert.equal(summary.rejected, 5);
      assert.deepEqual(
        summary.rejectedLines.map((l: { line: number }) => l.line),
        badLines,
      );
      assert.match(summary.rejectedLines[0].reason, /^not JSON/);
      assert.equal(summary.rejectedLines[1].reason, 'not a JSON object');
      assert.match(summary.rejectedLines[2].reason, /^\/source /);
      assert.equal(summary.rejectedLines[3].reason, '/subject must not contain NUL characters');
      assert.equal(summary.rejectedLines[4].reason, '/occurredAt must fall in the UTC years 0001–9999');
      assert.deepEqual(
        r.stderr
          .trimEnd()
          .split('\n')
          .map((l) => /line (\d+):/.exec(l)?.[1]),
        badLines.map(String),
      );

      const api = async (tenant: string) =>
        new TimelineApi(
          new StellaClient({ server: rt.url, token: await mintDevToken(rt.devIssuer!, tenant), tenant }),
          tenant,
        );
      const all = async (tenant: string) => {
        const out: (EventEnvelope & { ingestSeq: string })[] = [];
        for await (const page of (await api(tenant)).pages({ limit: 1000 }))
          out.push(...(page.events as (EventEnvelope & { ingestSeq: string })[]));
        return out;
      };
      const storedA = await until('tenant A complete', async () => {
        const got = await all(A);
        return got.length >= a.length ? got : undefined;
      });
      // Exactly the unique events, nothing twice, none of the bad lines.
      assert.equal(storedA.length, a.length);
      assert.deepEqual(new Set(storedA.map((e) => e.eventId)), new Set(a.map((e) => e.eventId)));
      // Timeline order (occurredAt, source, ingest sequence), and each source's sequence follows the file.
      const expected = [...a].sort(
        (x, y) => Date.parse(x.occurredAt) - Date.parse(y.occurredAt) || (x.source < y.source ? -1 : 1),
      );
      assert.deepEqual(
        storedA.map((e) => e.eventId),
        expected.map((e) => e.eventId),
      );
      for (const source of ['ci', 'scanner']) {
        const bySeq = storedA
          .filter((e) => e.source === source)
          .sort((x, y) => Number(x.ingestSeq) - Number(y.ingestSeq));
        assert.deepEqual(
          bySeq.map((e) => e.eventId),
          a.filter((e) => e.source === source).map((e) => e.eventId),
          `${source}: ingest sequence = file order`,
        );
      }
      const storedB = await until('tenant B', async () => {
        const got = await all(B);
        return got.length >= b.length ? got : undefined;
      });
      assert.deepEqual(storedB.map((e) => e.eventId).sort(), b.map((e) => e.eventId).sort());

      // Again with --tenant B: the lines of A are refused, B's are published again (duplicates).
      const again = await runCli(['timeline', 'publish', '--json', '--via', 'bus', '--tenant', B, 'events.jsonl'], {
        cwd: dir.path,
        env: { ...env, PATH: process.env.PATH },
      });
      assert.equal(again.code, 1);
      const s2 = JSON.parse(again.stdout);
      assert.equal(s2.sent, b.length);
      assert.equal(s2.rejected, lines.length - b.length);
      const reasons = new Map(s2.rejectedLines.map((l: { line: number; reason: string }) => [l.line, l.reason]));
      assert.equal(reasons.get(1), `/tenant is "${A}", not --tenant "${B}"`);
      assert.match(reasons.get(6) as string, /^not JSON/);
      // Let the consumer catch up, then: still five.
      await until('the republished events consumed', async () => {
        const lag = await rt.bus.groupLag('timeline-indexer');
        return lag && lag.pending === 0 && lag.unacknowledged === 0 ? true : undefined;
      });
      assert.equal((await all(B)).length, b.length);
    });
  });
}

describe('stella timeline publish: bus configuration', { skip }, () => {
  test('--via bus without a bus, or with memory:, is a usage error; a broker that does not answer is exit 1', async () => {
    const dir = await tempDir('stella-cli-timeline-bus-');
    cleanups.push(() => dir.cleanup());
    await writeFile(
      join(dir.path, 'one.jsonl'),
      `${JSON.stringify(newEvent({ tenant: 't', kind: 'k', source: 's' }))}\n`,
    );
    const none = await runCli(['timeline', 'publish', '--via', 'bus', 'one.jsonl'], { cwd: dir.path, env: {} });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--via bus needs a bus/);
    const memory = await runCli(['timeline', 'publish', '--via', 'bus', 'one.jsonl'], {
      cwd: dir.path,
      env: { STELLA_BUS_URL: 'memory:' },
    });
    assert.equal(memory.code, 2);
    assert.match(memory.stderr, /in-process \(memory:\)/);
    const badVia = await runCli(['timeline', 'publish', '--via', 'carrier-pigeon', 'one.jsonl'], {
      cwd: dir.path,
      env: {},
    });
    assert.equal(badVia.code, 2);
    const badNs = await runCli(['timeline', 'publish', '--bus-namespace', 'Not OK', 'one.jsonl'], {
      cwd: dir.path,
      env: { STELLA_BUS_URL: services.redis.url },
    });
    assert.equal(badNs.code, 2);
    assert.match(badNs.stderr, /--bus-namespace: /);
    // memory: is not a bus the CLI can reach: the default is http (and then a token is needed).
    const http = await runCli(['timeline', 'publish', 'one.jsonl'], {
      cwd: dir.path,
      env: { STELLA_BUS_URL: 'memory:' },
    });
    assert.equal(http.code, 2);
    assert.match(http.stderr, /no token/);
    const down = await runCli(['timeline', 'publish', 'one.jsonl'], {
      cwd: dir.path,
      env: { STELLA_BUS_URL: 'redis://127.0.0.1:1' },
    });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /BUS_UNAVAILABLE/);
  });
});
