/**
 * Event bus throughput: publish → consume through our EventBus port, per adapter, BESIDE the raw
 * client doing the same work in the same run (issue #2 item 5; DESIGN.md §5 "Benchmarks").
 *
 *   node --conditions=development --import tsx bench/bus-throughput.ts [--events N] [--window W]
 *        [--adapters memory,nats,redis] [--json]
 *
 * For each adapter: one consumer group subscribed first, then N events published with at most W
 * publishes in flight; the run ends when the consumer has acknowledged all N. Reported: publish
 * events/s (until the last publish resolved), end-to-end events/s (first publish → last ack),
 * p50/p99 publish→handler latency, and peak RSS sampled every 20 ms during that case (RSS is
 * process-wide, so it includes everything loaded before). Loopback only; every stream is
 * deleted afterwards.
 *
 * Baselines ("raw"): NATS = `nats` js.publish(msgID) + consumer.consume() + ack per message on
 * the same stream config; Redis = ioredis XADD MAXLEN ~ + XREADGROUP COUNT/BLOCK + XACK per
 * entry; memory = JSON encode → array queue → JSON.parse consumer loop. "port-nodedupe" rows run
 * the port with `dedupeWindowMs: 0` to show what publish-side dedupe costs.
 */
import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, connect, nanos } from 'nats';
import { Redis } from 'ioredis';
import {
  createMemoryBus,
  deleteNatsStream,
  deleteRedisStream,
  newEvent,
  openNatsBus,
  openRedisBus,
  type EventBus,
  type EventEnvelope,
} from '@stella/platform/bus';
import { benchArgs } from './lib/args.js';
import { percentile as pct, rssSampler } from './lib/measure.js';

const args = benchArgs();
const N = Number(args.opt('events', '20000'));
const W = Number(args.opt('window', '256'));
const adapters = args.opt('adapters', 'memory,nats,redis').split(',');
const asJson = args.json;
if (!Number.isInteger(N) || N < 1 || N > 1_000_000 || !Number.isInteger(W) || W < 1) {
  console.error('usage: bus-throughput [--events 1..1000000] [--window W] [--adapters memory,nats,redis] [--json]');
  process.exit(2);
}
const NATS_URL = process.env.STELLA_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.STELLA_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Result {
  adapter: string;
  variant: 'port' | 'raw' | 'port-nodedupe';
  events: number;
  publishPerSec: number;
  e2ePerSec: number;
  p50Ms: number;
  p99Ms: number;
  peakRssMiB: number;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** The events of one case; `t` (publish time, ms) goes in the payload so both variants carry it. */
function makeEvents(): EventEnvelope[] {
  return Array.from({ length: N }, (_, i) =>
    newEvent({
      tenant: 'bench',
      kind: 'bench.bus.event',
      source: 'bench',
      subject: `s/${i}`,
      attributes: { i },
      payload: { i, t: 0, pad: 'x'.repeat(200) },
    }),
  );
}

/** Publishes with at most W in flight; returns the time the last publish resolved. */
async function publishAll(events: EventEnvelope[], publish: (e: EventEnvelope) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const e = events[next++]!;
      (e.payload as { t: number }).t = nowMs();
      await publish(e);
    }
  };
  await Promise.all(Array.from({ length: Math.min(W, events.length) }, worker));
  return nowMs();
}

