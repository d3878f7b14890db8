// Whole-process side of the core bench's tar.gz part (bench/lib/tar-part.ts): plain Node on the
// BUILT packages (dist), writing the deterministic tar.gz of a tree to stdout.
//
//   node bench/bin/tar-gz.mjs <dir> <names-file> [level] [threads] | wc -c
//
// Entries: every file named in <names-file> (relative paths, byte order; sizes from stat), bodies
// streamed from disk one at a time by the writer; parent directories added (the writer's default).
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createTarGz } from '@stella/core/tar';

const [dir, list, levelArg, threadsArg] = process.argv.slice(2);
if (!dir || !list) {
  process.stderr.write('usage: tar-gz.mjs <dir> <names-file> [level] [threads]\n');
  process.exit(2);
}
const names = readFileSync(list, 'utf8').split('\n').filter(Boolean);
const entries = names.map((path) => {
  const file = join(dir, path);
  return { path, size: statSync(file).size, body: () => createReadStream(file, { highWaterMark: 256 * 1024 }) };
});
await pipeline(
  createTarGz(entries, {
    gzipLevel: levelArg === undefined ? 6 : Number(levelArg),
    ...(threadsArg === undefined ? {} : { gzipThreads: Number(threadsArg) }),
  }),
  process.stdout,
);
