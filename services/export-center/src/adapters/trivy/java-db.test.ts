/**
 * `trivy:java-db` on the real Maven index rows of the datasets (maven-index/: trivy-java-db's
 * crawler fixtures, the rows derived from the dropwizard SBOM), imported with the real
 * `maven-index` importer: Debian's sqlite3 finds the file sound (integrity_check,
 * foreign_key_check), its schema is trivy-java-db's, every row is found by its SHA-1 with the
 * query Trivy runs; one row per SHA-1 by the documented precedence; same input → byte-identical
 * trivy-java.db and javadb.tar.gz. (The real trivy identifying a jar by its SHA-1 through this
 * DB is in trivy-scan.test.ts.)
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { createStagingSink } from '../../bundle/staging-sink.js';
import { importerOf } from '../../sources/importers/registry.js';
import type { SourceRecord } from '../../sources/source-record.js';
import { iterate, ledgerOrder } from '../../testing/index.js';
import { getAdapter } from '../registry.js';

const adapter = getAdapter('trivy:java-db');
const skip = needTool('sqlite3') || needTool('tar');

/** The spec's schema (trivy-java-db pkg/db/db.go Init), as sqlite_master holds it. */
const SPEC_SCHEMA = [
  ['table', 'artifacts', 'CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT)'],
  [
    'table',
    'indices',
    'CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id))',
  ],
  ['index', 'artifacts_idx', 'CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id)'],
  ['index', 'indices_artifact_idx', 'CREATE INDEX indices_artifact_idx ON indices(artifact_id)'],
  ['index', 'indices_sha1_idx', 'CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1)'],
];

/** Maven index files through the real importer, as ledger records; rejections returned too. */
export async function mavenRecords(
  files: string[],
): Promise<{ records: SourceRecord[]; rejected: { file: string; position: string; code: string }[] }> {
  const records: SourceRecord[] = [];
  const rejected: { file: string; position: string; code: string }[] = [];
  let seq = 0n;
  for (const file of files)
    for await (const item of importerOf('maven-index').read(createReadStream(file), 'artifact')) {
      if ('rejection' in item) {
        rejected.push({ file, position: item.rejection.position, code: item.rejection.code });
        continue;
      }
      const r = item.record;
      records.push({
        kind: r.kind,
        recordId: r.recordId,
        tenant: 'acme',
        project: null,
        ledgerSeq: ++seq,
        digest: r.digest,
        format: r.format,
        ecosystem: r.ecosystem,
        packages: r.packages,
        severity: r.severity,
        modifiedAt: r.modifiedAt,
        document: JSON.parse(r.canonical) as unknown,
      });
    }
  // The ledger holds one version per recordId (the latest); keep the last one read.
  const byId = new Map(records.map((r) => [r.recordId, r]));
  return { records: ledgerOrder([...byId.values()]), rejected };
}

export async function mavenIndexFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['maven-index/trivy-java-db-testdata', 'maven-index/derived-from-cyclonedx'])
    for (const f of (await readdir(join(datasetsDir, sub))).sort())
      if (f.endsWith('.tsv') || f.endsWith('.tsv.golden')) out.push(join(datasetsDir, sub, f));
  return out;
}

let dir: { path: string; cleanup: () => Promise<void> };
before(async () => {
  dir = await tempDir('stella-trivy-java-');
});
after(async () => {
  await dir?.cleanup();
});

async function exportDb(name: string, recs: SourceRecord[], options: unknown = {}, exportTime: string | null = null) {
  const v = adapter.validateOptions(options);
  assert.ok(v.ok, JSON.stringify(v));
  const s = await createStagingSink(join(dir.path, name));
  const result = await adapter.write({
    records: iterate(recs),
    options: v.options,
    out: s,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime,
  });
  return { dir: s.dir, counts: result.counts, files: s.files() };
}

