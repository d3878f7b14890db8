/**
 * Redis Streams adapter (DESIGN.md §3 "Events"): one stream (`stella:events`), one consumer
 * group per service, XACK only after the handler resolved (so after its DB commit), and stale
 * pending entries — a consumer that crashed or was abandoned before XACK — taken over with
 * XAUTOCLAIM once idle for `ackWaitMs` (https://redis.io/docs/latest/develop/data-types/streams/
 * "Recovering from permanent failures").
 *
 * Redis has no publish-side dedupe, so `publish` runs one Lua script that sets a
 * `(tenant, eventId)` marker with `SET NX PX <window>` and XADDs only when the marker was new —
 * atomically, which mirrors JetStream's duplicate window. The marker key carries the stream key
 * as a hash tag so both keys live in one slot on a Redis Cluster.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { StellaError, isStellaError } from '@stella/core/errors';
import { redactUrl } from '../config/redact-url.js';
import { encodeEventJson } from './event-envelope.js';
import {
  resolveBusOptions,
  settleWithin,
  sleep,
  type BatchHandler,
  type BusOptions,
  type EventBus,
  type EventHandler,
  type ResolvedSubscribeOptions,
  type Subscription,
} from './event-bus.js';
import { BusSubscriptions, deliverBatch, deliverEvent, type DeliveryActions } from './bus-support.js';

/** Options of {@link openRedisBus}. */
export interface RedisBusOptions extends BusOptions {
  /** Stream key. Default `stella:events`. */
  streamKey?: string;
  /** Approximate retention (`XADD MAXLEN ~`). Default 1 000 000 entries. */
  maxLen?: number;
  /**
   * Bound of one XREADGROUP BLOCK and the period of the XAUTOCLAIM sweep; retries and takeovers
   * happen with this granularity. Default 500 ms.
   */
  pollMs?: number;
}

// KEYS[1] stream, KEYS[2] dedupe marker; ARGV: windowMs, maxLen, kind, event JSON.
const PUBLISH_LUA = `
if tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return false end
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'kind', ARGV[3], 'event', ARGV[4])
`;

type StreamEntry = [id: string, fields: string[]];

/** One delivery in progress: its entry id and whether close() gave up waiting for it. */
interface RedisInFlight {
  id: string;
  abandoned: boolean;
}

/** A subscription's handler: one per message or one per batch. */
type Handlers = { single: EventHandler } | { batch: BatchHandler };

