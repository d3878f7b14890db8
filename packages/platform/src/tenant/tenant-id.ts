/**
 * The one tenant-id rule (DESIGN.md §3): auth (the `tenant` claim and `X-Stella-Tenant`), the
 * database (`set_config('app.tenant_id', …)`), the bus (envelopes, `Nats-Msg-Id` =
 * `<tenant>:<eventId>`), object keys and config all import it from here.
 *
 * A letter or digit, then up to 127 letters, digits, `.`, `_` or `-`. Narrow on purpose: the id
 * travels in headers, JWT claims, SQL settings, NATS subjects, object keys and log lines, so it
 * must need no escaping anywhere — and it never contains `:` (the `Nats-Msg-Id` separator),
 * whitespace or a NATS/Redis wildcard.
 */
import { StellaError } from '@stella/core/errors';

export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `tenant` is a well-formed tenant id. */
export function isTenantId(tenant: unknown): tenant is string {
  return typeof tenant === 'string' && TENANT_ID_PATTERN.test(tenant);
}

/** Throws `TENANT_INVALID` unless `tenant` matches {@link TENANT_ID_PATTERN}. */
export function assertTenantId(tenant: unknown): asserts tenant is string {
  if (!isTenantId(tenant)) {
    const shown = typeof tenant === 'string' ? JSON.stringify(tenant.slice(0, 64)) : typeof tenant;
    throw new StellaError('TENANT_INVALID', `invalid tenant id ${shown}: expected ${TENANT_ID_PATTERN.source}`);
  }
}
