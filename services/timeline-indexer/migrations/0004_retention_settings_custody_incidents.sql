-- timeline-indexer: the per-tenant retention setting of PUT /timeline/retention, evidence links
-- derived from the payloads of hold and custody events, and the Evidence Locker's incidents
-- (docs/timeline.md "Partitions and retention", "Evidence links and holds").
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).

-- A tenant's own retention window, set through the API; absent: the configuration's
-- (STELLA_TIMELINE_RETENTION_TENANTS, then STELLA_TIMELINE_RETENTION_DAYS). keep_seconds NULL
-- keeps events forever. Bounds as the route's: one hour to 36,500 days.
CREATE TABLE timeline.retention_settings (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true) PRIMARY KEY,
  keep_seconds bigint CHECK (keep_seconds IS NULL OR keep_seconds BETWEEN 3600 AND 3153600000),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);

-- Links an event has without carrying them in its envelope: a hold event names its bundles in
-- `payload.bundleIds`, a custody event its bundle in `attributes.bundleId`. They are rows of
-- evidence_links after the envelope's own (ordinal continues), with `origin` saying where they
-- came from and no digest of their own (the bundle's seal has it). NULL origin: the envelope.
ALTER TABLE timeline.evidence_links ALTER COLUMN digest DROP NOT NULL;
ALTER TABLE timeline.evidence_links ADD COLUMN origin text;

-- Incident mode of the Evidence Locker (`evidence.incident.activated|deactivated`, attributes
-- {incidentId, active}, payload {incidentId, reason, retentionExtension}): one row per
-- incident, each side filled by its event whatever the arrival order. An event that occurred
-- while an incident was active is linked to it (GET /timeline/{eventId}/evidence).
CREATE TABLE timeline.evidence_incidents (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  incident_id text NOT NULL,
  activated_at timestamptz,
  activated_event_id text,
  activate_reason text,
  deactivated_at timestamptz,
  deactivated_event_id text,
  deactivate_reason text,
  PRIMARY KEY (tenant_id, incident_id)
);
CREATE INDEX evidence_incidents_window_idx ON timeline.evidence_incidents (tenant_id, activated_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['retention_settings', 'evidence_incidents']
  LOOP
    EXECUTE format('ALTER TABLE timeline.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE timeline.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON timeline.%I TO ${app_role}
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
    EXECUTE format('CREATE POLICY maintenance_all ON timeline.%I TO CURRENT_USER USING (true) WITH CHECK (true)', t);
  END LOOP;
END $$;

-- Incidents are updated (the other side arrives), never deleted by the app.
REVOKE DELETE ON timeline.evidence_incidents FROM ${app_role};
