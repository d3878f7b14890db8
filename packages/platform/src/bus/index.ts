export * from './event-envelope.js';
export * from './event-bus.js';
export { MemoryBroker, createMemoryBus, namedMemoryBroker, type MemoryBusOptions } from './memory-bus.js';
export { openNatsBus, deleteNatsStream, type NatsBusOptions } from './nats-bus.js';
export { openRedisBus, deleteRedisStream, type RedisBusOptions } from './redis-bus.js';
export { openBus, type OpenBusOptions } from './open-bus.js';
export {
  MemoryDedupeStore,
  PgDedupeStore,
  dedupedHandler,
  pruneProcessedEvents,
  type DedupeStore,
  type DedupedWork,
} from './dedupe-store.js';
export {
  appendToOutbox,
  startOutboxRelay,
  type OutboxRelay,
  type OutboxRelayOptions,
  type RelayPassResult,
} from './outbox.js';
