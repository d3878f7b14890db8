/**
 * What the timeline benches share to drive a REAL indexer process through a real broker: a
 * NATS JetStream or Redis Streams stream of its own (created and removed here), a publisher
 * without a dedupe window (duplicates reach the stream, as after a window expired), the
 * indexer child (`services/timeline-indexer/src/testing/timeline-consumer-child.ts`) and a
 * count of what it stored, read as the owner straight from `timeline.event_ids`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  deleteNatsStream,
  deleteRedisStream,
  openNatsBus,
  openRedisBus,
  type EventBus,
  type EventEnvelope,
} from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import { services, uniqueName } from '@stella/testkit';

export type BrokerName = 'nats' | 'redis';

export interface BenchBroker {
  name: BrokerName;
  publisher: EventBus;
  /** How the child opens the consumer side: `openBus(parseBusUrl(url), options)`. */
  child: { url: string; options: Record<string, unknown> };
  /** How far the indexer's group is behind (the consumer-lag metric's source). */
  lag(): ReturnType<EventBus['groupLag']>;
  cleanup(): Promise<void>;
}

/** A stream of its own on `name`; ack wait 30 s (the default), so a killed child's work returns then. */
export async function openBenchBroker(name: BrokerName, ackWaitMs = 30_000): Promise<BenchBroker> {
  if (name === 'nats') {
    const stream = uniqueName('TLBENCH').toUpperCase();
    const options = { stream, subjectPrefix: `b.${stream.toLowerCase()}`, ackWaitMs, maxMessages: -1 };
    const publisher = await openNatsBus(services.nats.url, { ...options, dedupeWindowMs: 0 });
    return {
      name,
      publisher,
      child: { url: services.nats.url, options },
      lag: () => publisher.groupLag('timeline-indexer'),
      async cleanup() {
        await publisher.close();
        await deleteNatsStream(services.nats.url, stream);
      },
    };
  }
  const streamKey = uniqueName('tlbench:events');
  const options = { streamKey, ackWaitMs, maxLen: 10_000_000, pollMs: 200 };
  const publisher = await openRedisBus(services.redis.url, { ...options, dedupeWindowMs: 0 });
  return {
    name,
    publisher,
    child: { url: services.redis.url, options },
    lag: () => publisher.groupLag('timeline-indexer'),
    async cleanup() {
      await publisher.close();
      await deleteRedisStream(services.redis.url, streamKey);
    },
  };
}

/** Publishes `events` in order with up to `window` publishes outstanding (order kept per batch of acks). */
export async function publishAll(bus: EventBus, events: readonly EventEnvelope[], window = 256): Promise<void> {
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(events.slice(i, i + window).map((e) => bus.publish(e)));
  }
}

const childScript = fileURLToPath(
  new URL('../../services/timeline-indexer/src/testing/timeline-consumer-child.ts', import.meta.url),
);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface IndexerProcess {
  proc: ChildProcess;
  exited: Promise<void>;
  /** With `waitForGo`: starts consuming. */
  go(): void;
  kill(): Promise<void>;
}

