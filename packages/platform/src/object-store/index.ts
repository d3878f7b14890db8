export type {
  ByteRange,
  GetResult,
  ListItem,
  ListOptions,
  ListPage,
  ObjectBody,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  PutResult,
  Sha256Digest,
} from './object-store.js';
export { assertValidKey, isContentAddressedKey, MAX_KEY_BYTES } from './object-key.js';
export { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.js';
export { S3ObjectStore, type S3ObjectStoreOptions, type S3WormMode } from './s3-object-store.js';
export { openObjectStore, type OpenObjectStoreOptions } from './open-object-store.js';
