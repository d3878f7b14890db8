/**
 * TUF 1.0 metadata: key objects and signers, builders for root/targets/snapshot/timestamp,
 * OLPC-canonical signing, threshold/expiry/consistency verification, and a whole-repository
 * builder whose output tuf-js consumes. See docs/formats/tuf.md.
 */
export {
  TUF_SPEC_VERSION,
  TUF_ROLES,
  type TufRoleName,
  type TufKey,
  type TufRoleKeys,
  type TufHashes,
  type TufMetaFile,
  type TufTargetFile,
  type TufRoot,
  type TufTargets,
  type TufSnapshot,
  type TufTimestamp,
  type TufSigned,
  type TufSignature,
  type TufMetadata,
} from './tuf-types.js';
export {
  tufKeyId,
  tufPublicKeyIdentity,
  tufKeyFromKeyObject,
  tufSignerFromKeyObject,
  tufSignerFromFunction,
  verifyTufSignature,
  type TufSigner,
  type TufSignFn,
} from './tuf-keys.js';
export {
  formatTufExpires,
  buildRoot,
  buildTargets,
  buildSnapshot,
  buildTimestamp,
  targetFileInfo,
  targetFileInfoFromDigest,
  metaFileInfo,
  assertTargetPath,
  signMetadata,
  serializeMetadata,
  type TufCommonOptions,
  type BuildRootOptions,
} from './tuf-metadata.js';
export {
  parseTufMetadata,
  verifyTufThreshold,
  checkTufExpiry,
  verifyTufRepository,
  verifyTufTarget,
  isTufError,
  type TufRepositoryFiles,
  type TufVerifyOptions,
  type TufVerifiedRepository,
  type TufKeyIdPolicy,
} from './tuf-verify.js';
export {
  buildTufRepository,
  tufTargetFilePath,
  type BuildTufRepositoryOptions,
  type TufTargetInput,
  type TufRepositoryFile,
  type TufRepository,
} from './tuf-repository.js';
