/**
 * `json:raw` (issue #10 §5; docs/formats/export-bundle.md "json:raw"): every record as one RFC 8785
 * canonical JSON line, one file per source kind — `data/<kind>.jsonl` plus `.gz` (deterministic
 * gzip) when compressed. Streamed: one record and one 64 KiB chunk in memory at a time.
 */
import { SOURCE_KINDS } from '../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter } from './adapter.js';
import {
  COMPRESSIONS,
  COMPRESSION_SUFFIX,
  DEFAULT_GZIP_LEVEL,
  compress,
  compressionProblem,
  type Compression,
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

/** The options shared by the JSON adapters: `compression` (default gzip) and `gzipLevel` (1–9, default 6). */
export function compressionOptions(c: OptionChecker): { compression: Compression; gzipLevel: number } {
  const compression = c.oneOf('compression', COMPRESSIONS, 'gzip');
  const problem = compressionProblem(compression);
  if (problem) c.problem('/compression', problem);
  const gzipLevel = c.integer('gzipLevel', 1, 9, DEFAULT_GZIP_LEVEL);
  if (c.options.gzipLevel !== undefined && compression !== 'gzip')
    c.problem('/gzipLevel', 'only applies when compression is "gzip"');
  return { compression, gzipLevel };
}

export const jsonRawAdapter: ExportAdapter = {
  id: 'json:raw',
  version: '1',
  sourceKinds: SOURCE_KINDS,

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['compression', 'gzipLevel']);
    const { compression, gzipLevel } = compressionOptions(c);
    if (c.problems.length) return { ok: false, problems: c.problems };
    return { ok: true, options: compression === 'gzip' ? { compression, gzipLevel } : { compression } };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    const compression = input.options.compression as Compression;
    const gzipLevel = (input.options.gzipLevel as number | undefined) ?? DEFAULT_GZIP_LEVEL;
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
        compress(lines, compression, gzipLevel),
        jsonlMediaType(compression),
      );
      counts[group.kind] = n;
    }
    cursor.finish();
    return { counts: { ...counts, records: cursor.count } };
  },
};
