/**
 * Tenant transactions for this service's own background work (scheduler fires, retention pruning): the platform's
 * `systemTransaction` with this service as the audit `service` and the events' `source`.
 */
import type { Db } from '@stella/platform/db';
import { systemTransaction as platformSystemTransaction, type TenantTx } from '@stella/platform/service';

export const SERVICE_NAME = 'export-center';

export function systemTransaction<T>(
  db: Db,
  tenant: string,
  actor: string,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return platformSystemTransaction(db, SERVICE_NAME, tenant, actor, fn);
}
