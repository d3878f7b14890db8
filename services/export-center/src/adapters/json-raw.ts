/**
 * `json:raw` (issue #10 §5; docs/formats/export-bundle.md "json:raw"): every record as one RFC 8785
 * canonical JSON line, one file per source kind — `data/<kind>.jsonl` plus `.gz` (deterministic
 * gzip) or `.zst` (zstd frames) when compressed. Streamed: one record and one 64 KiB chunk in memory at a time.
 */
import { SOURCE_KINDS } from '../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter } from './adapter.js';
import {
  COMPRESSIONS,
  COMPRESSION_SUFFIX,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_ZSTD_LEVEL,
  MAX_ZSTD_LEVEL,
  MIN_ZSTD_LEVEL,
  compress,
  type Compression,
  type CompressionChoice,
} from './compression.js';
import { OptionChecker } from './option-checks.js';
import { RecordCursor, chunkedLines, kindGroups, rawRecordLine } from './record-stream.js';

export const JSONL_MEDIA_TYPE = 'application/jsonl';

/** Media type of a JSONL file under `compression`. */
export function jsonlMediaType(compression: Compression): string {
  return compression === 'gzip'
    ? `${JSONL_MEDIA_TYPE}+gzip`
    : compression === 'zstd'
      ? `${JSONL_MEDIA_TYPE}+zstd`
      : JSONL_MEDIA_TYPE;
}

/**
 * The options shared by the JSON adapters: `compression` (default gzip), `gzipLevel` (1–9,
 * default 6) or `zstdLevel` (1–19, default 3) — each only with its codec. The normalized options
 * (stored in the manifest's adapter record) carry the codec and its level.
 */
export function compressionOptions(c: OptionChecker): CompressionChoice & { options: Record<string, unknown> } {
  const compression = c.oneOf('compression', COMPRESSIONS, 'gzip');
  const gzipLevel = c.integer('gzipLevel', 1, 9, DEFAULT_GZIP_LEVEL);
  if (c.options.gzipLevel !== undefined && compression !== 'gzip')
    c.problem('/gzipLevel', 'only applies when compression is "gzip"');
  const zstdLevel = c.integer('zstdLevel', MIN_ZSTD_LEVEL, MAX_ZSTD_LEVEL, DEFAULT_ZSTD_LEVEL);
  if (c.options.zstdLevel !== undefined && compression !== 'zstd')
    c.problem('/zstdLevel', 'only applies when compression is "zstd"');
  const options =
    compression === 'gzip'
      ? { compression, gzipLevel }
      : compression === 'zstd'
        ? { compression, zstdLevel }
        : { compression };
  return { compression, gzipLevel, zstdLevel, options };
}

/** The compression choice out of validated (normalized) options. */
export function compressionChoice(options: Readonly<Record<string, unknown>>): CompressionChoice {
  return {
    compression: (options.compression as Compression | undefined) ?? 'none',
    gzipLevel: (options.gzipLevel as number | undefined) ?? DEFAULT_GZIP_LEVEL,
    zstdLevel: (options.zstdLevel as number | undefined) ?? DEFAULT_ZSTD_LEVEL,
  };
}

export const jsonRawAdapter: ExportAdapter = {
  id: 'json:raw',
  version: '1',
  sourceKinds: SOURCE_KINDS,

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['compression', 'gzipLevel', 'zstdLevel']);
    const { options } = compressionOptions(c);
    if (c.problems.length) return { ok: false, problems: c.problems };
    return { ok: true, options };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    const choice = compressionChoice(input.options);
    const { compression } = choice;
    const cursor = new RecordCursor(input);
    const counts: Record<string, number> = {};
    for await (const group of kindGroups(input.records, cursor)) {
      let n = 0;
      const lines = chunkedLines(group.records, (r) => {
        n++;
        return rawRecordLine(r);
      });
      await input.out.writeFile(
        `data/${group.kind}.jsonl${COMPRESSION_SUFFIX[compression]}`,
        compress(lines, choice),
        jsonlMediaType(compression),
      );
      counts[group.kind] = n;
    }
    cursor.finish();
    return { counts: { ...counts, records: cursor.count } };
  },
};
