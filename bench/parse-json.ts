/**
 * Strict I-JSON parser (`parseJson`, packages/core/src/canonical-json) throughput BESIDE the
 * built-in `JSON.parse` on the same bytes in the same run (DESIGN.md §5 "Benchmarks").
 *
 *   node --conditions=development --import tsx bench/parse-json.ts [--runs 5] [--case dsse|dsse16|manifest|all]
 *        [--impl <module exporting parseJson>] [--json]
 *
 * Inputs (deterministic, built in memory; the same on every machine):
 *   dsse      a DSSE envelope: {payloadType, payload: <32 MiB of base64>, signatures:[{keyid, sig}]}
 *             — one huge string, like a large in-toto statement wrapped for signing;
 *   dsse16    the same with one non-Latin-1 character (an em dash in the keyid): V8 then holds the
 *             whole decoded text as a two-byte string, which defeats some one-byte shortcuts;
 *   manifest  ~25 MB of many small objects/arrays: an evidence-bundle-like manifest with 100,000
 *             artifact entries {path, role, mediaType, size, digest, annotations:{…}, tags:[…]}.
 * Each case is measured from UTF-8 bytes (what services read off disk or the wire):
 *   baseline  JSON.parse(Buffer.from(bytes).toString('utf8'))   — lenient: keeps the last duplicate
 *   ours      parseJson(bytes)                                    — fatal UTF-8 decode + strict I-JSON
 * and from an already-decoded string (JSON.parse(text) vs parseJson(text)). The two sides alternate
 * order each run; best-of-runs and median MB/s (input bytes / wall time) and the ratio ours/baseline
 * are printed. Ours is checked to return a value deep-equal to JSON.parse's.
 *
 * Cold run and peak RSS: process.resourceUsage().maxRSS is a process-wide high-water mark, so each
 * (case, side) also runs in a fresh child process (`--child case side`) that reads the input from
 * bench/.out/parse-json/<case>.json (written by the parent), forces GC, notes its RSS, parses ONCE
 * with a cold JIT (what a CLI verifying one envelope does) and reports the wall time, the peak RSS
 * and the peak minus that settled starting RSS.
 *
 * Rejected input: the same document with a duplicate member name appended at the very end of the
 * top-level object — the worst case, as the whole JSON.parse fast path runs before the strict parser
 * re-parses everything to report the error — timed to the JSON_INVALID throw, beside JSON.parse
 * (which accepts it).
 *
 * `--impl current` (default) | `strict` (the strict parser alone, no fast path) | `reference` (the
 * original per-character parser kept as a test oracle, i.e. "before") | a path to a module exporting
 * `parseJson`.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { cpus, loadavg, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const RUNS = Number(opt('runs', '5'));
const CASES = opt('case', 'all') === 'all' ? ['dsse', 'dsse16', 'manifest'] : [opt('case', 'all')];
const IMPL = opt('impl', '');
const JSON_OUT = args.includes('--json');
const childIdx = args.indexOf('--child');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(`${s}\n`);

type Parse = (input: string | Uint8Array) => unknown;
const parseJson: Parse = await (async () => {
  const src = new URL('../packages/core/src/canonical-json/', import.meta.url).href;
  switch (IMPL) {
    case '':
    case 'current':
      return ((await import('@stella/core/canonical-json')) as { parseJson: Parse }).parseJson;
    case 'strict': // the one-pass strict parser alone (what rejected input costs on top of the fast path)
      return ((await import(`${src}parse-json.ts`)) as { parseJsonStrict: Parse }).parseJsonStrict;
    case 'reference': // the original per-character parser, before this optimisation
      return ((await import(`${src}parse-json-testing.ts`)) as { parseJsonReference: Parse }).parseJsonReference;
    default:
      return ((await import(pathToFileURL(resolve(IMPL)).href)) as { parseJson: Parse }).parseJson;
  }
})();

/** Deterministic pseudo-random bytes: SHA-256 in counter mode over a fixed label. */
function prngBytes(n: number, label: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    const block = createHash('sha256').update(`${label}:${i}`).digest();
    off += block.copy(out, off, 0, Math.min(32, n - off));
  }
  return out;
}

