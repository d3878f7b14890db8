/**
 * Failure classes of a run (issue #10 §4): `input` (the profile or the data cannot be exported —
 * retrying cannot help), `transient` (a dependency was unavailable — retried with backoff) and
 * `internal` (a bug — failed at once, with a code and without internals in the message).
 */
import { ERROR_CODES } from '@stella/core/errors';
import { isStellaError } from '@stella/core/errors';
import type { FailureClass } from './run.repository.js';

export interface ClassifiedFailure {
  class: FailureClass;
  code: string;
  message: string;
}

/** Codes of dependencies being unavailable: worth another attempt. */
const TRANSIENT_CODES = new Set([
  'DB_UNAVAILABLE',
  'OBJECT_STORE_UNAVAILABLE',
  'BUS_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'TIMESTAMP_REQUEST_FAILED',
]);
/** Node system errors of sockets and files that a retry may not meet again. */
const TRANSIENT_ERRNO = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EMFILE', 'ENOSPC']);
/** PostgreSQL SQLSTATEs that mean "try again": serialization failure, deadlock, shutdown, too many connections. */
const TRANSIENT_SQLSTATE = /^(08...|40001|40P01|57P0[123]|53300)$/;

/**
 * An error an adapter (or any step) may throw to choose the class itself, e.g.
 * `throw new ExportFailure('input', 'VALIDATION_FAILED', 'record x has no id')`.
 */
export class ExportFailure extends Error {
  override readonly name = 'ExportFailure';
  constructor(
    readonly failureClass: FailureClass,
    readonly code: keyof typeof ERROR_CODES,
    message: string,
  ) {
    super(message);
  }
}

export function classifyFailure(err: unknown): ClassifiedFailure {
  if (err instanceof ExportFailure) return { class: err.failureClass, code: err.code, message: err.message };
  if (isStellaError(err)) {
    if (TRANSIENT_CODES.has(err.code)) return { class: 'transient', code: err.code, message: err.message };
    // A 4xx code describes the input (profile, records, options); anything else is ours.
    const cls: FailureClass = err.statusCode < 500 ? 'input' : 'internal';
    return { class: cls, code: err.code, message: err.message };
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (TRANSIENT_ERRNO.has(code) || TRANSIENT_SQLSTATE.test(code)))
    return { class: 'transient', code: 'SERVICE_UNAVAILABLE', message: `a dependency failed (${code})` };
  // Unknown errors keep their message out of the API (it may carry internals); the log has it.
  return {
    class: 'internal',
    code: 'INTERNAL',
    message: 'the export failed with an internal error (see the server log)',
  };
}

/** Backoff before attempt `attempt + 1`: base × 2^(attempt − 1), at most 5 minutes. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 300_000);
}
