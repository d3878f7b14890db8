/**
 * The one bridge from an HTTP request to tenant-scoped work (issue #6 item 2). The auth hook has
 * already checked the token, `X-Stella-Tenant` = token tenant and the route's scopes; a handler
 * then asks for its {@link TenantContext} and does everything inside `ctx.transaction(…)`:
 *
 *   const ctx = deps.tenants.forRequest(req);
 *   await ctx.transaction(async (tx) => {
 *     await tx.query('INSERT INTO evidence_locker.bundles …');      // RLS: this tenant only
 *     await tx.audit({ action: 'evidence.seal', resource: id });     // same transaction
 *     await tx.publish({ kind: 'evidence.bundle.sealed', … });       // outbox: sent iff committed
 *   });
 *
 * No service wires auth → tenant → `withTenant` → audit → outbox by hand.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/token-verifier.js';
import type { Db, Tx } from '../db/index.js';
import { newEvent, type EventEnvelope, type NewEventInit } from '../bus/event-envelope.js';
import { appendToOutbox } from '../bus/outbox.js';
import { requirePrincipal } from '../http/route-auth.js';

/** An audit entry; `actor`, tenant, service, request and trace ids are filled in. */
export interface AuditEntry {
  /** Dotted verb, e.g. `evidence.download`. */
  action: string;
  /** What it acted on (bundle id, run id, …). */
  resource?: string;
  /** Default `ok`. */
  outcome?: 'ok' | 'denied' | 'failed';
  details?: Record<string, unknown>;
}

/** An event to publish; tenant, eventId, occurredAt, source, actor and traceId are filled in. */
export type TenantEventInit = Omit<NewEventInit, 'tenant' | 'source'> & { source?: string };

/** A `withTenant` transaction with audit and outbox bound to it. */
export interface TenantTx extends Tx {
  readonly tenant: string;
  audit(entry: AuditEntry): Promise<void>;
  /** Appends to the transactional outbox; returns the envelope (with its eventId). */
  publish(event: TenantEventInit): Promise<EventEnvelope>;
}

export interface TenantContext {
  readonly principal: Principal;
  readonly tenant: string;
  readonly requestId: string;
  readonly traceId: string;
  /** One transaction as the tenant: RLS applies to every statement. */
  transaction<T>(fn: (tx: TenantTx) => Promise<T>): Promise<T>;
}

export interface TenantContexts {
  /** The context of an authenticated tenant route's request (throws AUTH_REQUIRED on a public route). */
  forRequest(req: FastifyRequest): TenantContext;
}

/** Who a tenant transaction acts as: the audit row's and the events' actor and context. */
interface TxActor {
  readonly service: string;
  readonly tenant: string;
  readonly actor: string;
  readonly requestId?: string;
  readonly traceId?: string;
}

/** The {@link TenantTx} surface over one tenant transaction (routes and background work alike). */
function tenantTx(tx: Tx, a: TxActor): TenantTx {
  return {
    tenant: a.tenant,
    query: (sql, params) => tx.query(sql, params),
    exec: (sql) => tx.exec(sql),
    async audit(entry) {
      await tx.query(
        `INSERT INTO stella_platform.audit_log (service, actor, action, resource, outcome, request_id, trace_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
        [
          a.service,
          a.actor,
          entry.action,
          entry.resource ?? null,
          entry.outcome ?? 'ok',
          a.requestId ?? null,
          a.traceId ?? null,
          entry.details === undefined ? null : JSON.stringify(entry.details),
        ],
      );
    },
    async publish(init) {
      const event = newEvent({
        source: a.service,
        actor: a.actor,
        ...(a.traceId !== undefined ? { traceId: a.traceId } : {}),
        ...init,
        tenant: a.tenant,
      });
      await appendToOutbox(tx, event);
      return event;
    },
  } as TenantTx;
}

/**
 * A tenant transaction for a service's own background work (purge worker, scheduler, pruner),
 * which has no request: the surface routes get from `forRequest` — RLS as the tenant, audit entry
 * and outbox event in the same transaction — with a system actor (e.g. `system:export-scheduler`).
 */
export function systemTransaction<T>(
  db: Db,
  service: string,
  tenant: string,
  actor: string,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return db.withTenant(tenant, (tx) => fn(tenantTx(tx, { service, tenant, actor })));
}

/** The tenant contexts of one service (its name becomes the events' `source` and the audit `service`). */
export function createTenantContexts(db: Db, service: string): TenantContexts {
  return {
    forRequest(req) {
      const principal = requirePrincipal(req);
      const tenant = principal.tenant;
      const requestId = String(req.id);
      const traceId = req.trace.traceId;
      return {
        principal,
        tenant,
        requestId,
        traceId,
        transaction: (fn) =>
          db.withTenant(tenant, (tx) =>
            fn(tenantTx(tx, { service, tenant, actor: principal.subject, requestId, traceId })),
          ),
      };
    },
  };
}
