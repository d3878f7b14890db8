/**
 * SHA-256 of many local files on every core (issue #13 item 1).
 *
 * `crypto.createHash().update()` runs on the calling thread: streams with several files in flight
 * overlap the reads (libuv threadpool) but hash on one core. So the files are hashed on
 * worker_threads, each reading with `readSync` into ONE buffer it reuses for every chunk of every
 * file (a fresh 1 MiB buffer per chunk costs a page fault per 4 KiB: ~200k minor faults and
 * 0.5–1 s of system time per GiB). Files are handed out in input order, at most `window` ahead of
 * the first unfinished one, and results come back in input order whatever order workers finish in:
 * a Merkle tree built from them is the same for every thread count and schedule.
 *
 * `threads: 0` hashes on this thread instead, with `inFlight` files read at once through the
 * threadpool into a small pool of reused buffers — the variant the bench compares against.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { StellaError } from '@stella/core/errors';

/** The digest of one file, in input order. */
export interface FileDigest {
  /** Position in the input list. */
  index: number;
  path: string;
  /** `sha256:<hex>`. */
  digest: string;
  /** Lowercase hex. */
  hex: string;
  /** Bytes hashed. */
  size: number;
}

/** Options of {@link digestFiles}. */
export interface DigestFilesOptions {
  /**
   * Worker threads hashing at once. Default: available parallelism. 0 = hash on this thread (reads
   * still overlap on the threadpool).
   */
  threads?: number;
  /** Read buffer per worker (or per file in flight with `threads: 0`). Default 256 KiB. */
  bufferBytes?: number;
  /** With `threads: 0`: files read at once. Default 2. */
  inFlight?: number;
  /** Files handed out beyond the first unfinished one (bounds the reorder buffer). Default 64. */
  window?: number;
}

/** Default read buffer: 256 KiB stays in L2 between the read's copy and the hash's pass. */
export const DEFAULT_DIGEST_BUFFER_BYTES = 256 * 1024;

