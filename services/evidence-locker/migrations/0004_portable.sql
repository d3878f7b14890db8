-- evidence-locker: salted artifact commitments (ADR 0011) for portable export.
-- A per-tenant secret salt key (random, created on the tenant's first snapshot) makes each
-- artifact's salt deterministic — sealing the same inputs twice gives the same root — yet
-- unguessable outside the tenant; the salt and commitment of each sealed artifact are kept so
-- that a portable export can disclose or withhold them without the key.
CREATE TABLE evidence_locker.salt_keys (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true) PRIMARY KEY,
  secret bytea NOT NULL CHECK (octet_length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Never changed once made: a new key would change every later root of the same inputs.
REVOKE UPDATE, DELETE ON evidence_locker.salt_keys FROM ${app_role};

ALTER TABLE evidence_locker.salt_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.salt_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.salt_keys TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- NULL for artifacts of v1 bundles (plain digests in their entries).
ALTER TABLE evidence_locker.artifacts
  ADD COLUMN commitment text CHECK (commitment ~ '^hmac-sha256:[0-9a-f]{64}$'),
  ADD COLUMN salt text CHECK (salt ~ '^[0-9a-f]{64}$'),
  ADD CHECK ((commitment IS NULL) = (salt IS NULL));
