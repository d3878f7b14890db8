/** The sources ledger on PGlite (the embedded driver); the same cases run on PostgreSQL in sources-ledger-pg.test.ts. */
import { after, before, describe } from 'node:test';
import { ledgerCases } from '../testing/ledger-cases.js';
import { openSourcesDb, type SourcesDb } from '../testing/sources-db.js';

describe('sources ledger on PGlite', () => {
  let s: SourcesDb;
  before(async () => {
    s = await openSourcesDb('pglite');
  });
  after(async () => {
    await s?.close();
  });
  ledgerCases(() => s.db, 'lite');
});
