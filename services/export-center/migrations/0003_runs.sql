-- export-center: profiles, runs and what a run produced (docs/export/runs.md). Every table is
-- tenant data and follows docs/database.md: tenant_id first in keys, ENABLE + FORCE RLS, one
-- policy for reads and writes. Audit entries go to stella_platform.audit_log (tx.audit).

-- Export profiles, versioned: an update writes version n+1 and never touches version n, so a run
-- that pinned (profile_id, version) always reads the profile it ran. `deleted_at` on the latest
-- version hides the profile from the API; its versions stay for the runs that name them.
CREATE TABLE export_center.export_profiles (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  profile_id text NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  name text NOT NULL,
  adapter text NOT NULL,
  adapter_options jsonb NOT NULL,
  filter jsonb NOT NULL,
  export_time timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, profile_id, version)
);
CREATE INDEX export_profiles_name ON export_center.export_profiles (tenant_id, name);

-- One export run. State machine: queued → running → succeeded | failed | cancelled, and
-- running → queued again when a transient failure or an expired lease is retried (attempts + 1).
-- Workers claim due queued rows with FOR UPDATE SKIP LOCKED and hold a lease (lease_owner,
-- lease_expires_at) that heartbeats extend; a row whose lease expired is reclaimed.
CREATE TABLE export_center.export_runs (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  profile_id text NOT NULL,
  profile_version integer NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  failure_class text CHECK (failure_class IN ('input', 'transient', 'internal')),
  failure_code text,
  failure_message text,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  not_before timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_expires_at timestamptz,
  heartbeat_at timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  -- The ledger head the run reads (pinned at creation: sources imported later never leak in).
  ledger_seq bigint NOT NULL CHECK (ledger_seq >= 0),
  progress_done bigint NOT NULL DEFAULT 0,
  progress_total bigint,
  archive_key text,
  archive_digest text CHECK (archive_digest ~ '^sha256:[0-9a-f]{64}$'),
  archive_size bigint,
  manifest_digest text,
  rerun_hash text,
  key_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  -- Counter of export_run_events.seq for this run (bumped in the same transaction as the insert).
  last_event_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, run_id),
  FOREIGN KEY (tenant_id, profile_id, profile_version)
    REFERENCES export_center.export_profiles (tenant_id, profile_id, version),
  CHECK ((status = 'failed') = (failure_class IS NOT NULL)),
  CHECK ((status = 'running') = (lease_owner IS NOT NULL)),
  CHECK (status <> 'succeeded' OR (archive_key IS NOT NULL AND archive_digest IS NOT NULL))
);
-- The list route's keyset (run ids are ULIDs: newest first = id descending).
CREATE INDEX export_runs_list ON export_center.export_runs (tenant_id, run_id DESC);
CREATE INDEX export_runs_status ON export_center.export_runs (tenant_id, status, run_id DESC);
-- The claim query: due queued runs, and running ones whose lease ran out.
CREATE INDEX export_runs_due ON export_center.export_runs (not_before) WHERE status = 'queued';
CREATE INDEX export_runs_leased ON export_center.export_runs (lease_expires_at) WHERE status = 'running';

-- The inputs a run exported: one row per source kind (count and bytes), recorded when it succeeds.
CREATE TABLE export_center.export_inputs (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  kind text NOT NULL,
  records bigint NOT NULL CHECK (records >= 0),
  PRIMARY KEY (tenant_id, run_id, kind),
  FOREIGN KEY (tenant_id, run_id) REFERENCES export_center.export_runs (tenant_id, run_id)
);

-- Where a built bundle went. Only `download` exists so far (the bundle in the object store,
-- served by GET /v1/exports/runs/{id}/download); OCI/mirror pushes add kinds later.
CREATE TABLE export_center.export_distributions (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('download')),
  object_key text NOT NULL,
  digest text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, run_id, kind),
  FOREIGN KEY (tenant_id, run_id) REFERENCES export_center.export_runs (tenant_id, run_id)
);

-- A run's event log for SSE (status, progress, artifact, final). `seq` increases by one per run
-- (export_runs.last_event_seq is its counter), so `Last-Event-ID: <seq>` resumes exactly.
CREATE TABLE export_center.export_run_events (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  type text NOT NULL CHECK (type IN ('status', 'progress', 'artifact', 'final')),
  data jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, run_id, seq),
  FOREIGN KEY (tenant_id, run_id) REFERENCES export_center.export_runs (tenant_id, run_id)
);
REVOKE UPDATE ON export_center.export_run_events FROM ${app_role};

-- Idempotency-Key records of the platform helper (packages/platform/src/http/idempotency.ts):
-- per tenant and route, the canonical request digest and the stored response.
CREATE TABLE export_center.idempotency_keys (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  route text NOT NULL,
  idempotency_key text NOT NULL,
  request_digest text NOT NULL,
  status_code integer NOT NULL,
  response jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, route, idempotency_key)
);

-- RLS on every table above (docs/database.md).
ALTER TABLE export_center.export_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_profiles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_profiles TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_runs TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- The job claim is a cross-tenant system step (like the outbox relay, ADR 0005): it runs as the
-- owner role, which gets an explicit policy on this one table instead of BYPASSRLS. It only picks
-- and leases rows; the run itself executes in withTenant transactions as the app role.
CREATE POLICY worker_claim ON export_center.export_runs TO CURRENT_USER USING (true) WITH CHECK (true);

ALTER TABLE export_center.export_inputs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_inputs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_inputs TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_distributions ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_distributions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_distributions TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_run_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_run_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_run_events TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.idempotency_keys TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
