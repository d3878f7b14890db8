/**
 * `stella timeline export` (online) and `stella timeline verify-export` (offline, core only):
 * a window of a tenant's timeline with the proofs that it is complete (issue 12 item 4;
 * docs/timeline.md "Transparency log", docs/formats/tlog.md "Timeline export").
 * Exit codes: 0 ok, 1 error, 2 usage, 3 verification failed (the check named).
 */
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { isStellaError } from '@stella/core/errors';
import { TimelineExportVerifier, parseCheckpoint, parseNote, parseVerifierKey } from '@stella/core/tlog';
import { ApiError } from '@stella/sdk';
import { EXIT, UsageError, println, stringOpt, type CommandSpec } from '../command.js';
import { readInputFile } from '../system-errors.js';
import { ONLINE_OPTIONS, clientFrom, runOnline } from './online-options.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function dateOpt(raw: string, name: string): string {
  if (!RFC3339.test(raw) || Number.isNaN(Date.parse(raw)))
    throw new UsageError(`--${name} must be an RFC 3339 date-time (e.g. 2026-01-31T00:00:00Z), got '${raw}'`);
  return raw;
}

export const commands: CommandSpec[] = [
  {
    name: 'timeline export',
    summary: 'Write a window of the timeline with the proofs that it is complete (NDJSON)',
    description: [
      'Asks GET /timeline/log/export for events with from ≤ occurredAt < to and writes the file (-o),',
      'atomically: the header with the latest signed checkpoint, the batch entries covering the window',
      'with inclusion proofs, consistency proofs, the events in timeline order. Verify it offline with',
      '`stella timeline verify-export`. --since <checkpoint file> adds a consistency proof from a',
      'checkpoint you hold, so verify-export --checkpoint can tie the export to it.',
      '',
      'Example: stella timeline export --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z -o day.ndjson',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      from: { type: 'string', arg: '<date-time>', description: 'Inclusive lower bound of occurredAt' },
      to: { type: 'string', arg: '<date-time>', description: 'Exclusive upper bound of occurredAt' },
      since: { type: 'string', arg: '<checkpoint file>', description: 'A checkpoint you hold (adds a proof from it)' },
      output: { type: 'string', short: 'o', arg: '<file>', description: 'Where to write the export' },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const from = dateOpt(stringOpt(ctx, 'from', true), 'from');
      const to = dateOpt(stringOpt(ctx, 'to', true), 'to');
      if (!(Date.parse(from) < Date.parse(to))) throw new UsageError('--from must be before --to');
      const out = resolve(ctx.cwd, stringOpt(ctx, 'output', true));
      const sincePath = stringOpt(ctx, 'since');
      let since: number | undefined;
      if (sincePath) since = parseCheckpoint(parseNote(await readInputFile(resolve(ctx.cwd, sincePath))).text).size;
      const client = clientFrom(ctx);
      return runOnline(ctx, 'timeline export', async () => {
        const q = new URLSearchParams({ from, to, ...(since !== undefined ? { since: String(since) } : {}) });
        const res = await client.stream(`/timeline/log/export?${q}`, { signal: ctx.signal });
        if (!res.ok) {
          const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; traceId?: string };
          throw new ApiError(res.status, body.code ?? 'INTERNAL', body.message ?? res.statusText, body.traceId);
        }
        const tmp = `${out}.${process.pid}.tmp`;
        const fh = await open(tmp, 'w', 0o644);
        let lines = 0;
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            await fh.write(chunk);
            for (const b of chunk) if (b === 0x0a) lines++;
          }
          await fh.sync();
          await fh.close();
          await rename(tmp, out);
        } catch (err) {
          await fh.close().catch(() => undefined);
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
        println(
          ctx.stderr,
          `wrote ${out} (${lines} lines); verify with: stella timeline verify-export ${out} --key <log key>`,
        );
        return EXIT.OK;
      });
    },
  },
  {
    name: 'timeline verify-export',
    summary: 'Verify offline that a timeline export is complete, in order and as logged',
    args: '<file>',
    description: [
      'Streams the file and checks, exiting 3 on the first failure and naming it:',
      '  checkpoint       signed by --key (default: the key in the file, reported as not pinned)',
      '  held-checkpoint  with --checkpoint: the export extends the checkpoint you hold',
      '  consistency      every consistency proof in the file (earlier checkpoints → the export’s)',
      '  batch-inclusion  every batch entry is in the checkpoint at its index',
      '  batch-chain      batches are consecutive up to the checkpoint’s end, arrivals contiguous',
      '  window-start     the first batch shown leaves no earlier batch able to hold window events',
      '  batch-events     the events listed for a batch are exactly those its entry commits to',
      '  event-digest     each event is byte-for-byte (RFC 8785) the event the log holds',
      '  order            events are in timeline order (occurredAt, source, arrival)',
      '  completeness     every logged event of the window is there, and no other',
      '  late-event       with --max-lateness: no event was logged later than that after its occurredAt',
      '',
      'Example: stella timeline verify-export day.ndjson --key "$(cat timeline.vkey)" --checkpoint held.txt',
    ].join('\n'),
    options: {
      key: { type: 'string', arg: '<vkey>', description: "The log's verifier key to pin (<origin>+<id>+<base64>)" },
      checkpoint: { type: 'string', arg: '<file>', description: 'A checkpoint you hold (signed note)' },
      'max-lateness': { type: 'string', arg: '<seconds>', description: 'Fail events logged later than this' },
    },
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const keyText = stringOpt(ctx, 'key');
      const key = keyText ? parseVerifierKey(keyText) : undefined;
      const heldPath = stringOpt(ctx, 'checkpoint');
      const held = heldPath ? (await readInputFile(resolve(ctx.cwd, heldPath))).toString('utf8') : undefined;
      const late = stringOpt(ctx, 'max-lateness');
      if (late !== undefined && !/^\d{1,12}$/.test(late)) throw new UsageError('--max-lateness must be whole seconds');
      const v = new TimelineExportVerifier({
        ...(key ? { key } : {}),
        ...(held !== undefined ? { held } : {}),
        ...(late !== undefined ? { maxLatenessSeconds: Number(late) } : {}),
      });
      const file = resolve(ctx.cwd, ctx.positionals[0]!);
      await stat(file); // a missing file is an error (exit 1) naming it, before streaming
      try {
        const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
        for await (const line of rl) v.push(line);
        const report = v.finish();
        if (ctx.json) println(ctx.stdout, JSON.stringify({ ok: true, ...report }));
        else {
          println(
            ctx.stdout,
            `OK ${report.tenant} ${report.from} … ${report.to}: ${report.events} events, complete as of checkpoint ${report.treeSize} (${report.batches} batches, ${report.windowBatches} with window events)`,
          );
          if (!report.keyPinned)
            println(ctx.stdout, 'warning: key not pinned (the key in the file was used); pass --key');
          if (report.heldSize !== undefined)
            println(ctx.stdout, `consistent with the held checkpoint of size ${report.heldSize}`);
          if (report.consistentFrom.length)
            println(ctx.stdout, `consistent with ${report.consistentFrom.length} earlier checkpoint(s)`);
          println(ctx.stdout, `latest logging after occurredAt: ${report.maxLatenessSeconds} s`);
        }
        return EXIT.OK;
      } catch (err) {
        if (isStellaError(err) && err.code === 'TIMELINE_EXPORT_INVALID') {
          const check = (err.details as { check?: string } | undefined)?.check ?? 'format';
          if (ctx.json) println(ctx.stdout, JSON.stringify({ ok: false, check, message: err.message }));
          println(ctx.stderr, `stella timeline verify-export: FAILED ${err.message}`);
          return EXIT.VERIFY_FAILED;
        }
        throw err;
      }
    },
  },
];
