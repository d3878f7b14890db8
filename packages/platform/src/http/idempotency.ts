/**
 * `Idempotency-Key` on creating POSTs (DESIGN.md §3 "HTTP habits"; the IETF draft
 * "The Idempotency-Key HTTP Header Field"): a client that retries a request with the same key
 * gets the first answer again instead of creating a second resource.
 *
 * Per tenant and route, a service table holds (key → canonical request digest, stored response):
 *
 * - same key, same body (RFC 8785 canonical JSON, so key order and spacing do not matter) → the
 *   stored status and body, `replayed: true`, and `execute` is not called;
 * - same key, different body → 409 `IDEMPOTENCY_KEY_CONFLICT`;
 * - the same key sent twice at once → the key row is inserted first, in the same transaction as
 *   the work; PostgreSQL makes the second insert wait for the first transaction, so the second
 *   request then reads the first one's stored response (or, if the first rolled back, does the
 *   work itself). Nobody creates twice.
 *
 * The table belongs to the service (in its schema, tenant-scoped with RLS) and has the columns
 * `tenant_id, route, idempotency_key, request_digest, status_code, response jsonb` with primary
 * key `(tenant_id, route, idempotency_key)` — see export-center's 0003_runs.sql.
 */
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { StellaError } from '@stella/core/errors';
import type { Queryable } from '../db/index.js';

/** What a key may look like (visible ASCII without separators; at most 128 characters). */
export const IDEMPOTENCY_KEY_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

/** The OpenAPI/JSON schema of the header, for a route's `schema.headers`. */
export const IdempotencyKeyHeaderSchema = {
  type: 'string',
  pattern: IDEMPOTENCY_KEY_PATTERN,
  description:
    'Retrying with the same key and body answers the first response again; the same key with another body is 409 IDEMPOTENCY_KEY_CONFLICT.',
} as const;

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/;

export interface IdempotencyOptions {
  /** `schema.table` of the service's key table (a plain identifier pair). */
  readonly table: string;
  /** The route the key is scoped to, e.g. `POST /v1/exports/runs`. */
  readonly route: string;
  /** The header value; undefined = no idempotency, `execute` always runs. */
  readonly key: string | undefined;
  /** The request as JSON (body plus anything else that makes two requests "the same"). */
  readonly request: JsonValue;
}

export interface IdempotentResponse<T> {
  readonly statusCode: number;
  readonly body: T;
  /** True when this is the stored answer of an earlier request with the same key. */
  readonly replayed: boolean;
}

/** `sha256:` of the RFC 8785 bytes of `request`: equal for requests equal as JSON values. */
export function requestDigest(request: JsonValue): string {
  return sha256Digest(canonicalJcsBytes(request));
}

/**
 * Runs `execute` at most once per (tenant, route, key). `tx` must be the tenant transaction the
 * work happens in: the key row commits or rolls back together with it.
 */
export async function idempotent<T extends JsonValue>(
  tx: Queryable,
  opts: IdempotencyOptions,
  execute: () => Promise<{ statusCode: number; body: T }>,
): Promise<IdempotentResponse<T>> {
  if (opts.key === undefined) return { ...(await execute()), replayed: false };
  if (!TABLE_NAME.test(opts.table)) throw new Error(`idempotency table ${opts.table} is not schema.table`);
  if (!new RegExp(IDEMPOTENCY_KEY_PATTERN).test(opts.key))
    throw new StellaError('VALIDATION_FAILED', 'Idempotency-Key is not of the allowed form', {
      details: { field: 'idempotency-key', pattern: IDEMPOTENCY_KEY_PATTERN },
    });
  const digest = requestDigest(opts.request);
  // Claim the key first; a concurrent holder of the same key makes this wait for its commit.
  const claimed = await tx.query(
    `INSERT INTO ${opts.table} (route, idempotency_key, request_digest, status_code, response)
     VALUES ($1, $2, $3, 0, 'null'::jsonb) ON CONFLICT DO NOTHING`,
    [opts.route, opts.key, digest],
  );
  if (claimed.rowCount === 0) {
    const r = await tx.query<{ request_digest: string; status_code: number; response: T }>(
      `SELECT request_digest, status_code, response FROM ${opts.table} WHERE route = $1 AND idempotency_key = $2`,
      [opts.route, opts.key],
    );
    const earlier = r.rows[0];
    if (!earlier || earlier.status_code === 0)
      throw new StellaError('IDEMPOTENCY_KEY_CONFLICT', 'a request with this Idempotency-Key is still in progress', {
        details: { route: opts.route },
      });
    if (earlier.request_digest !== digest)
      throw new StellaError(
        'IDEMPOTENCY_KEY_CONFLICT',
        'this Idempotency-Key was already used on this route with a different request',
        { details: { route: opts.route } },
      );
    return { statusCode: earlier.status_code, body: earlier.response, replayed: true };
  }
  const result = await execute();
  await tx.query(
    `UPDATE ${opts.table} SET status_code = $3, response = $4::jsonb WHERE route = $1 AND idempotency_key = $2`,
    [opts.route, opts.key, result.statusCode, JSON.stringify(result.body)],
  );
  return { ...result, replayed: false };
}
