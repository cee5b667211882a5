-- Hooks and notifications through the real binary, a real sandbox database and the fake
-- application (a real HTTP server that records every call): maintenance mode on before the
-- first phase and off in `always`, whatever the outcome; notifications that never fail a run;
-- every call in the ledger and the report; no secret anywhere.
local H = require "helper"
local cjson = require "cjson"
local fakeapp = require "fakeapp"
local proc = require "migrun.proc"

local TOKEN = "Bearer tok-7f3a9c-SECRET"
local HOOK_PATH = "/hooks/T000/B000/WEBHOOKSECRET42"

local function query(name, sql, ...)
  local c <close> = H.connect(name)
  return c:query(sql, ...)
end

-- the playbook: `extra` goes into the playbook table, `phases` replaces the default phase
local function playbook(dir, extra, phases)
  return H.write(dir .. "/pb.lua", [[
local app = var.app
playbook "hooked" {
  hooks = {
    before = http.post { url = app .. "/admin/maintenance-mode", headers = { Authorization = env.APP_TOKEN } },
    on_failure = http.post { url = app .. "/oncall", json = { what = "migration failed" } },
    always = http.delete { url = app .. "/admin/maintenance-mode", headers = { Authorization = env.APP_TOKEN } },
  },
  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure" } },
]] .. (extra or "") .. (phases or [[
  phase "one" { sql [[CREATE TABLE hk_one (id bigint PRIMARY KEY)]] .. "]]" .. [[,
                rollback = sql [[DROP TABLE hk_one]] .. "]]" .. [[ },
]]) .. "}\n")
end

local function env_for(app)
  return { APP_TOKEN = TOKEN, SLACK_WEBHOOK = app.url .. HOOK_PATH }
end

local function run(name, app, pb, args)
  local argv = { "--db", H.conninfo(name), "--set", "app=" .. app.url }
  for _, a in ipairs(args or { "--yes" }) do argv[#argv + 1] = a end
  argv[#argv + 1] = pb
  return H.migrun(argv, { env = env_for(app) })
end

-- the calls the application saw, as "METHOD path"
local function seen(app)
  local out = {}
  for _, c in ipairs(app:calls()) do out[#out + 1] = c.method .. " " .. c.path end
  return out
end

local function slack_texts(app)
  local out = {}
  for _, c in ipairs(app:calls(HOOK_PATH)) do out[#out + 1] = cjson.decode(c.body).text end
  return out
end

local function assert_no_secret(where, text)
  assert.falsy(text:find("tok-7f3a9c", 1, true), where .. " shows the token:\n" .. text)
  assert.falsy(text:find("WEBHOOKSECRET42", 1, true), where .. " shows the webhook's path:\n" .. text)
end

local ROUTES = {
  "POST /admin/maintenance-mode 204", "DELETE /admin/maintenance-mode 204", "POST /oncall 200 paged",
  "POST " .. HOOK_PATH .. " 200 ok",
}

describe("hooks", function()
  local app, dir, name
  before_each(function()
    app = fakeapp.start { routes = ROUTES }
    dir = H.tmpdir()
    name = H.fresh_db("hooks")
  end)
  after_each(function()
    app:stop()
    H.rmtree(dir)
    H.drop_db(name)
  end)

  it("put the application in maintenance mode before the first phase and take it out after, " ..
     "recorded in the ledger and the report, no secret anywhere", function()
    local pb = playbook(dir)
    local r = run(name, app, pb, { "--yes", "--report", dir .. "/r.md" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "DELETE /admin/maintenance-mode",
                  "POST " .. HOOK_PATH }, seen(app))
    -- the token reached the application, and only the application
    assert.equal(TOKEN, app:calls("/admin/maintenance-mode")[1].headers.authorization)
    local texts = slack_texts(app)
    assert.truthy(texts[1]:find("playbook *hooked*", 1, true), texts[1])
    assert.truthy(texts[1]:find("started", 1, true), texts[1])
    assert.truthy(texts[2]:find("succeeded", 1, true), texts[2])
    assert.truthy(texts[2]:find("report: " .. dir .. "/r.md", 1, true), texts[2])
    assert.truthy(r.stdout:find("hook before: POST " .. app.url .. "/admin/maintenance-mode [Authorization: ***] (204)",
                                1, true), r.stdout)
    local rows = query(name, "SELECT kind, event, name, ok, detail FROM migrun.calls ORDER BY id")
    assert.equal(4, #rows)
    assert.same({ "notify", "start", true }, { rows[1].kind, rows[1].event, rows[1].ok })
    assert.same({ "hook", "before", true, "204" }, { rows[2].kind, rows[2].event, rows[2].ok, rows[2].detail })
    assert.same({ "hook", "always", true }, { rows[3].kind, rows[3].event, rows[3].ok })
    assert.same({ "notify", "success", true }, { rows[4].kind, rows[4].event, rows[4].ok })
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("## Hooks and notifications", 1, true), md)
    assert.truthy(md:find("| hook | always | DELETE " .. app.url .. "/admin/maintenance-mode", 1, true), md)
    assert.truthy(md:find("| notify | success |", 1, true), md)
    local ledger_text = {}
    for _, row in ipairs(query(name, "SELECT name || coalesce(detail, '') AS t FROM migrun.calls")) do
      ledger_text[#ledger_text + 1] = row.t
    end
    for what, text in pairs({ stdout = r.stdout, stderr = r.stderr, report = md, json = H.read(dir .. "/r.json"),
                              ledger = table.concat(ledger_text, "\n") }) do
      assert_no_secret(what, text)
    end
  end)

  it("run on_failure and always after a failed phase was rolled back; the notice names the phase", function()
    local pb = playbook(dir, nil, [[
  phase "one" { sql [[CREATE TABLE hk_one (id bigint PRIMARY KEY)]] .. "]]" .. [[,
                rollback = sql [[DROP TABLE hk_one]] .. "]]" .. [[ },
  phase "two" { sql [[SELECT 1/0]] .. "]]" .. [[ },
]])
    local r = run(name, app, pb)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "POST /oncall",
                  "DELETE /admin/maintenance-mode", "POST " .. HOOK_PATH }, seen(app))
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
    assert.same({ what = "migration failed" }, cjson.decode(app:calls("/oncall")[1].body))
    local last = slack_texts(app)[2]
    assert.truthy(last:find("failed, rolled back", 1, true), last)
    assert.truthy(last:find("phase: two", 1, true), last)
    assert.truthy(last:find("division by zero", 1, true), last)
    -- on_failure runs after the rollback: the rollback's output comes first
    assert.truthy(r.stdout:find("rolled back.*hook on_failure: POST"), r.stdout)
  end)

  it("a before hook that fails stops the run before any phase; always still runs", function()
    app:route("POST /admin/maintenance-mode 503 {\"error\":\"maintenance unavailable\"}")
    local pb = playbook(dir)
    local r = run(name, app, pb)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("hook before failed (POST " .. app.url .. "/admin/maintenance-mode " ..
                                "[Authorization: ***]): 503: {\"error\":\"maintenance unavailable\"}", 1, true),
                  r.stderr)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM migrun.steps")[1].n)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "POST /oncall",
                  "DELETE /admin/maintenance-mode", "POST " .. HOOK_PATH }, seen(app))
    assert_no_secret("stderr", r.stderr)
  end)

  it("a failed always hook after a success is an error and exit 1, the migration stays applied", function()
    app:route("DELETE /admin/maintenance-mode 500 boom")
    local r = run(name, app, playbook(dir))
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("hook always failed", 1, true), r.stderr)
    assert.truthy(r.stderr:find("do by hand", 1, true), r.stderr)
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
    assert.equal("succeeded", query(name, "SELECT status FROM migrun.runs")[1].status)
  end)

  it("after a gate is declined on a terminal, on_failure and always run", function()
    local pb = playbook(dir, nil, [[
  phase "one" { sql [[CREATE TABLE hk_one (id bigint PRIMARY KEY)]] .. "]]" .. [[,
                rollback = sql [[DROP TABLE hk_one]] .. "]]" .. [[ },
  gate "cut-over" { "Ready to switch?" },
  phase "two" { sql [[CREATE TABLE hk_two (id bigint PRIMARY KEY)]] .. "]]" .. [[ },
]])
    local env = env_for(app)
    local res = H.pty({ H.bin, "--db", H.conninfo(name), "--set", "app=" .. app.url, pb },
      { { expect = "Ready to switch\\? \\[y/N\\]", timeout = 30 }, { send = "n\r" } }, { env = env })
    if not res then return end
    assert.equal(4, res.status, res.output)
    local calls = seen(app)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "POST " .. HOOK_PATH, "POST /oncall",
                  "DELETE /admin/maintenance-mode", "POST " .. HOOK_PATH }, calls)
    assert.truthy(slack_texts(app)[2]:find("waiting at a gate", 1, true))
    assert.truthy(slack_texts(app)[2]:find("gate: cut-over", 1, true))
    -- a declined gate keeps what was applied before it (exit 4), and stops there
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_two'")[1].n)
  end)

  it("Ctrl-C during a phase: the phase is undone, on_failure and always run, exit 1", function()
    local pb = playbook(dir, nil, [[
  phase "slow" { sql [[CREATE TABLE hk_one (id bigint PRIMARY KEY); SELECT pg_sleep(60)]] .. "]]" .. [[ },
]])
    local out, err = dir .. "/out.txt", dir .. "/err.txt"
    local h = H.spawn_migrun({ "--db", H.conninfo(name), "--set", "app=" .. app.url, "--yes", pb },
                             { env = env_for(app), stdout = out, stderr = err })
    H.eventually(function()
      local c <close> = H.connect(name)
      return c:query("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' " ..
                     "AND pid <> pg_backend_pid()")[1].n > 0
    end, 30000)
    h:kill(proc.SIGINT)
    local st = H.eventually(function() return h:wait(50) end, 60000)
    local text = H.read(out) .. H.read(err)
    assert.equal(1, st and st.status, text)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "POST /oncall",
                  "DELETE /admin/maintenance-mode", "POST " .. HOOK_PATH }, seen(app))
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
  end)

  it("a dry run and a run with nothing to do call no hook and send no notification", function()
    local pb = playbook(dir)
    local r = run(name, app, pb, { "--yes", "--dry-run" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same({}, seen(app))
    assert.equal(0, run(name, app, pb).status)
    local n = #seen(app)
    assert.equal(0, run(name, app, pb).status)            -- applied already: nothing to do
    assert.equal(n, #seen(app))
  end)
end)

describe("hooks around a watch window", function()
  it("the window opens after `always`; a breach that rolls back runs on_failure and tells the team", function()
    local app = fakeapp.start { routes = ROUTES }
    local dir = H.tmpdir()
    local name = H.fresh_db("hooks")
    local pb = playbook(dir, [[
  watch "after release" { duration = "60s", every = "200ms", connections = { max = 3 }, on_breach = "rollback" },
]])
    pb = H.write(pb, (H.read(pb):gsub('on = { "start", "gate", "success", "failure" }',
                                      'on = { "start", "watch", "success", "failure" }')))
    local out = dir .. "/out"
    local h = H.spawn_migrun({ "--db", H.conninfo(name), "--set", "app=" .. app.url, "--yes", pb },
                             { env = env_for(app), stdout = out, stderr = out .. ".err" })
    H.eventually(function()
      assert.is_nil(h:wait(0), "the run ended before its window opened:\n" .. H.read(out))
      return H.read(out):find("watch after release", 1, true)
    end, 60000)
    local sessions = {}
    for i = 1, 5 do sessions[i] = H.connect(name) end
    local res = H.eventually(function() return h:wait(50) end, 90000)
    for _, c in ipairs(sessions) do c:close() end
    local text = H.read(out) .. H.read(out .. ".err")
    local calls = seen(app)
    local texts = slack_texts(app)
    app:stop()
    assert.equal(1, res.status, text)
    assert.same({ "POST " .. HOOK_PATH, "POST /admin/maintenance-mode", "DELETE /admin/maintenance-mode",
                  "POST " .. HOOK_PATH, "POST /oncall", "POST " .. HOOK_PATH }, calls)
    assert.truthy(texts[2]:find("watch after release: connections", 1, true), texts[2])
    assert.truthy(texts[3]:find("failed", 1, true), texts[3])
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'hk_one'")[1].n)
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)

describe("notifications", function()
  local dir, name
  before_each(function()
    dir = H.tmpdir()
    name = H.fresh_db("notify")
  end)
  after_each(function()
    H.rmtree(dir)
    H.drop_db(name)
  end)

  it("a webhook that fails or cannot be reached is a warning: the migration succeeds", function()
    local app = fakeapp.start { routes = { "POST /admin/maintenance-mode 204", "DELETE /admin/maintenance-mode 204",
                                           "POST " .. HOOK_PATH .. " 500 slack is down" } }
    local r = run(name, app, playbook(dir))
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning: notify start: POST " .. app.url .. "/*** failed (500): the run goes on",
                                1, true), r.stdout)
    assert_no_secret("stdout", r.stdout)
    -- a port where nobody listens: refused, still a warning
    local n2 = H.fresh_db("notify")
    local pb = H.write(dir .. "/pb2.lua", [[
playbook "refused" {
  notify = { webhook = "http://127.0.0.1:9/hook", format = "json" },
  phase "one" { sql [[CREATE TABLE n_one (id bigint PRIMARY KEY)]] .. "]]" .. [[ },
}
]])
    local r2 = H.migrun({ "--db", H.conninfo(n2), "--yes", pb })
    assert.equal(0, r2.status, r2.stdout .. r2.stderr)
    local refused = "warning: notify start: POST http://127.0.0.1:9/*** failed (refused, 2 attempt(s)): the run goes on"
    assert.truthy(r2.stdout:find(refused, 1, true), r2.stdout)
    local rows = query(n2, "SELECT event, ok FROM migrun.calls ORDER BY id")
    assert.same({ { event = "start", ok = false }, { event = "success", ok = false } }, { rows[1], rows[2] })
    assert.equal(2, #rows)
    H.drop_db(n2)
  end)

  it("the JSON form carries the playbook, the target without its password, the phase and the outcome", function()
    local app = fakeapp.start { routes = { "POST /hook 200 ok" } }
    local pb = H.write(dir .. "/pb.lua", [[
playbook "json-notify" {
  notify = { webhook = var.hook, format = "json", on = { "failure" } },
  phase "bad" { sql [[SELECT 1/0]] .. "]]" .. [[ },
}
]])
    local r = H.migrun({ "--db", H.conninfo(name) .. " password=hunter2-pw", "--set", "hook=" .. app.url .. "/hook",
                         "--yes", pb })
    local calls = app:calls("/hook")
    app:stop()
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.equal(1, #calls)
    local m = cjson.decode(calls[1].body)
    assert.equal("failure", m.event)
    assert.equal("json-notify", m.playbook)
    assert.equal("bad", m.phase)
    assert.truthy(m.error:find("division by zero", 1, true), m.error)
    assert.truthy(m.target:find(name, 1, true), m.target)
    assert.falsy(calls[1].body:find("hunter2", 1, true), calls[1].body)
  end)
end)

describe("hooks in the playbook language", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  local function load_error(body)
    local pb = H.write(dir .. "/pb.lua", body)
    local r = H.migrun({ "plan", pb })
    return r, pb
  end

  it("names the file and line of a hook that is not one, an unknown event, a bad URL", function()
    local r, pb = load_error([[
playbook "x" {
  hooks = { befor = function() end },
  phase "p" { sql "SELECT 1" },
}
]])
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find(pb .. ":1:", 1, true) or r.stderr:find(pb .. ":2:", 1, true), r.stderr)
    assert.truthy(r.stderr:find("did you mean 'before'", 1, true), r.stderr)
    r = load_error([[
playbook "x" {
  hooks = { always = http.post { url = "ftp://app/x" } },
  phase "p" { sql "SELECT 1" },
}
]])
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find(":2:", 1, true), r.stderr)
    assert.truthy(r.stderr:find("url must start with http", 1, true), r.stderr)
    r = load_error([[
playbook "x" {
  notify = { webhook = "https://hooks.example.com/x", on = { "succes" } },
  phase "p" { sql "SELECT 1" },
}
]])
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("did you mean 'success'", 1, true), r.stderr)
    r = load_error([[
playbook "x" {
  notify = { webhook = "https://hooks.example.com/x", on = {} },
  phase "p" { sql "SELECT 1" },
}
]])
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("on = {} names no event", 1, true), r.stderr)
  end)

  it("says an http call at the top of a playbook is a hook to send later, when its response is read", function()
    local r = load_error([[
local config = http.get("https://config.internal/flags")
local on = config.status == 200
playbook "x" { phase "p" { sql "SELECT 1" } }
]])
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find(":2: http GET https://config.internal/flags is a request to send later (a hook), " ..
                                "not a response: it has no .status", 1, true), r.stderr)
    -- any error while a playbook loads is the playbook's (exit 2), even before its first DSL name
    r = load_error("local x = nil\nprint(x.y)\nplaybook \"x\" { phase \"p\" { sql \"SELECT 1\" } }\n")
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:2: attempt to index a nil value", 1, true), r.stderr)
  end)

  it("takes a relative cafile from the playbook's directory, and refuses one that is not there", function()
    local body = [[
playbook "x" {
  hooks = { before = http.post { url = "https://app.internal/drain", cafile = "certs/ca.pem" } },
  phase "p" { sql "SELECT 1" },
}
]]
    local r = load_error(body)                       -- H.migrun runs elsewhere than dir
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("cafile cannot be read: " .. dir .. "/certs/ca.pem", 1, true), r.stderr)
    assert(require("lfs").mkdir(dir .. "/certs"))
    H.write(dir .. "/certs/ca.pem", "not checked until a request is made\n")
    r = load_error(body)
    assert.equal(0, r.status, r.stderr)
  end)

  it("http called in a Lua step performs the request at run time; env credentials are secrets", function()
    local app = fakeapp.start { routes = { 'GET /api/flags 200 {"new_search":true}' } }
    local name = H.fresh_db("hooks")
    local pb = H.write(dir .. "/pb.lua", [[
playbook "lua-http" {
  phase "ask" {
    step "read flags" (function(db, run)
      local res = http.get { url = var.app .. "/api/flags", headers = { ["X-Token"] = env.APP_TOKEN } }
      run.log("token is " .. tostring(env.APP_TOKEN) .. ", new_search = " .. tostring(res.json.new_search))
      db:exec("CREATE TABLE flags_seen (ok boolean)")
    end),
  },
}
]])
    local r = H.migrun({ "--db", H.conninfo(name), "--set", "app=" .. app.url, "--yes", pb },
                       { env = { APP_TOKEN = "tok-7f3a9c" } })
    local calls = app:calls("/api/flags")
    app:stop()
    H.drop_db(name)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(1, #calls)
    assert.equal("tok-7f3a9c", calls[1].headers["x-token"])
    assert.truthy(r.stdout:find("token is ***, new_search = true", 1, true), r.stdout)
  end)
end)
