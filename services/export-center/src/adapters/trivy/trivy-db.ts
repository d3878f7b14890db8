/**
 * `trivy:db` (issue #14; docs/export/trivy-db.md): the snapshot's advisories as a Trivy
 * vulnerability DB, schema v2 — `trivy/trivy.db` (bbolt, our streaming writer), `trivy/metadata.json`
 * and `trivy/db.tar.gz` (both at its root, what Trivy's OCI artifact layer and cache hold).
 *
 * Flow: records → Trivy entries (mapping.ts) → an external sort by (bucket path, key) → grouped
 * and merged (duplicates by the documented precedence) → the bbolt writer, which streams pages to a
 * temporary file → the bundle sink and the deterministic tar.gz. Memory is bounded by the sort
 * buffer (32 MiB) and the writer's per-level pages, not by the number of advisories.
 *
 * Bytes are a function of the records and the options only: metadata times come from the fixed
 * export time when the profile sets one, else from the newest record `modifiedAt` (zero time when
 * none has one), never from the clock.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StellaError } from '@stella/core/errors';
import { createTarGz } from '@stella/core/tar';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SourceRecord } from '../../sources/source-record.js';
import type { AdapterInput, AdapterResult, ExportAdapter } from '../adapter.js';
import { OptionChecker, pointer } from '../option-checks.js';
import { RecordCursor } from '../record-stream.js';
import { BboltWriter, MAX_KEY_SIZE } from './bbolt/writer.js';
import {
  advisoryJson,
  alpineEntries,
  dataSourceJson,
  goTime,
  normalizeVulnerability,
  osvEntries,
  type Advisory,
  type Detail,
  type Entry,
  UNCOMPARABLE_RECORD,
} from './mapping.js';
import { ExternalSorter } from './sorter.js';
import { writeTrivyOciLayout } from './oci-artifact.js';

export const TRIVY_SCHEMA_VERSION = 2;
export const TRIVY_DIR = 'trivy';
export const TRIVY_DB_LAYER_MEDIA_TYPE = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
export const BBOLT_MEDIA_TYPE = 'application/vnd.etcd.bbolt';
const VULNERABILITY_BUCKET = 'vulnerability';
const DATA_SOURCE_BUCKET = 'data-source';
const ZERO_TIME = '0001-01-01T00:00:00Z';
const SEP = 0;
/** Most records named one by one in the counts (the rest are summed under `…more`). */
const MAX_LISTED = 100;

type Counts = Record<string, number>;

/** metadata.json exactly as trivy-db's metadata.Client writes it (json.Encoder: one line + \n). */
export function metadataJson(updatedAt: string, nextUpdateHours: number): string {
  const updated = new Date(updatedAt);
  const next = new Date(updated.getTime() + nextUpdateHours * 3_600_000);
  const iso = (d: Date): string => goTime(d.toISOString())!;
  return `${JSON.stringify({ Version: TRIVY_SCHEMA_VERSION, NextUpdate: iso(next), UpdatedAt: iso(updated), DownloadedAt: ZERO_TIME })}\n`;
}

/**
 * db.tar.gz as Trivy's artifact layer holds it: `trivy.db` and `metadata.json` at the root,
 * deterministic (core tar writer). The one place it is made — the export and the delta rebuild
 * (delta/trivy-delta.ts) must produce the same bytes.
 */
export function trivyDbArchive(dbPath: string, dbSize: number, metadata: Buffer, gzipLevel: number): Readable {
  return createTarGz(
    [
      { path: 'trivy.db', size: dbSize, body: () => createReadStream(dbPath) },
      { path: 'metadata.json', size: metadata.length, body: metadata },
    ],
    { parentDirectories: false, gzipLevel },
  );
}

function sortKey(parts: readonly string[]): Buffer | undefined {
  const bufs = parts.map((p) => Buffer.from(p, 'utf8'));
  if (bufs.some((b) => b.length === 0 || b.includes(SEP) || b.length > MAX_KEY_SIZE)) return undefined;
  const out: Buffer[] = [];
  bufs.forEach((b, i) => out.push(...(i ? [Buffer.of(SEP), b] : [b])));
  return Buffer.concat(out);
}

function splitKey(key: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= key.length; i++)
    if (i === key.length || key[i] === SEP) {
      parts.push(key.subarray(start, i));
      start = i + 1;
    }
  return parts;
}