function unavailable(what: string, err: unknown): StellaError {
  if (isStellaError(err)) return err;
  return new StellaError(
    'BUS_UNAVAILABLE',
    `Redis ${what} failed: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

const isNoGroup = (err: unknown) => err instanceof Error && /NOGROUP/.test(err.message);

/** Opens a Redis Streams bus at `url` (`redis://[:password@]host:port[/db]`). */
export async function openRedisBus(url: string, options: RedisBusOptions = {}): Promise<EventBus> {
  const opts = resolveBusOptions(options);
  const key = options.streamKey ?? 'stella:events';
  const maxLen = options.maxLen ?? 1_000_000;
  const pollMs = options.pollMs ?? 500;
  if (key.length === 0 || /\s/.test(key))
    throw new StellaError('CONFIG_INVALID', `invalid Redis stream key ${JSON.stringify(key)}`);
  if (!Number.isInteger(maxLen) || maxLen < 1)
    throw new StellaError('CONFIG_INVALID', 'Redis maxLen must be a positive integer');
  const dedupePrefix = `{${key}}:dedupe:`;
  const connOpts = { maxRetriesPerRequest: 2, lazyConnect: true, connectionName: 'stella-bus' };
  const redis = new Redis(url, connOpts);
  redis.on('error', () => undefined); // surfaced through command rejections instead
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw unavailable(`connect to ${redactUrl(url)}`, err);
  }
  redis.defineCommand('stellaPublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
  const subs = new BusSubscriptions<RedisSubscription>();

  class RedisSubscription implements Subscription {
    private stopped = false;
    private readonly abort = new AbortController();
    private readonly conn: Redis;
    private readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    /** The delivery (or batch) whose handler runs now. */
    private current: { promise: Promise<void>; handles: RedisInFlight[] } | undefined;
    private buffered: string[] = [];
    private claimCursor = '0-0';
    private nextClaimAt = 0;
    private loop: Promise<void> = Promise.resolve();

    constructor(
      readonly group: string,
      private readonly handler: Handlers,
      private readonly o: ResolvedSubscribeOptions,
    ) {
      // A blocking XREADGROUP holds its connection, so every subscription gets its own.
      this.conn = redis.duplicate();
      this.conn.on('error', () => undefined);
    }

    async ensureGroup(): Promise<void> {
      try {
        await this.conn.xgroup('CREATE', key, this.group, this.o.startFrom === 'all' ? '0' : '$', 'MKSTREAM');
      } catch (err) {
        if (!(err instanceof Error && /BUSYGROUP/.test(err.message))) throw err;
      }
    }

    async start(): Promise<void> {
      try {
        await this.conn.connect();
        await this.ensureGroup();
      } catch (err) {
        this.conn.disconnect();
        throw unavailable(`consumer group ${this.group}`, err);
      }
      this.loop = this.run();
    }

    private async run(): Promise<void> {
      let failures = 0;
      while (!this.stopped) {
        try {
          if (Date.now() >= this.nextClaimAt) {
            this.nextClaimAt = Date.now() + pollMs;
            await this.claimStale();
          }
          if (this.stopped) break;
          const res = (await this.conn.xreadgroup(
            'GROUP',
            this.group,
            this.consumer,
            'COUNT',
            this.o.batchSize,
            'BLOCK',
            pollMs,
            'STREAMS',
            key,
            '>',
          )) as [string, StreamEntry[]][] | null;
          const entries = res?.[0]?.[1] ?? [];
          await this.process(entries, () => 1);
          failures = 0;
        } catch (err) {
          if (this.stopped) break;
          if (isNoGroup(err)) {
            // The stream or group vanished (FLUSHALL, failover to an empty replica): recreate it.
            await this.ensureGroup().catch(() => undefined);
            continue;
          }
          failures++;
          await sleep(Math.min(100 * 2 ** failures, 5_000), this.abort.signal);
        }
      }
    }

    /** XAUTOCLAIM entries idle longer than ackWaitMs (crashed or abandoned consumers, retries). */
    private async claimStale(): Promise<void> {
      const reply = (await this.conn.xautoclaim(
        key,
        this.group,
        this.consumer,
        opts.ackWaitMs,
        this.claimCursor,
        'COUNT',
        this.o.batchSize,
      )) as unknown as [string, (StreamEntry | null)[], string[]?];
      this.claimCursor = reply[0];
      const entries = reply[1].filter((e): e is StreamEntry => e !== null);
      if (entries.length === 0) return;
      // XAUTOCLAIM does not return delivery counts; XPENDING does (it was incremented by the claim).
      const counts = new Map<string, number>();
      for (const [id] of entries) {
        const p = (await this.conn.xpending(key, this.group, id, id, 1)) as [string, string, number, number][];
        counts.set(id, p[0]?.[3] ?? 1);
      }
      await this.process(entries, (id) => counts.get(id) ?? 1);
    }

    private async process(entries: StreamEntry[], attemptOf: (id: string) => number): Promise<void> {
      if (entries.length === 0) return;
      if ('batch' in this.handler) return this.processBatch(this.handler.batch, entries, attemptOf);
      const handler = this.handler.single;
      this.buffered = entries.map(([id]) => id);
      try {
        for (const [id, fields] of entries) {
          if (this.stopped) break;
          this.buffered.shift();
          const cur: RedisInFlight = { id, abandoned: false };
          const meta = { group: this.group, attempt: attemptOf(id), messageId: id };
          const promise = deliverEvent(field(fields, 'event') ?? '', meta, handler, this.o, this.actions, cur);
          this.current = { promise, handles: [cur] };
          await promise;
          this.current = undefined;
        }
      } finally {
        // XACKs were sent as each handler resolved (pipelined, not awaited one by one); make
        // sure they reached Redis before the next read.
        await this.flushAcks();
      }
    }

    /** Batch mode: the entries of one read go to one handler call; their XACKs go in one command. */
    private async processBatch(
      handler: BatchHandler,
      entries: StreamEntry[],
      attemptOf: (id: string) => number,
    ): Promise<void> {
      if (this.stopped) {
        this.buffered = entries.map(([id]) => id);
        return;
      }
      const handles = entries.map(([id]): RedisInFlight => ({ id, abandoned: false }));
      const items = entries.map(([id, fields], i) => ({
        raw: field(fields, 'event') ?? '',
        meta: { group: this.group, attempt: attemptOf(id), messageId: id },
        d: handles[i]!,
      }));
      this.batchAcks = [];
      try {
        const promise = deliverBatch(items, handler, this.o, this.actions);
        this.current = { promise, handles };
        await promise;
        this.current = undefined;
      } finally {
        const ids = this.batchAcks;
        this.batchAcks = undefined;
        if (ids.length > 0) this.pendingAcks.push(this.conn.xack(key, this.group, ...ids).catch(() => undefined));
        await this.flushAcks();
      }
    }

    // One actions object for every delivery (no per-message closures on the hot path).
    private readonly actions: DeliveryActions<RedisInFlight> = {
      ack: (c) => this.ack(c.id),
      // Redis has no "terminate": XACK removes it from the PEL, so it is never claimed again.
      giveUp: (c) => this.ack(c.id),
      retry: async (c, delayMs) => {
        // Keep it pending but make it look idle so XAUTOCLAIM takes it again after the backoff
        // delay (bounded by ackWaitMs). JUSTID leaves the delivery counter alone.
        const delay = Math.min(delayMs, opts.ackWaitMs);
        await this.conn
          .xclaim(key, this.group, this.consumer, 0, c.id, 'IDLE', opts.ackWaitMs - delay, 'JUSTID')
          .catch(() => undefined);
      },
      abandoned: (c) => c.abandoned,
    };

    private pendingAcks: Promise<unknown>[] = [];
    /** Batch mode: ids acknowledged by the running batch, sent as one XACK when it ends. */
    private batchAcks: string[] | undefined;

    /**
     * Sends XACK for `id` right away (after its handler resolved) without waiting for the reply:
     * ioredis pipelines the writes, which is what makes per-entry acks cheap. A lost XACK only
     * means a redelivery (at-least-once), so failures never kill the loop.
     */
    private ack(id: string): Promise<void> {
      if (this.batchAcks) {
        this.batchAcks.push(id);
        return Promise.resolve();
      }
      this.pendingAcks.push(this.conn.xack(key, this.group, id).catch(() => undefined));
      return Promise.resolve();
    }

    private async flushAcks(): Promise<void> {
      const acks = this.pendingAcks;
      this.pendingAcks = [];
      await Promise.all(acks);
    }

    async close(): Promise<void> {
      if (this.stopped) return;
      this.stopped = true;
      this.abort.abort();
      const cur = this.current;
      const abandoned = cur !== undefined && !(await settleWithin(cur.promise, opts.drainTimeoutMs));
      if (abandoned) for (const h of cur.handles) h.abandoned = true;
      // Acks already sent for finished handlers should land before the connection goes.
      await settleWithin(this.flushAcks(), 1_000);
      if (!abandoned) {
        // Clean stop: entries fetched but not started go back to the group at once (idle = ackWaitMs).
        if (this.buffered.length > 0) {
          await this.conn
            .xclaim(key, this.group, this.consumer, 0, ...this.buffered, 'IDLE', opts.ackWaitMs, 'JUSTID')
            .catch(() => undefined);
        }
        // Forget this consumer name if it holds nothing, so the group does not collect ghosts.
        const pending = (await this.conn
          .xpending(key, this.group, '-', '+', 1, this.consumer)
          .catch(() => [1])) as unknown[];
        if (pending.length === 0)
          await this.conn.xgroup('DELCONSUMER', key, this.group, this.consumer).catch(() => undefined);
      }
      // Interrupts a pending BLOCK; the loop sees `stopped` and ends.
      this.conn.disconnect();
      await settleWithin(this.loop, opts.drainTimeoutMs);
      subs.remove(this);
    }
  }

  return {
    kind: 'redis',
    async publish(event) {
      const raw = encodeEventJson(event);
      subs.assertOpen();
      try {
        if (opts.dedupeWindowMs <= 0) {
          // No dedupe marker to set: the script would only XADD, so send the XADD itself (one
          // command either way, hence just as atomic, minus the script call overhead).
          await redis.xadd(key, 'MAXLEN', '~', maxLen, '*', 'kind', event.kind, 'event', raw);
          return;
        }
        await (
          redis as unknown as { stellaPublish: (...a: (string | number)[]) => Promise<string | null> }
        ).stellaPublish(
          key,
          `${dedupePrefix}${event.tenant}:${event.eventId}`,
          opts.dedupeWindowMs,
          maxLen,
          event.kind,
          raw,
        );
      } catch (err) {
        throw unavailable('publish', err);
      }
    },
    subscribe: (group, handler, subOpts) =>
      subs.subscribe(group, subOpts, opts, (o) => new RedisSubscription(group, { single: handler }, o)),
    subscribeBatch: (group, handler, subOpts) =>
      subs.subscribe(group, subOpts, opts, (o) => new RedisSubscription(group, { batch: handler }, o)),
    async groupLag(group) {
      subs.assertOpen();
      let groups: unknown[][];
      try {
        groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
      } catch (err) {
        if (err instanceof Error && /no such key/i.test(err.message)) return undefined;
        throw unavailable('XINFO GROUPS', err);
      }
      for (const g of groups) {
        const info = new Map<string, unknown>();
        for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
        if (info.get('name') !== group) continue;
        // `lag` (Redis 7.0+) is nil when Redis cannot compute it (entries deleted with XDEL).
        const lag = info.get('lag');
        return {
          pending: lag === null || lag === undefined ? undefined : Number(lag),
          unacknowledged: Number(info.get('pending')),
        };
      }
      return undefined;
    },
    async ping() {
      subs.assertOpen();
      const ok = await settleWithin(redis.ping(), 2_000);
      if (!ok || redis.status !== 'ready')
        throw new StellaError('BUS_UNAVAILABLE', 'Redis did not answer PING within 2 s');
    },
    async close() {
      if (!(await subs.closeAll())) return;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Deletes a stream and its dedupe markers (tests and the bench clean up after themselves). */
export async function deleteRedisStream(url: string, streamKey: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    await redis.del(streamKey);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${streamKey}}:dedupe:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}
