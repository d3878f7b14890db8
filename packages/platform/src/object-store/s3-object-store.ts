/**
 * S3 driver of the object store port (docs/object-store.md "S3 driver"), over
 * `@aws-sdk/client-s3` with path-style addressing and a custom endpoint.
 *
 * Write path — **stage, verify, copy**: the body streams (hashed on the way) into a private
 * staging key `~stella/staging/<random>` with `@aws-sdk/lib-storage` (multipart above `partSize`,
 * so memory stays at about `partSize × (queueSize + 1)` whatever the object size). Only when the
 * SHA-256 and size match is the staged version copied to its final key — with its metadata and
 * Object Lock headers in the same request — and the staging object removed. A mismatch, a failing
 * source or a refused WORM check removes the staging object and aborts multipart uploads, so
 * nothing ever becomes visible under the final key. `~` cannot occur in caller keys, so staging
 * keys never collide with them, and they sort after every caller key (listing stops there).
 *
 * WORM, two modes chosen per bucket (`worm: 'auto'` asks `GetObjectLockConfiguration`):
 * - `object-lock` (bucket created with Object Lock): retain-until and legal hold are real S3
 *   Object Lock on the object version (`COMPLIANCE` mode by default), so the server itself refuses
 *   to delete a retained version. S3 locks *versions*, not keys — a plain overwrite or delete would
 *   just add a version or a delete marker — so the driver also checks the current version before
 *   overwrite and delete, and deletes by version id (removing all versions of the key).
 * - `metadata` (no Object Lock): the WORM state lives in the object's user metadata and only this
 *   driver enforces it. Anyone with raw S3 credentials can still delete. Documented as a fallback.
 *
 * Read path: a full `get` is verified against the SHA-256 the driver recorded at write time
 * (`x-amz-meta-stella-sha256`, and the key itself for content addresses) while streaming
 * (`verifyOnRead`, default on). S3 keeps its own checksums (MD5 ETags, optional CRC/SHA
 * checksums) against media decay, but it serves whatever bytes an authorised writer put: a raw
 * `PutObject` by another client is a new, valid S3 object. The check makes such bytes fail.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  S3Client,
  UploadPartCopyCommand,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StellaError, isStellaError } from '@stella/core/errors';
import { assertValidKey, isContentAddressedKey } from './object-key.js';
import {
  admitPut,
  assertExtends,
  assertNotRetained,
  bodyChunks,
  checkDate,
  checkLegalHoldFlag,
  checkPutOptions,
  checkSweepAge,
  corrupt,
  DigestCounter,
  KeyedMutex,
  listWindow,
  notFound,
  resolveRange,
  toListPage,
  unavailable,
  verifyingStream,
  verifyWritten,
  type CheckedPutOptions,
} from './object-store-support.js';
import type {
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

export type S3WormMode = 'auto' | 'object-lock' | 'metadata';

export interface S3ObjectStoreOptions {
  bucket: string;
  /** e.g. `http://127.0.0.1:9000`; omit for AWS. */
  endpoint?: string;
  /** Default `us-east-1`. */
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default true (`http://host/bucket/key`), which S3-compatible servers expect. */
  forcePathStyle?: boolean;
  /** How retention and legal hold are kept; default `auto` (Object Lock if the bucket has it). */
  worm?: S3WormMode;
  /** Object Lock retention mode; default `COMPLIANCE` (cannot be shortened or bypassed). */
  objectLockMode?: 'COMPLIANCE' | 'GOVERNANCE';
  /** Multipart part size for uploads; default 8 MiB (S3 minimum 5 MiB). */
  partSize?: number;
  /** Parts uploaded in parallel; default 2. Memory ≈ partSize × (queueSize + 1). */
  queueSize?: number;
  /** Objects larger than this are copied with UploadPartCopy; default 5 GiB (CopyObject's limit). */
  multipartCopyThreshold?: number;
  /** Part size for multipart copies; default 512 MiB. */
  copyPartSize?: number;
  /** Clock for WORM decisions (ms since epoch); default `Date.now`. */
  now?: () => number;
  /** Use this client instead of building one (the store will not destroy it). */
  client?: S3Client;
  /**
   * Hash a full `get` while streaming and fail the stream with `OBJECT_CORRUPT` unless the bytes
   * match the recorded SHA-256 (default true).
   */
  verifyOnRead?: boolean;
}

