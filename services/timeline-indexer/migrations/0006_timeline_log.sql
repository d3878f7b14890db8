-- timeline-indexer: the per-tenant transparency log of timeline batches (issue 12 item 4;
-- docs/timeline.md "Transparency log", ADR 0014). A batch is a contiguous range of the tenant's
-- arrival numbers (commit order, gap-free: arrivals.ts), cut by the timeline log worker when the
-- tenant's checkpoint is due (every 60 s, 10 s during an incident). The row holds the exact entry
-- bytes appended to the tenant's log (tlog schema, TLOG_MIGRATIONS); batch_no is its log index.
-- Written in one transaction with the reading of the events it covers, so a crash either records
-- the batch or leaves the range to the next cut; appending is idempotent (the log dedupes by
-- entry digest) and `appended` only saves the retry.
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).

CREATE TABLE timeline.log_batches (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  batch_no bigint NOT NULL CHECK (batch_no >= 0),
  first_arrival bigint NOT NULL CHECK (first_arrival >= 1),
  last_arrival bigint NOT NULL,
  -- occurredAt range of the batch's events, and the largest occurredAt of batches 0…batch_no
  -- (monotone: where an export of a window may start).
  min_at timestamptz NOT NULL,
  max_at timestamptz NOT NULL,
  max_at_so_far timestamptz NOT NULL,
  logged_at timestamptz NOT NULL,
  entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65535),
  appended boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, batch_no),
  UNIQUE (tenant_id, first_arrival),
  CHECK (last_arrival >= first_arrival AND max_at >= min_at AND max_at_so_far >= max_at)
);
CREATE INDEX log_batches_reach_idx ON timeline.log_batches (tenant_id, max_at_so_far, batch_no);
CREATE INDEX log_batches_pending_idx ON timeline.log_batches (tenant_id, batch_no) WHERE NOT appended;

ALTER TABLE timeline.log_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE timeline.log_batches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON timeline.log_batches TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY maintenance_all ON timeline.log_batches TO CURRENT_USER USING (true) WITH CHECK (true);

-- The log worker (owner) writes batches; the app role only reads its tenant's (exports).
REVOKE INSERT, UPDATE, DELETE ON timeline.log_batches FROM ${app_role};
