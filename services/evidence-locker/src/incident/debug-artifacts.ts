/**
 * What a snapshot captures while incident mode is active (docs/evidence/incident-mode.md
 * "Captured artefacts"). Three extra artifacts, sealed into the bundle like any other:
 *
 * - `incident/request.json` (role `metadata`): the request's id, trace id, method, route, the
 *   principal's subject and scopes, an allow-list of headers (user agent, content type/length,
 *   traceparent, idempotency key) and the NAMES of the others — never the values of
 *   `authorization`, cookies or any header not on the list; no client address; the digest of the
 *   request body (the artifacts are in the bundle anyway).
 * - `incident/config.json` (role `metadata`): the sha256 of each section of the process
 *   configuration as `redactConfig` gives it (credentials already masked, so a digest never
 *   commits to a secret), and this service's own settings, which hold no secrets.
 * - `incident/request-log.jsonl` (role `log`): the lines the evidence locker logged for this
 *   request before sealing (each also went to the service log).
 *
 * Paths under `incident/` are reserved while incident mode is active.
 */
import type { FastifyRequest } from 'fastify';
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { StellaError } from '@stella/core/errors';
import { redactConfig } from '@stella/platform/config';
import type { ServiceDeps, TenantContext } from '@stella/platform/service';
import type { Incident } from './incident.js';

export const INCIDENT_PREFIX = 'incident/';
const HEADER_ALLOW_LIST = ['user-agent', 'content-type', 'content-length', 'traceparent', 'idempotency-key'];

export interface InlineArtifact {
  path: string;
  role: 'metadata' | 'log';
  mediaType: string;
  content: string;
}

interface LogLine {
  time: string;
  level: 'info' | 'warn';
  msg: string;
  [k: string]: JsonValue;
}

const lines = new WeakMap<FastifyRequest, LogLine[]>();

/**
 * Logs `msg` on the request's logger and keeps the line for an incident capture of this request.
 * Only the evidence locker's own lines are kept: the capture holds what this service knew.
 */
export function requestNote(req: FastifyRequest, msg: string, fields: Record<string, JsonValue> = {}): void {
  req.log.info(fields, msg);
  const kept = lines.get(req) ?? [];
  if (kept.length < 200) kept.push({ time: new Date().toISOString(), level: 'info', msg, ...fields });
  lines.set(req, kept);
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8').toString('base64');
const digestOf = (v: unknown) => sha256Digest(canonicalJcsBytes(JSON.parse(JSON.stringify(v ?? null)) as JsonValue));

/** Refuses caller artifacts under the reserved prefix (they would collide with the capture). */
export function checkReservedPaths(paths: readonly string[]): void {
  const i = paths.findIndex((p) => p.startsWith(INCIDENT_PREFIX));
  if (i >= 0)
    throw new StellaError(
      'VALIDATION_FAILED',
      `artifacts[${i}].path ${JSON.stringify(paths[i])}: paths under ${INCIDENT_PREFIX} are reserved while incident mode is active`,
      { details: { pointer: `/artifacts/${i}/path`, path: paths[i], reason: 'reserved during incident mode' } },
    );
}

export function incidentArtifacts(
  deps: ServiceDeps,
  ctx: TenantContext,
  req: FastifyRequest,
  incident: Incident,
  requestDigest: string,
): InlineArtifact[] {
  const headers: Record<string, string> = {};
  for (const name of HEADER_ALLOW_LIST) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  const request = {
    incident: { id: incident.id, reason: incident.reason, activatedAt: incident.activatedAt.toISOString() },
    requestId: ctx.requestId,
    traceId: ctx.traceId,
    method: req.method,
    route: req.routeOptions.url ?? null,
    receivedAt: new Date().toISOString(),
    principal: { subject: ctx.principal.subject, tenant: ctx.tenant, scopes: [...ctx.principal.scopes] },
    headers,
    otherHeaderNames: Object.keys(req.headers)
      .filter((h) => !HEADER_ALLOW_LIST.includes(h))
      .sort(),
    bodyDigest: requestDigest,
  };
  const redacted = redactConfig(deps.config) as Record<string, unknown>;
  const config = {
    configDigest: digestOf(redacted),
    sections: Object.fromEntries(
      Object.keys(redacted)
        .sort()
        .map((k) => [k, digestOf(redacted[k])]),
    ),
    drivers: { database: deps.db.driver, objectStore: deps.store.driver },
    settings: deps.settings,
  };
  requestNote(req, 'incident mode: capturing debug artefacts', { incidentId: incident.id });
  const log = (lines.get(req) ?? []).map((l) => JSON.stringify(l)).join('\n') + '\n';
  return [
    { path: `${INCIDENT_PREFIX}request.json`, role: 'metadata', mediaType: 'application/json', content: json(request) },
    { path: `${INCIDENT_PREFIX}config.json`, role: 'metadata', mediaType: 'application/json', content: json(config) },
    {
      path: `${INCIDENT_PREFIX}request-log.jsonl`,
      role: 'log',
      mediaType: 'application/jsonl',
      content: Buffer.from(log, 'utf8').toString('base64'),
    },
  ];
}
