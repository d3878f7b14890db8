-- evidence-locker: the tenant's transparency log (issue 12 item 3; ADR 0013;
-- docs/evidence/transparency-log.md). Every seal, hold, release and purge tombstone enqueues its
-- log entry here IN THE SAME TRANSACTION as the change it records, so an entry exists if and only
-- if its change committed. The log sequencer (owner role) forwards queued entries to the tenant's
-- log in `tlog` (deduplicated by entry digest), integrates them and writes the log index back;
-- every step is idempotent, so a crash anywhere only delays an entry, never loses or doubles it.
-- This table is also the per-tenant index behind the digest lookup (`digests`): RLS decides which
-- entries a tenant sees; the log itself has no tenant column.

CREATE TABLE evidence_locker.log_entries (
  tenant_id    text        NOT NULL DEFAULT current_setting('app.tenant_id', true),
  seq          bigint      GENERATED ALWAYS AS IDENTITY,
  entry_type   text        NOT NULL CHECK (entry_type IN ('seal', 'hold', 'release', 'tombstone')),
  -- No foreign key: a purge deletes the bundle row, its entries (and its tombstone's) remain.
  bundle_id    text        NOT NULL,
  -- The RFC 8785 bytes that are the log entry (docs/evidence/transparency-log.md "Entries").
  entry        bytea       NOT NULL CHECK (octet_length(entry) BETWEEN 1 AND 65535),
  entry_digest text        NOT NULL CHECK (entry_digest ~ '^sha256:[0-9a-f]{64}$'),
  -- The digests the entry names (Merkle root as sha256:<hex>, manifest, tombstone), for lookup.
  digests      text[]      NOT NULL DEFAULT '{}',
  -- Set by the sequencer: handed to tlog.entries, then the entry's index in the tenant's log.
  forwarded    boolean     NOT NULL DEFAULT false,
  log_index    bigint      CHECK (log_index >= 0),
  queued_at    timestamptz NOT NULL DEFAULT now(),
  -- The same entry bytes are one log entry: a repeat enqueue is a no-op (ON CONFLICT DO NOTHING).
  PRIMARY KEY (tenant_id, entry_digest)
);
CREATE INDEX log_entries_bundle ON evidence_locker.log_entries (tenant_id, bundle_id, seq);
CREATE INDEX log_entries_digests ON evidence_locker.log_entries USING gin (digests);
CREATE INDEX log_entries_unforwarded ON evidence_locker.log_entries (seq) WHERE NOT forwarded;
CREATE INDEX log_entries_unindexed ON evidence_locker.log_entries (seq) WHERE log_index IS NULL;
CREATE UNIQUE INDEX log_entries_index ON evidence_locker.log_entries (tenant_id, log_index)
  WHERE log_index IS NOT NULL;

-- Append-only for the app role: it enqueues and reads its tenant's entries, never edits them.
REVOKE UPDATE, DELETE ON evidence_locker.log_entries FROM ${app_role};

ALTER TABLE evidence_locker.log_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE evidence_locker.log_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON evidence_locker.log_entries TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
-- The sequencer (owner role) drains every tenant's queue and writes indexes back.
CREATE POLICY log_sequencer ON evidence_locker.log_entries TO CURRENT_USER USING (true) WITH CHECK (true);

-- bundle.tgz with its log proof (docs/evidence/transparency-log.md "bundle.tgz"): once the seal
-- entry is integrated, downloads carry log/ files proving it in the checkpoint that integrated
-- it. Those bytes are a pure function of the bundle and that checkpoint, so they never change;
-- their digest and size are computed on the first such download and kept here for the ETag.
ALTER TABLE evidence_locker.bundles
  ADD COLUMN log_archive_digest text CHECK (log_archive_digest ~ '^sha256:[0-9a-f]{64}$'),
  ADD COLUMN log_archive_size bigint CHECK (log_archive_size > 0),
  ADD CHECK ((log_archive_digest IS NULL) = (log_archive_size IS NULL));
