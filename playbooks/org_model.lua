-- Production migration strategy: the organizational model of the virtue development platform.
-- The sponsor-practitioner system becomes an organizational structure: a default
-- organization for every existing user, roles (coach or practitioner), and a coach
-- assignment for each active sponsor relationship, preserving all existing data.
-- Runbook phases: 1 preparation (preflight + backup), 2 schema migration (one transaction,
-- 30-minute window), 3 application deployment (gate, then the feature flags, then 3.2's
-- smoke tests on the switched-on features), 4 validation (the final verify, the endpoint's
-- response time, then an hour's watch with the runbook's alert thresholds; the report
-- replaces the "publish migration success metrics" step).
--
--   SLACK_WEBHOOK=https://hooks.slack.com/... \
--   migrun playbooks/org_model.lua --db "$DATABASE_URL" --set app=https://virtue.example.com
--   migrun --sandbox --load sql/org_model/before.sql playbooks/org_model.lua --yes \
--          --set app=none --set watch_for=10s --set watch_every=2s
--
-- Every check compares the data with itself, not with the numbers of a given day: all users
-- in the organization, one coach assignment per active sponsor relationship, a coach for
-- each sponsor; the runbook's validation scripts run verbatim and their rows are compared
-- with what the source tables say they must be.
--
-- The application: --set app=URL is its base URL; after the flags are on, GET <app>/health
-- (--set health=/path) must answer within 2 s ("API response time > 2 seconds" is the
-- runbook's alert threshold), in the final verify (a failure rolls back) and every tick of
-- the watch. A run without --set app is refused at preflight, before anything is touched;
-- --set app=none runs without an application and says so.
-- Variables: app, health (/health), backup_dir (default ../backups, i.e. backups/ at the
-- repository root), watch_for (1h), watch_every (15s).
--
-- Rollbacks: `migrun rollback playbooks/org_model.lua` is the runbook's data-preservation
-- rollback (flags off, organizational data copied to *_backup tables, profiles reverted);
-- the immediate feature-flag rollback is its own playbook, playbooks/org_model_flag_rollback.lua;
-- the database rollback (option 1) is `migrun restore` of the backup this run takes.
--
-- Still with people, and why: the e-mail to all users 24 hours before, the maintenance page
-- and the support team's briefing are messages and a page of the application the runbook
-- names no endpoint for (the gates ask for them); deploying the new application version
-- (kubectl) happens outside the database, between the two phases (the gate before the flags
-- waits for it); 3.2's walk through the screens (log in, the sponsor dashboard as a coach
-- dashboard, the practitioner's views) is a person's, right after the run (the team hears
-- the run succeed); login failure rate, application error rate and database CPU come from the
-- application's logs and the host, not from SQL (the watch alerts on the database's share:
-- transactions rolled back); user feedback and the 48 hours of stability monitoring after.
-- pg_stat_statements is not required: the runbook's testing removed that dependency for
-- Supabase, so the watch does not compare query times.

local SQL = "../sql/org_model/"
local FLAGS = "('organizational_model', 'multi_role_support')"

-- the application: a URL, "none" (run without it, and say so), or unset (refused at preflight)
local APP = var.app
local WITH_APP = APP ~= nil and APP ~= "none"
local HEALTH = var("health", "/health")

local app_given = expect.that("the application: --set app=URL (or app=none to run without it)", function()
  if APP == nil then return false, "not set", "--set app=URL, or --set app=none" end
  return true, WITH_APP and APP or "none: the endpoint check is skipped", "--set app=URL, or --set app=none"
end)

