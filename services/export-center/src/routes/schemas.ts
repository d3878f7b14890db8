/** JSON schemas of the export routes (also the OpenAPI document's, with examples). */
import { SEVERITIES, SOURCE_KINDS } from '../sources/source-record.js';
import { FAILURE_CLASSES, RUN_STATUSES } from '../runs/run.repository.js';

export const TAG = 'exports';
export const DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';
/** Profile and run ids are ULIDs (Crockford base32, upper case). */
export const ID_PATTERN = '^[0-7][0-9A-HJKMNP-TV-Z]{25}$';

const digest = { type: 'string', pattern: DIGEST_PATTERN } as const;
const strings = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 512 }, minItems: 1 } as const;

export const FilterSchema = {
  type: 'object',
  required: ['kinds'],
  additionalProperties: false,
  description: 'What the profile selects; every present condition must hold.',
  properties: {
    kinds: { type: 'array', items: { type: 'string', enum: [...SOURCE_KINDS] }, minItems: 1 },
    ecosystems: strings,
    packages: strings,
    severities: { type: 'array', items: { type: 'string', enum: [...SEVERITIES] }, minItems: 1 },
    modifiedSince: { type: 'string', format: 'date-time' },
    projects: strings,
    sample: {
      type: 'object',
      required: ['rate', 'seed'],
      additionalProperties: false,
      description: 'Deterministic sampling: the same seed keeps the same records on any machine.',
      properties: { rate: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, seed: { type: 'string', minLength: 1 } },
    },
  },
} as const;

const PROFILE_EXAMPLE = {
  name: 'npm advisories, high and critical',
  adapter: 'json:raw',
  adapterOptions: { compression: 'gzip' },
  filter: { kinds: ['advisory'], ecosystems: ['npm'], severities: ['critical', 'high'] },
};

export const ProfileBodySchema = {
  type: 'object',
  required: ['name', 'adapter', 'filter'],
  additionalProperties: false,
  description:
    'Validated as a whole: every problem (unknown adapter, kinds it cannot export, bad filters, adapter options) is listed in one EXPORT_PROFILE_INVALID; an unknown adapter is the problem at `/adapter` with `code: EXPORT_ADAPTER_UNKNOWN`.',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    adapter: { type: 'string', description: 'Adapter id, e.g. `json:raw`, `json:policy`, `mirror:full`.' },
    adapterOptions: { type: 'object', description: "The adapter's options (defaults applied and stored)." },
    filter: FilterSchema,
    exportTime: {
      type: 'string',
      format: 'date-time',
      description: 'A fixed time written into the bundle; absent: no wall-clock time in the bytes.',
    },
  },
  examples: [PROFILE_EXAMPLE],
} as const;

export const ProfileSchema = {
  type: 'object',
  required: ['id', 'version', 'name', 'adapter', 'adapterOptions', 'filter', 'exportTime', 'createdAt', 'createdBy'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    version: { type: 'integer', minimum: 1 },
    name: { type: 'string' },
    adapter: { type: 'string' },
    adapterOptions: { type: 'object', additionalProperties: true },
    filter: { type: 'object', additionalProperties: true },
    exportTime: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
  },
  examples: [
    {
      id: '01JF3Z8Q6X0000000000000000',
      version: 2,
      ...PROFILE_EXAMPLE,
      exportTime: null,
      createdAt: '2026-12-01T10:00:00.000Z',
      createdBy: 'ops@example',
    },
  ],
} as const;

export const PlanBodySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Either a stored profile (`profileId`, optional `profileVersion`) or an unsaved `profile`.',
  properties: {
    profileId: { type: 'string', pattern: ID_PATTERN },
    profileVersion: { type: 'integer', minimum: 1 },
    profile: ProfileBodySchema,
  },
  examples: [{ profileId: '01JF3Z8Q6X0000000000000000' }, { profile: PROFILE_EXAMPLE }],
} as const;

export const PlanSchema = {
  type: 'object',
  required: ['ledgerSeq', 'records', 'estimatedBytes', 'byKind', 'empty'],
  additionalProperties: false,
  properties: {
    ledgerSeq: { type: 'string', description: 'The ledger head a run would pin now.' },
    records: { type: 'integer' },
    estimatedBytes: { type: 'integer', description: 'Document bytes (RFC 8785) before compression.' },
    byKind: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'records', 'bytes'],
        additionalProperties: false,
        properties: { kind: { type: 'string' }, records: { type: 'integer' }, bytes: { type: 'integer' } },
      },
    },
    empty: { type: 'boolean', description: 'True when the filter matches nothing: a run gives an empty export.' },
  },
  examples: [
    {
      ledgerSeq: '1042',
      records: 120,
      estimatedBytes: 318_220,
      byKind: [{ kind: 'advisory', records: 120, bytes: 318_220 }],
      empty: false,
    },
  ],
} as const;

export const RunBodySchema = {
  type: 'object',
  required: ['profileId'],
  additionalProperties: false,
  properties: {
    profileId: { type: 'string', pattern: ID_PATTERN },
    profileVersion: {
      type: 'integer',
      minimum: 1,
      description: 'Default: the latest version. The run pins the version it ran.',
    },
  },
  examples: [{ profileId: '01JF3Z8Q6X0000000000000000' }],
} as const;

export const RunSchema = {
  type: 'object',
  required: [
    'id',
    'profile',
    'status',
    'attempts',
    'maxAttempts',
    'cancelRequested',
    'ledgerSeq',
    'progress',
    'createdAt',
    'createdBy',
  ],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    profile: {
      type: 'object',
      required: ['id', 'version'],
      additionalProperties: false,
      properties: { id: { type: 'string' }, version: { type: 'integer' } },
    },
    status: { type: 'string', enum: [...RUN_STATUSES] },
    attempts: { type: 'integer' },
    maxAttempts: { type: 'integer' },
    cancelRequested: { type: 'boolean' },
    ledgerSeq: { type: 'string', description: 'The ledger sequence the run reads (pinned at creation).' },
    progress: {
      type: 'object',
      required: ['done', 'total'],
      additionalProperties: false,
      properties: { done: { type: 'integer' }, total: { type: ['integer', 'null'] } },
    },
    failure: {
      type: 'object',
      required: ['class', 'code', 'message'],
      additionalProperties: false,
      properties: {
        class: { type: 'string', enum: [...FAILURE_CLASSES] },
        code: { type: 'string' },
        message: { type: 'string' },
      },
    },
    result: {
      type: 'object',
      required: ['archive', 'manifestDigest', 'rerunHash', 'keyId'],
      additionalProperties: false,
      properties: {
        archive: {
          type: 'object',
          required: ['digest', 'size'],
          additionalProperties: false,
          properties: { digest, size: { type: 'integer' } },
        },
        manifestDigest: digest,
        rerunHash: { type: 'string' },
        keyId: { type: 'string' },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
  },
  examples: [
    {
      id: '01JF3ZA1B2C3D4E5F6G7H8J9KM',
      profile: { id: '01JF3Z8Q6X0000000000000000', version: 2 },
      status: 'running',
      attempts: 1,
      maxAttempts: 3,
      cancelRequested: false,
      ledgerSeq: '1042',
      progress: { done: 40, total: 120 },
      createdAt: '2026-12-01T10:05:00.000Z',
      createdBy: 'ops@example',
      startedAt: '2026-12-01T10:05:01.000Z',
    },
  ],
} as const;

export const IdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: ID_PATTERN } },
} as const;
