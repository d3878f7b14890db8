/**
 * The object store port (DESIGN.md §2 "object store (fs, S3)", issue #2 item 4).
 *
 * Blobs (evidence bundles, export files, artifacts) live here; Postgres holds the rows that name
 * them. Two drivers implement the port — {@link FsObjectStore} and {@link S3ObjectStore} — and
 * one contract suite (`testing/object-store-contract.ts`) runs over both.
 *
 * Guarantees every driver gives:
 * - **Streaming**: bodies are consumed chunk by chunk and hashed while written; no driver holds a
 *   whole object in memory.
 * - **Verify before visible**: the SHA-256 and size are checked before the object appears under its
 *   key; on a mismatch or a failing source stream nothing is left behind.
 * - **Content addressing**: `sha256:<64 lowercase hex>` keys always hold exactly those bytes.
 * - **Verify on read** (default, opt-out per driver): a full `get` streams the bytes through a
 *   SHA-256 check against the recorded digest and fails the stream with `OBJECT_CORRUPT` on a
 *   mismatch. A ranged `get` cannot be checked against a whole-object digest (docs/object-store.md).
 * - **WORM**: an object with a future `retainUntil` or a legal hold can be neither overwritten nor
 *   deleted (`OBJECT_RETAINED`); retention can be extended, never shortened (like S3 Object Lock
 *   compliance mode).
 */
import type { Readable } from 'node:stream';

/** A SHA-256 digest in the project's one string form. */
export type Sha256Digest = `sha256:${string}`;

/** What `put` accepts: a Node stream, any async iterable of bytes, or (small) bytes. */
export type ObjectBody = Readable | AsyncIterable<Uint8Array> | Uint8Array;

export interface PutOptions {
  /** Refuse (`OBJECT_DIGEST_MISMATCH`, nothing kept) unless the bytes hash to this. */
  expectedDigest?: string;
  /** Refuse (`OBJECT_SIZE_MISMATCH`, nothing kept) unless exactly this many bytes arrive. */
  size?: number;
  contentType?: string;
  /** WORM: refuse overwrite/delete until this instant (rounded up to a whole second). */
  retainUntil?: Date;
  /** WORM: refuse overwrite/delete until released with `setLegalHold(key, false)`. */
  legalHold?: boolean;
}

export interface PutResult {
  key: string;
  digest: Sha256Digest;
  size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. `end` is clamped to `size - 1`. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectInfo {
  key: string;
  /** Size of the whole object in bytes. */
  size: number;
  digest?: Sha256Digest;
  contentType?: string;
  retainUntil?: Date;
  legalHold: boolean;
  lastModified?: Date;
}

export interface GetResult extends ObjectInfo {
  body: Readable;
  /** The range served (inclusive), when one was asked for. */
  range?: { start: number; end: number };
  /** Bytes in `body` (`size`, or the range length). */
  length: number;
}

export interface ListItem {
  key: string;
  size: number;
  digest?: Sha256Digest;
}

export interface ListPage {
  items: ListItem[];
  /** Opaque; pass it back as `cursor` for the next page. Absent on the last page. */
  nextCursor?: string;
}

export interface ListOptions {
  /** 1…1000, default 1000. */
  limit?: number;
  cursor?: string;
}

/** The port. Keys follow `object-key.ts` (`OBJECT_KEY_INVALID` otherwise). */
export interface ObjectStore {
  /** `'fs'` or `'s3'`. */
  readonly driver: string;
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<PutResult>;
  /**
   * Store under `sha256:<hex>` of the bytes. Idempotent: storing the same bytes again returns the
   * existing object (its retention can only be extended, a legal hold only added, by the options).
   */
  putContentAddressed(
    body: ObjectBody,
    opts?: Omit<PutOptions, 'expectedDigest'> & { expectedDigest?: string },
  ): Promise<PutResult>;
  get(key: string, opts?: { range?: ByteRange }): Promise<GetResult>;
  head(key: string): Promise<ObjectInfo>;
  exists(key: string): Promise<boolean>;
  /** Remove the object; `OBJECT_NOT_FOUND` when absent, `OBJECT_RETAINED` while retained or held. */
  delete(key: string): Promise<void>;
  setLegalHold(key: string, on: boolean): Promise<void>;
  /** Move `retainUntil` later; an earlier date than the current one is `OBJECT_RETAINED`. */
  extendRetention(key: string, until: Date): Promise<void>;
  /** Keys starting with `prefix` in byte order, keyset-paginated. */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /**
   * Remove what interrupted writes left behind and only the store itself can see: staging files or
   * staging keys (and, fs, unreferenced blobs and stale lock files; S3, unfinished multipart uploads
   * of staging keys) last modified more than `olderThanMs` ago. Never touches a visible object.
   * Returns the driver-internal names removed (for the log).
   */
  sweepAbandoned(opts: { olderThanMs: number }): Promise<{ removed: string[] }>;
  /** Readiness: resolves when the store can be used, else `OBJECT_STORE_UNAVAILABLE`. */
  ping(): Promise<void>;
  /** Release clients and handles. */
  close(): Promise<void>;
}
