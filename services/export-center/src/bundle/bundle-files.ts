/**
 * Names of the files the bundle writer itself puts into an export bundle (docs/formats/
 * export-bundle.md "Files"). Adapters may not stage files under these names.
 */

/** The manifest: RFC 8785 canonical JSON. */
export const MANIFEST_FILE = 'export.json';
/** Detached signature: a DSSE envelope whose payload is exactly the bytes of export.json. */
export const MANIFEST_DSSE_FILE = 'export.dsse.json';
/** Embedded provenance: a DSSE envelope over an in-toto Statement v1 with every file as a subject. */
export const STATEMENT_DSSE_FILE = 'export.intoto.dsse.json';
/** `sha256sum -c` input: every file of the bundle except itself. */
export const CHECKSUMS_FILE = 'checksums.txt';
/** How to check the bundle by hand. */
export const VERIFY_FILE = 'VERIFY.md';
/** The signer's public key (SPKI PEM). */
export const PUBLIC_KEY_FILE = 'keys/export.pub.pem';
const KEYS_DIR = 'keys';

/** DSSE payloadType of export.dsse.json. */
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.stella.export.manifest+json';
/** Media type of export.json (`mediaType` field inside it too). */
export const MANIFEST_MEDIA_TYPE = 'application/vnd.stella.export.manifest.v1+json';
/** predicateType of the in-toto Statement in export.intoto.dsse.json. */
export const EXPORT_PREDICATE_TYPE = 'https://stella-ops.org/export/manifest/v1';

const RESERVED = new Set([MANIFEST_FILE, MANIFEST_DSSE_FILE, STATEMENT_DSSE_FILE, CHECKSUMS_FILE, VERIFY_FILE]);

/** True for the writer's own files and anything under keys/. */
export function isReservedBundlePath(path: string): boolean {
  return RESERVED.has(path) || path === KEYS_DIR || path.startsWith(`${KEYS_DIR}/`);
}
