/**
 * Streamed zstd for export data files (issue #10 §5 "gzip or zstd"): the input is cut into
 * blocks of exactly ZSTD_BLOCK_BYTES uncompressed bytes (the last one shorter) and each block is
 * compressed as one zstd frame (RFC 8878 §3.1.1, with its content size); the file is the frames
 * one after another, which RFC 8878 §3.1 allows and every zstd decoder (`zstd -d`, `zstd -t`)
 * reads as one stream.
 *
 * Why frames per block: memory is one block and its frame, whatever the file size; and the bytes
 * depend only on the input and the level — block boundaries never follow the chunking of the
 * input — so equal input gives equal bytes (a rerun, another machine: the codec is libzstd
 * compiled to WebAssembly, @hpcc-js/wasm-zstd, the same code everywhere, no native build). A frame
 * compressed on its own (ZSTD_compress, one call) keeps no state between calls, so concurrent runs
 * in one isolate can share the module. The cost: each frame starts with an empty window (about
 * 1–3 % larger than one frame over the whole file at level 3, docs/benchmarks.md).
 */
import { Zstd } from '@hpcc-js/wasm-zstd';
import { StellaError } from '@stella/core/errors';

/** Uncompressed bytes per frame (1 MiB: at level 3 the window is 1 MiB for such an input). */
export const ZSTD_BLOCK_BYTES = 1024 * 1024;
export const DEFAULT_ZSTD_LEVEL = 3;
/** Levels offered: 1–19 (20–22, "ultra", need far more memory per frame). */
export const MIN_ZSTD_LEVEL = 1;
export const MAX_ZSTD_LEVEL = 19;

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd]; // RFC 8878 §3.1.1 Magic_Number 0xFD2FB528, little-endian

let loading: Promise<Zstd> | undefined;
/** The WebAssembly module, compiled once per isolate. */
function zstd(): Promise<Zstd> {
  loading ??= Zstd.load();
  return loading;
}

/** libzstd's version, for the manifest's adapter record and the docs. */
export async function zstdVersion(): Promise<string> {
  return (await zstd()).version();
}

function frame(z: Zstd, block: Uint8Array, level: number): Uint8Array {
  const out = z.compress(block, level);
  // The binding reports a libzstd error only on the console; a frame always starts with the magic.
  if (out.byteLength < 4 || MAGIC.some((b, i) => out[i] !== b))
    throw new StellaError('INTERNAL', `zstd could not compress a ${block.byteLength}-byte block at level ${level}`);
  return out;
}

/** `body` as concatenated zstd frames of ZSTD_BLOCK_BYTES input bytes each (empty input: one empty frame). */
export async function* zstdFrames(
  body: AsyncIterable<Uint8Array>,
  level: number = DEFAULT_ZSTD_LEVEL,
  blockBytes: number = ZSTD_BLOCK_BYTES,
): AsyncGenerator<Uint8Array> {
  const z = await zstd();
  const block = new Uint8Array(blockBytes);
  let filled = 0;
  let frames = 0;
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(blockBytes - filled, chunk.byteLength - at);
      block.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === blockBytes) {
        yield frame(z, block, level);
        frames++;
        filled = 0;
      }
    }
  }
  if (filled > 0 || frames === 0) yield frame(z, block.subarray(0, filled), level);
}
