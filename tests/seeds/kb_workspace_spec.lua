-- Seed "kb_workspace": the WARP workspace-scoped knowledge base migration as
-- playbooks/kb_workspace.lua, run by the real binary: green on a sandbox, failing twins on
-- harness databases that must end exactly as they started (a fixture defect, a broken
-- import template, an RLS policy that leaks), and the rollbacks after a green run.
local H = require "helper"
local cjson = require "cjson"
local timed, run_db, one, expectation = H.timed, H.run_db, H.one, H.expectation

local PB = "playbooks/kb_workspace.lua"
local FIXTURE = "sql/kb_workspace/before.sql"

local function fresh(extra_sql) return H.seed_db("kbws", FIXTURE, extra_sql) end

local function copy_with(file, edit) return H.seed_copy(PB, "kb_workspace", file, edit) end

-- a failing run on a fresh fixture database: exit 1, and the database exactly as before
local function fails_clean(label, name, pb, dir)
  local before = H.state(name)
  local r = timed(label, function()
    return run_db(name, { pb, "--yes", "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" })
  end)
  assert.equal(1, r.status, r.stdout .. r.stderr)
  assert.same(before, H.state(name))
  return r.stdout .. r.stderr
end

describe("seed kb_workspace", function()
  it("runs green on a sandbox: 46 entries backfilled, 27 sections, 26 imported, RLS isolates 2 roles", function()
    local dir = H.tmpdir()
    local r = timed("kb_workspace green (sandbox)", function()
      return H.seed_green(FIXTURE, PB, dir)
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    assert.equal(5, #doc.phases)
    assert.truthy(doc.backup and doc.backup.sha256, "the report names the verified backup")

    -- the backfill: shared content stays NULL, orphans are flagged, the rest find their workspace
    assert.equal("8", expectation(doc, "(preflight)",
                                  "8 shared/global entries (system content or marked shared)").actual)
    assert.equal("4", expectation(doc, "(preflight)", "4 orphan entries (creator deleted or in no workspace)").actual)
    assert.equal("[('(orphaned)', 4), ('(shared)', 8), ('ws-a', 16), ('ws-b', 10), ('ws-c', 8)]",
      expectation(doc, "03 backfill workspace ids",
                  "entries per workspace: orphaned 4, shared 8, ws-a 16, ws-b 10, ws-c 8").actual)
    -- 9 sections per workspace, the import, and the smoke tests' 8 categories
    assert.equal("27", expectation(doc, "04 seed kb sections", "count(kb_sections) = 27").actual)
    assert.equal("26", expectation(doc, "05 import legacy data", "delta(knowledge_base_entries) = +26").actual)
    assert.equal("5, then 21, 0 left", expectation(doc, "05 import legacy data",
      "rollback_legacy_import('legacy_icp_data') removes 5, rollback_legacy_import() the other 21").actual)
    assert.equal("72", expectation(doc, "(verify)", "[2 integrity] count(knowledge_base_entries) = 72").actual)
    local categories = {}
    for _, e in ipairs(doc.expectations) do
      local c = e.phase == "(verify)" and e.description:match("^%[(%d) ")
      if c then categories[c] = true end
    end
    for c = 1, 8 do assert.truthy(categories[tostring(c)], "smoke-test category " .. c) end

    -- RLS for real: each role sees its workspace and the shared content, nothing else
    local alpha = expectation(doc, "(verify)", "[3 RLS] RLS: kb_smoke_alpha sees only its own workspace's entries")
    assert.equal("ws-a: 26 own + 8 shared entries, 0 other; sections 9 own, 0 other; " ..
                 "insert into own workspace ok, into ws-b refused (42501)", alpha.actual)
    local beta = expectation(doc, "(verify)", "[3 RLS] RLS: kb_smoke_beta sees only its own workspace's entries")
    assert.equal("ws-b: 19 own + 8 shared entries, 0 other; sections 9 own, 0 other; " ..
                 "insert into own workspace ok, into ws-a refused (42501)", beta.actual)
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

  it("reruns as a no-op, rollback_legacy_import works, and `migrun rollback` restores the start", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local args = { PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" }
    assert.equal(0, run_db(name, args).status)
    local after = H.state(name)
    local again = run_db(name, args)
    assert.equal(0, again.status, again.stdout .. again.stderr)
    assert.truthy(again.stdout:find("already applied", 1, true), again.stdout)
    assert.same(after, H.state(name))
    -- the package's partial rollback, by hand
    assert.equal(5, one(name, "SELECT rollback_legacy_import('legacy_icp_data')"))
    assert.equal(67, one(name, "SELECT count(*) FROM knowledge_base_entries"))
    local rb = timed("kb_workspace migrun rollback", function()
      return run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    end)
    assert.equal(0, rb.status, rb.stdout .. rb.stderr)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