/** Starts an indexer process; resolves once it is connected (`waitForGo`) or consuming. */
export async function startIndexer(
  dbUrl: string,
  broker: BenchBroker,
  waitForGo = false,
  consumer: { subscriptions?: number; batchSize?: number } = {},
  /** A directory: run the child with `--cpu-prof` into it (kill() then lets it exit normally). */
  cpuProfDir?: string,
): Promise<IndexerProcess> {
  const proc = spawn(
    process.execPath,
    [
      ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
      '--conditions=development',
      '--import',
      'tsx',
      childScript,
      dbUrl,
      broker.child.url,
      JSON.stringify(broker.child.options),
      JSON.stringify({ waitForGo, lifetimeMs: 1_800_000, ...consumer }),
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const want = waitForGo ? 'connected' : 'ready';
  const deadline = Date.now() + 60_000;
  while (!out.includes(want)) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error(`indexer process not ${want}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    exited,
    go: () => void proc.stdin!.write('go\n'),
    async kill() {
      if (cpuProfDir && proc.exitCode === null && proc.signalCode === null) {
        proc.stdin!.write('exit\n');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      }
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Events stored (all tenants), counted as the owner. */
export async function storedCount(db: Db): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM timeline.event_ids')).rows[0]!.n);
}

/**
 * Events committed (all tenants), from the per-tenant arrival counters: one small-table read, so
 * a bench can poll it often. (`count(*)` of event_ids every 25 ms took a large share of a core
 * from the indexer it was timing, at 100,000 events.) Equal to {@link storedCount} once the
 * indexer's transactions committed (ingest.ts numbers exactly the stored events).
 */
export async function arrivedCount(db: Db): Promise<number> {
  return Number(
    (await db.query<{ n: string }>('SELECT coalesce(sum(last_arrival), 0)::text AS n FROM timeline.tenant_arrivals'))
      .rows[0]!.n,
  );
}

/** Polls {@link arrivedCount} every `everyMs` until it reaches `n`; returns the ms when it did. */
export async function waitStored(db: Db, n: number, timeoutMs: number, everyMs = 50): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await arrivedCount(db);
    if (got >= n) return performance.now();
    if (Date.now() > end) throw new Error(`only ${got} of ${n} events stored after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The broker side alone (no database): how fast events already on `broker`'s stream reach a
 * consumer that stores nothing. `port`: our EventBus adapter exactly as the indexer opens it
 * (`subscriptions` batch subscriptions of batch `batchSize`, a handler that only counts, acks
 * after it as always); `raw`: the broker's own client with nothing of ours in between (NATS:
 * `consume({ max_messages })` + `ack()` per message, JSON.parse; Redis: `XREADGROUP COUNT` +
 * one `XACK` of the whole read, JSON.parse). Each uses a group of its own from the stream's
 * start; resolves with the ms from subscribing until every event was acknowledged.
 */
export async function drainWithoutDb(
  broker: BenchBroker,
  n: number,
  how: { kind: 'port'; subscriptions: number; batchSize: number } | { kind: 'raw'; batchSize: number },
): Promise<number> {
  const group = uniqueName('nodb').replace(/[^a-z0-9-]/gi, '-');
  if (how.kind === 'port') {
    const { openBus } = await import('@stella/platform/bus');
    const { parseBusUrl } = await import('@stella/platform/config');
    const bus = await openBus(parseBusUrl(broker.child.url), broker.child.options);
    let seen = 0;
    const t0 = performance.now();
    try {
      for (let i = 0; i < how.subscriptions; i++) {
        await bus.subscribeBatch(
          group,
          async (batch) => {
            seen += batch.length;
            return undefined;
          },
          { batchSize: how.batchSize },
        );
      }
      for (;;) {
        if (seen >= n) {
          const lag = await bus.groupLag(group);
          if (lag && lag.pending === 0 && lag.unacknowledged === 0) return performance.now() - t0;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await bus.close();
    }
  }
  if (broker.name === 'nats') {
    const { AckPolicy, DeliverPolicy, connect, nanos } = await import('nats');
    const o = broker.child.options as { stream: string; subjectPrefix: string };
    const nc = await connect({ servers: broker.child.url });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.consumers.add(o.stream, {
        durable_name: group,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(30_000),
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${o.subjectPrefix}.>`,
        max_ack_pending: Math.max(1000, how.batchSize * 4),
      });
      const t0 = performance.now();
      const messages = await (
        await nc.jetstream().consumers.get(o.stream, group)
      ).consume({
        max_messages: how.batchSize,
      });
      let seen = 0;
      for await (const m of messages) {
        JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8'));
        m.ack();
        if (++seen >= n) break;
      }
      await nc.flush();
      const ms = performance.now() - t0;
      messages.stop();
      await jsm.consumers.delete(o.stream, group).catch(() => undefined);
      return ms;
    } finally {
      await nc.close();
    }
  }
  const { Redis } = await import('ioredis');
  const key = (broker.child.options as { streamKey: string }).streamKey;
  const conn = new Redis(broker.child.url);
  try {
    await conn.xgroup('CREATE', key, group, '0');
    const t0 = performance.now();
    let seen = 0;
    const acks: Promise<unknown>[] = [];
    while (seen < n) {
      const res = (await conn.xreadgroup(
        'GROUP',
        group,
        'c1',
        'COUNT',
        how.batchSize,
        'BLOCK',
        200,
        'STREAMS',
        key,
        '>',
      )) as [string, [string, string[]][]][] | null;
      const entries = res?.[0]?.[1] ?? [];
      for (const [, fields] of entries) JSON.parse(fields[fields.indexOf('event') + 1] ?? fields[1]!);
      if (entries.length > 0) acks.push(conn.xack(key, group, ...entries.map((e) => e[0])));
      seen += entries.length;
    }
    await Promise.all(acks);
    const ms = performance.now() - t0;
    await conn.xgroup('DESTROY', key, group);
    return ms;
  } finally {
    conn.disconnect();
  }
}
