import { StellaError } from '@stella/core/errors';

/**
 * Allowed tenant ids: a letter or digit, then up to 127 letters, digits, `.`, `_` or `-`.
 * Narrow on purpose: the id ends up in `set_config`, object keys, NATS subjects and log lines,
 * so it must need no escaping anywhere.
 */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws `TENANT_INVALID` unless `tenant` matches {@link TENANT_ID_PATTERN}. */
export function assertTenantId(tenant: unknown): asserts tenant is string {
  if (typeof tenant !== 'string' || !TENANT_ID_PATTERN.test(tenant)) {
    const shown = typeof tenant === 'string' ? JSON.stringify(tenant.slice(0, 64)) : typeof tenant;
    throw new StellaError('TENANT_INVALID', `invalid tenant id ${shown}: expected ${TENANT_ID_PATTERN.source}`);
  }
}

/** Role names we accept for the application role: a plain lower-case SQL identifier. */
export const ROLE_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** `"name"` — only ever called with names that passed {@link ROLE_NAME_PATTERN}. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