-- list, plus the application's checks when there is an application
local function with_app(list, checks)
  if WITH_APP then
    for _, e in ipairs(checks()) do list[#list + 1] = e end
  end
  return list
end

local function api_fast()
  return { expect.http { url = APP .. HEALTH, within = "2s" } }
end

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

-- ... and what its rows must say: every user, one assignment per active relationship
local POST_MUST = [[
  SELECT 'Users with Organization' as metric, COUNT(*) as count FROM profiles
  UNION ALL
  SELECT 'Coach Assignments Created', COUNT(*) FROM sponsor_practitioner_relationships WHERE active
  UNION ALL
  SELECT 'Users with Roles Assigned', COUNT(*) FROM profiles]]

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

local INTEGRITY_EXPECTED = { { "Orphaned Users", 0 }, { "Missing Role Assignments", 0 },
                             { "Invalid Organization References", 0 } }

local function rows_text(res)
  local parts = {}
  for _, r in ipairs(res) do parts[#parts + 1] = string.format("%s %s", r[res.columns[1]], r[res.columns[2]]) end
  return table.concat(parts, ", ")
end

-- a script's rows, recorded (in the report) and checked for being there at all
local function recorded(label, query)
  return expect.that(label, function(db)
    local res = db:query(query)
    return res.n > 0, rows_text(res), "recorded"
  end)
end

local post_validation = expect.that("post-migration validation: every user with an organization and a role, " ..
                                    "one coach assignment per active sponsor relationship", function(db)
  local got, must = rows_text(db:query(POST_MIGRATION)), rows_text(db:query(POST_MUST))
  return got == must, got, must
end, { tables = { "profiles", "practitioner_assignments" } })

-- 2.3: anyone who ever sponsored someone is a coach, everyone else a practitioner
local roles_right = expect.that("roles: a coach for each sponsor (active or not), a practitioner for everyone else",
  function(db)
    local r = db:query([[
      SELECT count(*) FILTER (WHERE roles = ARRAY['coach']) AS coaches,
             count(*) FILTER (WHERE roles = ARRAY['practitioner']) AS practitioners,
             count(*) FILTER (WHERE roles IS DISTINCT FROM
               CASE WHEN EXISTS (SELECT 1 FROM sponsor_practitioner_relationships s WHERE s.sponsor_id = p.id)
                    THEN ARRAY['coach'] ELSE ARRAY['practitioner'] END) AS wrong,
             (SELECT count(DISTINCT sponsor_id) FROM sponsor_practitioner_relationships) AS sponsors
      FROM profiles p]])[1]
    return r.wrong == 0, string.format("%d coaches, %d practitioners, %d wrong", r.coaches, r.practitioners, r.wrong),
           string.format("%d coaches (the sponsors), the rest practitioners, 0 wrong", r.sponsors)
  end)

local assignments_match = expect.that("coach assignments = active sponsor relationships, one for one", function(db)
  local r = db:query([[
    SELECT (SELECT count(*) FROM practitioner_assignments) AS assignments,
           (SELECT count(*) FROM sponsor_practitioner_relationships WHERE active) AS active,
           (SELECT count(*) FROM (
              SELECT sponsor_id, practitioner_id, created_at FROM sponsor_practitioner_relationships WHERE active
              EXCEPT
              SELECT supervisor_id, practitioner_id, assigned_at FROM practitioner_assignments
              WHERE active AND supervisor_role = 'coach') AS m) AS missing]])[1]
  return r.assignments == r.active and r.missing == 0,
         string.format("%d assignments, %d relationships without one", r.assignments, r.missing),
         string.format("%d assignments, 0 relationships without one", r.active)
end, { tables = { "practitioner_assignments" } })

-- "No data loss": the profile columns that existed before, as one digest
local PROFILE_DATA = [[
  SELECT count(*) AS n,
         md5(string_agg(md5(row(id, email, full_name, created_at, last_sign_in_at,
                                updated_at)::text), '' ORDER BY id)) AS digest
  FROM profiles]]
local profiles_before   -- taken by the phase's first step, in its transaction

-- the four flags the migration does not own, as they were (taken at the start of each phase)
local OTHER_FLAGS = "SELECT coalesce(string_agg(flag_name || '=' || enabled, ', ' ORDER BY flag_name), " ..
                    "'(none)') AS f FROM feature_flags WHERE flag_name NOT IN " .. FLAGS
local other_flags_before
local record_other_flags = function(name)
  return step(name) (function(db)
    other_flags_before = db:query(OTHER_FLAGS)[1].f
    return 0
  end)
end
local other_flags_kept = expect.that("the other feature flags as they were", function(db)
  local now = db:query(OTHER_FLAGS)[1].f
  return now == other_flags_before, now, other_flags_before or "taken at the start of the phase"
end)

---------------------------------------------------------------------------------------------
-- 3.2, "Verify core functionality" with the organizational features switched on, as the
-- database sees the application's users: a role of its own for the check (created and gone
-- with the check's savepoint, as everything here), reading as one user at a time the way
-- PostgREST sets the request's user. "Test data isolation and permissions": a second
-- organization with a coach and a practitioner of its own exists for the time of the check.
-- What each user should see is computed as the owner from the same rows.

local function as_user(db, role, user_id, fn)
  local sp <close> = db:begin()
  db:exec("SET LOCAL ROLE " .. db:quote_ident(role))
  db:query("SELECT set_config('request.jwt.claim.sub', $1, true)", user_id)
  local res = table.pack(pcall(fn))
  sp:rollback()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function try(db, statement, ...)
  local sp <close> = db:begin()
  local ok, err = pcall(db.exec, db, statement, ...)
  sp:rollback()
  if ok then return "ok" end
  return "refused (" .. tostring(type(err) == "table" and err.sqlstate or err) .. ")"
end

-- what a user sees: organizations (their slugs), assignments (as coach / as practitioner)
local SEEN = [[
  SELECT (SELECT coalesce(string_agg(slug, ',' ORDER BY slug), '') FROM organizations) AS orgs,
         (SELECT count(*) FROM practitioner_assignments WHERE supervisor_id = $1::uuid) AS coaching,
         (SELECT count(*) FROM practitioner_assignments WHERE practitioner_id = $1::uuid) AS coached,
         (SELECT count(*) FROM practitioner_assignments
          WHERE $1::uuid NOT IN (supervisor_id, practitioner_id)) AS others]]

local function seen_text(r, refused)
  return string.format("organizations %s; coaching %d, coached by %d, other people's assignments %d; " ..
                       "assigning a coach %s", r.orgs, r.coaching, r.coached, r.others, refused)
end

-- the sponsor dashboard, for one user: their active relationships (as sponsor, as practitioner)
local function should_see(db, user_id)
  return db:query([[
    SELECT (SELECT o.slug FROM profiles p JOIN organizations o ON o.id = p.organization_id
            WHERE p.id = $1::uuid) AS orgs,
           (SELECT count(*) FROM sponsor_practitioner_relationships WHERE active AND sponsor_id = $1::uuid) AS coaching,
           (SELECT count(*) FROM sponsor_practitioner_relationships WHERE active AND practitioner_id = $1::uuid)
             AS coached,
           0 AS others]], user_id)[1]
end

local smoke_tests = expect.that("3.2 smoke tests with the features on: coach dashboards, practitioner access, " ..
                                "data isolation between organizations", function(db)
  local role = "org_smoke_" .. db:backend_pid()
  db:exec("CREATE ROLE " .. db:quote_ident(role) .. " NOLOGIN NOSUPERUSER NOINHERIT NOBYPASSRLS")
  db:exec("GRANT SELECT ON organizations, practitioner_assignments, profiles, feature_flags TO " ..
          db:quote_ident(role))
  db:exec("GRANT INSERT ON practitioner_assignments TO " .. db:quote_ident(role))
  -- the features are on for the application to read
  local on = db:query("SELECT count(*) AS n FROM feature_flags WHERE enabled AND flag_name IN " .. FLAGS)[1].n
  -- a coach with the most practitioners, and one of them; then another organization's pair
  local pick = db:query([[
    SELECT a.supervisor_id::text AS coach, min(a.practitioner_id::text) AS practitioner
    FROM practitioner_assignments a WHERE a.active
    GROUP BY a.supervisor_id ORDER BY count(*) DESC, a.supervisor_id LIMIT 1]])[1]
  if not pick then return false, "no coach assignment to try", "a coach and a practitioner" end
  local other = db:query([[
    WITH org AS (INSERT INTO organizations (name, slug) VALUES ('Smoke test', 'smoke-test') RETURNING id),
         people AS (INSERT INTO profiles (id, email, organization_id, roles)
                    SELECT gen_random_uuid(), 'smoke-' || r || '@migrun.invalid', org.id, ARRAY[r]
                    FROM org, unnest(ARRAY['coach', 'practitioner']) AS r RETURNING id, roles[1] AS r, organization_id)
    INSERT INTO practitioner_assignments (practitioner_id, supervisor_id, supervisor_role, organization_id)
    SELECT p.id, c.id, 'coach', c.organization_id FROM people p, people c WHERE p.r = 'practitioner' AND c.r = 'coach'
    RETURNING practitioner_id::text AS practitioner, supervisor_id::text AS coach]])[1]
  local assign = [[INSERT INTO practitioner_assignments
                     (practitioner_id, supervisor_id, supervisor_role, organization_id)
                   SELECT $1::uuid, (SELECT id FROM profiles WHERE id <> $1::uuid ORDER BY id LIMIT 1), 'coach',
                          organization_id
                   FROM profiles WHERE id = $1::uuid]]
  local people = { { "coach", pick.coach }, { "practitioner", pick.practitioner },
                   { "other organization's practitioner", other.practitioner } }
  local actual, expected = { string.format("features on %d of 2", on) }, { "features on 2 of 2" }
  for _, p in ipairs(people) do
    local truth = should_see(db, p[2])
    if p[1]:find("other", 1, true) then truth.orgs, truth.coached = "smoke-test", 1 end
    expected[#expected + 1] = p[1] .. ": " .. seen_text(truth, "refused (42501)")
    actual[#actual + 1] = p[1] .. ": " .. as_user(db, role, p[2], function()
      return seen_text(db:query(SEEN, p[2])[1], try(db, assign, p[2]))
    end)
  end
  local a, e = table.concat(actual, "; "), table.concat(expected, "; ")
  return a == e, a, e
end)

---------------------------------------------------------------------------------------------

playbook "org_model" {
  description = "Organizational model: default organization, roles, coach assignments",
  budget = "2h",      -- 30 min schema migration + 15 min deployment + 1 h validation
  lock_timeout = "2s",

  -- 1.2 Data analysis and validation: the numbers (recorded), orphans and inconsistencies
  preflight = {
    app_given,
    recorded("pre-migration validation (recorded)", PRE_MIGRATION),
    recorded("sponsors (recorded: they become coaches)", [[
      SELECT 'Distinct sponsors', count(DISTINCT sponsor_id) FROM sponsor_practitioner_relationships]]),
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
    expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS, 0),
    -- the default organization holds everybody: the legacy tier's 1000 must be enough
    expect.query("SELECT count(*) FROM profiles", { max = 1000 }),
  },

  -- 1.1 Database backup and validation: pg_dump custom format, sha256, read back in full by
  -- pg_restore (the runbook's `pg_restore --list` misses truncated files)
  backup = backup.dump { dir = var("backup_dir", "../backups") },

  -- "preserving all existing data and relationships": these never change; profiles gains
  -- columns, so its rows are checked column by column in the phase instead
  protect = { "sponsor_practitioner_relationships", "user_virtue_progress", "virtues" },

  -- "Keep stakeholders updated on migration progress": the start, a gate waiting, the end
  -- (without SLACK_WEBHOOK in the environment the run warns once and sends nothing)
  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure", "watch" } },

  -- without an application (--set app=none), the run says so right before the first phase
  hooks = not WITH_APP and {
    before = function(hook)
      hook.log("warning: no application (--set app=none): " .. HEALTH .. " is not checked after the flags are on")
    end,
  } or nil,

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
    record_other_flags "record the other feature flags",
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
      expect.rls "organizations",
      expect.rls "practitioner_assignments",
      -- 2.2 exactly one organization: the default one
      expect.query([[SELECT name, slug, subscription_tier, max_users, primary_color, secondary_color
                     FROM organizations]],
                   { { "Individual Users", "individual-users", "legacy", 1000, "#5F4339", "#A8A29E" } }),
      -- 2.3 every user in it, within its limit, with one role
      post_validation,
      expect.query(INTEGRITY, INTEGRITY_EXPECTED),
      roles_right,
      expect.query([[SELECT count(*) FROM profiles WHERE is_active IS NOT TRUE
                     OR last_activity IS DISTINCT FROM COALESCE(last_sign_in_at, created_at)]], 0),
      expect.query([[SELECT o.max_users - count(p.id) >= 0 FROM organizations o
                     LEFT JOIN profiles p ON p.organization_id = o.id GROUP BY o.id]], true),
      -- 2.4 each active sponsor relationship is an active coach assignment, and nothing else is
      assignments_match,
      -- the new switches exist and stay off until the application is deployed
      expect.query([[SELECT count(*) FILTER (WHERE NOT enabled) FROM feature_flags
                     WHERE flag_name IN ]] .. FLAGS, 2),
      other_flags_kept,
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

  -- 3.1 the new application version goes out before its features are switched on
  gate "Phase 3: application deployment" {
    "New application version deployed (organization context in the API, updated UI)",
  },

  -- 3.1 "Enable feature flags for organizational functionality" (15-minute deployment slot),
  -- then 3.2 on the switched-on features, before COMMIT: a coach dashboard that shows the wrong
  -- practitioners, or one organization's rows visible to another, rolls the flags back
  phase "enable organizational features" {
    record_other_flags "record the feature flags left alone",
    sql(SQL .. "enable_feature_flags.sql"),
    budget = "15m",
    verify = {
      expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS .. " AND enabled", 2),
      other_flags_kept,
      smoke_tests,
    },
    -- option 2, the feature-flag rollback
    rollback = sql(SQL .. "rollback_feature_flags.sql"),
  },

  -- Phase 4: post-migration validation (4.1), the runbook's scripts, compared with the data;
  -- then the API with the features on, committed (the application reads them now)
  verify = with_app({
    post_validation,
    expect.query(INTEGRITY, INTEGRITY_EXPECTED),
    expect.count("organizations", 1),
    assignments_match,
    -- "zero data loss": every profile, every progress record, every relationship as it was
    expect.delta("profiles", 0),
    expect.unchanged("user_virtue_progress"),
    expect.unchanged("sponsor_practitioner_relationships"),
    expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS .. " AND enabled", 2),
  }, api_fast),

  report = "../reports/org_model.md",

  -- "Immediate Rollback (if issues detected within 1 hour)": the hour after, watched with the
  -- runbook's alert thresholds that the database can see: the API's response time (2 s), the
  -- share of transactions rolled back (the database side of "application error rate > 1%"),
  -- a deadlock. A breach alerts the team; which rollback (flags, data, restore) is theirs to
  -- choose.
  watch "validation hour" (with_app({
    duration = var("watch_for", "1h"),
    every = var("watch_every", "15s"),
    rollback_rate = "1%",
    deadlocks = 0,
    on_breach = "alert",
  }, api_fast)),
}
