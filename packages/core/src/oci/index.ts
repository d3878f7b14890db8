/**
 * OCI image-spec v1.1 in memory: descriptors, image manifests (artifactType, empty config,
 * subject, annotations), image indexes, canonical serialisation and validation (issue #3 item 7;
 * docs/formats/oci.md). Reading and writing image-layout directories is `@stella/platform/oci-layout`.
 */
export {
  OCI_MEDIA_TYPES,
  OCI_ANNOTATIONS,
  type OciDescriptor,
  type OciImageManifest,
  type OciImageIndex,
  type OciBuilt,
} from './oci-types.js';
export {
  emptyJsonBytes,
  EMPTY_JSON_DIGEST,
  emptyConfigDescriptor,
  descriptorFor,
  withRefName,
  parseDescriptor,
  parseAnnotations,
  isMediaType,
  isOciDigest,
  isRefName,
  sha256Digest,
  digestWithAlgorithmOf,
} from './oci-descriptor.js';
export {
  MAX_MANIFEST_BYTES,
  ociLayoutFileBytes,
  serializeOciJson,
  buildManifest,
  buildIndex,
  validateManifest,
  validateIndex,
  parseManifest,
  parseIndex,
  parseManifestOrIndex,
  parseOciLayoutFile,
  type BuildManifestOptions,
  type BuildIndexOptions,
} from './oci-manifest.js';
