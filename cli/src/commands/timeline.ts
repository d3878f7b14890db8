/**
 * `stella timeline …` (issue #9 item 5): query, get, evidence against the Timeline Indexer's HTTP
 * routes, and publish over HTTP or on the configured bus (docs/timeline.md).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { ApiError, TimelineApi, type TimelineEvent, type TimelineQuery } from '@stella/sdk';
import type { EventBus, EventEnvelope, EventProblem } from '@stella/platform/bus';
import type { BusConfig } from '@stella/platform/config';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { progressBar } from '../progress-bar.js';
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
  /** `http` (POST /timeline/events) or `bus` (the configured NATS or Redis stream). */
  via: 'http' | 'bus';
  lines: number;
  /** Events the server answered for (http) or the broker acknowledged (bus). */
  sent: number;
  /** http only: what the server did with them. */
  stored?: number;
  duplicates?: number;
  retenanted?: number;
  rejected: number;
  /** The first {@link MAX_REPORTED} rejected lines, with why (all of them go to stderr). */
  rejectedLines: { line: number; reason: string }[];
}

/** Rejected lines kept in the JSON summary (stderr has every one). */
const MAX_REPORTED = 1000;
/** Bus publishes awaiting their broker acknowledgement at once (one connection: order is kept). */
const BUS_WINDOW = 64;

/** One line of the file waiting to be sent. */
interface Pending {
  line: number;
  event: Record<string, unknown>;
}

type Report = (line: number, why: string) => void;

/** Where the lines go: batched HTTP requests or one bus publish each. */
interface Sink {
  /** The JSON size an event may have (http: the body limit); undefined = the envelope's own. */
  maxBytes?: number;
  add(p: Pending, bytes: number): Promise<void>;
  finish(): Promise<void>;
}

/**
 * Sends one batch. An invalid envelope refuses the whole batch (EVENT_INVALID, problems by
 * index, nothing stored), so its lines are reported and the rest is sent again.
 */
