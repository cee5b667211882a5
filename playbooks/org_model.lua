-- Production migration strategy: the organizational model of the virtue development platform.
-- The sponsor-practitioner system becomes an organizational structure: a default
-- organization for every existing user, roles (coach or practitioner), and a coach
-- assignment for each active sponsor relationship, preserving all existing data.
-- Runbook phases: 1 preparation (preflight + backup), 2 schema migration (one transaction,
-- 30-minute window), 3 application deployment (gate, then the feature flags), 4 validation
-- (the final verify; the report replaces the "publish migration success metrics" step).
--
--   migrun --sandbox --load sql/org_model/before.sql playbooks/org_model.lua --yes
--
-- Rollbacks: `migrun rollback playbooks/org_model.lua` is the runbook's data-preservation
-- rollback (flags off, organizational data copied to *_backup tables, profiles reverted);
-- the immediate feature-flag rollback is its own playbook, playbooks/org_model_flag_rollback.lua;
-- the database rollback (option 1) is `migrun restore` of the backup this run takes.
-- Variables: backup_dir (default ../backups, i.e. backups/ at the repository root).

local SQL = "../sql/org_model/"

-- The numbers of today's data (runbook 1.2, "Count existing users and sponsor relationships")
local USERS = 250              -- profiles
local ACTIVE_SPONSORSHIPS = 48 -- active sponsor relationships -> 48 coach assignments
local PROGRESS = 3000          -- user_virtue_progress records
local COACHES = 14             -- distinct sponsors (active relationship or not) -> role coach
local PRACTITIONERS = USERS - COACHES

-- The runbook's validation scripts, verbatim
local PRE_MIGRATION = [[
  SELECT 'Total Users' as metric, COUNT(*) as count FROM profiles
  UNION ALL
  SELECT 'Active Sponsor Relationships', COUNT(*) FROM sponsor_practitioner_relationships
  WHERE active = true
  UNION ALL
  SELECT 'Total Virtue Progress Records', COUNT(*) FROM user_virtue_progress]]

local POST_MIGRATION = [[
  SELECT 'Users with Organization' as metric, COUNT(*) as count FROM profiles
  WHERE organization_id IS NOT NULL
  UNION ALL
  SELECT 'Coach Assignments Created', COUNT(*) FROM practitioner_assignments
  WHERE supervisor_role = 'coach'
  UNION ALL
  SELECT 'Users with Roles Assigned', COUNT(*) FROM profiles
  WHERE roles IS NOT NULL AND array_length(roles, 1) > 0]]

local INTEGRITY = [[
  SELECT 'Orphaned Users' as issue, COUNT(*) as count FROM profiles
  WHERE organization_id IS NULL
  UNION ALL
  SELECT 'Missing Role Assignments', COUNT(*) FROM profiles
  WHERE roles IS NULL OR array_length(roles, 1) = 0
  UNION ALL
  SELECT 'Invalid Organization References', COUNT(*) FROM profiles p
  LEFT JOIN organizations o ON p.organization_id = o.id
  WHERE p.organization_id IS NOT NULL AND o.id IS NULL]]

local POST_EXPECTED = { { "Users with Organization", USERS },
                        { "Coach Assignments Created", ACTIVE_SPONSORSHIPS },
                        { "Users with Roles Assigned", USERS } }
local INTEGRITY_EXPECTED = { { "Orphaned Users", 0 }, { "Missing Role Assignments", 0 },
                             { "Invalid Organization References", 0 } }

-- "No data loss": the profile columns that existed before, as one digest
local PROFILE_DATA = [[
  SELECT count(*) AS n,
         md5(string_agg(md5(row(id, email, full_name, created_at, last_sign_in_at,
                                updated_at)::text), '' ORDER BY id)) AS digest
  FROM profiles]]
local profiles_before   -- taken by the phase's first step, in its transaction

