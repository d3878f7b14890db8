/**
 * The SDK's one reader of `text/event-stream` bodies (WHATWG HTML, "Server-sent events", §9.2.6
 * "Interpreting an event stream"), used by the timeline and the export clients:
 *
 * - the stream is UTF-8; one leading U+FEFF is skipped (only one: a second is data);
 * - lines end in CRLF, LF or CR — a CR that ends a chunk ends its line at once, and a LF that
 *   starts the next chunk is then the second half of that CRLF, not a blank line;
 * - a line starting with `:` is a comment; otherwise `field:value` (one leading space of the
 *   value dropped) or a bare `field` with an empty value; unknown fields are ignored;
 * - `data` lines join with LF; `event` names the type (`message` when absent or empty); `id`
 *   sets the last event id unless the value contains U+0000; `retry` with only ASCII digits sets
 *   the reconnection time;
 * - a blank line dispatches: the last event id is updated on every dispatch, also when there is
 *   no data (that is how a server moves a client's position without an event), and the data
 *   and event type buffers are reset; the id buffer is not;
 * - at the end of the stream an event still being built (no blank line yet) is discarded.
 *
 * Resuming: pass the last id seen as `lastEventId` and send it as `Last-Event-ID` when
 * reconnecting; every yielded `event` and `position` carries the id to resume from.
 */

export type SseItem =
  /** A dispatched event: `id` is the last event id at its dispatch (possibly from an earlier event). */
  | { type: 'event'; id: string; event: string; data: string }
  /** The last event id changed without an event (an `id:` line alone). */
  | { type: 'position'; id: string }
  | { type: 'retry'; ms: number }
  | { type: 'comment'; text: string };

/** Yields what `body` carries, in order; `lastEventId` is the id the stream starts from. */
export async function* readEventStream(body: AsyncIterable<Uint8Array>, lastEventId = ''): AsyncGenerator<SseItem> {
  // ignoreBOM: keep U+FEFF in the text so that exactly one leading one is dropped below.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let id = lastEventId;
  let dispatchedId = lastEventId;
  let event = '';
  let data: string[] = [];
  let atStart = true;
  let skipLf = false; // the previous chunk ended in CR: a LF now completes that CRLF
  let partial = ''; // an unterminated line carried over from the previous chunk

  function* line(text: string): Generator<SseItem> {
    if (text === '') {
      if (data.length > 0) yield { type: 'event', id, event: event || 'message', data: data.join('\n') };
      else if (id !== dispatchedId) yield { type: 'position', id };
      dispatchedId = id;
      event = '';
      data = [];
      return;
    }
    if (text.charCodeAt(0) === 0x3a) {
      yield { type: 'comment', text: text.charCodeAt(1) === 0x20 ? text.slice(2) : text.slice(1) };
      return;
    }
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') {
      if (!value.includes('\u0000')) id = value;
    } else if (field === 'retry' && /^[0-9]+$/.test(value)) yield { type: 'retry', ms: Number(value) };
  }

  for await (const chunk of body) {
    let text = decoder.decode(chunk, { stream: true });
    if (atStart && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      atStart = false;
    }
    let from = 0;
    if (skipLf && text.length > 0) {
      if (text.charCodeAt(0) === 0x0a) from = 1;
      skipLf = false;
    }
    for (let i = from; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const current = partial + text.slice(from, i);
      partial = '';
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) i++;
        } else skipLf = true;
      }
      from = i + 1;
      yield* line(current);
    }
    partial += text.slice(from);
  }
  // Whatever is left (an unterminated line, an undispatched event) is discarded, as the spec says.
}