async function sendBatch(api: TimelineApi, batch: Pending[], summary: PublishSummary, report: Report): Promise<void> {
  let rest = batch;
  while (rest.length > 0) {
    try {
      const result = await api.ingest(rest.map((p) => p.event));
      summary.sent += rest.length;
      summary.stored! += result.stored;
      summary.duplicates! += result.duplicates;
      summary.retenanted! += result.retenanted;
      return;
    } catch (err) {
      const problems = err instanceof ApiError && err.code === 'EVENT_INVALID' ? eventProblemsOf(err) : undefined;
      if (!problems) throw err;
      const bad = new Set<number>();
      for (const p of problems) {
        if (bad.has(p.index)) continue;
        report(rest[p.index]!.line, `${p.path || '(root)'} ${p.message}`);
        bad.add(p.index);
      }
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

function httpSink(api: TimelineApi, limits: BatchLimits, summary: PublishSummary, report: Report): Sink {
  let batch: Pending[] = [];
  let batchBytes = BODY_OVERHEAD;
  const flush = async () => {
    await sendBatch(api, batch, summary, report);
    batch = [];
    batchBytes = BODY_OVERHEAD;
  };
  return {
    maxBytes: limits.bytes - BODY_OVERHEAD - 1,
    async add(p, bytes) {
      if (batch.length > 0 && batchBytes + bytes + 1 > limits.bytes) await flush();
      batch.push(p);
      batchBytes += bytes + 1; // and its comma
      if (batch.length === limits.events) await flush();
    },
    async finish() {
      if (batch.length > 0) await flush();
    },
  };
}

/**
 * One `bus.publish` per event, up to {@link BUS_WINDOW} awaiting their acknowledgement: the
 * adapters write each publish to their one connection in call order (JetStream PUB, Redis
 * EVALSHA/XADD), so the stream holds the file's order. The first failure (broker down) stops
 * the run: what was acknowledged stays published, the rest is not sent.
 */
function busSink(bus: EventBus, summary: PublishSummary): Sink {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const settle = async () => {
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  };
  return {
    async add(p) {
      if (failure !== undefined) throw failure;
      const sent: Promise<void> = bus.publish(p.event as unknown as EventEnvelope).then(
        () => void summary.sent++,
        (err: unknown) => void (failure ??= err),
      );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= BUS_WINDOW) await Promise.race(inFlight);
      if (failure !== undefined) await settle();
    },
    finish: settle,
  };
}

/** The two checks a line must pass: the platform's envelope validation and the timeline's storage checks. */
interface Checks {
  eventProblems: (input: unknown) => EventProblem[];
  storageProblems: (event: EventEnvelope) => EventProblem[];
}

/**
 * The envelope to send for a parsed line, or why it is refused: checked with the platform's
 * `eventProblems`, then with the indexer's own `storageProblems` (NUL characters, UTC years
 * 0001–9999) — what the server answers 400 for over HTTP and the consumer dead-letters on the
 * bus, so neither way publishes an event the timeline would refuse.
 */
function prepare(
  checks: Checks,
  event: Record<string, unknown>,
  via: 'http' | 'bus',
  tenant: string | undefined,
): { event: Record<string, unknown> } | { why: string } {
  let candidate = event;
  if (via === 'http') {
    // The server stores every event under the token's tenant (and counts the replaced ones).
    candidate = { ...event, tenant };
  } else if (tenant !== undefined) {
    if (event['tenant'] === undefined) candidate = { ...event, tenant };
    else if (event['tenant'] !== tenant)
      return { why: `/tenant is ${JSON.stringify(event['tenant'])}, not --tenant ${JSON.stringify(tenant)}` };
  }
  let problems = checks.eventProblems(candidate);
  if (problems.length === 0) problems = checks.storageProblems(candidate as unknown as EventEnvelope);
  if (problems.length > 0) {
    const p = problems[0]!;
    return {
      why: `${p.path || '(root)'} ${p.message}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`,
    };
  }
  // HTTP sends the event as the file has it (the server re-tenants and counts that).
  return { event: via === 'http' ? event : candidate };
}

async function publish(
  ctx: CommandContext,
  via: 'http' | 'bus',
  file: string,
  open: (summary: PublishSummary, report: Report) => Promise<{ sink: Sink; close(): Promise<void> }>,
): Promise<number> {
  const path = resolve(ctx.cwd, file);
  const total = (await stat(path)).size;
  const summary: PublishSummary = {
    via,
    lines: 0,
    sent: 0,
    ...(via === 'http' ? { stored: 0, duplicates: 0, retenanted: 0 } : {}),
    rejected: 0,
    rejectedLines: [],
  };
  const bar = progressBar(
    ctx.stderr,
    !ctx.json && (ctx.stderr as Writable & { isTTY?: boolean }).isTTY === true,
    total,
  );
  const report: Report = (line, why) => {
    bar.clear();
    println(ctx.stderr, `stella timeline publish: line ${line}: ${why}`);
    summary.rejected++;
    if (summary.rejectedLines.length < MAX_REPORTED) summary.rejectedLines.push({ line, reason: why });
  };
  const tenant = ctx.values.tenant as string | undefined;
  // Loaded here, not at start: the bus module brings the NATS and Redis clients.
  const { eventProblems } = await import('@stella/platform/bus');
  const { storageProblems } = await import('@stella/timeline-indexer/storable');
  const { sink, close } = await open(summary, report);
  let interrupted = false;
  try {
    const input = createReadStream(path, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    let line = 0;
    let consumed = 0;
    for await (const text of lines) {
      line++;
      consumed += Buffer.byteLength(text) + 1;
      if (ctx.signal.aborted) {
        interrupted = true;
        input.destroy();
        break;
      }
      if (text.trim() === '') continue;
      summary.lines++;
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch (err) {
        report(line, `not JSON (${(err as Error).message})`);
        continue;
      }
      if (typeof event !== 'object' || event === null || Array.isArray(event)) {
        report(line, 'not a JSON object');
        continue;
      }
      const ready = prepare({ eventProblems, storageProblems }, event as Record<string, unknown>, via, tenant);
      if ('why' in ready) {
        report(line, ready.why);
        continue;
      }
      // The body carries the event re-encoded, not the line as written (whitespace, escapes).
      const bytes = Buffer.byteLength(JSON.stringify(ready.event));
      if (sink.maxBytes !== undefined && bytes > sink.maxBytes) {
        report(
          line,
          `encodes to ${bytes} bytes: no request body under --body-limit ${sink.maxBytes + BODY_OVERHEAD + 1} holds it`,
        );
        continue;
      }
      await sink.add({ line, event: ready.event }, bytes);
      bar.update(Math.min(consumed, total), `${summary.sent} events`);
    }
    await sink.finish();
  } finally {
    bar.clear();
    await close();
  }

  if (ctx.json) println(ctx.stdout, JSON.stringify(summary));
  else if (via === 'http')
    println(
      ctx.stdout,
      `sent ${summary.sent} (stored ${summary.stored}, duplicates ${summary.duplicates}, retenanted ${summary.retenanted}), rejected ${summary.rejected}`,
    );
  else println(ctx.stdout, `published ${summary.sent} on the bus, rejected ${summary.rejected}`);
  if (interrupted) println(ctx.stderr, `stella timeline publish: interrupted after line ${summary.lines}`);
  return summary.rejected > 0 || interrupted ? EXIT.ERROR : EXIT.OK;
}

/**
 * `--via`: given, or bus when the bus configuration (`--bus` / STELLA_BUS_URL, as `stella serve`
 * reads it) names NATS or Redis, else http. An in-process `memory:` bus lives only inside a
 * server, so the CLI cannot publish on it.
 */
async function publishTarget(ctx: CommandContext): Promise<{ via: 'http' | 'bus'; bus?: BusConfig }> {
  const via = stringOpt(ctx, 'via');
  if (via !== undefined && via !== 'bus' && via !== 'http')
    throw new UsageError(`--via must be bus or http, got '${via}'`);
  const { parseBusUrl, parseBusNamespace, ConfigProblem } = await import('@stella/platform/config');
  const parse = <T>(option: string, f: (raw: string) => T): T | undefined => {
    const raw = stringOpt(ctx, option);
    if (raw === undefined) return undefined;
    try {
      return f(raw);
    } catch (err) {
      if (err instanceof ConfigProblem) throw new UsageError(`--${option}: ${err.message}`);
      throw err;
    }
  };
  const url = parse('bus', parseBusUrl);
  const namespace = parse('bus-namespace', parseBusNamespace);
  const bus = url && url.kind !== 'memory' ? { ...url, ...(namespace ? { namespace } : {}) } : undefined;
  if (via === 'bus' && !bus)
    throw new UsageError(
      url
        ? `--via bus needs a NATS or Redis bus: '${stringOpt(ctx, 'bus')}' is in-process (memory:), only a running server reaches it`
        : '--via bus needs a bus: pass --bus nats://… or redis://…, or set STELLA_BUS_URL',
    );
  return (via ?? (bus ? 'bus' : 'http')) === 'bus' ? { via: 'bus', bus: bus! } : { via: 'http' };
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
        const incidents = links.incidents ?? [];
        const printIncidents = () => {
          for (const i of incidents)
            println(
              ctx.stdout,
              `incident ${i.incidentId}: ${i.active ? 'active' : 'ended'}${i.activatedAt ? ` since ${i.activatedAt}` : ''}${i.deactivatedAt ? ` until ${i.deactivatedAt}` : ''}${i.activateReason ? ` (${i.activateReason})` : ''}`,
            );
        };
        if (links.evidence.length === 0) {
          println(ctx.stdout, `no evidence linked to ${links.eventId}`);
          printIncidents();
          return EXIT.OK;
        }
        // Digests are never cut: they are what one copies into `stella evidence …`.
        const rows = [
          ['DIGEST', 'BUNDLE', 'MANIFEST DIGEST', 'ATTESTATION SUBJECT', 'HOLDS', 'CUSTODY'],
          ...links.evidence.map((l) => [
            l.digest ?? '-',
            l.bundleId ?? '-',
            l.manifestDigest ?? '-',
            l.attestationSubject ?? '-',
            l.legalHolds?.join(',') ?? '-',
            l.custody ? `${l.custodyTruncated ? '…' : ''}${l.custody.map((c) => c.action).join(' → ')}` : '-',
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
        printIncidents();
        return EXIT.OK;
      });
    },
  },
  {
    name: 'timeline publish',
    summary: 'Publish the events of a JSONL file (one envelope per line) on the bus or over HTTP',
    args: '<events.jsonl>',
    description: [
      'Reads the file line by line (never whole) and sends every event, checked first with the',
      "platform's envelope validator: lines that are not JSON objects or not valid envelopes are",
      'reported with their line number and reason and not sent; the exit code is then 1.',
      '',
      '--via bus publishes each event on the configured bus (--bus / STELLA_BUS_URL and',
      '--bus-namespace / STELLA_BUS_NAMESPACE, as `stella serve` reads them: NATS JetStream or Redis',
      "Streams), where the indexer consumes it like any producer's event; no token is needed, the",
      "broker's credentials are the authority. Each event keeps its own tenant; with --tenant, lines",
      'without one get it and lines naming another are refused. The order of the file is kept.',
      '',
      '--via http sends batches to POST /timeline/events (token and tenant needed); every event is',
      "stored under the token's tenant; events already stored count as duplicates.",
      '',
      'Default: bus when the bus configuration names NATS or Redis, else http. Prints a summary',
      '(sent or published, and for http stored, duplicates, retenanted; rejected); --json prints it',
      'as JSON with the rejected lines and reasons. A progress bar on stderr when it is a terminal.',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      via: { type: 'string', arg: 'bus|http', description: 'Publish on the bus or over HTTP (default: see above)' },
      bus: {
        type: 'string',
        arg: '<url>',
        description: 'Event bus: nats://host:4222 or redis://host:6379 (as the server)',
        env: 'STELLA_BUS_URL',
      },
      'bus-namespace': {
        type: 'string',
        arg: '<name>',
        description: "The server's STELLA_BUS_NAMESPACE, if it has one",
        env: 'STELLA_BUS_NAMESPACE',
      },
      batch: {
        type: 'string',
        arg: '<n>',
        description: "http: events per request (at most the server's STELLA_TIMELINE_HTTP_MAX_BATCH)",
        default: String(DEFAULT_BATCH),
      },
      'body-limit': {
        type: 'string',
        arg: '<bytes>',
        description: "http: largest request body (the server's STELLA_BODY_LIMIT); batches are cut to fit",
        default: String(DEFAULT_BODY_LIMIT),
      },
    },
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const limits = {
        events: intOpt(ctx, 'batch', 1, DEFAULT_BATCH),
        bytes: intOpt(ctx, 'body-limit', 1024, 1024 ** 3),
      };
      const file = ctx.positionals[0]!;
      const target = await publishTarget(ctx);
      if (target.via === 'http') {
        const api = timelineApi(ctx);
        return runOnline(ctx, 'timeline publish', () =>
          publish(ctx, 'http', file, async (summary, report) => ({
            sink: httpSink(api, limits, summary, report),
            close: async () => undefined,
          })),
        );
      }
      const { openBus } = await import('@stella/platform/bus');
      return publish(ctx, 'bus', file, async (summary) => {
        const bus = await openBus(target.bus!);
        return { sink: busSink(bus, summary), close: () => bus.close() };
      });
    },
  },
];
