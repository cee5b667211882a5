-- watch "name" { ... }: the window after the last phase, through the real binary and a real
-- sandbox database. Every breach comes from the real thing: sessions that roll back, a real
-- deadlock, real sessions over a connection limit, a sort that spills to disk, a session
-- waiting on a lock, an application whose health check turns red, and the failing twin: a
-- phase that drops the index a hot query needs while a second process runs that query in a
-- loop. Windows are seconds long (every = "200ms"-ish); a breach ends them early.
local H = require "helper"
local cjson = require "cjson"
local fakeapp = require "fakeapp"
local proc = require "migrun.proc"

local function query(name, sql, ...)
  local c <close> = H.connect(name)
  return c:query(sql, ...)
end

-- a fresh database with pg_stat_statements (the sandbox preloads its library)
local function fresh_db()
  local name = H.fresh_db("watch")
  query(name, "CREATE EXTENSION pg_stat_statements")
  return name
end

local function playbook(text)
  local dir = H.tmpdir()
  H.write(dir .. "/pb.lua", text)
  return dir .. "/pb.lua", dir
end

-- a phase that creates a table, undone by dropping it
local PHASE = [=[
  phase "create w_new" { sql [[CREATE TABLE w_new (id int PRIMARY KEY)]],
                         rollback = sql [[DROP TABLE w_new]] },
]=]

local function exists(name, rel)
  return query(name, "SELECT to_regclass($1) IS NOT NULL AS e", rel)[1].e
end

-- the run's ledger row
local function run_row(name)
  return query(name, "SELECT id, status, error FROM migrun.runs ORDER BY id DESC LIMIT 1")[1]
end

-- the ledger's samples of a run, oldest first: {tick, at, metrics = {...}, breaches = {...} | nil}
local function samples(name)
  local out = {}
  local ok, res = pcall(query, name, [[SELECT tick, at_seconds::float8 AS at, metrics::text AS m, breaches::text AS b
                                       FROM migrun.watch_samples ORDER BY id]])
  if not ok then return out end
  for i = 1, res.n do
    local r = res[i]
    out[i] = { tick = r.tick, at = r.at, metrics = cjson.decode(r.m), breaches = r.b and cjson.decode(r.b) }
  end
  return out
end

-- the window is open once its first tick is in the ledger
local function window_open(name, h, out)
  H.eventually(function()
    assert.is_nil(h:wait(0), "the run ended before its window opened:\n" .. H.read(out))
    local s = samples(name)
    return #s > 0 and s[#s].tick >= 1
  end, 30000)
end

