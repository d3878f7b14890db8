/**
 * `stella export …` (issue #10 item 8), online through the SDK's ExportApi: profiles
 * (create/list/get/delete), plan, run (`--wait` follows the run's SSE stream: a progress bar on a
 * terminal, one JSON line per event with `--json`) and download (streamed to `<out>.part`,
 * resumed with Range when a `.part` is there, renamed into place only once the whole file's
 * sha256 equals the server's ETag). `stella export verify` (offline) lives in its own module.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { ExportApi, type ExportProfileBody, type ExportRun, type ExportScheduleBody } from '@stella/sdk';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile } from '../system-errors.js';
import { ONLINE_OPTIONS, clientFrom, runOnline } from './online-options.js';

function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  const raw = Array.isArray(v) ? v : typeof v === 'string' && v ? [v] : [];
  return raw.flatMap((s) => s.split(',')).filter((s) => s !== '');
}

/** An online `stella export <name>` subcommand over the tenant's ExportApi. */
function online(name: string, fn: (ctx: CommandContext, api: ExportApi) => Promise<number | void>) {
  return (ctx: CommandContext): Promise<number> =>
    runOnline(ctx, `export ${name}`, () => fn(ctx, new ExportApi(clientFrom(ctx), ctx.values.tenant as string)));
}

/** The profile body from `--file` (JSON) or from the flags. */
async function profileBody(ctx: CommandContext): Promise<ExportProfileBody> {
  const file = stringOpt(ctx, 'file');
  if (file) {
    const text = (await readInputFile(resolve(ctx.cwd, file))).toString('utf8');
    try {
      return JSON.parse(text) as ExportProfileBody;
    } catch {
      throw new UsageError(`--file ${file} is not JSON`);
    }
  }
  const kinds = listOpt(ctx, 'kinds');
  if (kinds.length === 0) throw new UsageError('--kinds is required (or give the whole profile with --file)');
  let adapterOptions: Record<string, unknown> | undefined;
  const opts = stringOpt(ctx, 'options');
  if (opts) {
    try {
      adapterOptions = JSON.parse(opts) as Record<string, unknown>;
    } catch {
      throw new UsageError('--options must be a JSON object');
    }
  }
  const filter: Record<string, unknown> = { kinds };
  for (const [flag, field] of [
    ['ecosystem', 'ecosystems'],
    ['package', 'packages'],
    ['severity', 'severities'],
    ['project', 'projects'],
  ] as const) {
    const v = listOpt(ctx, flag);
    if (v.length) filter[field] = v;
  }
  const since = stringOpt(ctx, 'modified-since');
  if (since) filter.modifiedSince = since;
  const exportTime = stringOpt(ctx, 'export-time');
  return {
    name: stringOpt(ctx, 'name', true),
    adapter: stringOpt(ctx, 'adapter', true),
    filter,
    ...(adapterOptions ? { adapterOptions } : {}),
    ...(exportTime ? { exportTime } : {}),
  } as ExportProfileBody;
}

const profileCreate = online('profile create', async (ctx, api) => {
  const p = await api.createProfile(await profileBody(ctx), stringOpt(ctx, 'idempotency-key'));
  if (ctx.json) return println(ctx.stdout, JSON.stringify(p));
  println(ctx.stdout, `profile ${p.id} version ${p.version}: ${p.name} (${p.adapter})`);
});

const profileList = online('profile list', async (ctx, api) => {
  const items = await api.listProfiles();
  if (ctx.json) return println(ctx.stdout, JSON.stringify({ items }));
  for (const p of items)
    println(
      ctx.stdout,
      `${p.id}  v${p.version}  ${p.adapter.padEnd(12)} ${(p.filter as { kinds: string[] }).kinds.join(',')}  ${p.name}`,
    );
});

const profileGet = online('profile get', async (ctx, api) => {
  const v = stringOpt(ctx, 'version');
  if (v !== undefined && !/^[1-9]\d*$/.test(v)) throw new UsageError('--version must be a positive integer');
  const p = await api.getProfile(ctx.positionals[0]!, v === undefined ? undefined : Number(v));
  println(ctx.stdout, JSON.stringify(p, null, ctx.json ? 0 : 2));
});

const profileDelete = online('profile delete', async (ctx, api) => {
  await api.deleteProfile(ctx.positionals[0]!);
  if (ctx.json) return println(ctx.stdout, JSON.stringify({ id: ctx.positionals[0], deleted: true }));
  println(ctx.stdout, `profile ${ctx.positionals[0]} deleted`);
});

