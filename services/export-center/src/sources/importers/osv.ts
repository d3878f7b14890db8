/**
 * OSV advisories (OSV schema 1.x, https://ossf.github.io/osv-schema/): a file is one entry
 * (object) or an array of entries, streamed element by element. Record: recordId = `id`,
 * ecosystem = the first `affected[].package.ecosystem`, packages = every affected package name,
 * severity = the highest of `severity[]` CVSS vectors (scored), `database_specific.severity` and
 * `affected[].{ecosystem,database}_specific.severity` words (GHSA `MODERATE` = medium),
 * modifiedAt = `modified` (required by the schema).
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
import { firstJsonChar, jsonElements, peekPrefix, readDocument } from './json-stream.js';

export function osvRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('an OSV entry is a JSON object');
  const { id, modified } = doc;
  if (typeof id !== 'string' || id.length === 0) throw invalidRecord('OSV entry without a string "id"');
  if (typeof modified !== 'string') throw invalidRecord(`OSV entry ${id}: "modified" must be a string`);
  if (doc['affected'] !== undefined && !Array.isArray(doc['affected'])) {
    throw invalidRecord(`OSV entry ${id}: "affected" must be an array`);
  }
  const affected = ((doc['affected'] as JsonValue[] | undefined) ?? []).filter(isObject);
  const packages: string[] = [];
  let ecosystem: string | null = null;
  const severities: Severity[] = [];
  for (const a of affected) {
    const pkg = a['package'];
    if (isObject(pkg)) {
      if (typeof pkg['name'] === 'string') packages.push(pkg['name']);
      if (ecosystem === null && typeof pkg['ecosystem'] === 'string') ecosystem = pkg['ecosystem'];
    }
    for (const extra of [a['ecosystem_specific'], a['database_specific']]) {
      const s = isObject(extra) ? severityWord(extra['severity']) : undefined;
      if (s) severities.push(s);
    }
  }
  severities.push(...cvssSeverities(doc['severity']));
  const dbSpecific = doc['database_specific'];
  const word = isObject(dbSpecific) ? severityWord(dbSpecific['severity']) : undefined;
  if (word) severities.push(word);
  return sourceRecord('advisory', 'osv', doc, {
    recordId: id,
    ecosystem,
    packages,
    severity: highestSeverity(severities),
    modifiedAt: modified,
  });
}

/** `severity: [{type: "CVSS_V3", score: "CVSS:3.1/…"}]` (OSV §severity; also used by affected[]). */
export function cvssSeverities(list: JsonValue | undefined): Severity[] {
  if (!Array.isArray(list)) return [];
  const out: Severity[] = [];
  for (const s of list) {
    if (!isObject(s) || typeof s['score'] !== 'string') continue;
    const sev = severityOfVector(s['score']) ?? severityWord(s['score']);
    if (sev) out.push(sev);
  }
  return out;
}

export const osvImporter: SourceImporter = {
  format: 'osv',
  kinds: ['advisory'],
  async *read(input: AsyncIterable<Uint8Array>, _kind: SourceKind): AsyncIterable<ImportItem> {
    const peeked = await peekPrefix(input, 1024);
    if (firstJsonChar(peeked.prefix) !== '[') {
      const doc = await readDocument(peeked.input);
      try {
        yield { record: osvRecord(doc), position: 'document' };
      } catch (err) {
        yield { rejection: rejectionOf('document', err) };
      }
      return;
    }
    for await (const ev of jsonElements(peeked.input, null)) {
      if (!('element' in ev)) continue;
      const position = `[${ev.index}]`;
      try {
        yield { record: osvRecord(ev.element), position };
      } catch (err) {
        yield { rejection: rejectionOf(position, err) };
      }
    }
  },
};
