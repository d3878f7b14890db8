import { StellaError } from '../errors/index.js';

/** Longest entry path (UTF-8 bytes) the writer produces or the reader accepts by default (Linux PATH_MAX). */
export const DEFAULT_MAX_PATH_BYTES = 4096;

const encoder = new TextEncoder();

/** UTF-8 byte length of `s`. */
export function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}

/**
 * Byte-wise comparison of the UTF-8 encodings of `a` and `b` — the archive sort order
 * (docs/formats/tar.md). JavaScript's `<` compares UTF-16 code units, which disagrees with UTF-8
 * byte order for characters above U+FFFF versus U+E000–U+FFFF, so it is not used.
 */
export function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i]! - y[i]!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Normalises an archive entry path and refuses anything that could land outside the extraction
 * root or be read differently by different extractors. Returns the canonical form: segments joined
 * by `/`, no leading `./`, no `.` segments, no trailing `/`. Returns `''` only for the root itself
 * (`.` / `./`), which callers skip.
 *
 * Refused (ARCHIVE_UNSAFE_ENTRY): empty paths, absolute paths (`/x`), Windows drive letters (`C:`),
 * backslashes (a separator on Windows extractors), NUL and other C0 control characters, `..`
 * segments anywhere, empty segments (`a//b`), and paths longer than `maxPathBytes` UTF-8 bytes.
 *
 * `strict` (writer side) also refuses `.` segments, a leading `./` and a trailing `/`, so that each
 * file has exactly one spelling in archives we produce.
 */
export function normalizeArchivePath(raw: string, opts: { strict?: boolean; maxPathBytes?: number } = {}): string {
  const unsafe = (why: string): never => {
    throw new StellaError('ARCHIVE_UNSAFE_ENTRY', `unsafe archive path ${JSON.stringify(raw)}: ${why}`, {
      details: { path: raw, reason: why },
    });
  };
  if (typeof raw !== 'string' || raw.length === 0) unsafe('empty path');
  if (utf8Length(raw) > (opts.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES)) {
    throw new StellaError(
      'ARCHIVE_LIMIT_EXCEEDED',
      `archive path longer than ${opts.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES} bytes`,
      {
        details: { path: raw.slice(0, 200), limit: 'maxPathBytes' },
      },
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) unsafe('control character');
  if (raw.includes('\\')) unsafe('backslash');
  if (raw.startsWith('/')) unsafe('absolute path');
  if (/^[A-Za-z]:/.test(raw)) unsafe('drive letter');
  let body = raw;
  if (body.endsWith('/')) {
    if (opts.strict) unsafe('trailing slash');
    body = body.replace(/\/+$/, '');
    if (body === '') unsafe('absolute path');
  }
  const out: string[] = [];
  for (const seg of body.split('/')) {
    if (seg === '..') unsafe("'..' segment");
    if (seg === '') unsafe('empty segment');
    if (seg === '.') {
      if (opts.strict) unsafe("'.' segment");
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

/** The parent directories of a normalised path, outermost first (`a/b/c` → `a`, `a/b`). */
export function parentDirectories(path: string): string[] {
  const segs = path.split('/');
  const res: string[] = [];
  for (let i = 1; i < segs.length; i++) res.push(segs.slice(0, i).join('/'));
  return res;
}

/**
 * The key under which two paths name the same file on a case-insensitive, normalisation-insensitive
 * file system (APFS and HFS+ on macOS, NTFS on Windows): letter case folded and Unicode canonical
 * equivalents (NFC `é` vs NFD `e\u0301`, UAX #15) made equal. Deliberately a little coarser than
 * any one file system, so that every real collision is caught.
 */
export function portablePathKey(path: string): string {
  return path.normalize('NFD').toLowerCase().normalize('NFD');
}

/**
 * Records spellings of paths and refuses a second spelling of a known {@link portablePathKey}:
 * entries `README` and `readme`, `é` and `e\u0301`, or parents `A/x` and `a/y` would merge (or
 * overwrite each other) when extracted on macOS or Windows.
 */
export class PortablePathSpellings {
  private readonly byKey = new Map<string, string>();

  /** The earlier spelling `path` collides with, or undefined (and `path` is recorded). */
  collision(path: string): string | undefined {
    const key = portablePathKey(path);
    const earlier = this.byKey.get(key);
    if (earlier === undefined) this.byKey.set(key, path);
    return earlier !== undefined && earlier !== path ? earlier : undefined;
  }
}
