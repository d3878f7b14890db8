/**
 * The sources routes (issue #10 item 1): `POST /v1/sources/{kind}` imports one document (or a
 * JSON Lines stream of findings) into the tenant's ledger — streamed, idempotent by content
 * digest, each rejected record reported with its position — and `GET /v1/sources` counts what the
 * tenant can read per kind, with the ledger head a run would pin. docs/export/sources.md.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type RoutePlugin } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { importSource } from '../sources/import-source.js';
import { SOURCE_FORMATS, type SourceFormat } from '../sources/importers/importer.js';
import { openLedger } from '../sources/ledger.js';
import { SOURCE_KINDS, type SourceKind } from '../sources/source-record.js';
import { sourceCounts } from '../sources/source-store.js';

export const SOURCES_TAG = 'sources';
const BODY_TYPES = ['application/json', 'application/x-ndjson', 'application/jsonl', 'text/tab-separated-values'];

const Rejection = Type.Object(
  {
    position: Type.String({
      description: '`document`, `[3]`, `packages[7]`, `line 12`, `after [9], at byte 4096` …',
    }),
    code: Type.String({ description: 'A code of docs/errors.md (SOURCE_RECORD_INVALID, SOURCE_SYNTAX, …).' }),
    message: Type.String(),
  },
  { additionalProperties: false },
);

const ImportSummary = Type.Object(
  {
    kind: Type.Union(SOURCE_KINDS.map((k) => Type.Literal(k))),
    format: Type.Union(SOURCE_FORMATS.map((f) => Type.Literal(f))),
    global: Type.Boolean(),
    imported: Type.Integer({ minimum: 0, description: 'New records or new versions appended to the ledger.' }),
    unchanged: Type.Integer({ minimum: 0, description: 'Records whose current version has the same digest.' }),
    rejected: Type.Array(Rejection, { description: 'The first 1000 rejections, in input order.' }),
    rejectedCount: Type.Integer({ minimum: 0 }),
    ledgerSeq: Type.String({ pattern: '^[0-9]+$', description: 'Highest sequence written (0: nothing written).' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        kind: 'advisory',
        format: 'osv',
        global: false,
        imported: 2,
        unchanged: 1,
        rejected: [{ position: '[3]', code: 'SOURCE_RECORD_INVALID', message: 'OSV entry without a string "id"' }],
        rejectedCount: 1,
        ledgerSeq: '42',
      },
    ],
  },
);

const Counts = Type.Object(
  {
    headSeq: Type.String({ pattern: '^[0-9]+$', description: 'The ledger head this tenant sees: what a run pins.' }),
    kinds: Type.Array(
      Type.Object(
        {
          kind: Type.String(),
          records: Type.Integer({ minimum: 0, description: "The tenant's own records (current versions)." }),
          globalRecords: Type.Integer({ minimum: 0, description: 'Global advisories.' }),
          headSeq: Type.String({ pattern: '^[0-9]+$' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        headSeq: '42',
        kinds: [
          { kind: 'advisory', records: 10, globalRecords: 1500, headSeq: '42' },
          { kind: 'sbom', records: 3, globalRecords: 0, headSeq: '17' },
        ],
      },
    ],
  },
);

export function sourcesRoutes(deps: ServiceDeps): RoutePlugin {
  const globalWriters = (deps.settings['STELLA_EXPORT_GLOBAL_SOURCE_TENANTS'] as readonly string[] | undefined) ?? [];
  return (app) => {
    // The body is the raw stream: importers parse it incrementally (strict I-JSON per document).
    app.removeContentTypeParser(BODY_TYPES.filter((t) => app.hasContentTypeParser(t)));
    app.addContentTypeParser(BODY_TYPES, (_req, payload, done) => done(null, payload));

    app.post(
      '/v1/sources/:kind',
      {
        config: tenantRoute('export:profile:manage'),
        schema: {
          tags: [SOURCES_TAG],
          summary: 'Import source records (streamed; idempotent by content digest)',
          description:
            'Body: one document of the kind — an OSV entry or array of entries, an Alpine secdb file (advisory); an OpenVEX, CSAF or CycloneDX VEX document (vex); a CycloneDX or SPDX SBOM (sbom); findings as JSON Lines (finding, `application/x-ndjson`); a policy pack document (policy); Maven index rows as JSON Lines or trivy-java-db TSV (artifact, `application/x-ndjson` or `text/tab-separated-values`). ' +
            'The format is detected from the first bytes unless `format` names it. Each record is appended as a new version only when its RFC 8785 digest differs from its current version (else `unchanged`). ' +
            'Malformed records are skipped and listed with their position; the rest imports. `global=true` writes global advisories, readable by every tenant — only for tenants in STELLA_EXPORT_GLOBAL_SOURCE_TENANTS (403 SOURCE_GLOBAL_FORBIDDEN otherwise).',
          params: Type.Object({ kind: Type.Union(SOURCE_KINDS.map((k) => Type.Literal(k))) }),
          querystring: Type.Object(
            {
              format: Type.Optional(Type.Union(SOURCE_FORMATS.map((f) => Type.Literal(f)))),
              project: Type.Optional(
                Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' }),
              ),
              global: Type.Boolean({ default: false }),
            },
            { additionalProperties: false },
          ),
          response: { 200: ImportSummary, ...errorResponses(400, 401, 403, 413, 415) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const kind = req.params.kind as SourceKind;
        const { format, project, global } = req.query;
        if (global && (kind !== 'advisory' || !globalWriters.includes(ctx.tenant))) {
          throw new StellaError(
            'SOURCE_GLOBAL_FORBIDDEN',
            kind !== 'advisory'
              ? 'only advisories can be global'
              : `tenant ${ctx.tenant} may not write global advisories`,
          );
        }
        if (global && project) throw new StellaError('VALIDATION_FAILED', 'global advisories belong to no project');
        const body = (req.body as Readable | undefined) ?? Readable.from([]);
        const summary = await importSource(body, {
          kind,
          ...(format ? { format: format as SourceFormat } : {}),
          scope: { tenant: ctx.tenant, global, project: project ?? null },
          transaction: (fn) => ctx.transaction(fn),
        });
        await ctx.transaction((tx) =>
          tx.audit({
            action: 'sources.import',
            resource: kind,
            details: {
              format: summary.format,
              global,
              project: project ?? null,
              imported: summary.imported,
              unchanged: summary.unchanged,
              rejected: summary.rejectedCount,
              ledgerSeq: summary.ledgerSeq.toString(),
            },
          }),
        );
        return { kind, global, ...summary, ledgerSeq: summary.ledgerSeq.toString() };
      },
    );

    app.get(
      '/v1/sources',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [SOURCES_TAG],
          summary: 'What the tenant can export: current records per kind and the ledger head',
          response: { 200: Counts, ...errorResponses(400, 401, 403) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const kinds = await ctx.transaction((tx) => sourceCounts(tx, ctx.tenant));
        const head = await openLedger(deps.db, ctx.tenant).head();
        return {
          headSeq: head.toString(),
          kinds: kinds.map((k) => ({ ...k, headSeq: k.headSeq.toString() })),
        };
      },
    );
  };
}