/** The schedule body from the flags: `--cron` + `--time-zone`, or `--on-change <kinds>` + `--quiet`. */
function scheduleBody(ctx: CommandContext): ExportScheduleBody {
  const cron = stringOpt(ctx, 'cron');
  const kinds = listOpt(ctx, 'on-change');
  if ((cron === undefined) === (kinds.length === 0))
    throw new UsageError(
      'give exactly one trigger: --cron <expr> --time-zone <zone>, or --on-change <kinds> --quiet <duration>',
    );
  const missed = stringOpt(ctx, 'missed');
  const name = stringOpt(ctx, 'name');
  return {
    profileId: stringOpt(ctx, 'profile', true),
    ...(name ? { name } : {}),
    ...(cron !== undefined
      ? { cron, timeZone: stringOpt(ctx, 'time-zone', true) }
      : { event: { kinds, quietPeriod: stringOpt(ctx, 'quiet') ?? 'PT5M' } }),
    ...(missed ? { missedFires: missed } : {}),
  } as ExportScheduleBody;
}

const scheduleCreate = online('schedule create', async (ctx, api) => {
  const s = await api.createSchedule(scheduleBody(ctx), stringOpt(ctx, 'idempotency-key'));
  if (ctx.json) return println(ctx.stdout, JSON.stringify(s));
  const trigger = s.cron
    ? `cron "${s.cron}" in ${s.timeZone}, next ${s.nextFireAt ?? 'never'}`
    : `on change of ${s.event!.kinds.join(',')} (quiet ${s.event!.quietPeriod})`;
  println(ctx.stdout, `schedule ${s.id} for profile ${s.profileId}: ${trigger}; missed fires: ${s.missedFires}`);
});

const scheduleList = online('schedule list', async (ctx, api) => {
  const items = await api.listSchedules(stringOpt(ctx, 'profile'));
  if (ctx.json) return println(ctx.stdout, JSON.stringify({ items }));
  for (const s of items)
    println(
      ctx.stdout,
      `${s.id}  ${s.profileId}  ${s.cron ? `${s.cron} (${s.timeZone})` : `on-change ${s.event!.kinds.join(',')} quiet ${s.event!.quietPeriod}`}  ${s.suspended ? `SUSPENDED ${s.suspended.code}` : s.nextFireAt ? `next ${s.nextFireAt}` : ''}`.trimEnd(),
    );
});

const scheduleDelete = online('schedule delete', async (ctx, api) => {
  await api.deleteSchedule(ctx.positionals[0]!);
  if (ctx.json) return println(ctx.stdout, JSON.stringify({ id: ctx.positionals[0], deleted: true }));
  println(ctx.stdout, `schedule ${ctx.positionals[0]} deleted`);
});

const planCmd = online('plan', async (ctx, api) => {
  const plan = await api.plan({ profileId: stringOpt(ctx, 'profile', true) });
  if (ctx.json) return println(ctx.stdout, JSON.stringify(plan));
  println(
    ctx.stdout,
    `ledger head ${plan.ledgerSeq}: ${plan.records} record(s), ~${plan.estimatedBytes} bytes before compression`,
  );
  for (const k of plan.byKind) println(ctx.stdout, `  ${k.kind.padEnd(9)} ${k.records}`);
  if (plan.empty) println(ctx.stdout, 'The filter matches nothing: a run gives an empty export.');
});

