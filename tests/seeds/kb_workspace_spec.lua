-- Seed "kb_workspace": the WARP workspace-scoped knowledge base migration as
-- playbooks/kb_workspace.lua, run by the real binary, whole: the team's Slack messages (on the
-- fake application) and the watch window of the package's "Maintenance" advice. Green on a
-- sandbox; then on harness databases that must end exactly as they started: failing twins
-- (a fixture defect, a backfill that picks the wrong workspace, a broken import template, an
-- RLS policy that leaks), and a database in another state than the fixture that runs green,
-- reruns as a no-op and rolls back.
local H = require "helper"
local cjson = require "cjson"
local A = dofile(H.source .. "/tests/seeds/app.lua")
local timed, one, expectation = H.timed, H.one, H.expectation

local PB = "playbooks/kb_workspace.lua"
local FIXTURE = "sql/kb_workspace/before.sql"
local PLACED = "every entry in the workspace 03's rules give it"
local WATCH = { "--set", "watch_for=1s", "--set", "watch_every=1s" }

local function fresh(extra_sql) return H.seed_db("kbws", FIXTURE, extra_sql) end

local function copy_with(file, edit) return H.seed_copy(PB, "kb_workspace", file, edit) end

local function run_on(name, dir, pb)
  return H.migrun(A.args({ "--db", H.conninfo(name), pb or PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                           "--report", dir .. "/r.md" }, WATCH), { cwd = H.source })
end

-- a failing run on a fresh fixture database: exit 1, and the database exactly as before
local function fails_clean(label, name, pb, dir)
  local before = H.state(name)
  local r = timed(label, function() return run_on(name, dir, pb) end)
  assert.equal(1, r.status, r.stdout .. r.stderr)
  assert.same(before, H.state(name))
  return r.stdout .. r.stderr
end

