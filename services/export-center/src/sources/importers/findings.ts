/**
 * Scan findings as JSON Lines (docs/export/sources.md "Findings"): one finding per line,
 *
 *   {"id": "f-1", "vulnerability": "CVE-2024-1234", "package": {"ecosystem": "npm", "name": "lodash",
 *    "version": "4.17.20"}, "severity": "high", "cvss": "CVSS:3.1/…", "status": "open",
 *    "artifact": "registry.example/app@sha256:…", "detectedAt": "…", "modifiedAt": "…"}
 *
 * required: `id`, `vulnerability`, `package.name` (strings); `severity` (a word) or `cvss` (a
 * vector) when present must be valid; `status` ∈ open | fixed | ignored. recordId = `id`,
 * severity = the higher of both, modifiedAt = `modifiedAt` or `detectedAt`. Streamed line by line.
 */
import type { JsonValue } from '@stella/core/canonical-json';
import type { Severity, SourceKind } from '../source-record.js';
import { severityOfVector } from './cvss-severity.js';
import {
  highestSeverity,
  invalidRecord,
  isObject,
  rejectionOf,
  severityWord,
  sourceRecord,
  type ImportItem,
  type NewSourceRecord,
  type SourceImporter,
} from './importer.js';
import { jsonLines } from './json-stream.js';

const STATUSES = ['open', 'fixed', 'ignored'];

export function findingRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('a finding is a JSON object');
  const { id, vulnerability, package: pkg } = doc;
  if (typeof id !== 'string' || id.length === 0) throw invalidRecord('finding without a string "id"');
  if (typeof vulnerability !== 'string' || vulnerability.length === 0) {
    throw invalidRecord(`finding ${id}: "vulnerability" must be a non-empty string`);
  }
  if (!isObject(pkg) || typeof pkg['name'] !== 'string')
    throw invalidRecord(`finding ${id}: "package.name" must be a string`);
  if (pkg['ecosystem'] !== undefined && typeof pkg['ecosystem'] !== 'string') {
    throw invalidRecord(`finding ${id}: "package.ecosystem" must be a string`);
  }
  const severities: Severity[] = [];
  if (doc['severity'] !== undefined) {
    const word = severityWord(doc['severity']);
    if (!word) throw invalidRecord(`finding ${id}: "severity" must be critical, high, medium, low or none`);
    severities.push(word);
  }
  if (doc['cvss'] !== undefined) {
    const s = typeof doc['cvss'] === 'string' ? severityOfVector(doc['cvss']) : undefined;
    if (!s) throw invalidRecord(`finding ${id}: "cvss" is not a CVSS vector`);
    severities.push(s);
  }
  if (doc['status'] !== undefined && !STATUSES.includes(doc['status'] as string)) {
    throw invalidRecord(`finding ${id}: "status" must be one of ${STATUSES.join(', ')}`);
  }
  const time = doc['modifiedAt'] ?? doc['detectedAt'];
  return sourceRecord('finding', 'findings', doc, {
    recordId: id,
    ecosystem: (pkg['ecosystem'] as string | undefined) ?? null,
    packages: [pkg['name']],
    severity: highestSeverity(severities),
    modifiedAt: typeof time === 'string' ? time : null,
  });
}

export const findingsImporter: SourceImporter = {
  format: 'findings',
  kinds: ['finding'],
  async *read(input: AsyncIterable<Uint8Array>, _kind: SourceKind): AsyncIterable<ImportItem> {
    for await (const line of jsonLines(input)) {
      const position = `line ${line.line}`;
      if (line.error) {
        yield { rejection: rejectionOf(position, line.error) };
        continue;
      }
      try {
        yield { record: findingRecord(line.value!), position };
      } catch (err) {
        yield { rejection: rejectionOf(position, err) };
      }
    }
  },
};
