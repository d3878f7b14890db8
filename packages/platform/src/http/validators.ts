/**
 * Schema validation without surprises (issue 19 finding 4). Fastify's one Ajv instance coerces
 * types everywhere (`coerceTypes: 'array'`), so a JSON body `{"count": "1"}`, `true` or `["1"]`
 * validated as the integer 1 and `null` as `""`: the handler then saw a value the client never
 * sent. A JSON body has real types, so it is validated with coercion off. The querystring, path
 * parameters and headers are text by nature; coercing them (`?limit=10` → 10) is the intent there.
 * Unknown properties are never removed (`removeAdditional: false`): a schema that forbids them
 * answers 400, one that allows them keeps them.
 */
import AjvCompiler from '@fastify/ajv-compiler';

const COMMON = { removeAdditional: false, useDefaults: true, allErrors: false } as const;

/** Options for Fastify's `ajv` server option (the text parts). */
export const AJV_OPTIONS = { customOptions: { ...COMMON, coerceTypes: 'array' as const } };

/** Fastify `schemaController.compilersFactory.buildValidator`: bodies strict, text parts coerced. */
export function buildValidator(
  ...[externalSchemas, options]: Parameters<AjvCompiler.ValidatorFactory>
): AjvCompiler.ValidatorCompiler {
  const text = AjvCompiler()(externalSchemas, options);
  const body = AjvCompiler()(externalSchemas, {
    ...options,
    customOptions: { ...options?.customOptions, ...COMMON, coerceTypes: false },
  } as Parameters<AjvCompiler.ValidatorFactory>[1]);
  return (route) => (route.httpPart === 'body' ? body(route) : text(route));
}