const STAGING_PREFIX = '~stella/staging/';
const META_DIGEST = 'stella-sha256';
const META_RETAIN = 'stella-retain-until';
const META_HOLD = 'stella-legal-hold';
const MiB = 1024 * 1024;

export class S3ObjectStore implements ObjectStore {
  readonly driver = 's3';
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly now: () => number;
  private readonly lockMode: 'COMPLIANCE' | 'GOVERNANCE';
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly copyThreshold: number;
  private readonly copyPartSize: number;
  private readonly verifyOnRead: boolean;
  private readonly mutex = new KeyedMutex();
  private wormMode?: Promise<'object-lock' | 'metadata'>;
  private readonly wormOpt: S3WormMode;
  /** Set once a server asked for a checksum header on lock-carrying copies (moto does). */
  private lockHint = false;

  constructor(opts: S3ObjectStoreOptions) {
    if (typeof opts.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) {
      throw new StellaError('CONFIG_INVALID', 'S3 bucket name is invalid', { details: { bucket: opts.bucket } });
    }
    this.bucket = opts.bucket;
    this.ownsClient = !opts.client;
    this.client =
      opts.client ??
      new S3Client({
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        region: opts.region ?? 'us-east-1',
        forcePathStyle: opts.forcePathStyle ?? true,
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        // We verify SHA-256 ourselves; the SDK's default CRC trailers are not understood by every
        // S3-compatible server.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    this.now = opts.now ?? Date.now;
    this.lockMode = opts.objectLockMode ?? 'COMPLIANCE';
    this.partSize = Math.max(opts.partSize ?? 8 * MiB, 5 * MiB);
    this.queueSize = Math.max(opts.queueSize ?? 2, 1);
    this.copyThreshold = opts.multipartCopyThreshold ?? 5 * 1024 * MiB;
    this.copyPartSize = Math.max(opts.copyPartSize ?? 512 * MiB, 5 * MiB);
    this.verifyOnRead = opts.verifyOnRead ?? true;
    this.wormOpt = opts.worm ?? 'auto';
    if (!['auto', 'object-lock', 'metadata'].includes(this.wormOpt)) {
      throw new StellaError('CONFIG_INVALID', 'S3 worm mode must be auto, object-lock or metadata', {
        details: { worm: this.wormOpt },
      });
    }
  }

  /** The WORM mode in force for this bucket (detected once with `worm: 'auto'`). */
  worm(): Promise<'object-lock' | 'metadata'> {
    if (this.wormOpt !== 'auto') return Promise.resolve(this.wormOpt);
    this.wormMode ??= this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket })).then(
      (r) => (r.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled' ? 'object-lock' : 'metadata'),
      (err) => {
        this.wormMode = undefined;
        if (awsName(err) === 'ObjectLockConfigurationNotFoundError') return 'metadata';
        throw unavailable(`read Object Lock configuration of bucket ${this.bucket}`, err);
      },
    );
    return this.wormMode;
  }

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<PutResult> {
    const o = await admitPut(body, async () => {
      assertValidKey(key);
      const checked = checkPutOptions(opts);
      if (!isContentAddressedKey(key)) {
        // Fail fast before uploading a body that would be refused; re-checked before the copy.
        const cur = await this.headRaw(key);
        if (cur) assertNotRetained(key, await this.infoOf(key, cur), this.now(), 'overwrite');
      }
      return checked;
    });
    return this.stageAndPublish(body, o, key);
  }

  async putContentAddressed(body: ObjectBody, opts?: PutOptions): Promise<PutResult> {
    const o = await admitPut(body, () => checkPutOptions(opts));
    return this.stageAndPublish(body, o, undefined);
  }

