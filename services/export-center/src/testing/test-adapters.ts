/**
 * Adapters for tests of the run state machine (never registered by the service): `test:jsonl`
 * writes each record's document as one JSON line and can be told to go slowly (to cancel or kill
 * it mid-run) or to fail in a chosen class on its first attempts. Attempts are counted in a file
 * under `counterDir`, so the count survives a SIGKILLed worker process.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExportAdapter, OptionProblem } from '../adapters/adapter.js';
import { ExportFailure } from '../runs/failure.js';
import { SOURCE_KINDS } from '../sources/source-record.js';

export interface TestAdapterOptions {
  /** Wait this long after each record (abortable). */
  delayMs?: number;
  /** Fail the first `failures` attempts with this class. */
  failClass?: 'input' | 'transient' | 'internal';
  failures?: number;
  /** A name for the attempt counter file (per test). */
  counter?: string;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `test:jsonl`; `counterDir` holds one line per attempt start in `<counter>.attempts`. */
export function testJsonlAdapter(counterDir: string): ExportAdapter {
  return {
    id: 'test:jsonl',
    version: '1',
    sourceKinds: SOURCE_KINDS,
    validateOptions(options) {
      const o = (options ?? {}) as Record<string, unknown>;
      const problems: OptionProblem[] = [];
      for (const k of Object.keys(o))
        if (!['delayMs', 'failClass', 'failures', 'counter'].includes(k))
          problems.push({ path: `/${k}`, message: 'unknown option' });
      if (o.delayMs !== undefined && (typeof o.delayMs !== 'number' || o.delayMs < 0))
        problems.push({ path: '/delayMs', message: 'must be a number ≥ 0' });
      if (o.failClass !== undefined && !['input', 'transient', 'internal'].includes(o.failClass as string))
        problems.push({ path: '/failClass', message: 'must be input, transient or internal' });
      return problems.length ? { ok: false, problems } : { ok: true, options: o };
    },
    async write(input) {
      const o = input.options as TestAdapterOptions;
      let attempt = 1;
      if (o.counter) {
        const file = join(counterDir, `${o.counter}.attempts`);
        await appendFile(file, `${process.pid}\n`);
        attempt = (await readFile(file, 'utf8')).trim().split('\n').length;
      }
      if (o.failClass && attempt <= (o.failures ?? 1)) {
        if (o.failClass === 'internal') throw new Error('adapter bug (test)');
        throw new ExportFailure(
          o.failClass,
          o.failClass === 'input' ? 'VALIDATION_FAILED' : 'SERVICE_UNAVAILABLE',
          `test failure on attempt ${attempt}`,
        );
      }
      let n = 0;
      const counts: Record<string, number> = {};
      const signal = input.signal;
      const exportTime = input.exportTime;
      async function* lines() {
        for await (const r of input.records) {
          signal.throwIfAborted();
          counts[r.kind] = (counts[r.kind] ?? 0) + 1;
          yield new TextEncoder().encode(
            `${JSON.stringify({ kind: r.kind, id: r.recordId, document: r.document, exportTime })}\n`,
          );
          input.progress(++n);
          if (o.delayMs) await sleep(o.delayMs, signal);
        }
      }
      await input.out.writeFile('data/records.jsonl', lines(), 'application/x-ndjson');
      return { counts };
    },
  };
}
