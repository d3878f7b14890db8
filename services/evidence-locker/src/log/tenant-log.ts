/**
 * One transparency log per tenant (issue 12 item 3; ADR 0013). The log id and checkpoint origin
 * are derived from the tenant by a hash, so neither a checkpoint nor a bundle carrying one names
 * the tenant: `<prefix>/<16 hex of SHA-256("stella evidence log\n" ‖ tenant)>`. This is a
 * pseudonym, not a secret (anyone who knows a tenant id can compute it) — it keeps tenant names
 * out of portable material, nothing more. The checkpoint key is the service seal key (Ed25519;
 * note key name = origin, c2sp.org/signed-note).
 */
import { createHash } from 'node:crypto';
import { StellaError } from '@stella/core/errors';
import { ed25519RawPublicKey, formatVerifierKey, noteSignerFromSigner, type NoteSigner } from '@stella/core/tlog';
import type { Db } from '@stella/platform/db';
import { resolveSigner } from '@stella/platform/keys';
import type { ObjectStore } from '@stella/platform/object-store';
import { TransparencyLog } from '@stella/platform/tlog';

/** Default first part of every tenant log's origin (`STELLA_EVIDENCE_LOG_ORIGIN`). */
export const DEFAULT_LOG_ORIGIN = 'stella.local/evidence';

export function tenantLogName(tenant: string): string {
  return createHash('sha256').update(`stella evidence log\n${tenant}`).digest('hex').slice(0, 16);
}

/** The `tlog.logs` id of the tenant's evidence log. */
export function tenantLogId(tenant: string): string {
  return `evidence.${tenantLogName(tenant)}`;
}

/** The checkpoint origin (first line of every checkpoint) of the tenant's evidence log. */
export function tenantLogOrigin(prefix: string, tenant: string): string {
  return `${prefix}/${tenantLogName(tenant)}`;
}

export interface LogDeps {
  db: Db;
  store: ObjectStore;
  signingKey: string;
  originPrefix: string;
}

/** The log's public identity: its origin and the note verifier key auditors pin. */
export interface LogIdentity {
  origin: string;
  verifierKey: string;
}

/** Resolves the seal key as a note signer named `origin`; TLOG_KEY_INVALID unless Ed25519. */
export async function noteSigner(
  signingKey: string,
  origin: string,
): Promise<{ signer: NoteSigner; verifierKey: string; close: () => Promise<void> }> {
  const s = await resolveSigner(signingKey);
  try {
    const signer = noteSignerFromSigner(origin, s);
    return {
      signer,
      verifierKey: formatVerifierKey(origin, ed25519RawPublicKey(s.publicKeySpki())),
      close: () => s.close(),
    };
  } catch (err) {
    await s.close();
    throw err;
  }
}

/**
 * A signer for views that only read (routes): the sequencer is the only writer of a log, so a
 * route's `TransparencyLog` never signs; calling it is a bug, reported as such.
 */
const READ_ONLY: NoteSigner = {
  name: 'read-only',
  keyId: 0,
  sign: () => Promise.reject(new StellaError('INTERNAL', 'a read-only log view cannot sign checkpoints')),
};

/** A read view of the tenant's log (creating its row, with the configured origin, on first use). */
export function openTenantLogView(deps: LogDeps, tenant: string): Promise<TransparencyLog> {
  return TransparencyLog.open({
    db: deps.db,
    store: deps.store,
    logId: tenantLogId(tenant),
    origin: tenantLogOrigin(deps.originPrefix, tenant),
    signers: [READ_ONLY],
  });
}

/** What routes need of the tenant logs: read views and the (cached) verifier key of an origin. */
export class LogAccess {
  private readonly vkeys = new Map<string, Promise<string>>();

  constructor(readonly deps: LogDeps) {}

  view(tenant: string): Promise<TransparencyLog> {
    return openTenantLogView(this.deps, tenant);
  }

  verifierKey(origin: string): Promise<string> {
    let p = this.vkeys.get(origin);
    if (!p) {
      p = noteSigner(this.deps.signingKey, origin).then(async (s) => {
        await s.close();
        return s.verifierKey;
      });
      this.vkeys.set(origin, p);
      p.catch(() => this.vkeys.delete(origin));
    }
    return p;
  }
}
