/**
 * `mirror:full` (issue #10 §5; docs/formats/export-bundle.md "mirror:full"): a browsable copy of the
 * snapshot under `mirror/` — per kind an index (one JSON line per record: its ledger fields and
 * where its document is) and the documents, either one file per record (`layout: "records"`,
 * named by sha256 of the record id so no id can make an unsafe or colliding path) or JSONL chunks
 * of `chunkSize` records (`layout: "chunks"`, the default: far fewer files), plus `mirror/index.json`
 * and a README. The index is fed through a bounded channel while the documents are written, so one
 * pass over the records suffices and memory stays flat.
 */
import { sha256Hex } from '@stella/core/digest';
import { SOURCE_KINDS, type SourceKind, type SourceRecord } from '../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter, ExportFileSink } from './adapter.js';
import { ByteChannel } from './byte-channel.js';
import { COMPRESSION_SUFFIX, compress, type Compression, type CompressionChoice } from './compression.js';
import { JSONL_MEDIA_TYPE, compressionChoice, compressionOptions, jsonlMediaType } from './json-raw.js';
import { OptionChecker } from './option-checks.js';
import {
  RecordCursor,
  canonicalLine,
  chunkedLines,
  documentBytes,
  kindGroups,
  rawRecordLine,
} from './record-stream.js';

export const MIRROR_ROOT = 'mirror';
export const MIRROR_INDEX_SCHEMA = 'stella.mirror-index/v1';
const LAYOUTS = ['chunks', 'records'] as const;
type Layout = (typeof LAYOUTS)[number];
const DEFAULT_CHUNK_SIZE = 10_000;

/** Path of one record's document in the `records` layout. */
export function recordPath(kind: SourceKind, recordId: string): string {
  const h = sha256Hex(`${kind}\n${recordId}`);
  return `${MIRROR_ROOT}/${kind}/records/${h.slice(0, 2)}/${h}.json`;
}

function chunkPath(kind: SourceKind, n: number, compression: Compression): string {
  return `${MIRROR_ROOT}/${kind}/chunks/${String(n).padStart(6, '0')}.jsonl${COMPRESSION_SUFFIX[compression]}`;
}

/** One line of `mirror/<kind>/index.jsonl`. */
function indexLine(r: SourceRecord, where: { path: string; line?: number }): Uint8Array {
  return canonicalLine({
    recordId: r.recordId,
    digest: r.digest,
    ledgerSeq: r.ledgerSeq.toString(10),
    tenant: r.tenant,
    project: r.project,
    format: r.format,
    ecosystem: r.ecosystem,
    packages: [...r.packages],
    severity: r.severity,
    modifiedAt: r.modifiedAt,
    ...where,
  });
}

const NL = new Uint8Array([0x0a]);

function readme(layout: Layout, kinds: Record<string, number>): string {
  const rows = Object.entries(kinds)
    .map(([k, n]) => `| ${k} | ${n} | \`${MIRROR_ROOT}/${k}/index.jsonl\` |`)
    .join('\n');
  const docs =
    layout === 'records'
      ? '`<kind>/records/<hh>/<sha256(kind + "\\n" + recordId)>.json`: one document per file (RFC 8785 JSON;\n' +
        'its sha256 is the record digest). `path` in the index line names it.'
      : '`<kind>/chunks/NNNNNN.jsonl[.gz]`: chunks of records, one json:raw line per record (the ledger\n' +
        'fields and the document). `path` and `line` (1-based) in the index line name it.';
  return `# Export mirror

A full copy of the exported snapshot. Layout (docs/formats/export-bundle.md "mirror:full"):

- \`index.json\`: the kinds, their counts and index files.
- \`<kind>/index.jsonl\`: one line per record in ledger order (kind, record id): recordId, digest,
  ledgerSeq, tenant, project, format, ecosystem, packages, severity, modifiedAt and where it is.
- ${docs}

| kind | records | index |
| --- | --- | --- |
${rows || '| (none) | 0 | |'}

Check the whole bundle with \`sha256sum -c checksums.txt\` at its root, and its signature as
VERIFY.md describes.
`;
}

