-- The WARP production migration: the knowledge base becomes workspace-scoped. Replaces
-- execute-production-migration.sh and warp-production-migration-runbook.md:
--   1 backup (pg_dump, checksummed, read back)        4 seed the 9 default sections per workspace
--   2 structural: workspace_id, kb_sections, RLS       5 import legacy ICP/product/competitor/persona
--   3 backfill workspace ids from user associations    6 smoke tests (8 categories), RLS as 2 roles
--
--   migrun playbooks/kb_workspace.lua --db "$PROD_DB_URL" --set backup_dir=/srv/backups
--   migrun --sandbox --load sql/kb_workspace/before.sql playbooks/kb_workspace.lua --yes
--
-- Fixture numbers (sql/kb_workspace/before.sql): 46 entries -> 34 assigned (ws-a 16, ws-b 10,
-- ws-c 8), 8 shared, 4 orphans; 27 sections; 26 legacy entries imported; 72 entries after.
-- Rollback plan: each phase has its rollback (on_failure = "rollback", the default); the
-- package's "immediate rollback" (restore the backup) is `--set on_failure=restore`; its
-- partial rollback is `SELECT rollback_legacy_import('legacy_icp_data')` (or all sources).
-- Not here: the manual verification and the post-migration checklist (24 h of application
-- logs, team notified, docs updated) stay with the team; this run's report is their input.

local backup_dir = var("backup_dir", "backups")

local SQL = "../sql/kb_workspace/"
local m03 = sql(SQL .. "03_backfill_workspace_ids.sql")
local m04 = sql(SQL .. "04_seed_kb_sections.sql")
local m05 = sql(SQL .. "05_import_legacy_data.sql")

local SECTIONS = { "icp", "products", "competitors", "personas", "value-props", "use-cases",
                   "objections", "resources", "general" }
local LEGACY = { legacy_icp_data = 5, legacy_products = 8, legacy_competitors = 6, legacy_personas = 7 }

-- The workspace distribution of the entries: a row for orphaned and one for shared content
-- (no workspace), then one per workspace slug.
local DISTRIBUTION = [[
  SELECT coalesce(w.slug, CASE WHEN e.is_shared THEN '(shared)' ELSE '(orphaned)' END) AS ws,
         count(*)::int AS entries
  FROM knowledge_base_entries e LEFT JOIN workspaces w ON w.id = e.workspace_id
  GROUP BY 1 ORDER BY 1]]

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
    local expected = string.format("%s: %d own + %d shared entries, 0 other; sections %d own, 0 other; " ..
      "insert into own workspace ok, into %s refused (42501)", me.slug, truth.own, truth.shared,
      truth.sections, other.slug)
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
      return string.format("%s: %d own + %d shared entries, %d other; sections %d own, %d other; " ..
        "insert into own workspace %s, into %s %s", me.slug, seen.own, seen.shared, seen.other, secs.own,
        secs.other, own_ok and "ok" or "refused", other.slug, refused)
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

