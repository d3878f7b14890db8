/**
 * Leader election on real PostgreSQL (leader.ts, ADR 0020), three campaigners over three pools:
 * exactly one leads; a leader that stops hands over; a leader whose connection the server kills
 * (`pg_terminate_backend`, what a network partition or a server restart does) notices at its next
 * check and stops leading while another takes the lock. The SIGKILL case with real processes is
 * server/src/export-schedule-leader.e2e.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDb, type Db } from '@stella/platform/db';
import { createTestDatabase, needService } from '@stella/testkit';
import { campaign, type Leadership } from './leader.js';

const quiet = { warn: () => undefined, info: () => undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// A lock of this test only, so that other tests' schedulers on the same server never interfere.
const LOCK = [1398031692, 9020] as const;

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

describe('scheduler leader election (PostgreSQL)', { skip: await needService('postgres') }, () => {
  let dbs: Db[] = [];
  let drop: () => Promise<void>;
  before(async () => {
    const t = await createTestDatabase('export_leader_unit');
    drop = t.drop;
    dbs = await Promise.all([0, 1, 2].map(() => openDb({ kind: 'postgres', url: t.url })));
  });
  after(async () => {
    for (const db of dbs) await db.close();
    await drop?.();
  });

  test('one leader of three; stop hands over; a killed session stops leading and another takes over', async () => {
    const changes: string[] = [];
    const ls: Leadership[] = dbs.map((db, i) =>
      campaign(db, { lock: LOCK, retryMs: 50, log: quiet, onChange: (v) => changes.push(`${i}:${v}`) }),
    );
    const leaders = () => ls.map((l, i) => (l.isLeader() ? i : -1)).filter((i) => i >= 0);
    await until('a leader', () => leaders().length === 1);
    await sleep(300);
    assert.equal(leaders().length, 1, `never two at once: ${JSON.stringify(leaders())}`);
    const first = leaders()[0]!;

    // A clean stop releases the lock; one of the others leads.
    await ls[first]!.stop();
    await until('a second leader', () => leaders().length === 1 && leaders()[0] !== first);
    const second = leaders()[0]!;

    // The server kills the leader's session: it notices at its next check, the third one leads.
    const pids = await dbs[0]!.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND granted`,
      [...LOCK],
    );
    assert.equal(pids.rows.length, 1, 'exactly one session holds the lock');
    await dbs[0]!.query('SELECT pg_terminate_backend($1)', [pids.rows[0]!.pid]);
    await until('the killed leader steps down', () => !ls[second]!.isLeader());
    const third = [0, 1, 2].find((i) => i !== first && i !== second)!;
    await until('the remaining one leads', () => ls[third]!.isLeader());
    // The killed one campaigns again on a fresh session, as a follower now.
    await sleep(300);
    assert.deepEqual(leaders(), [third]);
    assert.ok(changes.includes(`${second}:false`));
    for (const l of ls) await l.stop();
    assert.deepEqual(leaders(), []);
  });
});
