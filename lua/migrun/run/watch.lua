--- migrun.run.watch: a statement watched while it runs (policy layer). The statement is sent
-- (conn:send) and waited for in short steps (conn:wait); once it has run for a moment, a second
-- connection looks at it: the sessions that block it on a lock (pid, user, application, state,
-- transaction age, query: pg_blocking_pids), and how far a long operation is
-- (pg_stat_progress_create_index, _cluster, _copy, _vacuum, _analyze). Blockers are printed,
-- sent as JSON events, kept for the report, and named in a lock timeout's error.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local term = require "migrun.core.term"

local M = {}

-- one round trip: who blocks pid, and what the progress view of its kind of statement (if it
-- has one) reports for it
local BLOCKERS = [[
SELECT 'blocker' AS what, a.pid, a.usename AS "user", a.application_name AS app, a.state,
       extract(epoch FROM now() - a.xact_start)::int AS xact_seconds, left(a.query, 300) AS query,
       NULL::text AS phase, NULL::bigint AS done, NULL::bigint AS total
FROM unnest(pg_blocking_pids($1)) AS b(pid) JOIN pg_stat_activity a ON a.pid = b.pid]]
local PROGRESS = {
  create_index = [[
SELECT 'progress', pid, NULL, 'CREATE INDEX', phase, NULL, NULL, phase,
       coalesce(nullif(blocks_done, 0), tuples_done), coalesce(nullif(blocks_total, 0), tuples_total)
FROM pg_stat_progress_create_index WHERE pid = $1]],
  cluster = [[
SELECT 'progress', pid, NULL, command, phase, NULL, NULL, phase, heap_blks_scanned, heap_blks_total
FROM pg_stat_progress_cluster WHERE pid = $1]],
  copy = [[
SELECT 'progress', pid, NULL, 'COPY', type, NULL, NULL, command, bytes_processed, nullif(bytes_total, 0)
FROM pg_stat_progress_copy WHERE pid = $1]],
  vacuum = [[
SELECT 'progress', pid, NULL, 'VACUUM', phase, NULL, NULL, phase, heap_blks_scanned, heap_blks_total
FROM pg_stat_progress_vacuum WHERE pid = $1]],
  analyze = [[
SELECT 'progress', pid, NULL, 'ANALYZE', phase, NULL, NULL, phase, sample_blks_scanned, sample_blks_total
FROM pg_stat_progress_analyze WHERE pid = $1]],
}

-- the progress view a statement reports to, from its first words (nil: none, as for DML);
-- the BEGIN and SET LOCALs a phase sends ahead of its first statement are skipped
local function progress_kind(sql)
  local s = sql:gsub("%-%-[^\n]*", " "):gsub("/%*.-%*/", " "):lower()
  repeat
    local before = s
    s = s:gsub("^%s*begin%s*;", ""):gsub("^%s*set%s[^;]*;", "")
  until s == before
  local w1, w2, w3 = s:match("^%s*(%a+)%s*(%a*)%s*(%a*)")
  if w1 == "create" and (w2 == "index" or (w2 == "unique" and w3 == "index")) then return "create_index" end
  if w1 == "reindex" then return "create_index" end
  if w1 == "cluster" or (w1 == "vacuum" and s:find("^%s*vacuum%s*%(?[^;]-full")) then return "cluster" end
  if w1 == "copy" then return "copy" end
  if w1 == "vacuum" then return "vacuum" end
  if w1 == "analyze" or w1 == "analyse" then return "analyze" end
  return nil
end
M.progress_kind = progress_kind

--- watch.describe_blocker(b) -> "pid 4242 (alice, psql, idle in transaction, in a transaction
-- for 45s): UPDATE orders ..."
function M.describe_blocker(b)
  return string.format("pid %s (user %s, %s, %s, in a transaction for %ss): %s", tostring(b.pid),
    tostring(b.user), b.app ~= "" and b.app or "no application name", tostring(b.state),
    tostring(b.xact_seconds or "?"), (tostring(b.query or ""):gsub("%s+", " ")))
end

local function blockers_text(list)
  local parts = {}
  for i, b in ipairs(list) do parts[i] = M.describe_blocker(b) end
  return table.concat(parts, "; ")
end
M.blockers_text = blockers_text

-- the second connection, opened the first time a statement runs long
local function monitor(run)
  if not run.monitor_db then
    local conninfo = run.conninfo or require("migrun.pg").conninfo_of(run.db)
    run.monitor_db = require("migrun.db").connect(conninfo)
    run.monitor_db:set_client_timeout(5000)
    run.monitor_db:set("application_name", "migrun monitor")
    run.monitor_db:exec("SET plan_cache_mode = force_generic_plan")
    run.monitor_looks = {}
  end
  return run.monitor_db
end

-- a look is planned once per connection and kind of statement: planning it costs 15-50 ms of
-- the server's CPU (the views behind it are large), executing the plan under 2 ms
local function look_at(run, pid, kind)
  local db = monitor(run)
  local name = "migrun_look_" .. (kind or "blockers")
  if not run.monitor_looks[name] then
    db:exec(string.format("PREPARE %s(int) AS %s%s", name, BLOCKERS,
                          kind and ("\nUNION ALL\n" .. PROGRESS[kind]) or ""))
    run.monitor_looks[name] = true
  end
  return db:query(string.format("EXECUTE %s(%d)", name, pid))
end

--- watch.close(run): the monitor connection goes
function M.close(run)
  if run.monitor_db then
    run.monitor_db:close()
    run.monitor_db = nil
  end
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i].pid ~= b[i].pid then return false end end
  return true
end

