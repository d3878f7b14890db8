/**
 * The tenant's secret salt key (ADR 0011): 32 random bytes made on the tenant's first snapshot
 * and never changed, from which every artifact salt of the tenant is derived. Two first
 * snapshots racing both insert; ON CONFLICT keeps the first and both read it back.
 */
import { randomBytes } from 'node:crypto';
import type { TenantTx } from '@stella/platform/service';

export async function tenantSaltKey(tx: TenantTx): Promise<Uint8Array> {
  await tx.query('INSERT INTO evidence_locker.salt_keys (secret) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING', [
    randomBytes(32),
  ]);
  const r = await tx.query<{ secret: Uint8Array }>('SELECT secret FROM evidence_locker.salt_keys');
  return new Uint8Array(r.rows[0]!.secret);
}
