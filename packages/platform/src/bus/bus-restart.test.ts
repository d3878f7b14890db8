/**
 * Broker restarts: private nats-server / redis-server processes on free ports (never the shared
 * loopback services), killed and restarted under a live bus. The publisher gets BUS_UNAVAILABLE
 * while the broker is down, and the consumer resumes by itself afterwards — also when the broker
 * came back empty (stream, consumer or group lost), which the adapters recreate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { freePort, needTool, tempDir } from '@stella/testkit';
import { isStellaError } from '@stella/core/errors';
import { newEvent, type EventEnvelope } from './event-envelope.js';
import type { EventBus } from './event-bus.js';
import { openNatsBus } from './nats-bus.js';
import { openRedisBus } from './redis-bus.js';
import { waitFor } from './testing/bus-contract.js';

async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = tcpConnect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => (s.destroy(), res(false)));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(cmd: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  await listening(port);
  return child;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

/** Publishes until the bus accepts (the client reconnects in the background). */
async function publishEventually(bus: EventBus, e: EventEnvelope, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await bus.publish(e);
    } catch (err) {
      assert.ok(isStellaError(err, 'BUS_UNAVAILABLE'), `unexpected ${String(err)}`);
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const ev = () => newEvent({ tenant: 'acme', kind: 'restart.test', source: 'bus-restart' });

async function scenario(
  open: () => Promise<EventBus>,
  restart: (opts: { wipe: boolean }) => Promise<void>,
  kill: () => Promise<void>,
): Promise<void> {
  const bus = await open();
  try {
    const got: string[] = [];
    await bus.subscribe('svc', async (e) => void got.push(e.eventId));
    const e1 = ev();
    await bus.publish(e1);
    await waitFor('e1', () => got.includes(e1.eventId));

    await kill();
    await assert.rejects(bus.publish(ev()), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));
    await assert.rejects(bus.ping(), (err: unknown) => isStellaError(err, 'BUS_UNAVAILABLE'));

    await restart({ wipe: false });
    const e2 = ev();
    await publishEventually(bus, e2);
    await waitFor('e2 after a restart with the data kept', () => got.includes(e2.eventId), 20_000);

    await kill();
    await restart({ wipe: true });
    const e3 = ev();
    await publishEventually(bus, e3);
    await waitFor('e3 after a restart that lost stream/consumer/group', () => got.includes(e3.eventId), 30_000);
    await bus.ping();
  } finally {
    await bus.close();
  }
}

describe('broker restarts under a live bus', { timeout: 120_000 }, () => {
  test(
    'NATS JetStream: down → BUS_UNAVAILABLE; back → consumer resumes; back empty → stream and consumer recreated',
    { skip: needTool('nats-server') },
    async () => {
      const port = await freePort();
      let dir = await tempDir('stella-nats-');
      const dirs = [dir];
      const args = () => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir.path];
      let server: ChildProcess | undefined = await start('nats-server', args(), port);
      try {
        await scenario(
          () =>
            openNatsBus(`nats://127.0.0.1:${port}`, { ackWaitMs: 1_000, drainTimeoutMs: 200, publishTimeoutMs: 1_000 }),
          async ({ wipe }) => {
            if (wipe) dirs.push((dir = await tempDir('stella-nats-')));
            server = await start('nats-server', args(), port);
          },
          async () => stop(server),
        );
      } finally {
        await stop(server);
        for (const d of dirs) await d.cleanup();
      }
    },
  );

  test(
    'Redis Streams: down → BUS_UNAVAILABLE; back empty → group recreated (NOGROUP) and consumer resumes',
    { skip: needTool('redis-server') },
    async () => {
      const port = await freePort();
      const dir = await tempDir('stella-redis-');
      // No persistence: every restart comes back empty, the harder case for the consumer group.
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir.path,
      ];
      let server: ChildProcess | undefined = await start('redis-server', args, port);
      try {
        await scenario(
          () => openRedisBus(`redis://127.0.0.1:${port}`, { ackWaitMs: 1_000, drainTimeoutMs: 200, pollMs: 100 }),
          async () => {
            server = await start('redis-server', args, port);
          },
          async () => stop(server),
        );
      } finally {
        await stop(server);
        await dir.cleanup();
      }
    },
  );
});
