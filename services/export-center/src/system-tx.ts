/**
 * Tenant transactions for the export center's own background work (scheduler fires, retention
 * pruning), which has no request: the same {@link TenantTx} surface routes get from
 * `deps.tenants.forRequest` — RLS as the tenant, audit entry and outbox event in the same
 * transaction — with a system actor (e.g. `system:export-scheduler`).
 */
import { appendToOutbox, newEvent } from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import type { TenantTx } from '@stella/platform/service';

export const SERVICE_NAME = 'export-center';

export function systemTransaction<T>(
  db: Db,
  tenant: string,
  actor: string,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return db.withTenant(tenant, (tx) =>
    fn({
      tenant,
      query: (sql, params) => tx.query(sql, params),
      exec: (sql) => tx.exec(sql),
      async audit(entry) {
        await tx.query(
          `INSERT INTO stella_platform.audit_log (service, actor, action, resource, outcome, details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
          [
            SERVICE_NAME,
            actor,
            entry.action,
            entry.resource ?? null,
            entry.outcome ?? 'ok',
            entry.details === undefined ? null : JSON.stringify(entry.details),
          ],
        );
      },
      async publish(init) {
        const event = newEvent({ source: SERVICE_NAME, actor, ...init, tenant });
        await appendToOutbox(tx, event);
        return event;
      },
    } as TenantTx),
  );
}
