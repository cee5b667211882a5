-- The WARP production migration: the knowledge base becomes workspace-scoped. Replaces
-- execute-production-migration.sh and warp-production-migration-runbook.md:
--   1 backup (pg_dump, checksummed, read back)        4 seed the 9 default sections per workspace
--   2 structural: workspace_id, kb_sections, RLS       5 import legacy ICP/product/competitor/persona
--   3 backfill workspace ids from user associations    6 smoke tests (8 categories), RLS as 2 roles
-- then the package's "Maintenance" advice as a watch window: slow queries and the RLS
-- policies under production load, compared with before the migration.
--
--   SLACK_WEBHOOK=https://hooks.slack.com/... \
--   migrun playbooks/kb_workspace.lua --db "$PROD_DB_URL" --set backup_dir=/srv/backups
--   migrun --sandbox --load sql/kb_workspace/before.sql playbooks/kb_workspace.lua --yes \
--          --set watch_for=10s --set watch_every=2s
--
-- Every check holds on the data it finds, not only on the fixture's (46 entries -> 34
-- assigned, 8 shared, 4 orphans; 27 sections; 26 legacy entries imported): each entry is
-- where 03's rules put it, every workspace has its 9 sections, the import brought every
-- legacy row and grew the KB by exactly that many, and RLS is tried as two real roles.
-- Rollback plan: each phase has its rollback (on_failure = "rollback", the default); the
-- package's "immediate rollback" (restore the backup) is `--set on_failure=restore`; its
-- partial rollback is `SELECT rollback_legacy_import('legacy_icp_data')` (or all sources).
-- The team: "team notification sent about maintenance window" and "team notified of
-- completion" go to the Slack webhook in SLACK_WEBHOOK (start, gates, the outcome, the
-- watch); without it the run warns once and sends nothing.
-- Variables: backup_dir, on_failure, report, watch_for (24h: "application logs monitored for
-- 24 hours", the database's side of it), watch_every (15s).
--
-- Still with people, and why: the package names no application endpoint and no maintenance
-- switch, so nothing here calls the application (the 30-minute maintenance window is a gate
-- question); "users can see only their workspace's KB entries" and "all sections are visible
-- and functional" are checked in the database as two real roles, but the screens themselves
-- are a person's manual verification; the application logs (errors, 24 hours) are the
-- application's hosts', outside a database client's reach; "documentation updated" and
-- "migration marked complete in project management tool" are the team's (this run's report
-- is their input).

local backup_dir = var("backup_dir", "backups")

local SQL = "../sql/kb_workspace/"
local m03 = sql(SQL .. "03_backfill_workspace_ids.sql")
local m04 = sql(SQL .. "04_seed_kb_sections.sql")
local m05 = sql(SQL .. "05_import_legacy_data.sql")

local SECTIONS = { "icp", "products", "competitors", "personas", "value-props", "use-cases",
                   "objections", "resources", "general" }
-- the legacy tables 05 imports, and what they hold (entries per source, as the import must
-- bring them: one per legacy row)
local LEGACY = { "legacy_competitors", "legacy_icp_data", "legacy_personas", "legacy_products" }
local LEGACY_ROWS = {}
for i, t in ipairs(LEGACY) do
  LEGACY_ROWS[i] = string.format("SELECT '%s' AS source, count(*)::int AS entries FROM %s", t, t)
end
LEGACY_ROWS = table.concat(LEGACY_ROWS, " UNION ALL ") .. " ORDER BY 1"
-- ... and what the import brought, per source
local IMPORTED = [[
  SELECT metadata ->> 'import_source' AS source, count(*)::int AS entries
  FROM knowledge_base_entries WHERE metadata ? 'import_source' GROUP BY 1 ORDER BY 1]]

