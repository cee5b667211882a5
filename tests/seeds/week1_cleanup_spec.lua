-- Seed "week1_cleanup": the Week 1 Wednesday migration plan as playbooks/week1_cleanup.lua,
-- run by the real binary, whole: the fake application answers the runbook's endpoint checks
-- (/health, /api/campaigns, /api/moves) and takes the team's Slack messages, and a watch
-- window follows the migration. Green on a sandbox; then, on harness databases that must end
-- exactly as they started, the run refused without an application, failing twins (an orphan
-- at preflight, a broken 012, a 012 that loses core rows, an endpoint that fails after the
-- migration, a health check that turns red in the watch window), a database in another state
-- than the fixture, the rerun and `migrun rollback`.
local H = require "helper"
local cjson = require "cjson"
local A = dofile(H.source .. "/tests/seeds/app.lua")
local timed, one, expectation = H.timed, H.one, H.expectation

local PB = "playbooks/week1_cleanup.lua"
local FIXTURE = "sql/week1_cleanup/before.sql"
local M012 = "sql/week1_cleanup/012_remove_unused_features.sql"

-- the routes the playbook calls: Step 5's critical endpoints
local ROUTES = { 'GET /health 200 {"status":"ok"}', "GET /api/campaigns 200 []", "GET /api/moves 200 []" }
local ENDPOINTS = { "GET /health", "GET /api/campaigns", "GET /api/moves" }

local function fresh(extra_sql) return H.seed_db("week1", FIXTURE, extra_sql) end

local function copy_with(file, edit) return H.seed_copy(PB, "week1_cleanup", file, edit) end

-- `migrun --db <name> PB --yes` with a backup dir and a report in dir, against app ("none": no
-- application), a one-second watch window, plus extra arguments
local function run_on(name, app, dir, extra, pb)
  return A.run(app, A.args({ "--db", H.conninfo(name), pb or PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                             "--report", dir .. "/r.md" }, A.vars(app, { for_ = "1s" }), extra or {}))
end

-- a failing run: exit 1 and the database exactly as it was
local function fails_clean(label, name, app, dir, pb)
  local before = H.state(name)
  local r = timed(label, function() return run_on(name, app, dir, nil, pb) end)
  assert.equal(1, r.status, r.stdout .. r.stderr)
  assert.same(before, H.state(name))
  return r.stdout .. r.stderr
end

