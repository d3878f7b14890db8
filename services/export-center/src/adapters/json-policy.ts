/**
 * `json:policy` (issue #10 §5; docs/formats/export-bundle.md "json:policy"): each record normalised
 * into the policy-input shape `stella.policy-input/v1` — fixed envelope fields, then the record's
 * document reduced to the top-level fields of a per-kind allow-list (redaction: everything not
 * allow-listed is dropped and counted) — as RFC 8785 lines in `policy-input/<kind>.jsonl[.gz]`.
 */
import { compareUtf8 } from '@stella/core/tar';
import type { JsonValue } from '@stella/core/canonical-json';
import { SOURCE_KINDS, type SourceKind, type SourceRecord } from '../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter } from './adapter.js';
import { COMPRESSION_SUFFIX, compress } from './compression.js';
import { compressionChoice, compressionOptions, jsonlMediaType } from './json-raw.js';
import { OptionChecker, pointer } from './option-checks.js';
import { RecordCursor, canonicalLine, chunkedLines, kindGroups } from './record-stream.js';

export const POLICY_INPUT_SCHEMA = 'stella.policy-input/v1';
/** An allow-list of just this keeps the whole document. */
export const ALLOW_ALL = '*';

/**
 * Default allow-lists (top-level document fields). Advisories keep what policy decides on (ids,
 * affected ranges, severity) and drop prose, references and credits; VEX and SBOMs keep their
 * statements and inventory across their formats; findings, policy packs and Maven index rows are kept whole.
 */
export const DEFAULT_ALLOW: Readonly<Record<SourceKind, readonly string[]>> = {
  advisory: [
    'affected',
    'aliases',
    'id',
    'modified',
    'published',
    'schema_version',
    'severity',
    'summary',
    'withdrawn',
  ],
  vex: [
    '@context',
    '@id',
    'author',
    'document',
    'product_tree',
    'statements',
    'timestamp',
    'version',
    'vulnerabilities',
  ],
  sbom: [
    'SPDXID',
    'bomFormat',
    'components',
    'dependencies',
    'documentNamespace',
    'metadata',
    'packages',
    'relationships',
    'serialNumber',
    'spdxVersion',
    'specVersion',
  ],
  finding: [ALLOW_ALL],
  policy: [ALLOW_ALL],
  artifact: [ALLOW_ALL],
};

/** The policy-input form of one record and how many document fields were redacted. */
export function policyInput(r: SourceRecord, allow: readonly string[]): { value: JsonValue; redacted: number } {
  let redacted = 0;
  let document: JsonValue = r.document as JsonValue;
  if (!allow.includes(ALLOW_ALL) && document !== null && typeof document === 'object' && !Array.isArray(document)) {
    const kept: Record<string, JsonValue> = {};
    for (const key of Object.keys(document).sort(compareUtf8)) {
      if (allow.includes(key)) kept[key] = (document as Record<string, JsonValue>)[key]!;
      else redacted++;
    }
    document = kept;
  }
  return {
    value: {
      schema: POLICY_INPUT_SCHEMA,
      kind: r.kind,
      id: r.recordId,
      tenant: r.tenant,
      project: r.project,
      ecosystem: r.ecosystem,
      packages: [...r.packages],
      severity: r.severity,
      modifiedAt: r.modifiedAt,
      source: { format: r.format, digest: r.digest, ledgerSeq: r.ledgerSeq.toString(10) },
      document,
    },
    redacted,
  };
}

export const jsonPolicyAdapter: ExportAdapter = {
  id: 'json:policy',
  version: '1',
  sourceKinds: SOURCE_KINDS,

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['allow', 'compression', 'gzipLevel', 'zstdLevel']);
    const { options } = compressionOptions(c);
    const allow: Record<string, string[]> = Object.fromEntries(SOURCE_KINDS.map((k) => [k, [...DEFAULT_ALLOW[k]]]));
    const given = c.options.allow;
    if (given !== undefined) {
      if (given === null || typeof given !== 'object' || Array.isArray(given))
        c.problem('/allow', 'must be an object: source kind → list of top-level fields to keep');
      else
        for (const [kind, fields] of Object.entries(given)) {
          if (!(SOURCE_KINDS as readonly string[]).includes(kind)) {
            c.problem(pointer('allow', kind), `unknown source kind; known: ${SOURCE_KINDS.join(', ')}`);
            continue;
          }
          const list = c.stringList(pointer('allow', kind), fields);
          if (list?.includes(ALLOW_ALL) && list.length > 1)
            c.problem(pointer('allow', kind), `"${ALLOW_ALL}" keeps everything and cannot be combined with fields`);
          if (list) allow[kind] = list;
        }
    }
    if (c.problems.length) return { ok: false, problems: c.problems };
    return {
      ok: true,
      options: { allow, ...options },
    };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    const choice = compressionChoice(input.options);
    const { compression } = choice;
    const allow = input.options.allow as Record<SourceKind, string[]>;
    const cursor = new RecordCursor(input);
    const counts: Record<string, number> = {};
    let redactedFields = 0;
    for await (const group of kindGroups(input.records, cursor)) {
      let n = 0;
      const lines = chunkedLines(group.records, (r) => {
        n++;
        const { value, redacted } = policyInput(r, allow[group.kind] ?? DEFAULT_ALLOW[group.kind]);
        redactedFields += redacted;
        return canonicalLine(value);
      });
      await input.out.writeFile(
        `policy-input/${group.kind}.jsonl${COMPRESSION_SUFFIX[compression]}`,
        compress(lines, choice),
        jsonlMediaType(compression),
      );
      counts[group.kind] = n;
    }
    cursor.finish();
    return { counts: { ...counts, records: cursor.count, redactedFields } };
  },
};
