/**
 * `assertStellaError(fn, code)` and `assertRejectsStella(p, code)`: the one way tests check that something fails with a registry
 * code. The testkit sits below `@stella/core` in the build graph (core's tests use it), so the
 * error is recognised by shape — `name === 'StellaError'` and a string `code` — not by class.
 */
import assert from 'node:assert/strict';

/** What a `StellaError` looks like to a test. */
export interface CodedError extends Error {
  readonly code: string;
  readonly details?: unknown;
}

function isCoded(err: unknown): err is CodedError {
  return err instanceof Error && err.name === 'StellaError' && typeof (err as { code?: unknown }).code === 'string';
}

function check(err: unknown, code: string, message?: RegExp): CodedError {
  if (!isCoded(err)) {
    assert.fail(
      `expected a StellaError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
    );
  }
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
  if (message) assert.match(err.message, message);
  return err;
}

/**
 * Runs `fn` and asserts it throws a `StellaError` with `code` (and, if given, a message matching
 * `message`). Returns the error for further checks on `details`. For promises use
 * {@link assertRejectsStella}.
 */
export function assertStellaError(fn: () => unknown, code: string, message?: RegExp): CodedError {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    return check(err, code, message);
  }
  if (result instanceof Promise) assert.fail(`expected ${code}: fn returned a promise, use assertRejectsStella`);
  assert.fail(`expected ${code}, but nothing was thrown`);
}

/** Awaits `p` (or calls it) and asserts it rejects with a `StellaError` with `code`. */
export async function assertRejectsStella(
  p: Promise<unknown> | (() => Promise<unknown>),
  code: string,
  message?: RegExp,
): Promise<CodedError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return check(err, code, message);
  }
  assert.fail(`expected ${code}, but the promise resolved`);
}
