/**
 * Pushes one tagged entry of an OCI image layout to a registry (what `skopeo copy oci:<dir>:<tag>
 * docker://…` does, spec shared/specs/trivy-db-and-oci.md §4.3): every blob the manifest names
 * (config, layers — an index's manifests recursively) first, each only if the registry lacks it,
 * then the manifest bytes exactly as stored, so the registry's digest is the layout's.
 */
import { StellaError } from '@stella/core/errors';
import { parseManifestOrIndex, type OciDescriptor } from '@stella/core/oci';
import type { OciLayout } from '../oci-layout/index.js';
import type { OciRegistryClient } from './registry-client.js';

/** What {@link pushLayoutEntry} did. */
export interface PushLayoutResult {
  /** Digest of the pushed manifest (or index) — equal to the layout's. */
  readonly digest: string;
  readonly mediaType: string;
  /** Blob digests uploaded, and those the registry already had. */
  readonly uploaded: string[];
  readonly existing: string[];
}

/**
 * Pushes the entry tagged `refName` in `layout` to `<repo>:<tag>` (default: the same tag).
 * Blobs come from the layout (already digest-checked by `readOciLayout`; the registry checks them
 * again on upload). Throws OCI_INVALID when the layout has no such tag.
 */
export async function pushLayoutEntry(
  client: OciRegistryClient,
  layout: OciLayout,
  refName: string,
  repo: string,
  tag: string = refName,
): Promise<PushLayoutResult> {
  const entry = layout.find(refName);
  if (!entry)
    throw new StellaError(
      'OCI_INVALID',
      `the OCI layout at ${layout.dir} has no manifest tagged ${JSON.stringify(refName)}`,
      {
        details: { refName, dir: layout.dir },
      },
    );
  await client.ping();
  const uploaded: string[] = [];
  const existing: string[] = [];
  const pushBlob = async (d: OciDescriptor): Promise<void> => {
    const r = await client.pushBlob(repo, { digest: d.digest, size: d.size, body: () => layout.openBlob(d.digest) });
    (r === 'uploaded' ? uploaded : existing).push(d.digest);
  };
  const pushDocument = async (bytes: Uint8Array, mediaType: string | undefined, ref: string) => {
    const doc = parseManifestOrIndex(bytes, mediaType);
    if (doc.kind === 'manifest') {
      for (const d of [doc.manifest.config, ...doc.manifest.layers]) await pushBlob(d);
    } else {
      for (const d of doc.index.manifests) {
        const child = layout.entries.find((e) => e.descriptor.digest === d.digest);
        if (!child)
          throw new StellaError('OCI_INVALID', `index ${ref} names ${d.digest}, which the layout does not hold`, {
            details: { digest: d.digest },
          });
        await pushDocument(child.bytes, d.mediaType, d.digest);
      }
    }
    return client.pushManifest(repo, ref, bytes);
  };
  const r = await pushDocument(entry.bytes, entry.descriptor.mediaType, tag);
  return { digest: r.digest, mediaType: r.mediaType, uploaded, existing };
}
