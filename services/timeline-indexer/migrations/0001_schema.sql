-- timeline-indexer: the service's own schema (DESIGN.md §3 "Postgres": one schema per service).
-- Runs as the migration owner. Tenant tables created in later migrations follow the RLS
-- conventions of docs/database.md: tenant_id text NOT NULL, ENABLE + FORCE ROW LEVEL SECURITY,
-- policy USING/WITH CHECK (tenant_id = current_setting('app.tenant_id', true)).
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).

CREATE SCHEMA IF NOT EXISTS timeline;

-- The app role (created by the migration runner's bootstrap) may use the schema but not
-- create objects in it: DDL only ever happens through migrations.
GRANT USAGE ON SCHEMA timeline TO ${app_role};

-- Tables and sequences that later migrations create (as this same owner role) are usable by
-- the app role without a GRANT in every file; RLS policies still decide which rows it sees.
-- No TRUNCATE (it ignores RLS) and no REFERENCES/TRIGGER. (Functions are EXECUTE-able by PUBLIC by default.)
ALTER DEFAULT PRIVILEGES IN SCHEMA timeline
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app_role};
ALTER DEFAULT PRIVILEGES IN SCHEMA timeline
  GRANT USAGE, SELECT ON SEQUENCES TO ${app_role};
