/**
 * Where json:raw's CPU went before and after the splice (record-stream.ts `rawRecordLine`): for
 * N OSV-shaped advisories, the json:raw line built from the ledger's stored RFC 8785 text
 * (spliced) BESIDE the old path on the same record (JSON.parse of the stored text, then RFC 8785
 * of the whole record), alternated per record, each line checked byte-identical. In process, no
 * database: the ledger's rows are simulated by canonicalising each synthesised document first
 * (untimed).
 *
 *   node --conditions=development --import tsx bench/export-lines.ts [--records 100000]
 */
import { canonicalizeJcs, type JsonValue } from '@stella/core/canonical-json';
import { osvTemplates, rawRecordJson, rawRecordLine, synthesiseAdvisories } from '@stella/export-center/testing';
import { datasetsDir } from '@stella/testkit';
import { benchArgs } from './lib/args.js';
import { machineLine, round } from './lib/measure.js';

const args = benchArgs();
const N = args.num('records', 100_000);
args.log(machineLine());
const templates = await osvTemplates(datasetsDir);
let spliced = 0;
let reparsed = 0;
let bytes = 0;
let i = 0;
for await (const r of synthesiseAdvisories(templates, N)) {
  const stored = canonicalizeJcs(r.document as JsonValue);
  const row = { ...r, canonicalDocument: stored };
  const run = [
    () => {
      const t = performance.now();
      const line = rawRecordLine(row);
      spliced += performance.now() - t;
      return line;
    },
    () => {
      const t = performance.now();
      const line = Buffer.from(canonicalizeJcs(rawRecordJson({ ...r, document: JSON.parse(stored) as unknown })));
      reparsed += performance.now() - t;
      return line;
    },
  ];
  let a: Uint8Array;
  let b: Uint8Array;
  if (i++ % 2 === 0) {
    a = run[0]!();
    b = run[1]!();
  } else {
    b = run[1]!();
    a = run[0]!();
  }
  if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error(`line ${i} differs`);
  bytes += a.byteLength + 1;
}
args.log(`${N} json:raw lines (${round(bytes / 2 ** 20, 1)} MiB), byte-identical both ways:`);
args.log(
  `  spliced stored RFC 8785 text:            ${round(spliced, 0)} ms (${round(bytes / 1e6 / (spliced / 1000), 0)} MB/s)`,
);
args.log(
  `  JSON.parse + RFC 8785 of the whole record: ${round(reparsed, 0)} ms (${round(bytes / 1e6 / (reparsed / 1000), 0)} MB/s)`,
);
args.log(`  ${round(reparsed / spliced, 1)}× less CPU per line`);
