-- Week 1 Wednesday (2024-01-29), "Database Cleanup & API Foundation": the production
-- migration plan as a playbook. Two migrations, both idempotent, staging-tested:
--   011 fixes the 3 schema conflicts (agent_recommendations, agent_trust_scores, competitors)
--   012 drops the 9 unused tables (gamification, tech tree, partial features)
-- Before: 52 tables, 38 foreign keys, 16 RLS policies.  After: 43, 42, 18.
--
--   migrun playbooks/week1_cleanup.lua --db "$PROD_URL" --set app=https://app.example.com \
--          --set backup_dir=/srv/backups                    (SLACK_WEBHOOK in the environment)
--   migrun --sandbox --load sql/week1_cleanup/before.sql playbooks/week1_cleanup.lua --yes \
--          --set app=none --set watch_for=10s --set watch_every=2s
--
-- What the runbook did by hand and is now automatic: the pg_dump before anything changes;
-- Check 2 ("no active transactions blocking migration", "minimal active connections") as
-- health expectations in the preflight; the 12 verification queries (they also run inside
-- each phase's transaction, so a failure rolls back before COMMIT); the stopwatch ("expect:
-- 234ms", "156ms"); "test critical endpoints" (/health, /api/campaigns, /api/moves) in the
-- final verify, where a failure rolls the migration back; "notify team" (start, gate,
-- success, failure) to the Slack webhook in SLACK_WEBHOOK; the 10:00-12:00 monitoring phase
-- as a watch window (connection stability, slow queries, deadlocks, /health) that rolls the
-- migration back on a breach, the runbook's answer to "if anything goes wrong"; and the
-- report (WEEK_1_WEDNESDAY_REPORT.md).
--
-- The application: --set app=URL is its base URL (the runbook's http://localhost:8000). A
-- run without it is refused at preflight, before anything is touched: a production run must
-- not lose its endpoint checks to a forgotten flag. --set app=none runs without one (a
-- sandbox, a database no application uses yet): no endpoint checks, and the run says so.
-- Variables: app, backup_dir, report, max_active (Check 2's "minimal": 5 active sessions),
-- watch_for (2h), watch_every (15s).
--
-- Still with people, and why: "verify application can handle downtime", staging sign-off and
-- the team's availability are judgements (the go/no-go gate asks them); the application's
-- error log (`tail -f /var/log/app.log | grep -i error`) is a file on the application's
-- hosts, out of a database client's reach; "notify team 1 hour before starting" happens
-- before anyone starts migrun; the runbook's absolute "mean_time > 1000 ms" list of slow
-- queries is for a person to read (the watch instead compares each query with its own mean
-- before the migration, which catches what the migration made slower, fast or not).

local backup_dir = var("backup_dir", "backups")

-- this file's directory: relative paths (backup_dir) are relative to the playbook
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local function in_here(p) return p:sub(1, 1) == "/" and p or HERE .. "/" .. p end

-- the 9 tables migration 012 removes (the runbook's list)
local UNUSED = {
  "quests", "quest_moves", "quest_milestones",          -- gamification
  "capability_nodes", "maneuver_prerequisites",         -- tech tree
  "quick_wins", "cohort_relations", "move_decisions", "notifications",   -- partial features
}
local UNUSED_SQL = "'" .. table.concat(UNUSED, "', '") .. "'"

-- "No data loss (0 rows deleted from needed tables)", inside each phase's transaction: a phase
-- that deletes a row of the core tables is rolled back before COMMIT, while its snapshot and
-- the tables' rows are still there (counted here; protect compares their content at the end)
local CORE = { "campaigns", "moves", "agents" }
local function core_rows_kept()
  local list = {}
  for _, t in ipairs(CORE) do list[#list + 1] = expect.delta(t, 0) end
  return table.unpack(list)
end

-- The application: a URL, "none" (run without it, and say so), or unset (refused at preflight)
local APP = var.app
local WITH_APP = APP ~= nil and APP ~= "none"

local app_given = expect.that("the application: --set app=URL (or app=none to run without it)", function()
  if APP == nil then return false, "not set", "--set app=URL, or --set app=none" end
  return true, WITH_APP and APP or "none: the endpoint checks are skipped", "--set app=URL, or --set app=none"
end)

-- list, plus the application's checks when there is an application
local function with_app(list, checks)
  if WITH_APP then
    for _, e in ipairs(checks()) do list[#list + 1] = e end
  end
  return list
end

-- Step 5, "Test critical endpoints" (curl -X GET .../health, /api/campaigns, /api/moves)
local function endpoints()
  return {
    expect.http { url = APP .. "/health", status = 200, within = "5s" },
    expect.http { url = APP .. "/api/campaigns", status = 200, within = "5s" },
    expect.http { url = APP .. "/api/moves", status = 200, within = "5s" },
  }
end

-- "Total row count = filled count (100% backfilled)": the two counts of the same table
local function all_filled(label, tbl, col)
  return expect.that(label, function(db)
    local r = db:query(string.format("SELECT count(%s) AS filled, count(*) AS total FROM %s", col, tbl))[1]
    return r.filled == r.total, string.format("%d of %d filled", r.filled, r.total),
           string.format("%d of %d filled", r.total, r.total)
  end, { tables = { tbl } })
end

-- Budgets. Staging measured 011 at ~234 ms and 012 at ~156 ms, and verified "< 400ms
-- total". Each step warns when it is slower than staging (production differs, worth a look,
-- not a reason to stop). Each phase fails hard past 400 ms: a phase alone over the ceiling
-- staging gave for both means production is not what staging was (lock waits, bigger
-- tables), and these phases hold ACCESS EXCLUSIVE locks on tables the app uses; the phase
-- is one transaction, so failing it rolls it back cleanly. The success criterion
-- "execution time < 500ms total" is checked by the final verify, "total migration time
-- < 5 minutes" (backup included) by the playbook budget.
local m011 = sql("../sql/week1_cleanup/011_fix_migration_conflicts.sql", { budget = { "234ms", warn = true } })
local m012 = sql("../sql/week1_cleanup/012_remove_unused_features.sql", { budget = { "156ms", warn = true } })
local rollback012 = sql "../sql/week1_cleanup/012_rollback.sql"

-- A runbook query under the runbook's own name in the report ("Q1.1 ...").
local function Q(label, e, tables)
  return expect.that(label, function(_, ctx) return e:check(ctx) end, { tables = tables })
end

-- The shape of the public schema: constraints, policies, columns, RLS flags.
local SHAPE = [[
SELECT md5(string_agg(x, ',' ORDER BY x)) AS shape FROM (
  SELECT 'c:' || conrelid::regclass || '.' || conname || ':' || pg_get_constraintdef(oid) AS x
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'p:' || polrelid::regclass || '.' || polname || ':' || coalesce(pg_get_expr(polqual, polrelid), '')
  FROM pg_policy
  UNION ALL
  SELECT 'a:' || a.attrelid::regclass || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
         || ':' || a.attnotnull
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'r:' || relname || ':' || relrowsecurity FROM pg_class
  WHERE relnamespace = 'public'::regnamespace AND relkind = 'r') s]]

-- "Both migrations are idempotent (safe to re-run)": run the file again (inside the check's
-- savepoint, rolled back afterwards) and show it changes no row and no part of the schema.
local function idempotent(step)
  return expect.that(step.file:match("[^/]+$") .. " is idempotent: a second run changes nothing",
    function(db)
      local before = db:query(SHAPE)[1].shape
      local res = db:script(step.text, { name = step.file })
      local after = db:query(SHAPE)[1].shape
      local actual = string.format("%d rows changed, schema %s", res.rows,
                                   before == after and "unchanged" or "changed")
      return res.rows == 0 and before == after, actual, "0 rows changed, schema unchanged"
    end)
end

-- COPY snapshot of the 9 tables, taken inside phase 012 just before the drop: what its
-- rollback restores. `migrun rollback` in a later process finds the newest one.
local snapshot_dir = in_here(backup_dir)
local last_snapshot

local function newest_snapshot(db)
  local lfs = require "lfs"
  local cjson = require "cjson"
  local dbname = db:query("SELECT current_database() AS d")[1].d
  local best, best_at
  if not lfs.attributes(snapshot_dir, "mode") then return nil end
  for entry in lfs.dir(snapshot_dir) do
    local f = entry:find("^migrun%-tables%-") and io.open(snapshot_dir .. "/" .. entry .. "/snapshot.json")
    if f then
      local ok, m = pcall(cjson.decode, f:read("a"))
      f:close()
      local names = {}
      for _, t in ipairs(ok and m.tables or {}) do names[t.name] = true end
      if ok and m.database == dbname and names.quests and names.notifications
         and (not best_at or m.taken_at > best_at) then
        best, best_at = snapshot_dir .. "/" .. entry, m.taken_at
      end
    end
  end
  return best
end

playbook "week1-cleanup" {
  description = "Week 1 Wednesday: fix 3 schema conflicts (011), drop 9 unused tables (012)",
  budget = "5m",                       -- success criterion: total migration time < 5 minutes
  lock_timeout = "2s",
  on_failure = "rollback",
  report = var("report", "reports/WEEK_1_WEDNESDAY_REPORT.md"),

  -- "Notify team of maintenance window", "Team sign-off", "Document completion": the team's
  -- channel hears the start, a gate waiting for an answer, and the outcome with the report.
  -- (Without SLACK_WEBHOOK in the environment the run warns once and sends nothing.)
  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure", "watch" } },

  -- without an application (--set app=none), the run says so right before the first phase
  hooks = not WITH_APP and {
    before = function(hook)
      hook.log("warning: no application (--set app=none): /health, /api/campaigns and /api/moves are not checked")
    end,
  } or nil,

  -- Step 1: pre-migration safety ("System Status Before Migration")
  preflight = {
    app_given,
    expect.tables { schema = "public", count = 52 },                     -- Check 1: expected 52
    -- Check 2: "no active transactions blocking migration", "minimal active connections".
    -- A transaction that touched these tables holds a lock the DDL would queue behind (and
    -- everything else behind the DDL): refused here, naming the session, before the backup.
    expect.connections { state = "active", max = tonumber(var("max_active", "5")) },
    expect.no_long_transactions { max = "1m" },
    expect.idle_in_transaction { max = "1m" },
    expect.no_blocked_sessions(),
    expect.foreign_keys { count = 38 },
    expect.policies { count = 16 },
    expect.exists(UNUSED),                                               -- unused tables: 9
    -- schema conflicts: 3 (each still in its conflicting shape)
    Q("3 schema conflicts present", expect.query([[
      SELECT (NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
                            AND table_name = 'agent_recommendations' AND column_name = 'outcome_status'))::int
           + (NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
                            AND table_name = 'agent_trust_scores' AND column_name = 'workspace_id'))::int
           + (EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
                        AND table_name = 'competitors' AND column_name = 'org_id'))::int]], 3)),
    -- 011 derives workspace_id from the agent and adds foreign keys on these columns: a row
    -- pointing nowhere would make it fail halfway, so refuse to start instead
    expect.no_orphans "agent_recommendations.agent_id -> agents.id",
    expect.no_orphans "agent_trust_scores.agent_id -> agents.id",
    expect.no_orphans "competitors.org_id -> workspaces.id",
    expect.no_orphans "competitors.created_by -> users.id",
  },

  -- Step 1, check 3: the backup (pg_dump -Fc, checksummed, read back by pg_restore)
  backup = backup.dump { dir = backup_dir },

  -- "No data loss (0 rows deleted from needed tables)": the core tables keep every row
  protect = { "workspaces", "users", "workspace_members", "agents", "campaigns", "moves",
              "prompts", "jtbd_library", "personas" },

  gate "go/no-go" {
    "Staging tests all passed?",
    "Backup procedures verified?",
    "Rollback plan documented?",
    "Application ready for migration?",
    "Team sign-off obtained?",
    "Monitoring tools configured?",
  },

  -- Step 2 (08:30): Migration 011, expect ~234 ms, 0 errors
  phase "011 fix migration conflicts" {
    m011,
    budget = "400ms",
    verify = {
      -- "Verification Immediately After"
      Q("agent_recommendations has workspace_id, outcome_status, outcome_quality_score", expect.query([[
        SELECT count(*) AS column_count FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'agent_recommendations'
          AND column_name IN ('workspace_id', 'outcome_status', 'outcome_quality_score')]], 3)),
      all_filled("agent_trust_scores workspace_id 100% backfilled (filled = total)", "agent_trust_scores",
                 "workspace_id"),
      expect.delta("agent_recommendations", 0),
      expect.delta("agent_trust_scores", 0),
      expect.delta("competitors", 0),
      expect.columns("competitors", { "workspace_id" }),
      expect.foreign_keys { count = 44 },          -- 38 + 6 (012 then drops the quests' 2)
      expect.policies { count = 19 },              -- 16 + 3 (012 then drops notifications_own)
      core_rows_kept(),
    },
    rollback = sql "../sql/week1_cleanup/011_rollback.sql",
  },

  -- Step 3 (09:00): Migration 012, expect ~156 ms, 9 tables dropped
  phase "012 remove unused features" {
    step "snapshot the 9 tables" (function(db, run)
      local backup_lib = require "migrun.backup"
      local snap = backup_lib.tables(db, UNUSED, { dir = snapshot_dir })
      last_snapshot = snap.dir
      local rows = 0
      for _, t in ipairs(snap.tables) do rows = rows + t.rows end
      run.log(string.format("%d rows of the 9 tables saved in %s (the rollback restores them)", rows, snap.dir))
      return rows
    end),
    m012,
    budget = "400ms",
    verify = {
      Q("remaining_tables = 43", expect.tables { schema = "public", count = 43 }),
      Q("removed_table_count = 0", expect.query([[
        SELECT count(*) AS removed_table_count FROM information_schema.tables
        WHERE table_schema = 'public' AND table_name IN (]] .. UNUSED_SQL .. ")", 0)),
      core_rows_kept(),
    },
    -- the runbook's option 3, "re-create removed tables", with their rows: the same
    -- definitions, then the rows from the snapshot, then the sequences past the restored ids
    rollback = step "re-create the 9 tables and restore their rows" (function(db, run)
      local backup_lib = require "migrun.backup"
      local dir = last_snapshot or newest_snapshot(db)
      if not dir then
        error("no COPY snapshot of the 9 tables in " .. snapshot_dir .. ": restore the run's pg_dump instead", 0)
      end
      db:script(rollback012.text, { name = rollback012.file })
      local r = backup_lib.restore_tables(db, dir)
      for _, t in ipairs(UNUSED) do
        local seq = db:query([[SELECT pg_get_serial_sequence(attrelid::regclass::text, 'id') AS s
                               FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'id']],
                             "public." .. t)[1]
        seq = seq and seq.s
        if seq then
          db:query(string.format("SELECT setval($1, coalesce(max(id), 1), max(id) IS NOT NULL) FROM public.%s", t),
                   seq)
        end
      end
      run.log(string.format("re-created the 9 tables, restored %d rows from %s", r.rows, dir))
      return r.rows
    end),
  },

  -- Step 4 (09:30): the complete verification suite, WEEK_1_VERIFICATION_QUERIES.sql,
  -- 12 queries in 5 sets; OVERALL: 12/12 PASS. Then Step 5's endpoint checks.
  verify = with_app({
    -- Query Set 1: schema conflicts fixed (4/4)
    Q("Q1.1 agent_recommendations column_count = 3", expect.query([[
      SELECT count(*) FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'agent_recommendations'
        AND column_name IN ('workspace_id', 'outcome_status', 'outcome_quality_score')]], 3)),
    all_filled("Q1.2 agent_trust_scores filled_count = total", "agent_trust_scores", "workspace_id"),
    Q("Q1.3 competitors has workspace_id, no org_id", expect.query([[
      SELECT column_name::text FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'competitors'
        AND column_name IN ('workspace_id', 'org_id')]], { "workspace_id" })),
    Q("Q1.4 no NULL workspace_id in the 3 fixed tables", expect.query([[
      SELECT (SELECT count(*) FROM agent_recommendations WHERE workspace_id IS NULL)
           + (SELECT count(*) FROM agent_trust_scores WHERE workspace_id IS NULL)
           + (SELECT count(*) FROM competitors WHERE workspace_id IS NULL)]], 0)),
    -- Query Set 2: unused tables removed (1/1)
    Q("Q2.1 removed_table_count = 0", expect.query([[
      SELECT count(*) FROM information_schema.tables
      WHERE table_schema = 'public' AND table_name IN (]] .. UNUSED_SQL .. ")", 0)),
    -- Query Set 3: core tables intact (3/3): every row as it was at run start, whatever
    -- the count (the fixture has 20, 80 and 12; production has what it has)
    expect.unchanged("campaigns"):as("Q3.1 campaigns intact"),
    expect.unchanged("moves"):as("Q3.2 moves intact"),
    expect.unchanged("agents"):as("Q3.3 agents intact"),
    -- Query Set 4: foreign key integrity (2/2)
    Q("Q4.1 foreign keys = 42 (all intact)", expect.foreign_keys { count = 42 }),
    Q("Q4.2 0 orphaned records", expect.query([[
      SELECT (SELECT count(*) FROM agent_recommendations r
              WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = r.agent_id))
           + (SELECT count(*) FROM agent_trust_scores s
              WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = s.agent_id))
           + (SELECT count(*) FROM competitors c
              WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = c.workspace_id))
           + (SELECT count(*) FROM moves m
              WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = m.campaign_id))]], 0)),
    -- Query Set 5: RLS policies active (2/2)
    Q("Q5.1 RLS policies = 18 (all active)", expect.policies { count = 18 }),
    Q("Q5.2 RLS enabled on the 3 fixed tables", expect.query([[
      SELECT count(*) FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relrowsecurity
        AND relname IN ('agent_recommendations', 'agent_trust_scores', 'competitors')]], 3)),

    -- success criteria beyond the 12 queries
    expect.tables { schema = "public", count = 43 },                    -- 52 - 9 = 43
    expect.delta("agent_recommendations", 0),                           -- no data loss
    expect.delta("agent_trust_scores", 0),
    expect.delta("competitors", 0),
    idempotent(m011),
    idempotent(m012),
    expect.that("011 + 012 execution time < 500 ms total", function(db)
      local ms = db:query([[
        SELECT coalesce(sum(duration_ms), 0)::float8 AS ms FROM migrun.steps
        WHERE kind = 'phase' AND status = 'applied'
          AND run_id = (SELECT max(id) FROM migrun.runs WHERE playbook = $1 AND status = 'running')]],
        "week1-cleanup")[1].ms
      return ms < 500, string.format("%.0f ms", ms), "< 500 ms"
    end),
  }, endpoints),

  -- 10:00-12:00, the monitoring phase: what the database shows of the application for two
  -- hours after the release, compared with before the first phase. "Check for slow queries":
  -- a query called at least 100 times, both before and in the window, whose mean time grew by
  -- half; "alert on any anomalies": a deadlock; "all critical endpoints responding": /health,
  -- every tick. Connections are sampled and charted in the report ("should be normal, not
  -- spiking": the runbook gives no number to hold them to). A breach rolls the migration
  -- back (the runbook's rollback procedure: "if anything goes wrong"), then the team is told.
  watch "monitoring (10:00-12:00)" (with_app({
    duration = var("watch_for", "2h"),
    every = var("watch_every", "15s"),
    slower = { queries = "50%", min_calls = 100 },
    deadlocks = 0,
    on_breach = "rollback",
  }, function() return { expect.http { url = APP .. "/health", status = 200, within = "5s" } } end)),
}
