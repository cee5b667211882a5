-- The medical_affairs seed ("Complete Database Migration Plan", 2025-11-10): the playbook run
-- whole on a sandbox as its README line says, with the fake application answering the plan's
-- "application still functions correctly"; then, on the harness cluster, the refusal without
-- an application, a database in another state than the plan's day (the protected tables
-- grown) that runs green, reruns as a no-op and rolls back, and failing twins (a broken
-- script, an id conflict at preflight, the application down after the migration) that must
-- leave the database exactly as it was.
local H = require "helper"
local cjson = require "cjson"
local A = dofile(H.source .. "/tests/seeds/app.lua")
local timed = H.timed

local PLAYBOOK = "playbooks/medical_affairs.lua"
local BEFORE = "sql/medical_affairs/before.sql"

-- a fresh database on the harness cluster holding the runbook's "before" state (and extra SQL)
local function fresh(extra_sql) return H.seed_db("medaff", BEFORE, extra_sql) end

-- the playbook and its SQL copied to a temp dir, same layout, so a file can be broken
local function copy_project(dir)
  H.copy_tree(H.source .. "/playbooks", dir .. "/playbooks")
  H.copy_tree(H.source .. "/sql", dir .. "/sql")
end

local function run_on(name, app, dir, pb)
  return A.run(app, A.args({ "--db", H.conninfo(name), pb or (H.source .. "/" .. PLAYBOOK), "--yes",
                             "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" },
                           { "--set", "app=" .. (app == "none" and "none" or app.url) }))
end

local function by_description(doc)
  local out = {}
  for _, e in ipairs(doc.expectations) do out[e.description] = e end
  return out
end

