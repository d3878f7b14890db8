/**
 * The per-kind snapshot schemas: the published copies in docs/formats/ are these files, each one
 * compiles as strict JSON Schema 2020-12, and each kind accepts what it documents and refuses the
 * rest with every problem listed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { isStellaError } from '@stella/core/errors';
import { BUNDLE_KINDS, type BundleKind } from '../bundle/manifest.js';
import { KIND_SCHEMAS, checkKindSchema } from './kind-schemas.js';

const art = (role: string, path = `${role}.json`) => ({ path, role, mediaType: 'application/json', content: 'e30=' });
const subject = { digest: `sha256:${'a'.repeat(64)}` };

function problems(body: Record<string, unknown>): string[] {
  try {
    checkKindSchema(body as { kind: BundleKind });
  } catch (err) {
    assert.ok(isStellaError(err) && err.code === 'VALIDATION_FAILED');
    const d = err.details as { problems: { pointer: string; message: string }[]; schema: string };
    assert.equal(d.schema, KIND_SCHEMAS[body.kind as BundleKind].$id);
    return d.problems.map((p) => `${p.pointer} ${p.message}`);
  }
  return [];
}

describe('snapshot kind schemas', () => {
  test('docs/formats/ publishes exactly these schemas (2020-12)', async () => {
    for (const kind of BUNDLE_KINDS) {
      const name = `evidence-snapshot-${kind}.schema.json`;
      const published = await readFile(new URL(`../../../../docs/formats/${name}`, import.meta.url), 'utf8');
      const source = await readFile(new URL(`../../schemas/${name}`, import.meta.url), 'utf8');
      assert.equal(
        published,
        source,
        `docs/formats/${name}: cp services/evidence-locker/schemas/${name} docs/formats/`,
      );
      assert.equal(JSON.parse(source).$schema, 'https://json-schema.org/draft/2020-12/schema');
    }
  });

  test('evaluation: an input; typed policy metadata', () => {
    assert.deepEqual(problems({ kind: 'evaluation', artifacts: [art('input')] }), []);
    assert.deepEqual(
      problems({
        kind: 'evaluation',
        artifacts: [art('input'), art('output')],
        metadata: { policy: 'default', result: 'pass', evaluatedAt: '2026-12-03T10:00:00Z', free: [1] },
      }),
      [],
    );
    assert.deepEqual(
      problems({
        kind: 'evaluation',
        artifacts: [art('log')],
        metadata: { policy: 7, result: 'maybe', evaluatedAt: 'yesterday' },
      }),
      [
        '/artifacts needs at least one artifact with role input',
        '/metadata/policy must be string',
        '/metadata/result must be equal to one of the allowed values',
        '/metadata/evaluatedAt must match pattern "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"',
      ],
    );
  });

  test('job: an output or a log; typed status', () => {
    assert.deepEqual(problems({ kind: 'job', artifacts: [art('log')] }), []);
    assert.deepEqual(problems({ kind: 'job', artifacts: [art('output')], metadata: { status: 'succeeded' } }), []);
    assert.deepEqual(
      problems({ kind: 'job', artifacts: [art('input')], metadata: { status: 'done', exitCode: 1.5 } }),
      [
        '/artifacts needs at least one artifact with role output or log',
        '/metadata/status must be equal to one of the allowed values',
        '/metadata/exitCode must be integer',
      ],
    );
  });

  test('export: a subject and an output', () => {
    assert.deepEqual(
      problems({ kind: 'export', subject, artifacts: [art('output')], metadata: { profile: 'mirror' } }),
      [],
    );
    assert.deepEqual(problems({ kind: 'export', artifacts: [art('input')], metadata: { runId: '' } }), [
      "/ must have required property 'subject'",
      '/artifacts needs at least one artifact with role output',
      '/metadata/runId must NOT have fewer than 1 characters',
    ]);
  });
});
