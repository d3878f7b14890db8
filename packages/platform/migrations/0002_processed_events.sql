-- Consumer-side dedupe (docs/events.md "Dedupe"): one row per (consumer, tenant, event) a
-- consumer has processed, inserted with ON CONFLICT DO NOTHING in the same transaction as the
-- consumer's own writes, so a redelivered or republished event is a no-op.
CREATE TABLE stella_platform.processed_events (
  consumer     text        NOT NULL,
  tenant_id    text        NOT NULL DEFAULT current_setting('app.tenant_id', true),
  event_id     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, tenant_id, event_id)
);
CREATE INDEX processed_events_age_idx ON stella_platform.processed_events (processed_at);

ALTER TABLE stella_platform.processed_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE stella_platform.processed_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stella_platform.processed_events TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- Pruning (pruneProcessedEvents) runs as the owner across tenants.
CREATE POLICY maintenance_all ON stella_platform.processed_events TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON stella_platform.processed_events TO ${app_role};