  async get(key: string, opts?: { range?: ByteRange }): Promise<GetResult> {
    assertValidKey(key);
    // The GET must return the object the HEAD described, or the digest check would fail on a
    // concurrent overwrite: versioned buckets pin the version, unversioned ones send If-Match
    // with the ETag and, on 412, look again (as the fs driver re-reads its sidecar).
    for (let attempt = 0; attempt < 3; attempt++) {
      const head = await this.headRaw(key);
      if (!head) break;
      const info = await this.infoOf(key, head);
      const range = resolveRange(opts?.range, info.size);
      if (isContentAddressedKey(key) && info.digest !== undefined && info.digest !== key) {
        throw corrupt(key, 'the recorded digest is not the content address', { digest: info.digest });
      }
      const expected = info.digest ?? (isContentAddressedKey(key) ? key : undefined);
      if (this.verifyOnRead && expected === undefined) {
        // Not written by this driver (a raw PutObject): there is nothing to verify against.
        throw corrupt(key, 'no recorded SHA-256 (x-amz-meta-stella-sha256)', {
          recorded: head.Metadata?.[META_DIGEST],
        });
      }
      let r;
      try {
        r = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(head.VersionId ? { VersionId: head.VersionId } : head.ETag ? { IfMatch: head.ETag } : {}),
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
      } catch (err) {
        if (awsName(err) === 'PreconditionFailed') continue;
        if (isNotFound(err)) break;
        throw unavailable(`get ${key}`, err);
      }
      const raw = r.Body instanceof Readable ? r.Body : Readable.from([]);
      // A range cannot be checked against the whole-object digest without reading it all.
      const body = this.verifyOnRead && !range ? verifyingStream(raw, key, expected!, info.size) : raw;
      return { ...info, body, length: range ? range.end - range.start + 1 : info.size, ...(range ? { range } : {}) };
    }
    throw notFound(key);
  }

  async head(key: string): Promise<ObjectInfo> {
    assertValidKey(key);
    const head = await this.headRaw(key);
    if (!head) throw notFound(key);
    return this.infoOf(key, head);
  }

