/**
 * `stella timeline …` against a real in-process server (startRuntime on PGlite, memory bus):
 * publish from a JSONL file, query (table, JSON lines, paging), get, evidence, tenant
 * isolation, and --follow (pages, then the stream) in a real child process stopped by SIGINT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { StellaClient, TimelineApi } from '@stella/sdk';
import { PassThrough } from 'node:stream';
import { main } from '../main.js';
import { runCli } from '../testing/run-cli.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let tokenA: string;
let tokenB: string;
let tokenC: string;
before(async () => {
  dir = await tempDir('stella-cli-timeline-');
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: 'memory://cli-timeline' },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  tokenA = await mintDevToken(rt.devIssuer!, 'tenant-a');
  tokenB = await mintDevToken(rt.devIssuer!, 'tenant-b');
  tokenC = await mintDevToken(rt.devIssuer!, 'tenant-c');
});
after(async () => {
  await rt?.close();
  await dir?.cleanup();
});

type Tenant = 'tenant-a' | 'tenant-b' | 'tenant-c';
const online = (tenant: Tenant) => [
  '--server',
  rt.url,
  '--token',
  { 'tenant-a': tokenA, 'tenant-b': tokenB, 'tenant-c': tokenC }[tenant],
  '--tenant',
  tenant,
];
const cli = (args: string[], tenant: Tenant = 'tenant-a') => runCli([...args, ...online(tenant)]);
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EventEnvelope);

const BASE = Date.parse('2026-01-01T00:00:00Z');
const DIGEST = `sha256:${'ab'.repeat(32)}`;
/** 45 events, one second apart, in timeline order; the 10th links an evidence bundle. */
const events: EventEnvelope[] = Array.from({ length: 45 }, (_, i) =>
  newEvent({
    tenant: 'tenant-a',
    kind: i % 2 ? 'scan.completed' : 'export.created',
    source: i % 3 ? 'scanner' : 'export-center',
    subject: `registry.example/app@${'x'.repeat(i)}`,
    occurredAt: new Date(BASE + i * 1000),
    ...(i === 9 ? { evidence: [{ digest: DIGEST, bundleId: 'bundle-9' }] } : {}),
  }),
);

