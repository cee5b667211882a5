--- migrun.run.executor: how a phase runs (policy layer). One step loop with two strategies:
-- transactional (BEGIN, every step, verify, ledger rows with COMMIT: all or nothing) and
-- autocommit (`transaction = false`: each statement on its own, each step marked started
-- before and applied after). One retry(policy, fn) for lock timeouts, deadlocks and
-- serialization failures; one budget rule for steps, phases and the run, which also holds
-- while a step runs (SQL gets a statement_timeout from what is left, a Lua step a hook).
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local sqlsplit = require "migrun.sqlsplit"
local sys = require "migrun.core.sys"
local watch = require "migrun.run.watch"
local forecast = require "migrun.run.forecast"

local M = {}

-- SQLSTATEs after which the work is retried whole (pgbench's classification)
M.RETRYABLE = { ["55P03"] = "lock_not_available", ["40P01"] = "deadlock_detected",
                ["40001"] = "serialization_failure" }

-- why an error is worth another attempt: its SQLSTATE's name, or the reason its raiser gave
-- (err.retry_reason: a backfill batch of one row that ran past its target)
local function retry_reason(err)
  return errors.is_sql(err) and (M.RETRYABLE[err.sqlstate] or err.retry_reason) or nil
end

--- executor.retryable(err) -> true for an error worth another attempt
function M.retryable(err)
  return retry_reason(err) ~= nil
end

--- executor.backoff(attempt) -> nanoseconds to wait before attempt + 1 (250ms doubling, max 8s,
-- with jitter so two retrying runs don't collide again)
function M.backoff(attempt)
  local base = math.min(250e6 * 2 ^ (attempt - 1), 8e9)
  return math.floor(base * (0.75 + math.random() * 0.5))
end

--- executor.retry(policy, fn) -> fn's results. fn(attempt) is called until it succeeds, or
-- fails with an error that is not retryable, or attempts run out. policy = {attempts, what,
-- out, undone = "rolled back" (said in the warning), on_retry = fn(err, attempt), on_fail =
-- fn(err, attempt) after every failure}. on_fail runs here, outside fn, so it runs even when
-- the failure is a Ctrl-C (whose error Lua raises at fn's next instruction, wherever that is)
function M.retry(policy, fn)
  for attempt = 1, policy.attempts do
    local res = table.pack(pcall(fn, attempt))
    if res[1] then return table.unpack(res, 2, res.n) end
    local err = res[2]
    if policy.on_fail then policy.on_fail(err, attempt) end
    if not (M.retryable(err) and attempt < policy.attempts) then error(err, 0) end
    if policy.on_retry then policy.on_retry(err, attempt) end
    local wait = M.backoff(attempt)
    policy.out:warn(string.format("%s: %s (%s)%s; retrying in %s (attempt %d of %d)", policy.what,
      retry_reason(err), err.sqlstate, policy.undone and (", " .. policy.undone) or "",
      clock.format(wait), attempt + 1, policy.attempts))
    clock.sleep(wait / 1e6)
  end
end

-- ---------------------------------------------------------------------------------------
-- budgets

local function budget_error(what, ns, b, while_running)
  return errors.new("budget", while_running
    and string.format("%s was stopped at its budget of %s", what, b.text)
    or string.format("%s took %s, over its budget of %s", what, clock.format(ns), b.text))
end

--- executor.check_budget(run, what, budget, ns): a hard budget over-run raises
-- kind="budget"; a `warn = true` one warns, once
function M.check_budget(run, what, b, ns)
  if not b or ns <= b.ns then return end
  local e = budget_error(what, ns, b)
  if b.warn then run:warn_once(what, e.message) else error(e, 0) end
end

-- the tightest hard limit left, in ns, and what it belongs to: the step's own budget from
-- its start, the phase's from the phase's start, the run's from its work clock
local function limit(run, ph, t_phase, st)
  local ns, what, b
  local function consider(left, w, bb)
    if left and (not ns or left < ns) then ns, what, b = left, w, bb end
  end
  if st and st.budget and not st.budget.warn then
    consider(st.budget.ns - clock.since(run.step_started or clock.now()), "step " .. st.name, st.budget)
  end
  -- an undo is never stopped by the time the phase or the run was given: a budget that ran
  -- out may be why it is undone (a rollback's own budget still holds)
  if run.undoing then return ns, what, b end
  if ph.budget and not ph.budget.warn then
    consider(ph.budget.ns - clock.since(t_phase), "phase '" .. ph.name .. "'", ph.budget)
  end
  local rb = run.pb.budget
  if rb and not rb.warn then consider(rb.ns - run:work_ns(), "the run", rb) end
  return ns, what, b
end

--- executor.timeout_now(run, ph, t_phase, st) -> the statement_timeout (ms, 0: none) a
-- statement gets now, and the budget that set it (nil when the playbook's statement_timeout is
-- the tighter one). Raises when a budget has run out.
function M.timeout_now(run, ph, t_phase, st)
  local ns, what, b = limit(run, ph, t_phase, st)
  if ns and ns <= 0 then error(budget_error(what, 0, b, true), 0) end
  local configured = ph.statement_timeout or run.pb.statement_timeout
  if ns and (not configured or ns < configured) then
    return math.max(1, ns // 1000000), { what = what, budget = b }
  end
  return configured and configured // 1000000 or 0, nil
end

-- the client's own limit: a statement with a statement_timeout of T ms must be answered
-- within T plus this, else the server is not answering (a stopped backend, a hung host, a
-- network gone quiet) and the connection is given up instead of waiting forever
M.CLIENT_GRACE_MS = 5000

local function client_limit(db, timeout_ms)
  db:set_client_timeout(timeout_ms and timeout_ms > 0 and timeout_ms + M.CLIENT_GRACE_MS or nil)
end

--- executor.as_budget_error(err, source) -> err, or the budget's over-run when err is a
-- statement cancelled by a statement_timeout that budget set (source, from timeout_now)
function M.as_budget_error(err, source)
  if source and errors.is_sql(err, "57014") and not sys.interrupted() then
    local e = budget_error(source.what, 0, source.budget, true)
    e.cause = err
    return e
  end
  return err
end

-- run fn(...) with a deadline for Lua code: a count hook raises the budget error once the
-- clock passes it (SQL the step runs gets its statement_timeout from the same budget)
local function with_deadline(deadline, source, fn, ...)
  if not deadline then return fn(...) end
  debug.sethook(function()
    if clock.now() > deadline then
      debug.sethook()
      error(budget_error(source.what, 0, source.budget, true), 0)
    end
  end, "", 10000)
  local res = table.pack(pcall(fn, ...))
  debug.sethook()
  -- a Ctrl-C whose hook the line above removed: raise it as the interrupt hook would have
  if sys.interrupted(true) then errors.raise("interrupted", "interrupted (Ctrl-C or SIGTERM)") end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- ---------------------------------------------------------------------------------------
-- steps

local function ms(ns) return ns / 1e6 end

-- an SQL error of an inline step gets the playbook's line
local function locate_inline(err, st)
  if errors.is_sql(err) and not st.file and err.line and not err.mapped then
    err.line = require("migrun.dsl").text_line(st) + err.line - 1
    err.mapped = true
  end
  return err
end

-- names of indexes a statement builds concurrently (an interrupted build leaves them INVALID)
local function concurrent_index(sql)
  local s = sql:lower()
  local name = s:match("^%s*create%s+unique%s+index%s+concurrently%s+if%s+not%s+exists%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+index%s+concurrently%s+if%s+not%s+exists%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+unique%s+index%s+concurrently%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+index%s+concurrently%s+([%w_%.\"]+)")
  return name and name:gsub('"', "")
end
M.concurrent_index = concurrent_index

--- executor.drop_invalid_index(run, name, why): drop an INVALID index of that name (a failed
-- or interrupted CREATE INDEX CONCURRENTLY leaves one); returns the names dropped
function M.drop_invalid_index(run, name, why)
  local r = run.db:query([[SELECT format('%I.%I', n.nspname, c.relname) AS q FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND c.relname = $1 AND n.nspname = ANY (current_schemas(false))]],
    (name:match("[^%.]+$")))
  local dropped = {}
  for _, row in ipairs(r) do
    run.out:warn(string.format("dropping the invalid index %s %s", row.q, why))
    run.db:exec("DROP INDEX CONCURRENTLY IF EXISTS " .. row.q)
    dropped[#dropped + 1] = row.q
  end
  return dropped
end

-- one statement outside a transaction, retried on lock timeouts; the INVALID index a failed
-- concurrent build leaves is dropped inside the retry, so no attempt starts over one and the
-- run never ends with one behind it
local function exec_autocommit(run, ph, text, stmt, name, t_phase, st)
  local idx = concurrent_index(stmt.sql)
  local built = false
  -- the INVALID index a failed or interrupted build leaves is dropped at once, while nothing
  -- else runs; if even that fails (it waits for the same blocker), the next attempt tries again
  local function cleanup()
    if not (idx and built) then return end
    local dok, derr = pcall(M.drop_invalid_index, run, idx, "left by the failed build")
    if not dok then run.out:warn("could not drop the invalid index yet: " .. errors.text(derr)) end
  end
  return M.retry({ attempts = (ph.retries or run.pb.retries) + 1, what = "phase '" .. ph.name .. "'",
                   out = run.out, on_fail = cleanup }, function()
    if idx then
      M.drop_invalid_index(run, idx, built and "left by the failed attempt before it"
                                       or "left by an interrupted CREATE INDEX CONCURRENTLY")
    end
    local timeout, source = M.timeout_now(run, ph, t_phase, st)
    if source or run.session_timeout ~= timeout then
      run.db:set("statement_timeout", tostring(timeout))
      run.session_timeout = timeout
    end
    built = idx ~= nil
    client_limit(run.db, timeout)
    local ok, res = pcall(watch.exec, run, stmt.sql, { what = "phase '" .. ph.name .. "'", limit_ms = timeout,
      lock_timeout_ms = (ph.lock_timeout or run.pb.lock_timeout) // 1000000, autocommit = true })
    if ok then return res.affected or 0 end
    res = M.as_budget_error(res, source)
    if errors.is_sql(res) then
      res.file = name
      local byte = stmt.start
      if res.position then byte = stmt.start + (utf8.offset(stmt.sql, res.position) or res.position) - 1 end
      res.line, res.col = sqlsplit.position(text, byte)
      res.statement = stmt.sql
      if st then locate_inline(res, st) end
    end
    error(res, 0)
  end)
end

-- The phase's last statement and its verify's built-in checks in one flight (one round trip
-- less a phase): the statement, then the checks under a savepoint, sent as one string whose
-- every result comes back (conn:send_all). Returns a function(watching) -> rows that runs it,
-- or nil when no check can go (they then run after it, as ever). The answers wait in
-- run.prefetch for verify. prefix: the trusted statements sql starts with (BEGIN, SET LOCAL).
local function flight_checks(run, ph, sql, prefix)
  local suffix, count, take = require("migrun.expect").prefetch(run:ctx(), ph.verify)
  if not suffix then return nil end
  local k = (prefix and select(2, prefix:gsub(";", "")) + 1 or 0) + 1   -- the statement's place
  return function(watching)
    watching.all = k                                 -- the step's last statement: nothing follows
    -- a newline first: a statement may end in a -- comment
    local list = watch.exec(run, sql .. "\n;\n" .. suffix, watching)
    if not list.failed and #list ~= k + count then
      error(string.format("internal error: %d results for the %d statements of phase '%s''s last flight",
                          #list, k + count, ph.name), 0)
    end
    run.prefetch.answers = take(list, k + 1)
    return list[k].affected or 0
  end
end

-- one step: Lua with its deadline, or SQL statement by statement with a statement_timeout
-- from what is left of the budgets; returns rows affected
local function exec_step(run, ph, st, t_phase, transactional)
  local db = run.db
  run.step_started = clock.now()   -- a step's budget counts over all its statements (or batches)
  if st.kind == "backfill" then
    return require("migrun.backfill").run(run, ph, st, t_phase)   -- counts run.committed itself
  end
  if st.kind == "lua" then
    if transactional and run.tx then run.tx:flush() end   -- its db calls carry no BEGIN
    local timeout, source = M.timeout_now(run, ph, t_phase, st)
    if source and transactional then
      db:exec(string.format("SET LOCAL statement_timeout = %d", timeout))
      run.local_timeout = timeout
    elseif source then
      db:set("statement_timeout", tostring(timeout))
      run.session_timeout = timeout
    end
    client_limit(db, timeout)
    local deadline = source and (clock.now() + timeout * 1000000) or nil
    local ok, r = pcall(with_deadline, deadline, source, st.fn, db, run:api(ph.name, st.name))
    if not ok then error(M.as_budget_error(r, source), 0) end
    return math.type(r) == "integer" and r or 0
  end
  local name = st.file or run.pb.file
  run.sql[#run.sql + 1] = { phase = ph.name, step = st.name, file = st.file, sql = not st.file and st.text or nil }
  if not transactional then
    local rows = 0
    for _, stmt in ipairs(sqlsplit.split(st.text, name)) do
      rows = rows + exec_autocommit(run, ph, st.text, stmt, name, t_phase, st)
      run.committed = run.committed + 1
    end
    return rows
  end
  local source, prefix
  local watching = { what = "phase '" .. ph.name .. "'", autocommit = false,
                     lock_timeout_ms = (ph.lock_timeout or run.pb.lock_timeout) // 1000000 }
  local ok, res = pcall(db.script, db, st.text, { name = name, exec = function(sql, i, n)
    local flight = i == n and run.prefetch and run.prefetch.step == st and flight_checks(run, ph, sql, prefix)
    if flight then return flight(watching) end
    local affected = watch.exec(run, sql, watching).affected or 0
    if run.forecast_phase then forecast.after_statement(run, sql) end
    return affected
  end, before_each = function()
    local timeout, src = M.timeout_now(run, ph, t_phase, st)
    source = src
    watching.limit_ms = timeout
    client_limit(db, timeout)
    local begin = run.tx and run.tx:prefix()
    prefix = begin
    if src or run.local_timeout ~= timeout then
      run.local_timeout = timeout
      local set = string.format("SET LOCAL statement_timeout = %d", timeout)
      prefix = begin and (begin .. "; " .. set) or set
    end
    return prefix
  end })
  if not ok then error(locate_inline(M.as_budget_error(res, source), st), 0) end
  return res.rows
end

-- the step rows a phase records
local function step_record(ph, st, status, ns, rows, attempt)
  return { phase = ph.name, step = st.name, kind = st.kind, checksum = st.checksum,
           status = status, duration_ms = ns and ms(ns), rows = rows, attempt = attempt,
           body = st.body or st.text, budget = st.budget and st.budget.text }
end

local function verify(run, ph)
  local cok, results, ok = pcall(run.check, run, ph.name, ph.verify,
                                 { prefetched = run.prefetch and run.prefetch.answers })
  if not cok then
    -- a check's own SQL failed (it aborts the phase): say which check, and where it is written
    local err, done = results, type(results) == "table" and results.results
    local failed = done and done[#done]
    if errors.is_sql(err) and failed and not err.file then
      err.file, err.line = failed.file, failed.line
      err.context = string.format("verify of phase '%s': %s%s", ph.name, failed.description,
                                  err.context and ("\n" .. err.context) or "")
    end
    error(err, 0)
  end
  if not ok then
    local failed = {}
    for _, r in ipairs(results) do if not r.ok then failed[#failed + 1] = r.description end end
    error(errors.new("expectation", string.format("phase '%s': verify failed: %s", ph.name,
                                                  table.concat(failed, "; "))), 0)
  end
end

-- both strategies end alike: verify, the phase's and the run's budgets, the phase's row
local function finish_phase(run, ph, t_phase, attempt)
  verify(run, ph)
  local ns = clock.since(t_phase)
  M.check_budget(run, "phase '" .. ph.name .. "'", ph.budget, ns)
  M.check_budget(run, "the run", run.pb.budget, run:work_ns())
  run:record({ phase = ph.name, step = "(phase)", kind = "phase", status = "applied",
               duration_ms = ms(ns), attempt = attempt, budget = ph.budget and ph.budget.text })
  return ns
end

--- the transactional strategy: one attempt, everything or nothing
local function apply_tx(run, ph, pending, attempt)
  local db = run.db
  local t_phase = clock.now()
  local lt = ph.lock_timeout or run.pb.lock_timeout
  local timeout = M.timeout_now(run, ph, t_phase)
  -- the BEGIN and its settings travel with the phase's first statement (one round trip less).
  -- synchronous_commit = off: the phase's COMMIT does not wait for its WAL flush; the run's
  -- last commit (ledger.finish_run) does, which makes every earlier phase durable with it (WAL
  -- is sequential), and a crash can only lose the newest phases together with their ledger rows
  local tx <close> = db:begin(string.format("SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d; " ..
                                            "SET LOCAL synchronous_commit = off", lt // 1000000, timeout),
                              { lazy = true })
  run.tx = tx
  client_limit(db, timeout)
  run.local_timeout = timeout
  -- the phase's ledger rows wait in memory and go with its COMMIT, in the same round trip;
  -- its verify runs without a savepoint per check (a failing check fails the phase anyway)
  run.buffer = { steps = {}, results = {} }
  -- the verify's checks travel with the last statement when the phase ends in SQL (not in a
  -- rehearsal: its lock forecast looks after each statement)
  local last = pending[#pending]
  if #ph.verify > 0 and last and last.kind == "sql" and not run.opts.rehearsal then
    run.prefetch = { step = last }
  end
  for _, st in ipairs(pending) do
    run.current_step = st
    local t = clock.now()
    local rows = exec_step(run, ph, st, t_phase, true)
    local ns = clock.since(t)
    M.check_budget(run, "step " .. st.name, st.budget, ns)
    run.out:step(ph, st, run.dry_run and "ran" or "applied", ns, rows)
    run:record(step_record(ph, st, "applied", ns, rows, attempt))
  end
  run.current_step = nil
  local ns = finish_phase(run, ph, t_phase, attempt)
  local batch = run.buffer
  run.buffer = nil
  run.tx = nil
  tx:commit(require("migrun.ledger").batch_sql(db, batch.steps, batch.results))
  return ns
end

--- the autocommit strategy (transaction = false): statement by statement
local function apply_autocommit(run, ph, pending)
  local db = run.db
  local t_phase = clock.now()
  local lt = ph.lock_timeout or run.pb.lock_timeout
  db:set("lock_timeout", string.format("%dms", lt // 1000000))
  run.session_timeout = nil
  run.committed = 0                                  -- statements of this phase now committed
  local ok, err = pcall(function()
    for _, st in ipairs(pending) do
      run.current_step = st
      run.step_committed = run.committed             -- what this step commits shows above it
      run:record(step_record(ph, st, "started"))
      local t = clock.now()
      if st.kind == "lua" then run.committed = run.committed + 1 end   -- it may commit anything
      local rows = exec_step(run, ph, st, t_phase, false)
      local ns = clock.since(t)
      run.out:step(ph, st, "applied", ns, rows)
      run:record(step_record(ph, st, "applied", ns, rows))
      M.check_budget(run, "step " .. st.name, st.budget, ns)
    end
    run.current_step = nil
  end)
  pcall(db.exec, db, "RESET lock_timeout; RESET statement_timeout")
  run.session_timeout = nil
  if not ok then error(err, 0) end
  return finish_phase(run, ph, t_phase)
end

-- record a failed phase after its transaction rolled back (the ledger rows went with it)
--- executor.connection_lost(db, err) -> true when the connection is gone (the server
-- restarted, the backend was terminated, or it stopped answering)
function M.connection_lost(db, err)
  local st = db:status()
  return st == "broken" or st == "closed" or errors.is(err, "connection")
end

local function record_failure(run, ph, err, attempt, st)
  if not run.id then return end
  if M.connection_lost(run.db, err) then
    run.unrecorded = { ph = ph, err = err, attempt = attempt, st = st }   -- recorded after reconnecting
    return
  end
  if run.db:status() == "inerror" then pcall(run.db.exec, run.db, "ROLLBACK") end
  local ok, e = pcall(function()
    run.db:tx(function()
      -- a step that committed part of its work (statements, backfill batches) before it failed
      -- is partly applied: the rollback verb undoes it, a rerun goes on with it
      local partial = st and not ph.transaction and (run.committed or 0) > (run.step_committed or 0)
      local rec = st and step_record(ph, st, partial and "partly_applied" or "failed", nil, nil, attempt) or
        { phase = ph.name, step = "(phase)", kind = "phase", status = "failed", attempt = attempt }
      rec.error = tostring(err)
      run:record(rec)
      local mine = {}
      for _, r in ipairs(run.results) do
        if r.phase == ph.name then mine[#mine + 1] = r end
      end
      require("migrun.ledger").record_expectations(run.db, run.id, ph.name, mine)
    end)
  end)
  if not ok then run.out:warn("could not record the failure in the ledger: " .. tostring(e)) end
end
M.record_failure = record_failure

--- executor.apply_phase(run, ph, pending) -> true, ns | false, err: the phase with its
-- strategy; a transactional one is retried whole (rolled back first) on lock errors
function M.apply_phase(run, ph, pending)
  local attempt_now = 1
  local rmark, smark
  local ok, res = pcall(M.retry, { attempts = ph.transaction and (ph.retries or run.pb.retries) + 1 or 1,
    what = "phase '" .. ph.name .. "'", out = run.out, undone = "rolled back",
    on_retry = function() run:forget_since(rmark, smark) end }, function(attempt)
      attempt_now = attempt
      rmark, smark = #run.results, #run.steps
      if run.opts.rehearsal then forecast.begin_phase(run, ph) end
      local pok, r = pcall(ph.transaction and apply_tx or apply_autocommit, run, ph, pending, attempt)
      run.buffer, run.tx, run.prefetch = nil, nil, nil
      if run.forecast_phase then pcall(forecast.end_phase, run) end
      if not pok then error(r, 0) end
      return r
    end)
  if run.db:status() ~= "closed" then client_limit(run.db, nil) end
  if ok then
    run.out:phase(ph, run.dry_run and "ran" or "applied", res)
    return true, res
  end
  res = errors.wrap(res)                             -- error { ... } from a Lua step reads well too
  if ph.transaction then
    -- the transaction took its step rows with it: the report shows them undone
    for i = smark + 1, #run.steps do
      if run.steps[i].status == "applied" then run.steps[i].status = "rolled_back" end
    end
  end
  if run.current_step then run.out:step(ph, run.current_step, "failed") end
  run.out:error(res)
  run.errors_shown = true
  local st = run.current_step
  run.current_step = nil
  record_failure(run, ph, res, attempt_now, st)
  run.out:phase(ph, (ph.transaction or (run.committed or 0) == 0) and "failed" or "failed (partly applied)")
  return false, res
end

--- executor.exec_rollback(run, ph): run a phase's rollback step (in the caller's transaction
-- for a transactional phase; statement by statement for transaction = false). A backfill's
-- checkpoint goes with it: the rows it counted as done may be undone now.
function M.exec_rollback(run, ph)
  run.committed = 0
  run.undoing = true
  local ok, res = pcall(exec_step, run, ph, ph.rollback, clock.now(), ph.transaction)
  run.undoing = nil
  if not ok then error(res, 0) end
  require("migrun.backfill").forget(run, ph)
  return res
end

return M
