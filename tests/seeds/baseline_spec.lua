-- Seed "baseline": the consolidated-baseline runbook as playbooks/baseline.lua, run by the real
-- binary, whole: the fake application is put into maintenance mode and out of it, answers the
-- endpoint tests of step 11 and takes the team's Slack messages, and a watch window follows.
-- Green on a sandbox; on harness databases: the refusal without an application, idempotence
-- and rollback, a database in another state, and failing twins (an orphan at preflight, a
-- broken statement, maintenance mode refused, an endpoint failing after the push, an RLS
-- policy that lets a member write) that must leave the database exactly as it was, with
-- maintenance mode off again.
local H = require "helper"
local cjson = require "cjson"
local lfs = require "lfs"
local A = dofile(H.source .. "/tests/seeds/app.lua")
local timed, one, expectation = H.timed, H.one, H.expectation

local PB = "playbooks/baseline.lua"
local FIXTURE = "sql/baseline/before.sql"
local BASELINE = "sql/baseline/20250906200000_consolidated_baseline.sql"

local ROUTES = { "POST /admin/maintenance-mode 204", "DELETE /admin/maintenance-mode 204",
                 'GET /api/health 200 {"status":"ok"}', 'GET /api/objects 200 [{"id":1}]',
                 'GET /api/chakai 200 [{"id":1}]' }
local ON, OFF = "POST /admin/maintenance-mode", "DELETE /admin/maintenance-mode"
local ENDPOINTS = { "GET /api/health", "GET /api/objects?limit=1", "GET /api/chakai?limit=1" }
local DATA = { "objects", "media", "accounts", "chakai", "local_classes" }

local function fresh(extra_sql) return H.seed_db("baseline", FIXTURE, extra_sql) end

local function files_in(dir)
  local n = 0
  if lfs.attributes(dir, "mode") ~= "directory" then return 0 end
  for f in lfs.dir(dir) do if f ~= "." and f ~= ".." then n = n + 1 end end
  return n
end

-- `migrun --db <name> PB --yes` with backups and the report in dir, against app ("none": no
-- application) and a one-second watch window
local function run_on(name, app, dir, pb)
  return A.run(app, A.args({ "--db", H.conninfo(name), pb or PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                             "--report", dir .. "/r.md" }, A.vars(app, { for_ = "1s" })))
end

-- a failing run: exit 1 and the database exactly as it was
local function fails_clean(label, name, app, dir, pb)
  local before = H.state(name)
  local r = timed(label, function() return run_on(name, app, dir, pb) end)
  assert.equal(1, r.status, r.stdout .. r.stderr)
  assert.same(before, H.state(name))
  return r.stdout .. r.stderr
end

