// The log entry encoding (docs/evidence/transparency-log.md "Entries") and the byte-range slicer
// of the logged bundle.tgz.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { holdEntry, sealEntry, sealEntryOfManifest, tombstoneEntry } from './log-entries.js';
import { sliceStream } from './logged-archive.js';
import { tenantLogId, tenantLogName, tenantLogOrigin } from './tenant-log.js';

const root = 'ab'.repeat(32);
const manifestDigest = `sha256:${'cd'.repeat(32)}`;

test('entries are RFC 8785 JSON with a type, never naming the tenant; the seal entry follows from manifest.json', () => {
  const seal = sealEntry({
    bundleId: '01JABC',
    kind: 'job',
    createdAt: '2026-12-07T00:00:00.000Z',
    rootHash: root,
    manifestDigest,
  });
  assert.equal(
    Buffer.from(seal.bytes).toString('utf8'),
    `{"bundleId":"01JABC","kind":"job","manifest":{"digest":"${manifestDigest}"},"merkle":{"algorithm":"rfc9162-sha256","root":"${root}"},"sealedAt":"2026-12-07T00:00:00.000Z","type":"stella.evidence.seal/v1"}`,
  );
  assert.deepEqual(seal.names, [`sha256:${root}`, manifestDigest]);
  const manifest = {
    bundleId: '01JABC',
    kind: 'job',
    tenant: 'acme',
    createdAt: '2026-12-07T00:00:00.000Z',
    merkle: { algorithm: 'rfc9162-sha256', root, leafCount: 3 },
  };
  assert.deepEqual(sealEntryOfManifest(manifest, manifestDigest).bytes, seal.bytes);
  const at = new Date('2026-12-07T01:00:00Z');
  const hold = holdEntry('hold', { bundleId: '01JABC', caseId: 'c1', at, rootHash: root });
  const release = holdEntry('release', { bundleId: '01JABC', caseId: 'c1', at, rootHash: root });
  assert.notEqual(hold.digest, release.digest);
  const tomb = tombstoneEntry({
    bundleId: '01JABC',
    rootHash: root,
    manifestDigest,
    purgedAt: at,
    tombstoneJson: '{"payload":"x"}',
  });
  for (const e of [seal, hold, release, tomb]) {
    const text = Buffer.from(e.bytes).toString('utf8');
    assert.ok(!text.includes('acme'), 'no tenant');
    assert.match(JSON.parse(text).type, /^stella\.evidence\.(seal|hold|release|tombstone)\/v1$/);
  }
  assert.equal(tomb.names.length, 3);
});

test('log names and origins are per-tenant pseudonyms in the tlog id grammar', () => {
  assert.match(tenantLogName('Tenant.A'), /^[0-9a-f]{16}$/);
  assert.notEqual(tenantLogName('a'), tenantLogName('A'));
  assert.match(tenantLogId('Tenant.A'), /^[a-z0-9][a-z0-9._-]{0,127}$/);
  assert.equal(tenantLogOrigin('stella.local/evidence', 'x'), `stella.local/evidence/${tenantLogName('x')}`);
});

test('sliceStream gives exactly bytes start…end across chunk boundaries', async () => {
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const chunks = (size: number) =>
    Readable.from(Array.from({ length: Math.ceil(1000 / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));
  for (const size of [1, 7, 100, 1000])
    for (const [a, b] of [
      [0, 0],
      [0, 999],
      [5, 6],
      [99, 100],
      [998, 999],
      [123, 876],
    ] as const) {
      const out: Buffer[] = [];
      for await (const c of sliceStream(chunks(size), a, b)) out.push(c as Buffer);
      assert.deepEqual(Buffer.concat(out), bytes.subarray(a, b + 1), `chunks of ${size}, ${a}-${b}`);
    }
});