async function sql(db: string, query: string): Promise<string[][]> {
  const r = await run('sqlite3', ['-readonly', '-separator', '\t', db, query]);
  assert.equal(r.code, 0, r.stderr.toString());
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

type Doc = { groupId: string; artifactId: string; version: string; classifier?: string; sha1: string };

describe('trivy:java-db on the real Maven index rows', { skip }, () => {
  let records: SourceRecord[];
  let rejected: { file: string; position: string; code: string }[];
  let first: Awaited<ReturnType<typeof exportDb>>;
  before(async () => {
    ({ records, rejected } = await mavenRecords(await mavenIndexFiles()));
    first = await exportDb('a', records);
  });

  test('importer: the all-zero SHA-1 rows of the fixture are rejected with their line, the rest imports', () => {
    assert.ok(records.length > 140, `${records.length} rows`);
    assert.ok(rejected.length > 0);
    for (const r of rejected) {
      assert.match(r.file, /abbot-with-index\.tsv\.golden$/);
      assert.equal(r.code, 'SOURCE_RECORD_INVALID');
      assert.match(r.position, /^line \d+$/);
    }
  });

  test('sqlite3: integrity_check ok, no foreign key problems, schema = the spec, page size 4096', async () => {
    const db = join(first.dir, 'trivy-java/trivy-java.db');
    assert.deepEqual(await sql(db, 'PRAGMA integrity_check'), [['ok']]);
    assert.deepEqual(await sql(db, 'PRAGMA foreign_key_check'), []);
    assert.deepEqual(await sql(db, 'PRAGMA page_size'), [['4096']]);
    assert.deepEqual(await sql(db, 'PRAGMA freelist_count'), [['0']], 'VACUUMed');
    assert.deepEqual(await sql(db, 'SELECT type, name, sql FROM sqlite_master ORDER BY rowid'), SPEC_SCHEMA);
    assert.equal((await readFile(db)).subarray(0, 16).toString('latin1'), 'SQLite format 3\0');
  });

  test('every SHA-1 finds its artifact with the query Trivy runs; one row per SHA-1, no classifier first', async () => {
    const db = join(first.dir, 'trivy-java/trivy-java.db');
    // Expected from the records: per sha1 the row without classifier, else the smallest recordId.
    const want = new Map<string, { doc: Doc; recordId: string }>();
    for (const r of records) {
      const doc = r.document as Doc;
      const prev = want.get(doc.sha1);
      const rank = (x: { doc: Doc; recordId: string }) => [x.doc.classifier ? 1 : 0, x.recordId] as const;
      const cand = { doc, recordId: r.recordId };
      if (!prev) want.set(doc.sha1, cand);
      else {
        const [a, b] = [rank(cand), rank(prev)];
        if (a[0] < b[0] || (a[0] === b[0] && Buffer.compare(Buffer.from(a[1]), Buffer.from(b[1])) < 0))
          want.set(doc.sha1, cand);
      }
    }
    assert.equal(first.counts['javadb.indices'], want.size);
    assert.equal(first.counts['duplicates.sha1Ignored'] ?? 0, records.length - want.size);
    assert.ok((first.counts['duplicates.sha1Ignored'] ?? 0) >= 1, 'abbot 0.13.0 "copy" shares the plain jar’s SHA-1');
    // trivy-java-db SelectIndexBySha1, for every sha1 at once.
    const rows = await sql(
      db,
      `SELECT hex(i.sha1), length(i.sha1), a.group_id, a.artifact_id, i.version, i.archive_type
         FROM indices i JOIN artifacts a ON a.id = i.artifact_id ORDER BY i.rowid`,
    );
    assert.equal(rows.length, want.size);
    for (const [hex, len, g, a, v, t] of rows) {
      assert.equal(len, '20', 'raw 20-byte sha1');
      const w = want.get(hex!.toLowerCase());
      assert.ok(w, `sha1 ${hex}`);
      assert.deepEqual([g, a, v, t], [w.doc.groupId, w.doc.artifactId, w.doc.version, 'jar']);
    }
    const abbot = await sql(
      db,
      "SELECT i.version FROM indices i JOIN artifacts a ON a.id = i.artifact_id WHERE i.sha1 = x'596d91e67631b0deb05fb685d8d1b6735f3e4f60'",
    );
    assert.deepEqual(abbot, [['0.13.0']]);
    // Artifacts: one per (group, artifact), ids 1.. in byte order of (group, artifact).
    const arts = await sql(db, 'SELECT id, group_id, artifact_id FROM artifacts ORDER BY id');
    const pairs = [...new Set([...want.values()].map((w) => `${w.doc.groupId}\0${w.doc.artifactId}`))].sort((x, y) =>
      Buffer.compare(Buffer.from(x), Buffer.from(y)),
    );
    assert.deepEqual(
      arts,
      pairs.map((p, i) => [String(i + 1), ...p.split('\0')]),
    );
  });

  test('files, metadata.json, javadb.tar.gz; same input → byte-identical files', async () => {
    // Plus the OCI layout under trivy-java/oci/ (java-db-oci.test.ts).
    assert.deepEqual(
      first.files
        .map((f) => f.path)
        .filter((p) => !p.startsWith('trivy-java/oci/'))
        .sort(),
      ['trivy-java/javadb.tar.gz', 'trivy-java/metadata.json', 'trivy-java/trivy-java.db'],
    );
    const tgz = first.files.find((f) => f.path.endsWith('javadb.tar.gz'))!;
    assert.equal(tgz.mediaType, 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip');
    assert.equal(
      await readFile(join(first.dir, 'trivy-java/metadata.json'), 'utf8'),
      '{"Version":1,"NextUpdate":"0001-01-04T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}\n',
      'no record has a time and no export time: the zero time (never the clock)',
    );
    const second = await exportDb('b', [...records].reverse().reverse());
    for (const f of ['trivy-java/trivy-java.db', 'trivy-java/javadb.tar.gz', 'trivy-java/metadata.json'])
      assert.ok((await readFile(join(first.dir, f))).equals(await readFile(join(second.dir, f))), `${f} identical`);
    const x = join(dir.path, 'x');
    await mkdir(x);
    assert.equal((await run('tar', ['-xzf', join(first.dir, 'trivy-java/javadb.tar.gz'), '-C', x])).code, 0);
    assert.deepEqual((await readdir(x)).sort(), ['metadata.json', 'trivy-java.db']);
    assert.ok(
      (await readFile(join(x, 'trivy-java.db'))).equals(await readFile(join(first.dir, 'trivy-java/trivy-java.db'))),
    );
    const timed = await exportDb('c', records.slice(0, 3), { nextUpdateHours: 24 }, '2026-11-27T04:00:00.000Z');
    assert.equal(
      await readFile(join(timed.dir, 'trivy-java/metadata.json'), 'utf8'),
      '{"Version":1,"NextUpdate":"2026-11-28T04:00:00Z","UpdatedAt":"2026-11-27T04:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}\n',
    );
  });

  test('other kinds and broken documents are counted; a cancel leaves no file and no temp dir', async () => {
    const odd: SourceRecord[] = [
      { ...records[0]!, kind: 'advisory', format: 'osv', recordId: 'GHSA-x' },
      { ...records[0]!, recordId: 'broken', document: { groupId: 'g', artifactId: 'a', version: '1', sha1: 'zz' } },
    ];
    const out = await exportDb('odd', [...records.slice(0, 2), ...odd]);
    assert.equal(out.counts['skipped.kind.advisory'], 1);
    assert.equal(out.counts['skipped.invalid'], 1);
    assert.equal(out.counts['javadb.indices'], 2);

    const tmpBefore = (await readdir(tmpdir())).filter((n) => n.startsWith('stella-trivy-java-db-'));
    const v = adapter.validateOptions({});
    assert.ok(v.ok);
    const ac = new AbortController();
    const cancelling = (async function* () {
      for (const [i, r] of records.entries()) {
        if (i === 10) ac.abort(new Error('run cancelled'));
        yield r;
      }
    })();
    const s = await createStagingSink(join(dir.path, 'cancel'));
    await assert.rejects(
      adapter.write({
        records: cancelling,
        options: v.options,
        out: s,
        signal: ac.signal,
        progress: () => undefined,
        exportTime: null,
      }),
      /run cancelled/,
    );
    assert.deepEqual(s.files(), []);
    assert.deepEqual(
      (await readdir(tmpdir())).filter((n) => n.startsWith('stella-trivy-java-db-')),
      tmpBefore,
      'work dir removed',
    );
  });

  test('options: schemaVersion other than 1 is refused, every problem at once', () => {
    const bad = adapter.validateOptions({ schemaVersion: 2, gzipLevel: 10 });
    assert.equal(bad.ok, false);
    assert.deepEqual((bad as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/gzipLevel',
      '/schemaVersion',
    ]);
    assert.deepEqual(adapter.validateOptions(undefined), {
      ok: true,
      options: { schemaVersion: 1, nextUpdateHours: 72, gzipLevel: 6, ociLayout: true },
    });
  });
});
