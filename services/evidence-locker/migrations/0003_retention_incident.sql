-- evidence-locker: retention policies per kind, signed tombstones of purged bundles, incident mode
-- (docs/evidence/retention.md). Same conventions as 0002: tenant_id first, ENABLE + FORCE RLS.

-- The 0002 retention table had one `retain_days`; a policy is now a default plus per-kind
-- durations, in seconds (the API speaks ISO 8601 durations). NULL default = keep forever. The
-- table was unused before this migration, so the old column goes.
ALTER TABLE evidence_locker.retention_policies DROP COLUMN retain_days;
ALTER TABLE evidence_locker.retention_policies
  ADD COLUMN default_keep_seconds bigint CHECK (default_keep_seconds > 0),
  ADD COLUMN kind_keep_seconds jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(kind_keep_seconds) = 'object'),
  -- Incremented on every change; a tombstone names the version that expired its bundle.
  ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);

-- Released holds keep listing the bundles they covered after those are purged (the history of a
-- case outlives its evidence), so membership no longer references bundles. The hold route locks
-- the bundle rows it adds (FOR KEY SHARE) instead, which is what serialises a hold with a purge.
ALTER TABLE evidence_locker.hold_bundles DROP CONSTRAINT IF EXISTS hold_bundles_tenant_id_bundle_id_fkey;

-- Incident changes are custody records without a bundle.
ALTER TABLE evidence_locker.custody_events ALTER COLUMN bundle_id DROP NOT NULL;

-- One row per purged bundle, written in the same transaction that deletes the bundle's rows, so
-- a crash leaves either the bundle or its tombstone. `pending_keys` are the objects still to be
-- removed from the store after that commit; the purge worker finishes them on its next pass.
CREATE TABLE evidence_locker.tombstones (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  bundle_id text NOT NULL,
  kind text NOT NULL,
  root_hash text NOT NULL,
  manifest_digest text NOT NULL,
  archive_digest text NOT NULL,
  sealed_at timestamptz NOT NULL,
  purged_at timestamptz NOT NULL,
  reason text NOT NULL,
  policy jsonb NOT NULL,
  -- The DSSE envelope (deterministic JSON) over the tombstone statement, signed with the seal key.
  envelope_json text NOT NULL,
  key_id text NOT NULL,
  public_key_pem text NOT NULL,
  object_key text NOT NULL,
  pending_keys text[] NOT NULL DEFAULT '{}',
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, bundle_id)
);
CREATE INDEX tombstones_pending ON evidence_locker.tombstones (tenant_id) WHERE finished_at IS NULL;

-- Incident mode: at most one active incident per tenant; deactivated ones stay as history.
CREATE TABLE evidence_locker.incidents (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  id bigint GENERATED ALWAYS AS IDENTITY,
  reason text NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now(),
  activated_by text NOT NULL,
  deactivated_at timestamptz,
  deactivated_by text,
  deactivate_reason text,
  PRIMARY KEY (tenant_id, id),
  CHECK ((deactivated_at IS NULL) = (deactivate_reason IS NULL))
);
CREATE UNIQUE INDEX incidents_one_active ON evidence_locker.incidents (tenant_id) WHERE deactivated_at IS NULL;

ALTER TABLE evidence_locker.tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.tombstones TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- A tombstone is evidence too: the app role may add and finish one, never remove it.
REVOKE DELETE ON evidence_locker.tombstones FROM ${app_role};

ALTER TABLE evidence_locker.incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.incidents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.incidents TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
REVOKE DELETE ON evidence_locker.incidents FROM ${app_role};

-- The purge worker is a cross-tenant system process (like the outbox relay, ADR 0005): as the
-- owner role it may only learn WHICH tenants have work — read-only, these tables only. The work
-- itself runs in withTenant transactions as the app role, under the tenant policies above.
CREATE POLICY purge_worker_read ON evidence_locker.retention_policies FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY purge_worker_read ON evidence_locker.holds FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY purge_worker_read ON evidence_locker.tombstones FOR SELECT TO CURRENT_USER USING (true);
