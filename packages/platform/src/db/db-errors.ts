import { StellaError } from '@stella/core/errors';

/**
 * SQLSTATE classes and socket errors that mean "the database is not there" rather than "your SQL
 * is wrong" (PostgreSQL Appendix A): 08 connection exception, 28 invalid authorization, 3D000
 * invalid catalog name (no such database), 57P01–57P03 admin/crash shutdown, cannot connect now.
 */
const UNAVAILABLE_SQLSTATE = /^(08...|28...|3D000|57P0[1-3]|53300)$/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection timeout|Cannot use a pool after calling end|Client was closed|timeout exceeded when trying to connect/i;

/** True when `err` says the server cannot be reached or refused the session. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
  // Node's happy-eyeballs connect raises an AggregateError of per-address failures.
  if (Array.isArray(e.errors) && e.errors.some(isConnectionError)) return true;
  return typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message);
}

/** Wraps connection failures as `DB_UNAVAILABLE`; anything else (SQL errors) passes through. */
export function mapDbError(err: unknown, where: string): unknown {
  if (err instanceof StellaError || !isConnectionError(err)) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  return new StellaError('DB_UNAVAILABLE', `database unavailable (${where}): ${String(e.message ?? err)}`, {
    details: code ? { code } : undefined,
    cause: err,
  });
}
