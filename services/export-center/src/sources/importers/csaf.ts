/**
 * CSAF 2.0 documents (OASIS CSAF v2.0; the VEX profile and security advisories): one document =
 * one record of kind `vex`. recordId = `document.tracking.id`; modifiedAt =
 * `document.tracking.current_release_date`; packages = product purls
 * (`product_identification_helper.purl`) or, without them, product names, from the whole
 * `product_tree` (branches recursively); severity = the highest of `vulnerabilities[].scores[]`
 * (`cvss_v3.baseSeverity`/`baseScore`, `cvss_v2.baseScore`) and `document.aggregate_severity.text`.
 */
import type { JsonValue } from '@stella/core/canonical-json';
import type { Severity } from '../source-record.js';
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

export function csafRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc) || !isObject(doc['document'])) throw invalidRecord('a CSAF document is an object with "document"');
  const tracking = doc['document']['tracking'];
  if (!isObject(tracking) || typeof tracking['id'] !== 'string' || tracking['id'].length === 0) {
    throw invalidRecord('CSAF document without a string "document.tracking.id"');
  }
  const names: string[] = [];
  const purls: { type: string; name: string }[] = [];
  const stack: JsonValue[] = [doc['product_tree'] ?? null];
  while (stack.length) {
    const node = stack.pop()!;
    if (Array.isArray(node)) stack.push(...node);
    else if (isObject(node)) {
      const helper = node['product_identification_helper'];
      const purl = isObject(helper) ? parsePurl(helper['purl']) : undefined;
      if (purl) purls.push(purl);
      if (typeof node['name'] === 'string' && typeof node['product_id'] === 'string') names.push(node['name']);
      for (const k of ['branches', 'full_product_names', 'product']) if (node[k] !== undefined) stack.push(node[k]!);
    }
  }
  const severities: Severity[] = [];
  const agg = doc['document']['aggregate_severity'];
  const aggWord = isObject(agg) ? severityWord(agg['text']) : undefined;
  if (aggWord) severities.push(aggWord);
  for (const v of Array.isArray(doc['vulnerabilities']) ? doc['vulnerabilities'] : []) {
    if (!isObject(v) || !Array.isArray(v['scores'])) continue;
    for (const s of v['scores']) {
      if (!isObject(s)) continue;
      for (const key of ['cvss_v3', 'cvss_v2']) {
        const c = s[key];
        if (!isObject(c)) continue;
        const word = severityWord(c['baseSeverity']);
        if (word) severities.push(word);
        else if (typeof c['baseScore'] === 'number') severities.push(severityOfScore(c['baseScore']));
      }
    }
  }
  return sourceRecord('vex', 'csaf', doc, {
    recordId: tracking['id'],
    ecosystem: purls[0]?.type ?? null,
    packages: purls.length > 0 ? purls.map((p) => p.name) : names,
    severity: highestSeverity(severities),
    modifiedAt: typeof tracking['current_release_date'] === 'string' ? tracking['current_release_date'] : null,
  });
}

export const csafImporter = singleDocumentImporter('csaf', ['vex'], csafRecord);
