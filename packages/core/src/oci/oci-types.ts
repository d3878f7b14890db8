/** OCI image-spec v1.1 media types used by the project (image-spec `media-types.md`). */
export const OCI_MEDIA_TYPES = Object.freeze({
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layoutHeader: 'application/vnd.oci.layout.header.v1+json',
} as const);

/** Pre-defined annotation keys (image-spec `annotations.md`) that the project writes. */
export const OCI_ANNOTATIONS = Object.freeze({
  refName: 'org.opencontainers.image.ref.name',
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  description: 'org.opencontainers.image.description',
  version: 'org.opencontainers.image.version',
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  vendor: 'org.opencontainers.image.vendor',
} as const);

/** A content descriptor (image-spec `descriptor.md`). */
export interface OciDescriptor {
  mediaType: string;
  /** `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`. */
  digest: string;
  /** Size of the content in bytes (a non-negative safe integer). */
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 of the content itself (for tiny blobs); must match `digest` and `size`. */
  data?: string;
  /** The artifact type of the referenced manifest (in indexes and referrers responses). */
  artifactType?: string;
  /** Platform of an image manifest referenced from an index. */
  platform?: { architecture: string; os: string; 'os.version'?: string; 'os.features'?: string[]; variant?: string };
}

/** An image manifest, image-spec v1.1 (`manifest.md`). */
export interface OciImageManifest {
  schemaVersion: 2;
  mediaType?: typeof OCI_MEDIA_TYPES.manifest;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/** An image index, image-spec v1.1 (`image-index.md`). */
export interface OciImageIndex {
  schemaVersion: 2;
  mediaType?: typeof OCI_MEDIA_TYPES.index;
  artifactType?: string;
  manifests: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/** A serialised document with its bytes and the descriptor that points at those bytes. */
export interface OciBuilt<T> {
  /** The document as built (what `bytes` encode). */
  value: T;
  /** The exact bytes to store or push (RFC 8785 canonical JSON). */
  bytes: Uint8Array;
  /** Descriptor of `bytes` (mediaType, digest, size, and artifactType when the document has one). */
  descriptor: OciDescriptor;
}