  async exists(key: string): Promise<boolean> {
    assertValidKey(key);
    return (await this.headRaw(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.mutex.run(key, async () => {
      const head = await this.headRaw(key);
      if (!head) throw notFound(key);
      assertNotRetained(key, await this.infoOf(key, head), this.now(), 'delete');
      if ((await this.worm()) === 'object-lock') await this.purgeVersions(key);
      else await this.deleteRaw(key, undefined);
    });
  }

  async setLegalHold(key: string, on: boolean): Promise<void> {
    assertValidKey(key);
    checkLegalHoldFlag(on);
    await this.mutex.run(key, async () => {
      const head = await this.headRaw(key);
      if (!head) throw notFound(key);
      try {
        if ((await this.worm()) === 'object-lock') {
          await this.client.send(
            new PutObjectLegalHoldCommand({
              Bucket: this.bucket,
              Key: key,
              ...(head.VersionId ? { VersionId: head.VersionId } : {}),
              LegalHold: { Status: on ? 'ON' : 'OFF' },
            }),
          );
        } else {
          await this.rewriteMetadata(key, head, { [META_HOLD]: on ? 'ON' : 'OFF' });
        }
      } catch (err) {
        throw isStellaError(err) ? err : unavailable(`set legal hold on ${key}`, err);
      }
    });
  }

  async extendRetention(key: string, until: Date): Promise<void> {
    assertValidKey(key);
    const u = checkDate(until, 'until');
    await this.mutex.run(key, async () => {
      const head = await this.headRaw(key);
      if (!head) throw notFound(key);
      const info = await this.infoOf(key, head);
      // Compliance-mode S3 refuses to shorten too, but not every S3-compatible server does
      // (moto does not), so the rule is enforced here for every backend.
      assertExtends(key, info.retainUntil, u);
      if (info.retainUntil?.getTime() === u.getTime()) return;
      try {
        if ((await this.worm()) === 'object-lock') {
          await this.client.send(
            new PutObjectRetentionCommand({
              Bucket: this.bucket,
              Key: key,
              ...(head.VersionId ? { VersionId: head.VersionId } : {}),
              Retention: { Mode: this.lockMode, RetainUntilDate: u },
            }),
          );
        } else {
          await this.rewriteMetadata(key, head, { [META_RETAIN]: u.toISOString() });
        }
      } catch (err) {
        throw isStellaError(err) ? err : unavailable(`extend retention of ${key}`, err);
      }
    });
  }

  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const { limit, after } = listWindow(prefix, opts);
    let r;
    try {
      r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: limit + 1,
          ...(after !== undefined ? { StartAfter: after } : {}),
        }),
      );
    } catch (err) {
      throw unavailable('list objects', err);
    }
    const items: ListItem[] = [];
    for (const c of r.Contents ?? []) {
      // `~` sorts after every character a caller key may hold: from here on only internal keys.
      if (!c.Key || c.Key.startsWith('~')) break;
      items.push({ key: c.Key, size: c.Size ?? 0, ...(isContentAddressedKey(c.Key) ? { digest: c.Key } : {}) });
    }
    return toListPage(items, limit);
  }

  async sweepAbandoned(opts: { olderThanMs: number }): Promise<{ removed: string[] }> {
    const cutoff = this.now() - checkSweepAge(opts?.olderThanMs);
    const removed: string[] = [];
    const old = (d: Date | undefined) => d !== undefined && d.getTime() < cutoff;
    // Staging keys are named only by the put that created them, which deletes them on every path;
    // an old one was left by a crash or a failed cleanup.
    const versioned = (await this.worm()) === 'object-lock';
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const r = await this.send(
        versioned
          ? new ListObjectVersionsCommand({
              Bucket: this.bucket,
              Prefix: STAGING_PREFIX,
              ...(keyMarker ? { KeyMarker: keyMarker } : {}),
              ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
            })
          : new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: STAGING_PREFIX,
              ...(keyMarker ? { ContinuationToken: keyMarker } : {}),
            }),
        'list staging objects',
      );
      const page = r as {
        Versions?: { Key?: string; VersionId?: string; LastModified?: Date }[];
        DeleteMarkers?: { Key?: string; VersionId?: string; LastModified?: Date }[];
        Contents?: { Key?: string; LastModified?: Date }[];
        IsTruncated?: boolean;
        NextKeyMarker?: string;
        NextVersionIdMarker?: string;
        NextContinuationToken?: string;
      };
      const entries = versioned ? [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])] : (page.Contents ?? []);
      for (const e of entries) {
        if (!e.Key?.startsWith(STAGING_PREFIX) || !old(e.LastModified)) continue;
        await this.deleteRaw(e.Key, (e as { VersionId?: string }).VersionId);
        removed.push(e.Key);
      }
      keyMarker = page.IsTruncated ? (versioned ? page.NextKeyMarker : page.NextContinuationToken) : undefined;
      versionMarker = page.NextVersionIdMarker;
    } while (keyMarker);
    // Multipart uploads of staging keys that were never completed nor aborted (a crash mid-upload)
    // keep their parts, invisible and billed, until aborted.
    let uploadMarker: { KeyMarker?: string; UploadIdMarker?: string } = {};
    for (;;) {
      const r = (await this.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: STAGING_PREFIX, ...uploadMarker }),
        'list multipart uploads',
      )) as {
        Uploads?: { Key?: string; UploadId?: string; Initiated?: Date }[];
        IsTruncated?: boolean;
        NextKeyMarker?: string;
        NextUploadIdMarker?: string;
      };
      for (const u of r.Uploads ?? []) {
        if (!u.Key?.startsWith(STAGING_PREFIX) || !u.UploadId || !old(u.Initiated)) continue;
        await this.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
          'abort multipart upload',
        );
        removed.push(`${u.Key} (multipart upload ${u.UploadId})`);
      }
      if (!r.IsTruncated) break;
      uploadMarker = {
        ...(r.NextKeyMarker ? { KeyMarker: r.NextKeyMarker } : {}),
        ...(r.NextUploadIdMarker ? { UploadIdMarker: r.NextUploadIdMarker } : {}),
      };
    }
    return { removed };
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      throw unavailable(`reach bucket ${this.bucket}`, err);
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  // --- internals -------------------------------------------------------------------------------

  private async stageAndPublish(body: ObjectBody, o: CheckedPutOptions, key: string | undefined): Promise<PutResult> {
    const staging = STAGING_PREFIX + randomBytes(12).toString('hex');
    let stagedVersion: string | undefined;
    let uploaded = false;
    try {
      const counter = new DigestCounter(o.size);
      const chunks = bodyChunks(body);
      let sourceError: unknown;
      const hashed = Readable.from(
        (async function* () {
          try {
            for await (const chunk of chunks) {
              counter.update(chunk);
              yield chunk;
            }
          } catch (err) {
            sourceError = err;
            throw err;
          }
        })(),
        { objectMode: false },
      );
      try {
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key: staging, Body: hashed },
          partSize: this.partSize,
          queueSize: this.queueSize,
          leavePartsOnError: false,
        });
        const done = await upload.done();
        stagedVersion = (done as { VersionId?: string }).VersionId;
        uploaded = true;
      } catch (err) {
        // The caller's own stream error (or our size check) is reported as such, not as an outage.
        if (sourceError !== undefined) throw sourceError;
        throw unavailable('upload object', err);
      }
      const digest = counter.digest();
      verifyWritten(digest, counter.size, o, key !== undefined && isContentAddressedKey(key) ? key : undefined);
      const finalKey = key ?? digest;
      return await this.mutex.run(finalKey, () =>
        this.publish(finalKey, staging, stagedVersion, digest, counter.size, o),
      );
    } finally {
      // Best effort: a failed cleanup leaves an invisible staging object under ~stella/, which a
      // lifecycle rule on that prefix expires (docs/object-store.md).
      await this.removeStaging(staging, uploaded ? stagedVersion : undefined).catch(() => {});
    }
  }

  private async publish(
    key: string,
    staging: string,
    stagedVersion: string | undefined,
    digest: Sha256Digest,
    size: number,
    o: CheckedPutOptions,
  ): Promise<PutResult> {
    const cur = await this.headRaw(key);
    const mode = await this.worm();
    if (cur && isContentAddressedKey(key)) {
      // Idempotent: the same bytes are already there. Options may only strengthen WORM.
      const info = await this.infoOf(key, cur);
      if (o.retainUntil && (!info.retainUntil || info.retainUntil < o.retainUntil)) {
        if (mode === 'object-lock') {
          await this.send(
            new PutObjectRetentionCommand({
              Bucket: this.bucket,
              Key: key,
              ...(cur.VersionId ? { VersionId: cur.VersionId } : {}),
              Retention: { Mode: this.lockMode, RetainUntilDate: o.retainUntil },
            }),
            'extend retention',
          );
        } else await this.rewriteMetadata(key, cur, { [META_RETAIN]: o.retainUntil.toISOString() });
      }
      if (o.legalHold && !info.legalHold) {
        const fresh = (await this.headRaw(key)) ?? cur;
        if (mode === 'object-lock') {
          await this.send(
            new PutObjectLegalHoldCommand({
              Bucket: this.bucket,
              Key: key,
              ...(fresh.VersionId ? { VersionId: fresh.VersionId } : {}),
              LegalHold: { Status: 'ON' },
            }),
            'set legal hold',
          );
        } else await this.rewriteMetadata(key, fresh, { [META_HOLD]: 'ON' });
      }
      return { key, digest: (info.digest ?? digest) as Sha256Digest, size: info.size };
    }
    if (cur) assertNotRetained(key, await this.infoOf(key, cur), this.now(), 'overwrite');
    const metadata: Record<string, string> = { [META_DIGEST]: digest.slice('sha256:'.length) };
    const lock: Record<string, unknown> = {};
    if (mode === 'object-lock') {
      if (o.retainUntil)
        Object.assign(lock, { ObjectLockMode: this.lockMode, ObjectLockRetainUntilDate: o.retainUntil });
      if (o.legalHold) lock.ObjectLockLegalHoldStatus = 'ON';
    } else {
      if (o.retainUntil) metadata[META_RETAIN] = o.retainUntil.toISOString();
      if (o.legalHold) metadata[META_HOLD] = 'ON';
    }
    const source = `${this.bucket}/${encodeURIComponent(staging)}${stagedVersion ? `?versionId=${encodeURIComponent(stagedVersion)}` : ''}`;
    const common = {
      Bucket: this.bucket,
      Key: key,
      Metadata: metadata,
      ...(o.contentType ? { ContentType: o.contentType } : {}),
      ...lock,
    };
    if (size > this.copyThreshold && size > 0) {
      await this.copyMultipart(source, size, common);
      if (mode === 'object-lock' && (o.retainUntil || o.legalHold)) await this.ensureLock(key, o);
    } else
      await this.copyWithLock(
        new CopyObjectCommand({ ...common, CopySource: source, MetadataDirective: 'REPLACE' }),
        Object.keys(lock).length > 0,
      );
    // The previous version was unlocked (checked above); drop it so overwrites do not pile up
    // noncurrent versions. If the server refuses (a hold raced in), the old version stays locked.
    if (cur?.VersionId && mode === 'object-lock') await this.deleteRaw(key, cur.VersionId).catch(() => {});
    return { key, digest, size };
  }

  /** CopyObject carrying Object Lock headers; see `lockHint`. */
  private async copyWithLock(
    cmd: CopyObjectCommand | CreateMultipartUploadCommand,
    hasLock: boolean,
  ): Promise<unknown> {
    const attempt = () => {
      if (hasLock && this.lockHint) {
        // moto (like S3 for PutObject) insists on Content-MD5 or x-amz-sdk-checksum-algorithm on
        // any request carrying Object Lock headers, even a copy with an empty body.
        cmd.middlewareStack.addRelativeTo(
          (next: any) => (args: any) => {
            args.request.headers['x-amz-sdk-checksum-algorithm'] = 'SHA256';
            return next(args);
          },
          { relation: 'after', toMiddleware: 'serializerMiddleware', name: 'stellaLockHint', override: true },
        );
      }
      return this.client.send(cmd as CopyObjectCommand);
    };
    try {
      return await attempt();
    } catch (err) {
      if (hasLock && !this.lockHint && awsName(err) === 'MissingUploadObjectWithObjectLockHeaders') {
        this.lockHint = true;
        try {
          return await attempt();
        } catch (err2) {
          throw unavailable('publish object', err2);
        }
      }
      throw unavailable('publish object', err);
    }
  }

  /** UploadPartCopy for objects over CopyObject's 5 GiB limit; aborts the upload on failure. */
  private async copyMultipart(source: string, size: number, common: Record<string, unknown>): Promise<void> {
    const hasLock = 'ObjectLockMode' in common || 'ObjectLockLegalHoldStatus' in common;
    const created = (await this.copyWithLock(new CreateMultipartUploadCommand(common as any), hasLock)) as {
      UploadId?: string;
    };
    const uploadId = created.UploadId!;
    try {
      const parts = [];
      for (let start = 0, n = 1; start < size; start += this.copyPartSize, n++) {
        const end = Math.min(start + this.copyPartSize, size) - 1;
        const r = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: common.Key as string,
            UploadId: uploadId,
            PartNumber: n,
            CopySource: source,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: common.Key as string,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: common.Key as string, UploadId: uploadId }))
        .catch(() => {});
      throw unavailable('copy object (multipart)', err);
    }
  }

  /**
   * Some servers (moto) ignore Object Lock headers on CreateMultipartUpload although S3 honours
   * them; check the published version and apply what is missing, so WORM holds either way.
   */
  private async ensureLock(key: string, o: CheckedPutOptions): Promise<void> {
    const h = await this.headRaw(key);
    if (!h) throw unavailable(`verify lock of ${key}`, new Error('object vanished after publish'));
    const version = h.VersionId ? { VersionId: h.VersionId } : {};
    if (o.retainUntil && !(h.ObjectLockRetainUntilDate && new Date(h.ObjectLockRetainUntilDate) >= o.retainUntil)) {
      await this.send(
        new PutObjectRetentionCommand({
          Bucket: this.bucket,
          Key: key,
          ...version,
          Retention: { Mode: this.lockMode, RetainUntilDate: o.retainUntil },
        }),
        'set retention',
      );
    }
    if (o.legalHold && h.ObjectLockLegalHoldStatus !== 'ON') {
      await this.send(
        new PutObjectLegalHoldCommand({ Bucket: this.bucket, Key: key, ...version, LegalHold: { Status: 'ON' } }),
        'set legal hold',
      );
    }
  }

  /** Metadata-mode WORM update: copy the object onto itself with replaced user metadata. */
  private async rewriteMetadata(
    key: string,
    head: HeadObjectCommandOutput,
    patch: Record<string, string>,
  ): Promise<void> {
    const source = `${this.bucket}/${encodeURIComponent(key)}${head.VersionId ? `?versionId=${encodeURIComponent(head.VersionId)}` : ''}`;
    await this.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: key,
        CopySource: source,
        MetadataDirective: 'REPLACE',
        Metadata: { ...(head.Metadata ?? {}), ...patch },
        ...(head.ContentType ? { ContentType: head.ContentType } : {}),
      }),
      'update object metadata',
    );
  }

  private async send(cmd: any, what: string): Promise<unknown> {
    try {
      return await this.client.send(cmd);
    } catch (err) {
      throw unavailable(what, err);
    }
  }

  private async headRaw(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable(`head ${key}`, err);
    }
  }

  private async infoOf(key: string, h: HeadObjectCommandOutput): Promise<ObjectInfo> {
    const meta = h.Metadata ?? {};
    const hex = meta[META_DIGEST];
    const mode = await this.worm();
    let retainUntil: Date | undefined;
    let legalHold: boolean;
    if (mode === 'object-lock') {
      retainUntil = h.ObjectLockRetainUntilDate ? new Date(h.ObjectLockRetainUntilDate) : undefined;
      legalHold = h.ObjectLockLegalHoldStatus === 'ON';
    } else {
      retainUntil = meta[META_RETAIN] ? new Date(meta[META_RETAIN]) : undefined;
      legalHold = meta[META_HOLD] === 'ON';
    }
    return {
      key,
      size: h.ContentLength ?? 0,
      ...(hex && /^[0-9a-f]{64}$/.test(hex) ? { digest: `sha256:${hex}` as Sha256Digest } : {}),
      ...(h.ContentType ? { contentType: h.ContentType } : {}),
      ...(retainUntil && !Number.isNaN(retainUntil.getTime()) ? { retainUntil } : {}),
      legalHold,
      ...(h.LastModified ? { lastModified: h.LastModified } : {}),
    };
  }

  private async deleteRaw(key: string, versionId: string | undefined): Promise<void> {
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
    } catch (err) {
      if (awsName(err) === 'AccessDenied') {
        // With Object Lock the server refuses to delete a locked version: that is WORM working.
        throw new StellaError('OBJECT_RETAINED', `the store refused to delete ${key} (Object Lock)`, {
          details: { key },
          cause: err,
        });
      }
      throw unavailable(`delete ${key}`, err);
    }
  }

  private async removeStaging(staging: string, version: string | undefined): Promise<void> {
    // Unversioned (metadata-mode) buckets: a plain delete removes it. Versioned: delete the exact
    // version, or every version when the upload failed before telling us its id.
    if ((await this.worm()) === 'metadata') return this.deleteRaw(staging, undefined);
    return this.purgeVersions(staging, version);
  }

  /** Delete every version and delete marker of exactly `key` (or just `onlyVersion`). */
  private async purgeVersions(key: string, onlyVersion?: string): Promise<void> {
    if (onlyVersion) return this.deleteRaw(key, onlyVersion);
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      let r;
      try {
        r = await this.client.send(
          new ListObjectVersionsCommand({
            Bucket: this.bucket,
            Prefix: key,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
          }),
        );
      } catch (err) {
        throw unavailable(`list versions of ${key}`, err);
      }
      const all = [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].filter((v) => v.Key === key);
      for (const v of all) await this.deleteRaw(key, v.VersionId);
      if (!r.IsTruncated) return;
      keyMarker = r.NextKeyMarker;
      versionMarker = r.NextVersionIdMarker;
    }
  }
}

function awsName(err: unknown): string | undefined {
  const e = err as { name?: string; Code?: string } | undefined;
  return e?.Code ?? e?.name;
}

function isNotFound(err: unknown): boolean {
  const name = awsName(err);
  if (name === 'NoSuchBucket') return false;
  return (
    name === 'NotFound' ||
    name === 'NoSuchKey' ||
    (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404
  );
}
