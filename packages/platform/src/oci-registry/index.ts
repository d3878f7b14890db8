/**
 * An OCI distribution-spec client (docs/formats/oci.md "Registry client"): ping, blob HEAD,
 * monolithic upload, manifest push with the right Content-Type, digest-checked pulls, Basic auth,
 * and pushing a tagged entry of an image layout. The start of issue #15's distribution engine.
 */
export {
  OciRegistryClient,
  MANIFEST_ACCEPT,
  type OciRegistryClientOptions,
  type OciBlobSource,
  type PulledManifest,
} from './registry-client.js';
export { parseAuthChallenges, type AuthChallenge } from './auth-challenge.js';
export { parseOciReference, formatOciReference, isRepositoryName, isTag, type OciReference } from './reference.js';
export { pushLayoutEntry, type PushLayoutResult } from './push-layout.js';
