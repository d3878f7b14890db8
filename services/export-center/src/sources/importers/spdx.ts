/**
 * SPDX SBOMs: SPDX 2.2/2.3 JSON (recordId = `documentNamespace`, packages = `packages[]` purl
 * names from `externalRefs` (PACKAGE-MANAGER purl) or names, modifiedAt = `creationInfo.created`)
 * and SPDX 3.0 JSON-LD (recordId = the `SpdxDocument` element's `spdxId`, packages = the
 * `software_Package` names, modifiedAt = the earliest `CreationInfo.created`).
 */
import type { JsonValue } from '@stella/core/canonical-json';
import { invalidRecord, isObject, sourceRecord, type NewSourceRecord } from './importer.js';
import { parsePurl } from './purl.js';
import { singleDocumentImporter } from './single-document.js';

export function spdxRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('an SPDX document is a JSON object');
  if (Array.isArray(doc['@graph'])) return spdx3Record(doc, doc['@graph']);
  const ns = doc['documentNamespace'];
  if (typeof ns !== 'string' || ns.length === 0) throw invalidRecord('SPDX 2 document without "documentNamespace"');
  if (doc['packages'] !== undefined && !Array.isArray(doc['packages'])) {
    throw invalidRecord(`SPDX document ${ns}: "packages" must be an array`);
  }
  const names: string[] = [];
  let ecosystem: string | null = null;
  for (const p of (doc['packages'] as JsonValue[] | undefined) ?? []) {
    if (!isObject(p)) continue;
    const refs = Array.isArray(p['externalRefs']) ? p['externalRefs'].filter(isObject) : [];
    const purl = refs
      .map((r) => (r['referenceType'] === 'purl' ? parsePurl(r['referenceLocator']) : undefined))
      .find(Boolean);
    if (purl) {
      names.push(purl.name);
      ecosystem ??= purl.type;
    } else if (typeof p['name'] === 'string') names.push(p['name']);
  }
  const info = doc['creationInfo'];
  return sourceRecord('sbom', 'spdx', doc, {
    recordId: ns,
    ecosystem,
    packages: names,
    modifiedAt: isObject(info) && typeof info['created'] === 'string' ? info['created'] : null,
  });
}

function spdx3Record(doc: JsonValue, graph: JsonValue[]): NewSourceRecord {
  const elements = graph.filter(isObject);
  const document = elements.find((e) => e['type'] === 'SpdxDocument');
  if (!document || typeof document['spdxId'] !== 'string')
    throw invalidRecord('SPDX 3 graph without an SpdxDocument element');
  const created = elements
    .filter((e) => e['type'] === 'CreationInfo' && typeof e['created'] === 'string')
    .map((e) => e['created'] as string)
    .sort()[0];
  return sourceRecord('sbom', 'spdx', doc, {
    recordId: document['spdxId'],
    packages: elements
      .filter((e) => e['type'] === 'software_Package' && typeof e['name'] === 'string')
      .map((e) => e['name'] as string),
    modifiedAt: created ?? null,
  });
}

export const spdxImporter = singleDocumentImporter('spdx', ['sbom'], spdxRecord);
