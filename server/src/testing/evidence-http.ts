/**
 * A started server (`startRuntime`) with a dev-token client, for the evidence locker's
 * robustness, crash and S3 tests. `env` is the STELLA_* configuration (its data dir decides the
 * dev issuer and signing key, so a restarted runtime on the same env accepts the same tokens).
 */
import { createHash } from 'node:crypto';
import { loadConfig } from '@stella/platform/config';
import { mintDevToken, startRuntime, type Runtime } from '../runtime.js';
import { SERVICES } from '../service-registry.js';

export const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface EvidenceClient {
  rt: Runtime;
  call(
    tenant: string,
    method: string,
    path: string,
    init?: { body?: Uint8Array | string; json?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  upload(tenant: string, bytes: Uint8Array, digest?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startEvidenceRuntime(env: Record<string, string>, cwd: string): Promise<EvidenceClient> {
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: `memory://evidence-${Date.now()}`, ...env },
    {},
    { cwd, services: SERVICES },
  );
  const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  const tokens = new Map<string, Promise<string>>();
  const token = (tenant: string) => {
    if (!tokens.has(tenant)) tokens.set(tenant, mintDevToken(rt.devIssuer!, tenant));
    return tokens.get(tenant)!;
  };
  const call: EvidenceClient['call'] = async (tenant, method, path, init = {}) =>
    fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token(tenant)}`,
        'x-stella-tenant': tenant,
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body ? { body: init.body } : {}),
    });
  return {
    rt,
    call,
    upload: (tenant, bytes, digest = sha(bytes)) =>
      call(tenant, 'PUT', `/evidence/blobs/${digest}`, {
        body: bytes,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    close: () => rt.close(),
  };
}
