// Whole-process side of the core bench's hashing part (bench/lib/merkle-part.ts): plain Node on
// the BUILT packages (dist, no TypeScript loader), so its start-up is what a real process pays.
//
//   node bench/bin/hash-tree.mjs <dir> <names-file> [threads]
//
// SHA-256 of every file named in <names-file> (one relative path a line, in byte order) through
// digestFiles (worker threads, reused buffers), each result pushed IN ORDER as the RFC 8785 leaf
// {path, size, digest} into a streaming RFC 9162 Merkle builder — the evidence-bundle leaf rule
// (DESIGN.md §4). Prints the hex digests one a line, then one JSON line: root, idle and peak RSS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { MerkleTreeBuilder } from '@stella/core/merkle';
import { digestFiles } from '@stella/platform/file-digest';

const [dir, list, threadsArg] = process.argv.slice(2);
if (!dir || !list) {
  process.stderr.write('usage: hash-tree.mjs <dir> <names-file> [threads]\n');
  process.exit(2);
}
const names = readFileSync(list, 'utf8').split('\n').filter(Boolean);
// Idle: everything loaded, nothing hashed yet.
const idleRssMiB = process.memoryUsage.rss() / 2 ** 20;
let peak = process.memoryUsage.rss();
const builder = new MerkleTreeBuilder();
const hexes = [];
const options = threadsArg === undefined ? {} : { threads: Number(threadsArg) };
for await (const d of digestFiles(
  names.map((n) => join(dir, n)),
  options,
)) {
  builder.pushData(canonicalJcsBytes({ path: names[d.index], size: d.size, digest: d.digest }));
  hexes.push(d.hex);
  if ((d.index & 15) === 0) peak = Math.max(peak, process.memoryUsage.rss());
}
peak = Math.max(peak, process.memoryUsage.rss());
const result = {
  root: Buffer.from(builder.root()).toString('hex'),
  idleRssMiB,
  sampledPeakRssMiB: peak / 2 ** 20,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
process.stdout.write(`${hexes.join('\n')}\n${JSON.stringify(result)}\n`);
