/**
 * The `maven-index` importer (kind `artifact`): JSON Lines and trivy-java-db's TSV, the coded
 * rejections of bad rows (with their line), and a round trip through the real ledger on
 * PostgreSQL (migration 0004 admits the kind and format; re-import is `unchanged`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { datasetsDir, needService } from '@stella/testkit';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openLedger } from '../ledger.js';
import { importSource } from '../import-source.js';
import { openSourcesDb, importFile, type SourcesDb } from '../../testing/sources-db.js';
import { mavenIndexImporter } from './maven-index.js';
import type { ImportItem } from './importer.js';

async function read(text: string): Promise<ImportItem[]> {
  const out: ImportItem[] = [];
  for await (const item of mavenIndexImporter.read(Readable.from([Buffer.from(text)]), 'artifact')) out.push(item);
  return out;
}

const SHA = '83cd2cd674a217ade95a4bb83a8a14f351f48bd0';

describe('maven-index importer', () => {
  test('JSON Lines and TSV rows give the same record; SHA-1 lower-cased; TSV trailing space ignored', async () => {
    const items = await read(
      `{"groupId":"antlr","artifactId":"antlr","version":"2.7.7","sha1":"${SHA.toUpperCase()}"}\n` +
        `\nantlr\tantlr\t2.7.7\t\t${SHA} \n` +
        `{"groupId":"a.b","artifactId":"c","version":"1","classifier":"lite","sha1":"${SHA}","archiveType":"aar","modifiedAt":"2026-01-02T03:04:05Z"}`,
    );
    assert.equal(items.length, 3);
    const [a, b, c] = items.map((i) => ('record' in i ? i : assert.fail(JSON.stringify(i))));
    assert.equal(a!.record.canonical, b!.record.canonical);
    assert.equal(
      a!.record.canonical,
      `{"archiveType":"jar","artifactId":"antlr","groupId":"antlr","sha1":"${SHA}","version":"2.7.7"}`,
    );
    assert.equal(a!.record.recordId, 'antlr:antlr:jar:2.7.7');
    assert.equal(a!.record.kind, 'artifact');
    assert.equal(a!.record.ecosystem, 'Maven');
    assert.deepEqual(a!.record.packages, ['antlr:antlr']);
    assert.deepEqual([a!.position, b!.position, c!.position], ['line 1', 'line 3', 'line 4']);
    assert.equal(c!.record.recordId, 'a.b:c:aar:lite:1');
    assert.equal(c!.record.modifiedAt, '2026-01-02T03:04:05.000Z');
  });

  test('bad rows are rejected with a code and their line; good rows around them import', async () => {
    const lines = [
      `g\ta\t1\t\tN/A`,
      `g\ta\t1\t\t${'0'.repeat(40)}`,
      `g\ta\t1\t\t${SHA.slice(1)}`,
      `g\ta\t1\t${SHA}`,
      `{"groupId":"g","artifactId":"a","version":"1 2","sha1":"${SHA}"}`,
      `{"groupId":"g:x","artifactId":"a","version":"1","sha1":"${SHA}"}`,
      `{"groupId":"g","artifactId":"a","version":"1","sha1":"${SHA}","archiveType":"war"}`,
      `{"groupId":"g","artifactId":"a","version":"1","sha1":"${SHA}","extra":1}`,
      `{"groupId":"g","artifactId":"a","version":"1","sha1":"${SHA}"`,
      `["g","a"]`,
      `g\ta\t1\t\t${SHA}`,
    ];
    const items = await read(lines.join('\n'));
    const rejections = items.flatMap((i) => ('rejection' in i ? [i.rejection] : []));
    assert.deepEqual(
      rejections.map((r) => [r.position, r.code]),
      [
        ['line 1', 'SOURCE_RECORD_INVALID'],
        ['line 2', 'SOURCE_RECORD_INVALID'],
        ['line 3', 'SOURCE_RECORD_INVALID'],
        ['line 4', 'SOURCE_RECORD_INVALID'],
        ['line 5', 'SOURCE_RECORD_INVALID'],
        ['line 6', 'SOURCE_RECORD_INVALID'],
        ['line 7', 'SOURCE_RECORD_INVALID'],
        ['line 8', 'SOURCE_RECORD_INVALID'],
        ['line 9', 'SOURCE_SYNTAX'],
        ['line 10', 'SOURCE_RECORD_INVALID'],
      ],
    );
    assert.match(rejections[0]!.message, /N\/A/);
    assert.match(rejections[1]!.message, /all zeros/);
    assert.match(rejections[3]!.message, /5 tab-separated columns/);
    assert.equal(items.filter((i) => 'record' in i).length, 1);
  });
});

const skip = await needService('postgres');

describe('maven-index through the ledger on PostgreSQL', { skip }, () => {
  let s: SourcesDb;
  before(async () => {
    s = await openSourcesDb('pg');
  });
  after(async () => {
    await s?.close();
  });

  test('the dataset TSV imports as kind artifact, reads back in order, re-import is unchanged', async () => {
    const file = join(datasetsDir, 'maven-index/derived-from-cyclonedx/dropwizard-1.3.15.tsv');
    const first = await importFile(s.db, 'acme', file, 'artifact');
    assert.equal(first.format, 'maven-index');
    assert.equal(first.rejectedCount, 0);
    assert.ok(first.imported > 100);
    const again = await importFile(s.db, 'acme', file, 'artifact');
    assert.deepEqual([again.imported, again.unchanged], [0, first.imported]);
    const ledger = openLedger(s.db, 'acme');
    const got: string[] = [];
    for await (const r of ledger.iterate({ kinds: ['artifact'] }, await ledger.head())) {
      assert.equal(r.format, 'maven-index');
      got.push(r.recordId);
    }
    assert.equal(got.length, first.imported);
    assert.deepEqual(
      got,
      [...got].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    // Another tenant sees none of them; artifacts cannot be global.
    const other = openLedger(s.db, 'globex');
    let n = 0;
    for await (const _ of other.iterate({ kinds: ['artifact'] }, await other.head())) n++;
    assert.equal(n, 0);
    await assert.rejects(
      importSource(Readable.from([Buffer.from(`g\ta\t1\t\t${SHA}\n`)]), {
        kind: 'artifact',
        scope: { tenant: 'acme', global: true },
        transaction: (fn) => s.db.withTenant('acme', fn),
      }),
      (e: { code?: string }) => e.code === 'SOURCE_GLOBAL_FORBIDDEN',
    );
  });
});
