/** ExternalSorter: spilled runs merge into exactly the stable in-memory sort; run files are removed. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { tempDir } from '@stella/testkit';
import { ExternalSorter } from './sorter.js';

describe('ExternalSorter', () => {
  it('equals a stable sort by key bytes, with and without spilling (property)', async () => {
    const dir = await tempDir('stella-sorter-');
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 300 }),
          fc.constantFrom(200, 5_000, 1 << 20),
          async (pairs, runBytes) => {
            const s = new ExternalSorter(dir.path, runBytes);
            // The value carries the insertion index so that stability is checked too.
            const input = pairs.map(([k, v], i) => ({
              key: Buffer.from(k),
              value: Buffer.concat([Buffer.from(`${i}:`), Buffer.from(v)]),
            }));
            for (const p of input) await s.add(p.key, p.value);
            const got: { key: Buffer; value: Buffer }[] = [];
            for await (const p of s.sorted()) got.push(p);
            await s.dispose();
            const want = [...input].sort((a, b) => Buffer.compare(a.key, b.key));
            assert.deepEqual(
              got.map((p) => [p.key.toString('hex'), p.value.toString('hex')]),
              want.map((p) => [p.key.toString('hex'), p.value.toString('hex')]),
            );
            assert.deepEqual(await readdir(dir.path), [], 'run files removed');
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await dir.cleanup();
    }
  });
});
