/**
 * The SDK's `TimelineApi.follow` (what `stella timeline query --follow` uses) against a real
 * server that is stopped and started again on the same port and data dir while a stream is open:
 * the stream ends cleanly on stop, the client reconnects with Last-Event-ID, and every event
 * arrives exactly once, in arrival order. `streamPosition` then `follow` misses nothing that
 * arrives in between.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { SERVICES, mintDevToken, startRuntime, type Runtime } from '@stella/server';
import { StellaClient, TimelineApi, readEventStream, type StreamedTimelineEvent } from '@stella/sdk';

const T = 'follow-t';
let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
let rt: Runtime | undefined;
after(async () => {
  await rt?.close();
  await dir?.cleanup();
});

async function start(port: number): Promise<Runtime> {
  const config = loadConfig(
    {
      STELLA_HTTP_PORT: String(port),
      STELLA_WORKERS: '0',
      STELLA_BUS_URL: 'memory://cli-follow',
      STELLA_TIMELINE_STREAM_POLL_MS: '25',
    },
    {},
    { cwd: dir!.path, services: SERVICES },
  );
  return startRuntime(config, { version: '0.0.0-test', logger: false });
}

const ev = (init: Partial<EventEnvelope> = {}) => newEvent({ tenant: T, kind: 'f.k', source: 'f', ...init });

describe('TimelineApi.follow', () => {
  test('resumes across a server restart: nothing lost, nothing twice', async () => {
    dir = await tempDir('stella-cli-follow-');
    rt = await start(0);
    const port = Number(new URL(rt.url).port);
    const token = await mintDevToken(rt.devIssuer!, T);
    const api = new TimelineApi(new StellaClient({ server: rt.url, token, tenant: T }), T);

    const before = ev();
    await api.ingest([{ ...before }]);
    const from = await api.streamPosition({ source: 'f' });
    const gap = ev(); // after the position was taken, before the stream is read
    await api.ingest([{ ...gap }]);

    const got: StreamedTimelineEvent[] = [];
    const reconnects: unknown[] = [];
    const stop = new AbortController();
    const reading = (async () => {
      for await (const e of api.follow(
        { source: 'f' },
        { lastEventId: from, signal: stop.signal, onReconnect: (r) => reconnects.push(r) },
      ))
        got.push(e);
    })();
    const until = async (what: string, cond: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const a = ev();
    await api.ingest([{ ...a }, { ...ev({ source: 'other' }) }]);
    await until('the first events', () => got.length === 2);

    // Stop the server with the stream open, then start it again on the same port.
    await rt.close();
    rt = undefined;
    rt = await start(port);
    const late = ev({ occurredAt: '1999-12-31T23:59:59Z' });
    const b = ev();
    await api.ingest([{ ...late }, { ...b }]);
    await until('the events after the restart', () => got.length === 4);
    await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await reading;

    assert.deepEqual(
      got.map((g) => g.event.eventId),
      [gap.eventId, a.eventId, late.eventId, b.eventId],
    );
    assert.ok(!got.some((g) => g.event.eventId === before.eventId));
    const seqs = got.map((g) => Number(g.id));
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
    );
    assert.ok(reconnects.length >= 1, 'the client saw the stream end and reconnected');
  });

  test('readEventStream follows the WHATWG parsing rules (CR, CRLF, BOM, id-only, comments, retry)', async () => {
    const text = '\ufeff: hi\r\nretry: 250\nid: 7\r\rid: 8\nevent: x\ndata: a\ndata: b\n\ndata:c\n\nid\n\n';
    // Split at every byte boundary: chunking must not change what is read.
    const bytes = new TextEncoder().encode(text);
    const chunks = async function* () {
      for (const b of bytes) yield new Uint8Array([b]);
    };
    const items = [];
    for await (const i of readEventStream(chunks(), '3')) items.push(i);
    assert.deepEqual(items, [
      { type: 'comment', text: 'hi' },
      { type: 'retry', ms: 250 },
      { type: 'position', id: '7' },
      { type: 'event', id: '8', event: 'x', data: 'a\nb' },
      { type: 'event', id: '8', event: 'message', data: 'c' },
      { type: 'position', id: '' },
    ]);
  });
});