/** Value in the sort: the entry type tag, then its JSON. */
function encodeEntry(e: Entry): { key: string[]; value: Buffer } {
  switch (e.t) {
    case 'advisory':
      return { key: [e.bucket, e.pkg, e.id], value: Buffer.from(`a${JSON.stringify(e.adv)}`) };
    case 'source':
      return { key: [DATA_SOURCE_BUCKET, e.bucket], value: Buffer.from(`s${dataSourceJson(e.ds)}`) };
    case 'detail':
      return { key: [VULNERABILITY_BUCKET, e.id], value: Buffer.from(`d${JSON.stringify(e.detail)}`) };
  }
}

/** One stored value from all sort entries with the same key (in input order). */
function mergeGroup(parts: Buffer[], values: Buffer[], counts: Counts): Buffer | undefined {
  const tag = String.fromCharCode(values[0]![0]!);
  const bodies = values.map((v) => v.subarray(1).toString('utf8'));
  if (tag === 's') return Buffer.from(bodies[0]!); // same bucket name → same data source
  if (tag === 'a') {
    // The same vuln id for the same package in one bucket from several records: the last record
    // (greatest record id) wins, as trivy-db's builder overwrites in its lexical file walk.
    if (bodies.length > 1)
      counts['duplicates.advisoryReplaced'] = (counts['duplicates.advisoryReplaced'] ?? 0) + bodies.length - 1;
    counts['trivy.advisories'] = (counts['trivy.advisories'] ?? 0) + 1;
    return Buffer.from(advisoryJson(JSON.parse(bodies[bodies.length - 1]!) as Advisory));
  }
  // Vulnerability details: one per source (the last record of a source wins), merged by precedence.
  const bySource = new Map<string, Detail>();
  for (const b of bodies) {
    const d = JSON.parse(b) as Detail;
    if (bySource.has(d.source)) counts['duplicates.detailReplaced'] = (counts['duplicates.detailReplaced'] ?? 0) + 1;
    bySource.set(d.source, d);
  }
  counts['trivy.vulnerabilities'] = (counts['trivy.vulnerabilities'] ?? 0) + 1;
  return Buffer.from(JSON.stringify(normalizeVulnerability(parts[parts.length - 1]!.toString('utf8'), bySource)));
}

async function collect(input: AdapterInput, sorter: ExternalSorter, counts: Counts): Promise<string | null> {
  const cursor = new RecordCursor(input);
  let listed = 0;
  const tally = (what: string, n = 1): void => {
    // Records named in the counts (versions Trivy cannot compare): the first MAX_LISTED, then a sum.
    if (what.startsWith(UNCOMPARABLE_RECORD) && counts[what] === undefined && ++listed > MAX_LISTED)
      what = `${UNCOMPARABLE_RECORD}…more`;
    counts[what] = (counts[what] ?? 0) + n;
  };
  let newest: string | null = null;
  for await (const r of input.records as AsyncIterable<SourceRecord>) {
    cursor.step();
    tally(`format.${r.format}`);
    let entries: Iterable<Entry>;
    if (r.kind !== 'advisory') {
      tally(`skipped.kind.${r.kind}`);
      continue;
    } else if (r.format === 'osv') entries = osvEntries(r, tally);
    else if (r.format === 'alpine-secdb') entries = alpineEntries(r, tally);
    else {
      tally(`skipped.format.${r.format}`);
      continue;
    }
    let any = false;
    for (const e of entries) {
      const { key, value } = encodeEntry(e);
      const k = sortKey(key);
      if (!k) {
        tally('skipped.unusableName'); // empty, NUL-carrying or > 32 KiB bucket/package/id
        continue;
      }
      any = true;
      await sorter.add(k, value);
    }
    if (any) {
      tally('records.exported');
      if (r.modifiedAt && (newest === null || r.modifiedAt > newest)) newest = r.modifiedAt;
    } else tally('records.withoutAdvisory');
  }
  cursor.finish();
  counts['records'] = cursor.count;
  return newest;
}

