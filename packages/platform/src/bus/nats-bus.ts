/**
 * NATS JetStream adapter (DESIGN.md §3 "Events"): stream `STELLA_EVENTS` over subjects
 * `stella.events.>`, one subject per kind, `Nats-Msg-Id = <tenant>:<eventId>` so the stream's
 * duplicate window drops republished events, durable pull consumers with explicit ack.
 *
 * Written for NATS server 2.9: a consumer has ONE `filter_subject` (plural `filter_subjects`
 * arrived in 2.10), so a group's consumer filters `stella.events.>` and kind filtering happens
 * client-side (docs/events.md "Kinds filter"). Redelivery limits are also applied client-side
 * (`max_deliver: -1` on the server) so that the dead-letter hook sees every given-up message,
 * including one whose last attempt crashed.
 */
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  connect,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { StellaError, isStellaError } from '@stella/core/errors';
import { redactUrl } from '../config/redact-url.js';
import { encodeEvent, eventKey } from './event-envelope.js';
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

/** Options of {@link openNatsBus}. */
export interface NatsBusOptions extends BusOptions {
  /** Stream name. Default `STELLA_EVENTS`. */
  stream?: string;
  /** Subject prefix; events go to `<prefix>.<kind>`. Default `stella.events`. */
  subjectPrefix?: string;
  /** Retention of the stream (`max_age`). Default 7 days. 0 = unlimited. */
  maxAgeMs?: number;
  /** Retention by count (`max_msgs`). Default -1 (unlimited). */
  maxMessages?: number;
  /** Connection name shown by `nats server report connections`. */
  name?: string;
  /** Publish timeout. Default 5 000 ms. */
  publishTimeoutMs?: number;
}

const STREAM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

