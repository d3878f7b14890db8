/**
 * `applyDelta` — the one entry point of `stella export apply-delta` (ADR 0018): finds the delta's
 * `delta.json` (in a directory, or inside an export bundle `.tgz`, which is verified first), reads
 * its `kind` and hands it to the applier registered for that kind. Kinds now: `trivy:db-delta`
 * (adapters/trivy/delta). Issue #15's `mirror:delta` registers beside it; nothing else changes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseJson } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { readTarGz } from '@stella/core/tar';
import {
  DELTA_MANIFEST_FILE,
  TRIVY_DELTA_KIND,
  applyTrivyDbDelta,
  parseTrivyDeltaManifest,
  type ApplyDeltaResult,
} from '../adapters/trivy/delta/trivy-delta.js';
import { verifyExportBundle } from '../bundle/verify-export.js';

/** Applies one kind of delta: `deltaDir` holds its delta.json (already parsed as `manifest`). */
export type DeltaApplier = (input: {
  deltaDir: string;
  manifest: unknown;
  base: string;
  outDir: string;
}) => Promise<ApplyDeltaResult>;

/** The registered delta kinds (`delta.json` `kind` → applier). */
export const DELTA_APPLIERS: Readonly<Record<string, DeltaApplier>> = {
  [TRIVY_DELTA_KIND]: ({ deltaDir, manifest, base, outDir }) =>
    applyTrivyDbDelta({ deltaDir, base, outDir }, parseTrivyDeltaManifest(manifest)),
};

function invalid(why: string, details: Record<string, unknown> = {}): StellaError {
  return new StellaError('EXPORT_DELTA_INVALID', why, { details: { reason: why, ...details } });
}

/** The directory holding delta.json: `dir` itself or exactly one sub-directory of it. */
async function findDeltaDir(dir: string): Promise<string> {
  const here = await stat(join(dir, DELTA_MANIFEST_FILE)).catch(() => undefined);
  if (here?.isFile()) return dir;
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }))
    if (e.isDirectory() && (await stat(join(dir, e.name, DELTA_MANIFEST_FILE)).catch(() => undefined))?.isFile())
      found.push(join(dir, e.name));
  if (found.length !== 1)
    throw invalid(
      found.length === 0
        ? `${dir} holds no ${DELTA_MANIFEST_FILE} (neither at its root nor one directory down)`
        : `${dir} holds ${found.length} deltas (${found.join(', ')}); apply one at a time`,
    );
  return found[0]!;
}

/** Options of {@link applyDelta}. */
export interface ApplyDeltaInput {
  /** A directory with a delta (or an unpacked bundle holding one), or an export bundle `.tgz`. */
  readonly delta: string;
  readonly base: string;
  readonly outDir: string;
  /** For a bundle: the trusted export key (SPKI PEM); without it the bundle's own key is used. */
  readonly publicKeyPem?: string;
}

/**
 * Applies a delta of any registered kind. A bundle `.tgz` is checked with the export verifier
 * first (a failed check is EXPORT_DELTA_INVALID naming it) and unpacked into a temp directory.
 */
export async function applyDelta(input: ApplyDeltaInput): Promise<ApplyDeltaResult & { verified?: boolean }> {
  const st = await stat(input.delta);
  let work: string | undefined;
  try {
    let dir = input.delta;
    let verified: boolean | undefined;
    if (st.isFile()) {
      const report = await verifyExportBundle(
        createReadStream(input.delta),
        input.publicKeyPem ? { publicKeyPem: input.publicKeyPem } : {},
      );
      const failed = report.checks.filter((c) => c.status === 'fail');
      if (!report.ok)
        throw invalid(
          `${input.delta}: the export bundle does not verify (${failed.map((c) => `${c.check}${c.detail ? `: ${c.detail}` : ''}`).join('; ') || 'no signature check passed'})`,
          { failed: failed.map((c) => c.check) },
        );
      verified = true;
      await mkdir(dirname(input.outDir), { recursive: true });
      work = await mkdtemp(join(dirname(input.outDir), '.delta-bundle-'));
      for await (const e of readTarGz(createReadStream(input.delta))) {
        if (e.type === 'directory') {
          await mkdir(join(work, e.path), { recursive: true });
          continue;
        }
        if (e.type !== 'file') continue;
        await mkdir(dirname(join(work, e.path)), { recursive: true });
        await pipeline(e.body, createWriteStream(join(work, e.path)));
      }
      dir = work;
    }
    const deltaDir = await findDeltaDir(dir);
    const raw = await readFile(join(deltaDir, DELTA_MANIFEST_FILE));
    let manifest: unknown;
    try {
      manifest = parseJson(raw);
    } catch (e) {
      throw invalid(`${join(deltaDir, DELTA_MANIFEST_FILE)} is not JSON (${(e as Error).message})`);
    }
    const kind = (manifest as { kind?: unknown } | null)?.kind;
    const applier = typeof kind === 'string' ? DELTA_APPLIERS[kind] : undefined;
    if (!applier)
      throw invalid(
        `unknown delta kind ${JSON.stringify(kind ?? null)}; this build applies: ${Object.keys(DELTA_APPLIERS).sort().join(', ')}`,
        { kind: kind ?? null },
      );
    const r = await applier({ deltaDir, manifest, base: input.base, outDir: input.outDir });
    return verified ? { ...r, verified } : r;
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
}
