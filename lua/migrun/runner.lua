--- migrun.runner: orchestration of the verbs that change a database (policy layer): run,
-- rollback, baseline and accept-drift. Order of a run: advisory lock (never waits), ledger
-- state, drift, selection, refusals that need no change (a gate nobody can answer, a missing
-- protected table), ledger, preflight and run-start snapshot, backup, phases and gates in
-- order (migrun.run.executor), final verify and protect, then the failure policy
-- (migrun.run.recovery). Returns a result table the command layer turns into output, a
-- report and an exit code. What the ledger means lives in migrun.run.state.
local clock = require "migrun.clock"
local context = require "migrun.run.context"
local errors = require "migrun.errors"
local executor = require "migrun.run.executor"
local hooks = require "migrun.hooks"
local ident = require "migrun.ident"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local prompt = require "migrun.prompt"
local prove = require "migrun.run.prove"
local recovery = require "migrun.run.recovery"
local snapshot = require "migrun.snapshot"
local state = require "migrun.run.state"
local status = require "migrun.run.status"
local sys = require "migrun.core.sys"

local M = {}

-- pg_try_advisory_lock(int4, int4): one lock per database for all migrun runs
local LOCK_K1, LOCK_K2 = 1835495022, 1

--- runner.lock(db): take the per-database advisory lock without waiting, or raise
-- kind="environment" naming the holder (pid, host, start time)
function M.lock(db)
  if db:query("SELECT pg_try_advisory_lock($1, $2) AS ok", LOCK_K1, LOCK_K2)[1].ok then return end
  local h = db:query([[
    SELECT a.pid, a.application_name AS app, coalesce(a.client_hostname, host(a.client_addr), 'local socket') AS addr,
           to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since, a.usename AS who
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())]],
    LOCK_K1, LOCK_K2)[1] or {}
  errors.raise("environment", string.format(
    "another migrun run holds this database's lock: pid %s (%s, user %s, from %s) since %s",
    tostring(h.pid or "?"), h.app or "?", h.who or "?", h.addr or "?", h.since or "?"),
    { hint = "wait for it to finish, or check `migrun status`; migrun never waits for this lock" })
end

function M.unlock(db)
  if db:status() == "closed" then return end
  pcall(db.query, db, "SELECT pg_advisory_unlock($1, $2)", LOCK_K1, LOCK_K2)
end

local function ms(ns) return ns and ns / 1e6 end

-- PostgreSQL cuts an identifier over 63 bytes with only a NOTICE (42622), so two long names
-- can become one: in a playbook's SQL that is an error
local function notice_handler(out)
  return function(n)
    if n.sqlstate == "42622" then
      errors.raise("sql", "identifier too long: " .. tostring(n.message) .. " (PostgreSQL names hold " ..
        "at most 63 bytes; a longer one is cut, and two cut names can collide)",
        { sqlstate = "42622", severity = "ERROR", position = n.position })
    elseif out.verbose then
      out:info(string.format("%s: %s", n.severity or "NOTICE", tostring(n.message)))
    end
  end
end

-- the session a run works in: named in pg_stat_activity, a dead client noticed, notices read
local function prepare_session(db, pb, out)
  if db:server_version() >= 140000 then db:set("client_connection_check_interval", "2s") end
  db:set("application_name", string.format("migrun %s @%s", pb.name, sys.hostname() or "?"):sub(1, 63))
  return db:notices(notice_handler(out))
end

