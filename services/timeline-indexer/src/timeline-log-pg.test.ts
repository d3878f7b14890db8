/**
 * The timeline's transparency log on real PostgreSQL 15 (issue 12 item 4): batches cut from
 * stored arrivals on the checkpoint cadence (60 s, 10 s during an incident), appended and signed;
 * `GET /timeline/log/export` proves a window complete and the real `stella` binary writes it
 * (`timeline export`) and verifies it offline (`timeline verify-export`): removing, reordering or
 * back-dating an event, dropping a batch or a proof hash, or another log key each fail, exit 3,
 * naming the check. Tenant isolation of every /timeline/log route.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, goHarness, needGo, needService, run, tempDir } from '@stella/testkit';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { generateFileKey, resolveSigner } from '@stella/platform/keys';
import {
  TimelineExportVerifier,
  generateNoteKey,
  noteSignerFromSigner,
  openCheckpoint,
  parseCosignerVerifierKey,
  verifyCosignatures,
  signCheckpoint,
  parseVerifierKey,
  verifyCheckpointConsistency,
} from '@stella/core/tlog';
import { isStellaError } from '@stella/core/errors';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { timelineLogs } from './service.js';
import { cutBatches, timelineLogId } from './timeline-log.js';

const skip = await needService('postgres');
const BIN = fileURLToPath(new URL('../../../cli/bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

function stella(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=development', '--import', TSX, BIN, ...args],
      { cwd, timeout: 120_000, encoding: 'utf8' },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

describe('timeline transparency log on PostgreSQL', { skip }, () => {
  let h: TimelineHarness;
  let drop: () => Promise<void>;
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir('stella-tlog-timeline-');
    const key = join(dir.path, 'log.pem');
    await generateFileKey(key, 'ed25519');
    const db = await createTestDatabase('timeline_log');
    drop = db.drop;
    h = await startTimelineHarness({ databaseUrl: db.url, signingKey: `file:${key}` });
  });
  after(async () => {
    await h?.close();
    await drop?.();
    await dir?.cleanup();
  });

  const T0 = Date.parse('2026-12-01T10:00:00.000Z');
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  const ev = (tenant: string, occurredAt: string, init: Partial<EventEnvelope> = {}) =>
    newEvent({ tenant, kind: 'scan.completed', source: 'scanner', occurredAt, ...init });
  const post = async (tenant: string, events: EventEnvelope[]) => {
    const r = await h.call(tenant, 'POST', '/timeline/events', { events });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const exportText = async (tenant: string, from: string, to: string, since?: number) => {
    const res = await h.app.inject({
      method: 'GET',
      url: `/timeline/log/export?from=${from}&to=${to}${since !== undefined ? `&since=${since}` : ''}`,
      headers: { authorization: `Bearer ${await h.token(tenant)}`, 'x-stella-tenant': tenant },
    });
    return { status: res.statusCode, body: res.body };
  };
  const verify = (text: string, opts: ConstructorParameters<typeof TimelineExportVerifier>[0] = {}) => {
    const v = new TimelineExportVerifier(opts);
    for (const l of text.split('\n')) v.push(l);
    return v.finish();
  };
  const failsWith = (text: string, check: string, opts: ConstructorParameters<typeof TimelineExportVerifier>[0] = {}) =>
    assert.throws(
      () => verify(text, opts),
      (err: unknown) =>
        isStellaError(err) &&
        err.code === 'TIMELINE_EXPORT_INVALID' &&
        (err.details as { check: string }).check === check,
      check,
    );

  test('cadence, export, offline verification (core and the stella binary), tampering, witnesses-ready proofs', async () => {
    const A = `tla-${randomBytes(3).toString('hex')}`;
    const logs = timelineLogs(h.deps);
    const now = new Date(T0 + 3600_000);
    const sec = (s: number) => new Date(now.getTime() + s * 1000);

    // No events: no checkpoint, the routes say so.
    assert.equal((await h.call(A, 'GET', '/timeline/log/checkpoint')).status, 404);

    await post(A, [ev(A, at(0)), ev(A, at(10)), ev(A, at(20), { source: 'admission' }), ev(A, at(30))]);
    let r = await logs.round(sec(0));
    assert.deepEqual(
      r.find((x) => x.tenant === A),
      { tenant: A, cut: 1, size: 1 },
    );
    // Not due again within 60 s, even with new events.
    await post(A, [ev(A, at(40)), ev(A, at(5), { source: 'late-agent' }) /* late: occurred before batch 0's max */]);
    r = await logs.round(sec(30));
    assert.equal(
      r.find((x) => x.tenant === A),
      undefined,
    );
    r = await logs.round(sec(61));
    assert.deepEqual(
      r.find((x) => x.tenant === A),
      { tenant: A, cut: 1, size: 2 },
    );
    // Incident mode: 10 s cadence while evidence.incident.activated is in force.
    await post(A, [
      ev(A, at(50), {
        kind: 'evidence.incident.activated',
        source: 'evidence-locker',
        attributes: { incidentId: 'inc-1', active: true },
        payload: { incidentId: 'inc-1', reason: 'breach', retentionExtension: 'P30D' },
      }),
    ]);
    r = await logs.round(sec(72));
    assert.deepEqual(
      r.find((x) => x.tenant === A),
      { tenant: A, cut: 1, size: 3 },
    );
    await post(A, [ev(A, at(60))]);
    assert.equal(
      (await logs.round(sec(78))).find((x) => x.tenant === A),
      undefined,
      'only 6 s',
    );
    assert.deepEqual(
      (await logs.round(sec(83))).find((x) => x.tenant === A),
      { tenant: A, cut: 1, size: 4 },
    );
    // Outside the window, later: makes the export carry batches after the window too.
    // … and the incident ends: back to 60 s.
    await post(A, [
      ev(A, at(900)),
      ev(A, at(95), {
        kind: 'evidence.incident.deactivated',
        source: 'evidence-locker',
        attributes: { incidentId: 'inc-1', active: false },
        payload: { incidentId: 'inc-1', reason: 'contained' },
      }),
    ]);
    assert.equal((await logs.round(sec(200))).find((x) => x.tenant === A)?.size, 5);
    await post(A, [ev(A, at(950))]);
    assert.equal(
      (await logs.round(sec(215))).find((x) => x.tenant === A),
      undefined,
      '15 s, no incident: not due',
    );

    const info = (await h.call(A, 'GET', '/timeline/log')).body;
    assert.equal(info.treeSize, 5);
    assert.equal(info.origin, `stella.local/timeline/${A}`);
    const key = parseVerifierKey(info.logKey);
    const cpNote = (
      await h.app.inject({
        method: 'GET',
        url: '/timeline/log/checkpoint',
        headers: { authorization: `Bearer ${await h.token(A)}`, 'x-stella-tenant': A },
      })
    ).body;
    assert.equal(openCheckpoint(cpNote, { origin: info.origin, verifiers: [key] }).size, 5);

    // Window [5 s, 55 s): events at 5 (late, batch 1), 10, 20, 30 (batch 0), 40 (batch 1), 50 (batch 2).
    const { status, body } = await exportText(A, at(5), at(55));
    assert.equal(status, 200, body);
    const report = verify(body, { key });
    assert.equal(report.events, 6);
    assert.equal(report.treeSize, 5);
    assert.equal(report.batches, 5);
    assert.equal(report.windowBatches, 3);
    assert.ok(report.keyPinned);
    assert.ok(report.maxLatenessSeconds >= 3600);
    const lines = body.trimEnd().split('\n');
    const events = lines.filter((l) => JSON.parse(l).type === 'event');
    assert.deepEqual(
      events.map((l) => JSON.parse(l).event.occurredAt),
      [at(5), at(10), at(20), at(30), at(40), at(50)],
    );

    // A window far from everything: starts at the fence, no events, still complete.
    const later = await exportText(A, at(600), at(700));
    assert.equal(verify(later.body, { key }).events, 0);
    const fenced = later.body.split('\n').filter((l) => l && JSON.parse(l).type === 'batch');
    assert.equal(JSON.parse(fenced[0]!).index, 3, 'starts at the last batch whose maxSoFar is before the window');

    // ---- tampering -----------------------------------------------------------------------------
    const without = (i: number) => lines.filter((_, j) => j !== i).join('\n');
    const firstEvent = lines.findIndex((l) => JSON.parse(l).type === 'event');
    // Removing an event (and fixing the end count, as a forger would).
    const dropped = lines
      .filter((_, j) => j !== firstEvent + 2)
      .map((l) => {
        const o = JSON.parse(l);
        return o.type === 'end' ? JSON.stringify({ ...o, events: o.events - 1 }) : l;
      });
    failsWith(dropped.join('\n'), 'completeness');
    failsWith(without(firstEvent + 2), 'format'); // the end line's count
    // Reordering two events.
    const swapped = [...lines];
    [swapped[firstEvent + 1], swapped[firstEvent + 2]] = [swapped[firstEvent + 2]!, swapped[firstEvent + 1]!];
    failsWith(swapped.join('\n'), 'order');
    // Back-dating an event (a minute earlier, still in the window).
    const backdated = [...lines];
    const e3 = JSON.parse(backdated[firstEvent + 3]!);
    e3.event.occurredAt = at(4.5 + 2);
    backdated[firstEvent + 3] = JSON.stringify(e3);
    failsWith(backdated.join('\n'), 'event-digest');
    // Changing an event's payload.
    const changed = [...lines];
    const e1 = JSON.parse(changed[firstEvent]!);
    e1.event.attributes = { injected: 'yes' };
    changed[firstEvent] = JSON.stringify(e1);
    failsWith(changed.join('\n'), 'event-digest');
    // Dropping a whole batch (and its events) or the last batch.
    const batchLines = lines.map((l, i) => [i, JSON.parse(l)] as const).filter(([, o]) => o.type === 'batch');
    failsWith(without(batchLines[1]![0]), 'batch-chain');
    failsWith(without(batchLines.at(-1)![0]), 'batch-chain');
    // Exhaustively: removing any one header, batch, event or end line fails, and so does swapping
    // any two neighbouring event lines. (Consistency lines are extra evidence: removing one is
    // noticed only by --checkpoint with the checkpoint it tied.)
    lines.forEach((l, i) => {
      if (JSON.parse(l).type === 'consistency') return;
      assert.throws(
        () => verify(without(i), { key }),
        (err: unknown) => isStellaError(err),
        `without line ${i}`,
      );
    });
    for (let i = firstEvent; i + 1 < lines.length - 1; i++) {
      const sw = [...lines];
      [sw[i], sw[i + 1]] = [sw[i + 1]!, sw[i]!];
      failsWith(sw.join('\n'), 'order');
    }
    // Starting later than the fence: batch 0 holds window events.
    failsWith(without(batchLines[0]![0]), 'window-start');
    // A flipped inclusion proof hash.
    const flipped = [...lines];
    const b2 = JSON.parse(flipped[batchLines[2]![0]]!);
    const h0 = Buffer.from(b2.proof[0], 'base64');
    h0[0]! ^= 1;
    b2.proof[0] = h0.toString('base64');
    flipped[batchLines[2]![0]] = JSON.stringify(b2);
    failsWith(flipped.join('\n'), 'batch-inclusion');
    // Stubs hidden for a batch that holds window events.
    const hidden = [...lines];
    const b0 = JSON.parse(hidden[batchLines[0]![0]]!);
    delete b0.stubs;
    hidden[batchLines[0]![0]] = JSON.stringify(b0);
    failsWith(hidden.join('\n'), 'batch-events');
    // Another log key pinned; and truncation.
    failsWith(body, 'checkpoint', { key: parseVerifierKey(generateNoteKey(info.origin, randomBytes(32)).vkey) });
    failsWith(lines.slice(0, -1).join('\n'), 'format');
    // Back-dated by lateness: the late event was logged more than an hour after its occurredAt.
    failsWith(body, 'late-event', { key, maxLatenessSeconds: 600 });

    // ---- held checkpoints and consistency -------------------------------------------------------
    const sizes = (await (await logs.log(A)).checkpoints()).map((c) => c.size);
    assert.deepEqual(sizes, [1, 2, 3, 4, 5]);
    const cps = await (await logs.log(A)).checkpoints();
    const held2 = cps[1]!.note;
    // The batches of the window were first included at sizes 1, 2, 3: those proofs are in the file.
    assert.deepEqual(report.consistentFrom, [1, 2, 3]);
    assert.equal(verify(body, { key, held: held2 }).heldSize, 2);
    // Size 4 is not in the file: without --since it cannot be tied; with it, it is.
    failsWith(body, 'held-checkpoint', { key, held: cps[3]!.note });
    // A consistency line for the wrong sizes, or with a hash dropped: `consistency`.
    const cLine = lines.findIndex((l) => JSON.parse(l).type === 'consistency');
    const resized = [...lines];
    resized[cLine] = JSON.stringify({ ...JSON.parse(lines[cLine]!), size: 4 });
    failsWith(resized.join('\n'), 'consistency');
    const shortened = [...lines];
    const c0 = JSON.parse(lines[cLine]!);
    shortened[cLine] = JSON.stringify({ ...c0, hashes: c0.hashes.slice(1) });
    assert.throws(
      () => verify(shortened.join('\n'), { key }),
      (err: unknown) => isStellaError(err) && /consistency: .*TLOG_CONSISTENCY_SIZE_MISMATCH/.test(err.message),
    );
    const withSince = await exportText(A, at(5), at(55), 4);
    assert.equal(verify(withSince.body, { key, held: cps[3]!.note }).heldSize, 4);
    // A held checkpoint of a forked history (same key and origin, size 2, another root): fork.
    const signer = await resolveSigner(`file:${join(dir.path, 'log.pem')}`);
    const forged = await signCheckpoint({ origin: info.origin, size: 2, rootHash: randomBytes(32), extensions: [] }, [
      noteSignerFromSigner(info.origin, signer),
    ]);
    assert.throws(
      () => verify(body, { key, held: forged }),
      (err: unknown) => isStellaError(err) && /MERKLE_PROOF_INVALID/.test(err.message),
    );
    // Go's reference code (x/mod sumdb/note + transparency-dev/formats) opens the timeline checkpoint.
    if (!needGo()) {
      const cpFile = join(dir.path, 'cp.txt');
      await writeFile(cpFile, cpNote);
      const go = await run(
        await goHarness('tlog-check'),
        ['checkpoint', '-vkey', info.logKey, '-origin', info.origin, '-in', cpFile],
        {
          timeoutMs: 120_000,
        },
      );
      assert.equal(go.code, 0, go.stdout.toString());
      assert.equal(JSON.parse(go.stdout.toString()).size, 5);
    }
    // A held checkpoint newer than the export's: rollback.
    await post(A, [ev(A, at(1000))]);
    await logs.round(sec(400));
    const newer = (await (await logs.log(A)).checkpoint()).note!;
    failsWith(body, 'held-checkpoint', { key, held: newer });
    // The consistency route (witnesses) gives a proof the core verifier accepts.
    const proof = (await h.call(A, 'GET', '/timeline/log/proof/consistency?from=2&to=6')).body;
    const cp2 = openCheckpoint(held2, { origin: info.origin, verifiers: [key] });
    const cp6 = openCheckpoint(newer, { origin: info.origin, verifiers: [key] });
    verifyCheckpointConsistency(cp2, cp6, {
      oldSize: proof.oldSize,
      newSize: proof.newSize,
      hashes: proof.hashes.map((x: string) => new Uint8Array(Buffer.from(x, 'base64'))),
    });

    // ---- the stella binary: export online, verify offline ----------------------------------------
    const url = await h.listen();
    const token = await h.token(A, ['timeline:read']);
    const file = join(dir.path, 'window.ndjson');
    const ex = await stella(
      [
        'timeline',
        'export',
        '--server',
        url,
        '--token',
        token,
        '--tenant',
        A,
        '--from',
        at(5),
        '--to',
        at(55),
        '-o',
        file,
      ],
      dir.path,
    );
    assert.equal(ex.code, 0, ex.stderr);
    const ok = await stella(['timeline', 'verify-export', file, '--key', info.logKey, '--json'], dir.path);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).events, 6);
    const text = await readFile(file, 'utf8');
    const tampered = join(dir.path, 'tampered.ndjson');
    await writeFile(
      tampered,
      text
        .split('\n')
        .map((l, i, all) =>
          i === all.findIndex((x) => x.includes('"type":"event"')) + 1 ? l.replace(at(10), at(11)) : l,
        )
        .join('\n'),
    );
    const bad = await stella(['timeline', 'verify-export', tampered, '--key', info.logKey], dir.path);
    assert.equal(bad.code, 3, bad.stderr + bad.stdout);
    assert.match(bad.stderr, /FAILED (event-digest|order)/);
  });

  test('crash safety: a batch recorded but not appended, or appended but not marked, is published once at its index', async () => {
    const C = `crash-${randomBytes(3).toString('hex')}`;
    const logs = timelineLogs(h.deps);
    await post(C, [ev(C, at(1)), ev(C, at(2))]);
    // "Crash" after the cut's commit, before the append: the batch row waits, unappended.
    assert.equal(await cutBatches(h.db, C, new Date(T0)), 1);
    await post(C, [ev(C, at(3))]);
    // "Crash" after the append, before `appended` was set: the next round appends it again.
    assert.equal((await logs.publish(C)).size, 1);
    await h.db.query('UPDATE timeline.log_batches SET appended = false WHERE tenant_id = $1', [C]);
    const r = await logs.round(new Date(T0 + 120_000));
    assert.deepEqual(
      r.find((x) => x.tenant === C),
      { tenant: C, cut: 1, size: 2 },
    );
    const log = await logs.log(C);
    assert.equal(await log.pending(), 0);
    const rows = await h.db.query<{ batch_no: string; first_arrival: string; last_arrival: string }>(
      'SELECT batch_no::text, first_arrival::text, last_arrival::text FROM timeline.log_batches WHERE tenant_id = $1 ORDER BY batch_no',
      [C],
    );
    assert.deepEqual(
      rows.rows.map((x) => [x.batch_no, x.first_arrival, x.last_arrival]),
      [
        ['0', '1', '2'],
        ['1', '3', '3'],
      ],
    );
    // Two workers racing on one tenant: the cut lock lets one cut; nothing is cut twice.
    await post(C, [ev(C, at(4)), ev(C, at(5))]);
    const both = await Promise.all([
      cutBatches(h.db, C, new Date(T0 + 300_000)),
      cutBatches(h.db, C, new Date(T0 + 300_000)),
    ]);
    assert.equal(both[0] + both[1], 1);
    assert.equal((await logs.publish(C)).size, 3);
    const info = (await h.call(C, 'GET', '/timeline/log')).body;
    assert.equal(verify((await exportText(C, at(0), at(10))).body, { key: parseVerifierKey(info.logKey) }).events, 5);

    // A witness (the stella binary) cosigns the timeline checkpoints using the consistency route.
    const wdir = await tempDir('stella-tl-witness-');
    try {
      const kg = await stella(['log', 'witness', 'keygen', '--name', 'witness.test/tl', '-o', 'w.skey'], wdir.path);
      assert.equal(kg.code, 0, kg.stderr);
      const cps = await log.checkpoints();
      await writeFile(join(wdir.path, 'cp1.txt'), cps[0]!.note);
      await writeFile(join(wdir.path, 'cp3.txt'), cps[2]!.note);
      const base = ['log', 'witness', '--log-key', info.logKey, '--key', 'w.skey', '--state', 'state.json'];
      assert.equal((await stella([...base, 'cp1.txt'], wdir.path)).code, 0);
      const proof = (await h.call(C, 'GET', '/timeline/log/proof/consistency?from=1&to=3')).body;
      await writeFile(join(wdir.path, 'p.json'), JSON.stringify(proof));
      const w = await stella([...base, '--proof', 'p.json', '-o', 'cp3.cosigned.txt', 'cp3.txt'], wdir.path);
      assert.equal(w.code, 0, w.stderr);
      const cosigned = await readFile(join(wdir.path, 'cp3.cosigned.txt'), 'utf8');
      if (!needGo()) {
        // transparency-dev/formats verifies the binary's cosignature on the timeline checkpoint.
        const go = await run(
          await goHarness('tlog-check'),
          ['cosig-verify', '-vkey', kg.stdout.trim(), '-in', join(wdir.path, 'cp3.cosigned.txt')],
          { timeoutMs: 120_000 },
        );
        assert.equal(go.code, 0, go.stdout.toString());
      }
      assert.equal(verifyCosignatures(cosigned, { witnesses: [parseCosignerVerifierKey(kg.stdout.trim())] }).length, 1);
      // Rollback to size 1 is refused.
      const rb = await stella([...base, 'cp1.txt'], wdir.path);
      assert.equal(rb.code, 3);
      assert.match(rb.stderr, /FAILED rollback: TLOG_ROLLBACK/);
    } finally {
      await wdir.cleanup();
    }
  });

  test('order across sources is bytewise whatever the collation; bad export and proof queries are coded', async () => {
    const O = `ord-${randomBytes(3).toString('hex')}`;
    const logs = timelineLogs(h.deps);
    const same = at(7);
    const sources = ['b', 'B', 'a', 'é', '\u{1F600}', '\uFF21', 'a-b', 'a_b', 'A'];
    await post(
      O,
      sources.map((source) => ev(O, same, { source })),
    );
    await logs.round(new Date(T0 + 9000_000));
    const info = (await h.call(O, 'GET', '/timeline/log')).body;
    const ex = await exportText(O, at(0), at(10));
    assert.equal(ex.status, 200);
    assert.equal(verify(ex.body, { key: parseVerifierKey(info.logKey) }).events, sources.length);
    const got = ex.body
      .split('\n')
      .filter((l) => l && JSON.parse(l).type === 'event')
      .map((l) => JSON.parse(l).event.source as string);
    assert.deepEqual(
      got,
      [...sources].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
    );
    // Bad input.
    assert.equal((await exportText(O, at(10), at(0))).status, 400);
    assert.equal((await exportText(O, 'yesterday', at(0))).status, 400);
    const ahead = await exportText(O, at(0), at(10), 99);
    assert.equal(ahead.status, 409);
    assert.equal(JSON.parse(ahead.body).code, 'TLOG_ROLLBACK');
    const wrong = await h.call(O, 'GET', '/timeline/log/proof/consistency?from=5&to=1');
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.code, 'MERKLE_INDEX_OUT_OF_RANGE');
    const beyond = await h.call(O, 'GET', '/timeline/log/proof/consistency?from=0&to=7');
    assert.equal(beyond.body.code, 'MERKLE_INDEX_OUT_OF_RANGE');
    // A tenant with no events yet: no checkpoint, no export.
    const E = `empty-${randomBytes(3).toString('hex')}`;
    assert.equal((await h.call(E, 'GET', '/timeline/log/checkpoint')).body.code, 'TIMELINE_LOG_EMPTY');
    assert.equal((await exportText(E, at(0), at(10))).status, 404);
  });

  test('tenant isolation: each tenant sees only its own log, checkpoint, proofs and export', async () => {
    const [A, B] = [`iso-la-${randomBytes(2).toString('hex')}`, `iso-lb-${randomBytes(2).toString('hex')}`];
    const logs = timelineLogs(h.deps);
    await post(A, [ev(A, at(1), { subject: 'secret-of-a' }), ev(A, at(2))]);
    await post(B, [ev(B, at(3))]);
    await logs.round(new Date(T0 + 7200_000));
    const a = (await h.call(A, 'GET', '/timeline/log')).body;
    const b = (await h.call(B, 'GET', '/timeline/log')).body;
    assert.notEqual(a.origin, b.origin);
    assert.notEqual(a.checkpoint, b.checkpoint);
    assert.notEqual(timelineLogId(A), timelineLogId(B));
    const exB = await exportText(B, at(0), at(10));
    assert.equal(exB.status, 200);
    assert.doesNotMatch(exB.body, /secret-of-a/);
    assert.doesNotMatch(exB.body, new RegExp(A));
    assert.equal(verify(exB.body, { key: parseVerifierKey(b.logKey) }).events, 1);
    // B's export does not verify under A's key, and the header cannot be re-tenanted.
    failsWith(exB.body, 'checkpoint', { key: parseVerifierKey(a.logKey) });
    // The batch rows are under RLS: B's tenant transaction sees none of A's.
    const seen = await h.db.withTenant(B, (tx) =>
      tx.query<{ n: string }>('SELECT count(*)::text AS n FROM timeline.log_batches WHERE tenant_id = $1', [A]),
    );
    assert.equal(seen.rows[0]!.n, '0');
    // The app role cannot write batches.
    await assert.rejects(
      h.db.withTenant(B, (tx) =>
        tx.query(
          "INSERT INTO timeline.log_batches (batch_no, first_arrival, last_arrival, min_at, max_at, max_at_so_far, logged_at, entry) VALUES (99, 1, 1, now(), now(), now(), now(), '\\x7b7d')",
        ),
      ),
    );
    // A token without timeline:read gets 403; another tenant's header 403.
    assert.equal((await h.call(A, 'GET', '/timeline/log', undefined, ['timeline:write'])).status, 403);
    const cross = await h.app.inject({
      method: 'GET',
      url: '/timeline/log/checkpoint',
      headers: { authorization: `Bearer ${await h.token(A)}`, 'x-stella-tenant': B },
    });
    assert.equal(cross.statusCode, 403);
  });
});
