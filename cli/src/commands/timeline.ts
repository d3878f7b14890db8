/**
 * `stella timeline …` (issue #9 item 5): query, get, evidence and publish against the Timeline
 * Indexer's HTTP routes (docs/timeline.md).
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { ApiError, TimelineApi, type TimelineEvent, type TimelineQuery } from '@stella/sdk';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { ONLINE_OPTIONS, clientFrom, runOnline } from './online-options.js';

/** The route's own limit (`GET /timeline` `limit` is 1 to 1000). */
const MAX_PAGE = 1000;
/** The route's default `STELLA_TIMELINE_HTTP_MAX_BATCH`; a server may be configured lower. */
const DEFAULT_BATCH = 1000;
/** The server's default `STELLA_BODY_LIMIT`: a batch of large events must stay under it (413). */
const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** `{"events":[` … `]}` around the comma-separated events. */
const BODY_OVERHEAD = '{"events":[]}'.length;

function timelineApi(ctx: CommandContext): TimelineApi {
  return new TimelineApi(clientFrom(ctx), ctx.values.tenant as string);
}

function intOpt(ctx: CommandContext, name: string, min: number, max: number): number {
  const text = stringOpt(ctx, name, true);
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`);
  return n;
}

const FILTERS = {
  kind: 'kind',
  source: 'source',
  subject: 'subject',
  'correlation-id': 'correlationId',
  'trace-id': 'traceId',
  digest: 'digest',
  from: 'from',
  to: 'to',
} as const;

function queryFrom(ctx: CommandContext): TimelineQuery {
  const query: TimelineQuery = { limit: intOpt(ctx, 'limit', 1, MAX_PAGE) };
  for (const [option, param] of Object.entries(FILTERS)) {
    const value = stringOpt(ctx, option);
    if (value !== undefined) query[param] = value;
  }
  return query;
}

/** Cuts `text` to `width` characters, marking the cut with '…'. */
function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

/**
 * Fixed column widths, so pages can be printed as they arrive and still line up. occurredAt is
 * never cut (the producer's text may be longer than the usual milliseconds-and-Z form), the
 * eventId is a ULID and goes last.
 */
const COLUMNS = { occurredAt: 24, kind: 24, source: 16, subject: 40 };

function tableRow(cells: [string, string, string, string, string]): string {
  const [at, kind, source, subject, id] = cells;
  return [
    at.padEnd(COLUMNS.occurredAt),
    fit(kind, COLUMNS.kind),
    fit(source, COLUMNS.source),
    fit(subject, COLUMNS.subject),
    id,
  ].join('  ');
}

/** Prints events as table rows (header first) or as JSON lines. */
function eventPrinter(out: Writable, json: boolean): (e: TimelineEvent) => void {
  if (json) return (e) => println(out, JSON.stringify(e));
  let header = false;
  return (e) => {
    if (!header) println(out, tableRow(['OCCURRED AT', 'KIND', 'SOURCE', 'SUBJECT', 'EVENT ID']));
    header = true;
    println(out, tableRow([e.occurredAt, e.kind, e.source, e.subject ?? '-', e.eventId]));
  };
}

/**
 * `--follow`: the pages that exist, then `GET /timeline/stream` (arrival order, so late events
 * with an older occurredAt are shown too). The stream's position is taken before the pages are
 * read, so nothing that arrives meanwhile is missed; an event both read in a page and streamed is
 * printed once (the set of page ids shrinks as the stream passes them). The SDK reconnects with
 * Last-Event-ID when the connection drops, so a server restart loses and repeats nothing.
 */
async function follow(
  api: TimelineApi,
  query: TimelineQuery,
  print: (e: TimelineEvent) => void,
  signal: AbortSignal,
  stderr: Writable,
): Promise<void> {
  const { limit: _limit, ...filters } = query;
  const start = await api.streamPosition(filters);
  const printed = new Set<string>();
  for await (const page of api.pages(query)) {
    for (const e of page.events) {
      printed.add(e.eventId);
      print(e);
    }
    if (signal.aborted) return;
  }
  let position = start;
  const stream = api.follow(filters, {
    lastEventId: start,
    signal,
    onPosition: (id) => (position = id),
    onReconnect: (reason) =>
      println(
        stderr,
        `stella timeline query: stream interrupted (${(reason as Error)?.message ?? reason}); resuming after ${position}`,
      ),
  });
  for await (const { event } of stream) {
    if (printed.delete(event.eventId)) continue;
    print(event);
  }
}

interface PublishSummary {
  lines: number;
  sent: number;
  stored: number;
  duplicates: number;
  retenanted: number;
  rejected: number;
}

/** One line of the file waiting to be sent. */
interface Pending {
  line: number;
  event: Record<string, unknown>;
}

/**
 * Sends one batch. An invalid envelope refuses the whole batch (EVENT_INVALID, problems by
 * index, nothing stored), so its lines are reported and the rest is sent again.
 */
async function sendBatch(
  api: TimelineApi,
  batch: Pending[],
  summary: PublishSummary,
  report: (line: number, why: string) => void,
): Promise<void> {
  let rest = batch;
  while (rest.length > 0) {
    try {
      const result = await api.ingest(rest.map((p) => p.event));
      summary.sent += rest.length;
      summary.stored += result.stored;
      summary.duplicates += result.duplicates;
      summary.retenanted += result.retenanted;
      return;
    } catch (err) {
      const problems = err instanceof ApiError && err.code === 'EVENT_INVALID' ? eventProblemsOf(err) : undefined;
      if (!problems) throw err;
      const bad = new Set<number>();
      for (const p of problems) {
        const pending = rest[p.index]!;
        report(pending.line, `${p.path || '(root)'} ${p.message}`);
        bad.add(p.index);
      }
      summary.rejected += bad.size;
      rest = rest.filter((_, i) => !bad.has(i));
    }
  }
}

function eventProblemsOf(err: ApiError): { index: number; path: string; message: string }[] | undefined {
  const problems = (err.details as { problems?: unknown } | undefined)?.problems;
  if (!Array.isArray(problems) || problems.length === 0) return undefined;
  return problems as { index: number; path: string; message: string }[];
}

interface BatchLimits {
  events: number;
  bytes: number;
}

async function publish(ctx: CommandContext, api: TimelineApi, file: string, limits: BatchLimits): Promise<number> {
  const summary: PublishSummary = { lines: 0, sent: 0, stored: 0, duplicates: 0, retenanted: 0, rejected: 0 };
  const progress = !ctx.json && (ctx.stderr as Writable & { isTTY?: boolean }).isTTY === true;
  const report = (line: number, why: string) => {
    if (progress) ctx.stderr.write('\r\x1b[K');
    println(ctx.stderr, `stella timeline publish: line ${line}: ${why}`);
  };
  let batch: Pending[] = [];
  let batchBytes = BODY_OVERHEAD;
  const flush = async () => {
    await sendBatch(api, batch, summary, report);
    batch = [];
    batchBytes = BODY_OVERHEAD;
    if (progress) ctx.stderr.write(`\rsent ${summary.sent} events`);
  };

  const input = createReadStream(resolve(ctx.cwd, file), { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    summary.lines++;
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch (err) {
      report(line, `not JSON (${(err as Error).message})`);
      summary.rejected++;
      continue;
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      report(line, 'not a JSON object');
      summary.rejected++;
      continue;
    }
    // The body carries the event re-encoded, not the line as written (whitespace, escapes).
    const bytes = Buffer.byteLength(JSON.stringify(event)) + 1; // and its comma
    if (BODY_OVERHEAD + bytes > limits.bytes) {
      report(line, `encodes to ${bytes - 1} bytes: no request body under --body-limit ${limits.bytes} holds it`);
      summary.rejected++;
      continue;
    }
    if (batch.length > 0 && batchBytes + bytes > limits.bytes) await flush();
    batch.push({ line, event: event as Record<string, unknown> });
    batchBytes += bytes;
    if (batch.length === limits.events) await flush();
  }
  if (batch.length > 0) await flush();
  if (progress) ctx.stderr.write('\r\x1b[K');

  if (ctx.json) println(ctx.stdout, JSON.stringify(summary));
  else
    println(
      ctx.stdout,
      `sent ${summary.sent} (stored ${summary.stored}, duplicates ${summary.duplicates}, retenanted ${summary.retenanted}), rejected ${summary.rejected}`,
    );
  return summary.rejected > 0 ? EXIT.ERROR : EXIT.OK;
}

export const commands: CommandSpec[] = [
  {
    name: 'timeline query',
    summary: "Query the tenant's timeline (a table, or JSON lines with --json)",
    description: [
      'Events in timeline order (occurredAt, then source, then ingest sequence). Without --all one page',
      'of --limit events is printed; --all follows nextCursor and prints each page as it arrives.',
      '',
      '--follow prints the matching events that exist, then keeps printing new ones as they arrive',
      '(GET /timeline/stream, in arrival order: an event with an older occurredAt is shown too),',
      'until Ctrl-C. A dropped connection is resumed where it stopped: nothing missed, nothing twice.',
      '',
      'Example: stella timeline query --subject sha256:… --all --json | jq .kind',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      kind: { type: 'string', arg: '<kind>', description: 'Only events of this kind' },
      source: { type: 'string', arg: '<source>', description: 'Only events from this source' },
      subject: { type: 'string', arg: '<subject>', description: 'Only events about this subject' },
      'correlation-id': { type: 'string', arg: '<id>', description: 'Only events with this correlation id' },
      'trace-id': { type: 'string', arg: '<hex32>', description: 'Only events with this trace id' },
      digest: { type: 'string', arg: '<sha256:…>', description: 'Only events that mention this digest' },
      from: { type: 'string', arg: '<rfc3339>', description: 'occurredAt at or after (inclusive)' },
      to: { type: 'string', arg: '<rfc3339>', description: 'occurredAt before (exclusive)' },
      limit: { type: 'string', arg: '<n>', description: 'Events per page (1–1000)', default: '100' },
      all: { type: 'boolean', description: 'Follow nextCursor through every page' },
      follow: { type: 'boolean', short: 'f', description: 'Then stream new events until Ctrl-C' },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const query = queryFrom(ctx);
      const api = timelineApi(ctx);
      const print = eventPrinter(ctx.stdout, ctx.json);
      return runOnline(ctx, 'timeline query', async () => {
        if (ctx.values.follow) {
          await follow(api, query, print, ctx.signal, ctx.stderr);
          return EXIT.OK;
        }
        if (ctx.values.all) {
          for await (const page of api.pages(query)) for (const e of page.events) print(e);
          return EXIT.OK;
        }
        const page = await api.page(query);
        page.events.forEach(print);
        if (page.nextCursor && !ctx.json) println(ctx.stderr, '(more events: pass --all to read every page)');
        return EXIT.OK;
      });
    },
  },
  {
    name: 'timeline get',
    summary: 'One timeline event by id (pretty JSON; compact with --json)',
    args: '<eventId>',
    options: ONLINE_OPTIONS,
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const api = timelineApi(ctx);
      return runOnline(ctx, 'timeline get', async () => {
        const event = await api.get(ctx.positionals[0]!);
        println(ctx.stdout, ctx.json ? JSON.stringify(event) : JSON.stringify(event, null, 2));
        return EXIT.OK;
      });
    },
  },
  {
    name: 'timeline evidence',
    summary: 'The evidence bundles linked to a timeline event (a table, or JSON with --json)',
    args: '<eventId>',
    options: ONLINE_OPTIONS,
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const api = timelineApi(ctx);
      return runOnline(ctx, 'timeline evidence', async () => {
        const links = await api.evidence(ctx.positionals[0]!);
        if (ctx.json) {
          println(ctx.stdout, JSON.stringify(links));
          return EXIT.OK;
        }
        if (links.evidence.length === 0) {
          println(ctx.stdout, `no evidence linked to ${links.eventId}`);
          return EXIT.OK;
        }
        // Digests are never cut: they are what one copies into `stella evidence …`.
        const rows = [
          ['DIGEST', 'BUNDLE', 'MANIFEST DIGEST', 'ATTESTATION SUBJECT'],
          ...links.evidence.map((l) => [
            l.digest,
            l.bundleId ?? '-',
            l.manifestDigest ?? '-',
            l.attestationSubject ?? '-',
          ]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows)
          println(
            ctx.stdout,
            r
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd(),
          );
        return EXIT.OK;
      });
    },
  },
  {
    name: 'timeline publish',
    summary: 'Send the events of a JSONL file (one envelope per line) to the timeline over HTTP',
    args: '<events.jsonl>',
    description: [
      'Reads the file line by line and sends the events in batches to POST /timeline/events. Lines',
      'that are not JSON objects, and envelopes the server refuses, are reported with their line',
      'number and not sent; the exit code is then 1. Events already stored count as duplicates.',
      "Every event is stored under the token's tenant. HTTP only: this command does not publish on",
      'the bus. Prints a summary (sent, stored, duplicates, retenanted, rejected); --json prints it',
      'as JSON. A counter on stderr shows progress when stderr is a terminal.',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      batch: {
        type: 'string',
        arg: '<n>',
        description: "Events per request (at most the server's STELLA_TIMELINE_HTTP_MAX_BATCH)",
        default: String(DEFAULT_BATCH),
      },
      'body-limit': {
        type: 'string',
        arg: '<bytes>',
        description: "Largest request body (the server's STELLA_BODY_LIMIT); batches are cut to fit",
        default: String(DEFAULT_BODY_LIMIT),
      },
    },
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const limits = {
        events: intOpt(ctx, 'batch', 1, DEFAULT_BATCH),
        bytes: intOpt(ctx, 'body-limit', 1024, 1024 ** 3),
      };
      const api = timelineApi(ctx);
      return runOnline(ctx, 'timeline publish', () => publish(ctx, api, ctx.positionals[0]!, limits));
    },
  },
];