-- the phase/step pairs of a playbook as this run sees it (the ledger keeps them: a new step
-- placed before applied ones is drift, a step skipped by --only is not)
local function plan_of(pb)
  local list = {}
  for _, ph in ipairs(state.phases(pb)) do
    for _, st in ipairs(ph.steps) do list[#list + 1] = { ph.name, st.name } end
  end
  return list
end

-- ls: the ledger state read at the start; only steps no run has seen yet are recorded
local function start(run, kind, note, ls)
  local pb, opts = run.pb, run.opts
  ledger.ensure(run.db)
  local plan = {}
  for _, p in ipairs(plan_of(pb)) do
    if not (ls and ls.known[state.key(p[1], p[2])]) then plan[#plan + 1] = p end
  end
  run.id = ledger.start_run(run.db, { playbook = pb.name, checksum = pb.checksum, target = opts.target,
    host = sys.hostname(), os_user = sys.username(), version = require("migrun").VERSION,
    dry_run = opts.dry_run, kind = kind, vars = pb.vars, note = note, plan = plan })
  return run.id
end

-- a gate after which a selected phase still has work: it will be asked
local function gate_needed(pb, ls, selected, idx)
  for j = idx + 1, #pb.items do
    local it = pb.items[j]
    if it.kind == "phase" and selected[it.name] and #state.pending_steps(it, ls) > 0 then return true end
  end
  return false
end

-- what would stop the run half-way, refused before anything is touched
local function precheck(run, ls, selected)
  local pb, opts, db = run.pb, run.opts, run.db
  if not opts.dry_run and not opts.yes and not prompt.can_ask() then
    for idx, item in ipairs(pb.items) do
      if item.kind == "gate" and gate_needed(pb, ls, selected, idx) then
        run.out:info("gate " .. item.name)
        for _, q in ipairs(item.items) do run.out:info("  [ ] " .. q) end
        errors.raise("declined", string.format("gate '%s' needs an answer: there is no terminal, " ..
          "so pass --yes (nothing was touched)", item.name), { gate = item.name })
      end
    end
  end
  for _, p in ipairs(pb.protect) do
    if not ident.oid(db, p.table) then
      errors.raise("playbook", string.format("protect: there is no table %s in this database " ..
        "(a typo, or the wrong database?)", ident.display(p.table)), { file = pb.path, line = pb.line })
    end
  end
end

-- --allow-drift: the run goes on, and the ledger takes the playbook as it is now, so a later
-- run does not refuse again (what accept-drift records, without its diff)
local function record_drift(run, drift, note)
  local pb, db = run.pb, run.db
  for _, d in ipairs(drift) do
    local ph = pb.phases[d.phase]
    local st
    for _, x in ipairs(ph and ph.steps or {}) do if x.name == d.step then st = x end end
    local rec = { run_id = run.id, playbook = pb.name, phase = d.phase, step = d.step,
                  kind = st and st.kind or "sql", checksum = d.checksum, body = st and (st.body or st.text),
                  note = string.format("%s: %s", note, state.describe_drift(d)) }
    if d.reason == "changed" then
      rec.status = "applied"
    elseif d.reason == "removed" then
      rec.status, rec.checksum = "removed", d.old_checksum
    elseif d.reason == "renamed" then
      ledger.record_step(db, { run_id = run.id, playbook = pb.name, phase = d.from.phase,
        step = d.from.step, kind = rec.kind, checksum = d.checksum, status = "renamed",
        note = string.format("%s: now %s / %s", note, d.phase, d.step) })
      rec.status = "applied"
    end
    if rec.status then ledger.record_step(db, rec) end    -- inserted: known from this run's plan on
  end
end

local function take_backup(run)
  local pb, opts = run.pb, run.opts
  local more
  local o = pb.backup.opts or {}
  local where = o.file or o.dir or "."
  if opts.backup_dir and (opts.rehearsal or where:sub(1, 1) ~= "/") then
    -- a rehearsal never leaves a dump of its clone anywhere; a sandbox run keeps the project's
    -- own backup directory clean (an absolute path is the user's explicit choice: kept)
    more = o.file and { file = opts.backup_dir .. "/" .. o.file:match("[^/]+$") } or { dir = opts.backup_dir }
  end
  run.out:info("backup: " .. pb.backup:describe())
  run.backup = pb.backup:take({ conninfo = opts.conninfo, env = opts.env, db = run.db, out = run.out,
                                dir = pb.dir, playbook = pb.name }, more)
  return run.backup
end

-- preflight and the run-start snapshot: read-only, before anything changes. Preflight
-- describes the state before the playbook, so it runs on a fresh start only; a resumed run
-- compares with the snapshot of the run that started it. Retried on lock errors.
local function preflight(run, fresh_start, todo)
  local pb, db = run.pb, run.db
  db:set("lock_timeout", string.format("%dms", pb.lock_timeout // 1000000))
  local mark
  executor.retry({ attempts = pb.retries + 1, what = "preflight", out = run.out,
                   on_retry = function() for i = #run.results, mark + 1, -1 do run.results[i] = nil end end },
    function()
      mark = #run.results
      local tx <close> = db:begin("SET TRANSACTION READ ONLY")   -- one round trip
      if fresh_start then
        local results, ok = run:check("(preflight)", pb.preflight, { no_ledger = true })
        for _, r in ipairs(results) do
          if r.error and executor.retryable(r.error) then error(r.error, 0) end
        end
        run.preflight = results
        if not ok then
          tx:rollback()
          ledger.record_expectations(db, run.id, "(preflight)", results)
          run.preflight = nil
          run.failed_phase = "(preflight)"
          errors.raise("expectation", "preflight failed: nothing was changed")
        end
      end
      -- a no-op rerun counts only what its expectations compare against the run start
      run.snapshot_list = snapshot.dedupe(db, todo > 0 and state.snapshot_tables(pb) or state.baseline_tables(pb))
      run.before = snapshot.take(db, run.snapshot_list, { fingerprint = state.fingerprint_tables(pb),
                                                          exact = state.baseline_tables(pb) })
      tx:rollback()
    end)
  if run.preflight then ledger.record_expectations(db, run.id, "(preflight)", run.preflight) end
  if fresh_start then
    if not run.dry_run then ledger.save_baseline(db, run.id, snapshot.encode(run.before)) end
  else
    local b = ledger.baseline(db, pb.name)
    if b then
      -- counts of the run that started this migration; tables it did not count keep today's
      local then_ = snapshot.decode(b.json)
      for _, t in ipairs(run.before:tables()) do
        if then_:taken(t) then
          run.before._counts[t] = then_:count(t)
          run.before._fingerprints[t] = then_:fingerprint(t)
        end
      end
      run.baseline_run = b.run_id
      if todo > 0 then
        run.out:info(string.format("resuming: comparisons are with the start of run %d", b.run_id))
      end
    end
  end
end

local function ask_gate(run, item)
  if not run.opts.yes then hooks.notify(run, "gate", { gate = item.name }) end
  local ok, rec, why = prompt.ask(run.out, { name = item.name, items = item.items, yes = run.opts.yes })
  run.gate_ns = run.gate_ns + math.floor(rec.waited_ms * 1e6)
  run.gates[#run.gates + 1] = rec
  if run.id then ledger.record_gate(run.db, run.id, rec) end
  if not ok then errors.raise("declined", why, { gate = item.name }) end
end

local function phase_row(run, ph, code, extra)
  local row = { name = ph.name, status = code, budget = ph.budget and ph.budget.text,
                transaction = ph.transaction }
  for k, v in pairs(extra or {}) do row[k] = v end
  run.phases[#run.phases + 1] = row
  return row
end

-- the phases and gates in order
local function run_items(run, ls, selected)
  local pb, out = run.pb, run.out
  local stopped_dry = nil
  for idx, item in ipairs(pb.items) do
    if item.kind == "gate" then
      if not stopped_dry and gate_needed(pb, ls, selected, idx) then
        if run.dry_run then
          out:info(string.format("gate %s: not asked in a dry run", item.name))
        else
          ask_gate(run, item)
        end
      end
    elseif stopped_dry then
      phase_row(run, item, "dry_run_not_reached")
    elseif not selected[item.name] then
      phase_row(run, item, "not_selected")
    else
      local pending = state.pending_steps(item, ls)
      if #pending == 0 then
        out:phase(item, "skipped", nil, "already applied")
        phase_row(run, item, "already_applied")
      elseif run.dry_run and not item.transaction then
        out:phase(item, "skipped", nil, "transaction = false: a dry run stops here")
        phase_row(run, item, "dry_run_skipped")
        stopped_dry = item
      else
        for _, st in ipairs(pending) do
          local rec = state.record(ls, item.name, st.name)
          if rec and rec.status == "started" then
            out:warn(string.format("step %s of phase '%s' was interrupted in run %d (started, never " ..
              "finished): running it again", st.name, item.name, rec.run_id))
          end
        end
        local t = clock.now()
        local proving = run.opts.prove_rollbacks and item.rollback
        local before = proving and prove.before(run, item)
        local ok, res = executor.apply_phase(run, item, pending)
        if ok and proving then
          prove.after(run, item, before, function()
            local again, err = executor.apply_phase(run, item, item.steps)
            if not again then
              run.failed_phase = item.name
              errors.raise("expectation", string.format("phase '%s' could not be applied again after its " ..
                "rollback (the rollback left something behind): %s", item.name, errors.text(err)))
            end
          end)
        end
        local row = phase_row(run, item, nil, { duration_ms = ms(clock.since(t)) })
        if ok then
          row.status = run.dry_run and "dry_run_checked" or "applied"
          run.applied[#run.applied + 1] = item
          run:set_state(item.name, row.status)
        else
          local partial = not item.transaction and (run.committed or 0) > 0
          row.status = item.transaction and "failed_rolled_back" or
            partial and "failed_partly_applied" or "failed_nothing_applied"
          row.error = tostring(res)
          run:set_state(item.name, row.status)
          if partial then run.applied[#run.applied + 1] = item end
          run.failed_phase = item.name
          error(res, 0)
        end
      end
    end
  end
  return stopped_dry
end

-- the final verify describes the end state: it runs once every phase is applied
local function final_verify(run, ls)
  local pb, db = run.pb, run.db
  local unapplied = {}
  for _, ph in ipairs(state.phases(pb)) do
    if run.states[ph.name] ~= "applied" and run.states[ph.name] ~= "dry_run_checked"
       and #state.pending_steps(ph, ls) > 0 then
      unapplied[#unapplied + 1] = ph.name
    end
  end
  if #unapplied > 0 and #pb.verify > 0 then
    run.out:info(string.format("final verify skipped: %d phase(s) not applied yet (%s)", #unapplied,
                               table.concat(unapplied, ", ")))
  end
  -- nothing to verify or protect: no empty transaction (two round trips for nothing)
  local busy = (#unapplied == 0 and #pb.verify > 0) or #pb.protect > 0
  local tx <close> = busy and db:begin() or nil
  local vok = true
  if #unapplied == 0 then vok = select(2, run:check("(verify)", pb.verify)) end
  local pok = M.check_protect(run)
  if tx then tx:commit() end
  if not (vok and pok) then
    run.failed_phase = "(verify)"
    errors.raise("expectation", "the final verify failed")
  end
end

-- phases run this time that are pending in a dry run: said before anything runs
local function dry_run_notice(run, ls, selected)
  for _, ph in ipairs(state.phases(run.pb)) do
    if selected[ph.name] and not ph.transaction and #state.pending_steps(ph, ls) > 0 then
      run.out:warn(string.format("dry run: phase '%s' has transaction = false, which a dry run " ..
        "cannot undo; the dry run checks the phases before it and stops there (`migrun rehearse` " ..
        "runs everything on a clone)", ph.name))
      return ph
    end
  end
end

-- after a lost connection (a restart, a terminated or stopped backend): a new connection and
-- the run's lock again, so the failure policy can run through it. A restarting server gets
-- 30 s to come back; an old backend that still holds the lock (a stopped process) is asked
-- to terminate, and given 5 s.
local function reconnect_for_recovery(run)
  local deadline = clock.now() + 30e9
  local lock_deadline
  local last
  while clock.now() < deadline and (not lock_deadline or clock.now() < lock_deadline) do
    local ok, err = pcall(function()
      if run.db:status() ~= "idle" then
        pcall(run.db.close, run.db)
        run.db = require("migrun.db").connect(run.opts.conninfo)
        prepare_session(run.db, run.pb, run.out)
      end
      lock_deadline = lock_deadline or clock.now() + 5e9
      if run.backend_pid then
        run.db:query("SELECT pg_terminate_backend($1) FROM pg_stat_activity WHERE pid = $1", run.backend_pid)
      end
      M.lock(run.db)
    end)
    if ok then
      run.out:info("reconnected to " .. run.db:target() .. ": recovering through the new connection")
      return true
    end
    last = err
    clock.sleep(250)
  end
  return false, last
end

-- hooks before and after: one that fails fails the run, as a failed expectation would
local function call_hooks(run, event)
  run.hooks_started = true
  local ok, msg = hooks.call(run, event)
  if not ok then
    run.failed_phase = "(hooks." .. event .. ")"
    errors.raise("hook", msg, { hint = event == "before" and "nothing was changed" or nil })
  end
end

-- on_failure and always, once the outcome is known: they run when `before` had its turn
-- (the run had work to do and got past its preflight and backup). One that fails cannot
-- change what happened, so it is an error on its own, and the exit code is not 0.
local function closing_hooks(run, result)
  local info = { outcome = result.status, phase = run.failed_phase,
                 error = result.error and errors.text(result.error) or nil }
  local events = result.exit ~= 0 and { "on_failure", "always" } or { "always" }
  for _, ev in ipairs(events) do
    local ok, called, why = pcall(hooks.call, run, ev, info)
    local msg = (not ok and errors.text(called)) or (not called and why) or nil
    if msg then
      result.hook_errors = result.hook_errors or {}
      result.hook_errors[#result.hook_errors + 1] = msg
      run.out:error(msg .. (ev == "always" and " (do by hand what it should have done)" or ""))
      if result.exit == 0 then result.exit = 1 end
    end
  end
end

--- runner.run(pb, opts) -> result
-- opts: db (connected), target (redacted), conninfo, env, out, yes, dry_run, from, only, to,
-- allow_drift, rehearsal, backup_dir. result: {status (a migrun.run.status.run code), exit,
-- run_id, error, results, phases, states, before, after, backup, ...}
function M.run(pb, opts)
  local run = context.new(pb, opts)
  local out = opts.out
  local result = { playbook = pb.name, target = opts.target, results = run.results, phases = run.phases,
                   states = run.states, dry_run = opts.dry_run, rehearsal = opts.rehearsal,
                   db_user = opts.db:info().user, vars = pb.vars, run = run }
  local previous_handler = prepare_session(opts.db, pb, out)
  M.lock(opts.db)
  run.backend_pid = opts.db:backend_pid()
  run.release = function() M.unlock(run.db) end
  run.reconnect = function()
    run.db = require("migrun.db").connect(opts.conninfo)
    prepare_session(run.db, pb, out)
    M.lock(run.db)
  end
  local outer, todo, stopped_dry
  local ok, err = pcall(function()
    local db = run.db
    local ls = ledger.state(db, pb.name)
    local drift = state.drift(pb, ls)
    if #drift > 0 and not opts.allow_drift then
      -- a few lines say what it is; a wall of them (the wrong playbook, the wrong database)
      -- would hide the hint: `migrun plan` lists every one
      local lines = {}
      for i, d in ipairs(drift) do
        if i > 10 and #drift > 12 then
          lines[#lines + 1] = string.format("  ... and %d more (`migrun plan %s` lists them all)", #drift - 10,
                                            pb.path or "PLAYBOOK")
          break
        end
        lines[#lines + 1] = "  " .. state.describe_drift(d)
      end
      errors.raise("drift", "the playbook and the ledger disagree:\n" .. table.concat(lines, "\n"),
        { drift = drift, hint = "put the applied version back, or record the change with " ..
                                "`migrun accept-drift` (or run once with --allow-drift)" })
    end
    local selected = state.select(pb, opts)
    local applied_before
    todo, applied_before = state.todo(pb, ls, selected)
    precheck(run, ls, selected)
    require("migrun.watch").precheck(run, ls, selected, todo)  -- pg_stat_statements, rollbacks
    -- a dry run does everything, the ledger included, inside one transaction it rolls back
    if opts.dry_run then outer = db:begin() end
    start(run, opts.dry_run and "dry_run" or opts.rehearsal and "rehearsal" or "run", nil, ls)
    result.run_id = run.id
    if #drift > 0 then
      record_drift(run, drift, "accepted by --allow-drift in run " .. run.id)
      out:warn(string.format("--allow-drift: %d drifted step(s) recorded as the playbook has them now", #drift))
    end
    out:info(string.format("migrun: playbook %s on %s (run %d%s)", pb.name, opts.target, run.id,
                           opts.dry_run and ", DRY RUN" or opts.rehearsal and ", REHEARSAL" or ""))
    if opts.dry_run then dry_run_notice(run, ls, selected) end
    if todo > 0 then
      run.announced = true                           -- its end is announced too
      hooks.notify(run, "start")
    end
    local fresh_start = applied_before == 0
    if not fresh_start then
      out:info(string.format("preflight skipped: %d phase(s) already applied, %d to do", applied_before, todo))
    end
    preflight(run, fresh_start, todo)
    result.before = run.before
    require("migrun.watch").baseline(run, todo)      -- the watch's figures before the first phase
    if pb.backup and not opts.dry_run and todo > 0 then result.backup = take_backup(run) end
    run.t0, run.gate_ns = clock.now(), 0             -- the run budget counts from the first phase
    if todo > 0 then call_hooks(run, "before") end
    stopped_dry = run_items(run, ls, selected)
    if not stopped_dry then final_verify(run, ls) end
    if todo > 0 then call_hooks(run, "after") end
    if outer then outer:rollback() end
  end)

  result.baseline_run = run.baseline_run
  result.failed_phase = run.failed_phase
  result.dry_run_stopped_at = stopped_dry and stopped_dry.name
  if ok then
    result.status = opts.dry_run and "dry_run" or todo == 0 and "nothing_to_do" or "succeeded"
    result.exit = 0
  else
    result.error, result.error_shown = err, run.errors_shown
    local st = run.db:status()
    if st == "inerror" or st == "intrans" then pcall(run.db.exec, run.db, "ROLLBACK") end
    local lost = executor.connection_lost(run.db, err)
    if lost and run.id then
      out:error(string.format("lost the connection to %s during the run: %s", opts.target,
                              errors.text(err):match("[^\n]*")))
      local rok, rerr = reconnect_for_recovery(run)
      if not rok then
        out:error("could not reconnect: " .. errors.text(rerr):match("[^\n]*"))
      elseif run.unrecorded then
        local u = run.unrecorded
        run.unrecorded = nil
        executor.record_failure(run, u.ph, u.err, u.attempt, u.st)
      end
      lost = not rok
    end
    if not run.id then
      result.status, result.exit = errors.is(err, "declined") and "declined" or "not_started", errors.exit_code(err)
    elseif lost then
      -- nothing committed by this run can be undone without a connection: a human must look
      result.status = "connection_lost"
      result.exit = #run.applied == 0 and 3 or 5
      for _, ph in ipairs(run.applied) do run:set_state(ph.name, "not_rolled_back") end
    elseif opts.dry_run then
      result.status, result.exit = "dry_run_failed", errors.exit_code(err)
    else
      result.status, result.exit = recovery.after_failure(run, err)
    end
  end
  if run.hooks_started then closing_hooks(run, result) end
  -- watch window: after everything that ends a successful run, before its ledger row is
  -- finished; a breach may roll the run back, so the row counts below come after it
  local exit_before_watch = result.exit
  require("migrun.watch").window(run, result)
  -- a breach that failed the run: on_failure as for any failure (`always` has run already)
  if exit_before_watch == 0 and result.exit ~= 0 and run.hooks_started then
    local hok, called, why = pcall(hooks.call, run, "on_failure", { outcome = result.status, error = result.error
                                                                     and errors.text(result.error) or nil })
    local msg = (not hok and errors.text(called)) or (not called and why) or nil
    if msg then run.out:error(msg) end
  end
  -- the row counts after everything, the failure policy included
  local db = run.db
  result.db = db
  if run.snapshot_list and db:status() == "idle" then
    local aok, snap = pcall(snapshot.take, db, run.snapshot_list, {})
    result.after = aok and snap or nil
  end
  result.work_ms, result.gate_ms = ms(run:work_ns()), ms(run.gate_ns)
  result.duration_ms = ms(clock.since(run.t_start))
  result.kept = run.kept
  result.started_at, result.finished_at = run.started_at, os.date("%Y-%m-%d %H:%M:%S %Z")
  result.checksum, result.playbook_file = pb.checksum, pb.path
  result.summary = require("migrun.report").summary(result, run)
  if run.id and not opts.dry_run then
    local fok, ferr = false, "the connection is " .. db:status()
    if db:status() == "idle" then
      fok, ferr = pcall(ledger.finish_run, db, run.id, result.status,
                        result.error and errors.text(result.error), json.encode(result.summary))
    end
    if not fok then
      out:error("could not record the end of the run (its last, durable commit): " .. errors.text(ferr))
      if result.exit == 0 then result.exit = 3 end    -- exit 0 would claim it is all on disk
    end
  end
  M.unlock(db)
  require("migrun.run.watch").close(run)
  if db == opts.db and db:status() ~= "closed" then db:notices(previous_handler) end
  return result
end

--- runner.check_protect(run) -> ok: every protected table kept its rows (or only grew)
function M.check_protect(run)
  if #run.pb.protect == 0 then return true end
  local fp, tables = {}, {}
  for _, p in ipairs(run.pb.protect) do
    fp[p.table] = true
    tables[#tables + 1] = p.table
  end
  local now = snapshot.take(run.db, tables, { fingerprint = fp })
  local results, ok = {}, true
  local since = run.baseline_run and string.format(" since run %d began", run.baseline_run) or ""
  for _, p in ipairs(run.pb.protect) do
    local b, a = run.before:count(p.table), now:count(p.table)
    local r = { description = string.format("protect %s (%s)", p.table, p.mode), phase = "(protect)" }
    if p.mode == "grow" then
      r.ok = a ~= nil and b ~= nil and a >= b
      r.expected, r.actual = string.format(">= %s rows%s", tostring(b), since), string.format("%s rows", tostring(a))
    else
      local same = a == b and now:fingerprint(p.table) == run.before:fingerprint(p.table)
      r.ok = same
      r.expected = string.format("%s rows, content unchanged%s", tostring(b), since)
      r.actual = same and r.expected or string.format("%s rows%s", tostring(a),
        a == b and ", content changed" or "")
    end
    if not r.ok then ok = false end
    results[#results + 1] = r
    run.results[#run.results + 1] = r
    run.out:expectation("(protect)", r)
  end
  if run.id then ledger.record_expectations(run.db, run.id, "(protect)", results) end
  return ok
end

-- the shell shared by the verbs that only write the ledger or undo: lock, a run row, status
local function ledger_verb(pb, opts, kind, body)
  local run = context.new(pb, opts)
  local result = { playbook = pb.name, target = opts.target, states = run.states, phases = run.phases, run = run }
  M.lock(opts.db)
  local ok, err = pcall(body, run, result)
  if ok then
    result.exit = 0
  else
    result.error = err
    if run.db:status() ~= "idle" then pcall(run.db.exec, run.db, "ROLLBACK") end
    result.status = result.status or (errors.is(err, "declined") and "declined" or kind .. "_failed")
    result.exit = errors.is(err) and err.exit or errors.exit_code(err)
  end
  result.duration_ms = ms(clock.since(run.t_start))
  if run.id then
    pcall(ledger.finish_run, run.db, run.id, result.status, result.error and tostring(result.error), nil)
  end
  M.unlock(run.db)
  require("migrun.run.watch").close(run)
  return result
end

--- runner.rollback(pb, opts) -> result: undo applied phases (newest first), across runs, each
-- in its own transaction; stops at a phase without a rollback, before touching it.
-- opts.confirm(plan, run) -> ok, why is called with the lock held, before anything changes
-- (it shows the loss, asks, takes the backup)
function M.rollback(pb, opts)
  return ledger_verb(pb, opts, "rollback", function(run, result)
    local ls = ledger.state(run.db, pb.name)
    local plan = state.rollback_plan(pb, ls, opts.to)
    if #plan.phases == 0 then
      opts.out:info("nothing to roll back: no applied phase" .. (opts.to and (" after '" .. opts.to .. "'") or ""))
      result.status = "nothing_to_do"
      return
    end
    if opts.confirm then
      local yes, why = opts.confirm(plan, run)
      if not yes then errors.raise("declined", why) end
    end
    result.run_id = start(run, "rollback")
    run.db:set("lock_timeout", string.format("%dms", pb.lock_timeout // 1000000))
    for i = #plan.phases, 1, -1 do run.applied[#run.applied + 1] = plan.phases[i] end
    local done = recovery.rollback_applied(run)
    for _, ph in ipairs(run.applied) do
      if not run.states[ph.name] then run:set_state(ph.name, "applied") end
    end
    if done then
      result.status = "rollback_done"
      return
    end
    local missing = false
    for _, code in pairs(run.states) do if code == "no_rollback" then missing = true end end
    result.status = missing and "rollback_stopped" or "rollback_failed"
    errors.raise("recovery", "the rollback stopped before it finished", { exit = missing and 1 or 5 })
  end)
end

--- runner.baseline(pb, opts) -> result: record the phases up to opts.to as applied without
-- running them (a database migrated before migrun came); opts.note says why
function M.baseline(pb, opts)
  return ledger_verb(pb, opts, "baseline", function(run, result)
    local ls = ledger.state(run.db, pb.name)
    local list = state.baseline_plan(pb, ls, opts.to)
    if #list == 0 then
      opts.out:info("nothing to record: every phase up to '" .. opts.to .. "' is already applied")
      result.status = "nothing_to_do"
      return
    end
    if opts.confirm then
      local yes, why = opts.confirm(list, run)
      if not yes then errors.raise("declined", why) end
    end
    local note = "baseline: " .. (opts.note or "recorded as applied without running it")
    result.run_id = start(run, "baseline", opts.note)
    run.db:tx(function()
      for _, ph in ipairs(list) do
        for _, st in ipairs(state.pending_steps(ph, ls)) do
          run:record({ phase = ph.name, step = st.name, kind = st.kind, checksum = st.checksum,
                       status = "applied", body = st.body or st.text, note = note })
        end
        run:record({ phase = ph.name, step = "(phase)", kind = "phase", status = "applied", note = note })
        run:set_state(ph.name, "baselined")
        phase_row(run, ph, "baselined")
        opts.out:phase(ph, "recorded as applied")
      end
    end)
    result.status = "baselined"
  end)
end

--- runner.accept_drift(pb, opts) -> result: record the playbook's current version of every
-- drifted step. opts.confirm(drift, run) -> ok, why shows the diff and asks.
function M.accept_drift(pb, opts)
  return ledger_verb(pb, opts, "accept_drift", function(run, result)
    local ls = ledger.state(run.db, pb.name)
    local drift = state.drift(pb, ls)
    result.drift = drift
    if #drift == 0 then
      opts.out:info("no drift: the ledger matches the playbook")
      result.status = "nothing_to_do"
      return
    end
    if opts.confirm then
      local yes, why = opts.confirm(drift, run)
      if not yes then errors.raise("declined", why) end
    end
    result.run_id = start(run, "accept_drift", opts.note)
    run.db:tx(function() record_drift(run, drift, "accepted by migrun accept-drift in run " .. run.id) end)
    result.status = "drift_accepted"
  end)
end

M.status = status
return M
