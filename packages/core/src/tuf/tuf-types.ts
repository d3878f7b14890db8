/**
 * TUF 1.0 metadata shapes (theupdateframework/specification, "Document formats", §4 of
 * /work/shared/specs/signing-timestamps-merkle-tuf-age-pkcs11.md). Field names are the wire names.
 */

/** The spec version we write; clients (tuf-js, python-tuf) only require major version 1. */
export const TUF_SPEC_VERSION = '1.0.31';

/** The four top-level roles. */
export type TufRoleName = 'root' | 'targets' | 'snapshot' | 'timestamp';
/** All top-level role names, in the order the client workflow reads them after root. */
export const TUF_ROLES: readonly TufRoleName[] = ['root', 'timestamp', 'snapshot', 'targets'];

/** A public key object. KEYID = hex SHA-256 of its OLPC canonical JSON. */
export interface TufKey {
  keytype: 'ed25519' | 'ecdsa' | 'rsa' | (string & {});
  scheme: 'ed25519' | 'ecdsa-sha2-nistp256' | 'rsassa-pss-sha256' | (string & {});
  keyval: { public: string };
}

/** A role's key ids and signature threshold (root.json `roles`). */
export interface TufRoleKeys {
  keyids: string[];
  threshold: number;
}

/** Hashes of a file: algorithm → lowercase hex. */
export type TufHashes = Record<string, string>;

/** `meta` entry of timestamp/snapshot. */
export interface TufMetaFile {
  version: number;
  length?: number;
  hashes?: TufHashes;
}

/** `targets` entry. */
export interface TufTargetFile {
  length: number;
  hashes: TufHashes;
  custom?: Record<string, unknown>;
}

interface TufCommon {
  spec_version: string;
  version: number;
  /** `YYYY-MM-DDTHH:MM:SSZ`. */
  expires: string;
}

/** root.json `signed`. */
export interface TufRoot extends TufCommon {
  _type: 'root';
  consistent_snapshot: boolean;
  keys: Record<string, TufKey>;
  roles: Record<TufRoleName, TufRoleKeys>;
}

/** targets.json `signed` (delegations are carried but not verified by this module). */
export interface TufTargets extends TufCommon {
  _type: 'targets';
  targets: Record<string, TufTargetFile>;
  delegations?: unknown;
}

/** snapshot.json `signed`. */
export interface TufSnapshot extends TufCommon {
  _type: 'snapshot';
  meta: Record<string, TufMetaFile>;
}

/** timestamp.json `signed`. */
export interface TufTimestamp extends TufCommon {
  _type: 'timestamp';
  meta: { 'snapshot.json': TufMetaFile };
}

/** Any top-level role's `signed`. */
export type TufSigned = TufRoot | TufTargets | TufSnapshot | TufTimestamp;

/** One signature: `sig` is hex of the signature over the OLPC canonical JSON of `signed`. */
export interface TufSignature {
  keyid: string;
  sig: string;
}

/** A metadata file. */
export interface TufMetadata<T extends TufSigned = TufSigned> {
  signed: T;
  signatures: TufSignature[];
}
