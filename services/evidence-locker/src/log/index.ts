/** The tenant transparency log of the Evidence Locker (ADR 0013). */
export * from './log-entries.js';
export * from './log-proofs.js';
export * from './log-sequencer.js';
export * from './tenant-log.js';