playbook "org_model" {
  description = "Organizational model: default organization, roles, coach assignments",
  budget = "2h",      -- 30 min schema migration + 15 min deployment + 1 h validation
  lock_timeout = "2s",

  -- 1.2 Data analysis and validation: the numbers, orphans and inconsistencies
  preflight = {
    expect.query(PRE_MIGRATION, { { "Total Users", USERS },
                                  { "Active Sponsor Relationships", ACTIVE_SPONSORSHIPS },
                                  { "Total Virtue Progress Records", PROGRESS } }),
    expect.query("SELECT count(DISTINCT sponsor_id) FROM sponsor_practitioner_relationships", COACHES),
    expect.no_orphans "sponsor_practitioner_relationships.sponsor_id -> profiles.id",
    expect.no_orphans "sponsor_practitioner_relationships.practitioner_id -> profiles.id",
    expect.no_orphans "user_virtue_progress.user_id -> profiles.id",
    expect.no_orphans "user_virtue_progress.virtue_id -> virtues.id",
    -- virtue progress data integrity: percentages in range, one row per user and virtue
    expect.query("SELECT count(*) FROM user_virtue_progress WHERE progress_pct NOT BETWEEN 0 AND 100", 0),
    expect.query([[SELECT count(*) FROM (SELECT 1 FROM user_virtue_progress
                   GROUP BY user_id, virtue_id HAVING count(*) > 1) AS d]], 0),
    -- a sponsor who sponsors himself would become his own coach
    expect.query([[SELECT count(*) FROM sponsor_practitioner_relationships
                   WHERE sponsor_id = practitioner_id]], 0),
    -- not migrated yet
    expect.absent { "organizations", "practitioner_assignments" },
    expect.query("SELECT count(*) FROM feature_flags", 4),
  },

  -- 1.1 Database backup and validation: pg_dump custom format, sha256, read back in full by
  -- pg_restore (the runbook's `pg_restore --list` misses truncated files)
  backup = backup.dump { dir = var("backup_dir", "../backups") },

  -- "preserving all existing data and relationships": these never change; profiles gains
  -- columns, so its rows are checked column by column in the phase instead
  protect = { "sponsor_practitioner_relationships", "user_virtue_progress", "virtues" },

  gate "go/no-go: 30-minute maintenance window" {
    "Backup restored and tested on staging (1.1)",
    "Complete migration and both rollbacks tested on staging with production volume (1.3)",
    "Users e-mailed 24 hours ahead; maintenance page up; support team has the timeline",
  },

  -- Phase 2: the three scripts in order, in one transaction: all of it or none of it
  phase "schema migration" {
    step "record existing profile data" (function(db)
      profiles_before = db:query(PROFILE_DATA)[1]
      return 0
    end),
    sql(SQL .. "20250103_organizational_model_schema.sql"),
    sql(SQL .. "20250103_organizational_model_data.sql"),
    sql(SQL .. "20250103_organizational_model_indexes.sql"),
    budget = "30m",
    verify = {
      expect.columns("profiles", { "organization_id", "roles", "is_active", "last_activity" }),
      expect.foreign_keys { table = "practitioner_assignments", count = 3 },
      expect.foreign_keys { table = "profiles", count = 1 },
      expect.index("profiles", { "organization_id" }),
      expect.index("profiles", { "roles" }),
      expect.index("practitioner_assignments", { "supervisor_id" }),
      expect.index("practitioner_assignments", { "practitioner_id" }),
      expect.index("practitioner_assignments", { "organization_id" }),
      -- 2.2 exactly one organization: the default one
      expect.query([[SELECT name, slug, subscription_tier, max_users, primary_color, secondary_color
                     FROM organizations]],
                   { { "Individual Users", "individual-users", "legacy", 1000, "#5F4339", "#A8A29E" } }),
      -- 2.3 every user in it, within its limit, with one role
      expect.query(POST_MIGRATION, POST_EXPECTED),
      expect.query(INTEGRITY, INTEGRITY_EXPECTED),
      expect.query("SELECT roles[1], count(*) FROM profiles GROUP BY 1 ORDER BY 1",
                   { { "coach", COACHES }, { "practitioner", PRACTITIONERS } }),
      expect.query([[SELECT count(*) FROM profiles WHERE is_active IS NOT TRUE
                     OR last_activity IS DISTINCT FROM COALESCE(last_sign_in_at, created_at)]], 0),
      expect.query([[SELECT o.max_users - count(p.id) >= 0 FROM organizations o
                     LEFT JOIN profiles p ON p.organization_id = o.id GROUP BY o.id]], true),
      -- 2.4 each active sponsor relationship is an active coach assignment, and nothing else is
      expect.query([[SELECT count(*) FROM (
                       SELECT sponsor_id, practitioner_id, created_at FROM sponsor_practitioner_relationships
                       WHERE active
                       EXCEPT
                       SELECT supervisor_id, practitioner_id, assigned_at FROM practitioner_assignments
                       WHERE active AND supervisor_role = 'coach') AS missing]], 0),
      expect.count("practitioner_assignments", ACTIVE_SPONSORSHIPS),
      -- the new switches exist and stay off until the application is deployed
      expect.query([[SELECT count(*) FILTER (WHERE NOT enabled) FROM feature_flags
                     WHERE flag_name IN ('organizational_model', 'multi_role_support')]], 2),
      -- zero data loss: no profile gained or lost, and what they held is unchanged
      expect.delta("profiles", 0),
      expect.that("existing profile data unchanged (id, email, name, timestamps)", function(db)
        local now = db:query(PROFILE_DATA)[1]
        local show = function(r) return string.format("%d profiles, digest %s", r.n, r.digest:sub(1, 12)) end
        if not profiles_before then return false, show(now), "a digest taken before the scripts" end
        return now.n == profiles_before.n and now.digest == profiles_before.digest,
               show(now), show(profiles_before)
      end, { tables = { "profiles" } }),
    },
    -- the runbook's extended, data-preserving rollback
    rollback = sql(SQL .. "rollback_preserve_data.sql"),
  },

  gate "Phase 3: application deployment" {
    "New application version deployed (organization context in the API, updated UI)",
    "Login, sponsor dashboard as coach dashboard and practitioner views smoke-tested (3.2)",
  },

  -- 3.1 "Enable feature flags for organizational functionality" (15-minute deployment slot)
  phase "enable organizational features" {
    sql(SQL .. "enable_feature_flags.sql"),
    budget = "15m",
    verify = {
      expect.query([[SELECT count(*) FROM feature_flags
                     WHERE flag_name IN ('organizational_model', 'multi_role_support') AND enabled]], 2),
      -- the other four flags as they were: three on, one off
      expect.query([[SELECT count(*) FILTER (WHERE enabled) FROM feature_flags
                     WHERE flag_name NOT IN ('organizational_model', 'multi_role_support')]], 3),
    },
    -- option 2, the feature-flag rollback
    rollback = sql(SQL .. "rollback_feature_flags.sql"),
  },

  -- Phase 4: post-migration validation (4.1), the runbook's scripts with their expected values
  verify = {
    expect.query(POST_MIGRATION, POST_EXPECTED),
    expect.query(INTEGRITY, INTEGRITY_EXPECTED),
    expect.count("organizations", 1),
    expect.count("profiles", USERS),
    expect.count("practitioner_assignments", ACTIVE_SPONSORSHIPS),
    -- virtue progress data preserved (and protected, row for row)
    expect.count("user_virtue_progress", PROGRESS),
    expect.count("sponsor_practitioner_relationships", 60),
    expect.query([[SELECT count(*) FROM feature_flags
                   WHERE flag_name IN ('organizational_model', 'multi_role_support') AND enabled]], 2),
  },

  report = "../reports/org_model.md",
}
