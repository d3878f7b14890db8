/**
 * Policy packs (docs/export/sources.md "Policy packs"): one pack = one record, sent as one JSON
 * document `{apiVersion: "stella.dev/policy-pack/v1", name, version, description?, files:
 * [{path, content}]}` — what `stella sources import` builds from a pack directory (a
 * `policy-pack.json` manifest beside the pack's files). recordId = `<name>@<version>`; paths are
 * relative, `/`-separated, without `.`/`..` segments, unique; contents are UTF-8 text.
 */
import type { JsonValue } from '@stella/core/canonical-json';
import { invalidRecord, isObject, sourceRecord, type NewSourceRecord } from './importer.js';
import { singleDocumentImporter } from './single-document.js';

export const POLICY_PACK_API_VERSION = 'stella.dev/policy-pack/v1';
const NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const SEGMENT = /^(?!\.{1,2}$)[^/\\\0]+$/;

export function policyPackRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('a policy pack is a JSON object');
  if (doc['apiVersion'] !== POLICY_PACK_API_VERSION)
    throw invalidRecord(`"apiVersion" must be ${POLICY_PACK_API_VERSION}`);
  const { name, version, files } = doc;
  if (typeof name !== 'string' || !NAME.test(name)) throw invalidRecord(`"name" must match ${NAME.source}`);
  if (typeof version !== 'string' || version.length === 0 || version.length > 64) {
    throw invalidRecord('"version" must be a string of 1–64 characters');
  }
  if (!Array.isArray(files) || files.length === 0) throw invalidRecord('"files" must be a non-empty array');
  const seen = new Set<string>();
  for (const [i, f] of files.entries()) {
    if (!isObject(f) || typeof f['path'] !== 'string' || typeof f['content'] !== 'string') {
      throw invalidRecord(`files[${i}] must be {"path": string, "content": string}`);
    }
    if (!f['path'].split('/').every((s) => SEGMENT.test(s)))
      throw invalidRecord(`files[${i}].path is not a safe relative path`);
    if (seen.has(f['path'])) throw invalidRecord(`files[${i}].path ${f['path']} appears twice`);
    seen.add(f['path']);
  }
  return sourceRecord('policy', 'policy-pack', doc, { recordId: `${name}@${version}`, packages: [name] });
}

export const policyPackImporter = singleDocumentImporter('policy-pack', ['policy'], policyPackRecord);
