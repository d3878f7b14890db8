/**
 * `trivy:java-db` (issue #14 item 2; docs/formats/trivy-java-db.md): the snapshot's Maven index
 * rows (source kind `artifact`, format `maven-index`) as a Trivy Java DB, schema v1 —
 * `trivy-java/trivy-java.db` (SQLite), `trivy-java/metadata.json` and `trivy-java/javadb.tar.gz`
 * (both at its root: what Trivy's OCI layer `application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip`
 * and its `<cache>/java-db/` hold), and — option `ociLayout`, default on — `trivy-java/oci/`, the
 * OCI image layout of the artifact Trivy pulls with `--java-db-repository` (oci-artifact.ts: one
 * layer of that media type titled `javadb.tar.gz`, tag `1`; spec §2 and §6.4).
 *
 * Flow: records → an external sort by (sha1, classifier?, recordId), which picks one row per
 * SHA-1 (the unique index `indices_sha1_idx`: rows without a classifier win, as trivy-java-db
 * inserts them first; then the smaller recordId) → an external sort by (group, artifact, version,
 * type, sha1) → the SQLite writer (ids in that order) → VACUUM. Memory is bounded by the sort
 * buffers and SQLite's page cache. Bytes depend only on the records and options; times come from
 * the fixed export time, else the newest record `modifiedAt`, else the zero time — never the clock.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StellaError } from '@stella/core/errors';
import { createTarGz } from '@stella/core/tar';
import type { SourceRecord } from '../../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter } from '../adapter.js';
import { OptionChecker, pointer } from '../option-checks.js';
import { RecordCursor } from '../record-stream.js';
import { JAVA_DB_SCHEMA_VERSION, JavaDbWriter } from './java-db-writer.js';
import { goTime } from './mapping.js';
import { TRIVY_JAVA_DB_ARTIFACT, writeTrivyOciLayout } from './oci-artifact.js';
import { ExternalSorter } from './sorter.js';

export const TRIVY_JAVA_DIR = 'trivy-java';
export const TRIVY_JAVADB_LAYER_MEDIA_TYPE = 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip';
export const SQLITE_MEDIA_TYPE = 'application/vnd.sqlite3';
const ZERO_TIME = '0001-01-01T00:00:00Z';
const SEP = Buffer.of(0);

type Counts = Record<string, number>;

/** trivy-java-db metadata.json (db.Metadata through json.Encoder: one line + \n). */
export function javaMetadataJson(updatedAt: string, nextUpdateHours: number): string {
  const updated = new Date(updatedAt);
  const next = new Date(updated.getTime() + nextUpdateHours * 3_600_000);
  const iso = (d: Date): string => goTime(d.toISOString())!;
  return `${JSON.stringify({ Version: JAVA_DB_SCHEMA_VERSION, NextUpdate: iso(next), UpdatedAt: iso(updated), DownloadedAt: ZERO_TIME })}\n`;
}

interface Row {
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
  sha1: string;
  archiveType: string;
}

const COORD = /^[^\s:\p{Cc}]{1,512}$/u;

/** The row of a stored maven-index document, or undefined when it is not one (counted). */
function rowOf(doc: unknown): Row | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  const ok = (v: unknown): v is string => typeof v === 'string' && COORD.test(v);
  if (!ok(d['groupId']) || !ok(d['artifactId']) || !ok(d['version'])) return undefined;
  if (d['classifier'] !== undefined && !ok(d['classifier'])) return undefined;
  if (typeof d['sha1'] !== 'string' || !/^[0-9a-f]{40}$/.test(d['sha1'])) return undefined;
  if (d['archiveType'] !== 'jar' && d['archiveType'] !== 'aar') return undefined;
  return d as unknown as Row;
}

async function collect(input: AdapterInput, bySha: ExternalSorter, counts: Counts): Promise<string | null> {
  const cursor = new RecordCursor(input);
  const tally = (what: string, n = 1): void => {
    counts[what] = (counts[what] ?? 0) + n;
  };
  let newest: string | null = null;
  for await (const r of input.records as AsyncIterable<SourceRecord>) {
    cursor.step();
    tally(`format.${r.format}`);
    if (r.kind !== 'artifact' || r.format !== 'maven-index') {
      tally(r.kind !== 'artifact' ? `skipped.kind.${r.kind}` : `skipped.format.${r.format}`);
      continue;
    }
    const row = rowOf(r.document);
    if (!row) {
      tally('skipped.invalid');
      continue;
    }
    const key = Buffer.concat([
      Buffer.from(row.sha1, 'hex'),
      Buffer.of(row.classifier ? 1 : 0),
      Buffer.from(r.recordId, 'utf8'),
    ]);
    await bySha.add(key, Buffer.from(JSON.stringify([r.recordId, row])));
    if (r.modifiedAt && (newest === null || r.modifiedAt > newest)) newest = r.modifiedAt;
  }
  cursor.finish();
  counts['records'] = cursor.count;
  return newest;
}

/**
 * One row per SHA-1 into the second sort: the first of each group (no classifier before a
 * classifier, then the smallest recordId); the others are counted `duplicates.sha1Ignored`.
 */
