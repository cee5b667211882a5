--- migrun.watch: the window after a release (policy layer). A playbook's `watch "name" {...}`
-- opens once the run has succeeded: the figures of the database (pg_stat_database,
-- pg_stat_activity, per query pg_stat_statements) are compared every `every` with what they
-- were before the first phase, and with the thresholds; a breach rolls the migration back,
-- alerts, or stops. Several watches run one after another, in the order written. (Not
-- migrun.run.watch, which watches one statement's lock blockers while it runs.)
--
-- The runner calls precheck (before the ledger's run row: a watch that cannot work refuses
-- the run with nothing touched), baseline (after preflight, before the first phase) and
-- window (after the run succeeded, before its ledger row is finished).
local clock = require "migrun.clock"
local config = require "migrun.watch.config"
local errors = require "migrun.errors"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local sample = require "migrun.watch.sample"
local state = require "migrun.run.state"
local window = require "migrun.watch.window"

local M = {}

--- watch.new(name, t, at, helpers) -> a watch (the DSL's `watch "name" { ... }`)
M.new = config.new

--- watch.add(pb, w, fail): the playbook keeps its watches apart from its phases and gates
M.add = config.add

local function any(pb, pred)
  for _, w in ipairs(pb.watches or {}) do
    if pred(w) then return w end
  end
end

local function fix_pgss(probe, db)
  local dbname = db:info().dbname or "the target database"
  if not probe.preloaded then
    return "pg_stat_statements is not loaded: add it to shared_preload_libraries in postgresql.conf " ..
           "(shared_preload_libraries = 'pg_stat_statements'), restart the server, then run " ..
           "CREATE EXTENSION pg_stat_statements; in database " .. dbname
  elseif not probe.extension then
    return "the pg_stat_statements extension is not created in database " .. dbname ..
           ": run CREATE EXTENSION pg_stat_statements; there (it is already in shared_preload_libraries)"
  elseif not probe.all_stats then
    return string.format("the user %s cannot read other users' statements in pg_stat_statements: " ..
                         "GRANT pg_read_all_stats TO %s", db:info().user or "?", db:info().user or "?")
  elseif probe.server_version < 130000 then
    return "the server is older than PostgreSQL 13 (pg_stat_statements has no total_exec_time there)"
  end
end

--- watch.precheck(run, ls, selected, todo): before anything is touched. A watch that compares
-- query times needs pg_stat_statements (refused with how to fix it: kind="environment", exit
-- 3); on_breach = "rollback" needs a rollback for every phase this run would apply
-- (kind="playbook", exit 2). Without `slower` the other figures are watched all the same.
function M.precheck(run, ls, selected, todo)
  local pb = run.pb
  if not pb.watches or #pb.watches == 0 or todo == 0 then return end
  local rb = any(pb, function(w) return w.on_breach == "rollback" end)
  if rb then
    for _, ph in ipairs(state.phases(pb)) do
      if selected[ph.name] and not ph.rollback and #state.pending_steps(ph, ls) > 0 then
        errors.raise("playbook", string.format("watch '%s': on_breach = \"rollback\" undoes the phases this run " ..
          "applies, but phase '%s' has no rollback (write one, or use on_breach = \"stop\")", rb.name, ph.name),
          { file = rb.file, line = rb.line })
      end
    end
  end
  local probe = sample.probe(run.db)
  local why = fix_pgss(probe, run.db)
  local needs = any(pb, function(w) return w.slower ~= nil end)
  if why and needs then
    errors.raise("environment", string.format("watch '%s' compares query times (slower = ...), which needs " ..
      "pg_stat_statements; %s", needs.name, why), { file = needs.file, line = needs.line,
      hint = "or remove slower = { ... }: the other figures are watched without pg_stat_statements" })
  end
  run.watch_state = { pgss = not why and probe or nil, why = why }
end

--- watch.baseline(run, todo): the figures before the first phase (after preflight), into the
-- run's memory and the ledger (tick 0 of each watch). A dry run does not watch, and says so.
function M.baseline(run, todo)
  local pb, out = run.pb, run.out
  local st = run.watch_state
  if not st or todo == 0 then return end
  if run.dry_run then
    out:info(string.format("dry run: the watch window%s after the last phase (%s) %s not opened: a dry run " ..
      "changes nothing that could be watched", #pb.watches > 1 and "s" or "", M.names(pb),
      #pb.watches > 1 and "are" or "is"))
    st.base = nil
    return
  end
  if not st.pgss then
    out:info("watch: no per-query figures (" .. st.why .. ")")
  end
  st.base = sample.baseline(run.db, st.pgss, config.min_calls(pb))
  st.base_at = clock.now()
  local b = st.base
  st.baseline_doc = { commits_total = b.commits, rollbacks_total = b.rollbacks, deadlocks_total = b.deadlocks,
                      temp_bytes_total = b.temp_bytes, connections = b.connections, lock_waits = b.lock_waits,
                      queries = b.kept, statements = b.statements }
  for _, w in ipairs(pb.watches) do
    ledger.record_sample(run.db, run.id, { watch = w.name, tick = 0, at_seconds = 0, metrics = st.baseline_doc })
  end
  out:info(string.format("watch: baseline before the first phase: connections %d, sessions waiting on a lock %d%s",
    b.connections, b.lock_waits, st.pgss and string.format(", %d of the %d statements in pg_stat_statements " ..
    "called often enough to compare", b.kept, b.statements) or ""))
end

--- watch.names(pb) -> "'a', 'b'"
function M.names(pb)
  local list = {}
  for i, w in ipairs(pb.watches or {}) do list[i] = "'" .. w.name .. "'" end
  return table.concat(list, ", ")
end

-- what a breach under "rollback" does: the phases this run applied, undone newest first, as
-- a failed phase's policy would (migrun.run.recovery)
local function roll_back(run, result)
  run.out:info(string.format("on_breach = \"rollback\": undoing %d applied phase(s)", #run.applied))
  local recovery = require "migrun.run.recovery"
  local ok, done = pcall(recovery.rollback_applied, run)
  if ok and done then
    result.status, result.exit = "rolled_back", 1
  else
    if not ok then run.out:error(done) end
    result.status, result.exit = "recovery_failed", 5
  end
end

local function windows(run, result, st)
  result.watch = json.array()
  for _, w in ipairs(run.pb.watches) do
    local doc, ending = window.run(run, w, st)
    result.watch[#result.watch + 1] = doc
    if #doc.breaches > 0 then doc.outcome = string.format("%d breach(es), alerted", #doc.breaches) end
    if ending then
      local where = "(watch " .. w.name .. ")"
      if ending.interrupted then
        doc.outcome = "interrupted"
        result.status, result.exit = "watch_interrupted", 130
        result.error = errors.new("interrupted", string.format("interrupted in the watch window '%s' after %s", w.name,
                                                               clock.format(math.floor(doc.seconds * 1e9))))
        run.out:warn(string.format("interrupted: the watch window '%s' is closed after %s. The migration stays " ..
          "applied (it succeeded, nothing is undone); `migrun rollback %s` undoes it", w.name,
          clock.format(math.floor(doc.seconds * 1e9)), run.pb.path))
      else
        local msg = ending.breach and ending.breach.message or errors.text(ending.error):match("[^\n]*")
        result.failed_phase = where
        result.error = errors.new("expectation", string.format("watch '%s': %s", w.name, msg), { watch = w.name })
        if ending.breach and w.on_breach == "rollback" then
          doc.outcome = "breach: rolled back"
          roll_back(run, result)
          if result.status ~= "rolled_back" then doc.outcome = "breach: the rollback failed" end
        else
          doc.outcome = ending.breach and "breach: stopped" or "failed: " .. msg
          result.status, result.exit = "watch_stopped", 1
          run.out:info(string.format("%s: the window is closed; nothing is undone, the migration stays applied " ..
            "(`migrun rollback %s` undoes it)", ending.breach and "on_breach = \"stop\"" or "the watch could not go on",
            run.pb.path))
        end
      end
      break
    end
  end
end

--- watch.window(run, result): the windows, in order, once the run succeeded (nothing else opens
-- one: a failed run was dealt with by its failure policy, a dry run changed nothing). Sets
-- result.watch (the report's list of windows) and, when a window ends the run otherwise,
-- result.status, exit, error and failed_phase. Never raises: the runner still has to record
-- the run's end (a Ctrl-C while a breach's rollback runs included).
function M.window(run, result)
  local st = run.watch_state
  -- (a run whose `always` hook failed exits 1 already: its application may not be back)
  if not (st and st.base) or result.status ~= "succeeded" or result.exit ~= 0 then return end
  local ok, err = pcall(windows, run, result, st)
  if not ok then
    run.out:error(err)
    result.error = result.error or err
    if result.exit == 0 then
      local int = window.interrupted(err)
      result.status, result.exit = int and "watch_interrupted" or "watch_stopped", int and 130 or 1
    end
  end
  sample.close(run.db)
end

return M