function bar(done: number, total: number | null | undefined, width = 30): string {
  if (!total) return `${done} records`;
  const f = Math.min(1, done / total);
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${done}/${total} (${Math.round(f * 100)}%)`;
}

/** Follows the run's events to its end; returns the finished run. */
async function follow(ctx: CommandContext, api: ExportApi, run: ExportRun): Promise<ExportRun> {
  const tty = !ctx.json && (ctx.stderr as Writable & { isTTY?: boolean }).isTTY === true;
  for await (const e of api.events(run.id, { signal: ctx.signal })) {
    if (ctx.json) {
      if (e.type !== 'heartbeat') println(ctx.stdout, JSON.stringify({ event: e.type, id: e.id, ...e.data }));
      continue;
    }
    if (e.type === 'progress' && tty)
      ctx.stderr.write(`\r\x1b[K${bar(Number(e.data.done), e.data.total as number | null)}`);
    if (e.type === 'status') {
      if (tty) ctx.stderr.write('\r\x1b[K');
      println(
        ctx.stderr,
        `run ${run.id}: ${String(e.data.status)}${e.data.attempt ? ` (attempt ${String(e.data.attempt)})` : ''}`,
      );
    }
  }
  if (tty) ctx.stderr.write('\r\x1b[K');
  return api.getRun(run.id);
}

const runCmd = online('run', async (ctx, api) => {
  const v = stringOpt(ctx, 'version');
  if (v !== undefined && !/^[1-9]\d*$/.test(v)) throw new UsageError('--version must be a positive integer');
  let run = await api.startRun(
    { profileId: stringOpt(ctx, 'profile', true), ...(v ? { profileVersion: Number(v) } : {}) },
    stringOpt(ctx, 'idempotency-key'),
  );
  if (!ctx.values.wait) {
    if (ctx.json) println(ctx.stdout, JSON.stringify(run));
    else println(ctx.stdout, `run ${run.id} ${run.status} (ledger ${run.ledgerSeq})`);
    return EXIT.OK;
  }
  run = await follow(ctx, api, run);
  if (ctx.json) println(ctx.stdout, JSON.stringify(run));
  else if (run.status === 'succeeded')
    println(ctx.stdout, `run ${run.id} succeeded: ${run.result!.archive.digest} (${run.result!.archive.size} bytes)`);
  else
    println(
      ctx.stdout,
      `run ${run.id} ${run.status}${run.failure ? `: ${run.failure.class} ${run.failure.code}: ${run.failure.message}` : ''}`,
    );
  return run.status === 'succeeded' ? EXIT.OK : EXIT.ERROR;
});

const downloadCmd = online('download', async (ctx, api) => {
  const id = ctx.positionals[0]!;
  const out = resolve(ctx.cwd, stringOpt(ctx, 'output') ?? `export-${id}.tgz`);
  const part = `${out}.part`;
  // Resume a .part left by an interrupted download; its bytes count towards the digest.
  const have = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  const hash = createHash('sha256');
  if (have > 0) for await (const c of createReadStream(part)) hash.update(c as Buffer);
  const d = await api.download(id, { start: have, signal: ctx.signal });
  const file = createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
  try {
    for await (const chunk of d.body) {
      hash.update(chunk);
      if (!file.write(chunk)) await once(file, 'drain');
    }
    await new Promise<void>((res, rej) => file.end((err?: Error | null) => (err ? rej(err) : res())));
  } catch (err) {
    file.destroy();
    throw err; // the .part stays: run the command again to resume
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (d.etag !== `"${digest}"`) {
    await rm(part, { force: true });
    const { StellaError } = await import('@stella/core/errors');
    throw new StellaError('OBJECT_DIGEST_MISMATCH', `downloaded ${digest}, the server's ETag says ${d.etag}`, {
      details: { runId: id },
    });
  }
  await rename(part, out);
  if (ctx.json) println(ctx.stdout, JSON.stringify({ runId: id, output: out, digest, resumedFrom: have }));
  else println(ctx.stdout, `Wrote ${out} (${digest}${have ? `, resumed at byte ${have}` : ''})`);
});

const FILTER_OPTIONS = {
  name: { type: 'string', arg: '<text>', description: 'Profile name' },
  adapter: { type: 'string', arg: '<id>', description: 'Adapter, e.g. json:raw, json:policy, mirror:full' },
  kinds: { type: 'string', arg: '<k,…>', multiple: true, description: 'advisory, vex, sbom, finding, policy' },
  ecosystem: { type: 'string', arg: '<e,…>', multiple: true, description: 'Ecosystems (npm, PyPI, Alpine, …)' },
  package: { type: 'string', arg: '<p,…>', multiple: true, description: 'Package names' },
  severity: { type: 'string', arg: '<s,…>', multiple: true, description: 'critical, high, medium, low, none, unknown' },
  project: { type: 'string', arg: '<p,…>', multiple: true, description: 'Projects' },
  'modified-since': { type: 'string', arg: '<time>', description: 'RFC 3339: records modified at or after' },
  'export-time': { type: 'string', arg: '<time>', description: 'Fixed time written into the bundle' },
  options: { type: 'string', arg: '<json>', description: 'Adapter options as a JSON object' },
  file: { type: 'string', arg: '<profile.json>', description: 'The whole profile as JSON (instead of the flags)' },
  'idempotency-key': { type: 'string', arg: '<key>', description: 'Idempotency-Key: a retry returns the same profile' },
} as const;