describe("seed baseline", function()
  it("runs whole on a sandbox: maintenance mode on, the push, every check, the endpoints, maintenance mode " ..
     "off, the watch window, the team told", function()
    local app = A.start(ROUTES)
    local dir = H.tmpdir()
    local r = timed("baseline whole (sandbox)", function()
      return A.run(app, A.args({ "--sandbox", "--load", FIXTURE, PB, "--yes", "--report", dir .. "/r.md",
                                 "--set", "backup_dir=" .. dir .. "/backups" }, A.vars(app, { for_ = "3s" })))
    end)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.equal("applied", doc.phases[1].status)
    assert.equal("15m", doc.phases[1].budget)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end

    -- the application: the team told, maintenance mode on before the push, the three endpoint
    -- tests after it (still in maintenance mode), maintenance mode off, /api/health at every
    -- tick of the watch with the users back, the team told of the success
    assert.same(A.args({ "notify", ON }, ENDPOINTS, { OFF, "GET /api/health", "notify" }),
                A.squeeze(seen, "GET /api/health"))
    assert.truthy(r.stdout:find("hook before: POST " .. app.url .. "/admin/maintenance-mode (204)", 1, true), r.stdout)
    assert.truthy(r.stdout:find("hook always: DELETE " .. app.url .. "/admin/maintenance-mode (204)", 1, true),
                  r.stdout)
    -- maintenance mode went on before the phase started, and came off after the final verify
    assert.truthy(r.stdout:find("hook before: POST.-step the application is quiet.-hook always: DELETE"), r.stdout)
    assert.same({ "notify start ok", "hook before ok", "hook always ok", "notify success ok" }, A.calls(doc))
    local checks = A.expectations(doc, "http GET " .. app.url, "(verify)")
    assert.equal(3, #checks)
    assert.truthy(notices[1]:find("started", 1, true), notices[1])
    assert.truthy(notices[2]:find("succeeded", 1, true), notices[2])
    local w = doc.watch[1]
    assert.equal("production monitoring (T+60 to T+120)", w.name)
    assert.equal("alert", w.on_breach)
    assert.equal(0, #w.breaches)
    assert.truthy(#w.samples >= 1)

    -- the completion report's numbers (step 14): the five data tables as they were
    for _, t in ipairs(DATA) do
      assert.is_true(expectation(doc, "(verify)", "unchanged(" .. t .. ")").ok)
      assert.is_true(expectation(doc, "(protect)", "protect " .. t .. " (same)").ok)
    end
    assert.equal("412 rows", expectation(doc, "(verify)", "unchanged(objects)").actual:match("^%d+ rows"))
    assert.equal("1", expectation(doc, "(verify)", "delta(supabase_migrations.schema_migrations) = +1").actual)
    assert.equal("11", expectation(doc, "apply consolidated baseline", "policies = 11").actual)
    assert.equal("6", expectation(doc, "apply consolidated baseline", "foreign_keys = 6").actual)
    assert.is_true(expectation(doc, "apply consolidated baseline",
      "swap_local_class_sort_order swaps two classes; both local_class triggers fire").ok)
    assert.is_true(expectation(doc, "apply consolidated baseline",
      "the baseline is idempotent: a second application changes nothing").ok)
    assert.equal("same", expectation(doc, "(verify)", "schema(../sql/baseline/consolidated_schema.sql)").actual)

    -- RLS as the API's real roles: a visitor sees the public rows, a member her own, an admin all
    assert.equal("sees objects 371, media 1113, accounts 0, chakai 12, chakai_objects 48, local_classes 9; " ..
                 "insert a class refused (42501); reorder refused (42501)",
      expectation(doc, "apply consolidated baseline",
                  "RLS as anon (a visitor): public rows only, no account, no writes, no reordering").actual)
    local member = expectation(doc, "apply consolidated baseline", "RLS as authenticated (a member): own account " ..
                               "and objects, writes only to own objects, no classes").actual
    assert.truthy(member:find("accounts 1,", 1, true), member)
    assert.truthy(member:find("insert own object ok, someone else's refused (42501); update someone else's " ..
                              "object: 0 rows; insert a class refused (42501)", 1, true), member)
    local admin = expectation(doc, "apply consolidated baseline", "RLS as authenticated (an admin): every account, " ..
                              "classes written and reordered").actual
    assert.truthy(admin:find("accounts 58,.*insert a class ok; reorder ok"), admin)

    -- the backup of steps 3-4: on disk, checksummed
    assert.truthy(doc.backup and doc.backup.sha256 and #doc.backup.sha256 == 64)
    assert.truthy(lfs.attributes(doc.backup.file, "size") > 0)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| hook | before | POST " .. app.url .. "/admin/maintenance-mode", 1, true), md)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr, md = md, json = H.read(dir .. "/r.json") }) do
      assert.is_false(A.leaks(text), where .. " shows the webhook's secret")
    end
    H.rmtree(dir)
  end)

  it("refuses to run without --set app: the preflight says what is missing, before the backup (exit 1)", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = H.migrun({ "--db", H.conninfo(name), PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                         "--report", dir .. "/r.md" }, { cwd = H.source })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("expect the application: --set app=URL (or app=none to run without it)  FAILED  " ..
                           "(actual not set", 1, true), out)
    assert.truthy(out:find("preflight failed: nothing was changed", 1, true), out)
    assert.same(before, H.state(name))
    assert.equal(0, files_in(dir .. "/backups"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("applies to a database in another state (more rows), applies again as a no-op, and rolls back exactly",
     function()
    -- production is not the fixture: more objects (one private), media, chakai, classes
    local name = fresh([[
      INSERT INTO public.objects (id, owner_id, name, category, is_public)
      SELECT 412 + g, md5('account-' || (4 + g))::uuid, 'Later object ' || g, 'chawan', g % 2 = 0
      FROM generate_series(1, 9) g;
      SELECT setval(pg_get_serial_sequence('public.objects', 'id'), 421);
      INSERT INTO public.media (id, object_id, storage_path, mime_type)
      SELECT 1236 + g, 412 + g, 'later/' || g || '.jpg', 'image/jpeg' FROM generate_series(1, 9) g;
      INSERT INTO public.chakai (id, host_id, title, event_date, visibility)
      VALUES (38, md5('account-5')::uuid, 'Later chakai', date '2025-09-01', 'members');
      INSERT INTO public.local_classes (id, title, sort_order) VALUES (md5('class-10')::uuid, 'Later class', 100);]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("baseline on another state", function() return run_on(name, "none", dir) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning: no application (--set app=none): no maintenance mode", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    assert.equal("421 rows", expectation(doc, "(verify)", "unchanged(objects)").actual:match("^%d+ rows"))
    assert.equal("10 rows", expectation(doc, "(verify)", "unchanged(local_classes)").actual:match("^%d+ rows"))
    local applied = H.state(name)
    -- the file itself is idempotent: a second application changes neither schema nor data
    H.load(name, H.source .. "/" .. BASELINE)
    assert.same(applied, H.state(name))
    -- and so is the playbook: a second run has nothing to do
    r = run_on(name, "none", H.tmpdir())
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("already applied", 1, true), r.stdout)
    assert.same(applied, H.state(name))
    -- the swap check ran inside the phase and left the data alone
    assert.equal(10, one(name, "SELECT sort_order FROM local_classes WHERE title = 'Urasenke class 1'"))
    -- anon could reorder classes before, not after
    assert.is_false(one(name, [[SELECT has_function_privilege('anon',
      'public.swap_local_class_sort_order(uuid, uuid)', 'EXECUTE')]]))
    -- migrun rollback: the pre-baseline schema back, every row kept
    r = H.run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    assert.equal(23, one(name, "SELECT count(*) FROM supabase_migrations.schema_migrations"))
    assert.is_true(one(name, [[SELECT has_function_privilege('anon',
      'public.swap_local_class_sort_order(uuid, uuid)', 'EXECUTE')]]))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: an orphaned media row (the FK conflict) stops the run at preflight, before the backup", function()
    local dir = H.tmpdir()
    local name = fresh("UPDATE media SET object_id = 4120 WHERE id = 1236")   -- its object was deleted
    local out = fails_clean("baseline twin: orphaned media row", name, "none", dir)
    assert.truthy(out:find("no_orphans(media.object_id -> objects.id)", 1, true), out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    assert.equal(0, files_in(dir .. "/backups"))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local e = expectation(doc, "(preflight)", "no_orphans(media.object_id -> objects.id)")
    assert.is_false(e.ok)
    assert.equal("1", e.actual)
    assert.equal(0, one(name, "SELECT count(*) FROM pg_constraint WHERE conname = 'media_object_id_fkey'"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a broken statement in the baseline fails at file:line:col, is rolled back, maintenance mode " ..
     "comes off and the team hears it", function()
    local copy = H.seed_copy(PB, "baseline", BASELINE, function(s)
      return s:gsub("ON public%.chakai %(event_date%)", "ON public.chakai (event_day)")
    end)
    local text = H.read(copy .. "/" .. BASELINE)
    -- the statement is one line; the server gives no position for a missing index column, so
    -- the error points at the start of the statement
    local line = H.line_of(text, "event_day")
    local app = A.start(ROUTES)
    local name = fresh()
    local out = fails_clean("baseline twin: broken SQL", name, app, copy, copy .. "/" .. PB)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.truthy(out:find(string.format("20250906200000_consolidated_baseline.sql:%d:1: ERROR 42703", line),
                           1, true), out)
    assert.same({ "notify", ON, OFF, "notify" }, seen)
    assert.truthy(notices[2]:find(": failed\n", 1, true), notices[2])
    assert.truthy(notices[2]:find("phase: apply consolidated baseline", 1, true), notices[2])
    assert.equal("failed", one(name, [[SELECT status FROM migrun.steps WHERE kind = 'sql'
                                       ORDER BY id DESC LIMIT 1]]))
    H.drop_db(name)
    H.rmtree(copy)
  end)

  it("twin: the application refuses maintenance mode: nothing is pushed, the DELETE still goes out", function()
    local app = A.start(ROUTES)
    app:route('POST /admin/maintenance-mode 503 {"error":"deploy in progress"}')
    local name = fresh()
    local dir = H.tmpdir()
    local out = fails_clean("baseline twin: maintenance mode refused", name, app, dir)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.truthy(out:find("hook before failed (POST " .. app.url .. "/admin/maintenance-mode): 503: " ..
                           '{"error":"deploy in progress"}', 1, true), out)
    assert.same({ "notify", ON, OFF, "notify" }, seen)
    assert.truthy(notices[2]:find("failed", 1, true), notices[2])
    assert.equal(0, one(name, "SELECT count(*) FROM migrun.steps"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: /api/chakai answers 503 after the push: the final verify fails, the baseline is rolled back, " ..
     "then maintenance mode comes off", function()
    local app = A.start(ROUTES)
    app:route('GET /api/chakai 503 {"error":"permission denied for table chakai_objects"}')
    local name = fresh()
    local dir = H.tmpdir()
    local out = fails_clean("baseline twin: endpoint 503", name, app, dir)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.truthy(out:find("http GET " .. app.url .. "/api/chakai?limit=1: status 2xx, within 5s  FAILED  " ..
                           "(actual 503: ", 1, true), out)
    assert.truthy(out:find("apply consolidated baseline  rolled back", 1, true), out)
    -- the rollback comes before maintenance mode is lifted: users never see the failed baseline
    assert.truthy(out:find("rolled back.*hook always: DELETE"), out)
    assert.same(A.args({ "notify", ON }, ENDPOINTS, { OFF, "notify" }), seen)
    assert.truthy(notices[2]:find("failed, rolled back", 1, true), notices[2])
    assert.equal(23, one(name, "SELECT count(*) FROM supabase_migrations.schema_migrations"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: /api/health turns red once users are back: the watch alerts, the baseline stays (exit 0)", function()
    local app = A.start(ROUTES)
    local name = fresh()
    local dir = H.tmpdir()
    local out, err = dir .. "/out.txt", dir .. "/err.txt"
    local h = H.spawn_migrun(A.args({ "--db", H.conninfo(name), H.source .. "/" .. PB, "--yes",
                                      "--set", "backup_dir=" .. dir .. "/backups", "--report", dir .. "/r.md" },
                                    A.vars(app, { for_ = "6s" })),
                             { env = A.env(app), stdout = out, stderr = err })
    -- maintenance mode is off: the users are back, and the window opens
    H.eventually(function() return #app:calls("/admin/maintenance-mode") == 2 end, 120000)
    app:route('GET /api/health 503 {"status":"degraded"}')
    local st = H.eventually(function() return h:wait(50) end, 120000)
    local text = H.read(out) .. H.read(err)
    app:stop()
    assert.equal(0, st.status, text)
    assert.truthy(text:find("BREACH expect http GET " .. app.url .. "/api/health: status 2xx, within 5s failed: " ..
                            "actual 503", 1, true), text)
    assert.truthy(text:find("(on_breach = \"alert\")", 1, true), text)
    -- the runbook keeps the consolidated schema on application issues: still applied
    assert.equal(24, one(name, "SELECT count(*) FROM supabase_migrations.schema_migrations"))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.truthy(doc.watch[1].outcome:find("alerted", 1, true), doc.watch[1].outcome)
    assert.equal("expect_failed", doc.watch[1].breaches[1].metric)
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a class policy that lets any member write is caught by RLS as a member, before COMMIT", function()
    local copy = H.seed_copy(PB, "baseline", BASELINE, function(s)
      -- the last policy of the file: local_classes_write_admin
      return s:gsub("USING %(public%.is_admin%(%)%) WITH CHECK %(public%.is_admin%(%)%);\n  END IF;\nEND",
                    "USING (true) WITH CHECK (true);\n  END IF;\nEND")
    end)
    local name = fresh()
    local out = fails_clean("baseline twin: leaky class policy", name, "none", copy, copy .. "/" .. PB)
    assert.truthy(out:find("RLS as authenticated (a member): own account and objects, writes only to own objects, " ..
                           "no classes  FAILED", 1, true), out)
    assert.truthy(out:find("insert a class ok", 1, true), out)
    assert.truthy(out:find("phase apply consolidated baseline  failed", 1, true), out)
    H.drop_db(name)
    H.rmtree(copy)
  end)
end)
