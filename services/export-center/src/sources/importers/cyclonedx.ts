/**
 * CycloneDX BOMs (JSON, spec 1.2–1.6): one BOM = one record, an `sbom`, or a `vex` when imported
 * as VEX (a BOM whose `vulnerabilities[]` carry `analysis`). recordId = `serialNumber` (CycloneDX
 * §serialNumber: unique per BOM, the same across its versions), else the document's own digest
 * `sha256:<hex>` (such a BOM has no identity across versions; `metadata.component` is not one —
 * several VEX documents describe one product); packages = component purl names (or names), nested
 * components included; ecosystem = the first purl type; severity = the highest
 * `vulnerabilities[].ratings[]` (`severity` word or `score`); modifiedAt = `metadata.timestamp`.
 */
import { canonicalizeJcs, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import type { Severity, SourceKind } from '../source-record.js';
import {
  highestSeverity,
  invalidRecord,
  isObject,
  severityOfScore,
  severityWord,
  sourceRecord,
  type NewSourceRecord,
} from './importer.js';
import { parsePurl } from './purl.js';
import { singleDocumentImporter } from './single-document.js';

export function cyclonedxRecord(doc: JsonValue, kind: SourceKind): NewSourceRecord {
  if (!isObject(doc) || doc['bomFormat'] !== 'CycloneDX') throw invalidRecord('not a CycloneDX BOM ("bomFormat")');
  const metadata = isObject(doc['metadata']) ? doc['metadata'] : {};
  const recordId = typeof doc['serialNumber'] === 'string' && doc['serialNumber'] ? doc['serialNumber'] : undefined;
  if (doc['components'] !== undefined && !Array.isArray(doc['components'])) {
    throw invalidRecord(`CycloneDX BOM ${recordId}: "components" must be an array`);
  }
  const names: string[] = [];
  let ecosystem: string | null = null;
  const stack: JsonValue[] = [...((doc['components'] as JsonValue[] | undefined) ?? [])];
  while (stack.length) {
    const c = stack.pop()!;
    if (!isObject(c)) continue;
    const purl = parsePurl(c['purl']);
    if (purl) {
      names.push(purl.name);
      ecosystem ??= purl.type;
    } else if (typeof c['name'] === 'string') {
      names.push(typeof c['group'] === 'string' && c['group'] ? `${c['group']}/${c['name']}` : c['name']);
    }
    if (Array.isArray(c['components'])) stack.push(...c['components']);
  }
  const severities: Severity[] = [];
  for (const v of Array.isArray(doc['vulnerabilities']) ? doc['vulnerabilities'] : []) {
    if (!isObject(v) || !Array.isArray(v['ratings'])) continue;
    for (const r of v['ratings']) {
      if (!isObject(r)) continue;
      const word = severityWord(r['severity']);
      if (word) severities.push(word);
      else if (typeof r['score'] === 'number') severities.push(severityOfScore(r['score']));
    }
  }
  for (const v of Array.isArray(doc['vulnerabilities']) ? doc['vulnerabilities'] : []) {
    for (const a of isObject(v) && Array.isArray(v['affects']) ? v['affects'] : []) {
      const purl = isObject(a) ? parsePurl(a['ref']) : undefined;
      if (purl) {
        names.push(purl.name);
        ecosystem ??= purl.type;
      }
    }
  }
  return sourceRecord(kind, 'cyclonedx', doc, {
    recordId: recordId ?? sha256Digest(canonicalizeJcs(doc)),
    ecosystem,
    packages: names,
    severity: highestSeverity(severities),
    modifiedAt: typeof metadata['timestamp'] === 'string' ? metadata['timestamp'] : null,
  });
}

export const cyclonedxImporter = singleDocumentImporter('cyclonedx', ['sbom', 'vex'], cyclonedxRecord);