function dsseInput(twoByte = false): Buffer {
  // 24 MiB raw → exactly 32 MiB of base64 text.
  const payload = prngBytes(24 * 2 ** 20, 'bench-parse-json-dsse').toString('base64');
  const sig = prngBytes(64, 'sig').toString('base64');
  return Buffer.from(
    JSON.stringify({
      payloadType: 'application/vnd.in-toto+json',
      payload,
      signatures: [
        {
          keyid: (twoByte ? 'ops key — ' : 'sha256:') + createHash('sha256').update('key').digest('hex'),
          sig,
        },
      ],
    }),
    'utf8',
  );
}

function manifestInput(): Buffer {
  const roles = ['sbom', 'vex', 'attestation', 'log', 'scan-report'];
  const media = ['application/spdx+json', 'application/vnd.cyclonedx+json', 'application/json', 'text/plain'];
  const artifacts = [];
  for (let i = 0; i < 100_000; i++) {
    const h = createHash('sha256').update(`artifact ${i}`).digest('hex');
    artifacts.push({
      path: `artifacts/${roles[i % roles.length]}/c-${i}.json`,
      role: roles[i % roles.length]!,
      mediaType: media[i % media.length]!,
      size: (i * 7919) % 10_000_000,
      digest: `sha256:${h}`,
      annotations: { title: `Zürich ${i}`, ok: i % 3 !== 0 },
      tags: [i % 2 ? 'prod' : 'test', null, 1.5 * i],
    });
  }
  return Buffer.from(
    JSON.stringify({
      schema: 'stella/evidence-bundle-manifest@1',
      bundleId: '01HZX3K5V7W9Y1A3C5E7G9J1M3',
      tenant: 'acme',
      createdAt: '2026-11-27T00:00:00Z',
      artifacts,
      merkle: {
        algorithm: 'rfc9162-sha256',
        root: createHash('sha256').update('root').digest('hex'),
        leafCount: 100_000,
      },
    }),
    'utf8',
  );
}

const build = (c: string): Buffer =>
  c === 'dsse' ? dsseInput() : c === 'dsse16' ? dsseInput(true) : c === 'manifest' ? manifestInput() : usage(c);
function usage(c: string): never {
  throw new Error(`unknown --case ${c} (dsse | dsse16 | manifest | all)`);
}
const baselineBytes = (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown;

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'bench/.out/parse-json');
const inputFile = (c: string) => join(outDir, `${c}.json`);

