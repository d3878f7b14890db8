-- Transactional outbox (DESIGN.md §3 "Events"; docs/events.md "Outbox"; ADR 0005).
-- Services insert an event row INSIDE their business transaction (appendToOutbox); the relay
-- (startOutboxRelay) publishes committed rows and deletes them. A rolled-back transaction
-- leaves no row, so an event is published if and only if its transaction committed.
CREATE SCHEMA IF NOT EXISTS stella_platform;
GRANT USAGE ON SCHEMA stella_platform TO ${app_role};

CREATE TABLE stella_platform.outbox (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       text        NOT NULL DEFAULT current_setting('app.tenant_id', true),
  event_id        text        NOT NULL,
  kind            text        NOT NULL,
  -- json, not jsonb: keeps the envelope text as the producer wrote it.
  envelope        json        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  -- Set when the relay gives up on a row that can never be published (it is kept for operators).
  dead_at         timestamptz,
  CONSTRAINT outbox_tenant_event_unique UNIQUE (tenant_id, event_id)
);
CREATE INDEX outbox_due_idx ON stella_platform.outbox (next_attempt_at, id) WHERE dead_at IS NULL;

-- Tenant transactions may only enqueue events of their own tenant (a bug elsewhere cannot
-- publish into another tenant's timeline). The relay is a cross-tenant system process: it runs
-- as the owner role, which gets an explicit policy instead of relying on BYPASSRLS (ADR 0005).
ALTER TABLE stella_platform.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE stella_platform.outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stella_platform.outbox TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY relay_all ON stella_platform.outbox TO CURRENT_USER USING (true) WITH CHECK (true);
-- Enqueue only: the app role never reads, edits or deletes outbox rows. (SELECT on the two
-- key columns is what `INSERT … ON CONFLICT (tenant_id, event_id) DO NOTHING` needs to check
-- the conflict target; the envelope column stays unreadable.)
GRANT INSERT ON stella_platform.outbox TO ${app_role};
GRANT SELECT (tenant_id, event_id) ON stella_platform.outbox TO ${app_role};
