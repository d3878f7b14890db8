/**
 * Measurement helpers shared by the benches (DESIGN.md §5 "Benchmarks": throughput, latency
 * percentiles and peak memory, each beside a baseline measured in the same run).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

/** Peak RSS of this process so far, in MiB (getrusage ru_maxrss). */
export function peakRssMiB(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** Samples the current RSS every `everyMs` until stopped; returns the peak in MiB (one case's peak). */
export function rssSampler(everyMs = 20): () => number {
  let peak = process.memoryUsage.rss();
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), everyMs);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage.rss()) / 2 ** 20;
  };
}

/** One line naming the machine, for the record next to every result. */
export function machineLine(): string {
  return `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, zlib ${process.versions.zlib}, load ${loadavg()[0]!.toFixed(2)}`;
}

export const round = (x: number, digits: number): number => Number(x.toFixed(digits));
/** Decimal MB per second. */
export const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
export const median = (xs: readonly number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** The p-th percentile (0…100) of an ascending array. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

export interface Timed<T> {
  /** Wall-clock milliseconds. */
  ms: number;
  /** CPU milliseconds (user + system, all threads incl. the libuv pool) — fairer on a loaded machine. */
  cpuMs: number;
  value: T;
}

/** Runs `fn` in this process and measures wall and CPU time. */
export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, value };
}

export interface ToolRun {
  ms: number;
  /** User + system CPU of the command and every process it waited for. */
  cpuMs: number;
  /** Peak RSS of the largest process of the command (GNU time %M); NaN without GNU time. */
  peakRssMiB: number;
  stdout: Buffer;
}

const GNU_TIME = existsSync('/usr/bin/time');

/**
 * Runs a baseline tool (`cmd args…` in `cwd`) to completion under GNU time (`/usr/bin/time -f
 * '%U %S %M'`), or bash's `time` builtin (CPU only) where GNU time is not installed. Rejects on a
 * non-zero exit. Stdout is collected: keep it small (pipe to `wc -c`) for large outputs.
 */
export function runBaseline(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<ToolRun> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = GNU_TIME
      ? spawn('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', 'TIMEFORMAT="%U %S"; time "$@"', 'bash', cmd, ...args], {
          cwd: opts.cwd,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      const errText = Buffer.concat(err).toString();
      if (code !== 0) return rej(new Error(`${cmd} exited ${code}: ${errText}`));
      // The timing line is the last line of stderr, after anything the tool itself wrote.
      const [u, s, kb] = errText.trim().split('\n').pop()!.trim().split(/\s+/).map(Number);
      res({ ms, cpuMs: ((u ?? NaN) + (s ?? NaN)) * 1000, peakRssMiB: (kb ?? NaN) / 1024, stdout: Buffer.concat(out) });
    });
  });
}

/**
 * Runs `a` and `b` once each, alternating which goes first by run number, so neither side always
 * runs on a cooler or warmer cache/CPU. Results come back as `[a, b]` either way.
 */
export async function alternate<A, B>(run: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (run % 2 === 0) {
    const x = await a();
    return [x, await b()];
  }
  const y = await b();
  return [await a(), y];
}

/** Prints rows as an aligned table (numbers right-aligned), through `log`. */
export function printTable(rows: readonly Record<string, string | number>[], log: (line: string) => void): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined) => (v === undefined ? '' : String(v));
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const fmt = (vals: (string | number | undefined)[]) =>
    vals
      .map((v, i) => (typeof v === 'number' ? cell(v).padStart(width[i]!) : cell(v).padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  log(fmt(cols));
  log(fmt(cols.map((_, i) => '-'.repeat(width[i]!))));
  for (const r of rows) log(fmt(cols.map((c) => r[c])));
}
