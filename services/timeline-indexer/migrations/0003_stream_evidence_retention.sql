-- timeline-indexer: the arrival order of the stream, evidence bundles and legal holds, and what
-- partition maintenance and retention need (docs/timeline.md "Stream", "Evidence links and
-- holds", "Partitions and retention").
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).

-- The per-tenant arrival counter of GET /timeline/stream. Ingest takes this row lock as the last
-- statement of its transaction (stream.ts), so a tenant's transactions that store events hold it
-- one after the other up to their COMMIT: arrival order is commit order, and a reader that saw
-- arrival N committed has seen every arrival below N (no gap can fill in later).
CREATE TABLE timeline.tenant_arrivals (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true) PRIMARY KEY,
  last_arrival bigint NOT NULL
);

-- One row per stored event: its arrival number and where it sits on the timeline. Partitioned
-- like the events, so it is dropped with them; the stream reads it by (tenant_id, arrival_seq).
CREATE TABLE timeline.event_arrivals (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  arrival_seq bigint NOT NULL,
  occurred_at timestamptz NOT NULL,
  source text NOT NULL,
  ingest_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, arrival_seq, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE timeline.event_arrivals_default PARTITION OF timeline.event_arrivals DEFAULT;

-- Bundles the Evidence Locker announced with `evidence.bundle.sealed` (its outbox payload:
-- attributes {bundleId, kind, leafCount, rootHash}, evidence [{bundleId, digest, manifestDigest}]).
-- First seal event wins, like the events themselves.
CREATE TABLE timeline.evidence_bundles (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  bundle_id text NOT NULL,
  archive_digest text,
  manifest_digest text,
  root_hash text,
  bundle_kind text,
  leaf_count integer,
  sealed_event_id text NOT NULL,
  sealed_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, bundle_id)
);

-- Legal holds per (case, bundle), from `evidence.hold.placed|released` (payload {bundleIds,
-- reason}, attributes {caseId}). The bus may deliver a release before its placement, so each
-- side keeps the latest occurredAt it saw and the hold is in force while the latest placement is
-- newer than the latest release (a tie means released: a release follows its placement).
CREATE TABLE timeline.evidence_holds (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  case_id text NOT NULL,
  bundle_id text NOT NULL,
  placed_at timestamptz,
  released_at timestamptz,
  held boolean GENERATED ALWAYS AS (placed_at IS NOT NULL AND (released_at IS NULL OR released_at < placed_at)) STORED,
  PRIMARY KEY (tenant_id, case_id, bundle_id)
);
CREATE INDEX evidence_holds_bundle_idx ON timeline.evidence_holds (tenant_id, bundle_id) WHERE held;

-- RLS as in 0002, plus the owner's maintenance policy (as stella_platform.audit_log has, ADR
-- 0005): partition maintenance and retention run as the owner across tenants (partitions.ts,
-- retention.ts). The app role's policy is unchanged.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_arrivals', 'event_arrivals', 'event_arrivals_default', 'evidence_bundles', 'evidence_holds']
  LOOP
    EXECUTE format('ALTER TABLE timeline.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE timeline.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON timeline.%I TO ${app_role}
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['event_ids', 'source_sequences', 'events', 'events_default', 'event_details',
    'event_details_default', 'event_digests', 'event_digests_default', 'evidence_links', 'evidence_links_default',
    'tenant_arrivals', 'event_arrivals', 'event_arrivals_default', 'evidence_bundles', 'evidence_holds']
  LOOP
    EXECUTE format('CREATE POLICY maintenance_all ON timeline.%I TO CURRENT_USER USING (true) WITH CHECK (true)', t);
  END LOOP;
END $$;

-- Arrivals are immutable like the events; bundles too. Holds are updated (placed/released).
REVOKE UPDATE, DELETE ON timeline.event_arrivals, timeline.event_arrivals_default, timeline.evidence_bundles FROM ${app_role};
REVOKE DELETE ON timeline.tenant_arrivals, timeline.evidence_holds FROM ${app_role};

-- Not tenant data: time ranges whose partitions retention dropped. Maintenance never creates a
-- partition for them again (held events of such a range live on in the DEFAULT partition).
CREATE TABLE timeline.dropped_ranges (
  range_from timestamptz NOT NULL,
  range_to timestamptz NOT NULL,
  dropped_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (range_from, range_to)
);
REVOKE ALL ON timeline.dropped_ranges FROM ${app_role};
