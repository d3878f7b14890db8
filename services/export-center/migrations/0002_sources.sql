-- export-center sources store (issue #10 items 1–2; docs/export/sources.md): every imported
-- advisory, VEX document, SBOM, finding and policy pack, one row per VERSION, in one append-only
-- ledger. A run pins the ledger head and reads `ledger_seq <= pinned`, so this table is written
-- only by INSERT and every row carries a commit-ordered ledger sequence (below).

-- The ledger's sequence numbers. Taken only by the trigger below, under the ledger lock.
CREATE SEQUENCE export_center.source_ledger_seq AS bigint MINVALUE 1;

CREATE TABLE export_center.source_records (
  ledger_seq bigint PRIMARY KEY,
  -- NULL only for a global advisory, visible to every tenant (see the policies below).
  tenant_id text DEFAULT current_setting('app.tenant_id', true),
  kind text COLLATE "C" NOT NULL CHECK (kind IN ('advisory', 'vex', 'sbom', 'finding', 'policy')),
  -- Byte order (COLLATE "C") so that iteration order is the same on every server and locale.
  record_id text COLLATE "C" NOT NULL CHECK (length(record_id) BETWEEN 1 AND 1024),
  project text CHECK (project IS NULL OR length(project) BETWEEN 1 AND 256),
  -- sha256 of `document` (its RFC 8785 bytes): the idempotency key of an import.
  digest text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  format text NOT NULL CHECK (format IN ('osv', 'alpine-secdb', 'openvex', 'csaf', 'cyclonedx', 'spdx', 'findings', 'policy-pack')),
  ecosystem text,
  packages text[] NOT NULL DEFAULT '{}',
  severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'none', 'unknown')),
  modified_at timestamptz,
  -- The record exactly as hashed: RFC 8785 canonical JSON text (so the bytes are the digest's).
  document text NOT NULL,
  document_bytes integer NOT NULL CHECK (document_bytes > 0),
  imported_at timestamptz NOT NULL DEFAULT now(),
  CHECK (tenant_id IS NOT NULL OR (kind = 'advisory' AND project IS NULL))
);

-- The current version of (tenant, kind, record_id) at any sequence, and keyset pages in
-- (kind, record_id) order per scope: `tenant_id = $1` and `tenant_id IS NULL` both use it.
CREATE INDEX source_records_key ON export_center.source_records (tenant_id, kind, record_id, ledger_seq DESC);
-- head(): the highest sequence a tenant can see.
CREATE INDEX source_records_seq ON export_center.source_records (tenant_id, ledger_seq);

-- Commit-ordered ledger sequences. A bigserial is assigned at INSERT time, not at COMMIT: an
-- importer that took 41 and commits after another committed 42 would appear inside a run that
-- pinned 42. So every insert first takes one transaction-level advisory lock ("STEL", 2; the
-- migration runner uses ("STEL", 1)) and only then draws the next number. The lock is held until
-- COMMIT/ROLLBACK, so the next appender draws its number only after this one's rows are visible:
-- a committed sequence s implies every sequence < s is committed or rolled back. Importers are
-- serialized against each other (never against readers). Assigned here, so no writer can supply
-- its own number or skip the lock.
CREATE FUNCTION export_center.source_ledger_append() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(1398031692, 2);
  NEW.ledger_seq := nextval('export_center.source_ledger_seq');
  RETURN NEW;
END;
$$;
CREATE TRIGGER source_ledger_append BEFORE INSERT ON export_center.source_records
  FOR EACH ROW EXECUTE FUNCTION export_center.source_ledger_append();

-- Append-only for the app role: versions are never rewritten or removed by the service.
REVOKE UPDATE, DELETE ON export_center.source_records FROM ${app_role};

ALTER TABLE export_center.source_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.source_records FORCE ROW LEVEL SECURITY;
-- Reads: the tenant's own rows plus the global advisories.
CREATE POLICY source_read ON export_center.source_records FOR SELECT
  USING (tenant_id = current_setting('app.tenant_id', true) OR tenant_id IS NULL);
-- Writes: the tenant's own rows; a global advisory only in a transaction that the repository
-- marked with `app.sources_global = on`, which it does only for a caller the route authorized
-- (STELLA_EXPORT_GLOBAL_SOURCE_TENANTS + scope export:profile:manage). The mark is
-- transaction-local like app.tenant_id; it guards against a stray global write, the route decides.
CREATE POLICY source_write ON export_center.source_records FOR INSERT
  WITH CHECK (
    tenant_id = current_setting('app.tenant_id', true)
    OR (tenant_id IS NULL AND kind = 'advisory' AND current_setting('app.sources_global', true) = 'on')
  );
