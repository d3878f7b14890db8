/**
 * The one registry of error codes (DESIGN.md §3 "Errors"). Every coded error the project raises —
 * in core, platform, services or the CLI — uses a key of this object, and every HTTP error body's
 * `code` is one of them. `docs/errors.md` lists them all; a test keeps the two in sync.
 *
 * `status` is the HTTP status the code maps to when it crosses an HTTP boundary.
 * Sections are per module so that additions stay local; keep keys UPPER_SNAKE_CASE.
 */
export const ERROR_CODES = {
  // --- generic / HTTP --------------------------------------------------------------------------
  INTERNAL: { status: 500, description: 'Unexpected server error; no internals are disclosed.' },
  VALIDATION_FAILED: { status: 400, description: 'The request or input does not match its schema.' },
  MALFORMED_JSON: { status: 400, description: 'The body is not valid JSON.' },
  HTTP_MALFORMED: {
    status: 400,
    description: 'The request is not well-formed HTTP/1.1 (bad URL, framing, header or Host; RFC 9112).',
  },
  REQUEST_TIMEOUT: { status: 408, description: 'The client took too long to send the request headers or body.' },
  HEADERS_TOO_LARGE: { status: 431, description: 'The request headers exceed the server limit.' },
  EXPECTATION_FAILED: { status: 417, description: 'The request has an `Expect` other than `100-continue`.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description: 'The Content-Type, charset or Content-Encoding is not accepted by this route.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body exceeds the route or server size limit.' },
  NOT_FOUND: { status: 404, description: 'No such route or resource.' },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The route does not accept this method (see `Allow`).' },
  METHOD_NOT_IMPLEMENTED: { status: 501, description: 'The request method is not one the server implements.' },
  CONFLICT: { status: 409, description: 'The request conflicts with the current state.' },
  IDEMPOTENCY_KEY_CONFLICT: {
    status: 409,
    description:
      'This `Idempotency-Key` was used on this route with a different request body, or the first request with it is still in progress.',
  },
  QUOTA_EXCEEDED: { status: 429, description: 'A per-tenant quota or rate limit was exceeded.' },
  SERVICE_UNAVAILABLE: { status: 503, description: 'A dependency (database, bus, store) is not ready.' },
  // --- auth ------------------------------------------------------------------------------------
  AUTH_REQUIRED: { status: 401, description: 'No bearer token was presented.' },
  AUTH_INVALID_TOKEN: { status: 401, description: 'The token is malformed, forged, or has a bad signature.' },
  AUTH_TOKEN_EXPIRED: { status: 401, description: 'The token is past its `exp`.' },
  TENANT_HEADER_MISSING: { status: 400, description: 'A tenant route was called without `X-Stella-Tenant`.' },
  TENANT_FORBIDDEN: { status: 403, description: '`X-Stella-Tenant` does not equal the token tenant.' },
  SCOPE_FORBIDDEN: { status: 403, description: 'The token lacks a scope the route requires.' },
  // --- config ----------------------------------------------------------------------------------
  CONFIG_INVALID: { status: 500, description: 'The process configuration is invalid (every problem listed).' },
  // --- database / migrations -------------------------------------------------------------------
  DB_UNAVAILABLE: { status: 503, description: 'The database cannot be reached.' },
  MIGRATION_FAILED: { status: 500, description: 'A migration file failed; its transaction was rolled back.' },
  MIGRATION_CHECKSUM_MISMATCH: {
    status: 500,
    description: 'An applied migration file was changed after it was applied.',
  },
  MIGRATION_INVALID_NAME: {
    status: 500,
    description: 'A migration file name is not `NNNN_name.sql` or numbers repeat.',
  },
  TENANT_INVALID: { status: 400, description: 'A tenant id is empty or not of the allowed form.' },
  DB_TRANSACTION_MISUSE: {
    status: 500,
    description:
      'A Db was used inside its own transaction (would deadlock on PGlite or escape the transaction), or a transaction handle was used after it ended.',
  },
  // --- object store ----------------------------------------------------------------------------
  OBJECT_NOT_FOUND: { status: 404, description: 'No object with that key.' },
  OBJECT_DIGEST_MISMATCH: {
    status: 400,
    description: 'Written bytes do not match the declared digest; nothing was kept.',
  },
  OBJECT_RETAINED: { status: 409, description: 'The object is under WORM retention or legal hold.' },
  OBJECT_KEY_INVALID: { status: 400, description: 'An object key is not allowed (traversal, empty, bad digest).' },
  OBJECT_STORE_UNAVAILABLE: { status: 503, description: 'The object store cannot be reached.' },
  OBJECT_SIZE_MISMATCH: { status: 400, description: 'Written bytes do not match the declared size; nothing was kept.' },
  OBJECT_RANGE_INVALID: { status: 416, description: 'A byte range is malformed or starts past the end of the object.' },
  OBJECT_CORRUPT: {
    status: 500,
    description:
      'Stored bytes no longer match their recorded digest or size, or the store holds a symlink; the read is failed.',
  },
  // --- event bus -------------------------------------------------------------------------------
  EVENT_INVALID: { status: 400, description: 'An event envelope does not match DESIGN.md §3.' },
  BUS_UNAVAILABLE: { status: 503, description: 'The event bus cannot be reached.' },
  // --- core: encoding / canonical JSON / digests -----------------------------------------------
  JSON_INVALID: {
    status: 400,
    description: 'Input is not valid JSON or not canonicalizable (NaN, Infinity, lone surrogates).',
  },
  BASE64_INVALID: { status: 400, description: 'Input is not valid base64.' },
  DIGEST_INVALID: { status: 400, description: 'A digest string is not `sha256:<64 hex>`.' },
  DIGEST_MISMATCH: { status: 400, description: 'Bytes do not match the expected digest.' },
  // --- core: Merkle ----------------------------------------------------------------------------
  MERKLE_INDEX_OUT_OF_RANGE: { status: 400, description: 'Leaf index is not below the tree size.' },
  MERKLE_EMPTY_TREE: { status: 400, description: 'An operation needs at least one leaf.' },
  MERKLE_PROOF_INVALID: { status: 400, description: 'An inclusion or consistency proof does not verify.' },
  MERKLE_PROOF_MALFORMED: { status: 400, description: 'A proof has the wrong shape or length for its tree size.' },
  // --- core: transparency log (C2SP tlog-tiles, tlog-checkpoint, signed-note) ------------------
  TLOG_NOTE_MALFORMED: {
    status: 400,
    description: 'A signed note is not valid UTF-8, has control characters, or a malformed signature line.',
  },
  TLOG_CHECKPOINT_MALFORMED: {
    status: 400,
    description: 'A checkpoint body does not follow c2sp.org/tlog-checkpoint (origin, size, root, extensions).',
  },
  TLOG_KEY_INVALID: {
    status: 400,
    description:
      'A note verifier or signer key string is malformed, of an unsupported type, or its key ID does not match.',
  },
  TLOG_UNKNOWN_KEY: {
    status: 400,
    description: 'No signature on the note is by a trusted key (signatures by unknown keys are ignored).',
  },
  // C2SP tlog-cosignature (witnesses, issue 12 item 6)
  TLOG_COSIGNATURE_INVALID: {
    status: 400,
    description: 'A cosignature line by a trusted witness key does not verify, or is dated in the future.',
  },
  TLOG_WITNESS_QUORUM: {
    status: 400,
    description:
      'Fewer trusted witnesses cosigned the checkpoint than required (cosignatures by unknown witness keys do not count).',
  },
  TLOG_WITNESS_STATE_INVALID: {
    status: 500,
    description: "A witness's state file (the last checkpoint it cosigned per log) is unreadable or malformed.",
  },
  TLOG_BAD_SIGNATURE: { status: 400, description: 'A signature by a trusted key does not verify over the note text.' },
  TLOG_ORIGIN_MISMATCH: { status: 400, description: 'The checkpoint origin is not the log the caller expects.' },
  TLOG_ROLLBACK: {
    status: 409,
    description: 'A checkpoint is older (smaller tree) than the one already held; it is refused.',
  },
  TLOG_CONSISTENCY_SIZE_MISMATCH: {
    status: 400,
    description: 'A consistency proof is for other tree sizes than the two checkpoints it is checked between.',
  },
  TLOG_TILE_MISMATCH: {
    status: 500,
    description:
      'A tile or entry bundle has the wrong length or does not hash to the tree it belongs to (a flipped byte).',
  },
  TLOG_TILE_MISSING: { status: 500, description: 'A tile or entry bundle the tree size requires is not in storage.' },
  TLOG_PATH_INVALID: {
    status: 400,
    description: 'A tile path is not of the form tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>].',
  },
  TLOG_ENTRY_INVALID: {
    status: 400,
    description: 'A log entry is empty or longer than 65535 bytes, or an entry bundle is malformed.',
  },
  TLOG_DUPLICATE_ENTRY: {
    status: 409,
    description: 'The entry (by SHA-256 digest) is already in the log; `details.index` names where.',
  },
  TLOG_SEQUENCER_BUSY: {
    status: 503,
    description: 'Another replica holds the sequencer lock for this log.',
  },
  // --- timeline transparency log (issue 12 item 4; docs/formats/tlog.md "Timeline batches") ----
  TIMELINE_EXPORT_INVALID: {
    status: 400,
    description:
      'A timeline export does not prove its window complete; `details.check` names the failed check (batch-inclusion, completeness, event-digest, order, …).',
  },
  TIMELINE_LOG_EMPTY: { status: 404, description: "The tenant's timeline log has no checkpoint yet." },
  TIMELINE_LOG_UNAVAILABLE: {
    status: 503,
    description:
      'The timeline log cannot serve the request: its signing key is not Ed25519, or the events of a batch are no longer stored as logged.',
  },
  // --- core: DSSE / in-toto / Sigstore ---------------------------------------------------------
  DSSE_MALFORMED: { status: 400, description: 'An envelope is not valid DSSE v1 JSON.' },
  DSSE_PAYLOAD_TYPE_MISMATCH: { status: 400, description: 'The envelope payloadType is not the expected one.' },
  DSSE_SIGNATURE_INVALID: { status: 400, description: 'Fewer valid signatures than the threshold.' },
  INTOTO_STATEMENT_INVALID: { status: 400, description: 'A payload is not an in-toto Statement v1.' },
  SIGSTORE_BUNDLE_INVALID: { status: 400, description: 'A Sigstore bundle is malformed or does not verify.' },
  // --- keys and signers ------------------------------------------------------------------------
  KEY_INVALID: { status: 400, description: 'A key cannot be parsed or is of an unsupported type.' },
  KEY_NOT_FOUND: { status: 404, description: 'A signer URI names a key that does not exist.' },
  SIGNER_URI_INVALID: { status: 400, description: 'A signer URI is not `file:` or `pkcs11:` of the documented form.' },
  PKCS11_ERROR: { status: 500, description: 'The PKCS#11 module returned an error.' },
  // --- RFC 3161 --------------------------------------------------------------------------------
  ASN1_MALFORMED: { status: 400, description: 'DER/ASN.1 input is truncated or malformed.' },
  TIMESTAMP_INVALID: {
    status: 400,
    description: 'A time-stamp token fails a check (imprint, signature, chain, time).',
  },
  TIMESTAMP_REQUEST_FAILED: { status: 502, description: 'The TSA did not answer with a granted time-stamp.' },
  // --- archives --------------------------------------------------------------------------------
  ARCHIVE_UNSAFE_ENTRY: {
    status: 400,
    description: 'An archive entry escapes the root, is a device, a link, or duplicated.',
  },
  ARCHIVE_LIMIT_EXCEEDED: {
    status: 413,
    description: 'An archive exceeds an entry-size, total-size or entry-count limit.',
  },
  ARCHIVE_MALFORMED: { status: 400, description: 'An archive is truncated or not tar/gzip.' },
  // --- OCI -------------------------------------------------------------------------------------
  OCI_INVALID: { status: 400, description: 'An OCI manifest, index, descriptor or layout is invalid.' },
  OCI_REGISTRY_ERROR: {
    status: 502,
    description:
      'An OCI registry could not be reached or answered a request with an error (`details.status`, and `details.errors` as the registry stated them).',
  },
  OCI_REGISTRY_AUTH: {
    status: 502,
    description:
      'An OCI registry refused the request (401/403): no or wrong credentials, or an authentication scheme the client does not speak yet.',
  },
  // --- TUF -------------------------------------------------------------------------------------
  TUF_INVALID: { status: 400, description: 'TUF metadata is malformed, under-signed, or inconsistent.' },
  TUF_EXPIRED: { status: 400, description: 'TUF metadata is past its `expires`.' },
  // --- evidence locker -------------------------------------------------------------------------
  EVIDENCE_NOT_FOUND: {
    status: 404,
    description: "No evidence bundle with that id for this tenant (another tenant's bundle answers the same).",
  },
  EVIDENCE_PURGED: {
    status: 410,
    description:
      'The evidence bundle was purged by its retention policy; `details.tombstone` is the signed tombstone (docs/evidence/retention.md).',
  },
  EVIDENCE_BLOB_MISSING: {
    status: 400,
    description: 'A snapshot artifact names a digest this tenant has not uploaded (`PUT /evidence/blobs/{digest}`).',
  },
  // --- export center ---------------------------------------------------------------------------
  EXPORT_PROFILE_NOT_FOUND: {
    status: 404,
    description:
      "No export profile (or profile version) with that id for this tenant (another tenant's answers the same).",
  },
  EXPORT_PROFILE_INVALID: {
    status: 400,
    description:
      'An export profile is invalid: unknown adapter, source kinds the adapter cannot export, bad filters or adapter options (`details.problems` lists every one as `{path, message}`; an unknown adapter is the problem at `/adapter` with `code: EXPORT_ADAPTER_UNKNOWN`).',
  },
  EXPORT_RUN_NOT_FOUND: {
    status: 404,
    description: "No export run with that id for this tenant (another tenant's run answers the same).",
  },
  EXPORT_RUN_NOT_FINISHED: {
    status: 409,
    description: 'The export run has not succeeded (yet), so it has no bundle to download.',
  },
  EXPORT_RUN_FINISHED: { status: 409, description: 'The export run has already finished; it cannot be cancelled.' },
  EXPORT_LEASE_EXPIRED: {
    status: 500,
    description:
      'An export run lost its worker (no heartbeat within the lease) on its last allowed attempt; it failed with class `transient`.',
  },
  EXPORT_SCHEDULE_INVALID: {
    status: 400,
    description:
      'An export schedule is invalid: a bad cron expression (`details.problems[].cronField` names the cron field), an unknown time zone, a cron that fires more often than STELLA_EXPORT_SCHEDULE_MIN_INTERVAL_S, bad event kinds or quiet period (`details.problems` lists every one as `{path, message}`).',
  },
  EXPORT_SCHEDULE_NOT_FOUND: {
    status: 404,
    description: "No export schedule with that id for this tenant (another tenant's answers the same).",
  },
  EXPORT_RETENTION_INVALID: {
    status: 400,
    description:
      'An export retention policy is invalid: `keepLast` must be an integer ≥ 1, `maxAge` a positive ISO 8601 duration in days/hours/minutes/seconds, at least one of them (`details.problems`).',
  },
  EXPORT_RUN_HELD: {
    status: 409,
    description: 'The export run is already under a legal hold (release it first to change the reason).',
  },
  EXPORT_HOLD_NOT_FOUND: { status: 404, description: 'The export run has no legal hold to release.' },
  // --- export center: adapters and bundles ----------------------------------------------------
  EXPORT_ADAPTER_UNKNOWN: {
    status: 400,
    description:
      'An export adapter id that is not registered (the message lists the registered ones): a direct lookup, a run whose pinned profile names an adapter this build lacks (failure class `input`), and — inside EXPORT_PROFILE_INVALID — the `code` of the `/adapter` problem.',
  },
  EXPORT_DELTA_BASE_MISMATCH: {
    status: 409,
    description:
      'A delta bundle was applied to a base other than the one it was made from; the message names both digests (`details.expected`, `details.actual`).',
  },
  EXPORT_DELTA_INVALID: {
    status: 400,
    description:
      'A delta bundle is malformed, of an unknown kind, truncated, or does not rebuild the target it names (docs/formats/trivy-db.md "Delta").',
  },
  EXPORT_COMPRESSION_UNSUPPORTED: {
    status: 400,
    description:
      'An export compression this build does not offer (it has "gzip", "zstd" and "none"; docs/formats/export-bundle.md "Compression").',
  },
  // --- export center: sources -----------------------------------------------------------------
  SOURCE_FORMAT_UNKNOWN: {
    status: 415,
    description: 'A source file or body is not one of the formats its kind accepts (docs/export/sources.md).',
  },
  SOURCE_SYNTAX: {
    status: 400,
    description:
      'A source file is not well-formed JSON or JSONL at the reported position; records after it in that file are not read.',
  },
  SOURCE_RECORD_INVALID: {
    status: 400,
    description:
      'One source record lacks a field its format requires or has a wrong type; it is skipped, the rest imports.',
  },
  SOURCE_RECORD_TOO_LARGE: {
    status: 413,
    description: 'One source record is over the per-record size limit (32 MiB).',
  },
  SOURCE_GLOBAL_FORBIDDEN: {
    status: 403,
    description:
      'Global advisories may be written only by a tenant in `STELLA_EXPORT_GLOBAL_SOURCE_TENANTS`, and only advisories.',
  },
  // --- encryption ------------------------------------------------------------------------------
  DECRYPT_FAILED: { status: 400, description: 'Ciphertext cannot be decrypted (wrong key, tampered, truncated).' },
  ENCRYPTION_INVALID: { status: 400, description: 'An encryption header or envelope is malformed.' },
} as const satisfies Record<string, { status: number; description: string }>;

/** A code from the registry. */
export type ErrorCode = keyof typeof ERROR_CODES;
