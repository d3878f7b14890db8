/**
 * `json:raw` and the registry: options (all problems at once, with JSON pointers; an unknown
 * compression refused with its code), unknown adapters, uncompressed output, cancellation mid-stream, and a stream that
 * breaks the ledger order.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalizeJcs } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { assertRejectsStella, assertStellaError, datasetsDir, tempDir } from '@stella/testkit';
import { createStagingSink } from '../bundle/staging-sink.js';
import type { SourceRecord } from '../sources/source-record.js';
import { datasetRecords, documentRecord, iterate, ledgerOrder } from '../testing/index.js';
import { compress } from './compression.js';
import { rawRecordJson, rawRecordLine } from './record-stream.js';
import { ADAPTERS, adapterIds, getAdapter } from './registry.js';

let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
before(async () => {
  dir = await tempDir('stella-json-raw-');
  records = await datasetRecords(datasetsDir, 5);
});
after(async () => {
  await dir?.cleanup();
});

const input = (
  out: Awaited<ReturnType<typeof createStagingSink>>,
  recs: AsyncIterable<SourceRecord>,
  signal = new AbortController().signal,
) => ({
  records: recs,
  options: { compression: 'none' },
  out,
  signal,
  progress: () => undefined,
  exportTime: null,
});

describe('registry', () => {
  test('every adapter has a unique family:variant id and a version; lookup by id', () => {
    assert.deepEqual(adapterIds(), [...new Set(ADAPTERS.map((a) => a.id))].sort());
    for (const a of ADAPTERS) {
      assert.match(a.id, /^[a-z]+:[a-z]+(-[a-z]+)*$/); // trivy:java-db (issue #14 names it so)
      assert.equal(getAdapter(a.id), a);
      assert.ok(a.version.length > 0);
    }
  });
  test('an unknown adapter is a coded error naming the known ones', () => {
    const e = assertStellaError(() => getAdapter('grype:db'), 'EXPORT_ADAPTER_UNKNOWN', /json:raw/);
    assert.deepEqual(e.details, { adapter: 'grype:db', known: adapterIds() });
  });
});

describe('json:raw options', () => {
  const a = getAdapter('json:raw');
  test('defaults: gzip at level 6', () => {
    assert.deepEqual(a.validateOptions(undefined), { ok: true, options: { compression: 'gzip', gzipLevel: 6 } });
    assert.deepEqual(a.validateOptions({ compression: 'none' }), { ok: true, options: { compression: 'none' } });
  });
  test('every problem at once, each with its JSON pointer', () => {
    const r = a.validateOptions({ compression: 'lz4', gzipLevel: 12, 'ex/tra': true });
    assert.equal(r.ok, false);
    assert.deepEqual((r as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/compression',
      '/ex~1tra',
      '/gzipLevel',
    ]);
    const notObject = a.validateOptions([1]);
    assert.equal(notObject.ok, false);
  });
  test('an unknown compression is an option problem, and refused by the compressor with its code', async () => {
    const r = a.validateOptions({ compression: 'lz4' });
    assert.equal(r.ok, false);
    assert.match((r as { problems: { message: string }[] }).problems[0]!.message, /"zstd"/);
    assertStellaError(
      () => compress(iterate([]) as never, { compression: 'lz4' as never }),
      'EXPORT_COMPRESSION_UNSUPPORTED',
      /lz4/,
    );
  });
});

describe('json:raw output', () => {
  test('uncompressed: data/<kind>.jsonl with RFC 8785 lines; counts per kind', async () => {
    const s = await createStagingSink(join(dir.path, 'none'));
    try {
      const { counts } = await getAdapter('json:raw').write(input(s, iterate(records)));
      const files = s.files();
      assert.deepEqual(
        files.map((f) => [f.path, f.mediaType]),
        [
          ['data/advisory.jsonl', 'application/jsonl'],
          ['data/sbom.jsonl', 'application/jsonl'],
          ['data/vex.jsonl', 'application/jsonl'],
        ],
      );
      const lines = (await readFile(join(s.dir, 'data/vex.jsonl'), 'utf8')).trimEnd().split('\n');
      const vex = records.filter((r) => r.kind === 'vex');
      assert.equal(lines.length, vex.length);
      assert.equal(lines[0], canonicalizeJcs(JSON.parse(lines[0]!)));
      assert.equal(counts.vex, vex.length);
      assert.equal(counts.records, records.length);
    } finally {
      await s.dispose();
    }
  });

  test('records carrying their stored RFC 8785 text give the same file bytes as re-canonicalising', async () => {
    // Documents where a naive splice would differ: escapes, non-ASCII, numbers RFC 8785 rewrites,
    // keys sorting around the record's own field names, nested "document" and "digest" keys.
    const tricky = [
      { id: 'T-1', n: [1e21, 1.5e-7, -0, 100, 0.1], s: 'line\nbreak "quoted" \u0007 é 😀 \u2028' },
      { document: { digest: 'x' }, a: {}, b: [], z: null, aa: true, '': 'empty key', é: 1, '\u0000': 0 },
      { id: 'T-3', deep: [[[{ b: 2, a: 1 }]]] },
    ];
    const plain = [
      ...records,
      ...tricky.map((d, i) => documentRecord('finding', `t-${i}`, 'findings', d, 100n + BigInt(i))),
    ];
    const stored = plain.map((r) => ({ ...r, canonicalDocument: canonicalizeJcs(r.document) }));
    for (const r of stored)
      assert.deepEqual(Buffer.from(rawRecordLine(r)), Buffer.from(canonicalizeJcs(rawRecordJson(r))));
    const write = async (name: string, recs: SourceRecord[]) => {
      const s = await createStagingSink(join(dir.path, name));
      try {
        await getAdapter('json:raw').write({
          ...input(s, iterate(ledgerOrder(recs))),
          options: { compression: 'gzip', gzipLevel: 6 },
        });
        return s.files().map((f) => [f.path, f.digest, f.size]);
      } finally {
        await s.dispose();
      }
    };
    assert.deepEqual(await write('spliced', stored), await write('parsed', plain));
  });

  test('cancel mid-stream throws the signal reason promptly and stages nothing', async () => {
    const s = await createStagingSink(join(dir.path, 'cancel'));
    const ac = new AbortController();
    let yielded = 0;
    const endless = (async function* () {
      for (let i = 0; ; i++) {
        yielded++;
        if (i === 2000) ac.abort(new StellaError('CONFLICT', 'run cancelled'));
        yield documentRecord('finding', `f-${String(i).padStart(9, '0')}`, 'findings', { i }, BigInt(i + 1));
      }
    })();
    try {
      await assertRejectsStella(
        () =>
          getAdapter('json:raw').write({
            ...input(s, endless, ac.signal),
            options: { compression: 'gzip', gzipLevel: 6 },
          }),
        'CONFLICT',
        /run cancelled/,
      );
      assert.ok(yielded < 2100, `stopped after ${yielded}`);
      assert.deepEqual(s.files(), []);
    } finally {
      await s.dispose();
    }
  });

  test('records of one kind that are not contiguous (broken ledger order) fail as INTERNAL', async () => {
    const s = await createStagingSink(join(dir.path, 'order'));
    try {
      const mixed = [
        documentRecord('vex', 'a', 'openvex', {}, 1n),
        documentRecord('sbom', 'b', 'cyclonedx', {}, 2n),
        documentRecord('vex', 'c', 'openvex', {}, 3n),
      ];
      await assertRejectsStella(() => getAdapter('json:raw').write(input(s, iterate(mixed))), 'INTERNAL');
    } finally {
      await s.dispose();
    }
  });
});
