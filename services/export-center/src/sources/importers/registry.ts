/**
 * The importers by format, and format detection from the start of an input (docs/export/sources.md
 * "Formats"). Adding a format is one module here plus its entry.
 */
import { StellaError } from '@stella/core/errors';
import type { SourceKind } from '../source-record.js';
import type { SourceFormat, SourceImporter } from './importer.js';
import { firstJsonChar } from './json-stream.js';
import { alpineSecdbImporter } from './alpine-secdb.js';
import { csafImporter } from './csaf.js';
import { cyclonedxImporter } from './cyclonedx.js';
import { findingsImporter } from './findings.js';
import { mavenIndexImporter } from './maven-index.js';
import { openvexImporter } from './openvex.js';
import { osvImporter } from './osv.js';
import { policyPackImporter } from './policy-pack.js';
import { spdxImporter } from './spdx.js';

const IMPORTERS: Record<SourceFormat, SourceImporter> = {
  osv: osvImporter,
  'alpine-secdb': alpineSecdbImporter,
  openvex: openvexImporter,
  csaf: csafImporter,
  cyclonedx: cyclonedxImporter,
  spdx: spdxImporter,
  findings: findingsImporter,
  'policy-pack': policyPackImporter,
  'maven-index': mavenIndexImporter,
};

export function importerOf(format: SourceFormat): SourceImporter {
  const importer = IMPORTERS[format];
  if (!importer)
    throw new StellaError('SOURCE_FORMAT_UNKNOWN', `no importer for format ${format}`, { details: { format } });
  return importer;
}

/**
 * The format of an input of `kind`, from its first bytes: member names that only that format
 * uses near the start of a document. SOURCE_FORMAT_UNKNOWN when none matches.
 */
export function detectFormat(kind: SourceKind, prefix: string): SourceFormat {
  const has = (re: RegExp) => re.test(prefix);
  const first = firstJsonChar(prefix);
  const format = ((): SourceFormat | undefined => {
    switch (kind) {
      case 'finding':
        return 'findings';
      case 'artifact':
        return 'maven-index';
      case 'policy':
        return first === '{' ? 'policy-pack' : undefined;
      case 'advisory':
        if (has(/"distroversion"\s*:/) && has(/"packages"\s*:/)) return 'alpine-secdb';
        if (first === '[' || has(/"(modified|schema_version)"\s*:/)) return 'osv';
        return undefined;
      case 'vex':
        if (has(/"csaf_version"\s*:/)) return 'csaf';
        if (has(/"@context"\s*:\s*"https:\/\/openvex\.dev\/ns/)) return 'openvex';
        if (has(/"bomFormat"\s*:\s*"CycloneDX"/)) return 'cyclonedx';
        return undefined;
      case 'sbom':
        if (has(/"bomFormat"\s*:\s*"CycloneDX"/)) return 'cyclonedx';
        if (has(/"spdxVersion"\s*:\s*"SPDX-/) || has(/spdx\.org\/rdf\/3/)) return 'spdx';
        return undefined;
    }
  })();
  if (!format) {
    throw new StellaError('SOURCE_FORMAT_UNKNOWN', `the input is not a format that carries ${kind} records`, {
      details: { kind },
    });
  }
  return format;
}