/** Runs one case: `setup` returns publish + a consumer start; resolves when all N are consumed. */
async function runCase(
  adapter: string,
  variant: Result['variant'],
  setup: (
    onEvent: (t: number) => void,
  ) => Promise<{ publish: (e: EventEnvelope) => Promise<unknown>; teardown: () => Promise<void> }>,
): Promise<Result> {
  const events = makeEvents();
  const latencies: number[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let lastAck = 0;
  const onEvent = (t: number) => {
    const now = nowMs();
    latencies.push(now - t);
    if (latencies.length === N) {
      lastAck = now;
      resolveDone();
    }
  };
  const stopRss = rssSampler();
  const { publish, teardown } = await setup(onEvent);
  const t0 = nowMs();
  const tPub = await publishAll(events, publish);
  const timeout = setTimeout(() => {
    console.error(`${adapter}/${variant}: only ${latencies.length}/${N} consumed after 120 s`);
    process.exit(1);
  }, 120_000);
  await done;
  clearTimeout(timeout);
  const peakRssMiB = stopRss();
  await teardown();
  latencies.sort((a, b) => a - b);
  return {
    adapter,
    variant,
    events: N,
    publishPerSec: N / ((tPub - t0) / 1000),
    e2ePerSec: N / ((lastAck - t0) / 1000),
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    peakRssMiB,
  };
}

const uniq = (p: string) => `${p}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** Our port over any adapter. */
function portCase(open: () => Promise<{ bus: EventBus; cleanup: () => Promise<void> }>) {
  return async (onEvent: (t: number) => void) => {
    const { bus, cleanup } = await open();
    await bus.subscribe('bench', async (e) => onEvent((e.payload as { t: number }).t), { batchSize: 256 });
    return {
      publish: (e: EventEnvelope) => bus.publish(e),
      teardown: async () => {
        await bus.close();
        await cleanup();
      },
    };
  };
}

async function rawMemory(onEvent: (t: number) => void) {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const raw = queue.shift();
      if (raw === undefined) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const e = JSON.parse(raw) as EventEnvelope;
      onEvent((e.payload as { t: number }).t);
    }
  })();
  return {
    publish: async (e: EventEnvelope) => {
      queue.push(JSON.stringify(e));
      wake?.();
    },
    teardown: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

async function rawNats(onEvent: (t: number) => void) {
  const stream = uniq('BENCH_RAW').toUpperCase();
  const prefix = `bench.${stream.toLowerCase()}`;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: stream,
    subjects: [`${prefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  await jsm.consumers.add(stream, {
    durable_name: 'bench',
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(30_000),
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${prefix}.>`,
  });
  const js = nc.jetstream();
  const messages = await (await js.consumers.get(stream, 'bench')).consume({ max_messages: 256 });
  const loop = (async () => {
    for await (const m of messages) {
      const e = JSON.parse(Buffer.from(m.data).toString('utf8')) as EventEnvelope;
      onEvent((e.payload as { t: number }).t);
      m.ack();
    }
  })();
  return {
    publish: (e: EventEnvelope) =>
      js.publish(`${prefix}.${e.kind}`, Buffer.from(JSON.stringify(e)), { msgID: `${e.tenant}:${e.eventId}` }),
    teardown: async () => {
      messages.stop();
      await loop.catch(() => undefined);
      await jsm.streams.delete(stream);
      await nc.close();
    },
  };
}

async function rawRedis(onEvent: (t: number) => void) {
  const key = uniq('bench:raw');
  const pub = new Redis(REDIS_URL);
  const sub = new Redis(REDIS_URL);
  await sub.xgroup('CREATE', key, 'bench', '0', 'MKSTREAM');
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const res = (await sub
        .xreadgroup('GROUP', 'bench', 'c1', 'COUNT', 256, 'BLOCK', 200, 'STREAMS', key, '>')
        .catch(() => null)) as [string, [string, string[]][]][] | null;
      const acks: Promise<unknown>[] = [];
      for (const [id, fields] of res?.[0]?.[1] ?? []) {
        const e = JSON.parse(fields[3]!) as EventEnvelope;
        onEvent((e.payload as { t: number }).t);
        acks.push(sub.xack(key, 'bench', id)); // pipelined, as the adapter does
      }
      await Promise.all(acks);
    }
  })();
  return {
    publish: (e: EventEnvelope) =>
      pub.xadd(key, 'MAXLEN', '~', 1_000_000, '*', 'kind', e.kind, 'event', JSON.stringify(e)),
    teardown: async () => {
      stopped = true;
      await loop;
      await pub.del(key);
      pub.disconnect();
      sub.disconnect();
    },
  };
}

const results: Result[] = [];
for (const a of adapters) {
  if (a === 'memory') {
    results.push(await runCase('memory', 'raw', rawMemory));
    results.push(
      await runCase(
        'memory',
        'port',
        portCase(async () => ({ bus: createMemoryBus({ dedupeWindowMs: 0 }), cleanup: async () => undefined })),
      ),
    );
  } else if (a === 'nats') {
    results.push(await runCase('nats', 'raw', rawNats));
    results.push(
      await runCase(
        'nats',
        'port',
        portCase(async () => {
          const stream = uniq('BENCH_PORT').toUpperCase();
          return {
            bus: await openNatsBus(NATS_URL, { stream, subjectPrefix: `bench.${stream.toLowerCase()}` }),
            cleanup: () => deleteNatsStream(NATS_URL, stream),
          };
        }),
      ),
    );
    // Same, without Nats-Msg-Id (dedupeWindowMs 0): isolates what the server-side dedupe costs.
    results.push(
      await runCase(
        'nats',
        'port-nodedupe',
        portCase(async () => {
          const stream = uniq('BENCH_PORTND').toUpperCase();
          return {
            bus: await openNatsBus(NATS_URL, {
              stream,
              subjectPrefix: `bench.${stream.toLowerCase()}`,
              dedupeWindowMs: 0,
            }),
            cleanup: () => deleteNatsStream(NATS_URL, stream),
          };
        }),
      ),
    );
  } else if (a === 'redis') {
    results.push(await runCase('redis', 'raw', rawRedis));
    results.push(
      await runCase(
        'redis',
        'port',
        portCase(async () => {
          const streamKey = uniq('bench:port');
          return {
            bus: await openRedisBus(REDIS_URL, { streamKey }),
            cleanup: () => deleteRedisStream(REDIS_URL, streamKey),
          };
        }),
      ),
    );
    // Same, with the publish dedupe marker off (the Lua script then only XADDs).
    results.push(
      await runCase(
        'redis',
        'port-nodedupe',
        portCase(async () => {
          const streamKey = uniq('bench:portnd');
          return {
            bus: await openRedisBus(REDIS_URL, { streamKey, dedupeWindowMs: 0 }),
            cleanup: () => deleteRedisStream(REDIS_URL, streamKey),
          };
        }),
      ),
    );
  } else {
    console.error(`unknown adapter ${a}`);
    process.exit(2);
  }
}

if (asJson) console.log(JSON.stringify({ events: N, window: W, results }, null, 2));
else {
  console.log(`bus-throughput: ${N} events/case, ${W} publishes in flight, node ${process.version}`);
  console.log('adapter  variant        publish ev/s   e2e ev/s   p50 ms    p99 ms  peak RSS MiB  port/raw e2e');
  for (const r of results) {
    const raw = results.find((x) => x.adapter === r.adapter && x.variant === 'raw');
    const ratio = r.variant !== 'raw' && raw ? `${((r.e2ePerSec / raw.e2ePerSec) * 100).toFixed(0)}%` : '';
    console.log(
      `${r.adapter.padEnd(8)} ${r.variant.padEnd(13)} ${r.publishPerSec.toFixed(0).padStart(12)} ${r.e2ePerSec.toFixed(0).padStart(10)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(9)} ${r.peakRssMiB.toFixed(0).padStart(13)}  ${ratio.padStart(12)}`,
    );
  }
}