/** Writes the sorted entries into the bbolt file, opening and closing buckets along the paths. */
async function writeDb(path: string, sorter: ExternalSorter, counts: Counts, signal: AbortSignal): Promise<void> {
  const w = await BboltWriter.create(path);
  try {
    const open: Buffer[] = [];
    let groupKey: Buffer | null = null;
    let group: Buffer[] = [];
    const flush = async (): Promise<void> => {
      if (!groupKey) return;
      const parts = splitKey(groupKey);
      const value = mergeGroup(parts, group, counts);
      const buckets = parts.slice(0, -1);
      let common = 0;
      while (common < open.length && common < buckets.length && open[common]!.equals(buckets[common]!)) common++;
      while (open.length > common) {
        await w.closeBucket();
        open.pop();
      }
      for (const b of buckets.slice(common)) {
        await w.openBucket(b);
        open.push(b);
        if (open.length === 1) counts['trivy.buckets'] = (counts['trivy.buckets'] ?? 0) + 1;
      }
      if (value) await w.put(parts[parts.length - 1]!, value);
    };
    let n = 0;
    for await (const { key, value } of sorter.sorted()) {
      if (++n % 4096 === 0) signal.throwIfAborted();
      if (groupKey && groupKey.equals(key)) {
        group.push(value);
        continue;
      }
      await flush();
      groupKey = key;
      group = [value];
    }
    await flush();
    const r = await w.finish();
    counts['trivy.pages'] = r.pages;
  } catch (err) {
    await w.abort();
    throw err;
  }
}

export const trivyDbAdapter: ExportAdapter = {
  id: 'trivy:db',
  // 2: the OCI layout (trivy/oci/…) is written beside db.tar.gz.
  version: '2',
  sourceKinds: ['advisory'],

  validateOptions(raw) {
    const c = new OptionChecker(raw, ['schemaVersion', 'nextUpdateHours', 'gzipLevel', 'ociLayout']);
    const v = c.options['schemaVersion'];
    if (v !== undefined && v !== TRIVY_SCHEMA_VERSION)
      c.problem(
        pointer('schemaVersion'),
        `Trivy DB schema ${JSON.stringify(v)} is not supported; this adapter writes schema ${TRIVY_SCHEMA_VERSION} (what Trivy v0.74 reads)`,
      );
    const nextUpdateHours = c.integer('nextUpdateHours', 1, 24 * 366, 24);
    const gzipLevel = c.integer('gzipLevel', 1, 9, 6);
    const ociLayout = c.boolean('ociLayout', true);
    if (c.problems.length) return { ok: false, problems: c.problems };
    return { ok: true, options: { schemaVersion: TRIVY_SCHEMA_VERSION, nextUpdateHours, gzipLevel, ociLayout } };
  },

  async write(input: AdapterInput): Promise<AdapterResult> {
    if (input.options['schemaVersion'] !== TRIVY_SCHEMA_VERSION)
      throw new StellaError('EXPORT_PROFILE_INVALID', `trivy:db writes schema ${TRIVY_SCHEMA_VERSION} only`, {
        details: { schemaVersion: input.options['schemaVersion'] },
      });
    const nextUpdateHours = input.options['nextUpdateHours'] as number;
    const gzipLevel = input.options['gzipLevel'] as number;
    const work = await mkdtemp(join(tmpdir(), 'stella-trivy-db-'));
    const sorter = new ExternalSorter(work);
    const counts: Counts = {};
    try {
      const newest = await collect(input, sorter, counts);
      const dbPath = join(work, 'trivy.db');
      await writeDb(dbPath, sorter, counts, input.signal);
      await sorter.dispose();
      const updatedAt = input.exportTime ?? newest ?? ZERO_TIME;
      const meta = Buffer.from(metadataJson(updatedAt, nextUpdateHours), 'utf8');
      const size = (await stat(dbPath)).size;
      await input.out.writeFile(`${TRIVY_DIR}/trivy.db`, createReadStream(dbPath), BBOLT_MEDIA_TYPE);
      await input.out.writeFile(`${TRIVY_DIR}/metadata.json`, meta, 'application/json');
      const tgz = trivyDbArchive(dbPath, size, meta, gzipLevel);
      // db.tar.gz goes to the work dir first: the bundle holds it twice when the OCI layout is on
      // (as trivy/db.tar.gz and as the layout's layer blob), and gzip runs once.
      const tgzPath = join(work, 'db.tar.gz');
      await pipeline(tgz, createWriteStream(tgzPath));
      const archive = await input.out.writeFile(
        `${TRIVY_DIR}/db.tar.gz`,
        createReadStream(tgzPath),
        TRIVY_DB_LAYER_MEDIA_TYPE,
      );
      if (input.options['ociLayout'] !== false) {
        await writeTrivyOciLayout(input.out, `${TRIVY_DIR}/oci`, {
          layer: { digest: archive.digest, size: archive.size, body: () => createReadStream(tgzPath) },
          created: goTime(new Date(updatedAt).toISOString())!,
        });
        counts['trivy.ociLayout'] = 1;
      }
      return { counts };
    } finally {
      await sorter.dispose().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  },
};
