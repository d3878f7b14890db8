-- export-center operations (issue #11 §1–2; docs/export/schedules.md, docs/export/retention.md,
-- ADR 0020): schedules and their fires, per-profile retention, legal holds on runs and the log
-- of pruned runs. Same conventions as 0003: tenant_id first in keys, ENABLE + FORCE RLS.

-- A schedule starts runs of one profile: on a cron expression in an explicit IANA time zone, or
-- when the ledger head of some source kinds moved and then stayed put for a quiet period. The
-- profile is checked by the API and at every fire (a deleted profile suspends the schedule).
-- Deleting a schedule marks it (`deleted_at`): its fires keep naming it.
CREATE TABLE export_center.export_schedules (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  schedule_id text NOT NULL,
  profile_id text NOT NULL,
  name text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('cron', 'event')),
  cron text,
  time_zone text,
  kinds text[],
  quiet_seconds integer CHECK (quiet_seconds >= 0),
  missed_fires text NOT NULL CHECK (missed_fires IN ('skip', 'catchUpOnce')),
  enabled boolean NOT NULL DEFAULT true,
  -- cron: the next fire time (UTC) the scheduler will act on.
  next_fire_at timestamptz,
  -- event: the kinds' ledger head last seen, when it was first seen, and the head last fired for.
  seen_head bigint,
  seen_at timestamptz,
  fired_head bigint,
  last_fire_at timestamptz,
  last_run_id text,
  -- Set when a fire could not start a run for a reason a retry cannot fix (the profile is gone).
  suspended_code text,
  suspended_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, schedule_id),
  CHECK (trigger <> 'cron' OR (cron IS NOT NULL AND time_zone IS NOT NULL)),
  CHECK (trigger <> 'event' OR (kinds IS NOT NULL AND quiet_seconds IS NOT NULL AND fired_head IS NOT NULL))
);
CREATE INDEX export_schedules_list ON export_center.export_schedules (tenant_id, schedule_id) WHERE deleted_at IS NULL;
-- The scheduler's scan: live, enabled, unsuspended schedules.
CREATE INDEX export_schedules_due ON export_center.export_schedules (next_fire_at)
  WHERE deleted_at IS NULL AND enabled AND suspended_code IS NULL;

-- One row per fire of a schedule, keyed by the fire's scheduled time: a retried or duplicated
-- fire (two leaders for a moment, a crash after the commit) hits this key and starts no second
-- run, because the run and its fire row are written in one transaction.
CREATE TABLE export_center.export_schedule_fires (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  schedule_id text NOT NULL,
  scheduled_for timestamptz NOT NULL,
  -- event fires: the kinds' ledger head that triggered it (one fire per head).
  ledger_head bigint,
  outcome text NOT NULL CHECK (outcome IN ('run', 'skipped')),
  -- Fires missed while no scheduler ran, folded into this one (policy `skip` or `catchUpOnce`).
  missed integer NOT NULL DEFAULT 0 CHECK (missed >= 0),
  -- Not a foreign key: retention may prune the run; the fire stays as the schedule's history.
  run_id text,
  fired_at timestamptz NOT NULL DEFAULT now(),
  fired_by text NOT NULL,
  PRIMARY KEY (tenant_id, schedule_id, scheduled_for),
  FOREIGN KEY (tenant_id, schedule_id) REFERENCES export_center.export_schedules (tenant_id, schedule_id),
  CHECK ((outcome = 'run') = (run_id IS NOT NULL))
);
CREATE UNIQUE INDEX export_schedule_fires_head ON export_center.export_schedule_fires (tenant_id, schedule_id, ledger_head)
  WHERE ledger_head IS NOT NULL;
REVOKE UPDATE, DELETE ON export_center.export_schedule_fires FROM ${app_role};

-- Per-profile retention (not part of the versioned profile: changing how long bundles are kept
-- does not change what a profile exports). keep_last: the N newest finished runs of the profile
-- stay; max_age_seconds: finished runs older than that go. Either, or both.
CREATE TABLE export_center.export_retention (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  profile_id text NOT NULL,
  keep_last integer CHECK (keep_last >= 1),
  max_age_seconds bigint CHECK (max_age_seconds >= 1),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL,
  PRIMARY KEY (tenant_id, profile_id),
  CHECK (keep_last IS NOT NULL OR max_age_seconds IS NOT NULL)
);

-- A legal hold on one run: while it exists, retention never removes the run, its rows or its
-- objects. The foreign key makes that hold in the database itself: a run row with a hold cannot
-- be deleted. Releasing the hold deletes the row (the audit log keeps both acts).
CREATE TABLE export_center.export_holds (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  PRIMARY KEY (tenant_id, run_id),
  FOREIGN KEY (tenant_id, run_id) REFERENCES export_center.export_runs (tenant_id, run_id)
);

-- What retention pruned: one row per run, written in the transaction that deletes the run's
-- rows. `object_prefix` holds the run's objects, deleted after that commit; `objects_deleted_at`
-- stays NULL until they are gone, and the pruning worker finishes such rows on its next pass.
CREATE TABLE export_center.export_pruned_runs (
  tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
  run_id text NOT NULL,
  profile_id text NOT NULL,
  profile_version integer NOT NULL,
  status text NOT NULL,
  archive_digest text,
  manifest_digest text,
  run_created_at timestamptz NOT NULL,
  run_finished_at timestamptz,
  reason text NOT NULL CHECK (reason IN ('keepLast', 'maxAge')),
  policy jsonb NOT NULL,
  object_prefix text NOT NULL,
  pruned_at timestamptz NOT NULL DEFAULT now(),
  pruned_by text NOT NULL,
  objects_deleted_at timestamptz,
  PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX export_pruned_runs_pending ON export_center.export_pruned_runs (tenant_id) WHERE objects_deleted_at IS NULL;
REVOKE DELETE ON export_center.export_pruned_runs FROM ${app_role};

ALTER TABLE export_center.export_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_schedules TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_schedule_fires ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_schedule_fires FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_schedule_fires TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_retention ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_retention FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_retention TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_holds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_holds TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE export_center.export_pruned_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_center.export_pruned_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_center.export_pruned_runs TO ${app_role}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The scheduler leader and the pruning worker are cross-tenant system processes (like the claim,
-- 0003, and the outbox relay, ADR 0005): as the owner role they may only learn WHICH tenants have
-- due work — read-only, these tables only. Every fire and every prune then runs in a withTenant
-- transaction as the app role, under the tenant policies above.
CREATE POLICY scheduler_read ON export_center.export_schedules FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY pruner_read ON export_center.export_retention FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY pruner_read ON export_center.export_pruned_runs FOR SELECT TO CURRENT_USER USING (true);
