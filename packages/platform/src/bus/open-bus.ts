/**
 * `openBus(config)` opens the adapter that the parsed `STELLA_BUS_URL` names (DESIGN.md §2
 * "Runtime modes"; the grammar is `parseBusUrl` in the config table, the only one): memory →
 * in-process (a private broker, or one shared by name), nats → JetStream, redis → Redis Streams.
 * `STELLA_BUS_NAMESPACE` (`config.namespace`) picks another stream on the same broker; explicit
 * `options` win over it.
 */
import type { BusConfig } from '../config/config-variables.js';
import type { EventBus } from './event-bus.js';
import { createMemoryBus, namedMemoryBroker, type MemoryBusOptions } from './memory-bus.js';
import { openNatsBus, type NatsBusOptions } from './nats-bus.js';
import { openRedisBus, type RedisBusOptions } from './redis-bus.js';

/** Union of every adapter's options; each adapter reads the fields it knows. */
export type OpenBusOptions = MemoryBusOptions & NatsBusOptions & RedisBusOptions;

/** Opens the bus `config` describes. */
export async function openBus(config: Readonly<BusConfig>, options: OpenBusOptions = {}): Promise<EventBus> {
  const ns = config.namespace;
  switch (config.kind) {
    case 'memory':
      return createMemoryBus(
        config.broker === undefined
          ? options
          : { ...options, broker: options.broker ?? namedMemoryBroker(config.broker) },
      );
    case 'nats':
      return openNatsBus(
        config.servers,
        ns === undefined
          ? options
          : {
              stream: `STELLA_EVENTS_${ns.toUpperCase().replace(/-/g, '_')}`,
              subjectPrefix: `stella.${ns}.events`,
              ...options,
            },
      );
    case 'redis':
      return openRedisBus(config.url, ns === undefined ? options : { streamKey: `stella:${ns}:events`, ...options });
  }
}
