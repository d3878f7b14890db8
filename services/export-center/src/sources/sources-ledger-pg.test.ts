/**
 * The sources ledger on real PostgreSQL 15: the shared cases (ledger-cases.ts) and the reason
 * the ledger is commit-ordered — two concurrent importers, the first held open: the second waits
 * for the ledger lock, a run pinned meanwhile sees neither, and sequences follow commit order.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { needService } from '@stella/testkit';
import { ledgerCases } from '../testing/ledger-cases.js';
import { openSourcesDb, type SourcesDb } from '../testing/sources-db.js';
import { openLedger } from './ledger.js';
import { appendSourceRecords } from './source-store.js';
import { osvRecord } from './importers/osv.js';

const skip = await needService('postgres');

describe('sources ledger on PostgreSQL', { skip }, () => {
  let s: SourcesDb;
  before(async () => {
    s = await openSourcesDb('pg');
  });
  after(async () => {
    await s?.close();
  });
  ledgerCases(() => s.db, 'pg');

  test('ledger sequences are commit-ordered: a held-open importer never leaks into a pinned run', async () => {
    const tenant = 'pg-commit-order';
    const ledger = openLedger(s.db, tenant);
    const entry = (id: string) => osvRecord({ id, modified: '2026-03-01T00:00:00Z', affected: [] });
    await s.db.withTenant(tenant, (tx) => appendSourceRecords(tx, { tenant, global: false }, [entry('BASE-1')]));
    const before = await ledger.head();

    // Importer 1 appends and stays open until released.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let firstSeq = 0n;
    let appended!: () => void;
    const firstAppended = new Promise<void>((r) => (appended = r));
    const first = s.db.withTenant(tenant, async (tx) => {
      const [o] = await appendSourceRecords(tx, { tenant, global: false }, [entry('SLOW-1')]);
      firstSeq = o!.ledgerSeq;
      appended();
      await held;
    });
    await firstAppended;
    // Importer 2 starts after 1 drew its number and would commit first with a plain sequence.
    let secondDone = false;
    const second = s.db
      .withTenant(tenant, (tx) => appendSourceRecords(tx, { tenant, global: false }, [entry('FAST-1')]))
      .then((o) => {
        secondDone = true;
        return o[0]!.ledgerSeq;
      });
    await sleep(400);
    assert.equal(secondDone, false, 'the second importer waits for the ledger lock');
    // A run pinning now pins the last committed sequence and sees neither import.
    const pinned = await ledger.head();
    assert.equal(pinned, before);

    release();
    await first;
    const secondSeq = await second;
    assert.ok(firstSeq > pinned && secondSeq > firstSeq, `${pinned} < ${firstSeq} < ${secondSeq}`);
    const ids = async (at: bigint) => {
      const out: string[] = [];
      // Own records only (other cases in this database wrote global advisories).
      for await (const r of ledger.iterate({ kinds: ['advisory'] }, at)) if (r.tenant === tenant) out.push(r.recordId);
      return out;
    };
    assert.deepEqual(await ids(pinned), ['BASE-1']);
    assert.deepEqual(await ids(firstSeq), ['BASE-1', 'SLOW-1']);
    assert.deepEqual(await ids(await ledger.head()), ['BASE-1', 'FAST-1', 'SLOW-1']);
  });
});