describe("seed week1_cleanup", function()
  it("runs whole on a sandbox: 52 -> 43 tables, 12/12 queries, the endpoints answer, the team hears the " ..
     "start and the success, the watch window samples the monitoring phase", function()
    local app = A.start(ROUTES)
    local dir = H.tmpdir()
    local r = timed("week1_cleanup whole (sandbox)", function()
      return A.run(app, A.args({ "--sandbox", "--load", FIXTURE, PB, "--yes", "--report", dir .. "/r.md",
                                 "--set", "backup_dir=" .. dir .. "/backups" }, A.vars(app, { for_ = "3s" })))
    end)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end

    -- before: 52 tables, 38 foreign keys, 16 policies, 3 conflicts, 9 unused tables; and the
    -- application given
    assert.equal("52", expectation(doc, "(preflight)", "tables(public) = 52").actual)
    assert.equal("38", expectation(doc, "(preflight)", "foreign_keys = 38").actual)
    assert.equal("16", expectation(doc, "(preflight)", "policies = 16").actual)
    assert.equal("3", expectation(doc, "(preflight)", "3 schema conflicts present").actual)
    assert.equal(app.url, expectation(doc, "(preflight)",
                                      "the application: --set app=URL (or app=none to run without it)").actual)

    -- after: 43 tables, 42 foreign keys, 18 policies, and the 12 verification queries pass
    assert.equal("43", expectation(doc, "012 remove unused features", "remaining_tables = 43").actual)
    assert.equal("42", expectation(doc, "(verify)", "Q4.1 foreign keys = 42 (all intact)").actual)
    assert.equal("18", expectation(doc, "(verify)", "Q5.1 RLS policies = 18 (all active)").actual)
    assert.equal("24 of 24 filled", expectation(doc, "(verify)", "Q1.2 agent_trust_scores filled_count = total").actual)
    local queries = 0
    for _, e in ipairs(doc.expectations) do
      if e.phase == "(verify)" and e.description:match("^Q%d%.%d ") then queries = queries + 1 end
    end
    assert.equal(12, queries)

    -- the application: the team told of the start, the three endpoints checked after the
    -- migration (the final verify), /health at every tick of the watch, the team told of the end
    assert.same(A.args({ "notify" }, ENDPOINTS, { "GET /health", "notify" }), A.squeeze(seen, "GET /health"))
    local checks = A.expectations(doc, "http GET " .. app.url, "(verify)")
    assert.equal(3, #checks)
    for _, e in ipairs(checks) do assert.truthy(e.actual:find("^200 in "), e.actual) end
    assert.truthy(notices[1]:find("playbook *week1-cleanup*", 1, true), notices[1])
    assert.truthy(notices[1]:find("started", 1, true), notices[1])
    assert.truthy(notices[2]:find("succeeded", 1, true), notices[2])
    assert.truthy(notices[2]:find("report: " .. dir .. "/r.md", 1, true), notices[2])
    assert.same({ "notify start ok", "notify success ok" }, A.calls(doc))

    -- the watch window: sampled, its health check green at every tick, nothing breached
    local w = doc.watch[1]
    assert.equal("monitoring (10:00-12:00)", w.name)
    assert.equal("rollback", w.on_breach)
    assert.equal(0, #w.breaches)
    assert.truthy(#w.samples >= 1)
    for _, s in ipairs(w.samples) do assert.equal(0, s.metrics.expect_failed) end

    -- both phases within their budgets, and the 9 tables (113 rows) gone
    assert.equal("400ms", doc.phases[1].budget)
    assert.equal("400ms", doc.phases[2].budget)
    local gone = 0
    for _, t in ipairs(doc.tables) do
      if t.after == nil or t.after == cjson.null then gone = gone + 1 end
    end
    assert.equal(9, gone)
    assert.truthy(doc.backup and doc.backup.sha256, "the report names the verified backup")
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("## Hooks and notifications", 1, true), md)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr, md = md, json = H.read(dir .. "/r.json") }) do
      assert.is_false(A.leaks(text), where .. " shows the webhook's secret")
    end
    H.rmtree(dir)
  end)

  it("refuses to run without --set app: the preflight says what is missing, nothing is touched (exit 1)", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = H.migrun({ "--db", H.conninfo(name), PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                         "--report", dir .. "/r.md" }, { cwd = H.source })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("expect the application: --set app=URL (or app=none to run without it)  FAILED  " ..
                           "(actual not set, expected --set app=URL, or --set app=none)", 1, true), out)
    assert.truthy(out:find("preflight failed: nothing was changed", 1, true), out)
    assert.same(before, H.state(name))
    assert.is_nil(require("lfs").attributes(dir .. "/backups"))      -- refused before the backup
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("stops at the go/no-go gate without --yes: the six questions, exit 4, nothing changed", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = H.migrun(A.args({ "--db", H.conninfo(name), PB, "--set", "backup_dir=" .. dir,
                                "--report", dir .. "/r.md" }, A.vars("none")), { cwd = H.source })
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
    local dir = H.tmpdir()
    local out = fails_clean("week1_cleanup twin: orphan at preflight", name, "none", dir)
    assert.truthy(out:find("no_orphans(agent_trust_scores.agent_id -> agents.id)  FAILED  (actual 1, expected 0)",
                           1, true), out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a broken 012 fails with file:line, 011 is undone, the database is as before", function()
    local copy = copy_with(M012, function(s)
      -- a typo'd table name, and IF EXISTS gone: the drop fails on the server
      return s:gsub("DROP TABLE IF EXISTS\n  quests, quest_moves,", "DROP TABLE\n  quests, quest_movez,")
    end)
    local name = fresh()
    local out = fails_clean("week1_cleanup twin: broken 012", name, "none", copy, copy .. "/" .. PB)
    assert.truthy(out:find("012_remove_unused_features.sql:9:1: ERROR 42P01", 1, true), out)
    assert.truthy(out:find("011 fix migration conflicts  rolled back", 1, true), out)
    assert.equal(52, one(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    H.drop_db(name)
    H.rmtree(copy)
  end)

  it("twin: a 012 that deletes core rows is rolled back before COMMIT; 011 is undone, every row kept", function()
    -- "clean up the moves the dropped decisions were about": the kind of extra line that
    -- loses data the runbook promises to keep
    local copy = copy_with(M012, function(s)
      return s:gsub("%-%- migrun:allow ban%-drop%-table", "DELETE FROM moves WHERE id IN (SELECT move_id FROM " ..
                                                          "move_decisions);\n%0", 1)
    end)
    local name = fresh()
    local out = fails_clean("week1_cleanup twin: 012 loses core rows", name, "none", copy, copy .. "/" .. PB)
    assert.truthy(out:find("delta(moves) = 0  FAILED  (actual -20, expected 0)", 1, true), out)
    assert.truthy(out:find("011 fix migration conflicts  rolled back", 1, true), out)
    assert.equal(80, one(name, "SELECT count(*) FROM moves"))
    H.drop_db(name)
    H.rmtree(copy)
  end)

  it("twin: /api/moves answers 503 after the migration: the final verify fails, both phases are rolled " ..
     "back, the team hears the failure", function()
    local app = A.start({ 'GET /health 200 {"status":"ok"}', "GET /api/campaigns 200 []",
                          'GET /api/moves 503 {"error":"relation \\"quest_moves\\" does not exist"}' })
    local name = fresh()
    local dir = H.tmpdir()
    local out = fails_clean("week1_cleanup twin: endpoint 503", name, app, dir)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.truthy(out:find("http GET " .. app.url .. "/api/moves: status 200, within 5s  FAILED  (actual 503: ",
                           1, true), out)
    assert.truthy(out:find("012 remove unused features  rolled back", 1, true), out)
    assert.truthy(out:find("011 fix migration conflicts  rolled back", 1, true), out)
    -- the endpoints were asked once each, in order; no watch window after a failed run
    assert.same(A.args({ "notify" }, ENDPOINTS, { "notify" }), seen)
    assert.truthy(notices[2]:find("failed, rolled back", 1, true), notices[2])
    assert.truthy(notices[2]:find("phase: (verify)", 1, true), notices[2])
    assert.equal(30, one(name, "SELECT count(*) FROM notifications"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: /health turns red in the watch window: the breach rolls the migration back (exit 1)", function()
    local app = A.start(ROUTES)
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local out, err = dir .. "/out.txt", dir .. "/err.txt"
    local h = H.spawn_migrun(A.args({ "--db", H.conninfo(name), H.source .. "/" .. PB, "--yes",
                                      "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" },
                                    A.vars(app, { for_ = "60s" })),
                             { env = A.env(app), stdout = out, stderr = err })
    -- the final verify asked /api/moves last: the migration is committed and the window opens
    H.eventually(function() return #app:calls("/api/moves") > 0 end, 120000)
    app:route('GET /health 503 {"status":"degraded"}')
    local st = H.eventually(function() return h:wait(50) end, 120000)
    local text = H.read(out) .. H.read(err)
    local notices = A.notices(app)
    app:stop()
    assert.equal(1, st.status, text)
    assert.truthy(text:find("BREACH expect http GET " .. app.url .. "/health: status 200, within 5s failed: " ..
                            "actual 503", 1, true), text)
    assert.truthy(text:find("on_breach = \"rollback\": undoing 2 applied phase(s)", 1, true), text)
    -- the 9 tables are back with their 113 rows, and everything else as it was
    assert.same(before, H.state(name))
    assert.equal(30, one(name, "SELECT count(*) FROM notifications"))
    -- a new quest gets the next id, not one a restored row holds
    assert.equal(7, one(name, "INSERT INTO quests (title) VALUES ('next') RETURNING id"))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("breach: rolled back", doc.watch[1].outcome)
    assert.truthy(notices[#notices]:find("failed", 1, true), notices[#notices])
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("runs on a database in another state (more rows everywhere), reruns as a no-op, and " ..
     "`migrun rollback` restores it exactly", function()
    -- production is not the fixture: more campaigns, moves, agents, scores and quests
    local name = fresh([[
      INSERT INTO campaigns (workspace_id, name)
      SELECT '10000000-0000-4000-8000-000000000002', 'Later campaign ' || g FROM generate_series(1, 7) g;
      INSERT INTO moves (campaign_id, workspace_id, title)
      SELECT 21 + g % 7, '10000000-0000-4000-8000-000000000002', 'Later move ' || g FROM generate_series(1, 33) g;
      INSERT INTO agents (workspace_id, name) VALUES ('10000000-0000-4000-8000-000000000004', 'Agent 13');
      INSERT INTO agent_trust_scores (agent_id, score) SELECT 1 + g % 13, 0.9 FROM generate_series(1, 11) g;
      INSERT INTO agent_recommendations (agent_id, recommendation) VALUES (13, 'Later recommendation');
      INSERT INTO competitors (org_id, name) VALUES ('10000000-0000-4000-8000-000000000003', 'Later rival');
      INSERT INTO quests (title) VALUES ('Later quest');]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("week1_cleanup on another state", function() return run_on(name, "none", dir) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    -- the relative checks held on other numbers; the runbook's absolute targets as well
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("35 of 35 filled", expectation(doc, "(verify)", "Q1.2 agent_trust_scores filled_count = total").actual)
    assert.is_true(expectation(doc, "(verify)", "Q3.2 moves intact: unchanged(moves)").ok)
    assert.equal("113 rows, fingerprint", expectation(doc, "(verify)", "Q3.2 moves intact: unchanged(moves)")
                                            .actual:match("^%d+ rows, fingerprint"))
    assert.equal("43", expectation(doc, "(verify)", "tables(public) = 43").actual)
    -- the run without an application said so, right before the first phase
    assert.truthy(r.stdout:find("warning: no application (--set app=none): /health, /api/campaigns and /api/moves " ..
                                "are not checked", 1, true), r.stdout)
    local after = H.state(name)
    local again = run_on(name, "none", H.tmpdir())
    assert.equal(0, again.status, again.stdout .. again.stderr)
    assert.truthy(again.stdout:find("already applied", 1, true), again.stdout)
    assert.same(after, H.state(name))
    -- a new process: the 012 rollback finds the run's snapshot in backup_dir by itself
    local rb = timed("week1_cleanup migrun rollback", function()
      return H.run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. dir .. "/backups" })
    end)
    assert.equal(0, rb.status, rb.stdout .. rb.stderr)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
