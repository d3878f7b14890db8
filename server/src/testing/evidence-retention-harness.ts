/**
 * Shared by the evidence retention / incident e2e tests (server/src/evidence-retention*.e2e.test.ts,
 * evidence-incident.e2e.test.ts): a runtime with a token per tenant, a sealer whose bundles share
 * two dataset blobs and own one, and an openssl check of a tombstone's DSSE signature over a PAE
 * that python3 builds — neither is our code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsDir, run, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { mintDevToken, startRuntime, type Runtime } from '../runtime.js';
import { SERVICES } from '../service-registry.js';

export const VEX = join(datasetsDir, 'vex/csaf/csaf_2.0/examples/csaf/csaf_vex/sec-vex-2022-0001.json');
export const SPDX = join(datasetsDir, 'sbom/spdx/software/example9/spdx3.0/appbomination.spdx3.json');
export const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface Tombstone {
  bundleId: string;
  rootHash: string;
  manifestDigest: string;
  reason: string;
  policy: { version: number; rule: string; keepFor: string; incidentExtension: string | null };
  publicKeyPem: string;
  envelope: { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] };
  objectsRemoved: boolean;
}

export interface Harness {
  rt: Runtime;
  dir: string;
  call(
    tenant: string,
    method: string,
    path: string,
    init?: { json?: unknown; body?: string; headers?: Record<string, string>; token?: string },
  ): Promise<Response>;
  json<T = Record<string, unknown>>(tenant: string, method: string, path: string, json?: unknown): Promise<T>;
  seal(tenant: string, kind: string, unique: string): Promise<{ bundleId: string; rootHash: string }>;
  close(): Promise<void>;
}

export async function harness(env: Record<string, string> = {}): Promise<Harness> {
  const dir = await tempDir('stella-retention-');
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: `memory://retention-${Date.now()}`, ...env },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  const tokens = new Map<string, string>();
  const token = async (tenant: string) => {
    if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken(rt.devIssuer!, tenant));
    return tokens.get(tenant)!;
  };
  const call: Harness['call'] = async (tenant, method, path, init = {}) =>
    fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${init.token ?? (await token(tenant))}`,
        'x-stella-tenant': tenant,
        ...(init.json !== undefined || init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body ? { body: init.body } : {}),
    });
  const json: Harness['json'] = async (tenant, method, path, body) => {
    const res = await call(tenant, method, path, body === undefined ? {} : { json: body });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const shared = [await readFile(VEX), await readFile(SPDX)];
  return {
    rt,
    dir: dir.path,
    call,
    json,
    async seal(tenant, kind, unique) {
      for (const b of shared)
        await call(tenant, 'PUT', `/evidence/blobs/${sha(b)}`, {
          body: b as unknown as string,
          headers: { 'content-type': 'application/octet-stream' },
        });
      return json(tenant, 'POST', '/evidence/snapshot', {
        kind,
        // Every kind's schema holds (docs/formats/evidence-snapshot-<kind>.schema.json): a subject
        // and an output artifact.
        subject: { name: 'run/unique.txt', digest: sha(Buffer.from(unique)) },
        artifacts: [
          { path: 'inputs/vex.json', role: 'input', mediaType: 'application/csaf+json', digest: sha(shared[0]!) },
          { path: 'inputs/sbom.json', role: 'input', mediaType: 'application/spdx+json', digest: sha(shared[1]!) },
          // Content only this bundle has: its blob goes with it; the shared ones stay.
          {
            path: 'run/unique.txt',
            role: 'output',
            mediaType: 'text/plain',
            content: Buffer.from(unique).toString('base64'),
          },
        ],
      });
    },
    close: async () => {
      await rt.close();
      await dir.cleanup();
    },
  };
}

export const archiveKey = (tenant: string, id: string) => `evidence/${tenant}/bundles/${id}.tgz`;
export const blobKey = (tenant: string, text: string) =>
  `evidence/${tenant}/blobs/sha256/${sha(Buffer.from(text)).slice('sha256:'.length)}`;

export async function outboxKinds(rt: Runtime): Promise<string[]> {
  const r = await rt.db.query<{ kind: string }>('SELECT kind FROM stella_platform.outbox ORDER BY id');
  return r.rows.map((row) => row.kind);
}

export async function custody(rt: Runtime, bundleId: string | null): Promise<string[]> {
  const r = await rt.db.query<{ action: string }>(
    `SELECT action FROM evidence_locker.custody_events WHERE bundle_id IS NOT DISTINCT FROM $1 ORDER BY id`,
    [bundleId],
  );
  return r.rows.map((row) => row.action);
}

/**
 * Checks a tombstone's DSSE signature with openssl over the PAE (DSSE v1 "Protocol") that
 * python3 builds from the envelope, as docs/evidence/retention.md tells an auditor to; returns
 * the decoded statement (parsed by python3 too).
 */
export async function opensslVerifyTombstone(dir: string, t: Tombstone): Promise<Record<string, unknown>> {
  await writeFile(join(dir, 'tombstone.json'), JSON.stringify(t.envelope));
  await writeFile(join(dir, 'tombstone.pub.pem'), t.publicKeyPem);
  const py = [
    'import base64, json, sys',
    'e = json.load(open("tombstone.json"))',
    'body = base64.b64decode(e["payload"])',
    't = e["payloadType"].encode()',
    'open("pae.bin", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))',
    'open("sig.bin", "wb").write(base64.b64decode(e["signatures"][0]["sig"]))',
    'sys.stdout.write(json.dumps(json.loads(body)))',
  ].join('\n');
  const built = await run('/usr/bin/python3', ['-c', py], { cwd: dir });
  assert.equal(built.code, 0, built.stderr.toString());
  const v = await run(
    'openssl',
    ['pkeyutl', '-verify', '-pubin', '-inkey', 'tombstone.pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'],
    { cwd: dir },
  );
  assert.equal(v.code, 0, v.stdout.toString() + v.stderr.toString());
  assert.match(v.stdout.toString(), /Signature Verified Successfully/);
  // One flipped byte of the statement and openssl refuses it.
  const pae = await readFile(join(dir, 'pae.bin'));
  pae.writeUInt8(pae.readUInt8(pae.length - 2) ^ 1, pae.length - 2);
  await writeFile(join(dir, 'pae.bin'), pae);
  const bad = await run(
    'openssl',
    ['pkeyutl', '-verify', '-pubin', '-inkey', 'tombstone.pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'],
    { cwd: dir },
  );
  assert.notEqual(bad.code, 0);
  return JSON.parse(built.stdout.toString()) as Record<string, unknown>;
}
