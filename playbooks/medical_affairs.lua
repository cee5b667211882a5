-- medical_affairs: the runbook "Complete Database Migration Plan" (2025-11-10, risk LOW: all
-- data protected, every migration additive) as a playbook.
--
--   strategic_priorities    0 ->     7   seed SP01-SP07, link 105 Medical Affairs JTBDs
--   tools                   0 ->   150   migrate dh_tool
--   workflows             141 ->   368   3A schema, 3B 116 from dh_workflow, 3C 111 MA workflows
--   tasks                   0 ->   343   migrate dh_task
--   jtbd_library, prompts, agents, personas: no change (protected)
--   TOTAL               4,482 -> 5,209   +727 records (the report's "Row counts" table)
--
-- Try it: migrun --sandbox --load sql/medical_affairs/before.sql playbooks/medical_affairs.lua --yes \
--               --set app=none
-- Variables: --set app=URL (the application; app=none: without one); --set health=/path (what
-- "application still functions correctly" asks, default /health); --set backup_dir=DIR
-- (default: backups/ at the repository root, beside reports/); --set library_dir=DIR (the 7 SP
-- operational library JSON files that phase 3C imports, default:
-- ../sql/medical_affairs/workflows from this file).
--
-- Absolute numbers where the plan sets a target (7 priorities, 105 JTBDs linked, 150 tools,
-- +116 and +111 workflows, 343 tasks, +727 records); relative ones where it protects: the
-- protected tables and the existing workflows are compared with themselves at the run's
-- start, whatever they hold that day (the plan's 3,570 prompts, 190 agents, 210 personas, 371
-- JTBDs and 141 workflows describe the day it was written).
--
-- The application: the plan's one application step is the success criterion "application
-- still functions correctly": GET <app>/health (--set health=/path) must answer 2xx in the
-- final verify, a failure rolls every phase back. A run without --set app is refused at
-- preflight, before anything is touched; --set app=none runs without an application and
-- says so. The plan has no maintenance window, no team notification and no monitoring
-- period (the migration is additive, "risk LOW"), so the playbook adds none; that the
-- application functions beyond its health endpoint (the new workflows in its screens) is a
-- person's look after the run.
local cjson = require "cjson"
local lfs = require "lfs"

-- this file's directory: Lua steps read the library files relative to the playbook, like sql
local HERE = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local LIBRARY = var("library_dir", HERE .. "../sql/medical_affairs/workflows")

--- the Medical Affairs operational library: one JSON file per strategic priority
-- (SPnn_*.json: {library, version, strategic_priority = {code, name}, workflows = {...}})
local function read_library(dir)
  local names = {}
  for name in lfs.dir(dir) do
    if name:match("^SP%d%d_.+%.json$") then names[#names + 1] = name end
  end
  table.sort(names)
  local docs = {}
  for _, name in ipairs(names) do
    local f = assert(io.open(dir .. "/" .. name, "rb"))
    local doc = cjson.decode(f:read("a"))
    f:close()
    doc.file = name
    docs[#docs + 1] = doc
  end
  return docs
end

-- "Keep existing records untouched" where other columns of the same table do change: a
-- phase first copies the rows it must not modify into a temp table (it lives and dies with
-- the phase's transaction), and its verify compares them row by row before COMMIT.
-- `minus` lists the columns the phase may set or add. Every row kept must be there, unchanged,
-- however many there were. (Each phase gets its own temp table name: a dry run nests every
-- phase in one transaction.)
local function keep_rows(tag, tbl, where, minus, description)
  local shape = "to_jsonb(r)"
  for _, col in ipairs(minus) do shape = shape .. " - '" .. col .. "'" end
  local temp = "kept_" .. tag
  local keep = string.format("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT r.id, %s AS row FROM %s AS r WHERE %s",
                             temp, shape, tbl, where)
  local snapshot = step("keep " .. tbl .. " rows as they are") (function(db) return db:exec(keep) end)
  local check = expect.that(description, function(db)
    local r = db:query(string.format([[
      SELECT count(*) AS kept,
             count(*) FILTER (WHERE r.id IS NULL OR %s IS DISTINCT FROM k.row) AS changed
      FROM %s AS k LEFT JOIN %s AS r ON r.id = k.id]], shape, temp, tbl))[1]
    return r.changed == 0,
           string.format("%d of %d rows changed or gone", r.changed, r.kept),
           string.format("0 of %d rows changed or gone", r.kept)
  end)
  return snapshot, check
end

local keep_jtbd, jtbd_kept = keep_rows("jtbd", "jtbd_library", "true", { "strategic_priority_id" },
  "jtbd_library: no column but strategic_priority_id changed, no row lost")
local ORIGINAL = "r.definition->>'source' IS NULL"           -- the existing workflows (141 in the plan)
local UNTOUCHED = "workflows: the existing records untouched (new columns aside)"
local NEW_COLUMNS = { "jtbd_id", "jtbd_code" }                -- what 3A adds
local keep_wf_3a, wf_kept_3a = keep_rows("wf_3a", "workflows", ORIGINAL, NEW_COLUMNS, UNTOUCHED)
local keep_wf_3b, wf_kept_3b = keep_rows("wf_3b", "workflows", ORIGINAL, NEW_COLUMNS, UNTOUCHED)
local keep_wf_3c, wf_kept_3c = keep_rows("wf_3c", "workflows", ORIGINAL, NEW_COLUMNS, UNTOUCHED)

-- Verification query 1 of the runbook, the eight tables of its "Record Counts" table
local COUNT_ALL = [[
  SELECT 'strategic_priorities' AS table_name, COUNT(*) AS count FROM strategic_priorities
  UNION ALL SELECT 'jtbd_library', COUNT(*) FROM jtbd_library
  UNION ALL SELECT 'workflows', COUNT(*) FROM workflows
  UNION ALL SELECT 'tasks', COUNT(*) FROM tasks
  UNION ALL SELECT 'tools', COUNT(*) FROM tools
  UNION ALL SELECT 'agents', COUNT(*) FROM agents
  UNION ALL SELECT 'prompts', COUNT(*) FROM prompts
  UNION ALL SELECT 'personas', COUNT(*) FROM personas]]

-- Verification query 2: JTBDs per strategic priority; expected 17, 19, 18, 14, 15, 8, 14
local JTBD_PER_SP = [[
  SELECT sp.code, sp.name, COUNT(j.id) AS jtbd_count
  FROM strategic_priorities sp
  LEFT JOIN jtbd_library j ON j.strategic_priority_id = sp.id
  GROUP BY sp.code, sp.name
  ORDER BY sp.code]]
local JTBD_PER_SP_ROWS = {
  { "SP01", "Scientific Communication & Publications", 17 },
  { "SP02", "Medical Information & Inquiry Management", 19 },
  { "SP03", "KOL & Scientific Stakeholder Engagement", 18 },
  { "SP04", "Evidence Generation & Real-World Data", 14 },
  { "SP05", "Medical Education & Field Medical Excellence", 15 },
  { "SP06", "Medical Governance & Compliance", 8 },
  { "SP07", "Digital & Data-Driven Medical Affairs", 14 },
}

-- Verification query 3: workflows by source (originals have none in their definition; they
-- are compared with themselves, row by row, in 3A-3C)
local BY_SOURCE = [[
  SELECT definition->>'source' AS source, COUNT(*) AS count
  FROM workflows
  WHERE definition ? 'source'
  GROUP BY definition->>'source'
  ORDER BY count DESC]]

-- the tables of the plan's "Record Counts" table: what the migration adds to each (its
-- "Change" column), the protected ones adding nothing
local CHANGE = { strategic_priorities = 7, jtbd_library = 0, workflows = 227, tasks = 343, tools = 150,
                 agents = 0, prompts = 0, personas = 0 }
local RECORD_TABLES = { "strategic_priorities", "jtbd_library", "workflows", "tasks", "tools", "agents", "prompts",
                        "personas" }

-- "TOTAL 4,482 -> 5,209, +727 records": the eight tables together grew by 727 since the run
-- started, whatever they held then
local total_change = expect.that("the eight tables together: +727 records", function(db, ctx)
  local before, now = 0, 0
  for _, t in ipairs(RECORD_TABLES) do
    before = before + (ctx.before and ctx.before:count(t) or 0)
    now = now + db:query("SELECT count(*) AS n FROM " .. t)[1].n
  end
  return now - before == 727, string.format("%d -> %d, %+d", before, now, now - before),
         string.format("%d -> %d, +727", before, before + 727)
end, { tables = RECORD_TABLES })

-- the application: a URL, "none" (run without it, and say so), or unset (refused at preflight)
local APP = var.app
local WITH_APP = APP ~= nil and APP ~= "none"
local HEALTH = var("health", "/health")

local app_given = expect.that("the application: --set app=URL (or app=none to run without it)", function()
  if APP == nil then return false, "not set", "--set app=URL, or --set app=none" end
  return true, WITH_APP and APP or "none: the application check is skipped", "--set app=URL, or --set app=none"
end)

-- the final verify, plus "application still functions correctly" when there is an application
local function with_app(list)
  if WITH_APP then list[#list + 1] = expect.http { url = APP .. HEALTH, within = "5s" } end
  return list
end

playbook "medical_affairs" {
  description = "Seed 7 strategic priorities, migrate dh_tool/dh_workflow/dh_task, import 111 " ..
                "Medical Affairs workflows: 4,482 -> 5,209 records",
  budget = "50m",                 -- "Total ~50 minutes" (43 min of scripts + 10 of verification)
  lock_timeout = "2s",
  on_failure = "rollback",        -- the runbook's rollback procedures, newest phase first

  -- Pre-migration checklist: schema discovered, tables counted (the report's "Row counts"
  -- table records them), sources and targets as the plan says, nothing migrated yet.
  preflight = {
    app_given,
    expect.exists(RECORD_TABLES),
    -- the targets are empty ("0 -> 7", "0 -> 150", "0 -> 343")
    expect.query([[SELECT (SELECT count(*) FROM strategic_priorities) + (SELECT count(*) FROM tools)
                        + (SELECT count(*) FROM tasks)]], 0),
    -- the 105 Medical Affairs JTBDs phase 1 links, none linked yet
    expect.query("SELECT count(*) FROM jtbd_library WHERE function_area = 'Medical Affairs'", 105),
    expect.query("SELECT count(*) FROM jtbd_library WHERE strategic_priority_id IS NOT NULL", 0),
    -- the sources. They are read with expect.query, not expect.count, on purpose: the report's
    -- row-count table lists the tables expectations name, and the runbook's table (4,482 ->
    -- 5,209) lists only the eight target and protected tables.
    expect.query("SELECT count(*) FROM dh_tool", 150),
    expect.query("SELECT count(*) FROM dh_workflow", 116),
    expect.query("SELECT count(*) FROM dh_task", 343),
    -- nothing would collide: the copies keep their ids
    expect.query("SELECT count(*) FROM workflows w JOIN dh_workflow d USING (id)", 0),
    expect.query([[SELECT count(*) FROM dh_task t
                   WHERE NOT EXISTS (SELECT 1 FROM dh_workflow d WHERE d.id = t.workflow_id)]], 0),
    expect.query("SELECT count(*) FROM workflows WHERE definition ? 'source'", 0),
    expect.that("the 7 SP operational library files hold 111 workflows, each linked to a " ..
                "Medical Affairs JTBD of its own priority", function(db)
      local ma = {}
      for _, r in ipairs(db:query([[SELECT jtbd_code FROM jtbd_library
                                    WHERE function_area = 'Medical Affairs']])) do
        ma[r.jtbd_code] = true
      end
      local files, workflows, bad = 0, 0, {}
      for _, doc in ipairs(read_library(LIBRARY)) do
        files = files + 1
        local sp = doc.strategic_priority.code
        for _, wf in ipairs(doc.workflows) do
          workflows = workflows + 1
          for _, code in ipairs(wf.jtbd_ids or {}) do
            if not ma[code] or code:match("^MA%-(SP%d%d)%-") ~= sp then bad[#bad + 1] = wf.code .. ":" .. code end
          end
          if not wf.jtbd_ids or #wf.jtbd_ids == 0 then bad[#bad + 1] = wf.code .. ": no JTBD" end
        end
      end
      local actual = string.format("%d files, %d workflows, %d bad JTBD links%s", files, workflows, #bad,
                                   #bad > 0 and " (" .. table.concat(bad, ", ", 1, math.min(#bad, 5)) .. ")" or "")
      return files == 7 and workflows == 111 and #bad == 0, actual, "7 files, 111 workflows, 0 bad JTBD links"
    end),
  },

  backup = backup.dump { dir = var("backup_dir", "../backups") },   -- "Backup created (REQUIRED)"

  -- Protected tables. prompts, agents and personas: every row, unchanged. jtbd_library gets
  -- strategic_priority_id set on its 105 MA rows (phase 1), so its content fingerprint must
  -- change: it is protected as "grow", with its count unchanged (delta 0) checked in the final
  -- verify and every other column compared row by row in phase 1 (keep_rows above).
  -- workflows grows by 227 by design; its originals are compared in 3A, 3B and 3C.
  protect = { "prompts", "agents", "personas", jtbd_library = "grow", workflows = "grow" },

  -- without an application (--set app=none), the run says so right before the first phase
  hooks = not WITH_APP and {
    before = function(hook)
      hook.log("warning: no application (--set app=none): " .. HEALTH .. " is not checked after the migration")
    end,
  } or nil,

  gate "go/no-go" {
    "Backup created and verified (above)? The runbook requires it before any migration",
    "All 6 migration scripts reviewed (sql/medical_affairs/, and the 3C import in this file)?",
    "Scripts tested on staging (migrun rehearse) if available?",
  },

  phase "1 strategic priorities" {
    description = "seed SP01-SP07, link 105 Medical Affairs JTBDs",
    keep_jtbd,
    sql "../sql/medical_affairs/01_strategic_priorities.sql",
    budget = "5m",
    verify = {
      expect.count("strategic_priorities", 7),
      expect.query("SELECT COUNT(*) FROM jtbd_library WHERE strategic_priority_id IS NOT NULL", 105),
      expect.query(JTBD_PER_SP, JTBD_PER_SP_ROWS),
      expect.query([[SELECT count(*) FROM jtbd_library
                     WHERE function_area = 'Digital Health' AND strategic_priority_id IS NOT NULL]], 0),
      expect.delta("jtbd_library", 0),
      jtbd_kept,                  -- no column but strategic_priority_id changed, no row lost
    },
    rollback = sql "../sql/medical_affairs/01_rollback.sql",
  },

  phase "2 migrate tools" {
    description = "copy 150 dh_tool records to tools",
    sql "../sql/medical_affairs/02_migrate_tools.sql",
    budget = "3m",
    verify = {
      expect.count("tools", 150),
      expect.delta("tools", 150),
      -- "Preserves all columns in metadata JSONB"
      expect.query([[SELECT count(*) FROM dh_tool d JOIN tools t USING (id)
                     WHERE t.name = d.name AND t.metadata = to_jsonb(d) - 'id' - 'name']], 150),
    },
    rollback = sql "../sql/medical_affairs/02_rollback.sql",
  },

  phase "3a enhance workflows schema" {
    description = "add jtbd_id/jtbd_code (UUID and VARCHAR JTBD links) and a source index",
    keep_wf_3a,
    sql "../sql/medical_affairs/03a_enhance_workflows_schema.sql",
    budget = "2m",
    verify = {
      expect.columns("workflows", { "definition", "jtbd_id", "jtbd_code" }),
      expect.column_type("workflows", "jtbd_id", "uuid"),
      expect.column_type("workflows", "jtbd_code", "varchar(32)"),
      expect.foreign_keys { count = 2, table = "workflows" },
      expect.query([[SELECT count(*) FROM pg_indexes
                     WHERE tablename = 'workflows' AND indexname = 'workflows_definition_source_idx']], 1),
      expect.delta("workflows", 0),
      wf_kept_3a,                 -- "Does NOT modify existing 141 records"
    },
    rollback = sql "../sql/medical_affairs/03a_rollback.sql",
  },

  phase "3b migrate dh_workflow" {
    description = "copy 116 dh_workflow records into workflows.definition",
    keep_wf_3b,
    sql "../sql/medical_affairs/03b_migrate_dh_workflows.sql",
    budget = "10m",
    verify = {
      expect.delta("workflows", 116),     -- "141 existing + 116 migrated = 257"
      expect.query("SELECT COUNT(*) FROM workflows WHERE definition->>'source' = 'dh_workflow'", 116),
      -- every dh_workflow column kept, the dh_use_case and dh_domain links included
      expect.query([[SELECT count(*) FROM dh_workflow d JOIN workflows w USING (id)
                     WHERE w.definition - 'source' = to_jsonb(d)]], 116),
      wf_kept_3b,
    },
    rollback = sql "../sql/medical_affairs/03b_rollback.sql",
  },

  phase "3c import MA workflows" {
    description = "import 111 Medical Affairs workflows from the 7 SP operational library files",
    keep_wf_3c,
    -- migration_3c_import_ma_workflows.py: read each SP file, insert its workflows linked
    -- to their first JTBD (UUID and code); all JTBD ids stay in definition.jtbd_ids. The id
    -- is derived from the workflow's code, so a re-run inserts nothing twice.
    step "import the SP library files" (function(db, run)
      local added = 0
      for _, doc in ipairs(read_library(LIBRARY)) do
        local sp, n = doc.strategic_priority.code, 0
        for _, wf in ipairs(doc.workflows) do
          local definition = cjson.encode {
            source = doc.library, library_version = doc.version, source_file = doc.file,
            strategic_priority = sp, code = wf.code, jtbd_ids = wf.jtbd_ids,
            owner_role = wf.owner_role, frequency = wf.frequency, steps = wf.steps,
          }
          n = n + db:exec([[
            INSERT INTO workflows (id, name, description, definition, jtbd_id, jtbd_code)
            SELECT md5('MA Operational Library/' || $1)::uuid, $2, $3, $4::jsonb, j.id, j.jtbd_code
            FROM jtbd_library AS j
            WHERE j.jtbd_code = $5
            ON CONFLICT (id) DO NOTHING]],
            wf.code, wf.name, wf.description, definition, wf.jtbd_ids[1])
        end
        run.log(string.format("%s: %s, %d of %d workflows imported", doc.file, sp, n, #doc.workflows))
        added = added + n
      end
      return added
    end),
    budget = "15m",
    verify = {
      expect.delta("workflows", 227),     -- "257 + 111 = 368"
      expect.query("SELECT COUNT(*) FROM workflows WHERE definition->>'source' LIKE '%Operational Library%'", 111),
      -- "Links to jtbd_library via JTBD IDs": each one linked, both forms, to its own priority
      expect.query([[SELECT count(*) FROM workflows w
                     JOIN jtbd_library j ON j.id = w.jtbd_id AND j.jtbd_code = w.jtbd_code
                     JOIN strategic_priorities sp ON sp.id = j.strategic_priority_id
                     WHERE w.definition->>'source' LIKE '%Operational Library%'
                       AND sp.code = w.definition->>'strategic_priority']], 111),
      expect.that("each SP file's workflows imported under its priority", function(db)
        local want = {}
        for _, doc in ipairs(read_library(LIBRARY)) do
          want[#want + 1] = string.format("%s %d", doc.strategic_priority.code, #doc.workflows)
        end
        local got = {}
        for _, r in ipairs(db:query([[SELECT definition->>'strategic_priority' AS sp, count(*) AS n FROM workflows
                                      WHERE definition->>'source' LIKE '%Operational Library%'
                                      GROUP BY 1 ORDER BY 1]])) do
          got[#got + 1] = string.format("%s %d", r.sp, r.n)
        end
        return table.concat(got, ", ") == table.concat(want, ", "), table.concat(got, ", "), table.concat(want, ", ")
      end),
      wf_kept_3c,
    },
    rollback = sql "../sql/medical_affairs/03c_rollback.sql",
  },

  phase "4 migrate tasks" {
    description = "copy 343 dh_task records to tasks, linked to the migrated workflows",
    sql "../sql/medical_affairs/04_migrate_tasks.sql",
    budget = "8m",
    verify = {
      expect.count("tasks", 343),
      expect.no_orphans "tasks.workflow_id -> workflows.id",
      expect.query([[SELECT count(*) FROM tasks t JOIN workflows w ON w.id = t.workflow_id
                     WHERE w.definition->>'source' = 'dh_workflow']], 343),
      -- "Preserves all dh_task columns"
      expect.query([[SELECT count(*) FROM dh_task d JOIN tasks t USING (id)
                     WHERE t.metadata - 'source' = to_jsonb(d)]], 343),
    },
    rollback = sql "../sql/medical_affairs/04_rollback.sql",
  },

  -- "Verification Queries": after all migrations complete
  -- (and, with an application, "application still functions correctly")
  verify = with_app({
    -- 1. count all tables: each changed by the plan's "Change" column since the run started
    expect.that("1. count all tables: each changed by its planned change", function(db, ctx)
      local got, want = {}, {}
      for _, r in ipairs(db:query(COUNT_ALL)) do
        local before = ctx.before and ctx.before:count(r.table_name) or 0
        got[#got + 1] = string.format("%s %d -> %d", r.table_name, before, r.count)
        want[#want + 1] = string.format("%s %d -> %d", r.table_name, before, before + CHANGE[r.table_name])
      end
      local a, e = table.concat(got, ", "), table.concat(want, ", ")
      return a == e, a, e
    end, { tables = RECORD_TABLES }),
    total_change,                                          -- TOTAL: +727
    -- 2. JTBDs linked to strategic priorities
    expect.query(JTBD_PER_SP, JTBD_PER_SP_ROWS),
    -- 3. workflows by source: dh_workflow 116, MA Operational Library 111 (the originals, with
    -- no source, compared row by row in 3A-3C)
    expect.query(BY_SOURCE, { { "dh_workflow", 116 }, { "MA Operational Library", 111 } }),
    -- 4. tasks linked to workflows: 343 tasks over the 116 migrated workflows
    expect.query([[SELECT COUNT(DISTINCT t.workflow_id) AS workflows_with_tasks, COUNT(t.id) AS total_tasks
                   FROM tasks t]], { { 116, 343 } }),
    -- 5. tools migrated
    expect.count("tools", 150),
    -- "No broken foreign key relationships": every constraint validated, the links that
    -- matter without orphans
    expect.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated", 0),
    expect.no_orphans "tasks.workflow_id -> workflows.id",
    expect.no_orphans "tasks.tool_id -> tools.id",
    expect.no_orphans "workflows.jtbd_id -> jtbd_library.id",
    expect.no_orphans "jtbd_library.strategic_priority_id -> strategic_priorities.id",
    expect.delta("jtbd_library", 0),                      -- protected: no change
  }),

  -- the completion report (Markdown + JSON): phases, every expectation, and the
  -- before/after row counts of the eight tables of the runbook's "Record Counts" table
  report = var("report", "../reports/medical_affairs.md"),
}
