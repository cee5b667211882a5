-- The medical_affairs seed ("Complete Database Migration Plan", 2025-11-10): the playbook run
-- green on a sandbox exactly as its README line says, then two failing twins on the harness
-- cluster that must leave the database exactly as it was.
local H = require "helper"
local clock = require "migrun.clock"
local cjson = require "cjson"

local PLAYBOOK = "playbooks/medical_affairs.lua"
local BEFORE = "sql/medical_affairs/before.sql"

local function timed(label, fn)
  local t = clock.now()
  local r = fn()
  io.stderr:write(string.format("\n[medical_affairs] %s: %s\n", label, clock.format(clock.since(t))))
  return r
end

-- a fresh database on the harness cluster holding the runbook's "before" state
local function fresh()
  local name = H.fresh_db("medaff")
  H.load(name, H.source .. "/" .. BEFORE)
  return name
end

-- the playbook and its SQL copied to a temp dir, same layout, so a file can be broken
local function copy_project(dir)
  H.copy_tree(H.source .. "/playbooks", dir .. "/playbooks")
  H.copy_tree(H.source .. "/sql", dir .. "/sql")
end

describe("medical_affairs playbook", function()
  it("runs green on a sandbox: 7 priorities, 150 tools, 368 workflows, 343 tasks, 4,482 -> 5,209 records",
     function()
    local dir = H.tmpdir()
    local r = timed("green run (--sandbox)", function()
      return H.seed_green(BEFORE, PLAYBOOK, dir)
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("answered yes (--yes)", 1, true))
    for _, sp in ipairs({ "SP01", "SP02", "SP03", "SP04", "SP05", "SP06", "SP07" }) do
      assert.truthy(r.stdout:find(sp .. ", %d+ of %d+ workflows imported"), r.stdout)
    end

    -- the runbook's "Record Counts" table, reproduced by the report's row-count table
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| **Total** | **4482** | **5209** | **+727** |", 1, true), md)
    assert.truthy(md:find("| workflows | 141 | 368 | +227 |", 1, true))
    assert.truthy(md:find("61 of 61 passed.", 1, true), md)

    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    local want = { strategic_priorities = { 0, 7 }, jtbd_library = { 371, 371 }, workflows = { 141, 368 },
                   tasks = { 0, 343 }, tools = { 0, 150 }, agents = { 190, 190 }, prompts = { 3570, 3570 },
                   personas = { 210, 210 } }
    local seen = 0
    for _, t in ipairs(doc.tables) do
      assert.is_not_nil(want[t.table], "unexpected table in the row counts: " .. t.table)
      assert.same(want[t.table], { t.before, t.after }, t.table)
      seen = seen + 1
    end
    assert.equal(8, seen)

    local phases = {}
    for _, p in ipairs(doc.phases) do phases[#phases + 1] = p.name .. "=" .. p.status end
    assert.same({ "1 strategic priorities=applied", "2 migrate tools=applied",
                  "3a enhance workflows schema=applied", "3b migrate dh_workflow=applied",
                  "3c import MA workflows=applied", "4 migrate tasks=applied" }, phases)
    local budgets = {}
    for _, p in ipairs(doc.phases) do budgets[#budgets + 1] = p.budget end
    assert.same({ "5m", "3m", "2m", "10m", "15m", "8m" }, budgets)

    -- key numbers of the expectations, and nothing failed
    local by_desc = {}
    for _, e in ipairs(doc.expectations) do
      assert.is_true(e.ok, e.description)
      by_desc[e.description] = e
    end
    assert.equal("7", tostring(by_desc["count(strategic_priorities) = 7"].actual))
    assert.equal("150", tostring(by_desc["count(tools) = 150"].actual))
    assert.equal("343", tostring(by_desc["count(tasks) = 343"].actual))
    assert.equal("0 of 371 rows changed or gone",
                 by_desc["jtbd_library: no column but strategic_priority_id changed, no row lost"].actual)
    assert.equal("3570 rows, content unchanged", by_desc["protect prompts (same)"].actual)
    assert.equal("371 rows", by_desc["protect jtbd_library (grow)"].actual)
    local text = cjson.encode(doc.expectations)
    assert.truthy(text:find("('SP01', 'Scientific Communication & Publications', 17)", 1, true))
    assert.truthy(text:find("[(NULL, 141), ('dh_workflow', 116), ('MA Operational Library', 111)]", 1, true))
    assert.truthy(text:find("[(116, 343)]", 1, true))

    assert.truthy(doc.backup and doc.backup.sha256 and #doc.backup.sha256 == 64)
    H.rmtree(dir)
  end)

  it("is a no-op the second time, and `migrun rollback` undoes all six phases back to the before state",
     function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local args = { "--db", H.conninfo(name), H.source .. "/" .. PLAYBOOK, "--yes",
                   "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" }
    local r = timed("run on the harness cluster", function() return H.migrun(args) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local after = H.state(name)
    r = timed("second run (no-op)", function() return H.migrun(args) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("already applied", 1, true), r.stdout)
    assert.same(after, H.state(name))
    r = timed("migrun rollback", function()
      return H.migrun({ "rollback", "--yes", "--db", H.conninfo(name), H.source .. "/" .. PLAYBOOK,
                        "--set", "backup_dir=" .. H.tmpdir() })
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("rolls every applied phase back when phase 4's SQL is broken, naming file:line:col and SQLSTATE", function()
    local dir = H.tmpdir()
    copy_project(dir)
    local file = dir .. "/sql/medical_affairs/04_migrate_tasks.sql"
    local body = H.read(file)
    local broken = body:gsub("t%.position,", "t.sort_order,")
    assert.are_not.equal(body, broken)
    H.write(file, broken)
    -- where the bad column is: PostgreSQL points at it, migrun maps that to file:line:col
    local line, col = 0, nil
    for l in (broken .. "\n"):gmatch("([^\n]*)\n") do
      line = line + 1
      col = l:find("t.sort_order", 1, true)
      if col then break end
    end

    local name = fresh()
    local before = H.state(name)
    local r = timed("failing twin: broken 04_migrate_tasks.sql", function()
      return H.migrun({ "--db", H.conninfo(name), dir .. "/playbooks/medical_affairs.lua", "--yes",
                        "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" })
    end)
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find(string.format("04_migrate_tasks.sql:%d:%d", line, col), 1, true), out)
    assert.truthy(out:find("42703", 1, true), out)
    assert.same(before, H.state(name))

    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("rolled_back", doc.outcome.status)
    assert.equal("failed, rolled back", doc.outcome.status_text)
    assert.equal("4 migrate tasks", doc.outcome.failed_phase)
    for _, ph in ipairs({ "1 strategic priorities", "2 migrate tools", "3a enhance workflows schema",
                          "3b migrate dh_workflow", "3c import MA workflows" }) do
      assert.equal("rolled_back", doc.outcome.states[ph], ph)
    end
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("stops at preflight, changing nothing, when a dh_workflow id is already taken in workflows", function()
    local name = fresh()
    do                                 -- the fixture defect: an id conflict the copy would hit
      local c <close> = H.connect(name)
      c:exec([[UPDATE workflows SET id = (SELECT id FROM dh_workflow WHERE code = 'DHW-042')
               WHERE id = md5('workflows/7')::uuid]])
    end
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("failing twin: id conflict caught by preflight", function()
      return H.migrun({ "--db", H.conninfo(name), H.source .. "/" .. PLAYBOOK, "--yes",
                        "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" })
    end)
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    assert.truthy(out:find("JOIN dh_workflow d USING", 1, true), out)
    assert.same(before, H.state(name))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("(preflight)", doc.outcome.failed_phase)
    assert.is_nil(doc.backup)                      -- preflight runs before the backup
    local c <close> = H.connect(name)
    assert.equal(0, c:query("SELECT count(*) AS n FROM migrun.steps WHERE status = 'applied'")[1].n)
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