/** Writes the documents of one kind while its index file is written from the channel. */
async function writeKind(
  out: ExportFileSink,
  kind: SourceKind,
  records: AsyncIterable<SourceRecord>,
  opts: { layout: Layout; chunkSize: number } & CompressionChoice,
): Promise<number> {
  const index = new ByteChannel();
  const indexWritten = out.writeFile(`${MIRROR_ROOT}/${kind}/index.jsonl`, index, JSONL_MEDIA_TYPE);
  indexWritten.catch(() => undefined);
  let n = 0;
  try {
    if (opts.layout === 'records') {
      for await (const r of records) {
        const path = recordPath(kind, r.recordId);
        await out.writeFile(path, documentBytes(r), 'application/json');
        await index.push(Buffer.concat([indexLine(r, { path }), NL]));
        n++;
      }
    } else {
      // Pull records in runs of chunkSize, each run one chunk file.
      const it = records[Symbol.asyncIterator]();
      let next = await it.next();
      for (let chunk = 0; !next.done; chunk++) {
        const path = chunkPath(kind, chunk, opts.compression);
        const run = async function* (): AsyncGenerator<SourceRecord> {
          for (let line = 1; line <= opts.chunkSize && !next.done; line++) {
            const r = next.value;
            n++;
            await index.push(Buffer.concat([indexLine(r, { path, line }), NL]));
            yield r;
            next = await it.next();
          }
        };
        const lines = chunkedLines(run(), rawRecordLine);
        await out.writeFile(path, compress(lines, opts), jsonlMediaType(opts.compression));
      }
    }
    index.close();
  } catch (err) {
    index.fail(err);
    // Let the sink remove the partial index before the failure reaches the caller.
    await indexWritten.catch(() => undefined);
    throw err;
  }
  await indexWritten;
  return n;
}

export const mirrorFullAdapter: ExportAdapter = {
  id: 'mirror:full',
  version: '1',
  sourceKinds: SOURCE_KINDS,

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['layout', 'chunkSize', 'compression', 'gzipLevel', 'zstdLevel']);
    const layout = c.oneOf('layout', LAYOUTS, 'chunks');
    const chunkSize = c.integer('chunkSize', 1, 1_000_000, DEFAULT_CHUNK_SIZE);
    const { compression, options } = compressionOptions(c);
    if (layout === 'records') {
      if (c.options.chunkSize !== undefined) c.problem('/chunkSize', 'only applies to layout "chunks"');
      if (c.options.compression !== undefined && compression !== 'none')
        c.problem('/compression', 'per-record files are plain JSON; compression applies to layout "chunks"');
    }
    if (c.problems.length) return { ok: false, problems: c.problems };
    if (layout === 'records') return { ok: true, options: { layout } };
    return {
      ok: true,
      options: { layout, chunkSize, ...options },
    };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    const layout = input.options.layout as Layout;
    const opts = {
      layout,
      chunkSize: (input.options.chunkSize as number | undefined) ?? DEFAULT_CHUNK_SIZE,
      ...compressionChoice(input.options),
    };
    const cursor = new RecordCursor(input);
    const counts: Record<string, number> = {};
    for await (const group of kindGroups(input.records, cursor))
      counts[group.kind] = await writeKind(input.out, group.kind, group.records, opts);
    cursor.finish();
    const kinds = Object.fromEntries(
      Object.entries(counts).map(([k, n]) => [k, { count: n, index: `${MIRROR_ROOT}/${k}/index.jsonl` }]),
    );
    await input.out.writeFile(
      `${MIRROR_ROOT}/index.json`,
      canonicalLine({ schema: MIRROR_INDEX_SCHEMA, layout, kinds, records: cursor.count }),
      'application/json',
    );
    await input.out.writeFile(`${MIRROR_ROOT}/README.md`, Buffer.from(readme(layout, counts), 'utf8'), 'text/markdown');
    return { counts: { ...counts, records: cursor.count } };
  },
};