-- The workspace distribution of the entries: a row for orphaned and one for shared content
-- (no workspace), then one per workspace slug.
local DISTRIBUTION = [[
  SELECT coalesce(w.slug, CASE WHEN e.is_shared THEN '(shared)' ELSE '(orphaned)' END) AS ws,
         count(*)::int AS entries
  FROM knowledge_base_entries e LEFT JOIN workspaces w ON w.id = e.workspace_id
  GROUP BY 1 ORDER BY 1]]

-- 03's rules, entry by entry: shared and system content keeps no workspace (and is marked
-- shared), user content goes to its creator's first workspace (earliest membership), the rest
-- are orphans, flagged with why. Imported entries (05) have their legacy row's workspace.
local PLACEMENT = [[
  WITH home AS (SELECT DISTINCT ON (user_id) user_id, workspace_id FROM workspace_members
                ORDER BY user_id, joined_at, workspace_id)
  SELECT count(*) FILTER (WHERE e.workspace_id IS NOT NULL) AS assigned,
         count(*) FILTER (WHERE e.workspace_id IS NULL AND e.is_shared) AS shared,
         count(*) FILTER (WHERE e.metadata ? 'orphaned') AS orphans,
         count(*) FILTER (WHERE NOT coalesce(CASE
           WHEN e.metadata ? 'import_source' THEN e.workspace_id IS NOT NULL
           WHEN e.is_shared OR e.created_by IS NULL THEN e.workspace_id IS NULL AND e.is_shared
           WHEN h.workspace_id IS NOT NULL THEN e.workspace_id = h.workspace_id
           ELSE e.workspace_id IS NULL AND e.metadata ->> 'orphan_reason' =
                  CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = e.created_by)
                       THEN 'creator has no workspace' ELSE 'creator no longer exists' END
           END, false)) AS misplaced
  FROM knowledge_base_entries e LEFT JOIN home h ON h.user_id = e.created_by]]

