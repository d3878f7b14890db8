/**
 * The sources-ledger cases every driver must pass (run on PGlite by sources-ledger.test.ts and
 * on PostgreSQL 15 by sources-ledger-pg.test.ts): dataset import and re-import, versions and
 * pinned reads, filters and sampling, malformed input, tenant isolation and global advisories.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsDir, tempDir } from '@stella/testkit';
import type { Db } from '@stella/platform/db';
import { canonicalizeJcs, type JsonValue } from '@stella/core/canonical-json';
import { rawRecordJson, rawRecordLine } from '../adapters/record-stream.js';
import { openLedger, openLedgerReader } from '../sources/ledger.js';
import type { SourceFilter, SourceRecord } from '../sources/source-record.js';
import { importArray, importFile, jsonFilesUnder } from './sources-db.js';

async function all(it: AsyncIterable<SourceRecord>): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** The contract's sampling rule, computed independently in JS. */
function sampled(seed: string, r: SourceRecord, rate: number): boolean {
  const h = createHash('sha256').update(`${seed}\n${r.kind}\n${r.recordId}`, 'utf8').digest();
  return h.readBigUInt64BE(0) < BigInt(Math.floor(rate * 2 ** 64));
}

export function ledgerCases(getDb: () => Db, tenantPrefix: string): void {
  const T = (name: string) => `${tenantPrefix}-${name}`;
  const osvDir = join(datasetsDir, 'osv');

  test('every OSV dataset file imports; a re-import is all unchanged; head and count agree', async () => {
    const db = getDb();
    const tenant = T('osv');
    const files = await jsonFilesUnder(osvDir);
    assert.ok(files.length > 1000, `expected the OSV datasets, found ${files.length} files`);
    // One file each (the single-document path) for the GHSA fixtures, the rest as one streamed array.
    const single = files.filter((f) => f.includes('ghsa-trivy-db-testdata'));
    assert.ok(single.length >= 5);
    let imported = 0;
    for (const f of single) {
      const s = await importFile(db, tenant, f, 'advisory');
      assert.deepEqual(s.rejected, [], f);
      imported += s.imported;
    }
    const rest = files.filter((f) => !single.includes(f));
    const bulk = await importArray(db, tenant, rest, 'advisory');
    assert.deepEqual(bulk.rejected, []);
    imported += bulk.imported;
    assert.equal(imported, files.length);
    const ledger = openLedger(db, tenant);
    const head = await ledger.head();
    assert.ok(head > 0n);
    const again = await importArray(db, tenant, files, 'advisory');
    assert.deepEqual([again.imported, again.unchanged, again.rejected], [0, files.length, []]);
    for (const f of single.slice(0, 3)) assert.equal((await importFile(db, tenant, f, 'advisory')).unchanged, 1);
    assert.equal(await ledger.head(), head, 're-import wrote nothing');

    const records = await all(ledger.iterate({ kinds: ['advisory'] }, head));
    assert.equal(records.length, files.length);
    const keys = records.map((r) => Buffer.from(`${r.kind}\n${r.recordId}`));
    for (let i = 1; i < keys.length; i++) assert.ok(Buffer.compare(keys[i - 1]!, keys[i]!) < 0, 'byte order');
    const count = await ledger.count({ kinds: ['advisory'] }, head);
    assert.equal(count.records, files.length);
    // bytes = the RFC 8785 text lengths; the digest is sha256 of exactly those bytes.
    let bytes = 0;
    for (const r of records) {
      const canonical = Buffer.from(canonicalOf(r.document));
      bytes += canonical.length;
      assert.equal(r.digest, `sha256:${createHash('sha256').update(canonical).digest('hex')}`);
      // The stored text the adapters splice in is that RFC 8785 text, and the json:raw line made
      // from it is byte-identical to parsing and re-canonicalising the record.
      assert.equal(r.canonicalDocument, canonicalOf(r.document), r.recordId);
      assert.deepEqual(Buffer.from(rawRecordLine(r)), Buffer.from(canonicalizeJcs(rawRecordJson(r))), r.recordId);
    }
    assert.equal(count.bytes, bytes);

    // Mapped fields from the real data: a Go advisory, a RustSec one, a scored CVSS vector.
    const go = records.find((r) => r.recordId === 'GO-2020-0001')!;
    assert.equal(go.ecosystem, 'Go');
    assert.ok(go.packages.length > 0);
    assert.ok(records.some((r) => r.ecosystem === 'crates.io'));
    assert.ok(records.some((r) => r.ecosystem === 'PyPI'));
    assert.ok(records.some((r) => r.severity === 'critical') && records.some((r) => r.severity === 'medium'));
    assert.ok(records.every((r) => r.tenant === tenant && r.ledgerSeq <= head && r.modifiedAt !== null));
  });

  test('a changed document is a new version; a reader pinned at the old sequence still reads the old one', async () => {
    const db = getDb();
    const tenant = T('versions');
    const dir = await tempDir('stella-osv-');
    try {
      const entry = (summary: string) => ({
        id: 'TEST-2026-0001',
        modified: '2026-01-01T00:00:00Z',
        summary,
        affected: [{ package: { ecosystem: 'npm', name: 'left-pad' } }],
      });
      const file = join(dir.path, 'a.json');
      await writeFile(file, JSON.stringify(entry('first')));
      const first = await importFile(db, tenant, file, 'advisory');
      assert.equal(first.imported, 1);
      const ledger = openLedger(db, tenant);
      const pinned = await ledger.head();
      assert.equal(pinned, first.ledgerSeq);

      // Same document with other key order and whitespace: same RFC 8785 bytes → unchanged.
      const e = entry('first');
      await writeFile(
        file,
        JSON.stringify({ affected: e.affected, summary: e.summary, modified: e.modified, id: e.id }, null, 2),
      );
      assert.equal((await importFile(db, tenant, file, 'advisory')).unchanged, 1);

      await writeFile(file, JSON.stringify(entry('second')));
      const second = await importFile(db, tenant, file, 'advisory');
      assert.equal(second.imported, 1);
      assert.ok(second.ledgerSeq > pinned);
      const old = await all(ledger.iterate({ kinds: ['advisory'] }, pinned));
      assert.deepEqual(
        old.map((r) => [(r.document as { summary: string }).summary, r.ledgerSeq]),
        [['first', pinned]],
      );
      const now = await all(ledger.iterate({ kinds: ['advisory'] }, await ledger.head()));
      assert.deepEqual(
        now.map((r) => (r.document as { summary: string }).summary),
        ['second'],
      );
      // Records imported after the pin never appear in the pinned view.
      await writeFile(file, JSON.stringify({ ...entry('x'), id: 'TEST-2026-0002' }));
      await importFile(db, tenant, file, 'advisory');
      assert.equal((await all(ledger.iterate({ kinds: ['advisory'] }, pinned))).length, 1);
      assert.deepEqual(await ledger.count({ kinds: ['advisory'] }, pinned), {
        records: 1,
        bytes: Buffer.byteLength(canonicalOf(old[0]!.document)),
      });
    } finally {
      await dir.cleanup();
    }
  });

  test('filters and deterministic sampling (checked against the rule computed in JS)', async () => {
    const db = getDb();
    const tenant = T('filters');
    await importArray(db, tenant, await jsonFilesUnder(join(osvDir, 'rustsec')), 'advisory');
    const go = (await jsonFilesUnder(join(osvDir, 'go-vulndb'))).slice(0, 50);
    await importArray(db, tenant, go, 'advisory', { scope: { tenant, global: false, project: 'payments' } });
    const ledger = openLedger(db, tenant);
    const head = await ledger.head();
    const everything = await all(ledger.iterate({ kinds: ['advisory'] }, head));
    const check = async (filter: SourceFilter, keep: (r: SourceRecord) => boolean) => {
      const got = (await all(ledger.iterate(filter, head))).map((r) => r.recordId);
      const want = everything.filter(keep).map((r) => r.recordId);
      assert.deepEqual(got, want, JSON.stringify(filter));
      assert.equal((await ledger.count(filter, head)).records, want.length);
      return got;
    };
    assert.equal((await check({ kinds: ['advisory'], ecosystems: ['Go'] }, (r) => r.ecosystem === 'Go')).length, 50);
    await check({ kinds: ['advisory'], projects: ['payments'] }, (r) => r.project === 'payments');
    const pkg = everything.find((r) => r.ecosystem === 'crates.io')!.packages[0]!;
    assert.ok((await check({ kinds: ['advisory'], packages: [pkg] }, (r) => r.packages.includes(pkg))).length >= 1);
    await check({ kinds: ['advisory'], severities: ['critical', 'high'] }, (r) =>
      ['critical', 'high'].includes(r.severity),
    );
    const since = '2024-01-01T00:00:00.000Z';
    await check({ kinds: ['advisory'], modifiedSince: since }, (r) => r.modifiedAt !== null && r.modifiedAt >= since);
    await check({ kinds: ['vex'] }, () => false);
    const sample = { rate: 0.25, seed: 'seed-1' };
    const a = await check({ kinds: ['advisory'], sample }, (r) => sampled(sample.seed, r, sample.rate));
    assert.ok(a.length > everything.length * 0.1 && a.length < everything.length * 0.4, `sample of ${a.length}`);
    assert.deepEqual(await check({ kinds: ['advisory'], sample }, (r) => sampled(sample.seed, r, sample.rate)), a);
    const b = await check({ kinds: ['advisory'], sample: { rate: 0.25, seed: 'seed-2' } }, (r) =>
      sampled('seed-2', r, 0.25),
    );
    assert.notDeepEqual(a, b);
    await check({ kinds: ['advisory'], sample: { rate: 1, seed: 'x' } }, () => true);
    await check({ kinds: ['advisory'], sample: { rate: 0, seed: 'x' } }, () => false);
    // Small pages: the keyset walk gives the same records as one big page.
    const paged = openLedgerPaged(db, tenant);
    assert.deepEqual(
      (await all(paged.iterate({ kinds: ['advisory'] }, head))).map((r) => r.recordId),
      everything.map((r) => r.recordId),
    );
  });

  test('malformed input: each bad record rejected with its position, the rest imported', async () => {
    const db = getDb();
    const tenant = T('malformed');
    const dir = await tempDir('stella-osv-bad-');
    try {
      // Each good entry is over 512 bytes, so none shares the tokenizer piece of the error.
      const ok = (id: string) => ({ id, modified: '2026-02-01T00:00:00Z', affected: [], details: 'x'.repeat(600) });
      const file = join(dir.path, 'array.json');
      await writeFile(
        file,
        JSON.stringify([
          ok('OK-1'),
          { id: 7, modified: 'x' },
          ok('OK-2'),
          { id: 'BAD-3', modified: 5 },
          'nope',
          ok('OK-3'),
        ]),
      );
      const s = await importFile(db, tenant, file, 'advisory');
      assert.equal(s.imported, 3);
      assert.deepEqual(
        s.rejected.map((r) => [r.position, r.code]),
        [
          ['[1]', 'SOURCE_RECORD_INVALID'],
          ['[3]', 'SOURCE_RECORD_INVALID'],
          ['[4]', 'SOURCE_RECORD_INVALID'],
        ],
      );
      // A syntax error mid-array: the elements before it import, the error names where it is.
      const broken = join(dir.path, 'broken.json');
      // (No padding: the element right before the error imports too, and the byte is exact.)
      const brokenText = `[${JSON.stringify(ok('OK-4'))}, ${JSON.stringify(ok('OK-5'))}, {"id": "X" "modified": 1}, ${JSON.stringify(ok('OK-6'))}]`;
      await writeFile(broken, brokenText);
      const t = await importFile(db, tenant, broken, 'advisory');
      assert.equal(t.imported, 2);
      assert.equal(t.rejected.length, 1);
      assert.equal(t.rejected[0]!.code, 'SOURCE_SYNTAX');
      assert.equal(t.rejected[0]!.position, `after [1], at byte ${brokenText.indexOf('"X" "modified"') + 4}`);
      // Not an advisory format at all.
      const csv = join(dir.path, 'x.json');
      await writeFile(csv, '{"hello": "world"}');
      await assert.rejects(importFile(db, tenant, csv, 'advisory'), { code: 'SOURCE_FORMAT_UNKNOWN' });
      const ids = (
        await all(openLedger(db, tenant).iterate({ kinds: ['advisory'] }, await openLedger(db, tenant).head()))
      ).map((r) => r.recordId);
      assert.deepEqual(ids, ['OK-1', 'OK-2', 'OK-3', 'OK-4', 'OK-5']);
    } finally {
      await dir.cleanup();
    }
  });

  test('tenants: B never sees A; both see global advisories; a global write needs the explicit mark', async () => {
    const db = getDb();
    const [A, B] = [T('iso-a'), T('iso-b')];
    await importArray(db, A, (await jsonFilesUnder(join(osvDir, 'rustsec'))).slice(0, 5), 'advisory');
    const go = (await jsonFilesUnder(join(osvDir, 'go-vulndb'))).slice(0, 3);
    await importArray(db, A, go, 'advisory', { scope: { tenant: A, global: true } });
    const head = await openLedger(db, A).head();
    const bView = await all(openLedger(db, B).iterate({ kinds: ['advisory'] }, head));
    assert.equal(bView.length, 3);
    assert.ok(bView.every((r) => r.tenant === null && r.ecosystem === 'Go'));
    const aView = await all(openLedger(db, A).iterate({ kinds: ['advisory'] }, head));
    assert.equal(aView.length, 8);
    assert.equal((await openLedger(db, B).count({ kinds: ['advisory'] }, head)).records, 3);
    // B's own copy of a global advisory is B's record, beside the global one (global first).
    await importFile(db, B, go[0]!, 'advisory');
    const both = (await all(openLedger(db, B).iterate({ kinds: ['advisory'] }, await openLedger(db, B).head()))).filter(
      (r) => r.recordId === bView[0]!.recordId,
    );
    assert.deepEqual(
      both.map((r) => r.tenant),
      [null, B],
    );
    // The database refuses a global row without the transaction's mark, and any update/delete.
    await assert.rejects(
      db.withTenant(B, (tx) =>
        tx.query(
          `INSERT INTO export_center.source_records (tenant_id, kind, record_id, digest, format, severity, document, document_bytes)
           VALUES (NULL, 'advisory', 'EVIL-1', $1, 'osv', 'unknown', '{}', 2)`,
          [`sha256:${'0'.repeat(64)}`],
        ),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      db.withTenant(B, (tx) =>
        tx.query(
          `INSERT INTO export_center.source_records (tenant_id, kind, record_id, digest, format, severity, document, document_bytes)
           VALUES ($2, 'advisory', 'EVIL-2', $1, 'osv', 'unknown', '{}', 2)`,
          [`sha256:${'0'.repeat(64)}`, A],
        ),
      ),
      { code: '42501' },
    );
    await assert.rejects(
      db.withTenant(B, (tx) => tx.query('UPDATE export_center.source_records SET severity = $1', ['low'])),
      {
        code: '42501',
      },
    );
    await assert.rejects(
      db.withTenant(A, (tx) => tx.query('DELETE FROM export_center.source_records')),
      { code: '42501' },
    );
  });
}

function canonicalOf(doc: unknown): string {
  return canonicalizeJcs(doc as JsonValue);
}
function openLedgerPaged(db: Db, tenant: string) {
  return openLedgerReader(db, tenant, 7);
}
