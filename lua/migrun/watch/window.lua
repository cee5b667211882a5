--- migrun.watch.window: one watch window, tick by tick (policy layer). Sleeps to a fixed
-- schedule (migrun.clock), samples with one statement (migrun.watch.sample), judges the
-- figures (migrun.watch.judge), evaluates the window's expectations (migrun.expect), records
-- each tick in the ledger (ledger.record_sample), shows one line per tick through run.out (a
-- `watch_sample` event with --json), and says how the window ended: it ran to its end (or only
-- alerted), a breach the policy acts on ("rollback", "stop"), or an interrupt (Ctrl-C).
-- Acting on a breach is the caller's (migrun.watch): this module only watches.
local clock = require "migrun.clock"
local config = require "migrun.watch.config"
local errors = require "migrun.errors"
local expect = require "migrun.expect"
local judge = require "migrun.watch.judge"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local sample = require "migrun.watch.sample"
local sys = require "migrun.core.sys"

local M = {}

--- window.interrupted(err) -> true for a Ctrl-C: the interrupt itself, or the statement it cancelled
function M.interrupted(err)
  return errors.is(err, "interrupted") or (errors.is_sql(err, "57014") and sys.interrupted(true))
end

-- fn(...) under a pcall of its own, its error raised again. A Ctrl-C raises from a hook at the
-- first return after the signal: the return of this pcall, so still inside the caller's
-- protected call, which therefore sees every interrupt (a C call raising straight through to
-- the outermost pcall would have the hook fire after it, where nothing catches it).
local function guard(fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- the live view: one line a tick
local function show(run, w, tick, at, duration, m, breaches)
  local out = run.out
  local fields = { watch = w.name, tick = tick, at_seconds = at, metrics = m, breaches = json.array(breaches) }
  if out:event("watch_sample", fields) or out.quiet then return end
  local parts = {}
  if m.commits then
    parts = { string.format("commits %d", m.commits),
              string.format("rollbacks %d (%.1f%% in the window)", m.rollbacks, m.rollback_rate_pct),
              string.format("deadlocks %d", m.deadlocks), "temp " .. judge.bytes(m.temp_bytes),
              string.format("connections %d", m.connections), string.format("lock waits %d", m.lock_waits) }
  end
  if m.queries_compared then
    parts[#parts + 1] = m.slower_pct and string.format("slowest query %+.0f%% (of %d compared)", m.slower_pct,
                                                       m.queries_compared)
                        or "no query called often enough to compare yet"
  end
  if m.expect_failed then
    parts[#parts + 1] = m.expect_failed == 0 and "expect ok" or string.format("expect: %d FAILED", m.expect_failed)
  end
  if #parts == 0 then parts[1] = "no sample" end
  local line = string.format("  watch %s %s/%s: %s", w.name, clock.format(math.floor(at * 1e9)),
                             clock.format(duration), table.concat(parts, ", "))
  out:write(#breaches > 0 and out:paint("red", line) or line)
end

-- the window's expectations, once: failed ones are breaches; kept[i] is what the report shows
-- of expectation i (its first failure, else its last check)
local function check(run, w, m, breaches, kept)
  if #w.expectations == 0 then return end
  local results = expect.check_all(run:ctx(), w.expectations)
  m.expect_failed = 0
  for i, r in ipairs(results) do
    if not r.ok then
      m.expect_failed = m.expect_failed + 1
      breaches[#breaches + 1] = { metric = "expect_failed", key = "expect:" .. i, value = m.expect_failed,
        limit = "every expectation passes",
        message = string.format("expect %s failed: actual %s, expected %s", r.description,
                                ledger.show(r.actual) or "nothing", ledger.show(r.expected) or "nothing") }
    end
    if not (kept[i] and not kept[i].ok) then kept[i] = r end
  end
end

-- name the queries of slower_pct breaches (one statement for all of them)
local function name_queries(run, pgss, list)
  local ids = {}
  for _, b in ipairs(list) do if b.queryid then ids[#ids + 1] = b.queryid end end
  if #ids == 0 then return end
  local texts = guard(sample.query_texts, run.db, pgss, ids)
  for _, b in ipairs(list) do
    local q = b.queryid and texts[b.queryid]
    if q then
      b.query = q
      b.message = b.message:gsub("^query (%S+):", function(id) return "query " .. id .. " (" .. q .. "):" end, 1)
    end
  end
end

local function alert(run, w, b)
  run.out:warn(string.format("watch %s: BREACH %s (on_breach = \"%s\")", w.name, b.message, w.on_breach))
  local hooks = require "migrun.hooks"
  if hooks.listens(run, "watch") then
    hooks.notify(run, "watch", { outcome = string.format("watch %s: %s (on_breach = \"%s\")", w.name, b.message,
                                                         w.on_breach) })
  elseif w.on_breach == "alert" then
    run:warn_once("watch-notify", "on_breach = \"alert\" and no notification is configured (notify = { ... }) " ..
                                  "that carries watch breaches: the breach is printed and reported only")
  end
end

-- the breaches not seen before in this window (seen: their keys), each stamped with its tick
local function fresh(breaches, seen, at, tick)
  local new = {}
  for _, b in ipairs(breaches) do
    b.at_seconds, b.tick = at, tick
    if not seen[b.key] then
      seen[b.key] = true
      new[#new + 1] = b
    end
  end
  return new
end

local function record(run, w, tick, t)
  local plain = {}
  for i, b in ipairs(t.breaches) do
    plain[i] = { metric = b.metric, value = b.value, limit = b.limit, why = b.message, queryid = b.queryid }
  end
  ledger.record_sample(run.db, run.id, { watch = w.name, tick = tick, at_seconds = t.at, metrics = t.m,
                                          breaches = plain })
end

--- window.run(run, w, st) -> doc, ending: watch w for its duration (one tick on a rehearsal).
-- st: the run's watch state {pgss, base, baseline_doc}. doc is the report's shape of the
-- window; ending is nil (it ran to its end, or only alerted), {breach = b} for a breach under
-- "rollback" or "stop", {interrupted = true}, or {error = err} (a failure of its own, once it
-- cannot go on). Never raises.
--
-- A tick is two transactions of migrun's own: the sample (one statement), then one that checks
-- the expectations (under savepoints), names new slow queries and records the tick in the
-- ledger. Both end with this session's statistics flushed, so the commits the sample reads are
-- the application's once migrun's own (counted here) are taken away.
function M.run(run, w, st)
  local out = run.out
  local pgss = st.pgss
  local duration = run.opts.rehearsal and w.every_ns or w.duration_ns
  local min_calls = w.slower and w.slower.min_calls or config.DEFAULT_MIN_CALLS
  local doc = { name = w.name, duration = w.duration, every = w.every, on_breach = w.on_breach,
                thresholds = w.thresholds, samples = json.array(), breaches = json.array(), queries = json.array(),
                pg_stat_statements = pgss ~= nil, baseline = st.baseline_doc, outcome = "completed" }
  local kept, seen = {}, {}
  local tick, t_open, ending = 0, clock.now(), nil
  local sql, ref, prev
  local own = 0                           -- migrun's own commits since the previous sample

  -- the window's reference: per query on the server (pgss), the counters here
  local function open()
    if pgss then sample.open(run.db, pgss, st.base) end
    sample.flush(run.db)                  -- what migrun did until now is counted before the reference
    sql = sample.tick_sql(run.db, pgss)
    local r = sample.take(run.db, sql, pgss, min_calls)
    own = 1
    -- the counters are the server's: a reconnect keeps the first reference
    if not ref then ref, prev = r, r end
  end

  local function one_tick(due)
    local wait = due - clock.since(t_open)
    if wait > 0 then clock.sleep(wait / 1e6) end
    local fig = sample.take(run.db, sql, pgss, min_calls)
    local at = clock.since(t_open) / 1e9
    -- migrun's own commits, before this sample and since the window opened, are not the application's
    fig.commits = fig.commits - own - (prev.own_total or 0)
    fig.own_total = own + (prev.own_total or 0)
    own = 1
    local m = judge.metrics(fig, ref, prev, pgss)
    local t = { at = at, m = m, breaches = judge.breaches(w, m, fig) }
    prev = fig
    local tx <close> = run.db:begin()
    check(run, w, m, t.breaches, kept)
    t.new = fresh(t.breaches, seen, at, tick)
    if pgss then name_queries(run, pgss, t.new) end
    record(run, w, tick, t)
    sample.flush(run.db)
    tx:commit()
    own = own + 1
    return t
  end

  -- a tick that could not look is a breach of its own; a lost connection is made again
  local function failed_tick(err)
    local at = clock.since(t_open) / 1e9
    local t = { at = at, m = {}, breaches = {
      { metric = "sampling", key = "sampling", limit = "a sample every " .. w.every,
        message = "could not sample: " .. errors.text(err):match("[^\n]*") } } }
    t.new = fresh(t.breaches, seen, at, tick)
    if run.db:status() ~= "idle" and run.reconnect and pcall(run.reconnect) then
      out:info(string.format("watch %s: reconnected to %s", w.name, run.db:target()))
      local ok, e = pcall(open)
      if not ok and M.interrupted(e) then error(e, 0) end
    end
    if run.db:status() == "idle" then
      local ok, e = pcall(record, run, w, tick, t)
      if not ok and M.interrupted(e) then error(e, 0) end
    end
    return t
  end

  local function body()
    out:info(string.format("watch %s: open for %s, a sample every %s, on breach: %s", w.name, w.duration, w.every,
                           w.on_breach))
    if run.opts.rehearsal then
      out:info(string.format("  a rehearsal samples once instead of watching for %s: no application traffic " ..
                             "reaches the clone", w.duration))
    end
    guard(open)
    t_open = clock.now()
    while true do
      tick = tick + 1
      local due = math.min(tick * w.every_ns, duration)
      local ok, t = pcall(one_tick, due)
      if not ok then
        if M.interrupted(t) then error(t, 0) end
        t = failed_tick(t)
      end
      doc.samples[#doc.samples + 1] = { tick = tick, at_seconds = t.at, metrics = t.m }
      show(run, w, tick, t.at, duration, t.m, t.breaches)
      for _, b in ipairs(t.new) do
        local kept_b = {}
        for k, v in pairs(b) do if k ~= "key" then kept_b[k] = v end end
        doc.breaches[#doc.breaches + 1] = kept_b
        alert(run, w, b)
      end
      if #t.breaches > 0 and w.on_breach ~= "alert" then
        ending = { breach = t.breaches[1] }
        return
      end
      if run.db:status() ~= "idle" then                 -- alert, with nothing left to look with
        ending = { error = errors.new("connection", "the watch lost its connection and could not reconnect") }
        return
      end
      if due >= duration then return end
    end
  end

  -- after the window: the most slowed-down queries, named; the expectations' results
  local function close()
    local last = prev and prev.worst
    if pgss and last and #last > 0 and run.db:status() == "idle" then
      local ids = {}
      for i, q in ipairs(last) do ids[i] = q.queryid end
      local texts = guard(sample.query_texts, run.db, pgss, ids)
      for _, q in ipairs(last) do
        doc.queries[#doc.queries + 1] = { queryid = q.queryid, query = texts[q.queryid], base_mean_ms = q.base_mean,
          mean_ms = q.mean, base_calls = q.base_calls, calls = q.calls, slower_pct = q.slower_pct }
      end
    end
    local where = "(watch " .. w.name .. ")"
    local results = {}
    for i = 1, #w.expectations do
      if kept[i] then
        kept[i].phase = where
        results[#results + 1] = kept[i]
        run.results[#run.results + 1] = kept[i]
      end
    end
    if #results > 0 and run.db:status() == "idle" then
      guard(ledger.record_expectations, run.db, run.id, where, results)
    end
  end

  local ok, err = pcall(body)
  if not ok then ending = M.interrupted(err) and { interrupted = true } or { error = err } end
  doc.seconds = clock.since(t_open) / 1e9
  local cok, cerr = pcall(close)
  if not cok and not ending then ending = M.interrupted(cerr) and { interrupted = true } or { error = cerr } end
  return doc, ending
end

return M
