// The public surface only: adapters' internals (option resolution, retry timing, sleep) stay private.
export {
  MAX_EVENT_BYTES,
  eventProblems,
  validateEvent,
  decodeEvent,
  encodeEvent,
  newEvent,
  isValidKind,
  type EventEnvelope,
  type EventEvidenceRef,
  type EventAttributeValue,
  type EventProblem,
  type NewEventInit,
} from './event-envelope.js';
export type {
  EventBus,
  EventHandler,
  BatchHandler,
  BatchDelivery,
  BatchResult,
  GroupLag,
  DeliveryMeta,
  DeadLetter,
  SubscribeOptions,
  Subscription,
  BusOptions,
} from './event-bus.js';
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
