/**
 * A minimal reader of `text/event-stream` for the tests, written from the WHATWG HTML "Server-sent
 * events" parsing rules (not the SDK's, which it checks): fields `id`, `event`, `data`; comment
 * lines; an `id` alone updates the last event id without an event.
 */
export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

export interface SseConnection {
  status: number;
  contentType: string | null;
  messages: SseMessage[];
  comments: string[];
  /** The last event id as a browser would keep it. */
  lastEventId: string;
  /** Resolves when the server ended the stream (or rejects on a network error). */
  ended: Promise<void>;
  /** Waits until `cond` holds over what arrived so far. */
  until(what: string, cond: (c: SseConnection) => boolean, ms?: number): Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const c: SseConnection = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    messages: [],
    comments: [],
    lastEventId: headers['last-event-id'] ?? '',
    ended: Promise.resolve(),
    async until(what, cond, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!cond(c)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => abort.abort(),
  };
  if (!res.body || res.status !== 200) return c;
  c.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    let id = c.lastEventId;
    let event = '';
    let data: string[] = [];
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            c.lastEventId = id;
            if (data.length > 0) c.messages.push({ id, event: event || 'message', data: data.join('\n') });
            event = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) {
            c.comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id' && !value.includes('\u0000')) id = value;
          else if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  })();
  c.ended.catch(() => undefined);
  return c;
}
