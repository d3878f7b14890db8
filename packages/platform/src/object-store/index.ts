// The port's types, all of them: the module holds nothing else.
export type * from './object-store.js';
export { assertValidKey, isContentAddressedKey, MAX_KEY_BYTES } from './object-key.js';
export { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.js';
export { S3ObjectStore, type S3ObjectStoreOptions, type S3WormMode } from './s3-object-store.js';
export { openObjectStore, type OpenObjectStoreOptions } from './open-object-store.js';
