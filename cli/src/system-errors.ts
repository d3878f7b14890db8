/**
 * The one place that turns errors a command lets escape into the sentence the user reads
 * (issue 7 point 5): which file, URL or port, what went wrong, and what to do — instead of
 * Node's `ENOENT: no such file or directory, open '…'` behind its own code, undici's bare
 * "fetch failed", or `listen EADDRINUSE`.
 */
import { readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What the failing command was talking to, for errors that do not say it themselves. */
export interface ErrorContext {
  /** The server URL of an online command (`--server`). */
  server?: string;
}

interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

function isSystemError(err: unknown): err is SystemError {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return !!e && typeof e.code === 'string' && /^E[A-Z0-9_]+$/.test(e.code) && typeof e.syscall === 'string';
}

/** Why a file operation failed, in words, and what to do about it. */
function fileProblem(code: string, path: string, syscall: string | undefined): string {
  const writing = syscall === 'mkdir' || syscall === 'link' || syscall === 'rename' || syscall === 'unlink';
  switch (code) {
    case 'ENOENT':
      return `${path} does not exist; check the path`;
    case 'EISDIR':
      return `${path} is a directory; give a file`;
    case 'ENOTDIR':
      return `${path}: part of the path is not a directory; check the path`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied ${writing ? 'writing' : 'opening'} ${path}; check its permissions`;
    case 'EEXIST':
      return `${path} already exists; remove it or choose another name`;
    case 'ENOSPC':
      return `no space left on the device holding ${path}`;
    case 'EROFS':
      return `${path} is on a read-only file system`;
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files while opening ${path}; raise the limit (ulimit -n)`;
    default:
      return `${syscall ?? 'access'} ${path} failed (${code})`;
  }
}

/** Why listening failed: the port or address, and which option changes it. */
function listenProblem(e: SystemError): string {
  const where = e.port !== undefined ? `${e.address ?? ''}:${e.port}` : (e.address ?? 'the address');
  switch (e.code) {
    case 'EADDRINUSE':
      return `port ${e.port ?? '?'} (${where}) is already in use; stop the process using it or choose another port with --port`;
    case 'EACCES':
      return `not allowed to listen on ${where}; ports below 1024 need privileges, choose another with --port`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${e.address ?? where}: not an address of this machine; check --host`;
    default:
      return `cannot listen on ${where} (${e.code})`;
  }
}

/** Why a connection failed (the `cause` undici puts under "fetch failed"). */
function networkReason(cause: unknown): string | undefined {
  const c = cause as { code?: unknown; message?: unknown; hostname?: unknown; syscall?: unknown } | undefined;
  switch (c?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${typeof c.hostname === 'string' ? c.hostname : ''} not found`.replace('  ', ' ');
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed before an answer';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'the connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
    default:
      // TLS failures (expired or self-signed certificates) carry a readable message of their own;
      // a file-system error is not a network reason at all.
      return c?.syscall === undefined && typeof c?.message === 'string' && c.message !== '' ? c.message : undefined;
  }
}

/** `fetch` rejects with a TypeError "fetch failed" whose `cause` says what happened. */
function isFetchFailure(err: unknown): err is TypeError & { cause?: unknown } {
  return err instanceof TypeError && err.message === 'fetch failed';
}

function isTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError';
}

const SERVER_HINT = 'is the server running there? Point --server (or STELLA_SERVER) at it';

/**
 * The message printed after `stella <command>: ` for an error that escaped a command. Coded
 * errors keep their code; system and network errors become a sentence with what to do.
 */
export function explainError(err: unknown, context: ErrorContext = {}): string {
  if (isSystemError(err)) {
    if (err.syscall === 'listen' || err.syscall === 'bind') return listenProblem(err);
    const network = networkReason(err);
    if (network && err.path === undefined) {
      const peer =
        context.server ?? (err.port !== undefined ? `${err.address ?? err.hostname}:${err.port}` : 'the peer');
      return `cannot reach ${peer}: ${network}${context.server ? `; ${SERVER_HINT}` : ''}`;
    }
    // Without a path (a bare `read` on a directory), still one sentence rather than Node's text.
    return fileProblem(err.code, err.path ?? 'an input path', err.syscall);
  }
  if (isFetchFailure(err)) {
    const reason = networkReason(err.cause) ?? 'no connection';
    return context.server
      ? `cannot reach ${context.server}: ${reason}; ${SERVER_HINT}`
      : `network request failed: ${reason}`;
  }
  if (isTimeout(err) && context.server)
    return `no answer from ${context.server} in time; check that the server is up and reachable`;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // A coded error that wraps a network failure: say what failed instead of undici's "fetch failed".
  const detailed =
    isFetchFailure(e?.cause) && message.endsWith('fetch failed')
      ? `${message.slice(0, -'fetch failed'.length)}${networkReason(e.cause.cause) ?? 'no connection'}`
      : message;
  return typeof e?.code === 'string' ? `${e.code}: ${detailed}` : detailed;
}

/**
 * Node leaves the path out of some file errors (a `read` on a directory gives a bare EISDIR), so
 * input files are read through these, which put the path on the error for {@link explainError}.
 */
function withPath(err: unknown, path: string): unknown {
  if (isSystemError(err) && err.path === undefined) err.path = path;
  return err;
}

/** Reads a whole input file; errors name the file. */
export async function readInputFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw withPath(err, path);
  }
}

/** Streams an input file into `sink` (a hash, say); errors name the file. */
export async function streamInputFile(path: string, sink: Writable): Promise<void> {
  try {
    await pipeline(createReadStream(path), sink);
  } catch (err) {
    throw withPath(err, path);
  }
}
