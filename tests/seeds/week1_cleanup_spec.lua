-- Seed "week1_cleanup": the Week 1 Wednesday migration plan as playbooks/week1_cleanup.lua,
-- run by the real binary: green on a sandbox, then failing twins on harness databases that
-- must end exactly as they started, and `migrun rollback` after a green run.
local H = require "helper"
local cjson = require "cjson"
local timed, run_db, one, expectation = H.timed, H.run_db, H.one, H.expectation

local PB = "playbooks/week1_cleanup.lua"
local FIXTURE = "sql/week1_cleanup/before.sql"
local M012 = "sql/week1_cleanup/012_remove_unused_features.sql"

local function fresh(extra_sql) return H.seed_db("week1", FIXTURE, extra_sql) end

local function copy_with(file, edit) return H.seed_copy(PB, "week1_cleanup", file, edit) end

describe("seed week1_cleanup", function()
  it("runs green on a sandbox: 52 -> 43 tables, 38 -> 42 FKs, 16 -> 18 policies, 12/12 queries", function()
    local dir = H.tmpdir()
    local r = timed("week1_cleanup green (sandbox)", function()
      return H.seed_green(FIXTURE, PB, dir)
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end

    -- before: 52 tables, 38 foreign keys, 16 policies, 3 conflicts, 9 unused tables
    assert.equal("52", expectation(doc, "(preflight)", "tables(public) = 52").actual)
    assert.equal("38", expectation(doc, "(preflight)", "foreign_keys = 38").actual)
    assert.equal("16", expectation(doc, "(preflight)", "policies = 16").actual)
    assert.equal("3", expectation(doc, "(preflight)", "3 schema conflicts present").actual)

    -- after: 43 tables, 42 foreign keys, 18 policies, and the 12 verification queries pass
    assert.equal("43", expectation(doc, "012 remove unused features", "remaining_tables = 43").actual)
    assert.equal("42", expectation(doc, "(verify)", "Q4.1 foreign keys = 42 (all intact)").actual)
    assert.equal("18", expectation(doc, "(verify)", "Q5.1 RLS policies = 18 (all active)").actual)
    local queries = 0
    for _, e in ipairs(doc.expectations) do
      if e.phase == "(verify)" and e.description:match("^Q%d%.%d ") then
        queries = queries + 1
        assert.is_true(e.ok, e.description)
      end
    end
    assert.equal(12, queries)

    -- both phases within their budgets, and the 9 tables (113 rows) gone
    assert.equal("400ms", doc.phases[1].budget)
    assert.equal("400ms", doc.phases[2].budget)
    local gone = 0
    for _, t in ipairs(doc.tables) do
      if t.after == nil or t.after == cjson.null then gone = gone + 1 end
    end
    assert.equal(9, gone)
    assert.truthy(doc.backup and doc.backup.sha256, "the report names the verified backup")
    assert.truthy(H.read(dir .. "/r.md"):find("48 of 48 passed", 1, true))
    H.rmtree(dir)
  end)

  it("stops at the go/no-go gate without --yes: the six questions, exit 4, nothing changed", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = run_db(name, { PB, "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    for _, q in ipairs({ "Staging tests all passed?", "Backup procedures verified?", "Rollback plan documented?",
                         "Application ready for migration?", "Team sign-off obtained?",
                         "Monitoring tools configured?" }) do
      assert.truthy(r.stdout:find("[ ] " .. q, 1, true), r.stdout)
    end
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: an orphaned trust score stops it at preflight, nothing touched (exit 1)", function()
    local name = fresh("INSERT INTO agent_trust_scores (agent_id, score) VALUES (999, 0.5);")
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("week1_cleanup twin: orphan at preflight", function()
      return run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("no_orphans(agent_trust_scores.agent_id -> agents.id)  FAILED  (actual 1, expected 0)",
                           1, true), out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a broken 012 fails with file:line, 011 is undone, the database is as before", function()
    local copy = copy_with(M012, function(s)
      -- a typo'd table name, and IF EXISTS gone: the drop fails on the server
      return s:gsub("DROP TABLE IF EXISTS\n  quests, quest_moves,", "DROP TABLE\n  quests, quest_movez,")
    end)
    local name = fresh()
    local before = H.state(name)
    local r = timed("week1_cleanup twin: broken 012", function()
      return run_db(name, { copy .. "/" .. PB, "--yes", "--set", "backup_dir=" .. copy .. "/backups",
                            "--report", copy .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("012_remove_unused_features.sql:9:1: ERROR 42P01", 1, true), out)
    assert.truthy(out:find("011 fix migration conflicts  rolled back", 1, true), out)
    assert.same(before, H.state(name))
    assert.equal(52, one(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    H.drop_db(name)
    H.rmtree(copy)
  end)

  it("twin: a wrong core count fails the final verify; 012 and 011 are rolled back, rows restored", function()
    -- the fixture holds 21 campaigns where the runbook's Query 3.1 expects 20
    local name = fresh([[INSERT INTO campaigns (workspace_id, owner_id, name)
                         VALUES ('10000000-0000-4000-8000-000000000001', NULL, 'Stray campaign');]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("week1_cleanup twin: final verify fails", function()
      return run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("Q3.1 campaigns intact (20 rows)  FAILED  (actual 21, expected 20)", 1, true), out)
    assert.truthy(out:find("012 remove unused features  rolled back", 1, true), out)
    assert.truthy(out:find("011 fix migration conflicts  rolled back", 1, true), out)
    -- the 9 tables are back with their 113 rows, and everything else as it was
    assert.same(before, H.state(name))
    assert.equal(30, one(name, "SELECT count(*) FROM notifications"))
    assert.equal(16, one(name, "SELECT count(*) FROM pg_policy"))
    -- a new quest gets the next id, not one a restored row holds
    assert.equal(7, one(name, "INSERT INTO quests (title) VALUES ('next') RETURNING id"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("is idempotent on a rerun and `migrun rollback` restores the 52-table state exactly", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    assert.equal(0, run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" }).status)
    local after = H.state(name)
    local again = run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r2.md" })
    assert.equal(0, again.status, again.stdout .. again.stderr)
    assert.truthy(again.stdout:find("already applied", 1, true), again.stdout)
    assert.same(after, H.state(name))
    -- a new process: the 012 rollback finds the run's snapshot in backup_dir by itself
    local rb = timed("week1_cleanup migrun rollback", function()
      return run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. dir })
    end)
    assert.equal(0, rb.status, rb.stdout .. rb.stderr)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
