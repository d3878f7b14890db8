/**
 * OCI image-layout directories on the filesystem (image-spec `image-layout.md`; issue #3 item 7;
 * docs/formats/oci.md): a deterministic, digest-verifying writer and a validating reader.
 */
export {
  writeOciLayout,
  type OciBlobInput,
  type OciLayoutManifestInput,
  type WriteOciLayoutInput,
  type WriteOciLayoutResult,
} from './oci-layout-writer.js';
export {
  DEFAULT_MAX_OCI_LAYOUT_ENTRIES,
  readOciLayout,
  type OciLayout,
  type OciLayoutEntry,
  type ReadOciLayoutOptions,
} from './oci-layout-reader.js';
export { writeOciArchive, extractOciArchive } from './oci-archive.js';
