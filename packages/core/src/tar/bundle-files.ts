/**
 * What a bundle verifier needs of a signed tar.gz (evidence bundles, export bundles): every file's
 * sha256 and size in one streamed pass, with the bytes of the small metadata files kept, and the
 * `checksums.txt` they carry (GNU `sha256sum` text format).
 */
import { createHash } from 'node:crypto';
import { readTarGz, type TarReadOptions, type TarSource } from './tar-reader.js';

export interface BundleFile {
  readonly hex: string;
  readonly size: number;
  /** Kept only for files `keepBytes` chose (manifests, envelopes, keys); the rest are only hashed. */
  readonly bytes?: Uint8Array;
}

export interface ReadBundleFilesOptions extends TarReadOptions {
  keepBytes(path: string): boolean;
  /** A kept file larger than this is hashed, not kept (its check then reports it missing). */
  readonly maxKeptBytes: number;
}

/** Reads every regular file once (the safe reader's path and size rules apply). */
export async function readBundleFiles(
  source: TarSource,
  opts: ReadBundleFilesOptions,
): Promise<Map<string, BundleFile>> {
  const { keepBytes, maxKeptBytes, ...readOptions } = opts;
  const files = new Map<string, BundleFile>();
  for await (const entry of readTarGz(source, readOptions)) {
    if (entry.type !== 'file') continue;
    const keep = keepBytes(entry.path) && entry.size <= maxKeptBytes;
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of entry.body) {
      hash.update(chunk);
      size += chunk.byteLength;
      if (keep) chunks.push(chunk);
    }
    files.set(entry.path, {
      hex: hash.digest('hex'),
      size,
      ...(keep ? { bytes: new Uint8Array(Buffer.concat(chunks)) } : {}),
    });
  }
  return files;
}

/**
 * `checksums.txt` lines `<64 hex>  <path>` (or `*` binary mode) → path → hex; a string names the
 * first bad line (malformed, or a path listed twice).
 */
export function parseChecksumsTxt(text: string): Map<string, string> | string {
  const out = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) return `line ${i + 1} is not "<sha256>  <path>"`;
    if (out.has(m[2]!)) return `line ${i + 1}: ${m[2]} listed twice`;
    out.set(m[2]!, m[1]!);
  }
  return out;
}
