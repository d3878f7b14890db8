-- Test fixture (contract suite): one tenant table following the RLS conventions of
-- docs/database.md, exactly as a service migration would declare it.
CREATE SCHEMA contract_rls;
GRANT USAGE ON SCHEMA contract_rls TO ${app_role};

CREATE TABLE contract_rls.notes (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  body      text NOT NULL
);
ALTER TABLE contract_rls.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE contract_rls.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contract_rls.notes
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON contract_rls.notes TO ${app_role};
