-- timeline-indexer: events, their details, digests and evidence links, the per-(tenant, source)
-- ingest sequence and the dead letters (docs/timeline.md "Schema").
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).
--
-- Time-range partitioning from the start (issue #9 item 7): retrofitting a partitioned table
-- onto billions of rows means rewriting them. Each partitioned table starts with only a DEFAULT
-- partition, which behaves like a plain table; the indexer's partition maintenance (later) adds
-- range partitions ahead of time. A unique index on a partitioned table must contain the
-- partition key, so the "(tenant, event_id) forever" dedupe cannot live on timeline.events: it
-- is the separate, non-partitioned timeline.event_ids, which also locates an event by id
-- (occurred_at) so lookups prune to one partition.

-- Dedupe and locator: one row per (tenant, event_id) ever stored. First write wins: ingest does
-- INSERT … ON CONFLICT DO NOTHING here first and stores only the rows that were inserted.
CREATE TABLE timeline.event_ids (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  event_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  source text NOT NULL,
  ingest_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
);

-- The ingest sequence of each (tenant, source): ingest takes the row lock while it assigns a
-- range, so within one (tenant, source) sequence order is commit order (no gaps from rollbacks
-- become visible: a rolled-back range is never committed).
CREATE TABLE timeline.source_sequences (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  source text NOT NULL,
  last_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, source)
);

-- The narrow, hot table every list query scans. occurred_at is the envelope's occurredAt
-- truncated to the millisecond (the ordering key; JavaScript dates carry milliseconds, so a
-- cursor round-trips it exactly); the envelope's own text is kept in event_details.
-- Order of a timeline: (occurred_at, source, ingest_seq) — unique per tenant.
CREATE TABLE timeline.events (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  occurred_at timestamptz NOT NULL,
  source text NOT NULL,
  ingest_seq bigint NOT NULL,
  event_id text NOT NULL,
  kind text NOT NULL,
  subject text,
  correlation_id text,
  trace_id text,
  actor text,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, occurred_at, source, ingest_seq)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE timeline.events_default PARTITION OF timeline.events DEFAULT;

-- One index per filter, each ending in the order key so a filtered page is an index range scan.
CREATE INDEX events_kind_idx ON timeline.events (tenant_id, kind, occurred_at, source, ingest_seq);
CREATE INDEX events_source_idx ON timeline.events (tenant_id, source, occurred_at, ingest_seq);
-- A subject may be 1024 characters (3 KiB of UTF-8), more than a B-tree row may hold (1/3 of a
-- page), so its index holds md5(subject); queries compare both (query.ts). Every other indexed
-- column stays well below the limit at its envelope maximum (source, correlationId: 768 bytes).
CREATE INDEX events_subject_idx ON timeline.events (tenant_id, md5(subject), occurred_at, source, ingest_seq)
  WHERE subject IS NOT NULL;
CREATE INDEX events_correlation_idx ON timeline.events (tenant_id, correlation_id, occurred_at, source, ingest_seq)
  WHERE correlation_id IS NOT NULL;
CREATE INDEX events_trace_idx ON timeline.events (tenant_id, trace_id, occurred_at, source, ingest_seq)
  WHERE trace_id IS NOT NULL;

-- The wide part of an event, read only for the events of a page or by id.
CREATE TABLE timeline.event_details (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  occurred_at timestamptz NOT NULL,
  event_id text NOT NULL,
  -- The envelope's occurredAt as sent (RFC 3339, up to nanoseconds, any offset).
  occurred_at_text text NOT NULL,
  -- json, not jsonb: keeps the producer's key order and number spelling.
  attributes json,
  payload json,
  evidence json,
  PRIMARY KEY (tenant_id, occurred_at, event_id)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE timeline.event_details_default PARTITION OF timeline.event_details DEFAULT;

-- Every digest an event mentions (evidence digests and manifest digests, a digest-shaped
-- subject or attribute value), for the `digest` filter.
CREATE TABLE timeline.event_digests (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  digest text NOT NULL,
  occurred_at timestamptz NOT NULL,
  source text NOT NULL,
  ingest_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, digest, occurred_at, source, ingest_seq)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE timeline.event_digests_default PARTITION OF timeline.event_digests DEFAULT;

-- The envelope's evidence references, one row each, in envelope order.
CREATE TABLE timeline.evidence_links (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  occurred_at timestamptz NOT NULL,
  event_id text NOT NULL,
  ordinal integer NOT NULL,
  digest text NOT NULL,
  bundle_id text,
  manifest_digest text,
  attestation_subject text,
  PRIMARY KEY (tenant_id, occurred_at, event_id, ordinal)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE timeline.evidence_links_default PARTITION OF timeline.evidence_links DEFAULT;
CREATE INDEX evidence_links_bundle_idx ON timeline.evidence_links (tenant_id, bundle_id)
  WHERE bundle_id IS NOT NULL;

-- RLS on every tenant table (docs/database.md). On a partitioned table the policy of the
-- parent applies to queries through it; the partitions get the same policy and FORCE so that
-- a query naming a partition directly is filtered too.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['event_ids', 'source_sequences', 'events', 'events_default', 'event_details',
    'event_details_default', 'event_digests', 'event_digests_default', 'evidence_links', 'evidence_links_default']
  LOOP
    EXECUTE format('ALTER TABLE timeline.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE timeline.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON timeline.%I TO ${app_role}
      USING (tenant_id = current_setting('app.tenant_id', true))
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, t);
  END LOOP;
END $$;

-- Events are immutable once stored: the app role may add them, never change or remove them
-- (retention runs as the owner). The sequence counter is the one row it updates.
-- (Privileges, like policies, are checked on the table a query names: partitions too.)
REVOKE UPDATE, DELETE ON timeline.event_ids, timeline.events, timeline.events_default, timeline.event_details,
  timeline.event_details_default, timeline.event_digests, timeline.event_digests_default, timeline.evidence_links,
  timeline.evidence_links_default FROM ${app_role};
REVOKE DELETE ON timeline.source_sequences FROM ${app_role};

-- Not tenant data: messages the consumers could not store (undecodable, no tenant, oversize,
-- or out of attempts), for operators. Written and read as the owner only; the app role has no
-- access at all (the default privileges of 0001 are revoked).
CREATE TABLE timeline.dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  consumer_group text NOT NULL,
  message_id text NOT NULL,
  attempt integer NOT NULL,
  -- From the decoded event when there was one; NULL for undecodable bytes.
  tenant_id text,
  event_id text,
  reason text NOT NULL,
  error_code text,
  raw bytea NOT NULL
);
REVOKE ALL ON timeline.dead_letters FROM ${app_role};