local legacy_rows = {}
for source, n in pairs(LEGACY) do legacy_rows[#legacy_rows + 1] = { source, n } end
table.sort(legacy_rows, function(a, b) return a[1] < b[1] end)

local IMPORTED = [[
  SELECT metadata ->> 'import_source' AS source, count(*)::int AS entries
  FROM knowledge_base_entries WHERE metadata ? 'import_source' GROUP BY 1 ORDER BY 1]]

-- the partial rollback works: inside the check's savepoint (rolled back afterwards), one
-- source, then the rest
local rollback_function_works = expect.that(
  "rollback_legacy_import('legacy_icp_data') removes 5, rollback_legacy_import() the other 21",
  function(db)
    local one = db:query("SELECT rollback_legacy_import('legacy_icp_data') AS n")[1].n
    local rest = db:query("SELECT rollback_legacy_import() AS n")[1].n
    local left = db:query("SELECT count(*) AS n FROM knowledge_base_entries WHERE metadata ? 'import_source'")[1].n
    return one == 5 and rest == 21 and left == 0,
           string.format("%d, then %d, %d left", one, rest, left), "5, then 21, 0 left"
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
  preflight = {
    expect.tables { schema = "public", count = 8 },
    expect.count("knowledge_base_entries", 46),
    expect.count("workspaces", 3),
    expect.absent "kb_sections",
    expect.policies { count = 1 },
    expect.foreign_keys { count = 2 },
    named("8 shared/global entries (system content or marked shared)", expect.query([[
      SELECT count(*) FROM knowledge_base_entries WHERE created_by IS NULL OR is_shared]], 8)),
    named("4 orphan entries (creator deleted or in no workspace)", expect.query([[
      SELECT count(*) FROM knowledge_base_entries e
      WHERE e.created_by IS NOT NULL AND NOT e.is_shared
        AND NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.user_id = e.created_by)]], 4)),
    expect.count("legacy_icp_data", 5), expect.count("legacy_products", 8),
    expect.count("legacy_competitors", 6), expect.count("legacy_personas", 7),
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
      expect.policies { count = 5 },                 -- 4 on entries + 1 on sections
      named("the old read-everything policy is gone", expect.query(
        "SELECT count(*) FROM pg_policy WHERE polname = 'kb_entries_authenticated_read'", 0)),
      expect.foreign_keys { count = 5 },             -- 2 + entries.workspace_id, .section_id, sections.workspace_id
      expect.count("knowledge_base_entries", 46, "workspace_id IS NULL"),   -- not backfilled yet
    },
    rollback = sql(SQL .. "02_rollback.sql"),
  },

  -- Step 3: backfill workspace ids (estimate 5-10 min)
  phase "03 backfill workspace ids" {
    m03,
    budget = { "10m", warn = true },
    verify = {
      named("entries per workspace: orphaned 4, shared 8, ws-a 16, ws-b 10, ws-c 8", expect.query(DISTRIBUTION,
        { { "(orphaned)", 4 }, { "(shared)", 8 }, { "ws-a", 16 }, { "ws-b", 10 }, { "ws-c", 8 } })),
      named("shared content keeps workspace_id NULL (8)", expect.query([[
        SELECT count(*) FROM knowledge_base_entries WHERE workspace_id IS NULL AND is_shared]], 8)),
      named("orphans flagged: 2 creator has no workspace, 2 creator no longer exists", expect.query([[
        SELECT metadata ->> 'orphan_reason' AS reason, count(*)::int FROM knowledge_base_entries
        WHERE metadata ? 'orphaned' GROUP BY 1 ORDER BY 1]],
        { { "creator has no workspace", 2 }, { "creator no longer exists", 2 } })),
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
      expect.count("kb_sections", 27),                                    -- 3 workspaces x 9
      named("every workspace has exactly 9 sections", expect.query([[
        SELECT count(*) FROM workspaces w
        WHERE (SELECT count(*) FROM kb_sections s WHERE s.workspace_id = w.id) <> 9]], 0)),
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
      expect.delta("knowledge_base_entries", 26),                         -- 5 + 8 + 6 + 7
      named("imported per source: competitors 6, icp 5, personas 7, products 8", expect.query(IMPORTED, legacy_rows)),
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
    smoke(2, expect.count("knowledge_base_entries", 72)),                 -- 46 + 26 imported
    smoke(2, expect.no_orphans "knowledge_base_entries.workspace_id -> workspaces.id"),
    smoke(2, expect.no_orphans "knowledge_base_entries.section_id -> kb_sections.id"),
    smoke(2, expect.query([[SELECT count(*) FROM knowledge_base_entries e JOIN kb_sections s ON s.id = e.section_id
                            WHERE s.workspace_id <> e.workspace_id]], 0), "every entry's section is in its workspace"),
    smoke(2, expect.count("knowledge_base_entries", 0, "workspace_id IS NOT NULL AND section_id IS NULL"),
          "every workspace entry is filed under a section"),
    -- 3 RLS policies
    smoke(3, expect.rls "knowledge_base_entries"),
    smoke(3, expect.rls "kb_sections"),
    smoke(3, expect.policies { count = 5 }),
    smoke(3, expect.policies { table = "knowledge_base_entries", count = 4 }),
    roles_are_plain "[3 RLS] ",
    isolation(1, "[3 RLS] "),
    isolation(2, "[3 RLS] "),
    -- 4 workspace distribution
    smoke(4, expect.query(DISTRIBUTION, { { "(orphaned)", 4 }, { "(shared)", 8 },
                                          { "ws-a", 26 }, { "ws-b", 19 }, { "ws-c", 15 } }),
          "entries per workspace: orphaned 4, shared 8, ws-a 26, ws-b 19, ws-c 15"),
    -- 5 foreign key constraints
    smoke(5, expect.foreign_keys { count = 5 }),
    smoke(5, expect.foreign_keys { table = "knowledge_base_entries", count = 2 }),
    smoke(5, expect.foreign_keys { table = "kb_sections", count = 1 }),
    -- 6 sections
    smoke(6, expect.count("kb_sections", 27)),
    smoke(6, expect.query("SELECT slug FROM kb_sections WHERE workspace_id = (SELECT id FROM workspaces " ..
                          "ORDER BY slug LIMIT 1) ORDER BY position", SECTIONS), "the 9 default sections, in order"),
    -- 7 legacy import
    smoke(7, expect.query(IMPORTED, legacy_rows), "imported per source: competitors 6, icp 5, personas 7, products 8"),
    smoke(7, expect.function_exists "rollback_legacy_import"),
    -- 8 performance
    smoke(8, expect.index("knowledge_base_entries", { "workspace_id" })),
    smoke(8, expect.index("knowledge_base_entries", { "workspace_id", "section_id", "created_at" })),
    listing_speed,
  },
}
