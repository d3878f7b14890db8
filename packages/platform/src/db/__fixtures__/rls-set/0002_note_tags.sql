-- Second fixture file: a child table, to show default privileges are not needed when a
-- migration grants explicitly, and that RLS applies per table.
CREATE TABLE contract_rls.tags (
  tenant_id text   NOT NULL DEFAULT current_setting('app.tenant_id', true),
  note_id   bigint NOT NULL REFERENCES contract_rls.notes (id),
  tag       text   NOT NULL,
  PRIMARY KEY (tenant_id, note_id, tag)
);
ALTER TABLE contract_rls.tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE contract_rls.tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contract_rls.tags
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON contract_rls.tags TO ${app_role};
