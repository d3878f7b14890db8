/**
 * Reads a `text/event-stream` body (WHATWG HTML, "Server-sent events", the event stream
 * interpretation): lines end in CRLF, LF or CR; `:` starts a comment; fields `id`, `event`,
 * `data`, `retry`; a blank line dispatches. The last event id is updated on every dispatch, also
 * when there is no data (that is how a server moves a client's position without an event).
 */

export type SseItem =
  | { type: 'event'; id: string; event: string; data: string }
  /** The last event id changed without an event (an `id:` line alone). */
  | { type: 'position'; id: string }
  | { type: 'retry'; ms: number }
  | { type: 'comment'; text: string };

/** Yields what `body` carries, in order; `lastEventId` is the id the stream starts from. */
export async function* readEventStream(body: AsyncIterable<Uint8Array>, lastEventId = ''): AsyncGenerator<SseItem> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let id = lastEventId;
  let dispatchedId = lastEventId;
  let event = '';
  let data: string[] = [];
  let first = true;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1); // a leading BOM is skipped
      first = false;
    }
    for (;;) {
      const nl = buffer.search(/[\r\n]/);
      if (nl < 0) break;
      // A CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (buffer[nl] === '\r' && nl === buffer.length - 1) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { type: 'event', id, event: event || 'message', data: data.join('\n') };
        else if (id !== dispatchedId) yield { type: 'position', id };
        dispatchedId = id;
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) {
        yield { type: 'comment', text: line.slice(1).replace(/^ /, '') };
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') {
        if (!value.includes('\u0000')) id = value;
      } else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) yield { type: 'retry', ms: Number(value) };
    }
  }
}
