/**
 * `openBus(url)` picks the adapter from the URL scheme (DESIGN.md §2 "Runtime modes":
 * `STELLA_BUS_URL`): unset or `memory:` → in-process (private broker), `memory://<name>` →
 * in-process broker shared by name inside this process, `nats://…` → JetStream,
 * `redis://…` / `rediss://…` → Redis Streams.
 */
import { StellaError } from '@stella/core/errors';
import { redactUrl, type EventBus } from './event-bus.js';
import { createMemoryBus, namedMemoryBroker, type MemoryBusOptions } from './memory-bus.js';
import { openNatsBus, type NatsBusOptions } from './nats-bus.js';
import { openRedisBus, type RedisBusOptions } from './redis-bus.js';

/** Union of every adapter's options; each adapter reads the fields it knows. */
export type OpenBusOptions = MemoryBusOptions & NatsBusOptions & RedisBusOptions;

/** Opens the bus named by `url` (see the module comment for the schemes). */
export async function openBus(url: string | undefined, options: OpenBusOptions = {}): Promise<EventBus> {
  const u = (url ?? '').trim();
  if (u === '' || u === 'memory:') return createMemoryBus(options);
  if (u.startsWith('memory://')) {
    const name = u.slice('memory://'.length);
    if (name === '') throw new StellaError('CONFIG_INVALID', 'memory:// bus URL needs a broker name');
    return createMemoryBus({ ...options, broker: options.broker ?? namedMemoryBroker(name) });
  }
  if (u.startsWith('nats://') || u.startsWith('tls://')) return openNatsBus(u, options);
  if (u.startsWith('redis://') || u.startsWith('rediss://')) return openRedisBus(u, options);
  throw new StellaError(
    'CONFIG_INVALID',
    `unsupported bus URL scheme in ${JSON.stringify(redactUrl(u))}: use memory:, nats:// or redis://`,
  );
}
