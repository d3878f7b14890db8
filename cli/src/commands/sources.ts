/**
 * `stella sources import <file|dir>…` (issue #10 item 1): streams source files into the
 * tenant's Export Center ledger through the SDK (`POST /v1/sources/{kind}`), one request per
 * file or policy pack, and prints imported / unchanged / rejected with `file:position` reasons.
 * Exit 1 when anything was rejected (docs/export/sources.md "CLI").
 */
import type { Writable } from 'node:stream';
import { ApiError, SourcesApi, type SourceImportSummary, type SourceKind } from '@stella/sdk';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { ONLINE_OPTIONS, clientFrom } from './online-options.js';
import { fileStream, policyPackDocument, sniffKind, sourceUnits } from './sources-files.js';
import { progressBar } from '../progress-bar.js';

const KINDS: readonly SourceKind[] = ['advisory', 'vex', 'sbom', 'finding', 'policy', 'artifact'];
/** A large file may take long to stream; the per-request timeout of other commands is 30 s. */
const IMPORT_TIMEOUT_MS = 60 * 60 * 1000;

interface FileResult {
  file: string;
  kind?: SourceKind;
  format?: string;
  imported: number;
  unchanged: number;
  rejected: { position: string; code: string; message: string }[];
  rejectedCount: number;
}

async function importOne(
  api: SourcesApi,
  unit: { path: string; policyPack: boolean },
  kindOpt: SourceKind | undefined,
  query: { project?: string; global?: boolean },
): Promise<FileResult> {
  const result: FileResult = { file: unit.path, imported: 0, unchanged: 0, rejected: [], rejectedCount: 0 };
  const kind = unit.policyPack ? 'policy' : (kindOpt ?? (await sniffKind(unit.path)));
  if (!kind) {
    result.rejected.push({
      position: 'document',
      code: 'SOURCE_FORMAT_UNKNOWN',
      message: 'not a source format this CLI recognizes (use --kind)',
    });
    result.rejectedCount = 1;
    return result;
  }
  result.kind = kind;
  let body: ReadableStream<Uint8Array>;
  if (unit.policyPack) {
    let doc: Record<string, unknown>;
    try {
      doc = await policyPackDocument(unit.path);
    } catch (err) {
      result.rejected.push({
        position: 'document',
        code: 'SOURCE_RECORD_INVALID',
        message: `policy pack: ${(err as Error).message}`,
      });
      result.rejectedCount = 1;
      return result;
    }
    body = new Blob([JSON.stringify(doc)]).stream();
  } else body = fileStream(unit.path);
  try {
    const s: SourceImportSummary = await api.import(kind, body, query);
    return {
      ...result,
      format: s.format,
      imported: s.imported,
      unchanged: s.unchanged,
      rejected: s.rejected,
      rejectedCount: s.rejectedCount,
    };
  } catch (err) {
    // A whole-file refusal (unknown format for the kind, too large, not allowed) is this file's
    // rejection; the other files go on. Auth and connection problems stop the command.
    if (err instanceof ApiError && [400, 413, 415].includes(err.statusCode)) {
      result.rejected.push({ position: 'document', code: err.code, message: err.message });
      result.rejectedCount = 1;
      return result;
    }
    throw err;
  }
}

export const commands: CommandSpec[] = [
  {
    name: 'sources import',
    summary: 'Import advisories, VEX, SBOMs, findings and policy packs into the Export Center',
    args: '<file|dir>…',
    description: [
      'Streams each file to POST /v1/sources/{kind}. A directory is walked for *.json, *.jsonl and',
      '*.ndjson files; a directory holding policy-pack.json is one policy pack (its other files are',
      'the pack). The kind of each file is detected from its first bytes (or --kind); the server',
      'detects the format (OSV, Alpine secdb, OpenVEX, CSAF, CycloneDX, SPDX, findings JSONL).',
      'Importing the same content again reports it unchanged. Rejected records are printed as',
      'file:position: CODE message; the exit code is 1 if anything was rejected.',
      '',
      'Example: stella sources import ./osv --kind advisory --global',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      kind: { type: 'string', arg: '<kind>', description: `Source kind of every file (${KINDS.join(', ')})` },
      project: { type: 'string', arg: '<project>', description: 'Project of the imported records' },
      global: { type: 'boolean', description: 'Import advisories as global (server must allow the tenant)' },
    },
    positionals: { min: 1 },
    async run(ctx: CommandContext) {
      const kindText = stringOpt(ctx, 'kind');
      if (kindText !== undefined && !KINDS.includes(kindText as SourceKind)) {
        throw new UsageError(`--kind must be one of ${KINDS.join(', ')}, got '${kindText}'`);
      }
      const global = ctx.values.global === true;
      const project = stringOpt(ctx, 'project');
      if (global && project) throw new UsageError('--global advisories belong to no project: drop --project');
      const api = new SourcesApi(clientFrom(ctx, { timeoutMs: IMPORT_TIMEOUT_MS }), ctx.values.tenant as string);
      const units = [];
      for (const p of ctx.positionals) {
        try {
          units.push(...(await sourceUnits(p)));
        } catch (err) {
          throw new UsageError(`cannot read ${p}: ${(err as Error).message}`);
        }
      }
      const bar = progressBar(
        ctx.stderr,
        !ctx.json && (ctx.stderr as Writable & { isTTY?: boolean }).isTTY === true,
        units.length,
      );
      const results: FileResult[] = [];
      try {
        for (const [i, unit] of units.entries()) {
          bar.update(i, unit.path);
          const r = await importOne(api, unit, kindText as SourceKind | undefined, {
            ...(project ? { project } : {}),
            ...(global ? { global } : {}),
          });
          results.push(r);
          if (!ctx.json) {
            bar.clear();
            for (const rej of r.rejected) println(ctx.stderr, `${r.file}:${rej.position}: ${rej.code} ${rej.message}`);
            if (r.rejectedCount > r.rejected.length) {
              println(ctx.stderr, `${r.file}: … ${r.rejectedCount - r.rejected.length} more rejected`);
            }
          }
        }
      } catch (err) {
        bar.clear();
        if (err instanceof ApiError) {
          println(ctx.stderr, `stella sources import: ${err.code}: ${err.message} (HTTP ${err.statusCode})`);
          return EXIT.ERROR;
        }
        throw err;
      }
      bar.clear();
      const totals = {
        files: results.length,
        imported: results.reduce((n, r) => n + r.imported, 0),
        unchanged: results.reduce((n, r) => n + r.unchanged, 0),
        rejected: results.reduce((n, r) => n + r.rejectedCount, 0),
      };
      if (ctx.json) println(ctx.stdout, JSON.stringify({ ...totals, results }));
      else {
        println(
          ctx.stdout,
          `${totals.files} file(s): ${totals.imported} imported, ${totals.unchanged} unchanged, ${totals.rejected} rejected`,
        );
      }
      return totals.rejected > 0 ? EXIT.ERROR : EXIT.OK;
    },
  },
];
