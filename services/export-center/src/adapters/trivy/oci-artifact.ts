/**
 * The Trivy DB and the Trivy Java DB as the OCI artifacts Trivy v0.74.0 downloads (spec
 * shared/specs/trivy-db-and-oci.md §1.6, §2 and §6.4; docs/formats/trivy-db.md "OCI artifact"):
 * the image-spec v1.1 manifest oras 1.2 pushes for upstream — empty config (`{}`, with `data`),
 * `artifactType` `application/vnd.aquasec.trivy.config.v1+json`, exactly one layer — written as an
 * OCI image layout into the bundle. The two artifacts differ only in the layer (TRIVY_DB_ARTIFACT,
 * TRIVY_JAVA_DB_ARTIFACT): its media type (Trivy refuses any other: "unacceptable media type"),
 * its title (Trivy names the downloaded file after it and unpacks it by its `.tar.gz` extension)
 * and the tag (the schema version Trivy appends when a `--db-repository` /
 * `--java-db-repository` has no tag: pkg/flag/db_flags.go parseRepository). Every layout file is a
 * bundle file, so export.json lists and signs it like any other; `stella oci push` (or
 * `skopeo copy oci:…`) puts it into a registry unchanged.
 */
import type { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import {
  buildIndex,
  buildManifest,
  emptyConfigDescriptor,
  emptyJsonBytes,
  ociLayoutFileBytes,
  parseDescriptor,
  withRefName,
  OCI_ANNOTATIONS,
  OCI_MEDIA_TYPES,
  type OciBuilt,
  type OciImageManifest,
} from '@stella/core/oci';
import type { ExportFileSink } from '../adapter.js';

export const TRIVY_ARTIFACT_TYPE = 'application/vnd.aquasec.trivy.config.v1+json';
export const TRIVY_DB_LAYER_TYPE = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
export const TRIVY_DB_LAYER_TITLE = 'db.tar.gz';
/** The tag Trivy pulls for schema 2. */
export const TRIVY_DB_TAG = '2';
export const TRIVY_JAVADB_LAYER_TYPE = 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip';
export const TRIVY_JAVADB_LAYER_TITLE = 'javadb.tar.gz';
/** The tag Trivy pulls for Java DB schema 1 (pkg/javadb/client.go: `trivy-java-db:1`). */
export const TRIVY_JAVADB_TAG = '1';

/** What tells the two Trivy artifacts apart: the layer's media type and title, the layout tag. */
export interface TrivyArtifactKind {
  layerMediaType: string;
  title: string;
  tag: string;
}
export const TRIVY_DB_ARTIFACT: TrivyArtifactKind = {
  layerMediaType: TRIVY_DB_LAYER_TYPE,
  title: TRIVY_DB_LAYER_TITLE,
  tag: TRIVY_DB_TAG,
};
export const TRIVY_JAVA_DB_ARTIFACT: TrivyArtifactKind = {
  layerMediaType: TRIVY_JAVADB_LAYER_TYPE,
  title: TRIVY_JAVADB_LAYER_TITLE,
  tag: TRIVY_JAVADB_TAG,
};

/**
 * The manifest for an archive with this digest and size (db.tar.gz unless `kind` says otherwise);
 * `created` is an RFC 3339 time.
 */
export function trivyDbManifest(
  layer: { digest: string; size: number },
  created: string,
  kind: TrivyArtifactKind = TRIVY_DB_ARTIFACT,
): OciBuilt<OciImageManifest> {
  return buildManifest({
    artifactType: TRIVY_ARTIFACT_TYPE,
    config: emptyConfigDescriptor({ withData: true }),
    layers: [
      parseDescriptor({
        mediaType: kind.layerMediaType,
        digest: layer.digest,
        size: layer.size,
        annotations: { [OCI_ANNOTATIONS.title]: kind.title },
      }),
    ],
    annotations: { [OCI_ANNOTATIONS.created]: created },
  });
}

/**
 * Writes `<dir>/oci-layout`, `<dir>/index.json` (one manifest, tagged `kind.tag`) and
 * `<dir>/blobs/sha256/<hex>` (the `{}` config, the layer, the manifest) through the bundle sink — the same bytes `writeOciLayout` would write
 * for this one manifest (canonical JSON). Returns the manifest digest.
 */
export async function writeTrivyOciLayout(
  out: ExportFileSink,
  dir: string,
  input: {
    layer: { digest: string; size: number; body: () => Readable };
    created: string;
    /** The Trivy DB when absent. */
    kind?: TrivyArtifactKind;
  },
): Promise<{ manifestDigest: string }> {
  const kind = input.kind ?? TRIVY_DB_ARTIFACT;
  const m = trivyDbManifest(input.layer, input.created, kind);
  const index = buildIndex({ manifests: [withRefName(m.descriptor, kind.tag)] });
  const blob = (digest: string) => `${dir}/blobs/${digest.replace(':', '/')}`;
  await out.writeFile(`${dir}/oci-layout`, ociLayoutFileBytes(), OCI_MEDIA_TYPES.layoutHeader);
  await out.writeFile(`${dir}/index.json`, index.bytes, OCI_MEDIA_TYPES.index);
  await out.writeFile(blob(m.value.config.digest), emptyJsonBytes(), OCI_MEDIA_TYPES.empty);
  const layer = await out.writeFile(blob(input.layer.digest), input.layer.body(), kind.layerMediaType);
  if (layer.digest !== input.layer.digest || layer.size !== input.layer.size)
    throw new StellaError(
      'INTERNAL',
      `${kind.title} changed between its two copies (${input.layer.digest} → ${layer.digest})`,
    );
  await out.writeFile(blob(m.descriptor.digest), m.bytes, OCI_MEDIA_TYPES.manifest);
  return { manifestDigest: m.descriptor.digest };
}
