/**
 * `json:policy`: the policy-input shape, the default and custom allow-lists (redaction counted),
 * options problems with JSON pointers; output read back with GNU gzip.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalizeJcs } from '@stella/core/canonical-json';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { createStagingSink } from '../bundle/staging-sink.js';
import type { SourceRecord } from '../sources/source-record.js';
import { datasetRecords, iterate } from '../testing/index.js';
import { DEFAULT_ALLOW } from './json-policy.js';
import { getAdapter } from './registry.js';

const adapter = getAdapter('json:policy');
let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
before(async () => {
  dir = await tempDir('stella-json-policy-');
  records = await datasetRecords(datasetsDir, 8);
});
after(async () => {
  await dir?.cleanup();
});

async function exportWith(options: unknown, name: string) {
  const v = adapter.validateOptions(options);
  assert.ok(v.ok, JSON.stringify(v));
  const s = await createStagingSink(join(dir.path, name));
  const result = await adapter.write({
    records: iterate(records),
    options: v.options,
    out: s,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime: null,
  });
  return { s, result };
}

async function lines(file: string): Promise<Record<string, unknown>[]> {
  const bytes = await readFile(file);
  const text = file.endsWith('.gz')
    ? (await run('gzip', ['-dc'], { input: bytes })).stdout.toString('utf8')
    : bytes.toString('utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((l) => {
      assert.equal(l, canonicalizeJcs(JSON.parse(l)), 'RFC 8785 line');
      return JSON.parse(l) as Record<string, unknown>;
    });
}

describe('json:policy', { skip: needTool('gzip') }, () => {
  test('default allow-lists: the documented shape, prose and references dropped, redactions counted', async () => {
    const { s, result } = await exportWith({}, 'default');
    try {
      assert.deepEqual(
        s.files().map((f) => f.path),
        ['policy-input/advisory.jsonl.gz', 'policy-input/sbom.jsonl.gz', 'policy-input/vex.jsonl.gz'],
      );
      let expectedRedacted = 0;
      for (const kind of ['advisory', 'sbom', 'vex'] as const) {
        const got = await lines(join(s.dir, `policy-input/${kind}.jsonl.gz`));
        const want = records.filter((r) => r.kind === kind);
        assert.equal(got.length, want.length);
        got.forEach((line, i) => {
          const r = want[i]!;
          const doc = r.document as Record<string, unknown>;
          const allowed = Object.keys(doc).filter((k) => DEFAULT_ALLOW[kind].includes(k));
          expectedRedacted += Object.keys(doc).length - allowed.length;
          assert.deepEqual(Object.keys(line).sort(), [
            'document',
            'ecosystem',
            'id',
            'kind',
            'modifiedAt',
            'packages',
            'project',
            'schema',
            'severity',
            'source',
            'tenant',
          ]);
          assert.equal(line.schema, 'stella.policy-input/v1');
          assert.equal(line.id, r.recordId);
          assert.deepEqual(line.source, { format: r.format, digest: r.digest, ledgerSeq: r.ledgerSeq.toString() });
          assert.deepEqual(line.document, Object.fromEntries(allowed.map((k) => [k, doc[k]])));
        });
      }
      assert.ok(expectedRedacted > 0);
      assert.equal(result.counts.redactedFields, expectedRedacted);
      assert.equal(result.counts.records, records.length);
      // The go-vulndb entries carry `details` and `references`; neither survives.
      const adv = await lines(join(s.dir, 'policy-input/advisory.jsonl.gz'));
      assert.ok(adv.every((l) => !('details' in (l.document as object)) && !('references' in (l.document as object))));
    } finally {
      await s.dispose();
    }
  });

  test('a custom allow-list keeps only its fields; "*" keeps the document whole', async () => {
    const { s, result } = await exportWith({ allow: { advisory: ['id'], vex: ['*'] }, compression: 'none' }, 'custom');
    try {
      const adv = await lines(join(s.dir, 'policy-input/advisory.jsonl'));
      assert.ok(adv.every((l) => Object.keys(l.document as object).join() === 'id'));
      const vex = await lines(join(s.dir, 'policy-input/vex.jsonl'));
      const want = records.filter((r) => r.kind === 'vex');
      vex.forEach((l, i) => assert.deepEqual(l.document, want[i]!.document));
      assert.ok(result.counts.redactedFields! > 0);
    } finally {
      await s.dispose();
    }
  });

  test('every options problem at once, each with its JSON pointer', () => {
    const r = adapter.validateOptions({
      allow: { nope: ['id'], advisory: 'id', vex: ['a', 'a', 5], sbom: ['*', 'x'] },
      compression: 'brotli',
    });
    assert.equal(r.ok, false);
    assert.deepEqual((r as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/allow/advisory',
      '/allow/nope',
      '/allow/sbom',
      '/allow/vex/1',
      '/allow/vex/2',
      '/compression',
    ]);
    assert.equal(adapter.validateOptions({ allow: [] }).ok, false);
  });
});
