/**
 * The SDK's SSE reader against the WHATWG "Interpreting an event stream" rules: every case is read
 * whole, one byte at a time and split at every position, and must give the same items (chunk
 * boundaries inside CRLF, inside a UTF-8 sequence or inside the BOM change nothing).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readEventStream, type SseItem } from './sse.js';

async function read(chunks: Uint8Array[], lastEventId?: string): Promise<SseItem[]> {
  const out: SseItem[] = [];
  for await (const item of readEventStream(
    (async function* () {
      yield* chunks;
    })(),
    lastEventId,
  ))
    out.push(item);
  return out;
}

/** Reads `text` whole, byte by byte, and split in two at every byte; all must agree. */
async function items(text: string | Uint8Array, lastEventId?: string): Promise<SseItem[]> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const whole = await read([bytes], lastEventId);
  assert.deepEqual(
    await read(
      [...bytes].map((b) => Uint8Array.of(b)),
      lastEventId,
    ),
    whole,
    'byte by byte',
  );
  for (let i = 1; i < bytes.length; i++)
    assert.deepEqual(await read([bytes.subarray(0, i), bytes.subarray(i)], lastEventId), whole, `split at ${i}`);
  return whole;
}

const ev = (data: string, id = '', event = 'message'): SseItem => ({ type: 'event', id, event, data });

describe('readEventStream', () => {
  test('fields: multi-line data joined with LF, event type, id; type defaults to message', async () => {
    assert.deepEqual(await items('id: 7\nevent: progress\ndata: {"done":1}\ndata: second\n\ndata: plain\n\n'), [
      ev('{"done":1}\nsecond', '7', 'progress'),
      ev('plain', '7'),
    ]);
  });

  test('CRLF, CR and LF line ends, mixed; a CR ending a chunk before its LF is one line end', async () => {
    const expected = [ev('a\nb', '1'), ev('c', '2'), ev('d', '3')];
    assert.deepEqual(await items('id: 1\r\ndata: a\r\ndata: b\r\n\r\nid: 2\rdata: c\r\rid: 3\ndata: d\n\n'), expected);
    // The split CRLF explicitly: no blank line (dispatch) between "a" and "b".
    assert.deepEqual(
      await read([new TextEncoder().encode('data: a\r'), new TextEncoder().encode('\ndata: b\r\n\r\n')]),
      [ev('a\nb')],
    );
  });

  test('a stream ending in CR dispatches (the CR ends the line; nothing waits for a LF)', async () => {
    assert.deepEqual(await items('data: x\r\r'), [ev('x')]);
  });

  test('one leading BOM is skipped, a second is not (it starts the field name, which is unknown)', async () => {
    assert.deepEqual(await items('\ufeffdata: x\n\n'), [ev('x')]);
    assert.deepEqual(await items('\ufeff\ufeffdata: x\n\ndata: y\n\n'), [ev('y')]);
    // A BOM later in the stream is data.
    assert.deepEqual(await items('data: \ufeffz\n\n'), [ev('\ufeffz')]);
  });

  test('comments, bare field names, one leading space dropped, unknown fields ignored', async () => {
    assert.deepEqual(await items(': hello\n:\n:  two\ndata\n\ndata:\ndata\n\ndata:  x\nfoo: bar\nDATA: no\n\n'), [
      { type: 'comment', text: 'hello' },
      { type: 'comment', text: '' },
      { type: 'comment', text: ' two' },
      ev(''),
      ev('\n'),
      ev(' x'),
    ]);
  });

  test('a block without data dispatches nothing but resets the event type', async () => {
    assert.deepEqual(await items('event: a\n\ndata: x\n\n'), [ev('x')]);
  });

  test('id: persists across events, moves the position alone, ignores values with NUL, can be reset', async () => {
    assert.deepEqual(await items('id: 5\n\nid: 5\n\ndata: a\n\nid: 6\u0000\ndata: b\n\nid\n\ndata: c\n\n'), [
      { type: 'position', id: '5' },
      ev('a', '5'),
      ev('b', '5'),
      { type: 'position', id: '' },
      ev('c', ''),
    ]);
  });

  test('resume: the stream starts from lastEventId; an id equal to it is not a new position', async () => {
    assert.deepEqual(await items('id: 9\n\ndata: a\n\nid: 10\n\n', '9'), [
      ev('a', '9'),
      { type: 'position', id: '10' },
    ]);
  });

  test('retry: only ASCII digits set it', async () => {
    assert.deepEqual(await items('retry: 1500\nretry: 15x\nretry:\nretry: -1\nretry: 1.5\n\n'), [
      { type: 'retry', ms: 1500 },
    ]);
  });

  test('UTF-8 split anywhere decodes whole', async () => {
    assert.deepEqual(await items('data: é😀ü\n\n'), [ev('é😀ü')]);
  });

  test('an event without its blank line at the end of the stream is discarded', async () => {
    assert.deepEqual(await items('data: kept\n\ndata: lost\n'), [ev('kept')]);
    assert.deepEqual(await items('data: lost'), []);
  });
});
