/**
 * Maven artifact index rows (docs/export/sources.md "Maven index"): what identifies a jar by its
 * SHA-1 — the input of the `trivy:java-db` export (spec shared/specs/trivy-db-and-oci.md §2). One
 * artifact per line, streamed; each line is either a JSON object
 *
 *   {"groupId": "antlr", "artifactId": "antlr", "version": "2.7.7", "sha1": "83cd2cd6…",
 *    "archiveType": "jar", "classifier": "sources", "modifiedAt": "…"}
 *
 * (`archiveType` jar | aar, default jar; `classifier`, `modifiedAt` optional) or a line of
 * trivy-java-db's index TSV, `GroupID\tArtifactID\tVersion\tClassifier\tSHA1` (pkg/index/reader.go,
 * always a jar). Stored document: `{groupId, artifactId, version, [classifier], sha1, archiveType}`
 * with the SHA-1 in lower-case hex. recordId = Maven's coordinate form
 * `<groupId>:<artifactId>:<archiveType>[:<classifier>]:<version>`; ecosystem `Maven`; packages
 * [`<groupId>:<artifactId>`]. Rows without a usable SHA-1 (`N/A`, not 40 hex digits, all zeros)
 * are rejected with their line, not stored.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseJson, type JsonValue } from '@stella/core/canonical-json';
import { isStellaError, StellaError } from '@stella/core/errors';
import type { SourceKind } from '../source-record.js';
import {
  invalidRecord,
  isObject,
  MAX_RECORD_BYTES,
  rejectionOf,
  sourceRecord,
  type ImportItem,
  type NewSourceRecord,
  type SourceImporter,
} from './importer.js';
import { syntaxError } from './json-stream.js';

export const ARCHIVE_TYPES = ['jar', 'aar'] as const;
const FIELDS = ['groupId', 'artifactId', 'version', 'classifier', 'sha1', 'archiveType', 'modifiedAt'];
/** Maven coordinates hold no whitespace, control characters or `:` (the coordinate separator). */
const COORDINATE = /^[^\s:\p{Cc}]{1,512}$/u;

function coordinate(v: unknown, name: string, optional = false): string | undefined {
  if (optional && (v === undefined || v === '')) return undefined;
  if (typeof v !== 'string' || !COORDINATE.test(v))
    throw invalidRecord(`"${name}" must be 1–512 characters without whitespace, control characters or ":"`, {
      field: name,
    });
  return v;
}

/** One artifact (JSON object form) → its record. */
export function mavenArtifactRecord(doc: JsonValue): NewSourceRecord {
  if (!isObject(doc)) throw invalidRecord('a Maven index row is a JSON object');
  const extra = Object.keys(doc).filter((k) => !FIELDS.includes(k));
  if (extra.length) throw invalidRecord(`unknown field ${JSON.stringify(extra[0])}`, { field: extra[0] });
  const groupId = coordinate(doc['groupId'], 'groupId')!;
  const artifactId = coordinate(doc['artifactId'], 'artifactId')!;
  const version = coordinate(doc['version'], 'version')!;
  const classifier = coordinate(doc['classifier'], 'classifier', true);
  const archiveType = doc['archiveType'] ?? 'jar';
  if (!(ARCHIVE_TYPES as readonly unknown[]).includes(archiveType))
    throw invalidRecord(`"archiveType" must be one of ${ARCHIVE_TYPES.join(', ')}`, { field: 'archiveType' });
  const raw = doc['sha1'];
  if (raw === 'N/A') throw invalidRecord(`${groupId}:${artifactId}:${version} has no SHA-1 (N/A)`, { field: 'sha1' });
  if (typeof raw !== 'string' || !/^[0-9a-fA-F]{40}$/.test(raw))
    throw invalidRecord('"sha1" must be 40 hexadecimal digits', { field: 'sha1' });
  const sha1 = raw.toLowerCase();
  if (/^0+$/.test(sha1)) throw invalidRecord('"sha1" is all zeros (no digest)', { field: 'sha1' });
  if (doc['modifiedAt'] !== undefined && typeof doc['modifiedAt'] !== 'string')
    throw invalidRecord('"modifiedAt" must be an ISO 8601 string', { field: 'modifiedAt' });
  const stored: Record<string, JsonValue> = { groupId, artifactId, version };
  if (classifier) stored['classifier'] = classifier;
  stored['sha1'] = sha1;
  stored['archiveType'] = archiveType as string;
  return sourceRecord('artifact', 'maven-index', stored, {
    recordId: `${groupId}:${artifactId}:${archiveType as string}${classifier ? `:${classifier}` : ''}:${version}`,
    ecosystem: 'Maven',
    packages: [`${groupId}:${artifactId}`],
    modifiedAt: (doc['modifiedAt'] as string | undefined) ?? null,
  });
}

/** One TSV line of trivy-java-db's index → the JSON form (trailing whitespace ignored). */
export function tsvRow(line: string): Record<string, JsonValue> {
  const cols = line.replace(/\s+$/, '').split('\t');
  if (cols.length !== 5)
    throw invalidRecord(
      `a TSV row has 5 tab-separated columns (GroupID ArtifactID Version Classifier SHA1), not ${cols.length}`,
    );
  const [groupId, artifactId, version, classifier, sha1] = cols as [string, string, string, string, string];
  return { groupId, artifactId, version, ...(classifier ? { classifier } : {}), sha1, archiveType: 'jar' };
}

export const mavenIndexImporter: SourceImporter = {
  format: 'maven-index',
  kinds: ['artifact'],
  async *read(input: AsyncIterable<Uint8Array>, _kind: SourceKind): AsyncIterable<ImportItem> {
    const lines = createInterface({ input: Readable.from(input), crlfDelay: Infinity });
    let n = 0;
    for await (const text of lines) {
      n++;
      const position = `line ${n}`;
      if (text.trim().length === 0) continue;
      try {
        if (Buffer.byteLength(text, 'utf8') > Math.min(MAX_RECORD_BYTES, 64 * 1024))
          throw new StellaError('SOURCE_RECORD_TOO_LARGE', `line ${n} is over 64 KiB`);
        let doc: JsonValue;
        if (text.trimStart().startsWith('{')) {
          try {
            doc = parseJson(text);
          } catch (err) {
            if (!isStellaError(err)) throw err;
            throw syntaxError(position, `line ${n} is not valid JSON: ${err.message}`);
          }
        } else doc = tsvRow(text);
        yield { record: mavenArtifactRecord(doc), position };
      } catch (err) {
        yield { rejection: rejectionOf(position, err) };
      }
    }
  },
};
