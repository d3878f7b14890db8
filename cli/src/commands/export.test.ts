/**
 * `stella export …` and the SDK's ExportApi against a real server (startRuntime on PostgreSQL,
 * one export worker, the real json:raw adapter and bundle writer): profile create (every problem
 * listed) / list / get / delete, plan, run --wait --json (the SSE stream to the final event),
 * download (checked against the ETag; an interrupted .part resumed with Range), and the SDK's
 * event stream resumed with Last-Event-ID.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDatabase, needService, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { ExportApi, StellaClient } from '@stella/sdk';
import { runCli } from '../testing/run-cli.js';

const skip = await needService('postgres');

describe('stella export (online)', { skip }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  let token: string;
  let drop: () => Promise<void>;
  before(async () => {
    const db = await createTestDatabase('cli_export');
    drop = db.drop;
    dir = await tempDir('stella-cli-export-');
    const config = loadConfig(
      {
        STELLA_HTTP_PORT: '0',
        STELLA_WORKERS: '1',
        STELLA_DATABASE_URL: db.url,
        STELLA_BUS_URL: `memory://cli-export-${Date.now()}`,
        STELLA_EXPORT_POLL_MS: '50',
      },
      {},
      { cwd: dir.path, services: SERVICES },
    );
    rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
    token = await mintDevToken(rt.devIssuer!, 'acme');
  });
  after(async () => {
    await rt?.close();
    await drop?.();
    await dir?.cleanup();
  });

  const online = () => ['--server', rt.url, '--token', token, '--tenant', 'acme'];
  const cli = (...args: string[]) => runCli([...args, ...online()], { cwd: dir.path });

  test('profile create lists every problem (exit 1); create/list/get/delete; plan', async () => {
    const bad = await cli(
      'export',
      'profile',
      'create',
      '--name',
      'x',
      '--adapter',
      'nope',
      '--kinds',
      'advisory,bogus',
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /EXPORT_PROFILE_INVALID/);
    assert.match(bad.stderr, /\/adapter: unknown adapter "nope"/);
    assert.match(bad.stderr, /\/filter\/kinds\/1: must be one of/);
    const usage = await cli('export', 'profile', 'create', '--name', 'x', '--adapter', 'json:raw');
    assert.equal(usage.code, 2);

    const created = await cli(
      'export',
      'profile',
      'create',
      '--json',
      '--name',
      'npm high',
      '--adapter',
      'json:raw',
      '--kinds',
      'advisory',
      '--ecosystem',
      'npm',
      '--severity',
      'critical,high',
      '--options',
      '{"compression":"gzip"}',
    );
    assert.equal(created.code, 0, created.stderr);
    const p = JSON.parse(created.stdout) as { id: string; filter: unknown };
    assert.deepEqual(p.filter, { kinds: ['advisory'], ecosystems: ['npm'], severities: ['critical', 'high'] });
    const list = await cli('export', 'profile', 'list');
    assert.match(list.stdout, new RegExp(`${p.id}\\s+v1\\s+json:raw`));
    const got = JSON.parse((await cli('export', 'profile', 'get', p.id, '--json')).stdout) as { id: string };
    assert.equal(got.id, p.id);
    const plan = await cli('export', 'plan', '--profile', p.id);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /0 record\(s\)/);
    assert.match(plan.stdout, /matches nothing/);
    assert.equal((await cli('export', 'profile', 'delete', p.id)).code, 0);
    const gone = await cli('export', 'profile', 'get', p.id);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /EXPORT_PROFILE_NOT_FOUND/);
  });

  test('run --wait --json follows the events to the end; download checks the ETag and resumes a .part', async () => {
    const p = JSON.parse(
      (
        await cli(
          'export',
          'profile',
          'create',
          '--json',
          '--name',
          'all',
          '--adapter',
          'json:raw',
          '--kinds',
          'advisory',
        )
      ).stdout,
    ) as { id: string };
    const r = await cli('export', 'run', '--profile', p.id, '--wait', '--json');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const run = lines.at(-1)!;
    assert.equal(run.status, 'succeeded');
    const events = lines.slice(0, -1);
    assert.equal(events[0]!.event, 'status');
    assert.equal(events.at(-1)!.event, 'final');
    assert.ok(events.some((e) => e.event === 'artifact'));

    const out = join(dir.path, 'export.tgz');
    const d = await cli('export', 'download', run.id, '-o', out, '--json');
    assert.equal(d.code, 0, d.stderr);
    const bytes = await readFile(out);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    assert.equal(digest, run.result.archive.digest);
    assert.deepEqual(JSON.parse(d.stdout), { runId: run.id, output: out, digest, resumedFrom: 0 });

    // An interrupted download: the first 100 bytes in a .part; the command resumes from there.
    const again = join(dir.path, 'again.tgz');
    await writeFile(`${again}.part`, bytes.subarray(0, 100));
    const resumed = await cli('export', 'download', run.id, '-o', again, '--json');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(JSON.parse(resumed.stdout).resumedFrom, 100);
    assert.deepEqual(await readFile(again), bytes);
    await assert.rejects(stat(`${again}.part`));
    // A corrupt .part is caught by the digest check and removed.
    const bad = join(dir.path, 'bad.tgz');
    await writeFile(`${bad}.part`, Buffer.alloc(100, 0x41));
    const failed = await cli('export', 'download', run.id, '-o', bad);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /OBJECT_DIGEST_MISMATCH/);
    await assert.rejects(stat(`${bad}.part`));
    await assert.rejects(stat(bad));

    // The SDK: events resumed after id 2 give exactly the rest; a foreign run is 404.
    const api = new ExportApi(new StellaClient({ server: rt.url, token, tenant: 'acme' }), 'acme');
    const all = [];
    for await (const e of api.events(run.id)) if (e.id !== undefined) all.push(e.id);
    const rest = [];
    for await (const e of api.events(run.id, { lastEventId: 2 })) if (e.id !== undefined) rest.push(e.id);
    assert.deepEqual(rest, all.slice(2));
    const other = new ExportApi(
      new StellaClient({ server: rt.url, token: await mintDevToken(rt.devIssuer!, 'globex'), tenant: 'globex' }),
      'globex',
    );
    await assert.rejects(other.getRun(run.id), (e: { code?: string }) => e.code === 'EXPORT_RUN_NOT_FOUND');
    const dl = await api.download(run.id, { start: 10 });
    const chunks: Uint8Array[] = [];
    for await (const c of dl.body) chunks.push(c);
    assert.deepEqual(Buffer.concat(chunks), bytes.subarray(10));
    assert.equal(dl.size, bytes.length);
  });

  test('schedule create (the bad cron field named, exit 1; no trigger: usage, exit 2) / list / delete', async () => {
    const p = JSON.parse(
      (
        await cli(
          'export',
          'profile',
          'create',
          '--json',
          '--name',
          'sched',
          '--adapter',
          'json:raw',
          '--kinds',
          'advisory',
        )
      ).stdout,
    ) as { id: string };
    const bad = await cli(
      'export',
      'schedule',
      'create',
      '--profile',
      p.id,
      '--cron',
      '0 25 * * *',
      '--time-zone',
      'UTC',
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /EXPORT_SCHEDULE_INVALID/);
    assert.match(bad.stderr, /hour field "25" is invalid/);
    assert.equal((await cli('export', 'schedule', 'create', '--profile', p.id)).code, 2);
    const created = await cli(
      'export',
      'schedule',
      'create',
      '--json',
      '--profile',
      p.id,
      '--cron',
      '30 1 * * *',
      '--time-zone',
      'Asia/Tokyo',
      '--missed',
      'catchUpOnce',
    );
    assert.equal(created.code, 0, created.stderr);
    const s = JSON.parse(created.stdout) as { id: string; nextFireAt: string; missedFires: string };
    assert.match(s.nextFireAt, /T16:30:00\.000Z$/, '01:30 in Tokyo is 16:30 UTC the day before');
    assert.equal(s.missedFires, 'catchUpOnce');
    const ev = await cli(
      'export',
      'schedule',
      'create',
      '--profile',
      p.id,
      '--on-change',
      'advisory,vex',
      '--quiet',
      'PT2M',
    );
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /on change of advisory,vex \(quiet PT2M\)/);
    const list = await cli('export', 'schedule', 'list', '--profile', p.id);
    assert.match(list.stdout, new RegExp(`${s.id}\\s+${p.id}\\s+30 1 \\* \\* \\* \\(Asia/Tokyo\\)`));
    assert.equal(list.stdout.trim().split('\n').length, 2);
    assert.equal((await cli('export', 'schedule', 'delete', s.id)).code, 0);
    const gone = await cli('export', 'schedule', 'delete', s.id);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /EXPORT_SCHEDULE_NOT_FOUND/);
  });
});
