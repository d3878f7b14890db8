/**
 * What the three adapters (memory, NATS JetStream, Redis Streams) share beyond the port's option
 * resolution in event-bus.ts — keeping it in one place is what makes them agree on every edge
 * (the contract suite `testing/bus-contract.ts` checks they do):
 *
 * - {@link deliverEvent}: the one delivery decision for a fetched message (docs/events.md §3
 *   "Delivery guarantees"): decode it, skip kinds the group did not ask for, dead-letter poison
 *   and exhausted messages, run the handler, then acknowledge or schedule a retry. The adapters
 *   differ only in HOW they ack, give up or retry (JetStream ack/term/nak, Redis XACK/XCLAIM, the
 *   memory group's timers), which they pass in as {@link DeliveryActions};
 * - {@link deliverBatch}: the same decision for the messages of one fetch handed to one batch
 *   handler call (`subscribeBatch`), each message settled on its own;
 * - {@link BusSubscriptions}: the bus's open/closed state and its live subscriptions.
 */
import { StellaError } from '@stella/core/errors';
import { decodeEvent, type EventEnvelope } from './event-envelope.js';
import {
  assertGroupName,
  resolveSubscribeOptions,
  type BatchDelivery,
  type BatchHandler,
  retryDelayMs,
  type BusOptions,
  type DeliveryMeta,
  type EventHandler,
  type ResolvedSubscribeOptions,
  type SubscribeOptions,
  type Subscription,
} from './event-bus.js';

/**
 * How one adapter settles a delivery `d` (its adapter-specific handle: memory token, JetStream
 * message, Redis entry id). One actions object serves every delivery of a subscription and gets
 * the delivery as an argument, so the hot path allocates no closures per message.
 */
export interface DeliveryActions<D = void> {
  /** Done with it: the handler resolved, or the group filters its kind out. */
  ack(d: D): void | Promise<void>;
  /** Given up on it after reporting it to `onDeadLetter` (poison or out of attempts). */
  giveUp(d: D): void | Promise<void>;
  /** The handler threw and attempts remain: deliver it again after about `delayMs`. */
  retry(d: D, delayMs: number): void | Promise<void>;
  /**
   * True once `close()` stopped waiting for this delivery: its message already went back to the
   * group, so neither a late ack nor a retry/dead-letter may follow (the redelivery decides).
   */
  abandoned(d: D): boolean;
}

/**
 * Delivers the raw message `raw` (the event's canonical JSON) to `handler` and settles it through
 * `actions`. Never throws: handler failures become retries or dead letters.
 *
 * `decode` turns the text into an event and throws for poison; the default validates it fully
 * (`decodeEvent`). Only an adapter that can prove the text came out of `encodeEventJson` in this
 * process (the memory log marks such entries) may pass a cheaper parse — bytes from a broker are
 * always validated, since any client can write to it.
 */
export async function deliverEvent<D>(
  raw: string,
  meta: DeliveryMeta,
  handler: EventHandler,
  o: ResolvedSubscribeOptions,
  actions: DeliveryActions<D>,
  d: D,
  decode: (raw: string) => EventEnvelope = decodeEvent,
): Promise<void> {
  let event: EventEnvelope;
  try {
    event = decode(raw);
  } catch (error) {
    // Poison: no attempt can ever succeed, so report it at once instead of retrying.
    o.onDeadLetter({ ...meta, raw, error });
    return actions.giveUp(d);
  }
  // Kind filtering is client-side on every adapter (NATS 2.9 has one filter subject per consumer).
  if (o.kinds && !o.kinds.has(event.kind)) return actions.ack(d);
  if (meta.attempt > o.maxDeliveries) {
    // The previous attempt crashed or was abandoned after the last allowed start.
    o.onDeadLetter({ ...meta, event, raw, error: new Error(`not acknowledged after ${o.maxDeliveries} deliveries`) });
    return actions.giveUp(d);
  }
  try {
    await handler(event, meta);
  } catch (error) {
    if (actions.abandoned(d)) return;
    if (meta.attempt >= o.maxDeliveries) {
      o.onDeadLetter({ ...meta, event, raw, error });
      return actions.giveUp(d);
    }
    return actions.retry(d, retryDelayMs(meta.attempt, o));
  }
  if (!actions.abandoned(d)) await actions.ack(d);
}