export const commands: CommandSpec[] = [
  {
    name: 'export profile create',
    summary: 'Create an export profile (online)',
    description: [
      'Every problem with the profile is listed at once (exit 1).',
      '',
      'Example: stella export profile create --name npm-high --adapter json:raw --kinds advisory \\',
      '           --ecosystem npm --severity critical,high --options \'{"compression":"gzip"}\'',
    ].join('\n'),
    options: { ...ONLINE_OPTIONS, ...FILTER_OPTIONS },
    positionals: { max: 0 },
    run: profileCreate,
  },
  {
    name: 'export profile list',
    summary: 'List export profiles (online)',
    options: ONLINE_OPTIONS,
    positionals: { max: 0 },
    run: profileList,
  },
  {
    name: 'export profile get',
    summary: 'Show an export profile, the latest or one --version (online)',
    args: '<id>',
    options: { ...ONLINE_OPTIONS, version: { type: 'string', arg: '<n>', description: 'A pinned version' } },
    positionals: { min: 1, max: 1 },
    run: profileGet,
  },
  {
    name: 'export profile delete',
    summary: 'Delete an export profile (runs keep the versions they pinned) (online)',
    args: '<id>',
    options: ONLINE_OPTIONS,
    positionals: { min: 1, max: 1 },
    run: profileDelete,
  },
  {
    name: 'export schedule create',
    summary: 'Schedule runs of a profile: a cron in a time zone, or on source changes (online)',
    description: [
      'Every problem is listed at once (exit 1); an invalid cron names its field. Missed fires after downtime:',
      '--missed skip (default) or catchUpOnce (docs/export/schedules.md).',
      '',
      "Example: stella export schedule create --profile 01JF3Z8Q6X0000000000000000 --cron '0 2 * * *' --time-zone Europe/Berlin",
      '         stella export schedule create --profile 01JF3Z8Q6X0000000000000000 --on-change advisory,vex --quiet PT10M',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      profile: { type: 'string', arg: '<id>', description: 'Profile id' },
      name: { type: 'string', arg: '<name>', description: 'A name for the schedule' },
      cron: { type: 'string', arg: '<expr>', description: 'Cron: 5 fields, or 6 with seconds first' },
      'time-zone': { type: 'string', arg: '<zone>', description: 'IANA time zone of --cron (e.g. UTC, Europe/Berlin)' },
      'on-change': {
        type: 'string',
        arg: '<kinds>',
        multiple: true,
        description: 'Fire when these source kinds change',
      },
      quiet: { type: 'string', arg: '<duration>', description: 'ISO 8601 quiet period for --on-change (default PT5M)' },
      missed: { type: 'string', arg: '<policy>', description: 'skip (default) or catchUpOnce' },
      'idempotency-key': {
        type: 'string',
        arg: '<key>',
        description: 'Idempotency-Key: a retry returns the same schedule',
      },
    },
    positionals: { max: 0 },
    run: scheduleCreate,
  },
  {
    name: 'export schedule list',
    summary: 'List export schedules (online)',
    options: { ...ONLINE_OPTIONS, profile: { type: 'string', arg: '<id>', description: 'Only this profile’s' } },
    positionals: { max: 0 },
    run: scheduleList,
  },
  {
    name: 'export schedule delete',
    summary: 'Delete an export schedule (its fires and runs stay) (online)',
    args: '<id>',
    options: ONLINE_OPTIONS,
    positionals: { min: 1, max: 1 },
    run: scheduleDelete,
  },
  {
    name: 'export plan',
    summary: 'Dry run: what a run of a profile would export now (online)',
    options: { ...ONLINE_OPTIONS, profile: { type: 'string', arg: '<id>', description: 'Profile id' } },
    positionals: { max: 0 },
    run: planCmd,
  },
  {
    name: 'export run',
    summary: 'Start an export run; --wait follows it to the end (online)',
    description: [
      'With --wait the run is followed through its event stream (a progress bar on a terminal; with --json',
      'one JSON line per event, then the run). Exit 0 when it succeeded, 1 when it failed or was cancelled.',
      '',
      'Example: stella export run --profile 01JF3Z8Q6X0000000000000000 --wait',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      profile: { type: 'string', arg: '<id>', description: 'Profile id' },
      version: { type: 'string', arg: '<n>', description: 'Profile version (default: the latest)' },
      wait: { type: 'boolean', description: 'Follow the run until it finishes' },
      'idempotency-key': { type: 'string', arg: '<key>', description: 'Idempotency-Key: a retry returns the same run' },
    },
    positionals: { max: 0 },
    run: runCmd,
  },
  {
    name: 'export download',
    summary: 'Download a run’s export.tgz (streamed, resumable, checked against its ETag) (online)',
    args: '<runId>',
    description: [
      'Writes <output>.part and renames it when the sha256 of the whole file equals the ETag. An interrupted',
      'download leaves the .part; running the command again resumes it with an HTTP Range request.',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      output: {
        type: 'string',
        short: 'o',
        arg: '<export.tgz>',
        description: 'Where to write (default export-<id>.tgz)',
      },
    },
    positionals: { min: 1, max: 1 },
    run: downloadCmd,
  },
];