-- spawn `migrun --db NAME --report DIR/r.md PB ARGS...`: the handle and the output's file
local function spawn(name, pb, dir, args)
  local argv = { "--db", H.conninfo(name), "--report", dir .. "/r.md" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = pb
  local out = dir .. "/out"
  return H.spawn_migrun(argv, { stdout = out, stderr = out }), out
end

local function finish(h, out)
  local res = H.eventually(function() return h:wait(50) end, 90000)
  return res, H.read(out)
end

-- a breach of one figure in the JSON report's windows
local function breach_of(doc, metric)
  for _, w in ipairs(doc.watch or {}) do
    for _, b in ipairs(w.breaches) do if b.metric == metric then return b end end
  end
end

describe("watch: the window after the last phase", function()
  it("records the baseline and every sample in the ledger, and the reports show each figure", function()
    local name = fresh_db()
    query(name, "CREATE TABLE hot (id int PRIMARY KEY, k int NOT NULL); " ..
                "INSERT INTO hot SELECT g, g % 1000 FROM generate_series(1, 20000) g; CREATE INDEX hot_k ON hot (k)")
    local c <close> = H.connect(name)
    for i = 1, 60 do c:query("SELECT count(*) AS n FROM hot WHERE k = $1", i) end
    local pb, dir = playbook([=[
playbook "figures" {
]=] .. PHASE .. [=[
  watch "after release" { duration = var("watch_for", "30m"), every = "250ms",
    slower = { queries = "900%", min_calls = 10 }, rollback_rate = "50%", deadlocks = 3, temp_bytes = "1GB",
    connections = { max = 50 }, lock_waits = { max = 10 },
    expect = { expect.query("SELECT count(*) FROM hot", 20000) }, on_breach = "stop" },
}]=])
    local h, out = spawn(name, pb, dir, { "--set", "watch_for=1500ms" })
    -- the application's traffic: the same query, from this spec, until the run ends
    while not h:wait(0) do c:query("SELECT count(*) AS n FROM hot WHERE k = $1", math.random(1, 999)) end
    local res, text = finish(h, out)
    assert.equal(0, res.status, text)
    assert.truthy(text:find("watch after release 1%.5%ds/1%.50s: commits %d+"), text)

    -- the ledger: tick 0 is the baseline, then one row a tick, 250 ms apart
    local s = samples(name)
    assert.equal(0, s[1].tick)
    assert.truthy(s[1].metrics.commits_total > 0 and s[1].metrics.queries >= 1, cjson.encode(s[1].metrics))
    assert.equal(7, #s, cjson.encode(s))
    for i = 2, 7 do
      assert.equal(i - 1, s[i].tick)
      assert.near(0.25 * (i - 1), s[i].at, 0.2)
    end
    local last = s[7].metrics
    for _, fig in ipairs({ "commits", "rollbacks", "rollback_rate_pct", "deadlocks", "temp_bytes", "connections",
                           "lock_waits", "slower_pct", "queries_compared", "expect_failed" }) do
      assert.is_number(last[fig], fig .. " missing: " .. cjson.encode(last))
    end
    local commits = 0
    for i = 2, 7 do commits = commits + s[i].metrics.commits end
    assert.truthy(commits > 0, "the spec's queries are commits: " .. cjson.encode(s))
    assert.truthy(last.queries_compared >= 1, cjson.encode(last))
    assert.equal(0, last.expect_failed)
    assert.equal("succeeded", run_row(name).status)

    -- the reports: Markdown and JSON from the run, HTML rebuilt from the ledger
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("## Watch", 1, true), md)
    for _, col in ipairs({ "Commits", "Rollbacks", "Rollback rate", "Deadlocks", "Temp files", "Connections",
                           "Lock waits", "Slowest query", "Queries compared", "Expectations failed" }) do
      assert.truthy(md:find("| " .. col .. " |", 1, true), col .. "\n" .. md)
    end
    assert.truthy(md:find("SELECT count(*) AS n FROM hot WHERE k = $1", 1, true), md)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(6, #doc.watch[1].samples)
    assert.equal("completed", doc.watch[1].outcome)
    assert.equal(50, doc.watch[1].thresholds.connections.max)
    local e = H.expectation(doc, "(watch after release)", "query(SELECT count(*) FROM hot) = 20000")
    assert.is_true(e.ok)
    local r = H.migrun({ "report", tostring(run_row(name).id), "--db", H.conninfo(name), "--report", dir .. "/r.html" })
    assert.equal(0, r.status, r.stderr)
    local page = H.read(dir .. "/r.html")
    for _, fig in ipairs({ "commits", "rollbacks", "rollback_rate_pct", "deadlocks", "temp_bytes", "connections",
                           "lock_waits", "slower_pct" }) do
      assert.truthy(page:find("<h3>" .. fig .. "</h3>", 1, true), fig)
    end
  end)

  it("--json: one watch_sample event a tick", function()
    local name = fresh_db()
    local pb = playbook([=[
playbook "json" {
]=] .. PHASE .. [=[
  watch "w" { duration = "600ms", every = "200ms", deadlocks = 0 },
}]=])
    local r = H.migrun({ "--db", H.conninfo(name), "--json", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local ticks = {}
    for line in r.stdout:gmatch("[^\n]+") do
      local ev = cjson.decode(line)
      if ev.event == "watch_sample" then ticks[#ticks + 1] = ev end
    end
    assert.equal(3, #ticks, r.stdout)
    assert.equal("w", ticks[3].watch)
    assert.equal(0, ticks[3].metrics.deadlocks)
    assert.is_nil(r.stdout:find("watch w 200ms", 1, true))       -- no plain line in JSON mode
  end)

  it("on_breach = \"stop\": real sessions over connections.max end the window, nothing undone (exit 1)", function()
    local name = fresh_db()
    local pb, dir = playbook([=[
playbook "stop" {
]=] .. PHASE .. [=[
  watch "conns" { duration = "60s", every = "200ms", connections = { max = 3 }, on_breach = "stop" },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    local sessions = {}
    for i = 1, 5 do sessions[i] = H.connect(name) end
    local res, text = finish(h, out)
    for _, s in ipairs(sessions) do s:close() end
    assert.equal(1, res.status, text)
    assert.truthy(text:find("BREACH connections: %d, more than the 3 allowed"), text)
    assert.truthy(text:find("nothing is undone", 1, true), text)
    assert.is_true(exists(name, "w_new"))
    assert.equal("watch_stopped", run_row(name).status)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.truthy(breach_of(doc, "connections").value > 3)
    assert.equal("(watch conns)", doc.outcome.failed_phase)
  end)

  it("on_breach = \"alert\": rolled-back transactions, a spilled sort and a lock wait are reported, " ..
     "and the window runs to its end", function()
    local name = fresh_db()
    query(name, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g")
    local pb, dir = playbook([=[
playbook "alert" {
]=] .. PHASE .. [=[
  watch "loose" { duration = "5s", every = "200ms", rollback_rate = "2%", temp_bytes = "1MB",
                  lock_waits = { max = 0 }, on_breach = "alert" },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    do
      local c <close> = H.connect(name)
      for i = 1, 30 do
        c:exec("BEGIN")
        c:exec("INSERT INTO t VALUES ($1, 1)", 1000 + i)
        c:exec("ROLLBACK")
      end
      c:exec("SET work_mem = '64kB'")
      c:query("SELECT count(*) AS n FROM (SELECT md5(g::text) FROM generate_series(1, 100000) g ORDER BY 1) s")
    end                                                -- closed: its statistics are flushed
    local holder <close> = H.connect(name)
    local waiter <close> = H.connect(name)
    holder:exec("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    waiter:send("SELECT count(*) AS n FROM t")
    H.eventually(function()
      for _, s in ipairs(samples(name)) do if (s.metrics.lock_waits or 0) >= 1 then return true end end
    end, 20000)
    holder:exec("COMMIT")
    waiter:wait()
    local res, text = finish(h, out)
    assert.equal(0, res.status, text)
    assert.truthy(text:find("BREACH rollback rate", 1, true), text)
    assert.truthy(text:find("no notification is configured", 1, true), text)
    local s = samples(name)
    assert.equal(25, s[#s].tick, "the window ran to its end")
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.truthy(breach_of(doc, "rollback_rate_pct").value > 50)
    assert.truthy(breach_of(doc, "temp_bytes").value > 1024 * 1024)
    assert.truthy(breach_of(doc, "lock_waits").value >= 1)
    assert.equal(3, #doc.watch[1].breaches, "each breach once, not once a tick")
    assert.equal("succeeded", run_row(name).status)
    assert.truthy(H.read(dir .. "/r.md"):find("Breaches (each the first time it was seen)", 1, true))
  end)

  it("a lost connection is a `sampling` breach: alerted, migrun reconnects and the window goes on", function()
    local name = fresh_db()
    local pb, dir = playbook([=[
playbook "reconnect" {
]=] .. PHASE .. [=[
  watch "steady" { duration = "3s", every = "200ms", deadlocks = 0, on_breach = "alert" },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    local n = query(name, [[SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                            WHERE datname = current_database() AND application_name LIKE 'migrun reconnect%']])[1].n
    assert.equal(1, n)
    local res, text = finish(h, out)
    assert.equal(0, res.status, text)
    assert.truthy(text:find("BREACH could not sample", 1, true), text)
    assert.truthy(text:find("watch steady: reconnected to", 1, true), text)
    local s = samples(name)
    assert.equal(15, s[#s].tick, "the window ran to its end: " .. text)
    assert.equal("succeeded", run_row(name).status)
  end)

  it("on_breach = \"rollback\": a real deadlock undoes the migration, and the run exits as rolled back", function()
    local name = fresh_db()
    query(name, "CREATE TABLE d (id int PRIMARY KEY, v int); INSERT INTO d VALUES (1, 0), (2, 0)")
    local pb, dir = playbook([=[
playbook "deadlock" {
]=] .. PHASE .. [=[
  watch "no deadlocks" { duration = "60s", every = "200ms", deadlocks = 0, on_breach = "rollback" },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    assert.is_true(exists(name, "w_new"))
    do
      local a <close> = H.connect(name)
      local b <close> = H.connect(name)
      for _, c in ipairs({ a, b }) do c:exec("SET deadlock_timeout = '100ms'") end
      a:exec("BEGIN; UPDATE d SET v = v + 1 WHERE id = 1")
      b:exec("BEGIN; UPDATE d SET v = v + 1 WHERE id = 2")
      local apid = a:backend_pid()
      a:send("UPDATE d SET v = v + 1 WHERE id = 2")
      H.eventually(function()
        return query(name, "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
                     apid)[1].n == 1
      end)
      b:send("UPDATE d SET v = v + 1 WHERE id = 1")
      -- one of them is the victim; its error releases its locks, and the other one finishes
      local done, victim = {}, nil
      H.eventually(function()
        for _, c in ipairs({ a, b }) do
          if not done[c] then
            local ok, res = pcall(c.wait, c, 10)
            if not ok then
              assert.equal("40P01", res.sqlstate)
              victim, done[c] = c, true
            elseif res then
              done[c] = true
            end
          end
        end
        return done[a] and done[b]
      end)
      assert.truthy(victim, "no deadlock")
      a:exec("ROLLBACK")
      b:exec("ROLLBACK")
    end
    local res, text = finish(h, out)
    assert.equal(1, res.status, text)
    assert.truthy(text:find("BREACH deadlocks in the window: 1, more than the 0 allowed", 1, true), text)
    assert.truthy(text:find("undoing 1 applied phase", 1, true), text)
    assert.is_false(exists(name, "w_new"))
    assert.equal("rolled_back", run_row(name).status)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("rolled_back", doc.outcome.states["create w_new"])
    assert.equal("breach: rolled back", doc.watch[1].outcome)
  end)

  it("an expectation inside the window: the application's health check turns red", function()
    local name = fresh_db()
    local app <close> = fakeapp.start { routes = { 'GET /health 200 {"status":"ok"}' } }
    local pb, dir = playbook([=[
playbook "health" {
]=] .. PHASE .. [=[
  watch "after release" { duration = "60s", every = "200ms",
                          expect.http { url = var.app .. "/health", status = 200 }, on_breach = "stop" },
}]=])
    local h, out = spawn(name, pb, dir, { "--set", "app=" .. app.url })
    window_open(name, h, out)
    app:route('GET /health 503 {"status":"down"}')
    local res, text = finish(h, out)
    assert.equal(1, res.status, text)
    assert.truthy(text:find("BREACH expect http", 1, true), text)
    assert.truthy(#app:calls("/health") >= 2)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local failed
    for _, e in ipairs(doc.expectations) do
      if e.phase == "(watch after release)" then failed = e end
    end
    assert.is_false(failed.ok)
    assert.truthy(tostring(failed.actual):find("503", 1, true), failed.actual)
    assert.equal(1, query(name, "SELECT count(*) AS n FROM migrun.expectations WHERE phase = " ..
                                "'(watch after release)' AND NOT ok")[1].n)
  end)

  it("Ctrl-C ends the window: recorded as interrupted, the migration kept and said so (exit 130)", function()
    local name = fresh_db()
    local pb, dir = playbook([=[
playbook "ctrlc" {
]=] .. PHASE .. [=[
  watch "long" { duration = "10m", every = "200ms", deadlocks = 0, on_breach = "rollback" },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    h:kill(proc.SIGINT)
    local res, text = finish(h, out)
    assert.equal(130, res.status, text)
    assert.truthy(text:find("The migration stays applied", 1, true), text)
    assert.is_true(exists(name, "w_new"))
    assert.equal("watch_interrupted", run_row(name).status)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("interrupted", doc.watch[1].outcome)
  end)

  it("a run killed in its window: the report is rebuilt from the ledger's samples", function()
    local name = fresh_db()
    local pb, dir = playbook([=[
playbook "killed" {
]=] .. PHASE .. [=[
  watch "long" { duration = "10m", every = "200ms", deadlocks = 0 },
}]=])
    local h, out = spawn(name, pb, dir)
    window_open(name, h, out)
    H.eventually(function() return #samples(name) >= 4 end)
    h:kill(proc.SIGKILL)
    finish(h, out)
    local r = H.migrun({ "report", "--db", H.conninfo(name) })
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("## Watch", 1, true), r.stdout)
    assert.truthy(r.stdout:find("Outcome: **not finished (the run ended in its window)**", 1, true), r.stdout)
    assert.truthy(r.stdout:find("\n| 0%.6s | %d+ | 0 | 0%.0%% | 0 | 0 B | "), r.stdout)
  end)

  it("--dry-run does not watch, and says so", function()
    local name = fresh_db()
    local pb = playbook([=[
playbook "dry" {
]=] .. PHASE .. [=[
  watch "after release" { duration = "10m", every = "15s", deadlocks = 0 },
}]=])
    local r = H.run_db(name, { "--dry-run", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("dry run: the watch window after the last phase ('after release') is not opened",
                                1, true), r.stdout)
    assert.equal(0, #samples(name))
  end)

  it("a rehearsal samples once on the clone instead of watching for the whole window", function()
    local name = fresh_db()
    local pb, dir = playbook([=[
playbook "rehearsed" {
]=] .. PHASE .. [=[
  watch "after release" { duration = "30m", every = "300ms", deadlocks = 0, on_breach = "rollback" },
}]=])
    local r = H.migrun({ "--db", H.conninfo(name), "rehearse", "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("a rehearsal samples once instead of watching for 30m", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(1, #doc.watch[1].samples)
    assert.is_false(exists(name, "w_new"))
  end)
end)

describe("watch: pg_stat_statements", function()
  it("refuses `slower` without the extension in the target database, naming the fix; the rest works without it",
     function()
    local name = fresh_db()
    query(name, "DROP EXTENSION IF EXISTS pg_stat_statements")
    local pb = playbook([=[
playbook "no pgss" {
]=] .. PHASE .. [=[
  watch "after release" { duration = "400ms", every = "200ms", slower = { queries = "50%" }, deadlocks = 0 },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(3, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("CREATE EXTENSION pg_stat_statements", 1, true), r.stderr)
    assert.truthy(r.stderr:find("shared_preload_libraries", 1, true), r.stderr)
    assert.truthy(r.stderr:find(pb .. ":4:", 1, true), r.stderr)
    assert.is_false(exists(name, "w_new"))

    local pb2 = playbook([=[
playbook "no pgss, no slower" {
]=] .. PHASE .. [=[
  watch "after release" { duration = "400ms", every = "200ms", deadlocks = 0 },
}]=])
    r = H.run_db(name, { pb2 })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("no per-query figures", 1, true), r.stdout)
    -- commits are pg_stat_database's, migrun's own sampling included, and a backend reports
    -- them at most once a second: how many land in a 400 ms window depends on the machine
    assert.truthy(r.stdout:find("watch after release 4%d%dms/400ms: commits %d+, rollbacks 0"), r.stdout)
  end)
end)

describe("watch: the playbook", function()
  local function refused(text)
    local pb = playbook(text)
    local r = H.migrun({ "plan", pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    return r.stderr
  end

  it("takes strict option names, with a did-you-mean, at the line of the watch", function()
    local err = refused([=[
playbook "typo" {
]=] .. PHASE .. [=[
  watch "w" { duration = "1m", rollback_rat = "2%" },
}]=])
    assert.truthy(err:find(":4: watch 'w': unknown key 'rollback_rat' (did you mean 'rollback_rate'?)", 1, true), err)
    err = refused([=[
playbook "policy" {
]=] .. PHASE .. [=[
  watch "w" { duration = "1m", on_breach = "rollbak" },
}]=])
    assert.truthy(err:find("did you mean 'rollback'", 1, true), err)
    err = refused([=[
playbook "pct" {
]=] .. PHASE .. [=[
  watch "w" { duration = "1m", slower = { queries = 50 } },
}]=])
    assert.truthy(err:find("a percentage written like \"2%\"", 1, true), err)
    err = refused([=[
playbook "no duration" {
]=] .. PHASE .. [=[
  watch "w" { every = "15s" },
}]=])
    assert.truthy(err:find("needs duration", 1, true), err)
    err = refused([=[
playbook "bare number" {
]=] .. PHASE .. [=[
  watch "w" { duration = 1800 },
}]=])
    assert.truthy(err:find("duration is a duration with its unit, like \"30m\"", 1, true), err)
    err = refused([=[
playbook "few deadlocks" {
]=] .. PHASE .. [=[
  watch "w" { duration = "1m", deadlocks = { min = 1 } },
}]=])
    assert.truthy(err:find("deadlocks is N or { max = N }, not min", 1, true), err)
  end)

  it("samples a window shorter than the default 15s at its end", function()
    local pb = playbook([=[
playbook "short" {
]=] .. PHASE .. [=[
  watch "w" { duration = "5s" },
}]=])
    local r = H.migrun({ "plan", "--db", H.conninfo(fresh_db()), pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("refuses on_breach = \"rollback\" when a phase it would undo has no rollback, before anything runs", function()
    local name = fresh_db()
    local pb = playbook([=[
playbook "no rollback" {
  phase "one way" { sql [[CREATE TABLE w_new (id int)]] },
  watch "w" { duration = "1m", deadlocks = 0, on_breach = "rollback" },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("phase 'one way' has no rollback", 1, true), r.stderr)
    assert.is_false(exists(name, "w_new"))
  end)
end)

describe("watch: the failing twin", function()
  local name, load

  -- 200k rows, 1 in 200k matching k: the index finds it in microseconds, a scan takes ms
  setup(function()
    name = fresh_db()
    query(name, [[CREATE TABLE hot (id int PRIMARY KEY, k int NOT NULL, v text);
                  INSERT INTO hot SELECT g, g, md5(g::text) FROM generate_series(1, 200000) g;
                  CREATE INDEX hot_k ON hot (k); CREATE INDEX hot_v ON hot (v); ANALYZE hot]])
    -- the application: the hot query in a loop, from a process of its own, for the whole spec
    load = H.spawn_migrun({ "--db", H.conninfo(name), "-e", [[
      db:set("application_name", "the app")
      while true do db:query("SELECT v FROM hot WHERE k = $1", math.random(1, 200000)) end]] })
    H.eventually(function()
      local r = query(name, [[SELECT coalesce(sum(calls), 0)::int8 AS n FROM pg_stat_statements
                              WHERE query = 'SELECT v FROM hot WHERE k = $1']])[1]
      return r.n >= 500
    end, 30000)
  end)

  teardown(function()
    if load then
      load:kill(proc.SIGTERM)
      load:wait(5000)
    end
  end)

  local function twin(index)
    return playbook(string.format([=[
playbook "twin %s" {
  phase "drop an index" { transaction = false,
    sql [[DROP INDEX CONCURRENTLY %s]],
    rollback = sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON hot (%s)]] },
  watch "after release" { duration = var("watch_for", "30m"), every = "250ms",
                          slower = { queries = "200%%", min_calls = 20 }, on_breach = "rollback" },
}]=], index, index, index, index == "hot_k" and "k" or "v"))
  end

  it("green: dropping an index the hot query does not use leaves it as fast as before", function()
    local pb, dir = twin("hot_v")
    local r = H.run_db(name, { "--set", "watch_for=2s", "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local q = doc.watch[1].queries[1]
    assert.equal("SELECT v FROM hot WHERE k = $1", q.query)
    assert.truthy(q.calls >= 20 and q.slower_pct < 200, cjson.encode(q))
    assert.is_false(exists(name, "hot_v"))
  end)

  it("red: dropping the index it needs slows it down, the watch names it and rolls the migration back", function()
    local pb, dir = twin("hot_k")
    local r = H.run_db(name, { "--set", "watch_for=30s", "--report", dir .. "/r.md", pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("BREACH query %-?%d+ %(SELECT v FROM hot WHERE k = %$1%): mean [%d.]+ ms in the " ..
                                "window against [%d.]+ ms before"), r.stdout)
    assert.is_true(exists(name, "hot_k"), "the rollback built the index again")
    assert.equal("rolled_back", run_row(name).status)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local b = breach_of(doc, "slower_pct")
    assert.truthy(b.value >= 900, "a scan at least 10x the index lookup: " .. cjson.encode(b))
    assert.truthy(b.calls >= 20 and b.base_calls >= 500, cjson.encode(b))
    assert.truthy(H.read(dir .. "/r.md"):find("| `" .. b.queryid .. "` SELECT v FROM hot WHERE k = $1 |", 1, true))
  end)
end)