/** One fetched message for {@link deliverBatch}: its text, delivery facts and adapter handle. */
export interface BatchItem<D> {
  raw: string;
  meta: DeliveryMeta;
  d: D;
  /** A cheaper parse for text this process encoded itself (see {@link deliverEvent}'s `decode`). */
  decode?: (raw: string) => EventEnvelope;
}

/**
 * Delivers the messages of one fetch to one `handler` call and settles each through `actions`,
 * by {@link deliverEvent}'s rules: poison and exhausted messages are dead-lettered and filtered
 * kinds acknowledged BEFORE the call (they never block the batch); after it, each message the
 * handler did not report failed is acknowledged and each failed one retried or, out of attempts,
 * dead-lettered. Never throws. Resolves once every settle action returned.
 */
export async function deliverBatch<D>(
  items: readonly BatchItem<D>[],
  handler: BatchHandler,
  o: ResolvedSubscribeOptions,
  actions: DeliveryActions<D>,
): Promise<void> {
  const settles: (void | Promise<void>)[] = [];
  const live: (BatchItem<D> & { event: EventEnvelope })[] = [];
  for (const it of items) {
    let event: EventEnvelope;
    try {
      event = (it.decode ?? decodeEvent)(it.raw);
    } catch (error) {
      o.onDeadLetter({ ...it.meta, raw: it.raw, error });
      settles.push(actions.giveUp(it.d));
      continue;
    }
    if (o.kinds && !o.kinds.has(event.kind)) settles.push(actions.ack(it.d));
    else if (it.meta.attempt > o.maxDeliveries) {
      o.onDeadLetter({
        ...it.meta,
        event,
        raw: it.raw,
        error: new Error(`not acknowledged after ${o.maxDeliveries} deliveries`),
      });
      settles.push(actions.giveUp(it.d));
    } else live.push({ ...it, event });
  }
  if (live.length > 0) {
    let failed: ReadonlyMap<number, unknown> | undefined;
    let thrown: { error: unknown } | undefined;
    try {
      const result = await handler(live.map((x): BatchDelivery => ({ event: x.event, meta: x.meta })));
      failed = result?.failed;
    } catch (error) {
      thrown = { error };
    }
    live.forEach((x, i) => {
      if (actions.abandoned(x.d)) return;
      const fails = thrown !== undefined || failed?.has(i) === true;
      if (!fails) return void settles.push(actions.ack(x.d));
      const error = thrown ? thrown.error : failed!.get(i);
      if (x.meta.attempt >= o.maxDeliveries) {
        o.onDeadLetter({ ...x.meta, event: x.event, raw: x.raw, error });
        settles.push(actions.giveUp(x.d));
      } else settles.push(actions.retry(x.d, retryDelayMs(x.meta.attempt, o)));
    });
  }
  await Promise.all(settles);
}

/**
 * The live subscriptions of one bus and whether the bus is closed: `subscribe` refuses on a
 * closed bus (`BUS_UNAVAILABLE`) and validates the group and options before the adapter opens
 * anything; `closeAll` closes every subscription (each drains per {@link Subscription.close}).
 */
export class BusSubscriptions<S extends Subscription & { start?(): Promise<void> }> {
  private isClosed = false;
  private readonly live = new Set<S>();

  /** True once {@link closeAll} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Throws `BUS_UNAVAILABLE` once the bus is closed. */
  assertOpen(): void {
    if (this.isClosed) throw new StellaError('BUS_UNAVAILABLE', 'the bus is closed');
  }

  /**
   * Checks the bus is open, the group name and the options, then lets the adapter `open` the
   * subscription, awaits its `start()` (joining the group) when it has one, and tracks it.
   */
  async subscribe(
    group: string,
    subOpts: SubscribeOptions | undefined,
    busOpts: BusOptions,
    open: (o: ResolvedSubscribeOptions) => S | Promise<S>,
  ): Promise<S> {
    this.assertOpen();
    assertGroupName(group);
    const sub = await open(resolveSubscribeOptions(subOpts, busOpts));
    await sub.start?.();
    this.live.add(sub);
    return sub;
  }

  /** Forget a subscription (its own `close()` calls this). */
  remove(sub: S): void {
    this.live.delete(sub);
  }

  /** Marks the bus closed and closes every subscription; false when it was closed already. */
  async closeAll(): Promise<boolean> {
    const first = !this.isClosed;
    this.isClosed = true;
    await Promise.all([...this.live].map((s) => s.close()));
    return first;
  }
}
