/**
 * The importer shape of the formats whose record is the whole file (OpenVEX, CSAF, CycloneDX,
 * SPDX, a policy pack): one bounded read (MAX_RECORD_BYTES), one strict parse, one mapping.
 */
import type { JsonValue } from '@stella/core/canonical-json';
import type { SourceKind } from '../source-record.js';
import {
  rejectionOf,
  type ImportItem,
  type NewSourceRecord,
  type SourceFormat,
  type SourceImporter,
} from './importer.js';
import { readDocument } from './json-stream.js';

export function singleDocumentImporter(
  format: SourceFormat,
  kinds: readonly SourceKind[],
  map: (doc: JsonValue, kind: SourceKind) => NewSourceRecord,
): SourceImporter {
  return {
    format,
    kinds,
    async *read(input: AsyncIterable<Uint8Array>, kind: SourceKind): AsyncIterable<ImportItem> {
      const doc = await readDocument(input);
      try {
        yield { record: map(doc, kind), position: 'document' };
      } catch (err) {
        yield { rejection: rejectionOf('document', err) };
      }
    },
  };
}