// The worker, as CommonJS source run with `eval: true`: no module resolution or TypeScript loader
// in the worker (it starts in a few ms, dev or dist alike). One reused buffer; sync reads block
// only this worker. Replies {id, hex, size} or {id, error: {code, message}}.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(workerData.bufferBytes);
parentPort.on('message', (job) => {
  let fd = -1;
  try {
    fd = openSync(job.path, 'r');
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    parentPort.postMessage({ id: job.id, hex: h.digest('hex'), size });
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: { code: e && e.code, message: String(e && e.message) } });
  } finally {
    if (fd >= 0) try { closeSync(fd); } catch {}
  }
});
`;

interface Reply {
  id: number;
  hex?: string;
  size?: number;
  error?: { code?: string; message: string };
}

function readFailed(path: string, error: { code?: string; message: string }): StellaError {
  const missing = error.code === 'ENOENT' || error.code === 'ENOTDIR';
  return new StellaError(missing ? 'NOT_FOUND' : 'VALIDATION_FAILED', `cannot read ${path}: ${error.message}`, {
    details: { path, errno: error.code ?? null },
  });
}

function settings(o: DigestFilesOptions) {
  const threads = o.threads ?? Math.max(1, availableParallelism());
  const bufferBytes = o.bufferBytes ?? DEFAULT_DIGEST_BUFFER_BYTES;
  const inFlight = o.inFlight ?? 2;
  const window = o.window ?? 64;
  const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (
    !int(threads, 0, 64) ||
    !int(bufferBytes, 4096, 64 * 2 ** 20) ||
    !int(inFlight, 1, 64) ||
    !int(window, 1, 1 << 20)
  )
    throw new StellaError(
      'VALIDATION_FAILED',
      'digestFiles: threads 0–64, bufferBytes 4 KiB–64 MiB, inFlight 1–64, window ≥ 1',
      {
        details: { threads, bufferBytes, inFlight, window },
      },
    );
  return { threads, bufferBytes, inFlight, window };
}

/**
 * SHA-256 of every file in `paths`, yielded in the order of `paths` (see the module comment).
 * Memory: one buffer per worker plus at most `window` finished results waiting for an earlier file.
 * A file that cannot be read fails the iteration: NOT_FOUND (missing) or VALIDATION_FAILED (a
 * directory, no permission, …), with `details.path`. Breaking out of the loop stops the workers.
 */
export async function* digestFiles(
  paths: readonly string[],
  options: DigestFilesOptions = {},
): AsyncGenerator<FileDigest, void, undefined> {
  const s = settings(options);
  if (s.threads === 0) {
    yield* digestFilesHere(paths, s.bufferBytes, s.inFlight);
    return;
  }
  if (paths.length === 0) return;
  const threads = Math.min(s.threads, paths.length);
  const done = new Map<number, FileDigest>();
  let failure: StellaError | Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let nextToSend = 0;
  let nextToYield = 0;
  const workers: Worker[] = [];
  const busy: number[] = [];
  // Two jobs queued per worker: it never waits for a message round trip between files.
  const send = () => {
    for (let w = 0; w < workers.length; w++) {
      while (busy[w]! < 2 && nextToSend < paths.length && nextToSend < nextToYield + s.window) {
        workers[w]!.postMessage({ id: nextToSend, path: paths[nextToSend] });
        busy[w]!++;
        nextToSend++;
      }
    }
  };
  for (let w = 0; w < threads; w++) {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // No inherited loader flags (e.g. `--import tsx` in development): the source is plain CommonJS.
      execArgv: [],
      workerData: { bufferBytes: s.bufferBytes },
      // A worker holds one buffer and a hash: small heaps keep the process's RSS near idle.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    busy.push(0);
    worker.on('message', (r: Reply) => {
      busy[w]!--;
      const path = paths[r.id]!;
      if (r.error) failure ??= readFailed(path, r.error);
      else done.set(r.id, { index: r.id, path, digest: `sha256:${r.hex!}`, hex: r.hex!, size: r.size! });
      notify();
    });
    worker.on('error', (e) => {
      failure ??= e;
      notify();
    });
    worker.on('exit', (code) => {
      if (code !== 0 && nextToYield < paths.length) failure ??= new Error(`digest worker exited with ${code}`);
      notify();
    });
    workers.push(worker);
  }
  try {
    send();
    while (nextToYield < paths.length) {
      const r = done.get(nextToYield);
      if (r) {
        done.delete(nextToYield);
        nextToYield++;
        send();
        yield r;
        continue;
      }
      if (failure) throw failure;
      await new Promise<void>((res) => (wake = res));
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** `threads: 0`: hashing here, `inFlight` files read at once into reused buffers. */
async function* digestFilesHere(
  paths: readonly string[],
  bufferBytes: number,
  inFlight: number,
): AsyncGenerator<FileDigest, void, undefined> {
  const pool = Array.from({ length: inFlight }, () => Buffer.allocUnsafe(bufferBytes));
  const hashOne = async (index: number, buf: Buffer): Promise<FileDigest> => {
    const path = paths[index]!;
    let fh;
    try {
      fh = await open(path, 'r');
      const h = createHash('sha256');
      let size = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        size += bytesRead;
      }
      const hex = h.digest('hex');
      return { index, path, digest: `sha256:${hex}`, hex, size };
    } catch (e) {
      throw readFailed(path, { code: (e as NodeJS.ErrnoException).code, message: (e as Error).message });
    } finally {
      await fh?.close();
    }
  };
  const running: Promise<FileDigest>[] = [];
  let next = 0;
  // Slot i of the pool serves files i, i + inFlight, …: a buffer is reused once its file is done,
  // and results are awaited in input order.
  const start = (i: number) => {
    const p = hashOne(i, pool[i % inFlight]!);
    p.catch(() => undefined); // observed in order below; never an unhandled rejection meanwhile
    running.push(p);
  };
  while (next < paths.length && running.length < inFlight) start(next++);
  try {
    while (running.length > 0) {
      const r = await running.shift()!;
      if (next < paths.length) start(next++);
      yield r;
    }
  } finally {
    // Let reads still running finish with their buffers before the pool is dropped.
    await Promise.allSettled(running);
  }
}
