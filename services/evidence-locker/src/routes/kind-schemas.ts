/**
 * The JSON Schema (2020-12) of each snapshot kind (issue #8 item 3; published as
 * docs/formats/evidence-snapshot-<kind>.schema.json): which artifact roles and metadata members a
 * kind requires beyond the route's own body schema. Validated with Ajv's 2020-12 dialect and
 * `allErrors`, so a refused snapshot lists every problem at once.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { StellaError } from '@stella/core/errors';
import { BUNDLE_KINDS, type BundleKind } from '../bundle/manifest.js';

// One level above src/ and dist/ alike: the package's schemas folder.
const schemaFile = (kind: BundleKind) =>
  new URL(`../../schemas/evidence-snapshot-${kind}.schema.json`, import.meta.url);

export const KIND_SCHEMAS: Readonly<Record<BundleKind, { $id: string } & Record<string, unknown>>> = Object.fromEntries(
  BUNDLE_KINDS.map((k) => [k, JSON.parse(readFileSync(schemaFile(k), 'utf8')) as { $id: string }]),
) as never;

// verbose: a `contains` error then carries its schema, whose description says what is missing.
const ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true });
const validators = Object.fromEntries(BUNDLE_KINDS.map((k) => [k, ajv.compile(KIND_SCHEMAS[k])])) as Record<
  BundleKind,
  ValidateFunction
>;

function problemOf(e: ErrorObject): { pointer: string; keyword: string; message: string } {
  const where = e.instancePath || '/';
  const message =
    e.keyword === 'contains'
      ? `needs ${String((e.parentSchema as { description?: string } | undefined)?.description ?? 'a matching item')}`
      : (e.message ?? e.keyword);
  return { pointer: where, keyword: e.keyword, message };
}

/** Refuses a snapshot body its kind's schema does not accept (VALIDATION_FAILED, every problem listed). */
export function checkKindSchema(body: { kind: BundleKind }): void {
  const validate = validators[body.kind];
  if (validate(body as unknown)) return;
  // Failures inside a `contains` (each item that did not match) are not problems in themselves.
  const problems = (validate.errors ?? []).filter((e) => !e.schemaPath.includes('/contains/')).map(problemOf);
  throw new StellaError(
    'VALIDATION_FAILED',
    `a snapshot of kind ${body.kind} must match ${KIND_SCHEMAS[body.kind].$id}: ${problems
      .map((p) => `${p.pointer} ${p.message}`)
      .join('; ')}`,
    { details: { kind: body.kind, schema: KIND_SCHEMAS[body.kind].$id, problems } },
  );
}
