import { ERROR_CODES, type ErrorCode } from './codes.js';

/**
 * The project's one error type: a registry `code`, a human message, optional structured
 * `details` (safe to show to the caller) and an optional `cause` (never shown over HTTP).
 */
export class StellaError extends Error {
  override readonly name = 'StellaError';
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
  }

  /** The HTTP status this error maps to (from the registry). */
  get statusCode(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** True when `err` is a {@link StellaError}, optionally with the given code. */
export function isStellaError(err: unknown, code?: ErrorCode): err is StellaError {
  return err instanceof StellaError && (code === undefined || err.code === code);
}