describe("medical_affairs playbook", function()
  it("runs whole on a sandbox: 7 priorities, 150 tools, +227 workflows, 343 tasks, 4,482 -> 5,209 records, " ..
     "and the application still answers", function()
    local app = A.start({ 'GET /health 200 {"status":"ok"}' })
    local dir = H.tmpdir()
    local r = timed("medical_affairs whole (sandbox)", function()
      return A.run(app, { "--sandbox", "--load", BEFORE, PLAYBOOK, "--yes", "--report", dir .. "/r.md",
                          "--set", "backup_dir=" .. dir .. "/backups", "--set", "app=" .. app.url })
    end)
    local seen = A.seen(app)
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("answered yes (--yes)", 1, true))
    for _, sp in ipairs({ "SP01", "SP02", "SP03", "SP04", "SP05", "SP06", "SP07" }) do
      assert.truthy(r.stdout:find(sp .. ", %d+ of %d+ workflows imported"), r.stdout)
    end
    -- the application: asked once, after the last phase (the plan names no other call)
    assert.same({ "GET /health" }, seen)

    -- the runbook's "Record Counts" table, reproduced by the report's row-count table
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| **Total** | **4482** | **5209** | **+727** |", 1, true), md)
    assert.truthy(md:find("| workflows | 141 | 368 | +227 |", 1, true))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.truthy(md:find(string.format("%d of %d passed.", #doc.expectations, #doc.expectations), 1, true), md)
    assert.equal("succeeded", doc.outcome.status)
    local want = { strategic_priorities = { 0, 7 }, jtbd_library = { 371, 371 }, workflows = { 141, 368 },
                   tasks = { 0, 343 }, tools = { 0, 150 }, agents = { 190, 190 }, prompts = { 3570, 3570 },
                   personas = { 210, 210 } }
    local seen_tables = 0
    for _, t in ipairs(doc.tables) do
      assert.is_not_nil(want[t.table], "unexpected table in the row counts: " .. t.table)
      assert.same(want[t.table], { t.before, t.after }, t.table)
      seen_tables = seen_tables + 1
    end
    assert.equal(8, seen_tables)

    local phases = {}
    for _, p in ipairs(doc.phases) do phases[#phases + 1] = p.name .. "=" .. p.status end
    assert.same({ "1 strategic priorities=applied", "2 migrate tools=applied",
                  "3a enhance workflows schema=applied", "3b migrate dh_workflow=applied",
                  "3c import MA workflows=applied", "4 migrate tasks=applied" }, phases)
    local budgets = {}
    for _, p in ipairs(doc.phases) do budgets[#budgets + 1] = p.budget end
    assert.same({ "5m", "3m", "2m", "10m", "15m", "8m" }, budgets)

    -- key numbers of the expectations, and nothing failed
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    local e = by_description(doc)
    assert.equal("7", tostring(e["count(strategic_priorities) = 7"].actual))
    assert.equal("150", tostring(e["count(tools) = 150"].actual))
    assert.equal("343", tostring(e["count(tasks) = 343"].actual))
    assert.equal("116", tostring(e["delta(workflows) = +116"].actual))
    assert.equal("0 of 371 rows changed or gone",
                 e["jtbd_library: no column but strategic_priority_id changed, no row lost"].actual)
    assert.equal("3570 rows, content unchanged", e["protect prompts (same)"].actual)
    assert.equal("371 rows", e["protect jtbd_library (grow)"].actual)
    assert.equal("strategic_priorities 0 -> 7, jtbd_library 371 -> 371, workflows 141 -> 368, tasks 0 -> 343, " ..
                 "tools 0 -> 150, agents 190 -> 190, prompts 3570 -> 3570, personas 210 -> 210",
                 e["1. count all tables: each changed by its planned change"].actual)
    assert.equal("4482 -> 5209, +727", e["the eight tables together: +727 records"].actual)
    assert.equal("SP01 18, SP02 20, SP03 17, SP04 14, SP05 16, SP06 10, SP07 16",
                 e["each SP file's workflows imported under its priority"].actual)
    local http = A.expectations(doc, "http GET " .. app.url .. "/health", "(verify)")
    assert.equal(1, #http)
    local text = cjson.encode(doc.expectations)
    assert.truthy(text:find("('SP01', 'Scientific Communication & Publications', 17)", 1, true))
    assert.truthy(text:find("[('dh_workflow', 116), ('MA Operational Library', 111)]", 1, true))
    assert.truthy(text:find("[(116, 343)]", 1, true))

    assert.truthy(doc.backup and doc.backup.sha256 and #doc.backup.sha256 == 64)
    H.rmtree(dir)
  end)

  it("refuses to run without --set app: the preflight says what is missing (exit 1)", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = H.migrun({ "--db", H.conninfo(name), H.source .. "/" .. PLAYBOOK, "--yes",
                         "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("expect the application: --set app=URL (or app=none to run without it)  FAILED",
                                1, true), r.stdout)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("runs on a database in another state (the protected tables grown since the plan), is a no-op the second " ..
     "time, and `migrun rollback` undoes all six phases back to the before state", function()
    -- since the plan was written: 30 more prompts, 2 agents, 5 personas, 4 workflows, 1 DH JTBD
    local name = fresh([[
      INSERT INTO personas (id, name, role) SELECT md5('personas/late-' || g)::uuid, 'Late persona ' || g, 'HEOR Lead'
      FROM generate_series(1, 5) g;
      INSERT INTO agents (id, name, model) SELECT md5('agents/late-' || g)::uuid, 'agent-late-' || g, 'gpt-4o'
      FROM generate_series(1, 2) g;
      INSERT INTO prompts (id, agent_id, title, body)
      SELECT md5('prompts/late-' || g)::uuid, md5('agents/late-1')::uuid, 'Late prompt ' || g, 'Body'
      FROM generate_series(1, 30) g;
      INSERT INTO workflows (id, name) SELECT md5('workflows/late-' || g)::uuid, 'Late workflow ' || g
      FROM generate_series(1, 4) g;
      INSERT INTO jtbd_library (id, jtbd_code, function_area, title, job_statement)
      VALUES (md5('jtbd/DH-late')::uuid, 'DH-9999', 'Digital Health', 'Late job', 'When late, I want it.');]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("medical_affairs on another state", function() return run_on(name, "none", dir) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning: no application (--set app=none): /health is not checked", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    local e = by_description(doc)
    assert.equal("strategic_priorities 0 -> 7, jtbd_library 372 -> 372, workflows 145 -> 372, tasks 0 -> 343, " ..
                 "tools 0 -> 150, agents 192 -> 192, prompts 3600 -> 3600, personas 215 -> 215",
                 e["1. count all tables: each changed by its planned change"].actual)
    assert.equal("4524 -> 5251, +727", e["the eight tables together: +727 records"].actual)
    assert.equal("0 of 145 rows changed or gone",
                 e["workflows: the existing records untouched (new columns aside)"].actual)
    local after = H.state(name)
    r = timed("second run (no-op)", function() return run_on(name, "none", H.tmpdir()) end)
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
      return run_on(name, "none", dir, dir .. "/playbooks/medical_affairs.lua")
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
    -- the fixture defect: an id conflict the copy would hit
    local name = fresh([[UPDATE workflows SET id = (SELECT id FROM dh_workflow WHERE code = 'DHW-042')
                         WHERE id = md5('workflows/7')::uuid]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("failing twin: id conflict caught by preflight", function() return run_on(name, "none", dir) end)
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

  it("twin: the application answers 500 after the migration: all six phases are rolled back", function()
    local app = A.start({ 'GET /health 500 {"error":"column workflows.jtbd_code is ambiguous"}' })
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("failing twin: application down after the migration", function()
      return run_on(name, app, dir)
    end)
    local seen = A.seen(app)
    app:stop()
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find("http GET " .. app.url .. "/health: status 2xx, within 5s  FAILED  (actual 500: ", 1, true),
                  out)
    assert.same({ "GET /health" }, seen)
    assert.same(before, H.state(name))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("(verify)", doc.outcome.failed_phase)
    for _, ph in ipairs({ "1 strategic priorities", "2 migrate tools", "3a enhance workflows schema",
                          "3b migrate dh_workflow", "3c import MA workflows", "4 migrate tasks" }) do
      assert.equal("rolled_back", doc.outcome.states[ph], ph)
    end
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
