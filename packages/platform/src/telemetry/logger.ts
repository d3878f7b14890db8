/**
 * The process logger (issue 7 point 7): pino at `STELLA_LOG_LEVEL`, in one format per stream —
 * `json` (one object per line, for collectors), or `text` (one readable line per event, for a
 * person at a terminal); `auto` picks text when the stream is a TTY. The HTTP app passes these
 * options to Fastify; commands that log outside a request use {@link createLogger}.
 *
 * Request logs of probe routes (`/healthz`, `/readyz`, `/metrics`) are at `debug`, not `info`: a
 * load balancer or Prometheus polling every few seconds would otherwise drown everything else.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { pino, type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../config/config-variables.js';

/** Where logs go: stderr by default. `isTTY` decides the `auto` format. */
export interface LogStream {
  write(line: string): unknown;
  isTTY?: boolean;
}

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Default `process.stderr`. */
  stream?: LogStream;
}

/** The format `auto` stands for on this stream. */
export function resolveLogFormat(format: LogFormat, stream: LogStream): 'text' | 'json' {
  return format === 'auto' ? (stream.isTTY === true ? 'text' : 'json') : format;
}

// pino's numeric levels (https://getpino.io/#/docs/api?id=levels).
const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** pino's own bookkeeping fields, shown in the line's prefix or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON record as one line: `12:00:01.234 INFO  message key=value …`. Fastify's request
 * fields are shortened (`GET /path`, `status=200`, `1.2ms`); an error's stack follows, indented.
 */
export function formatTextLine(record: Record<string, unknown>): string {
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[record.level as number] ?? String(record.level)).padEnd(5);
  const parts = [time, level, typeof record.msg === 'string' ? record.msg : ''];
  let stack: string | undefined;
  for (const [k, v] of Object.entries(record)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    const o = v as Record<string, unknown> | null;
    if (k === 'req' && o && typeof o.method === 'string') parts.push(`${o.method} ${String(o.url)}`);
    else if (k === 'res' && o && typeof o.statusCode === 'number') parts.push(`status=${o.statusCode}`);
    else if (k === 'responseTime' && typeof v === 'number') parts.push(`${v.toFixed(1)}ms`);
    else if (k === 'err' && o && typeof o.message === 'string') {
      parts.push(`err=${value(o.message)}`);
      if (typeof o.stack === 'string') stack = o.stack;
    } else parts.push(`${k}=${value(v)}`);
  }
  const line = parts.filter((p) => p !== '').join(' ');
  return stack ? `${line}\n${stack.replace(/^/gm, '    ')}\n` : `${line}\n`;
}

/** A stream that turns pino's JSON lines into {@link formatTextLine} lines on `target`. */
function textStream(target: LogStream): LogStream {
  return {
    write(chunk: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(chunk) as Record<string, unknown>;
      } catch {
        return target.write(chunk); // not a pino record: pass it through untouched
      }
      return target.write(formatTextLine(record));
    },
  };
}

/** pino options (`level`, `stream`) for {@link LogOptions}; Fastify takes them as `logger`. */
export function loggerOptions(opts: LogOptions): { level: LogLevel; stream: LogStream } {
  const stream = opts.stream ?? process.stderr;
  return {
    level: opts.level,
    stream: resolveLogFormat(opts.format, stream) === 'text' ? textStream(stream) : stream,
  };
}

/** A logger for work outside HTTP requests (start-up warnings, shutdown), same format and stream. */
export function createLogger(opts: LogOptions): Logger {
  const { level, stream } = loggerOptions(opts);
  return pino({ level }, stream);
}

const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

function isProbe(request: FastifyRequest): boolean {
  return PROBE_ROUTES.has(request.routeOptions?.url ?? '');
}

/**
 * Fastify's request logging ("incoming request", "request completed"), at `debug` for probe
 * routes and `info` for the rest. Errors keep Fastify's levels.
 */
export class StellaLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (!isProbe(request)) return super.incomingRequest(request, reply);
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || !isProbe(request)) return super.requestCompleted(error, request, reply);
    if (!this.isLogDisabled(request))
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