describe("seed kb_workspace", function()
  it("runs whole on a sandbox: backfill, 9 sections a workspace, the import, RLS as 2 roles, the team told, " ..
     "the watch window", function()
    local app = A.start()
    local dir = H.tmpdir()
    local r = timed("kb_workspace whole (sandbox)", function()
      return A.run(app, A.args({ "--sandbox", "--load", FIXTURE, PB, "--yes", "--report", dir .. "/r.md",
                                 "--set", "backup_dir=" .. dir .. "/backups",
                                 "--set", "watch_for=3s", "--set", "watch_every=1s" }))
    end)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    assert.equal(5, #doc.phases)
    assert.truthy(doc.backup and doc.backup.sha256, "the report names the verified backup")

    -- the pre-verification numbers, recorded; then every entry where 03's rules put it
    assert.equal("8", expectation(doc, "(preflight)",
                                  "shared/global entries: system content or marked shared (recorded)").actual)
    assert.equal("4", expectation(doc, "(preflight)",
                                  "orphan entries: creator deleted or in no workspace (recorded)").actual)
    assert.equal("0 misplaced ((orphaned) 4, (shared) 8, ws-a 16, ws-b 10, ws-c 8)",
                 expectation(doc, "03 backfill workspace ids", PLACED).actual)
    -- 9 sections per workspace, the import, and the smoke tests' 8 categories
    assert.equal("27 sections for 3 workspaces, 0 without exactly 9",
                 expectation(doc, "04 seed kb sections", "every workspace has exactly 9 sections").actual)
    assert.equal("legacy_competitors 6, legacy_icp_data 5, legacy_personas 7, legacy_products 8; the KB grew by 26",
                 expectation(doc, "05 import legacy data",
                             "imported per source = the legacy tables' rows, and nothing else added").actual)
    assert.equal("5, then 21, 0 left", expectation(doc, "05 import legacy data",
      "rollback_legacy_import('legacy_icp_data') removes the ICP entries, rollback_legacy_import() the rest").actual)
    assert.equal("0 misplaced ((orphaned) 4, (shared) 8, ws-a 26, ws-b 19, ws-c 15)",
                 expectation(doc, "(verify)", "[4 distribution] " .. PLACED).actual)
    local categories = {}
    for _, e in ipairs(doc.expectations) do
      local c = e.phase == "(verify)" and e.description:match("^%[(%d) ")
      if c then categories[c] = true end
    end
    for c = 1, 8 do assert.truthy(categories[tostring(c)], "smoke-test category " .. c) end

    -- RLS for real: each role sees its workspace and the shared content, nothing else, and
    -- creates and edits only there
    local alpha = expectation(doc, "(verify)", "[3 RLS] RLS: kb_smoke_alpha sees only its own workspace's entries")
    assert.equal("ws-a: 26 own + 8 shared entries, 0 other; sections 9 own, 0 other; " ..
                 "insert into own workspace ok, into ws-b refused (42501); edit own entry: 1 row(s), ws-b's: 0 row(s)",
                 alpha.actual)
    local beta = expectation(doc, "(verify)", "[3 RLS] RLS: kb_smoke_beta sees only its own workspace's entries")
    assert.equal("ws-b: 19 own + 8 shared entries, 0 other; sections 9 own, 0 other; " ..
                 "insert into own workspace ok, into ws-a refused (42501); edit own entry: 1 row(s), ws-a's: 0 row(s)",
                 beta.actual)

    -- the team: told of the start and of the completion; the watch window after
    assert.same({ "notify", "notify" }, seen)
    assert.truthy(notices[1]:find("playbook *kb-workspace*", 1, true), notices[1])
    assert.truthy(notices[2]:find("succeeded", 1, true), notices[2])
    assert.same({ "notify start ok", "notify success ok" }, A.calls(doc))
    local w = doc.watch[1]
    assert.equal("after the migration", w.name)
    assert.equal("alert", w.on_breach)
    assert.truthy(#w.samples >= 1)
    H.rmtree(dir)
  end)

  it("twin: a legacy row of a deleted workspace stops it at preflight, nothing touched (exit 1)", function()
    local name = fresh([[INSERT INTO legacy_competitors (workspace_id, name)
                         VALUES ('a0000000-0000-4000-8000-0000000000dd', 'Rival of a deleted workspace');]])
    local dir = H.tmpdir()
    local out = fails_clean("kb_workspace twin: legacy orphan at preflight", name, PB, dir)
    assert.truthy(out:find("no_orphans(legacy_competitors.workspace_id -> workspaces.id)  FAILED  " ..
                           "(actual 1, expected 0)", 1, true), out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a backfill that files entries under the creator's newest workspace is caught by 03's rules", function()
    -- Dave joined ws-a first, then ws-b: his 6 entries belong to ws-a
    local dir = copy_with("sql/kb_workspace/03_backfill_workspace_ids.sql", function(s)
      return s:gsub("ORDER BY user_id, joined_at, workspace_id", "ORDER BY user_id, joined_at DESC, workspace_id")
    end)
    local name = fresh()
    local out = fails_clean("kb_workspace twin: wrong home workspace", name, dir .. "/" .. PB, dir)
    assert.truthy(out:find(PLACED .. "  FAILED  (actual 6 misplaced ((orphaned) 4, (shared) 8, ws-a 10, ws-b 16, " ..
                           "ws-c 8), expected 0 misplaced)", 1, true), out)
    assert.truthy(out:find("phase 02 workspace scoping  rolled back", 1, true), out)
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a broken import template fails with file:line; 04, 03, 02 are rolled back", function()
    local dir = copy_with("sql/kb_workspace/05_import_legacy_data.sql", function(s)
      return s:gsub("coalesce%(l%.analysis, ''%)", "coalesce(l.analyss, '')")
    end)
    local name = fresh()
    local out = fails_clean("kb_workspace twin: broken 05", name, dir .. "/" .. PB, dir)
    assert.truthy(out:find("05_import_legacy_data.sql:62:1: ERROR 42703", 1, true), out)
    for _, ph in ipairs({ "04 seed kb sections", "03 backfill workspace ids", "02 workspace scoping" }) do
      assert.truthy(out:find("phase " .. ph .. "  rolled back", 1, true), out)
    end
    assert.is_nil(one(name, "SELECT to_regclass('kb_sections')"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a policy that shows orphans to everyone is caught by the RLS smoke test, all rolled back", function()
    -- the classic mistake: "NULL workspace = shared", forgetting that orphans are NULL too
    local dir = copy_with("sql/kb_workspace/02_workspace_scoping.sql", function(s)
      return s:gsub("OR %(workspace_id IS NULL AND is_shared%)", "OR workspace_id IS NULL")
    end)
    local name = fresh()
    local out = fails_clean("kb_workspace twin: leaky RLS policy", name, dir .. "/" .. PB, dir)
    assert.truthy(out:find("RLS: kb_smoke_alpha sees only its own workspace's entries  FAILED  " ..
                           "(actual ws-a: 26 own + 8 shared entries, 4 other;", 1, true), out)
    assert.truthy(out:find("phase 02 workspace scoping  rolled back", 1, true), out)
    assert.equal(46, one(name, "SELECT count(*) FROM knowledge_base_entries"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("runs on a database in another state (a fourth workspace, more entries and legacy rows), reruns as a " ..
     "no-op, rollback_legacy_import works, and `migrun rollback` restores the start", function()
    local name = fresh([[
      INSERT INTO workspaces (id, slug, name) VALUES ('a0000000-0000-4000-8000-00000000000d', 'ws-d', 'Umbrella');
      INSERT INTO users (id, email, full_name) VALUES
        ('b0000000-0000-4000-8000-000000000006', 'frank@umbrella.example', 'Frank');
      INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES
        ('a0000000-0000-4000-8000-00000000000d', 'b0000000-0000-4000-8000-000000000006', 'owner', '2024-03-01');
      INSERT INTO knowledge_base_entries (title, content, category, created_by, is_shared)
      SELECT 'Frank note ' || i, 'By Frank', 'icp', 'b0000000-0000-4000-8000-000000000006', i = 1
      FROM generate_series(1, 5) i;
      INSERT INTO legacy_icp_data (workspace_id, segment, criteria)
      VALUES ('a0000000-0000-4000-8000-00000000000d', 'Segment ws-d-1', 'Labs');
      INSERT INTO legacy_products (workspace_id, name)
      SELECT 'a0000000-0000-4000-8000-00000000000d', p FROM unnest(ARRAY['T-virus', 'Antidote']) p;]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("kb_workspace on another state", function() return run_on(name, dir) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    assert.equal("0 misplaced ((orphaned) 4, (shared) 9, ws-a 16, ws-b 10, ws-c 8, ws-d 4)",
                 expectation(doc, "03 backfill workspace ids", PLACED).actual)
    assert.equal("36 sections for 4 workspaces, 0 without exactly 9",
                 expectation(doc, "04 seed kb sections", "every workspace has exactly 9 sections").actual)
    assert.equal("legacy_competitors 6, legacy_icp_data 6, legacy_personas 7, legacy_products 10; the KB grew by 29",
                 expectation(doc, "(verify)", "[7 legacy import] imported per source = the legacy tables' rows").actual)
    local after = H.state(name)
    local again = run_on(name, H.tmpdir())
    assert.equal(0, again.status, again.stdout .. again.stderr)
    assert.truthy(again.stdout:find("already applied", 1, true), again.stdout)
    assert.same(after, H.state(name))
    -- the package's partial rollback, by hand
    assert.equal(6, one(name, "SELECT rollback_legacy_import('legacy_icp_data')"))
    assert.equal(51 + 23, one(name, "SELECT count(*) FROM knowledge_base_entries"))
    local rb = timed("kb_workspace migrun rollback", function()
      return H.run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    end)
    assert.equal(0, rb.status, rb.stdout .. rb.stderr)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
