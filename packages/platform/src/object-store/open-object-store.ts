/**
 * `openObjectStore(url)`: the one place that turns configuration (`STELLA_OBJECT_STORE`, see
 * DESIGN.md §2 "Runtime modes") into a driver.
 *
 *   file:///abs/path
 *   s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1[&worm=auto|object-lock|metadata]
 *              [&forcePathStyle=true|false][&lockMode=COMPLIANCE|GOVERNANCE]
 *
 * Credentials are never read from the URL (it ends up in logs); the config module passes them in
 * `opts.credentials` (STELLA_S3_ACCESS_KEY_ID / STELLA_S3_SECRET_ACCESS_KEY).
 */
import { fileURLToPath } from 'node:url';
import { StellaError } from '@stella/core/errors';
import { FsObjectStore } from './fs-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore, type S3ObjectStoreOptions, type S3WormMode } from './s3-object-store.js';

export interface OpenObjectStoreOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Clock for WORM decisions (tests). */
  now?: () => number;
  /** Extra S3 tuning (part sizes, an injected client). */
  s3?: Partial<S3ObjectStoreOptions>;
}

function bad(url: string, reason: string): StellaError {
  // Never echo userinfo: strip anything between '//' and '@'.
  const shown = url.replace(/\/\/[^/@]*@/, '//***@').slice(0, 200);
  return new StellaError('CONFIG_INVALID', `object store URL is invalid: ${reason}`, {
    details: { url: shown, reason },
  });
}

/** Parse `url` and build the matching driver (`CONFIG_INVALID` on any problem). No I/O happens. */
export function openObjectStore(url: string, opts: OpenObjectStoreOptions = {}): ObjectStore {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(String(url), 'not a URL');
  }
  if (u.username || u.password) throw bad(url, 'credentials do not belong in the URL; pass them in options');
  if (u.protocol === 'file:') {
    if (u.host !== '' || u.search !== '') throw bad(url, 'use file:///absolute/path with no host or query');
    const root = fileURLToPath(u);
    return new FsObjectStore({ root, ...(opts.now ? { now: opts.now } : {}) });
  }
  if (u.protocol === 's3:') {
    const bucket = u.hostname;
    if (!bucket) throw bad(url, 'missing bucket');
    if (u.pathname !== '' && u.pathname !== '/') throw bad(url, 'the bucket is the host; no path is allowed');
    const allowed = new Set(['endpoint', 'region', 'worm', 'forcePathStyle', 'lockMode']);
    for (const k of u.searchParams.keys()) if (!allowed.has(k)) throw bad(url, `unknown parameter ${k}`);
    const endpoint = u.searchParams.get('endpoint') ?? undefined;
    if (endpoint !== undefined) {
      let e: URL;
      try {
        e = new URL(endpoint);
      } catch {
        throw bad(url, 'endpoint is not a URL');
      }
      if (e.protocol !== 'http:' && e.protocol !== 'https:') throw bad(url, 'endpoint must be http(s)');
    }
    const worm = (u.searchParams.get('worm') ?? 'auto') as S3WormMode;
    if (!['auto', 'object-lock', 'metadata'].includes(worm))
      throw bad(url, 'worm must be auto, object-lock or metadata');
    const fps = u.searchParams.get('forcePathStyle');
    if (fps !== null && fps !== 'true' && fps !== 'false') throw bad(url, 'forcePathStyle must be true or false');
    const lockMode = u.searchParams.get('lockMode') ?? 'COMPLIANCE';
    if (lockMode !== 'COMPLIANCE' && lockMode !== 'GOVERNANCE')
      throw bad(url, 'lockMode must be COMPLIANCE or GOVERNANCE');
    const region = u.searchParams.get('region') ?? 'us-east-1';
    if (!/^[a-z0-9-]{1,32}$/.test(region)) throw bad(url, 'region is malformed');
    if (opts.credentials && (!opts.credentials.accessKeyId || !opts.credentials.secretAccessKey)) {
      throw new StellaError('CONFIG_INVALID', 'S3 credentials need both an access key id and a secret');
    }
    return new S3ObjectStore({
      ...opts.s3,
      bucket,
      region,
      worm,
      objectLockMode: lockMode,
      forcePathStyle: fps !== 'false',
      ...(endpoint ? { endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  }
  throw bad(url, `unsupported scheme ${u.protocol} (use file: or s3:)`);
}
