/**
 * Transparency log storage (issue 12 item 2): tiles, entry bundles and checkpoints in the object
 * store, sequencer state in Postgres. The formats and proofs are `@stella/core/tlog`. See
 * docs/formats/tlog.md.
 */
export {
  TransparencyLog,
  TLOG_LOCK_CLASS,
  type TransparencyLogOptions,
  type AppendOptions,
  type AppendOutcome,
  type PublishedCheckpoint,
  type IntegrateOutcome,
} from './transparency-log.js';
export { TLOG_MIGRATIONS } from './tlog-migrations.js';
