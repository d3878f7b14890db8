-- evidence-locker: blobs, bundles, artifacts, holds, retention, chain of custody
-- (docs/formats/evidence-bundle.md). Every table here is tenant data and follows docs/database.md:
-- tenant_id first in keys, ENABLE + FORCE RLS, one policy for reads and writes.
-- Audit entries go to the platform's stella_platform.audit_log (tx.audit), not to a table here.

-- Uploaded blobs, one row per (tenant, digest): the dedupe key. The bytes live in the object
-- store under a per-tenant key (`object_key`), so two tenants uploading the same bytes never
-- share an object, and a purge of one tenant's blob cannot touch another's.
CREATE TABLE evidence_locker.blobs (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  digest text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  object_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, digest)
);

-- Bytes held per tenant, kept in step with `blobs` in the same transaction (quota accounting).
CREATE TABLE evidence_locker.tenant_usage (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true) PRIMARY KEY,
  blob_bytes bigint NOT NULL DEFAULT 0 CHECK (blob_bytes >= 0)
);

-- A sealed bundle. manifest.json and signature.json are stored verbatim (the signed bytes);
-- the deterministic bundle.tgz built from them is an object (`archive_key`, `archive_digest`).
CREATE TABLE evidence_locker.bundles (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  bundle_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('evaluation', 'job', 'export')),
  subject_name text,
  subject_digest text CHECK (subject_digest ~ '^sha256:[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL,
  root_hash text NOT NULL CHECK (root_hash ~ '^[0-9a-f]{64}$'),
  leaf_count integer NOT NULL CHECK (leaf_count > 0),
  manifest_digest text NOT NULL,
  manifest_json text NOT NULL,
  signature_json text NOT NULL,
  key_id text NOT NULL,
  public_key_pem text NOT NULL,
  timestamp_tsr bytea,
  timestamp_gen_time timestamptz,
  timestamp_tsa text,
  archive_key text NOT NULL,
  archive_digest text NOT NULL,
  archive_size bigint NOT NULL,
  PRIMARY KEY (tenant_id, bundle_id)
);
CREATE INDEX bundles_subject ON evidence_locker.bundles (tenant_id, subject_digest, bundle_id);
CREATE INDEX bundles_kind ON evidence_locker.bundles (tenant_id, kind, bundle_id);

-- The artifacts of a bundle, exactly as in manifest.artifacts (sorted by path there).
CREATE TABLE evidence_locker.artifacts (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  bundle_id text NOT NULL,
  path text NOT NULL,
  role text NOT NULL CHECK (role IN ('input', 'output', 'env', 'log', 'metadata')),
  media_type text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  digest text NOT NULL,
  leaf_index integer NOT NULL,
  PRIMARY KEY (tenant_id, bundle_id, path),
  FOREIGN KEY (tenant_id, bundle_id) REFERENCES evidence_locker.bundles (tenant_id, bundle_id),
  FOREIGN KEY (tenant_id, digest) REFERENCES evidence_locker.blobs (tenant_id, digest)
);
CREATE INDEX artifacts_digest ON evidence_locker.artifacts (tenant_id, digest);

-- Idempotency-Key of POST /evidence/snapshot: the same key with the same request answers the
-- same bundle; the same key with another request is a conflict.
CREATE TABLE evidence_locker.snapshot_requests (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  idempotency_key text NOT NULL,
  request_digest text NOT NULL,
  bundle_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, idempotency_key),
  FOREIGN KEY (tenant_id, bundle_id) REFERENCES evidence_locker.bundles (tenant_id, bundle_id)
);

-- Named legal holds (a case id per tenant) and the bundles each covers. A bundle is held while
-- at least one unreleased hold covers it.
CREATE TABLE evidence_locker.holds (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  case_id text NOT NULL,
  reason text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  ends_at timestamptz,
  released_at timestamptz,
  released_by text,
  release_reason text,
  PRIMARY KEY (tenant_id, case_id),
  CHECK ((released_at IS NULL) = (release_reason IS NULL))
);

CREATE TABLE evidence_locker.hold_bundles (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  case_id text NOT NULL,
  bundle_id text NOT NULL,
  PRIMARY KEY (tenant_id, case_id, bundle_id),
  FOREIGN KEY (tenant_id, case_id) REFERENCES evidence_locker.holds (tenant_id, case_id),
  FOREIGN KEY (tenant_id, bundle_id) REFERENCES evidence_locker.bundles (tenant_id, bundle_id)
);
CREATE INDEX hold_bundles_bundle ON evidence_locker.hold_bundles (tenant_id, bundle_id);

-- Per-tenant retention: how long an unheld bundle is kept after sealing.
CREATE TABLE evidence_locker.retention_policies (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true) PRIMARY KEY,
  retain_days integer NOT NULL CHECK (retain_days > 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);

-- Chain of custody: who did what to which bundle, in order (seal, download, verify, hold, …).
CREATE TABLE evidence_locker.custody_events (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  id bigint GENERATED ALWAYS AS IDENTITY,
  bundle_id text NOT NULL,
  action text NOT NULL,
  actor text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  request_id text,
  details jsonb,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX custody_events_bundle ON evidence_locker.custody_events (tenant_id, bundle_id, id);
-- Append-only for the app role: the default privileges of 0001 grant UPDATE and DELETE.
REVOKE UPDATE, DELETE ON evidence_locker.custody_events FROM ${app_role};

-- RLS on every table above (docs/database.md).
ALTER TABLE evidence_locker.blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.blobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.blobs TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.tenant_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.tenant_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.tenant_usage TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.bundles ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.bundles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.bundles TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.artifacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.artifacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.artifacts TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.snapshot_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.snapshot_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.snapshot_requests TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.holds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.holds TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.hold_bundles ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.hold_bundles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.hold_bundles TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.retention_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.retention_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.retention_policies TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE evidence_locker.custody_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.custody_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.custody_events TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