if (childIdx >= 0) {
  // Fresh-process child: read the input file, settle, parse ONCE (cold JIT — what a CLI verifying a
  // single envelope does), report wall time, peak RSS and peak minus the settled starting RSS.
  const [c, side] = [args[childIdx + 1]!, args[childIdx + 2]!];
  const buf = readFileSync(inputFile(c));
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const v = side === 'ours' ? parseJson(bytes) : baselineBytes(buf);
  const ms = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    JSON.stringify({ ms, peakMiB: peak / 2 ** 20, deltaMiB: (peak - before) / 2 ** 20, ok: v !== undefined }),
  );
  process.exit(0);
}

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const results: Record<string, unknown>[] = [];
const self = new URL(import.meta.url).pathname;
log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, load avg ${loadavg()[0]!.toFixed(2)}${IMPL ? `, impl ${IMPL}` : ''}`,
);
mkdirSync(outDir, { recursive: true });
for (const c of CASES) {
  const buf = build(c);
  writeFileSync(inputFile(c), buf);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const text = buf.toString('utf8');
  const mb = buf.length / 1e6;
  // Correctness first (and JIT warm-up): ours must equal JSON.parse on duplicate-free input.
  if (!isDeepStrictEqual(parseJson(bytes), JSON.parse(text))) throw new Error(`${c}: result differs from JSON.parse`);
  for (const mode of ['bytes', 'string'] as const) {
    const base: number[] = [];
    const ours: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const b = () => (mode === 'bytes' ? baselineBytes(buf) : JSON.parse(text));
      const o = () => parseJson(mode === 'bytes' ? bytes : text);
      if (r % 2 === 0) {
        base.push(time(b));
        ours.push(time(o));
      } else {
        ours.push(time(o));
        base.push(time(b));
      }
    }
    const row = {
      case: c,
      mode,
      mb: Number(mb.toFixed(1)),
      jsonParseMBps: Number((mb / (Math.min(...base) / 1000)).toFixed(1)),
      oursMBps: Number((mb / (Math.min(...ours) / 1000)).toFixed(1)),
      ratio: Number((Math.min(...ours) / Math.min(...base)).toFixed(2)),
      medianRatio: Number((median(ours) / median(base)).toFixed(2)),
      bestMs: { jsonParse: Math.round(Math.min(...base)), ours: Math.round(Math.min(...ours)) },
    };
    results.push(row);
    log(
      `${c.padEnd(8)} ${mode.padEnd(6)} ${row.mb} MB: JSON.parse ${row.jsonParseMBps} MB/s (${row.bestMs.jsonParse} ms), parseJson ${row.oursMBps} MB/s (${row.bestMs.ours} ms), ratio ${row.ratio}× (median ${row.medianRatio}×)`,
    );
  }
  {
    // Worst-case rejection: a duplicate of the first member appended at the end of the document.
    const bad = Buffer.concat([
      buf.subarray(0, buf.length - 1),
      Buffer.from(buf.subarray(0, buf.indexOf(':')).toString().replace('{', ',') + ':0}'),
    ]);
    const badBytes = new Uint8Array(bad.buffer, bad.byteOffset, bad.length);
    const base: number[] = [];
    const ours: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      base.push(time(() => baselineBytes(bad)));
      ours.push(
        time(() => {
          try {
            parseJson(badBytes);
          } catch (e) {
            if ((e as { code?: string }).code === 'JSON_INVALID') return;
            throw e;
          }
          throw new Error(`${c}: duplicate member was accepted`);
        }),
      );
    }
    const row = {
      case: c,
      mode: 'rejected-bytes',
      jsonParseMs: Math.round(Math.min(...base)),
      oursMs: Math.round(Math.min(...ours)),
      ratio: Number((Math.min(...ours) / Math.min(...base)).toFixed(2)),
    };
    results.push(row);
    log(
      `${c.padEnd(8)} reject duplicate at the end: JSON.parse (accepts) ${row.jsonParseMs} ms, parseJson → JSON_INVALID ${row.oursMs} ms, ratio ${row.ratio}×`,
    );
  }
  const cold: Record<string, { ms: number; peakMiB: number; deltaMiB: number }> = {};
  for (const side of ['baseline', 'ours']) {
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--conditions=development',
        '--import',
        'tsx',
        self,
        '--child',
        c,
        side,
        ...(IMPL ? ['--impl', IMPL] : []),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (r.status !== 0) throw new Error(`child ${c} ${side} failed: ${r.stderr}`);
    cold[side] = JSON.parse(r.stdout) as { ms: number; peakMiB: number; deltaMiB: number };
  }
  const [cb, co] = [cold.baseline!, cold.ours!];
  results.push({
    case: c,
    mode: 'cold-bytes',
    jsonParseMs: Math.round(cb.ms),
    oursMs: Math.round(co.ms),
    ratio: Number((co.ms / cb.ms).toFixed(2)),
    peakRssMiB: { jsonParse: Number(cb.peakMiB.toFixed(1)), ours: Number(co.peakMiB.toFixed(1)) },
    parseRssMiB: { jsonParse: Number(cb.deltaMiB.toFixed(1)), ours: Number(co.deltaMiB.toFixed(1)) },
  });
  log(
    `${c.padEnd(8)} cold   one parse in a fresh process: JSON.parse ${cb.ms.toFixed(0)} ms, parseJson ${co.ms.toFixed(0)} ms (${(co.ms / cb.ms).toFixed(2)}×); ` +
      `peak RSS JSON.parse ${cb.peakMiB.toFixed(1)} MiB (+${cb.deltaMiB.toFixed(1)} parsing), parseJson ${co.peakMiB.toFixed(1)} MiB (+${co.deltaMiB.toFixed(1)} parsing)`,
  );
}
if (JSON_OUT) process.stdout.write(`${JSON.stringify({ bench: 'parse-json', runs: RUNS, results })}\n`);
