/** JSON schemas of the evidence routes (also the OpenAPI document's). */
import { COMMITMENT_PATTERN } from '../bundle/commitment.js';
import { ARTIFACT_ROLES, BUNDLE_KINDS } from '../bundle/manifest.js';

export const TAG = 'evidence';
export const DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';
/** Bundle ids are ULIDs (Crockford base32, upper case). */
export const BUNDLE_ID_PATTERN = '^[0-7][0-9A-HJKMNP-TV-Z]{25}$';
// RFC 6838 §4.2 type/subtype names (parameters are not part of an artifact's media type).
const MEDIA_TYPE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$';

const digest = { type: 'string', pattern: DIGEST_PATTERN } as const;
const path = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const role = { type: 'string', enum: [...ARTIFACT_ROLES] } as const;
const mediaType = { type: 'string', pattern: MEDIA_TYPE_PATTERN } as const;

export const SubjectSchema = {
  type: 'object',
  required: ['digest'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 1024 }, digest },
} as const;

export const SnapshotBodySchema = {
  type: 'object',
  required: ['kind', 'artifacts'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: [...BUNDLE_KINDS] },
    subject: SubjectSchema,
    artifacts: {
      type: 'array',
      minItems: 1,
      maxItems: 10_000,
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['path', 'role', 'mediaType', 'digest'],
            additionalProperties: false,
            properties: { path, role, mediaType, digest },
          },
          {
            type: 'object',
            required: ['path', 'role', 'mediaType', 'content'],
            additionalProperties: false,
            properties: {
              path,
              role,
              mediaType,
              content: { type: 'string', description: 'The artifact bytes, standard base64 (RFC 4648 §4).' },
            },
          },
        ],
      },
    },
    metadata: { type: 'object', description: 'Run metadata; kept in manifest.json (not in the Merkle leaves).' },
  },
} as const;

export const SnapshotResponseSchema = {
  type: 'object',
  required: ['bundleId', 'rootHash', 'manifestDigest', 'keyId'],
  additionalProperties: false,
  properties: {
    bundleId: { type: 'string' },
    rootHash: { type: 'string', description: 'RFC 9162 Merkle root of the artifact entries, hex.' },
    manifestDigest: digest,
    keyId: { type: 'string' },
    timestamp: {
      type: 'object',
      required: ['genTime', 'tsa'],
      additionalProperties: false,
      properties: { genTime: { type: 'string', format: 'date-time' }, tsa: { type: 'string' } },
    },
    log: {
      type: 'object',
      description:
        "The seal's entry in the tenant's transparency log (docs/evidence/transparency-log.md). The seal " +
        'answers at once with `pending`: the sequencer integrates the entry into the next checkpoint (typically ' +
        'within a second); then GET /evidence/log/proof/inclusion?bundleId=… gives its index, inclusion proof and ' +
        'checkpoint, and bundle.tgz carries them under log/.',
      required: ['entryDigest', 'status'],
      additionalProperties: false,
      properties: {
        entryDigest: digest,
        status: { type: 'string', enum: ['pending', 'integrated'] },
        index: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

export const ArtifactSchema = {
  type: 'object',
  required: ['path', 'role', 'mediaType', 'size', 'digest'],
  additionalProperties: false,
  properties: { path, role, mediaType, size: { type: 'integer' }, digest },
} as const;

/** A Merkle leaf: the entry exactly as sealed — v2 with `commitment`, v1 bundles with `digest`. */
export const LeafEntrySchema = {
  type: 'object',
  required: ['path', 'role', 'mediaType', 'size'],
  additionalProperties: false,
  properties: {
    path,
    role,
    mediaType,
    size: { type: 'integer' },
    commitment: { type: 'string', pattern: COMMITMENT_PATTERN },
    digest,
  },
} as const;

const bundleProperties = {
  ...SnapshotResponseSchema.properties,
  kind: { type: 'string', enum: [...BUNDLE_KINDS] },
  subject: SubjectSchema,
  createdAt: { type: 'string', format: 'date-time' },
  leafCount: { type: 'integer' },
  archive: {
    type: 'object',
    required: ['digest', 'size'],
    additionalProperties: false,
    properties: { digest, size: { type: 'integer' } },
  },
} as const;

export const BundleSummarySchema = {
  type: 'object',
  required: [...SnapshotResponseSchema.required, 'kind', 'createdAt', 'leafCount', 'archive'],
  additionalProperties: false,
  properties: bundleProperties,
} as const;

export const BundleSchema = {
  type: 'object',
  required: [...BundleSummarySchema.required, 'artifacts'],
  additionalProperties: false,
  properties: { ...bundleProperties, artifacts: { type: 'array', items: ArtifactSchema } },
} as const;

export const BundleIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: BUNDLE_ID_PATTERN } },
} as const;

export const BlobResponseSchema = {
  type: 'object',
  required: ['digest', 'size', 'created'],
  additionalProperties: false,
  properties: {
    digest,
    size: { type: 'integer' },
    created: { type: 'boolean', description: 'false when this tenant already held the blob (deduplicated).' },
  },
} as const;

export const VerifyReportSchema = {
  type: 'object',
  required: ['ok', 'checks'],
  additionalProperties: false,
  properties: {
    ok: { type: 'boolean' },
    format: { type: 'string', enum: ['bundle', 'portable'] },
    withheld: { type: 'array', items: { type: 'string' } },
    bundleId: { type: 'string' },
    rootHash: { type: 'string' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['check', 'status'],
        additionalProperties: false,
        properties: {
          check: { type: 'string' },
          status: { type: 'string', enum: ['pass', 'fail', 'skip'] },
          detail: { type: 'string' },
        },
      },
    },
  },
} as const;
