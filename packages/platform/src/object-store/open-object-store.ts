/**
 * `openObjectStore(config)`: turns the parsed `STELLA_OBJECT_STORE` (the config table's
 * `parseObjectStoreUri` is its only grammar; docs/config.md) into a driver. No I/O happens here.
 * Credentials never come from the URL (it ends up in logs): the config module takes them from
 * `STELLA_S3_ACCESS_KEY_ID` / `STELLA_S3_SECRET_ACCESS_KEY`.
 */
import type { ObjectStoreConfig } from '../config/config.js';
import { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';

export interface OpenObjectStoreOptions {
  /** Clock for WORM decisions (tests). */
  now?: () => number;
  /** Extra fs driver options (`verifyOnRead`, `lockStaleMs`). */
  fs?: Partial<Omit<FsObjectStoreOptions, 'root'>>;
  /** Extra S3 tuning (part sizes, an injected client, `verifyOnRead`). */
  s3?: Partial<S3ObjectStoreOptions>;
}

/** The driver `config` describes. */
export function openObjectStore(config: Readonly<ObjectStoreConfig>, opts: OpenObjectStoreOptions = {}): ObjectStore {
  const now = opts.now ? { now: opts.now } : {};
  if (config.kind === 'file') return new FsObjectStore({ ...opts.fs, root: config.root, ...now });
  return new S3ObjectStore({
    ...opts.s3,
    bucket: config.bucket,
    region: config.region,
    worm: config.worm,
    objectLockMode: config.lockMode,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // A copy: the config is deep-frozen, and the AWS SDK records its credential source on the
    // object it is given (`$source`), which fails on a frozen one ("Cannot set properties of undefined").
    ...(config.credentials ? { credentials: { ...config.credentials } } : {}),
    ...now,
  });
}
