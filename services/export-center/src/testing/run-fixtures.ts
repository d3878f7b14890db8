/** Small helpers shared by the export run tests. */
import assert from 'node:assert/strict';
import type { ExportHarness } from './export-harness.js';

export const FINISHED = ['succeeded', 'failed', 'cancelled'];

/** Polls the run until it is finished (or `until` holds); fails after `timeoutMs`. */
export async function waitForRun(
  h: ExportHarness,
  tenant: string,
  id: string,
  opts: { timeoutMs?: number; until?: (run: any) => boolean } = {},
): Promise<any> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const until = opts.until ?? ((r: any) => FINISHED.includes(r.status));
  for (;;) {
    const r = await h.call(tenant, 'GET', `/v1/exports/runs/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (until(r.body)) return r.body;
    if (Date.now() > deadline) assert.fail(`run ${id} still ${r.body.status}: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Reads an SSE response to its end (or until `stop` returns true); returns the parsed events. */
export async function readSse(res: Response, stop?: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: SseEvent = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'id') e.id = v;
          else if (k === 'event') e.event = v;
          else if (k === 'data') e.data += v;
        }
        if (e.data !== '') events.push(e);
        if (stop?.(events)) return events;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}
