/**
 * A small external merge sort for (key, value) byte pairs: entries are buffered up to
 * `runBytes`, each full buffer is sorted and spilled to a run file, and `sorted()` merges the runs.
 * Order: `Buffer.compare` on the key; equal keys keep their insertion order (stable), so callers can
 * rely on "later input wins". Memory: one buffer of at most `runBytes` plus one read chunk per run.
 * The bbolt writer needs every bucket's keys in order, while the ledger yields records by record id.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export interface SortedPair {
  readonly key: Buffer;
  readonly value: Buffer;
}

const READ_CHUNK = 1 << 20;

class RunReader {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private eof = false;
  current: SortedPair | null = null;

  constructor(private readonly fh: FileHandle) {}

  private async fill(need: number): Promise<boolean> {
    while (this.buf.length - this.pos < need && !this.eof) {
      const chunk = Buffer.alloc(Math.max(READ_CHUNK, need));
      const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) this.eof = true;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk.subarray(0, bytesRead)]);
      this.pos = 0;
    }
    return this.buf.length - this.pos >= need;
  }

  async next(): Promise<void> {
    if (!(await this.fill(8))) {
      this.current = null;
      return;
    }
    const kl = this.buf.readUInt32LE(this.pos);
    const vl = this.buf.readUInt32LE(this.pos + 4);
    if (!(await this.fill(8 + kl + vl))) throw new Error('sort run truncated');
    const key = Buffer.from(this.buf.subarray(this.pos + 8, this.pos + 8 + kl));
    const value = Buffer.from(this.buf.subarray(this.pos + 8 + kl, this.pos + 8 + kl + vl));
    this.pos += 8 + kl + vl;
    this.current = { key, value };
  }
}

export class ExternalSorter {
  private pairs: SortedPair[] = [];
  private bytes = 0;
  private runs: string[] = [];

  constructor(
    private readonly dir: string,
    private readonly runBytes = 32 << 20,
  ) {}

  async add(key: Buffer, value: Buffer): Promise<void> {
    this.pairs.push({ key, value });
    this.bytes += key.length + value.length + 64;
    if (this.bytes >= this.runBytes) await this.spill();
  }

  private sortBuffer(): SortedPair[] {
    // Array.prototype.sort is stable: equal keys keep insertion order.
    const sorted = this.pairs.sort((a, b) => Buffer.compare(a.key, b.key));
    this.pairs = [];
    this.bytes = 0;
    return sorted;
  }

  private async spill(): Promise<void> {
    const path = join(this.dir, `run-${String(this.runs.length).padStart(6, '0')}`);
    const fh = await open(path, 'w');
    try {
      let chunk: Buffer[] = [];
      let size = 0;
      for (const p of this.sortBuffer()) {
        const head = Buffer.alloc(8);
        head.writeUInt32LE(p.key.length, 0);
        head.writeUInt32LE(p.value.length, 4);
        chunk.push(head, p.key, p.value);
        size += 8 + p.key.length + p.value.length;
        if (size >= READ_CHUNK) {
          await fh.write(Buffer.concat(chunk));
          chunk = [];
          size = 0;
        }
      }
      if (chunk.length) await fh.write(Buffer.concat(chunk));
    } finally {
      await fh.close();
    }
    this.runs.push(path);
  }

  /** All pairs in key order (ties in insertion order). Call once, after the last `add`. */
  async *sorted(): AsyncGenerator<SortedPair> {
    if (this.runs.length === 0) {
      yield* this.sortBuffer();
      return;
    }
    if (this.pairs.length) await this.spill();
    const handles = await Promise.all(this.runs.map((p) => open(p, 'r')));
    try {
      const readers = handles.map((h) => new RunReader(h));
      for (const r of readers) await r.next();
      for (;;) {
        // Linear pick over the runs (few: one per runBytes of input); lowest run index wins ties,
        // which keeps insertion order because runs are spilled in input order.
        let best: RunReader | null = null;
        for (const r of readers)
          if (r.current && (!best || Buffer.compare(r.current.key, best.current!.key) < 0)) best = r;
        if (!best) break;
        yield best.current!;
        await best.next();
      }
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  }

  /** Removes the run files. */
  async dispose(): Promise<void> {
    await Promise.all(this.runs.map((p) => rm(p, { force: true })));
    this.runs = [];
    this.pairs = [];
  }
}