describe('stella timeline', () => {
  before(async () => {
    // 45 events, 5 of them twice (one copy in a later batch, one right after), two lines that
    // are not JSON objects and one envelope the server refuses: 53 lines.
    const lines = events.map((e) => JSON.stringify(e));
    lines.splice(12, 0, '{"eventId": "01J', JSON.stringify(events[3])); // lines 13, 14
    lines.splice(20, 0, JSON.stringify(events[19])); // line 21, right after its original
    lines.splice(30, 0, '[1, 2]', JSON.stringify({ ...events[0], eventId: 'not-a-ulid' })); // 31, 32
    lines.push(JSON.stringify(events[40]), JSON.stringify(events[0]), JSON.stringify(events[44])); // 51–53
    await writeFile(join(dir.path, 'events.jsonl'), `${lines.join('\n')}\n\n`);

    const r = await runCli(['timeline', 'publish', '--batch', '10', 'events.jsonl', ...online('tenant-a')], {
      cwd: dir.path,
    });
    // Exit 1 for the bad lines; everything else was sent and stored once.
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, 'sent 50 (stored 45, duplicates 5, retenanted 0), rejected 3\n', r.stderr);
    const reported = r.stderr.trimEnd().split('\n');
    assert.equal(reported.length, 3, r.stderr); // no progress counter: stderr is not a TTY
    assert.match(reported[0]!, /^stella timeline publish: line 13: not JSON /);
    assert.equal(reported[1], 'stella timeline publish: line 31: not a JSON object');
    assert.match(reported[2]!, /^stella timeline publish: line 32: \/eventId /);
  });

  test('publish --json: the summary as JSON; a second run stores nothing new', async () => {
    await writeFile(
      join(dir.path, 'again.jsonl'),
      events
        .slice(0, 3)
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const r = await runCli(['timeline', 'publish', '--json', 'again.jsonl', ...online('tenant-a')], {
      cwd: dir.path,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), {
      via: 'http',
      lines: 3,
      sent: 3,
      stored: 0,
      duplicates: 3,
      retenanted: 0,
      rejected: 0,
      rejectedLines: [],
    });
  });

  test('publish shows a progress counter when stderr is a terminal, and none with --json', async () => {
    await writeFile(
      join(dir.path, 'tty.jsonl'),
      events
        .slice(0, 5)
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const run = async (extra: string[]) => {
      const stdout = new PassThrough();
      const stderr = Object.assign(new PassThrough(), { isTTY: true });
      let err = '';
      stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      stdout.resume();
      const code = await main(['timeline', 'publish', '--batch', '2', ...extra, 'tty.jsonl', ...online('tenant-a')], {
        stdout,
        stderr,
        env: {},
        cwd: dir.path,
      });
      return { code, err };
    };
    const tty = await run([]);
    assert.equal(tty.code, 0);
    // The CLI's progress bar (bytes of the file read, events sent), one update per line, then
    // cleared before the summary.
    const size = Buffer.byteLength(
      events
        .slice(0, 5)
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const updates = tty.err.split('\r\x1b[K').filter(Boolean);
    assert.equal(updates.length, 5, JSON.stringify(tty.err));
    for (const u of updates) assert.match(u, /^\[[#.]{24}\] \d+\/\d+ \d+ events$/);
    assert.equal(updates[4], `[${'#'.repeat(24)}] ${size}/${size} 4 events`);
    assert.ok(tty.err.endsWith('\r\x1b[K'));
    assert.equal((await run(['--json'])).err, '');
  });

  test("publish cuts batches to the server's body limit, not only to --batch", async () => {
    // Ten events of ~200 KiB (under the envelope's 256 KiB) are 2 MB: one body would be a 413.
    const big = Array.from({ length: 10 }, (_, i) =>
      newEvent({
        tenant: 'tenant-c',
        kind: 'big.payload',
        source: 'big',
        occurredAt: new Date(BASE - 60_000 + i),
        payload: { blob: String(i).repeat(200 * 1024) },
      }),
    );
    await writeFile(join(dir.path, 'big.jsonl'), big.map((e) => JSON.stringify(e)).join('\n'));
    // Its own tenant, so that the other tests see only their 45 events.
    const r = await runCli(['timeline', 'publish', '--json', 'big.jsonl', ...online('tenant-c')], { cwd: dir.path });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      via: 'http',
      lines: 10,
      sent: 10,
      stored: 10,
      duplicates: 0,
      retenanted: 0,
      rejected: 0,
      rejectedLines: [],
    });
    const q = await cli(['timeline', 'query', '--json'], 'tenant-c');
    assert.deepEqual(
      jsonLines(q.stdout).map((e) => e.eventId),
      big.map((e) => e.eventId),
    );

    // An event that no body under the limit can hold is a rejected line, not a failed run.
    const small = newEvent({ tenant: 'tenant-c', kind: 'small', source: 'small' });
    const tooBig = newEvent({ tenant: 'tenant-c', kind: 'big', source: 'small', payload: 'y'.repeat(2000) });
    await writeFile(join(dir.path, 'limit.jsonl'), `${JSON.stringify(tooBig)}\n${JSON.stringify(small)}\n`);
    const limited = await runCli(
      ['timeline', 'publish', '--body-limit', '1024', 'limit.jsonl', ...online('tenant-c')],
      {
        cwd: dir.path,
      },
    );
    assert.equal(limited.code, 1);
    assert.match(
      limited.stderr,
      /^stella timeline publish: line 1: encodes to \d+ bytes: no request body under --body-limit 1024 holds it\n$/,
    );
    assert.equal(limited.stdout, 'sent 1 (stored 1, duplicates 0, retenanted 0), rejected 1\n');
  });

  test('query --all --json with pages of 7: every event exactly once, in timeline order', async () => {
    const r = await cli(['timeline', 'query', '--all', '--json', '--limit', '7']);
    assert.equal(r.code, 0, r.stderr);
    const got = jsonLines(r.stdout);
    assert.deepEqual(
      got.map((e) => e.eventId),
      events.map((e) => e.eventId),
    );
    assert.equal(got[9]!.subject, events[9]!.subject);
    assert.ok(got.every((e) => e.tenant === 'tenant-a'));
  });

  test('query without --all prints one page; filters pass through', async () => {
    const page = await cli(['timeline', 'query', '--json', '--limit', '7']);
    assert.deepEqual(
      jsonLines(page.stdout).map((e) => e.eventId),
      events.slice(0, 7).map((e) => e.eventId),
    );
    const filtered = await cli([
      'timeline',
      'query',
      '--json',
      '--all',
      '--limit',
      '4',
      '--kind',
      'scan.completed',
      '--source',
      'scanner',
      '--from',
      new Date(BASE + 10_000).toISOString(),
      '--to',
      new Date(BASE + 30_000).toISOString(),
    ]);
    assert.equal(filtered.code, 0, filtered.stderr);
    assert.deepEqual(
      jsonLines(filtered.stdout).map((e) => e.eventId),
      events
        .filter((e, i) => e.kind === 'scan.completed' && e.source === 'scanner' && i >= 10 && i < 30)
        .map((e) => e.eventId),
    );
    const byDigest = await cli(['timeline', 'query', '--json', '--digest', DIGEST]);
    assert.deepEqual(
      jsonLines(byDigest.stdout).map((e) => e.eventId),
      [events[9]!.eventId],
    );
  });

  test('query table: aligned columns, long subjects cut, a hint when more pages exist', async () => {
    const r = await cli(['timeline', 'query', '--limit', '45']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const rows = r.stdout.trimEnd().split('\n');
    assert.equal(rows.length, 46);
    assert.match(rows[0]!, /^OCCURRED AT +KIND +SOURCE +SUBJECT +EVENT ID$/);
    // The eventId column starts at the same offset on every row.
    const col = rows[0]!.indexOf('EVENT ID');
    rows.slice(1).forEach((row, i) => assert.equal(row.slice(col), events[i]!.eventId));
    assert.equal(
      rows[1],
      `2026-01-01T00:00:00.000Z  export.created            export-center     registry.example/app@${' '.repeat(19)}  ${events[0]!.eventId}`,
    );
    assert.match(rows[45]!, /registry\.example\/app@x{18}… {2}/);

    const one = await cli(['timeline', 'query', '--limit', '2']);
    assert.equal(one.stdout.trimEnd().split('\n').length, 3);
    assert.equal(one.stderr, '(more events: pass --all to read every page)\n');
  });

  test('get: pretty JSON, compact with --json', async () => {
    const e = events[9]!;
    const pretty = await cli(['timeline', 'get', e.eventId]);
    assert.equal(pretty.code, 0, pretty.stderr);
    const got = JSON.parse(pretty.stdout) as EventEnvelope & { ingestSeq: string };
    assert.deepEqual(
      { ...got, ingestSeq: undefined, ingestedAt: undefined },
      {
        ...e,
        ingestSeq: undefined,
        ingestedAt: undefined,
      },
    );
    assert.match(pretty.stdout, /^{\n {2}"eventId"/);
    const compact = await cli(['timeline', 'get', '--json', e.eventId]);
    assert.equal(compact.stdout, `${JSON.stringify(got)}\n`);
  });

  test('evidence: the linked bundles as a table or JSON; none for an event without', async () => {
    const id = events[9]!.eventId;
    const table = await cli(['timeline', 'evidence', id]);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.trimEnd().split('\n'), [
      `DIGEST${' '.repeat(DIGEST.length - 4)}BUNDLE    MANIFEST DIGEST  ATTESTATION SUBJECT  HOLDS  CUSTODY`,
      `${DIGEST}  bundle-9  -                -                    -      -`,
    ]);
    const json = await cli(['timeline', 'evidence', '--json', id]);
    assert.deepEqual(JSON.parse(json.stdout), {
      eventId: id,
      evidence: [
        {
          digest: DIGEST,
          bundleId: 'bundle-9',
          dsseEnvelope: { href: '/evidence/bundle-9/download', path: 'signature.json' },
        },
      ],
    });
    const none = await cli(['timeline', 'evidence', events[0]!.eventId]);
    assert.equal(none.stdout, `no evidence linked to ${events[0]!.eventId}\n`);
  });

  test("another tenant sees none of tenant A's events: get and evidence are NOT_FOUND, query is empty", async () => {
    const id = events[9]!.eventId;
    for (const sub of ['get', 'evidence']) {
      const r = await cli(['timeline', sub, id], 'tenant-b');
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^stella timeline ${sub}: NOT_FOUND: no timeline event ${id} \\(HTTP 404`));
    }
    const q = await cli(['timeline', 'query', '--all', '--json'], 'tenant-b');
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, '');
  });

  test('bad options are usage errors; a token for another tenant is exit 1 with its code', async () => {
    assert.equal((await cli(['timeline', 'query', '--limit', '0'])).code, 2);
    // --interval went with polling: --follow streams now, so it is an unknown option.
    assert.equal((await cli(['timeline', 'query', '--follow', '--interval', '1'])).code, 2);
    const forbidden = await runCli([
      'timeline',
      'get',
      events[0]!.eventId,
      ...online('tenant-a'),
      '--tenant',
      'tenant-b',
    ]);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^stella timeline get: [A-Z_]+: .*\(HTTP 403/);
  });

  test('query --follow: existing events, then streamed ones (late occurredAt too) once each; stops on SIGINT', async () => {
    const api = new TimelineApi(new StellaClient({ server: rt.url, token: tokenA, tenant: 'tenant-a' }), 'tenant-a');
    const first = newEvent({ tenant: 'tenant-a', kind: 'follow.one', source: 'follow' });
    await api.ingest([{ ...first }]);

    const bin = fileURLToPath(new URL('../../bin/stella.js', import.meta.url));
    const args = ['timeline', 'query', '--follow', '--json', '--source', 'follow'];
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--import', import.meta.resolve('tsx'), bin, ...args, ...online('tenant-a')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const waitFor = async (what: string, cond: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor('the first event', () => stdout.includes(first.eventId));
      const second = newEvent({ tenant: 'tenant-a', kind: 'follow.two', source: 'follow' });
      await api.ingest([{ ...second }]);
      await waitFor('the event published after --follow started', () => stdout.includes(second.eventId));
      // Late: an occurredAt before the first event's. Polling by occurredAt would never show it.
      const late = newEvent({
        tenant: 'tenant-a',
        kind: 'follow.late',
        source: 'follow',
        occurredAt: '2001-01-01T00:00:00Z',
      });
      const elsewhere = newEvent({ tenant: 'tenant-a', kind: 'follow.other', source: 'not-follow' });
      await api.ingest([{ ...elsewhere }, { ...late }]);
      await waitFor('the late event', () => stdout.includes(late.eventId));
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(
        jsonLines(stdout).map((e) => e.eventId),
        [first.eventId, second.eventId, late.eventId],
      );
    } finally {
      child.kill('SIGKILL');
    }
  });
});
