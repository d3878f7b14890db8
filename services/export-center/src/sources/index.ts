/** The sources store: contract, importers, repository and ledger reader (docs/export/sources.md). */
export * from './source-record.js';
export { openLedger, openLedgerReader, LEDGER_PAGE_SIZE } from './ledger.js';
export { importSource, DEFAULT_IMPORT_BATCH, type ImportOptions, type ImportSummary } from './import-source.js';
export { appendSourceRecords, sourceCounts, type ImportScope, type AppendOutcome } from './source-store.js';
export { detectFormat, importerOf } from './importers/registry.js';
export { SOURCE_FORMATS, type SourceFormat, type NewSourceRecord, type Rejection } from './importers/importer.js';
