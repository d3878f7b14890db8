-- The audit log every service writes through its tenant context (issue #6 item 2;
-- packages/platform/src/service/tenant-context.ts): who did what to which resource, with what
-- outcome, in the same transaction as the change itself (a rolled-back change leaves no entry).
-- Append-only for the app role: it may insert and read its own tenant's rows, never edit them.
CREATE TABLE stella_platform.audit_log (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   text        NOT NULL DEFAULT current_setting('app.tenant_id', true),
  at          timestamptz NOT NULL DEFAULT now(),
  service     text        NOT NULL,
  actor       text        NOT NULL,
  action      text        NOT NULL,
  resource    text,
  outcome     text        NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
  request_id  text,
  trace_id    text,
  details     jsonb
);
CREATE INDEX audit_log_tenant_at_idx ON stella_platform.audit_log (tenant_id, at, id);

ALTER TABLE stella_platform.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE stella_platform.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stella_platform.audit_log TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY maintenance_all ON stella_platform.audit_log TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON stella_platform.audit_log TO ${app_role};