function unavailable(what: string, err: unknown): StellaError {
  if (isStellaError(err)) return err;
  return new StellaError(
    'BUS_UNAVAILABLE',
    `NATS ${what} failed: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/** Ensures the stream exists with our subjects (idempotent; races with other replicas are fine). */
async function ensureStream(
  jsm: JetStreamManager,
  stream: string,
  prefix: string,
  o: { dedupeWindowMs: number; maxAgeMs: number; maxMessages: number },
): Promise<void> {
  const subjects = [`${prefix}.>`];
  try {
    const info = await jsm.streams.info(stream);
    if (!info.config.subjects?.some((s) => s === subjects[0])) {
      throw new StellaError('BUS_UNAVAILABLE', `NATS stream ${stream} exists but does not capture ${subjects[0]}`, {
        details: { subjects: info.config.subjects },
      });
    }
    return;
  } catch (err) {
    if (isStellaError(err)) throw err;
    if (!/stream not found/i.test(String((err as Error).message))) throw unavailable('stream info', err);
  }
  try {
    await jsm.streams.add({
      name: stream,
      subjects,
      retention: RetentionPolicy.Limits, // every group sees every event; interest would drop events a future group needs
      storage: StorageType.File,
      duplicate_window: nanos(Math.max(o.dedupeWindowMs, 1000)),
      max_age: nanos(o.maxAgeMs),
      max_msgs: o.maxMessages,
    });
  } catch (err) {
    // Another replica created it between our info and add.
    if (!/already in use/i.test(String((err as Error).message))) throw unavailable('stream create', err);
  }
}

/** Opens a JetStream bus at `url` (`nats://host:port`, comma-separated for a cluster). */
export async function openNatsBus(url: string | readonly string[], options: NatsBusOptions = {}): Promise<EventBus> {
  const opts = resolveBusOptions(options);
  const stream = options.stream ?? 'STELLA_EVENTS';
  const prefix = options.subjectPrefix ?? 'stella.events';
  if (!STREAM_RE.test(stream))
    throw new StellaError('CONFIG_INVALID', `invalid NATS stream name ${JSON.stringify(stream)}`);
  if (!PREFIX_RE.test(prefix))
    throw new StellaError('CONFIG_INVALID', `invalid NATS subject prefix ${JSON.stringify(prefix)}`);
  const servers = typeof url === 'string' ? url.split(',').map((s) => s.trim()) : [...url];
  let nc: NatsConnection;
  try {
    nc = await connect({ servers, name: options.name ?? 'stella', maxReconnectAttempts: -1, timeout: 5_000 });
  } catch (err) {
    throw unavailable(`connect to ${redactUrl(servers.join(','))}`, err);
  }
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  const streamOpts = {
    dedupeWindowMs: opts.dedupeWindowMs,
    maxAgeMs: options.maxAgeMs ?? 7 * 24 * 3600 * 1000,
    maxMessages: options.maxMessages ?? -1,
  };
  try {
    jsm = await nc.jetstreamManager();
    js = nc.jetstream();
    await ensureStream(jsm, stream, prefix, streamOpts);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw unavailable('JetStream setup', err);
  }
  const subs = new BusSubscriptions<NatsSubscription>();

  class NatsSubscription implements Subscription {
    private stopped = false;
    private messages: ConsumerMessages | undefined;
    /** The delivery (or batch) whose handler runs now. */
    private current: { promise: Promise<void>; handles: NatsInFlight[] } | undefined;
    private loop: Promise<void> = Promise.resolve();
    private batchLoop: Promise<void> = Promise.resolve();
    /** Batch mode: messages taken off the iterator and not handed to the handler yet. */
    private buffer: JsMsg[] = [];
    private wakeBatch: (() => void) | undefined;
    private wakePump: (() => void) | undefined;

    constructor(
      readonly group: string,
      private readonly handler: Handlers,
      private readonly o: ResolvedSubscribeOptions,
    ) {}

    private readonly abort = new AbortController();

    /** Ensures the durable consumer (idempotent across replicas) and opens a pull iterator. */
    private async open(): Promise<ConsumerMessages> {
      const config = {
        durable_name: this.group,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(opts.ackWaitMs),
        max_deliver: -1,
        filter_subject: `${prefix}.>`,
        deliver_policy: this.o.startFrom === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
        // Bound what one consumer holds unacknowledged, so a stuck consumer cannot starve a group.
        max_ack_pending: Math.max(1000, this.o.batchSize * 4),
      };
      const info = await jsm.consumers.info(stream, this.group).catch((err: Error) => {
        if (/consumer not found/i.test(err.message)) return undefined;
        throw err;
      });
      if (!info) {
        await jsm.consumers.add(stream, config).catch(async (err: Error) => {
          // Created concurrently by another replica of the same service.
          if (!/already (exists|in use)/i.test(err.message)) throw err;
        });
      } else if (info.config.ack_wait !== config.ack_wait) {
        await jsm.consumers.update(stream, this.group, { ack_wait: config.ack_wait });
      }
      const consumer = await js.consumers.get(stream, this.group);
      // abort_on_missing_resources: if the stream/consumer vanish we want to recreate them
      // (run() below), not wait silently for someone else to.
      return consumer.consume({ max_messages: this.o.batchSize, expires: 5_000, abort_on_missing_resource: true });
    }

    async start(): Promise<void> {
      try {
        this.messages = await this.open();
      } catch (err) {
        throw unavailable(`consumer ${this.group}`, err);
      }
      this.loop = this.run(this.messages);
      if ('batch' in this.handler) this.batchLoop = this.runBatches(this.handler.batch);
    }

    private async run(first: ConsumerMessages): Promise<void> {
      let messages: ConsumerMessages | undefined = first;
      let failures = 0;
      while (!this.stopped) {
        if (messages) {
          try {
            for await (const msg of messages) {
              failures = 0;
              if (this.stopped) {
                // Buffered but not started: hand it straight back instead of waiting for ack_wait.
                safe(msg, 'nak');
                continue;
              }
              if ('batch' in this.handler) await this.enqueue(msg);
              else {
                const cur: NatsInFlight = { msg, abandoned: false };
                const promise = this.deliver(this.handler.single, cur);
                this.current = { promise, handles: [cur] };
                await promise;
                this.current = undefined;
              }
            }
          } catch {
            // The iterator fails when the consumer or stream vanished or the connection broke;
            // unacknowledged messages are redelivered by the server after ack_wait.
          }
        }
        if (this.stopped || subs.closed) break;
        // Recover: back off, recreate stream/consumer if they were lost, and consume again.
        failures++;
        await sleep(Math.min(100 * 2 ** failures, 5_000), this.abort.signal);
        if (this.stopped || subs.closed) break;
        try {
          await ensureStream(jsm, stream, prefix, streamOpts);
          messages = this.messages = await this.open();
        } catch {
          messages = undefined;
        }
      }
    }

    /**
     * Batch mode, the pump side: moves a message from the pull iterator into the buffer and, once
     * a whole batch waits there, stops taking more until the batch loop took it. The client then
     * stops issuing pull requests too (it pulls as the iterator is drained), so a slow handler
     * holds at most two batches unacknowledged: the one running and the next one.
     */
    private async enqueue(msg: JsMsg): Promise<void> {
      this.buffer.push(msg);
      this.wakeBatch?.();
      while (this.buffer.length >= this.o.batchSize && !this.stopped) {
        await new Promise<void>((r) => (this.wakePump = r));
      }
    }

    /** Batch mode, the handler side: everything buffered (up to batchSize) goes to one call. */
    private async runBatches(handler: BatchHandler): Promise<void> {
      while (!this.stopped) {
        if (this.buffer.length === 0) {
          await new Promise<void>((r) => (this.wakeBatch = r));
          this.wakeBatch = undefined;
          // The rest of a burst the client already received reaches the buffer in microtasks.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        const msgs = this.buffer.splice(0, this.o.batchSize);
        this.wakePump?.();
        const handles = msgs.map((msg): NatsInFlight => ({ msg, abandoned: false }));
        const items = handles.map((h) => ({ raw: text(h.msg), meta: this.meta(h.msg), d: h }));
        const promise = deliverBatch(items, handler, this.o, this.actions);
        this.current = { promise, handles };
        await promise;
        this.current = undefined;
      }
    }

    // One actions object for every delivery (no per-message closures on the hot path).
    private readonly actions: DeliveryActions<NatsInFlight> = {
      ack: (c) => safe(c.msg, 'ack'),
      // term: the server never redelivers it (max_deliver is -1, so nothing else would stop it).
      giveUp: (c) => safe(c.msg, 'term'),
      // nak with delay (server 2.7.1+) = bounded backoff without blocking this consumer.
      retry: (c, delayMs) => safe(c.msg, 'nak', delayMs),
      abandoned: (c) => c.abandoned,
    };

    private meta(msg: JsMsg) {
      return { group: this.group, attempt: msg.info.redeliveryCount, messageId: String(msg.seq) };
    }

    private deliver(handler: EventHandler, cur: NatsInFlight): Promise<void> {
      return deliverEvent(text(cur.msg), this.meta(cur.msg), handler, this.o, this.actions, cur);
    }

    async close(): Promise<void> {
      if (this.stopped) return;
      this.stopped = true;
      this.abort.abort();
      this.wakeBatch?.();
      this.wakePump?.();
      const cur = this.current;
      if (cur && !(await settleWithin(cur.promise, opts.drainTimeoutMs))) {
        // Abandoned: never ack it late; the server redelivers it after ack_wait.
        for (const h of cur.handles) h.abandoned = true;
      }
      // Fetched but never started: straight back to the group.
      for (const msg of this.buffer.splice(0)) safe(msg, 'nak');
      this.messages?.stop();
      await settleWithin(Promise.all([this.loop, this.batchLoop]), opts.drainTimeoutMs);
      subs.remove(this);
    }
  }

  return {
    kind: 'nats',
    async publish(event) {
      const data = encodeEvent(event);
      subs.assertOpen();
      try {
        await js.publish(`${prefix}.${event.kind}`, data, {
          // dedupeWindowMs 0 = no publish-side dedupe: omit Nats-Msg-Id.
          ...(opts.dedupeWindowMs > 0 ? { msgID: eventKey(event) } : {}),
          expect: { streamName: stream },
          timeout: options.publishTimeoutMs ?? 5_000,
        });
      } catch (err) {
        throw unavailable('publish', err);
      }
    },
    subscribe: (group, handler, subOpts) =>
      subs.subscribe(group, subOpts, opts, (o) => new NatsSubscription(group, { single: handler }, o)),
    subscribeBatch: (group, handler, subOpts) =>
      subs.subscribe(group, subOpts, opts, (o) => new NatsSubscription(group, { batch: handler }, o)),
    async groupLag(group) {
      subs.assertOpen();
      try {
        const info = await jsm.consumers.info(stream, group);
        return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
      } catch (err) {
        if (/consumer not found/i.test(String((err as Error).message))) return undefined;
        throw unavailable('consumer info', err);
      }
    },
    async ping() {
      if (subs.closed || nc.isClosed()) throw new StellaError('BUS_UNAVAILABLE', 'the bus is closed');
      const ok = await settleWithin(nc.flush(), 2_000);
      if (!ok) throw new StellaError('BUS_UNAVAILABLE', 'NATS did not answer a ping within 2 s');
      try {
        await jsm.streams.info(stream);
      } catch (err) {
        throw unavailable('stream info', err);
      }
    },
    async close() {
      if (!(await subs.closeAll())) return;
      await nc.close().catch(() => undefined);
    },
  };
}

/** One delivery in progress and whether close() gave up waiting for it. */
interface NatsInFlight {
  msg: JsMsg;
  abandoned: boolean;
}

/** A subscription's handler: one per message or one per batch. */
type Handlers = { single: EventHandler } | { batch: BatchHandler };

/** The message bytes as UTF-8, through a view (Buffer.from(Uint8Array) would copy them). */
function text(msg: JsMsg): string {
  return Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString('utf8');
}

/** Acks after the connection closed throw; a lost ack only means a redelivery. */
function safe(msg: JsMsg, op: 'ack' | 'term' | 'nak', delayMs?: number): void {
  try {
    if (op === 'ack') msg.ack();
    else if (op === 'term') msg.term();
    else msg.nak(delayMs);
  } catch {
    /* connection closed: the server will redeliver */
  }
}

/** Deletes a stream (tests and the bench clean up after themselves). */
export async function deleteNatsStream(url: string, stream: string): Promise<void> {
  const nc = await connect({ servers: url.split(',') });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch((err: Error) => {
      if (!/stream not found/i.test(err.message)) throw err;
    });
  } finally {
    await nc.close();
  }
}
