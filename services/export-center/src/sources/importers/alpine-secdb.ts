/**
 * Alpine secdb JSON (secdb.alpinelinux.org: `{distroversion, reponame, urlprefix, apkurl, archs,
 * packages: [{pkg: {name, secfixes: {"<version>": ["CVE-…", …]}}}]}`): one record per package,
 * streamed element by element from `packages`. recordId = `alpine/<distroversion>/<reponame>:<name>`,
 * ecosystem = `Alpine:<distroversion>` (OSV's spelling), packages = [name]; the document is the
 * package entry with the file's distroversion, reponame and urlprefix. secdb has no severity or
 * modified time. (Elements that precede distroversion/reponame in the file are held until the
 * end of the file; secdb files put them first.)
 */
import type { JsonValue } from '@stella/core/canonical-json';
import type { SourceKind } from '../source-record.js';
import {
  invalidRecord,
  isObject,
  rejectionOf,
  sourceRecord,
  type ImportItem,
  type NewSourceRecord,
  type SourceImporter,
} from './importer.js';
import { jsonElements, type JsonScalar } from './json-stream.js';

export function alpineRecord(entry: JsonValue, header: Readonly<Record<string, JsonScalar>>): NewSourceRecord {
  const { distroversion, reponame, urlprefix } = header;
  if (typeof distroversion !== 'string' || typeof reponame !== 'string') {
    throw invalidRecord('the secdb file has no string "distroversion" and "reponame"');
  }
  if (!isObject(entry) || !isObject(entry['pkg'])) throw invalidRecord('a secdb package entry is {"pkg": {…}}');
  const pkg = entry['pkg'];
  if (typeof pkg['name'] !== 'string' || pkg['name'].length === 0)
    throw invalidRecord('secdb package without a string "name"');
  if (pkg['secfixes'] !== undefined && !isObject(pkg['secfixes'])) {
    throw invalidRecord(`secdb package ${pkg['name']}: "secfixes" must be an object`);
  }
  const doc: JsonValue = { distroversion, reponame, ...(typeof urlprefix === 'string' ? { urlprefix } : {}), pkg };
  return sourceRecord('advisory', 'alpine-secdb', doc, {
    recordId: `alpine/${distroversion}/${reponame}:${pkg['name']}`,
    ecosystem: `Alpine:${distroversion}`,
    packages: [pkg['name']],
  });
}

export const alpineSecdbImporter: SourceImporter = {
  format: 'alpine-secdb',
  kinds: ['advisory'],
  async *read(input: AsyncIterable<Uint8Array>, _kind: SourceKind): AsyncIterable<ImportItem> {
    const pending: { element: JsonValue; position: string }[] = [];
    const map = function* (element: JsonValue, position: string, header: Readonly<Record<string, JsonScalar>>) {
      try {
        yield { record: alpineRecord(element, header), position };
      } catch (err) {
        yield { rejection: rejectionOf(position, err) };
      }
    };
    for await (const ev of jsonElements(input, 'packages')) {
      if ('element' in ev) {
        const position = `packages[${ev.index}]`;
        if (typeof ev.header['distroversion'] !== 'string' || typeof ev.header['reponame'] !== 'string') {
          pending.push({ element: ev.element, position });
        } else yield* map(ev.element, position, ev.header);
      } else {
        for (const p of pending) yield* map(p.element, p.position, ev.header);
      }
    }
  },
};
