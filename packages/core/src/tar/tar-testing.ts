// Helpers shared by the tar tests (no I/O; not exported from the barrel): build hand-crafted headers
// that lie, and read whole archives.
import { gzipSync } from 'node:zlib';
import { readTar, readTarGz, type TarEntry, type TarReadOptions } from './tar-reader.js';

/** Collects a stream / async iterable into one buffer. */
export async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Reads every entry (with bodies) of a tar or tar.gz. */
export async function readAll(
  bytes: Uint8Array | AsyncIterable<Uint8Array>,
  opts: TarReadOptions & { gzip?: boolean } = {},
): Promise<Array<Omit<TarEntry, 'body'> & { data: Buffer }>> {
  const out: Array<Omit<TarEntry, 'body'> & { data: Buffer }> = [];
  const it = opts.gzip === false ? readTar(bytes, opts) : readTarGz(bytes, opts);
  for await (const e of it) {
    const { body, ...rest } = e;
    out.push({ ...rest, data: await collect(body) });
  }
  return out;
}

/** Header fields for {@link ustarHeader}; unset ones get harmless defaults. */
export interface RawHeader {
  name: string;
  size?: number;
  typeflag?: string;
  linkname?: string;
  mode?: number;
  prefix?: string;
  /** Override the size field text (e.g. non-octal garbage). */
  sizeField?: string;
  magic?: string;
}

function field(buf: Buffer, off: number, len: number, s: string): void {
  Buffer.from(s, 'utf8').copy(buf, off, 0, len);
}

/** A 512-byte ustar header with a correct checksum, built by hand so tests can lie in it. */
export function ustarHeader(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  field(b, 0, 100, h.name);
  field(b, 100, 8, (h.mode ?? 0o644).toString(8).padStart(7, '0'));
  field(b, 108, 8, '0000000');
  field(b, 116, 8, '0000000');
  field(b, 124, 12, h.sizeField ?? (h.size ?? 0).toString(8).padStart(11, '0'));
  field(b, 136, 12, '00000000000');
  field(b, 156, 1, h.typeflag ?? '0');
  if (h.linkname) field(b, 157, 100, h.linkname);
  field(b, 257, 8, h.magic ?? 'ustar\u000000');
  if (h.prefix) field(b, 345, 155, h.prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  field(b, 148, 8, sum.toString(8).padStart(6, '0') + '\u0000 ');
  return b;
}

/** A tar made of raw headers and bodies (bodies padded to 512), plus the two zero blocks. */
export function rawTar(entries: Array<{ header: RawHeader; body?: Buffer }>, opts: { eof?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body ?? Buffer.alloc(0);
    parts.push(ustarHeader({ size: body.length, ...e.header }));
    parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  if (opts.eof !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** {@link rawTar}, gzipped. */
export function rawTarGz(entries: Array<{ header: RawHeader; body?: Buffer }>, opts: { eof?: boolean } = {}): Buffer {
  return gzipSync(rawTar(entries, opts));
}
