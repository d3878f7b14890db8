-- tlog: sequencer state of the transparency logs (issue 12 item 2; docs/formats/tlog.md).
-- Tiles, entry bundles and checkpoint notes live in the object store, content-addressed
-- (`sha256:<hex>` keys); these tables hold the queue of appended entries, the path → digest index
-- of the published tiles, and the published checkpoints. A batch is integrated in ONE transaction
-- that commits the index rows, the entries' log indexes and the new checkpoint together, after
-- every blob is already durable in the store: a crash before COMMIT publishes nothing (orphan
-- blobs only), a crash after it has nothing missing.
-- Only the owner role (sequencer, maintenance) touches these tables; services read through it.
-- PostgreSQL 15 features only (the same file runs on PGlite 18 and PostgreSQL 15).

CREATE SCHEMA IF NOT EXISTS tlog;

CREATE TABLE tlog.logs (
  log_id      text        PRIMARY KEY CHECK (log_id ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  origin      text        NOT NULL UNIQUE,
  -- The published tree: size and root of the latest checkpoint (0 and SHA-256("") when empty).
  tree_size   bigint      NOT NULL DEFAULT 0 CHECK (tree_size >= 0),
  root_hash   bytea       NOT NULL CHECK (length(root_hash) = 32),
  checkpoint  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every appended entry, deduplicated by its SHA-256 digest. `idx` is null while the entry waits
-- for the sequencer; `data` is dropped once the entry is in a published entry bundle.
CREATE TABLE tlog.entries (
  log_id     text        NOT NULL REFERENCES tlog.logs (log_id),
  digest     bytea       NOT NULL CHECK (length(digest) = 32),
  seq        bigint      GENERATED ALWAYS AS IDENTITY,
  idx        bigint      CHECK (idx >= 0),
  data       bytea       CHECK (data IS NULL OR length(data) BETWEEN 1 AND 65535),
  queued_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (log_id, digest),
  CHECK (idx IS NOT NULL OR data IS NOT NULL)
);
CREATE UNIQUE INDEX entries_log_idx ON tlog.entries (log_id, idx) WHERE idx IS NOT NULL;
CREATE INDEX entries_pending ON tlog.entries (log_id, seq) WHERE idx IS NULL;

-- Published tiles and entry bundles: C2SP path → content address. A path never changes its bytes.
CREATE TABLE tlog.tiles (
  log_id  text   NOT NULL REFERENCES tlog.logs (log_id),
  path    text   NOT NULL,
  digest  text   NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  size    integer NOT NULL CHECK (size > 0),
  PRIMARY KEY (log_id, path)
);

-- Every checkpoint the log published (the history auditors' held checkpoints are checked against).
CREATE TABLE tlog.checkpoints (
  log_id        text        NOT NULL REFERENCES tlog.logs (log_id),
  tree_size     bigint      NOT NULL CHECK (tree_size >= 0),
  root_hash     bytea       NOT NULL CHECK (length(root_hash) = 32),
  note          text        NOT NULL,
  digest        text        NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  published_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (log_id, tree_size)
);
