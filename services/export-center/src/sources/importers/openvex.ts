/**
 * OpenVEX documents (v0.0.1 and v0.2.0, https://github.com/openvex/spec): one document = one
 * record. recordId = `@id`; packages and ecosystem from the products' purls (`@id` or
 * `identifiers.purl`; v0.0.1 products are plain strings); modifiedAt = `last_updated` or
 * `timestamp`. VEX states no severity: 'unknown'.
 */
import type { JsonValue } from '@stella/core/canonical-json';
import { invalidRecord, isObject, sourceRecord, type NewSourceRecord } from './importer.js';
import { parsePurl } from './purl.js';
import { singleDocumentImporter } from './single-document.js';

export function openvexRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('an OpenVEX document is a JSON object');
  const id = doc['@id'];
  if (typeof id !== 'string' || id.length === 0) throw invalidRecord('OpenVEX document without a string "@id"');
  const statements = doc['statements'];
  if (!Array.isArray(statements)) throw invalidRecord(`OpenVEX document ${id}: "statements" must be an array`);
  const purls: string[] = [];
  for (const s of statements) {
    if (!isObject(s)) throw invalidRecord(`OpenVEX document ${id}: every statement is an object`);
    for (const p of Array.isArray(s['products']) ? s['products'] : []) {
      if (typeof p === 'string') purls.push(p);
      else if (isObject(p)) {
        if (typeof p['@id'] === 'string') purls.push(p['@id']);
        const ids = p['identifiers'];
        if (isObject(ids) && typeof ids['purl'] === 'string') purls.push(ids['purl']);
      }
    }
  }
  const parsed = purls.map(parsePurl).filter((p) => p !== undefined);
  return sourceRecord('vex', 'openvex', doc, {
    recordId: id,
    ecosystem: parsed[0]?.type ?? null,
    packages: parsed.map((p) => p.name),
    modifiedAt: (doc['last_updated'] as string | undefined) ?? (doc['timestamp'] as string | undefined) ?? null,
  });
}

export const openvexImporter = singleDocumentImporter('openvex', ['vex'], openvexRecord);