local function placed(label)
  return expect.that(label, function(db)
    local r = db:query(PLACEMENT)[1]
    local dist = db:query(DISTRIBUTION)
    local parts = {}
    for _, d in ipairs(dist) do parts[#parts + 1] = string.format("%s %d", d.ws, d.entries) end
    return r.misplaced == 0, string.format("%d misplaced (%s)", r.misplaced, table.concat(parts, ", ")),
           "0 misplaced"
  end, { tables = { "knowledge_base_entries" } })
end

-- "every workspace has its 9 sections", whatever the number of workspaces
local function nine_each(label)
  return expect.that(label, function(db)
    local r = db:query([[SELECT (SELECT count(*) FROM workspaces) AS workspaces,
                                (SELECT count(*) FROM kb_sections) AS sections,
                                (SELECT count(*) FROM workspaces w WHERE (SELECT count(*) FROM kb_sections s
                                   WHERE s.workspace_id = w.id) <> 9) AS wrong]])[1]
    return r.wrong == 0, string.format("%d sections for %d workspaces, %d without exactly 9", r.sections,
                                       r.workspaces, r.wrong),
           string.format("%d sections for %d workspaces, 0 without exactly 9", 9 * r.workspaces, r.workspaces)
  end, { tables = { "kb_sections" } })
end

-- the import brought each legacy row once, per source, and the KB grew by exactly that many
-- since the run started
local function imported_all(label)
  return expect.that(label, function(db, ctx)
    local function text(res)
      local parts = {}
      for _, r in ipairs(res) do parts[#parts + 1] = string.format("%s %d", r.source, r.entries) end
      return table.concat(parts, ", ")
    end
    local got, want = text(db:query(IMPORTED)), text(db:query(LEGACY_ROWS))
    local legacy = db:query("SELECT sum(entries)::int AS n FROM (" .. LEGACY_ROWS .. ") AS l")[1].n or 0
    local now = db:query("SELECT count(*) AS n FROM knowledge_base_entries")[1].n
    local grew = now - (ctx.before and ctx.before:count("knowledge_base_entries") or 0)
    return got == want and grew == legacy, string.format("%s; the KB grew by %d", got, grew),
           string.format("%s; the KB grew by %d", want, legacy)
  end, { tables = { "knowledge_base_entries" } })
end

-- "a second run changes nothing": run the file again inside the check's savepoint (rolled
-- back afterwards) and compare the row count and content fingerprint of the KB tables
local function idempotent(step)
  local snapshot = require "migrun.snapshot"
  local tables = { "knowledge_base_entries", "kb_sections" }
  local function state(db)
    local parts = {}
    for _, t in ipairs(tables) do
      local n, fp = snapshot.fingerprint(db, t)
      parts[#parts + 1] = string.format("%s %s rows %s", t, tostring(n), tostring(fp))
    end
    return table.concat(parts, ", ")
  end
  return expect.that(step.file:match("[^/]+$") .. " is idempotent: a second run changes no KB row",
    function(db)
      local before = state(db)
      db:script(step.text, { name = step.file })
      local after = state(db)
      return before == after, before == after and "no row changed" or "rows changed", "no row changed"
    end)
end

-- an expectation under a readable name in the report (instead of its SQL)
local function named(label, e)
  return expect.that(label, function(_, ctx) return e:check(ctx) end, { tables = e:tables() })
end

-- a number of this database, shown in the report: what the later checks are relative to
local function recorded(label, query)
  return expect.that(label, function(db)
    local r = db:query(query)
    local v = r[1] and r[1][r.columns[1]]
    return v ~= nil, tostring(v or 0), "recorded"
  end)
end

---------------------------------------------------------------------------------------------
-- RLS, for real: SET ROLE to a plain login role and set the request's user, as PostgREST
-- does, inside a savepoint that is rolled back (role, setting and test rows go with it).

local ROLES = { "kb_smoke_alpha", "kb_smoke_beta" }

local function as_role(db, role, user_id, fn)
  local tx <close> = db:begin()
  db:exec("SET LOCAL ROLE " .. db:quote_ident(role))
  db:query("SELECT set_config('request.jwt.claim.sub', $1, true)", user_id)
  local res = table.pack(pcall(fn))
  tx:rollback()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- run one statement in a savepoint that is always rolled back: ok, or false and the error
local function try(db, statement, ...)
  local sp = db:begin()
  local ok, err = pcall(db.exec, db, statement, ...)
  sp:rollback()
  return ok, err
end

-- two test users: each a member of exactly one workspace, in two different workspaces
-- (earliest members first); in the fixture, Alice (ws-a) and Bob (ws-b)
local function test_users(db)
  return db:query([[
    WITH single AS (
      SELECT user_id, min(workspace_id::text) AS ws, min(joined_at) AS joined_at
      FROM workspace_members GROUP BY user_id HAVING count(*) = 1),
    first AS (SELECT * FROM single ORDER BY joined_at, user_id LIMIT 1),
    second AS (SELECT s.* FROM single s, first f WHERE s.ws <> f.ws
               ORDER BY s.joined_at, s.user_id LIMIT 1)
    SELECT 1 AS n, f.user_id::text AS user_id, f.ws, w.slug FROM first f JOIN workspaces w ON w.id::text = f.ws
    UNION ALL
    SELECT 2, s.user_id::text, s.ws, w.slug FROM second s JOIN workspaces w ON w.id::text = s.ws
    ORDER BY n]])
end

-- what one role, reading as one user, sees and may write; the same summary computed as the
-- owner (RLS bypassed) is the expected value
local function isolation(i, prefix)
  local role = ROLES[i]
  return expect.that(string.format("%sRLS: %s sees only its own workspace's entries", prefix or "", role), function(db)
    local users = test_users(db)
    if users.n < 2 then return false, "fewer than 2 single-workspace users", "2 test users" end
    local me, other = users[i], users[3 - i]
    local truth = db:query([[
      SELECT count(*) FILTER (WHERE workspace_id = $1::uuid) AS own,
             count(*) FILTER (WHERE workspace_id IS NULL AND is_shared) AS shared,
             (SELECT count(*) FROM kb_sections WHERE workspace_id = $1::uuid) AS sections
      FROM knowledge_base_entries]], me.ws)[1]
    -- "new KB entries can be created and edited": an entry of each workspace to edit
    local ids = db:query([[
      SELECT (SELECT min(id) FROM knowledge_base_entries WHERE workspace_id = $1::uuid) AS mine,
             (SELECT min(id) FROM knowledge_base_entries WHERE workspace_id = $2::uuid) AS theirs]],
      me.ws, other.ws)[1]
    local expected = string.format("%s: %d own + %d shared entries, 0 other; sections %d own, 0 other; " ..
      "insert into own workspace ok, into %s refused (42501); edit own entry: %d row(s), %s's: 0 row(s)", me.slug,
      truth.own, truth.shared, truth.sections, other.slug, ids.mine and 1 or 0, other.slug)
    local actual = as_role(db, role, me.user_id, function()
      local seen = db:query([[
        SELECT count(*) FILTER (WHERE workspace_id = $1::uuid) AS own,
               count(*) FILTER (WHERE workspace_id IS NULL AND is_shared) AS shared,
               count(*) FILTER (WHERE workspace_id IS DISTINCT FROM $1::uuid
                                  AND NOT (workspace_id IS NULL AND is_shared)) AS other
        FROM knowledge_base_entries]], me.ws)[1]
      local secs = db:query([[
        SELECT count(*) FILTER (WHERE workspace_id = $1::uuid) AS own,
               count(*) FILTER (WHERE workspace_id <> $1::uuid) AS other FROM kb_sections]], me.ws)[1]
      local insert = [[INSERT INTO knowledge_base_entries (title, content, workspace_id)
                       VALUES ('rls smoke test', 'rolled back', $1::uuid)]]
      local own_ok = try(db, insert, me.ws)
      local refused = "accepted"
      local ok, err = try(db, insert, other.ws)
      if not ok then refused = "refused (" .. tostring(type(err) == "table" and err.sqlstate or err) .. ")" end
      local edit = "UPDATE knowledge_base_entries SET title = title || '' WHERE id = $1"
      local _, mine = try(db, edit, ids.mine or -1)
      local _, theirs = try(db, edit, ids.theirs or -1)
      return string.format("%s: %d own + %d shared entries, %d other; sections %d own, %d other; " ..
        "insert into own workspace %s, into %s %s; edit own entry: %s row(s), %s's: %s row(s)", me.slug, seen.own,
        seen.shared, seen.other, secs.own, secs.other, own_ok and "ok" or "refused", other.slug, refused,
        tostring(mine), other.slug, tostring(theirs))
    end)
    return actual == expected, actual, expected
  end)
end

local function roles_are_plain(prefix)
  return expect.that((prefix or "") .. "the 2 smoke-test roles exist, can log in, and are subject to RLS",
    function(db)
      local n = db:query([[SELECT count(*) AS n FROM pg_roles WHERE rolname = ANY ($1::text[])
                           AND rolcanlogin AND NOT rolsuper AND NOT rolbypassrls]],
                         "{" .. table.concat(ROLES, ",") .. "}")[1].n
      return n == 2, n .. " such roles", "2 such roles"
    end)
end

---------------------------------------------------------------------------------------------
-- the 8 smoke-test categories of 06_smoke_tests.sql, as labels in the report

local CATEGORY = { "1 structure", "2 integrity", "3 RLS", "4 distribution", "5 foreign keys",
                   "6 sections", "7 legacy import", "8 performance" }

local function smoke(n, e, label)
  return named(string.format("[%s] %s", CATEGORY[n], label or e:describe()), e)
end

-- the partial rollback works: inside the check's savepoint (rolled back afterwards), one
-- source, then the rest
local rollback_function_works = expect.that(
  "rollback_legacy_import('legacy_icp_data') removes the ICP entries, rollback_legacy_import() the rest",
  function(db)
    local icp = db:query("SELECT count(*) AS n FROM knowledge_base_entries WHERE metadata ->> 'import_source' = " ..
                         "'legacy_icp_data'")[1].n
    local all = db:query("SELECT count(*) AS n FROM knowledge_base_entries WHERE metadata ? 'import_source'")[1].n
    local one = db:query("SELECT rollback_legacy_import('legacy_icp_data') AS n")[1].n
    local rest = db:query("SELECT rollback_legacy_import() AS n")[1].n
    local left = db:query("SELECT count(*) AS n FROM knowledge_base_entries WHERE metadata ? 'import_source'")[1].n
    return one == icp and rest == all - icp and left == 0,
           string.format("%d, then %d, %d left", one, rest, left),
           string.format("%d, then %d, 0 left", icp, all - icp)
  end)

-- a KB listing as the app runs it (one workspace, newest first), as a smoke-test role
local listing_speed = expect.that("[8 performance] KB listing as kb_smoke_alpha runs under 100 ms", function(db)
  local u = test_users(db)[1]
  if not u then return false, "no test user", "< 100 ms" end
  local plan = as_role(db, ROLES[1], u.user_id, function()
    return db:query([[EXPLAIN (ANALYZE, FORMAT JSON)
      SELECT id, title FROM knowledge_base_entries WHERE workspace_id = $1::uuid
      ORDER BY created_at DESC LIMIT 50]], u.ws)[1]["QUERY PLAN"]
  end)
  local ms = tonumber(plan:match('"Execution Time":%s*([%d%.]+)'))
  return ms ~= nil and ms < 100, string.format("%.2f ms", ms or -1), "< 100 ms"
end)

---------------------------------------------------------------------------------------------

playbook "kb-workspace" {
  description = "Workspace-scoped knowledge base: backfill, 9 sections per workspace, legacy import, RLS",
  budget = { "60m", warn = true },                 -- "Total: ~30-60 minutes"
  lock_timeout = "2s",
  on_failure = var("on_failure", "rollback"),
  report = var("report", "reports/kb_workspace_migration.md"),

  -- before anything: the state the scripts were written for, and the pre-verification
  -- queries of 03 (46 entries: 8 shared, 4 orphans, 34 with a workspace to find)
  -- 03's pre-verification queries, recorded in the report (the numbers are this database's)
  preflight = {
    expect.exists { "workspaces", "users", "workspace_members", "knowledge_base_entries" },
    expect.absent "kb_sections",
    named("the read-everything policy is still the KB's only one", expect.query([[
      SELECT string_agg(polname, ', ') FROM pg_policy WHERE polrelid = 'knowledge_base_entries'::regclass]],
      "kb_entries_authenticated_read")),
    recorded("entries (recorded)", "SELECT count(*) FROM knowledge_base_entries"),
    recorded("shared/global entries: system content or marked shared (recorded)", [[
      SELECT count(*) FROM knowledge_base_entries WHERE created_by IS NULL OR is_shared]]),
    recorded("orphan entries: creator deleted or in no workspace (recorded)", [[
      SELECT count(*) FROM knowledge_base_entries e
      WHERE e.created_by IS NOT NULL AND NOT e.is_shared
        AND NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.user_id = e.created_by)]]),
    recorded("legacy rows to import (recorded)", "SELECT sum(entries)::int FROM (" .. LEGACY_ROWS .. ") AS l"),
    -- the import takes each legacy row's workspace: one pointing nowhere would fail it
    expect.no_orphans "legacy_icp_data.workspace_id -> workspaces.id",
    expect.no_orphans "legacy_products.workspace_id -> workspaces.id",
    expect.no_orphans "legacy_competitors.workspace_id -> workspaces.id",
    expect.no_orphans "legacy_personas.workspace_id -> workspaces.id",
  },

  -- Step 1: backup (CRITICAL): "creates a full PostgreSQL dump, verifies size and integrity"
  backup = backup.dump { dir = backup_dir },

  -- nothing outside the KB may change; the legacy tables are read, never written
  protect = { "workspaces", "users", "workspace_members", "legacy_icp_data", "legacy_products",
              "legacy_competitors", "legacy_personas" },

  -- "Team notification sent about maintenance window", "team notified of completion"
  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure", "watch" } },

  gate "prerequisites" {
    "Direct access to the production database, credentials at hand (never logged)?",
    "At least 30 minutes of maintenance window?",
    "Backup storage space available (backup_dir)?",
    "Team notified about the maintenance window?",
  },

  -- Step 2: structural migrations (estimate 2-5 min)
  phase "02 workspace scoping" {
    sql(SQL .. "02_workspace_scoping.sql"),
    budget = { "5m", warn = true },
    verify = {
      expect.columns("knowledge_base_entries", { "workspace_id", "section_id" }),
      expect.exists "kb_sections",
      expect.rls "knowledge_base_entries",
      expect.rls "kb_sections",
      expect.policies { table = "knowledge_base_entries", count = 4 },
      expect.policies { table = "kb_sections", count = 1 },
      named("the old read-everything policy is gone", expect.query(
        "SELECT count(*) FROM pg_policy WHERE polname = 'kb_entries_authenticated_read'", 0)),
      expect.foreign_keys { table = "knowledge_base_entries", count = 2 },   -- workspace_id, section_id
      expect.foreign_keys { table = "kb_sections", count = 1 },
      expect.count("knowledge_base_entries", 0, "workspace_id IS NOT NULL"),   -- not backfilled yet
    },
    rollback = sql(SQL .. "02_rollback.sql"),
  },

  -- Step 3: backfill workspace ids (estimate 5-10 min)
  phase "03 backfill workspace ids" {
    m03,
    budget = { "10m", warn = true },
    verify = {
      -- the post-verification: every entry where 03's rules put it (shared and system content
      -- without a workspace, user content in its creator's first workspace, orphans flagged
      -- with why), with the distribution shown
      placed("every entry in the workspace 03's rules give it"),
      -- an entry with no workspace is either shared or a flagged orphan: nothing leaks
      named("no unshared, unflagged entry without a workspace", expect.query([[
        SELECT count(*) FROM knowledge_base_entries
        WHERE workspace_id IS NULL AND NOT is_shared AND NOT (metadata ? 'orphaned')]], 0)),
      expect.delta("knowledge_base_entries", 0),
      idempotent(m03),
    },
    rollback = sql(SQL .. "03_rollback.sql"),
  },

  -- Step 4: seed the 9 sections per workspace (estimate 1-2 min)
  phase "04 seed kb sections" {
    m04,
    budget = { "2m", warn = true },
    verify = {
      nine_each("every workspace has exactly 9 sections"),
      expect.count("knowledge_base_entries", 0, "workspace_id IS NOT NULL AND section_id IS NULL"),
      expect.exists "kb_section_overview",
      idempotent(m04),
    },
    rollback = sql(SQL .. "04_rollback.sql"),
  },

  gate "legacy import" {
    "The import template in 05_import_legacy_data.sql matches this database's legacy tables?",
  },

  -- Step 5: import legacy data (optional; estimate 5-15 min)
  phase "05 import legacy data" {
    m05,
    budget = { "15m", warn = true },
    verify = {
      imported_all("imported per source = the legacy tables' rows, and nothing else added"),
      expect.count("knowledge_base_entries", 0, "metadata ? 'import_source' AND section_id IS NULL"),
      expect.function_exists "rollback_legacy_import",
      rollback_function_works,
      idempotent(m05),
    },
    rollback = sql(SQL .. "05_rollback.sql"),
  },

  -- Step 6: smoke tests. The phase only creates the 2 test roles and their grants; the
  -- tests are its verify (before COMMIT) and the final verify below.
  phase "06 smoke tests" {
    sql(SQL .. "06_smoke_test_roles.sql"),
    budget = { "3m", warn = true },
    verify = { roles_are_plain(), isolation(1), isolation(2) },
    rollback = sql(SQL .. "06_rollback.sql"),
  },

  -- 06_smoke_tests.sql: the 8 categories, on the committed result
  verify = {
    -- 1 table structure
    smoke(1, expect.columns("knowledge_base_entries", { "workspace_id", "section_id" })),
    smoke(1, expect.column_type("knowledge_base_entries", "workspace_id", "uuid")),
    smoke(1, expect.columns("kb_sections", { "workspace_id", "slug", "name", "icon", "description", "position" })),
    smoke(1, expect.exists { "kb_sections", "kb_section_overview" }),
    -- 2 data integrity
    imported_all("[2 integrity] no entry lost: the KB grew by the legacy rows imported, and only by them"),
    smoke(2, expect.no_orphans "knowledge_base_entries.workspace_id -> workspaces.id"),
    smoke(2, expect.no_orphans "knowledge_base_entries.section_id -> kb_sections.id"),
    smoke(2, expect.query([[SELECT count(*) FROM knowledge_base_entries e JOIN kb_sections s ON s.id = e.section_id
                            WHERE s.workspace_id <> e.workspace_id]], 0), "every entry's section is in its workspace"),
    smoke(2, expect.count("knowledge_base_entries", 0, "workspace_id IS NOT NULL AND section_id IS NULL"),
          "every workspace entry is filed under a section"),
    -- 3 RLS policies
    smoke(3, expect.rls "knowledge_base_entries"),
    smoke(3, expect.rls "kb_sections"),
    smoke(3, expect.policies { table = "knowledge_base_entries", count = 4 }),
    smoke(3, expect.policies { table = "kb_sections", count = 1 }),
    roles_are_plain "[3 RLS] ",
    isolation(1, "[3 RLS] "),
    isolation(2, "[3 RLS] "),
    -- 4 workspace distribution
    placed("[4 distribution] every entry in the workspace 03's rules give it"),
    -- 5 foreign key constraints
    smoke(5, expect.foreign_keys { table = "knowledge_base_entries", count = 2 }),
    smoke(5, expect.foreign_keys { table = "kb_sections", count = 1 }),
    -- 6 sections
    nine_each("[6 sections] every workspace has exactly 9 sections"),
    smoke(6, expect.query("SELECT slug FROM kb_sections WHERE workspace_id = (SELECT id FROM workspaces " ..
                          "ORDER BY slug LIMIT 1) ORDER BY position", SECTIONS), "the 9 default sections, in order"),
    -- 7 legacy import
    imported_all("[7 legacy import] imported per source = the legacy tables' rows"),
    smoke(7, expect.function_exists "rollback_legacy_import"),
    -- 8 performance
    smoke(8, expect.index("knowledge_base_entries", { "workspace_id" })),
    smoke(8, expect.index("knowledge_base_entries", { "workspace_id", "section_id", "created_at" })),
    listing_speed,
  },

  -- "Performance metrics are normal"; Maintenance: "watch for slow queries (run ANALYZE if
  -- needed)", "check RLS policy performance after production load": each query called at
  -- least 100 times, before and in the window, against its own mean time before the
  -- migration (the new policies and indexes are in every KB query's plan), and deadlocks. A
  -- breach alerts the team: the package's answer is ANALYZE and a look, not a rollback.
  watch "after the migration" {
    duration = var("watch_for", "24h"),
    every = var("watch_every", "15s"),
    slower = { queries = "50%", min_calls = 100 },
    deadlocks = 0,
    on_breach = "alert",
  },
}
