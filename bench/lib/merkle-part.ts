/**
 * The hashing part of the core bench (issue #13 items 1 and 3): SHA-256 of every file + an RFC 9162
 * Merkle root over the per-file entries, as a WHOLE PROCESS, paired with the strongest baseline and
 * the simple one over the same files (all sequential over the files, in byte order of the names):
 *
 *   ours       node bench/bin/hash-tree.mjs DIR NAMES   (built packages; digestFiles on worker
 *              threads with reused buffers → leaves in path order → MerkleTreeBuilder)
 *   openssl    openssl dgst -sha256 FILE…               (OpenSSL's SHA-NI code on one core)
 *   sha256sum  sha256sum FILE…                          (coreutils; no SHA instructions on Debian)
 *   ours threads=0  hash-tree.mjs … 0                   (our main-thread variant, for reference)
 *
 * Each round checks our digests against openssl's and sha256sum's. The Merkle root is reported (it
 * does not depend on the thread count: hash-tree.mjs with 1 thread gives the same root, checked).
 * Peak RSS: ours reports its idle RSS (modules loaded, nothing hashed) and its peak, so the growth
 * caused by hashing is visible apart from Node's own footprint.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ToolRun } from './measure.js';
import { pairedRuns, type PairedResult } from './paired.js';
import type { BenchTree } from './tree.js';

const hashTree = fileURLToPath(new URL('../bin/hash-tree.mjs', import.meta.url));

export interface MerklePartResult extends PairedResult {
  part: 'merkle';
  variant: BenchTree['variant'];
  files: number;
  bytes: number;
  merkleRoot: string;
  /** Ours: RSS with modules loaded before hashing, and the sampled peak while hashing. */
  idleRssMiB: number;
  hashingPeakRssMiB: number;
}

function ourOutput(run: ToolRun): {
  hexes: string[];
  meta: { root: string; idleRssMiB: number; sampledPeakRssMiB: number };
} {
  const lines = run.stdout.toString().trim().split('\n');
  return { hexes: lines.slice(0, -1), meta: JSON.parse(lines[lines.length - 1]!) };
}

/** Runs the hashing part `rounds` times over a tree already in the page cache. */
export async function merklePart(
  tree: BenchTree,
  o: { rounds: number; log: (line: string) => void; simple?: boolean },
): Promise<MerklePartResult> {
  const namesFile = join(tree.dir, '..', `${tree.variant}.names`);
  await writeFile(namesFile, `${tree.names.join('\n')}\n`);
  const quoted = tree.names.join(' ');
  const expected = { hexes: [] as string[] };
  const checkAgainst = (name: string, parse: (out: string) => string[]) => (run: ToolRun) => {
    const hexes = parse(run.stdout.toString());
    if (expected.hexes.length === 0) expected.hexes = hexes;
    else if (hexes.join() !== expected.hexes.join()) throw new Error(`${name}: digests differ from the other sides`);
  };
  const ours = {
    name: 'ours',
    script: 'exec node "$@"',
    args: [hashTree, tree.dir, namesFile],
    check: checkAgainst('ours', (out) => out.trim().split('\n').slice(0, -1)),
  };
  const openssl = {
    name: 'openssl dgst -sha256',
    script: `exec openssl dgst -sha256 ${quoted}`,
    cwd: tree.dir,
    check: checkAgainst('openssl', (out) =>
      out
        .trim()
        .split('\n')
        .map((l) => l.slice(l.lastIndexOf('= ') + 2)),
    ),
  };
  const sha256sum = {
    name: 'sha256sum',
    script: `exec sha256sum ${quoted}`,
    cwd: tree.dir,
    check: checkAgainst('sha256sum', (out) =>
      out
        .trim()
        .split('\n')
        .map((l) => l.slice(0, 64)),
    ),
  };
  // Our other strategy, as a reference: hashing on the main thread with two files read at once on
  // the threadpool into reused buffers (digestFiles threads: 0).
  const inline = {
    ...ours,
    name: 'ours threads=0',
    args: [...ours.args, '0'],
  };
  const baselines = o.simple === false ? [openssl] : [openssl, sha256sum, inline];
  o.log(`hashing ${tree.variant}: ${o.rounds} rounds of ${['ours', ...baselines.map((b) => b.name)].join(' / ')}`);
  const r = await pairedRuns(ours, baselines, o.rounds, o.log);
  const last = ourOutput(r.runs.ours![r.runs.ours!.length - 1]!);
  const idle = Math.min(...r.runs.ours!.map((x) => ourOutput(x).meta.idleRssMiB));
  const peak = Math.max(...r.runs.ours!.map((x) => ourOutput(x).meta.sampledPeakRssMiB));
  // Scheduling independence: one worker thread gives the same root as the default.
  const single = await pairedRuns(
    { ...ours, name: 'ours-1-thread', args: [...ours.args, '1'] },
    [],
    1,
    () => undefined,
  );
  const singleRoot = ourOutput(single.runs['ours-1-thread']![0]!).meta.root;
  if (singleRoot !== last.meta.root) throw new Error('Merkle root differs between 1 and N threads');
  return {
    part: 'merkle',
    variant: tree.variant,
    files: tree.names.length,
    bytes: tree.bytes,
    ...r,
    merkleRoot: last.meta.root,
    idleRssMiB: Math.round(idle * 10) / 10,
    hashingPeakRssMiB: Math.round(peak * 10) / 10,
  };
}
