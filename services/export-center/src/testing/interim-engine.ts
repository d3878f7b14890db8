/**
 * INTERIM (removed when the sources ledger and the bundle writer land on this branch): a ledger
 * over an in-memory record list, a staging sink and a sealer that packs the staged files with the
 * core tar writer — just enough for the run state machine tests to start before the real seams.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createTarGz } from '@stella/core/tar';
import type { ExportFile } from '../adapters/adapter.js';
import type { CreateStagingSink, SealExportBundle, StagingSink } from '../bundle/export-bundle.js';
import type { LedgerReader, OpenLedger, SourceFilter, SourceRecord } from '../sources/source-record.js';

export function memoryLedger(records: SourceRecord[]): OpenLedger {
  return (_db, tenant): LedgerReader => {
    const visible = (filter: SourceFilter, at: bigint) => {
      const latest = new Map<string, SourceRecord>();
      for (const r of records)
        if ((r.tenant === tenant || r.tenant === null) && r.ledgerSeq <= at && filter.kinds.includes(r.kind))
          latest.set(`${r.kind}\u0000${r.recordId}`, r);
      return [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    };
    return {
      head: () => Promise.resolve(records.reduce((m, r) => (r.ledgerSeq > m ? r.ledgerSeq : m), 0n)),
      async *iterate(filter, at, signal) {
        for (const r of visible(filter, at)) {
          signal?.throwIfAborted();
          yield r;
        }
      },
      count: (filter, at) => {
        const v = visible(filter, at);
        return Promise.resolve({
          records: v.length,
          bytes: v.reduce((n, r) => n + JSON.stringify(r.document).length, 0),
        });
      },
    };
  };
}

export const interimStagingSink: CreateStagingSink = async (parent) => {
  const dir = await mkdtemp(join(parent, 'staging-'));
  const files: ExportFile[] = [];
  const sink: StagingSink = {
    dir,
    files: () => [...files].sort((a, b) => (a.path < b.path ? -1 : 1)),
    async writeFile(path, body, mediaType) {
      const target = join(dir, path);
      await mkdir(dirname(target), { recursive: true });
      const hash = createHash('sha256');
      let size = 0;
      async function* counted() {
        for await (const chunk of body instanceof Uint8Array ? [body] : body) {
          hash.update(chunk);
          size += chunk.byteLength;
          yield chunk;
        }
      }
      await pipeline(counted, createWriteStream(target));
      const f = { path, mediaType, size, digest: `sha256:${hash.digest('hex')}` };
      files.push(f);
      return f;
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
  return sink;
};

export const interimSeal: SealExportBundle = async (staging, manifest) => {
  const files = staging.files();
  const manifestBytes = new TextEncoder().encode(
    JSON.stringify({ run: manifest.run.id, ledgerSeq: manifest.ledgerSeq.toString(), counts: manifest.counts, files }),
  );
  const archivePath = join(dirname(staging.dir), 'export.tgz');
  await pipeline(
    createTarGz([
      { path: 'export.json', body: manifestBytes },
      ...files.map((f) => ({ path: f.path, size: f.size, body: () => createReadStream(join(staging.dir, f.path)) })),
    ]),
    createWriteStream(archivePath),
  );
  const hash = createHash('sha256');
  for await (const c of createReadStream(archivePath)) hash.update(c as Buffer);
  const rerun = createHash('sha256').update(files.map((f) => f.digest).join('\n'));
  return {
    archivePath,
    archiveDigest: `sha256:${hash.digest('hex')}`,
    archiveSize: (await stat(archivePath)).size,
    manifestDigest: `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`,
    rerunHash: `sha256:${rerun.digest('hex')}`,
    keyId: 'interim',
    files,
  };
};