async function pickPerSha1(bySha: ExternalSorter, byGav: ExternalSorter, counts: Counts): Promise<void> {
  let lastSha: Buffer | null = null;
  for await (const { key, value } of bySha.sorted()) {
    const sha = key.subarray(0, 20);
    if (lastSha && lastSha.equals(sha)) {
      counts['duplicates.sha1Ignored'] = (counts['duplicates.sha1Ignored'] ?? 0) + 1;
      continue;
    }
    lastSha = Buffer.from(sha);
    const row = (JSON.parse(value.toString('utf8')) as [string, Row])[1];
    const gav = Buffer.concat([
      Buffer.from(row.groupId),
      SEP,
      Buffer.from(row.artifactId),
      SEP,
      Buffer.from(row.version),
      SEP,
      Buffer.from(row.archiveType),
      SEP,
      sha,
    ]);
    await byGav.add(gav, Buffer.from(JSON.stringify(row)));
  }
}

export const trivyJavaDbAdapter: ExportAdapter = {
  id: 'trivy:java-db',
  // 2: the OCI layout (trivy-java/oci/…) is written beside javadb.tar.gz.
  version: '2',
  sourceKinds: ['artifact'],

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['schemaVersion', 'nextUpdateHours', 'gzipLevel', 'ociLayout']);
    const v = c.options['schemaVersion'];
    if (v !== undefined && v !== JAVA_DB_SCHEMA_VERSION)
      c.problem(
        pointer('schemaVersion'),
        `Trivy Java DB schema ${JSON.stringify(v)} is not supported; this adapter writes schema ${JAVA_DB_SCHEMA_VERSION} (what Trivy v0.74 reads)`,
      );
    const nextUpdateHours = c.integer('nextUpdateHours', 1, 24 * 366, 72);
    const gzipLevel = c.integer('gzipLevel', 1, 9, 6);
    const ociLayout = c.boolean('ociLayout', true);
    if (c.problems.length) return { ok: false, problems: c.problems };
    return { ok: true, options: { schemaVersion: JAVA_DB_SCHEMA_VERSION, nextUpdateHours, gzipLevel, ociLayout } };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    if (input.options['schemaVersion'] !== JAVA_DB_SCHEMA_VERSION)
      throw new StellaError('EXPORT_PROFILE_INVALID', `trivy:java-db writes schema ${JAVA_DB_SCHEMA_VERSION} only`, {
        details: { schemaVersion: input.options['schemaVersion'] },
      });
    const nextUpdateHours = input.options['nextUpdateHours'] as number;
    const gzipLevel = input.options['gzipLevel'] as number;
    const work = await mkdtemp(join(tmpdir(), 'stella-trivy-java-db-'));
    await mkdir(join(work, 'sha'));
    await mkdir(join(work, 'gav'));
    const bySha = new ExternalSorter(join(work, 'sha'));
    const byGav = new ExternalSorter(join(work, 'gav'));
    const counts: Counts = {};
    try {
      const newest = await collect(input, bySha, counts);
      await pickPerSha1(bySha, byGav, counts);
      await bySha.dispose();
      const dbPath = join(work, 'trivy-java.db');
      const w = JavaDbWriter.create(dbPath);
      try {
        let n = 0;
        for await (const { key, value } of byGav.sorted()) {
          if (++n % 4096 === 0) input.signal.throwIfAborted();
          const row = JSON.parse(value.toString('utf8')) as Row;
          w.add({ ...row, sha1: key.subarray(key.length - 20) });
        }
        input.signal.throwIfAborted();
        counts['javadb.indices'] = w.rows;
        counts['javadb.artifacts'] = w.artifacts;
        w.finish();
      } catch (err) {
        w.abort();
        throw err;
      }
      await byGav.dispose();
      const updatedAt = input.exportTime ?? newest ?? ZERO_TIME;
      const meta = Buffer.from(javaMetadataJson(updatedAt, nextUpdateHours), 'utf8');
      const size = (await stat(dbPath)).size;
      await input.out.writeFile(`${TRIVY_JAVA_DIR}/trivy-java.db`, createReadStream(dbPath), SQLITE_MEDIA_TYPE);
      await input.out.writeFile(`${TRIVY_JAVA_DIR}/metadata.json`, meta, 'application/json');
      const tgz = createTarGz(
        [
          { path: 'trivy-java.db', size, body: () => createReadStream(dbPath) },
          { path: 'metadata.json', size: meta.length, body: meta },
        ],
        { parentDirectories: false, gzipLevel },
      );
      // javadb.tar.gz goes to the work dir first: with the OCI layout on, the bundle holds it twice
      // (trivy-java/javadb.tar.gz and the layout's layer blob), and gzip runs once.
      const tgzPath = join(work, 'javadb.tar.gz');
      await pipeline(tgz, createWriteStream(tgzPath));
      const archive = await input.out.writeFile(
        `${TRIVY_JAVA_DIR}/javadb.tar.gz`,
        createReadStream(tgzPath),
        TRIVY_JAVADB_LAYER_MEDIA_TYPE,
      );
      if (input.options['ociLayout'] !== false) {
        await writeTrivyOciLayout(input.out, `${TRIVY_JAVA_DIR}/oci`, {
          layer: { digest: archive.digest, size: archive.size, body: () => createReadStream(tgzPath) },
          created: goTime(new Date(updatedAt).toISOString())!,
          kind: TRIVY_JAVA_DB_ARTIFACT,
        });
        counts['javadb.ociLayout'] = 1;
      }
      return { counts };
    } finally {
      await bySha.dispose().catch(() => undefined);
      await byGav.dispose().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  },
};