local function show_progress(run, what, p, ns, limit_ms)
  local out = run.out
  local pct = p and p.total and p.total > 0 and (100 * (p.done or 0) / p.total) or nil
  local eta
  if pct and pct > 0 then eta = ns * (100 - pct) / pct end
  local fields = { what = what, seconds = ns / 1e9, budget_seconds = limit_ms and limit_ms / 1000,
                   operation = p and p.app, phase = p and p.phase, percent = pct,
                   eta_seconds = eta and eta / 1e9 }
  if out:event("progress", fields) then return end
  if out.quiet or not term.isatty(1) then return end
  local s = string.format("  … %s: %s%s", what, clock.format(ns),
                          limit_ms and limit_ms > 0 and (" / " .. clock.format(limit_ms * 1000000)) or "")
  if p then
    s = s .. string.format(", %s %s", p.app or "", p.phase or "")
    if pct then s = s .. string.format(" %.0f%%", pct) end
    if eta then s = s .. ", about " .. clock.format(math.floor(eta)) .. " left" end
  end
  io.stdout:write("\r", s:sub(1, (term.width(1) or 100) - 1), "\27[K")
  io.stdout:flush()
  run.progress_shown = true
end

--- watch.exec(run, sql, {what =, limit_ms =, lock_timeout_ms =, all =}) -> the statement's
-- result (as conn:query returns it). Raises as conn:query would; a lock timeout's error gets
-- `blockers` (the sessions seen blocking it) and says who they were. all = k: sql is several
-- statements (conn:send_all), their list of results is returned, and a failure among the
-- first k raises (one after them is in the list, for the caller).
function M.exec(run, sql, o)
  local db = run.db
  o = o or {}
  local pid = db:backend_pid()                       -- read before send: busy afterwards
  local kind                                         -- its progress view, read at the first look
  local t0 = clock.now()
  -- the first look comes early enough to see the blocker before a lock timeout fires; in a
  -- rehearsal, a statement outside a transaction is looked at at once (its locks go with it)
  local first = math.min(1000, math.max(50, (o.lock_timeout_ms or 2000) // 2))
  local forecasting = run.forecast_phase and o.autocommit
  if forecasting then first = 20 end
  local ok, res, state = true, nil, "running"        -- the last wait's outcome
  local seen = {}
  local function finish(err)
    if run.progress_shown then
      io.stdout:write("\r\27[K")
      io.stdout:flush()
      run.progress_shown = false
    end
    if err then
      if errors.is_sql(err, "55P03") and #seen > 0 then
        err.blockers = seen
        err.hint = "blocked by " .. blockers_text(seen) ..
                   (err.hint and ("\n" .. err.hint) or "")
      end
      error(err, 0)
    end
  end
  local last_progress = 0
  -- Ctrl-C between two waits (the signal's hook fires at the next call, return or Lua
  -- instruction: on send's return too), or anything raised while looking, must not leave the
  -- statement running on the run's connection: it is cancelled and drained, then the error
  -- goes on
  local lok, lerr = pcall(function()
    if o.all then db:send_all(sql) else db:send(sql) end
    ok, res, state = pcall(db.wait, db, first)
    while ok and res == nil and state == "running" do
      -- a look that fails (the monitor lost too) only means less is said; the statement's own
      -- wait, with its client timeout, decides what happens to the run. Ctrl-C is not a failure
      -- to look: it goes on.
      if kind == nil then kind = progress_kind(sql) or false end
      local look_ok, look = pcall(look_at, run, pid, kind or nil)
      if not look_ok then
        if errors.is(look, "interrupted") then error(look, 0) end
        look = {}
      end
      if forecasting then require("migrun.run.forecast").seen_running(run, monitor(run), pid, sql, t0) end
      local blockers, progress = {}, nil
      for _, r in ipairs(look) do
        if r.what == "blocker" then blockers[#blockers + 1] = r else progress = r end
      end
      if #blockers > 0 and not same(blockers, seen) then
        seen = blockers
        local list = {}
        for i, b in ipairs(blockers) do
          list[i] = { pid = b.pid, user = b.user, app = b.app, state = b.state, xact_seconds = b.xact_seconds,
                      query = b.query }
        end
        run.lock_waits[#run.lock_waits + 1] = { what = o.what, at_seconds = clock.since(t0) / 1e9, blockers = list }
        if not run.out:event("lock_wait", { what = o.what, blockers = list }) then
          run.out:warn(string.format("%s is waiting for a lock held by %s", o.what or "the statement",
                                     blockers_text(blockers)))
        end
      end
      local ns = clock.since(t0)
      if ns >= 1e9 and clock.now() - last_progress >= 1e9 then
        show_progress(run, o.what or "statement", progress, ns, o.limit_ms)
        last_progress = clock.now()
      end
      ok, res, state = pcall(db.wait, db, 1000)
    end
  end)
  -- (Ctrl-C may also land inside a wait, in a notice handler it calls back: the statement
  -- is then still running too, whatever the wait gave)
  if (not lok or not ok) and db:status() == "active" then
    pcall(db.cancel, db)                             -- still running: cancel it, read its end
    local deadline = clock.now() + 10e9
    repeat
      local wok, wres, wstate = pcall(db.wait, db, 500)
    until (not wok and db:status() ~= "active") or wres ~= nil or wstate ~= "running" or clock.now() > deadline
  end
  if not lok then finish(lerr) end
  if forecasting then require("migrun.run.forecast").end_statement(run, t0) end
  if not ok then finish(res) end
  if o.all and res.failed and res.failed <= o.all then finish(res[res.failed]) end
  finish(nil)
  return res
end

return M
