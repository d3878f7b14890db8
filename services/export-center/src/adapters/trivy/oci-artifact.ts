/**
 * The Trivy DB as the OCI artifact Trivy v0.74.0 downloads (spec shared/specs/trivy-db-and-oci.md
 * §1.6; docs/formats/trivy-db.md "OCI artifact"): the image-spec v1.1 manifest oras 1.2 pushes for
 * upstream — empty config (`{}`, with `data`), `artifactType`
 * `application/vnd.aquasec.trivy.config.v1+json`, exactly one layer
 * `application/vnd.aquasec.trivy.db.layer.v1.tar+gzip` titled `db.tar.gz` (Trivy names the
 * downloaded file after the title and unpacks it by its `.tar.gz` extension) — written as an OCI
 * image layout into the bundle, tagged `2` (the schema version Trivy appends when a
 * `--db-repository` has no tag). Every layout file is a bundle file, so export.json lists and signs
 * it like any other; `stella oci push` (or `skopeo copy oci:…`) puts it into a registry unchanged.
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

/** The manifest for a db.tar.gz with this digest and size; `created` is an RFC 3339 time. */
export function trivyDbManifest(layer: { digest: string; size: number }, created: string): OciBuilt<OciImageManifest> {
  return buildManifest({
    artifactType: TRIVY_ARTIFACT_TYPE,
    config: emptyConfigDescriptor({ withData: true }),
    layers: [
      parseDescriptor({
        mediaType: TRIVY_DB_LAYER_TYPE,
        digest: layer.digest,
        size: layer.size,
        annotations: { [OCI_ANNOTATIONS.title]: TRIVY_DB_LAYER_TITLE },
      }),
    ],
    annotations: { [OCI_ANNOTATIONS.created]: created },
  });
}

/**
 * Writes `<dir>/oci-layout`, `<dir>/index.json` and `<dir>/blobs/sha256/<hex>` (the `{}` config,
 * the layer, the manifest) through the bundle sink — the same bytes `writeOciLayout` would write
 * for this one manifest (canonical JSON). Returns the manifest digest.
 */
export async function writeTrivyOciLayout(
  out: ExportFileSink,
  dir: string,
  input: { layer: { digest: string; size: number; body: () => Readable }; created: string },
): Promise<{ manifestDigest: string }> {
  const m = trivyDbManifest(input.layer, input.created);
  const index = buildIndex({ manifests: [withRefName(m.descriptor, TRIVY_DB_TAG)] });
  const blob = (digest: string) => `${dir}/blobs/${digest.replace(':', '/')}`;
  await out.writeFile(`${dir}/oci-layout`, ociLayoutFileBytes(), OCI_MEDIA_TYPES.layoutHeader);
  await out.writeFile(`${dir}/index.json`, index.bytes, OCI_MEDIA_TYPES.index);
  await out.writeFile(blob(m.value.config.digest), emptyJsonBytes(), OCI_MEDIA_TYPES.empty);
  const layer = await out.writeFile(blob(input.layer.digest), input.layer.body(), TRIVY_DB_LAYER_TYPE);
  if (layer.digest !== input.layer.digest || layer.size !== input.layer.size)
    throw new StellaError(
      'INTERNAL',
      `db.tar.gz changed between its two copies (${input.layer.digest} → ${layer.digest})`,
    );
  await out.writeFile(blob(m.descriptor.digest), m.bytes, OCI_MEDIA_TYPES.manifest);
  return { manifestDigest: m.descriptor.digest };
}
