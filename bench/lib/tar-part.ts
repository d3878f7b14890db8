/**
 * The tar.gz part of the core bench (issue #13 items 2 and 3): the deterministic tar.gz writer as a
 * WHOLE PROCESS, paired with GNU tar piped into the strongest compressor and the simple ones, over
 * the same tree (names in byte order on both sides), output counted by `wc -c`:
 *
 *   ours       node bench/bin/tar-gz.mjs DIR NAMES 6 | wc -c   (built packages; parallel gzip on
 *              the libuv threadpool, ADR 0019)
 *   pigz -6    tar --sort=name -cf - -C DIR … | pigz -6 | wc -c     (all cores)
 *   gzip -6    … | gzip -6 | wc -c                                    (one core; `--simple`)
 *   zstd -3    … | zstd -3 -c | wc -c                                 (one core; `--simple`)
 *
 * Peak RSS (GNU time %M) is the largest process of each pipeline. After the rounds, our output is
 * written in-process for the files of the first 64 MiB with the default thread count, 1 and 4
 * threads, and must be byte-identical (that SHA-256 is reported).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTarGz } from '@stella/core/tar';
import { pairedRuns, type PairedResult, type Side } from './paired.js';
import type { BenchTree } from './tree.js';

const tarGz = fileURLToPath(new URL('../bin/tar-gz.mjs', import.meta.url));

export interface TarPartResult extends PairedResult {
  part: 'tar';
  variant: BenchTree['variant'];
  files: number;
  inputBytes: number;
  gzipLevel: number;
  /** Output bytes per side (first round). */
  outBytes: Record<string, number>;
  /** SHA-256 of our tar.gz of the first 64 MiB of files; the same with 1, default and 4 threads. */
  oursSha256: string;
  deterministic: boolean;
}

async function ourDigest(tree: BenchTree, level: number, threads?: number): Promise<string> {
  const h = createHash('sha256');
  // The files that make up the first 64 MiB (at least one): enough blocks to mix every schedule.
  let upTo = 0;
  for (let sum = 0; upTo < tree.names.length && sum < 64 * 2 ** 20; upTo++) sum += tree.sizes[upTo]!;
  const entries = tree.names.slice(0, Math.max(1, upTo)).map((path, i) => ({
    path,
    size: tree.sizes[i]!,
    body: () => createReadStream(join(tree.dir, path)),
  }));
  for await (const c of createTarGz(entries, { gzipLevel: level, gzipThreads: threads })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Runs the tar.gz part `rounds` times over a tree already in the page cache. */
export async function tarPart(
  tree: BenchTree,
  o: { rounds: number; level: number; log: (line: string) => void; simple?: boolean },
): Promise<TarPartResult> {
  const namesFile = join(tree.dir, '..', `${tree.variant}.names`);
  await writeFile(namesFile, `${tree.names.join('\n')}\n`);
  const outBytes: Record<string, number> = {};
  const count = (name: string) => (run: { stdout: Buffer }) => {
    outBytes[name] ??= Number(run.stdout.toString().trim());
  };
  // GNU tar reads the same files in the same (byte) order; `-T` takes the names list.
  const gnu = (compressor: string) =>
    `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -C "$1" -T "$2" | ${compressor} | wc -c`;
  const side = (name: string, compressor: string): Side => ({
    name,
    script: gnu(compressor),
    args: [tree.dir, namesFile],
    check: count(name),
  });
  const ours: Side = {
    name: 'ours',
    script: `node "$1" "$2" "$3" ${o.level} | wc -c`,
    args: [tarGz, tree.dir, namesFile],
    check: count('ours'),
  };
  const baselines = [side(`pigz -${o.level}`, `pigz -${o.level}`)];
  if (o.simple !== false)
    baselines.push(side(`gzip -${o.level}`, `gzip -${o.level}`), side('zstd -3', 'zstd -3 -q -c'));
  o.log(`tar.gz ${tree.variant}: ${o.rounds} rounds of ${['ours', ...baselines.map((b) => b.name)].join(' / ')}`);
  const r = await pairedRuns(ours, baselines, o.rounds, o.log);
  const digests = [
    await ourDigest(tree, o.level),
    await ourDigest(tree, o.level, 1),
    await ourDigest(tree, o.level, 4),
  ];
  return {
    part: 'tar',
    variant: tree.variant,
    files: tree.names.length,
    inputBytes: tree.bytes,
    gzipLevel: o.level,
    ...r,
    outBytes,
    oursSha256: digests[0]!,
    deterministic: digests.every((d) => d === digests[0]),
  };
}
