--- migrun.runner: runs a loaded playbook (policy layer). Order of a run: advisory lock
-- (never waits), ledger, drift check, preflight, before-snapshot, backup, phases in order
-- (each in one transaction with its verify checked before COMMIT, retried whole on lock
-- timeouts), final verify and protect checks, then the failure policy if anything failed.
-- Returns a result table the CLI turns into an exit code and the report into a document.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local ledger = require "migrun.ledger"
local sqlsplit = require "migrun.sqlsplit"
local sys = require "migrun.core.sys"
local term = require "migrun.core.term"

local M = {}

-- pg_try_advisory_lock(int4, int4): one lock per database for all migrun runs
local LOCK_K1, LOCK_K2 = 1835495022, 1

-- SQLSTATEs after which the whole phase is retried (pgbench's classification)
local RETRYABLE = { ["55P03"] = "lock_not_available", ["40P01"] = "deadlock_detected",
                    ["40001"] = "serialization_failure" }

local function retryable(err)
  return errors.is_sql(err) and RETRYABLE[err.sqlstate] ~= nil
end

local function ms(ns) return ns and ns / 1e6 end

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
  pcall(db.query, db, "SELECT pg_advisory_unlock($1, $2)", LOCK_K1, LOCK_K2)
end

-- the tables a step's SQL writes or alters, by a simple reading of its statements
local WRITE_PATTERNS = {
  "insert%s+into%s+([%w_%.\"]+)", "update%s+([%w_%.\"]+)", "delete%s+from%s+([%w_%.\"]+)",
  "alter%s+table%s+([%w_%.\"]+)", "truncate%s+([%w_%.\"]+)", "alter%s+table%s+if%s+exists%s+([%w_%.\"]+)",
  "alter%s+table%s+only%s+([%w_%.\"]+)", "drop%s+table%s+if%s+exists%s+([%w_%.\"]+)",
  "drop%s+table%s+([%w_%.\"]+)", "create%s+table%s+if%s+not%s+exists%s+([%w_%.\"]+)",
  "create%s+table%s+([%w_%.\"]+)", "copy%s+([%w_%.\"]+)",
}
-- words the patterns above can catch that are not table names ("BEFORE UPDATE ON t",
-- "FOR UPDATE TO role", "UPDATE OF col")
local SKIP_WORDS = { ["if"] = true, only = true, ["table"] = true, on = true, to = true, of = true,
                     ["or"] = true, set = true, from = true, ["not"] = true, exists = true,
                     ["and"] = true, using = true, with = true, where = true }

local function touched_tables(text, into)
  text = text or ""
  -- comments and string literals hold no statement (format('ALTER TABLE %I ...') is not one)
  local s = text:gsub("%-%-[^\n]*", ""):gsub("/%*.-%*/", ""):gsub("'[^']*'", "''"):lower()
  for _, p in ipairs(WRITE_PATTERNS) do
    for name in s:gmatch(p) do
      name = name:gsub('"', ""):gsub("^public%.", ""):gsub("[%.,;]+$", "")
      if name ~= "" and not SKIP_WORDS[name] and require("migrun.ident").check(name) then
        into[name] = true
      end
    end
  end
end

--- runner.fingerprint_tables(pb) -> set of tables whose content the run must fingerprint
-- at its start: the protected ones and those an expect.unchanged names
function M.fingerprint_tables(pb)
  local expect = require "migrun.expect"
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  local function add(list)
    local _, fp = expect.snapshot_plan(list or {})
    for t in pairs(fp.fingerprint or {}) do set[t] = true end
  end
  add(pb.preflight)
  add(pb.verify)
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then add(item.verify) end
  end
  return set
end

M.touched_tables = touched_tables

--- runner.dedupe(db, names) -> names without the ones naming a table already listed
-- ("public.accounts" and "accounts"); names of tables that don't exist yet are kept
function M.dedupe(db, names)
  if #names == 0 then return names end
  local ident = require "migrun.ident"
  local quoted = {}
  for i, t in ipairs(names) do quoted[i] = ident.quote(db, t) end
  local oids = {}
  for _, r in ipairs(db:query([[SELECT i::int AS i, to_regclass(q)::oid::int8 AS oid
                                FROM json_array_elements_text($1::json) WITH ORDINALITY AS x(q, i)]],
                              require("cjson").encode(quoted))) do
    oids[r.i] = r.oid
  end
  local seen, out = {}, {}
  for i, t in ipairs(names) do
    local key = oids[i] or ("name:" .. t)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = t
    end
  end
  return out
end

--- runner.baseline_tables(pb) -> the tables expectations compare against the run start
-- (expect.delta, expect.unchanged) and the protected ones
function M.baseline_tables(pb)
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  local function add(list)
    for _, e in ipairs(list or {}) do
      if e.kind == "delta" or e.kind == "unchanged" then
        for _, t in ipairs(e:tables()) do set[t] = true end
      end
    end
  end
  add(pb.verify)
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then add(item.verify) end
  end
  local list = {}
  for t in pairs(set) do list[#list + 1] = t end
  table.sort(list)
  return list
end

--- runner.snapshot_tables(pb) -> sorted list of tables the playbook touches or protects
function M.snapshot_tables(pb)
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  for _, t in ipairs(pb.snapshot) do set[t] = true end
  local function from_expectations(list)
    for _, e in ipairs(list or {}) do
      for _, t in ipairs(e:tables()) do set[t] = true end
    end
  end
  from_expectations(pb.preflight)
  from_expectations(pb.verify)
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then
      from_expectations(item.verify)
      for _, st in ipairs(item.steps) do
        if st.text then touched_tables(st.text, set) end
      end
    end
  end
  local list = {}
  for t in pairs(set) do list[#list + 1] = t end
  table.sort(list)
  return list
end

local Run = {}
Run.__index = Run

-- one step record: into the ledger (in the caller's transaction) and into the run's memory,
-- which the report uses (a dry run's ledger rows are rolled back with its work)
function Run:record(rec)
  rec.run_id, rec.playbook = self.id, self.pb.name
  if self.buffer then                                -- written with the phase's COMMIT
    self.buffer.steps[#self.buffer.steps + 1] = rec
  else
    ledger.record_step(self.db, rec)
  end
  if rec.status ~= "started" then
    local phase = self.pb.phases[rec.phase]
    local st
    for _, x in ipairs(phase and phase.steps or {}) do if x.name == rec.step then st = x end end
    local budget = rec.kind == "phase" and phase and phase.budget or (st and st.budget)
    self.steps[#self.steps + 1] = { phase = rec.phase, step = rec.step, kind = rec.kind,
      status = rec.status, duration_ms = rec.duration_ms, rows = rec.rows, attempt = rec.attempt,
      budget = budget and budget.text, error = rec.error }
  end
end

function Run:ctx()
  return { db = self.db, before = self.before, dir = self.pb.dir, conninfo = self.conninfo,
           env = self.env, savepoints = not self.buffer }
end

-- the `run` argument of Lua steps: variables, the logger, the before-run snapshot
function Run:api()
  local before = self.before
  return {
    vars = self.pb.vars, id = self.id, dry_run = self.dry_run, dir = self.pb.dir,
    conninfo = self.conninfo,     -- for a second connection (it may hold a password: keep it in memory)
    log = function(msg) self.out:info("  " .. tostring(msg)) end,
    before = before,              -- snapshot methods work as run.before.count("t") too
  }
end

-- check a list of expectations, print and record them; returns results, all_ok
function Run:check(where, list, opts)
  local expect = require "migrun.expect"
  local results = expect.check_all(self:ctx(), list)
  local all = true
  for _, r in ipairs(results) do
    if self.dry_run and not r.ok and r.expectation and r.expectation.outside_transaction
       and tostring(r.actual):find("^not checked") then
      -- pg_dump cannot see a dry run's uncommitted work: nothing to compare, not a failure
      r.ok, r.skipped = true, true
      r.actual = "skipped in a dry run (" .. tostring(r.actual):gsub("^not checked: ", "") .. ")"
    end
    r.phase = where
    self.results[#self.results + 1] = r
    self.out:expectation(where, r)
    if not r.ok then all = false end
  end
  if self.id and not (opts and opts.no_ledger) then
    if self.buffer then
      for _, r in ipairs(results) do
        r.run_id = self.id
        self.buffer.results[#self.buffer.results + 1] = r
      end
    else
      ledger.record_expectations(self.db, self.id, where, results)
    end
  end
  return results, all
end

local function set_local(ph, pb)
  local lt = ph.lock_timeout or pb.lock_timeout
  local st = ph.statement_timeout or pb.statement_timeout
  local sql = string.format("SET LOCAL lock_timeout = %d", lt // 1000000)
  if st then sql = sql .. string.format("; SET LOCAL statement_timeout = %d", st // 1000000) end
  return sql
end

-- run one step; returns rows affected
function Run:exec_step(_, st)
  if st.kind == "lua" then
    local r = st.fn(self.db, self:api())
    return math.type(r) == "integer" and r or 0
  end
  local name = st.file or self.pb.file
  local ok, res = pcall(self.db.script, self.db, st.text, { name = name })
  if not ok then
    if errors.is_sql(res) and not st.file and res.line then
      res.line = res.line + st.line - (st.text:sub(1, 1) == "\n" and 0 or 1)
    end
    error(res, 0)
  end
  return res.rows
end

local function over(budget, ns)
  return budget and ns > budget.ns
end

local function budget_error(what, ns, budget)
  return errors.new("budget", string.format("%s took %s, over its budget of %s", what,
                                            clock.format(ns), budget.text))
end

-- one attempt at a transactional phase: everything or nothing
function Run:apply_tx(ph, pending, attempt)
  local db = self.db
  local tx <close> = db:begin(set_local(ph, self.pb))
  -- the phase's ledger rows wait in memory and go with its COMMIT, in the same round trip;
  -- its verify runs without a savepoint per check (a failing check fails the phase anyway)
  self.buffer = { steps = {}, results = {} }
  local t0 = clock.now()
  for _, st in ipairs(pending) do
    self.current_step = st
    local t = clock.now()
    local rows = self:exec_step(ph, st)
    local ns = clock.since(t)
    if over(st.budget, ns) then
      if st.budget.warn then
        self.out:warn(budget_error("step " .. st.name, ns, st.budget).message)
      else
        error(budget_error("step " .. st.name, ns, st.budget), 0)
      end
    end
    self.out:step(ph, st, "applied", ns, rows)
    self:record({ phase = ph.name,
      step = st.name, kind = st.kind, checksum = st.checksum, status = "applied",
      duration_ms = ms(ns), rows = rows, attempt = attempt })
  end
  self.current_step = nil
  local results, ok = self:check(ph.name, ph.verify)
  if not ok then
    local failed = {}
    for _, r in ipairs(results) do if not r.ok then failed[#failed + 1] = r.description end end
    error(errors.new("expectation", string.format("phase '%s': verify failed: %s", ph.name,
                                                  table.concat(failed, "; "))), 0)
  end
  local ns = clock.since(t0)
  if over(ph.budget, ns) then
    if ph.budget.warn then
      self.out:warn(budget_error("phase '" .. ph.name .. "'", ns, ph.budget).message)
    else
      error(budget_error("phase '" .. ph.name .. "'", ns, ph.budget), 0)
    end
  end
  self:check_run_budget()
  self:record({ phase = ph.name,
    step = "(phase)", kind = "phase", status = "applied", duration_ms = ms(ns), attempt = attempt })
  local batch = self.buffer
  self.buffer = nil
  tx:commit(ledger.batch_sql(db, batch.steps, batch.results))
  return ns
end

function Run:check_run_budget()
  local b = self.pb.budget
  local ns = clock.since(self.t0)
  if over(b, ns) then
    if b.warn then
      if not self.warned_budget then self.out:warn(budget_error("the run", ns, b).message) end
      self.warned_budget = true
    else
      error(budget_error("the run", ns, b), 0)
    end
  end
end

-- names of indexes a statement builds concurrently (an interrupted build leaves them INVALID)
local function concurrent_indexes(sql)
  local s = sql:lower()
  local name = s:match("^%s*create%s+unique%s+index%s+concurrently%s+if%s+not%s+exists%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+index%s+concurrently%s+if%s+not%s+exists%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+unique%s+index%s+concurrently%s+([%w_%.\"]+)")
    or s:match("^%s*create%s+index%s+concurrently%s+([%w_%.\"]+)")
  return name and name:gsub('"', "")
end

-- drop an INVALID index left by an interrupted or failed CREATE INDEX CONCURRENTLY
function Run:drop_invalid_index(name)
  local r = self.db:query([[SELECT format('%I.%I', n.nspname, c.relname) AS q FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND c.relname = $1 AND n.nspname = ANY (current_schemas(false))]],
    (name:match("[^%.]+$")))
  for _, row in ipairs(r) do
    self.out:warn(string.format("dropping invalid index %s left by an interrupted CREATE INDEX CONCURRENTLY", row.q))
    self.db:exec("DROP INDEX CONCURRENTLY IF EXISTS " .. row.q)
  end
end

-- run one statement outside a transaction, retrying lock timeouts with backoff
function Run:exec_autocommit(ph, sql, name, text, stmt)
  local attempts = (ph.retries or self.pb.retries) + 1
  for attempt = 1, attempts do
    local idx = concurrent_indexes(sql)
    if idx then self:drop_invalid_index(idx) end
    local ok, res = pcall(self.db.exec, self.db, sql)
    if ok then return res end
    if idx then pcall(self.drop_invalid_index, self, idx) end
    if errors.is_sql(res) then
      res.file = name
      local byte = stmt.start
      if res.position then byte = stmt.start + (utf8.offset(stmt.sql, res.position) or res.position) - 1 end
      res.line, res.col = sqlsplit.position(text, byte)
    end
    if not (retryable(res) and attempt < attempts) then error(res, 0) end
    self.out:warn(string.format("phase '%s': %s; retrying in %s (attempt %d of %d)", ph.name,
                  RETRYABLE[res.sqlstate], clock.format(M.backoff(attempt)), attempt + 1, attempts))
    clock.sleep(M.backoff(attempt) / 1e6)
  end
end

-- a transaction = false phase: statement by statement, each step marked started then done
function Run:apply_autocommit(ph, pending)
  local db = self.db
  local lt = ph.lock_timeout or self.pb.lock_timeout
  db:set("lock_timeout", string.format("%dms", lt // 1000000))
  local st_timeout = ph.statement_timeout or self.pb.statement_timeout
  if st_timeout then db:set("statement_timeout", string.format("%dms", st_timeout // 1000000)) end
  local t0 = clock.now()
  self.committed = 0                                 -- statements of this phase now committed
  for _, st in ipairs(pending) do
    self.current_step = st
    self:record({ phase = ph.name,
      step = st.name, kind = st.kind, checksum = st.checksum, status = "started" })
    local t, rows = clock.now(), 0
    if st.kind == "lua" then
      self.committed = self.committed + 1            -- a Lua step may have committed anything
      rows = self:exec_step(ph, st)
    else
      local name = st.file or self.pb.file
      for _, stmt in ipairs(sqlsplit.split(st.text, name)) do
        rows = rows + self:exec_autocommit(ph, stmt.sql, name, st.text, stmt)
        self.committed = self.committed + 1
      end
    end
    local ns = clock.since(t)
    self.out:step(ph, st, "applied", ns, rows)
    self:record({ phase = ph.name,
      step = st.name, kind = st.kind, checksum = st.checksum, status = "applied",
      duration_ms = ms(ns), rows = rows })
    if over(st.budget, ns) then
      if not st.budget.warn then error(budget_error("step " .. st.name, ns, st.budget), 0) end
      self.out:warn(budget_error("step " .. st.name, ns, st.budget).message)
    end
  end
  self.current_step = nil
  db:exec("RESET lock_timeout; RESET statement_timeout")
  local _, ok = self:check(ph.name, ph.verify)
  if not ok then
    error(errors.new("expectation", string.format("phase '%s': verify failed", ph.name)), 0)
  end
  local ns = clock.since(t0)
  if over(ph.budget, ns) and not ph.budget.warn then
    error(budget_error("phase '" .. ph.name .. "'", ns, ph.budget), 0)
  end
  self:record({ phase = ph.name,
    step = "(phase)", kind = "phase", status = "applied", duration_ms = ms(ns) })
  return ns
end

--- runner.backoff(attempt) -> nanoseconds to wait before attempt + 1 (250ms doubling, max 8s,
-- with jitter so two retrying runs don't collide again)
function M.backoff(attempt)
  local base = math.min(250e6 * 2 ^ (attempt - 1), 8e9)
  return math.floor(base * (0.75 + math.random() * 0.5))
end

-- record a failed phase after its transaction rolled back (the ledger rows went with it)
function Run:record_failure(ph, err, attempt)
  local st = self.current_step
  self.current_step = nil
  if self.db:status() == "inerror" then pcall(self.db.exec, self.db, "ROLLBACK") end
  local ok, e = pcall(function()
    self.db:tx(function()
      self:record({ phase = ph.name,
        step = st and st.name or "(phase)", kind = st and st.kind or "phase",
        checksum = st and st.checksum, status = "failed", attempt = attempt,
        error = tostring(err) })
      local failed = {}
      for _, r in ipairs(self.results) do
        if r.phase == ph.name then failed[#failed + 1] = r end
      end
      ledger.record_expectations(self.db, self.id, ph.name, failed)
    end)
  end)
  if not ok then self.out:warn("could not record the failure in the ledger: " .. tostring(e)) end
end

-- run a read-only stage, retrying it whole on lock timeouts, deadlocks and serialization
-- failures, with the same backoff as phases
function Run:retrying(what, fn)
  local attempts = self.pb.retries + 1
  for attempt = 1, attempts do
    local ok, err = pcall(fn)
    if ok then return end
    if not (retryable(err) and attempt < attempts) then error(err, 0) end
    local wait = M.backoff(attempt)
    self.out:warn(string.format("%s: %s (%s); retrying in %s (attempt %d of %d)", what,
      RETRYABLE[err.sqlstate], err.sqlstate, clock.format(wait), attempt + 1, attempts))
    clock.sleep(wait / 1e6)
  end
end

--- Run:phase(ph, pending) -> true | false, err: apply with retries
function Run:phase(ph, pending)
  local attempts = (ph.retries or self.pb.retries) + 1
  for attempt = 1, attempts do
    local mark, smark = #self.results, #self.steps
    local ok, res = pcall(ph.transaction and self.apply_tx or self.apply_autocommit, self, ph, pending, attempt)
    self.buffer = nil
    if not ok and ph.transaction then
      -- the transaction took these with it: a retry drops them, a failure shows them undone
      for i = #self.steps, smark + 1, -1 do
        if retryable(res) and attempt < attempts then
          self.steps[i] = nil
        elseif self.steps[i].status == "applied" then
          self.steps[i].status = "rolled back"
        end
      end
    end
    if ok then
      self.out:phase(ph, "applied", res)
      return true
    end
    if ph.transaction and retryable(res) and attempt < attempts then
      for i = #self.results, mark + 1, -1 do self.results[i] = nil end
      local wait = M.backoff(attempt)
      self.out:warn(string.format("phase '%s': %s (%s); rolled back, retrying in %s (attempt %d of %d)",
        ph.name, RETRYABLE[res.sqlstate], res.sqlstate, clock.format(wait), attempt + 1, attempts))
      clock.sleep(wait / 1e6)
    else
      if self.current_step then self.out:step(ph, self.current_step, "failed") end
      self.out:error(res)
      self.errors_shown = true
      self:record_failure(ph, res, attempt)
      self.out:phase(ph, (ph.transaction or (self.committed or 0) == 0) and "failed" or "failed (partly applied)")
      return false, res
    end
  end
end

-- ask at a gate: --yes answers; a terminal asks; anything else declines (exit 4)
function Run:gate(g)
  return M.ask(self, g)
end

--- runner.ask(run, gate) -> true | false, why: the checklist, then --yes, a terminal's y/N,
-- or no (there is no terminal to ask)
function M.ask(self, g)
  self.out:info(string.format("gate %s", g.name))
  for _, q in ipairs(g.items) do self.out:info("  [ ] " .. q) end
  if self.opts.yes then
    self.out:info("  answered yes (--yes)")
    return true
  end
  if not (term.isatty(0) and term.isatty(1)) then
    return false, string.format("gate '%s' needs an answer: there is no terminal, so pass --yes", g.name)
  end
  io.stdout:write("Proceed? [y/N] ")
  io.stdout:flush()
  local answer = io.stdin:read("l") or ""
  if answer:lower():match("^y") then return true end
  return false, string.format("declined at gate '%s'", g.name)
end

-- undo the phases this run applied, newest first, each in its own transaction
function Run:rollback_applied()
  local db = self.db
  local failed = false
  for i = #self.applied, 1, -1 do
    local ph = self.applied[i]
    if failed then
      self.states[ph.name] = "applied (not rolled back)"
    elseif not ph.rollback then
      self.states[ph.name] = "applied (no rollback defined)"
      self.out:error(string.format("phase '%s' has no rollback: stopped here, it and the phases " ..
        "before it stay applied (write a rollback for it, or roll back only the phases after it " ..
        "with --to '%s')", ph.name, ph.name))
      failed = true
    else
      local t = clock.now()
      local ok, err = pcall(function()
        local work = function()
          if ph.transaction then
            self:exec_step(ph, ph.rollback)
          elseif ph.rollback.kind == "lua" then
            self:exec_step(ph, ph.rollback)
          else
            for _, stmt in ipairs(sqlsplit.split(ph.rollback.text, ph.rollback.file)) do
              self:exec_autocommit(ph, stmt.sql, ph.rollback.file or self.pb.file, ph.rollback.text, stmt)
            end
          end
          for _, st in ipairs(ph.steps) do
            self:record({ phase = ph.name,
              step = st.name, kind = st.kind, checksum = st.checksum, status = "rolled_back" })
          end
        end
        if ph.transaction then db:tx(work) else work() end
      end)
      if ok then
        self.states[ph.name] = "rolled back"
        self.out:phase(ph, "rolled back", clock.since(t))
      else
        self.states[ph.name] = "rollback failed"
        self.out:phase(ph, "rollback failed")
        self.out:error(err)
        failed = true
      end
    end
  end
  return not failed
end

-- on_failure = "restore": put this run's verified dump back. pg_restore --clean cannot do it
-- in place (it does not know the objects the run created, and a new foreign key blocks the
-- drop of the key it references), so: restore into a new database, then swap names. The
-- failed database is kept, renamed, so nothing is lost. Sessions on the target are ended.
function Run:restore(backup_info)
  if not backup_info then
    self.out:error("on_failure = \"restore\" but this run took no backup (add backup = backup.dump { ... })")
    for _, ph in ipairs(self.applied) do self.states[ph.name] = "applied (no backup to restore)" end
    return false
  end
  self.out:info(string.format("on_failure = \"restore\": restoring %s", backup_info.file))
  local t = clock.now()
  local ok, err = pcall(self.swap_restore, self, backup_info.file)
  if not ok then
    self.out:error(err)
    for _, ph in ipairs(self.applied) do self.states[ph.name] = "applied (restore failed)" end
    return false
  end
  for _, ph in ipairs(self.applied) do self.states[ph.name] = "undone by the restore" end
  self.out:info(string.format("restored in %s", clock.format(clock.since(t))))
  return true
end

function Run:swap_restore(file)
  local rehearse = require "migrun.rehearse"
  local dbname = self.db:query("SELECT current_database() AS d")[1].d
  local maintenance = dbname == "postgres" and "template1" or "postgres"
  local admin_conninfo = rehearse.with_dbname(self.conninfo, maintenance)
  local admin <close> = require("migrun.db").connect(admin_conninfo)
  local stamp = os.date("!%Y%m%d%H%M%S")
  local fresh = (dbname .. "_restored_" .. stamp):sub(1, 63)
  local failed = (dbname .. "_failed_" .. stamp):sub(1, 63)
  require("migrun.backup").restore(file, { into = fresh, target = admin_conninfo })
  M.unlock(self.db)
  self.db:close()
  local q = function(n) return admin:quote_ident(n) end
  admin:query([[SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = $1 AND pid <> pg_backend_pid()]], dbname)
  admin:exec(string.format("ALTER DATABASE %s RENAME TO %s", q(dbname), q(failed)))
  admin:exec(string.format("ALTER DATABASE %s RENAME TO %s", q(fresh), q(dbname)))
  self.db = require("migrun.db").connect(self.conninfo)
  M.lock(self.db)
  self.out:info(string.format("the failed database is kept as %s (drop it once you are done with it)", failed))
  self.kept = failed
end

local function pending_steps(ph, state)
  local pending = {}
  for _, st in ipairs(ph.steps) do
    local s = state[ph.name] and state[ph.name][st.name]
    if not (s and s.status == "applied") then pending[#pending + 1] = st end
  end
  return pending
end
M.pending_steps = pending_steps

--- runner.drift(pb, state) -> list of {phase, step} whose applied checksum differs
function M.drift(pb, state)
  local drift = {}
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then
      for _, st in ipairs(item.steps) do
        local s = state[item.name] and state[item.name][st.name]
        if s and s.status == "applied" and s.checksum ~= st.checksum then
          drift[#drift + 1] = { phase = item.name, step = st.name }
        end
      end
    end
  end
  return drift
end

--- runner.select(pb, opts) -> set of phase names this invocation may run (--from / --only)
function M.select(pb, opts)
  local text = require "migrun.text"
  local names = {}
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then names[#names + 1] = item.name end
  end
  for _, key in ipairs({ "from", "only" }) do
    if opts[key] and not pb.phases[opts[key]] then
      errors.raise("usage", string.format("--%s: no phase named '%s'%s", key, opts[key],
                                          text.did_you_mean(opts[key], names)))
    end
  end
  local set, on = {}, not opts.from
  for _, n in ipairs(names) do
    if opts.from == n then on = true end
    if (opts.only and opts.only == n) or (not opts.only and on) then set[n] = true end
  end
  return set
end

--- runner.run(pb, opts) -> result
-- opts: db (connected), target (redacted), conninfo, env, out, yes, dry_run, from, only,
-- allow_drift. result: {status, exit, run_id, error, results, phases, before, after, ...}
function M.run(pb, opts)
  local snapshot = require "migrun.snapshot"
  local db = opts.db
  local run = setmetatable({ pb = pb, db = db, out = opts.out, opts = opts, results = {},
    applied = {}, states = {}, phases = {}, steps = {}, t0 = clock.now(),
    started_at = os.date("%Y-%m-%d %H:%M:%S %Z"), conninfo = opts.conninfo,
    env = opts.env, dry_run = opts.dry_run }, Run)
  local out = run.out
  local result = { playbook = pb.name, target = opts.target, results = run.results,
                   phases = run.phases, states = run.states, dry_run = opts.dry_run,
                   db_user = db:info().user }

  if db:server_version() >= 140000 then db:set("client_connection_check_interval", "2s") end
  db:set("application_name", string.format("migrun %s @%s", pb.name, sys.hostname() or "?"):sub(1, 63))
  M.lock(db)
  -- a dry run does everything, the ledger included, inside one transaction it rolls back
  local outer
  if opts.dry_run then outer = db:begin() end
  local ok, err = pcall(function()
    ledger.ensure(db)
    local state = ledger.state(db, pb.name)
    local drift = M.drift(pb, state)
    if #drift > 0 and not opts.allow_drift then
      local lines = {}
      for _, d in ipairs(drift) do lines[#lines + 1] = string.format("%s / %s", d.phase, d.step) end
      errors.raise("drift", "applied steps changed since they were applied: " .. table.concat(lines, ", "),
        { hint = "restore the applied version of the file, or pass --allow-drift if the change is intended" })
    end
    local selected = M.select(pb, opts)
    run.id = ledger.start_run(db, { playbook = pb.name, checksum = pb.checksum, target = opts.target,
      host = sys.hostname(), os_user = sys.username(), version = require("migrun").VERSION,
      dry_run = opts.dry_run })
    result.run_id = run.id
    out:info(string.format("migrun: playbook %s on %s (run %d%s)", pb.name, opts.target, run.id,
                           opts.dry_run and ", DRY RUN" or ""))

    -- what this invocation has to do; a rerun with nothing pending is a no-op
    local todo, applied_before = 0, 0
    for _, item in ipairs(pb.items) do
      if item.kind == "phase" then
        local n = #pending_steps(item, state)
        if selected[item.name] and n > 0 then todo = todo + 1 end
        if n < #item.steps then applied_before = applied_before + 1 end
      end
    end

    -- preflight and the before-snapshot: read-only, before anything changes. Preflight
    -- describes the state before the playbook, so it runs on a fresh start only, not when
    -- resuming or re-running. Reads wait at most lock_timeout too, and are retried.
    db:set("lock_timeout", string.format("%dms", pb.lock_timeout // 1000000))
    local fresh_start = applied_before == 0
    if not fresh_start then
      out:info(string.format("preflight skipped: %d phase(s) already applied, %d to do", applied_before, todo))
    end
    run:retrying("preflight", function()
      local tx <close> = db:begin()
      db:exec("SET TRANSACTION READ ONLY")
      if fresh_start then
        local mark = #run.results
        local results, pre_ok = run:check("(preflight)", pb.preflight, { no_ledger = true })
        for _, r in ipairs(results) do
          if r.error and retryable(r.error) then
            for i = #run.results, mark + 1, -1 do run.results[i] = nil end
            error(r.error, 0)
          end
        end
        if not pre_ok then
          tx:rollback()
          ledger.record_expectations(db, run.id, "(preflight)", results)
          result.failed_phase = "(preflight)"
          errors.raise("expectation", "preflight failed: nothing was changed")
        end
        run.preflight = results
      end
      -- a no-op rerun counts only what its expectations compare against the run start
      run.snapshot_list = M.dedupe(db, todo > 0 and M.snapshot_tables(pb) or M.baseline_tables(pb))
      run.before = snapshot.take(db, run.snapshot_list, { fingerprint = M.fingerprint_tables(pb) })
      tx:rollback()
    end)
    if run.preflight then ledger.record_expectations(db, run.id, "(preflight)", run.preflight) end
    result.before = run.before

    if pb.backup and pb.backup.take and not opts.dry_run and todo > 0 then
      out:info("backup: taking " .. (pb.backup.describe and pb.backup:describe() or "a backup"))
      result.backup = pb.backup:take({ conninfo = opts.conninfo, env = opts.env, db = db, out = out,
                                       dir = pb.dir, playbook = pb.name })
    end

    for idx, item in ipairs(pb.items) do
      if item.kind == "gate" then
        local later = false
        for j = idx + 1, #pb.items do
          local it = pb.items[j]
          if it.kind == "phase" and selected[it.name] and #pending_steps(it, state) > 0 then later = true end
        end
        if later and opts.dry_run then
          out:info(string.format("gate %s: not asked in a dry run", item.name))
        elseif later then
          local yes, why = run:gate(item)
          if not yes then
            result.declined = item.name
            errors.raise("declined", why)
          end
        end
      elseif not selected[item.name] then
        run.phases[#run.phases + 1] = { name = item.name, status = "not selected" }
      else
        local pending = pending_steps(item, state)
        if #pending == 0 then
          out:phase(item, "skipped", nil, "already applied")
          run.phases[#run.phases + 1] = { name = item.name, status = "already applied" }
        elseif opts.dry_run and not item.transaction then
          out:phase(item, "skipped", nil, "transaction = false: not run in a dry run")
          run.phases[#run.phases + 1] = { name = item.name, status = "skipped (dry run)" }
        else
          for _, st in ipairs(pending) do
            local rec = state[item.name] and state[item.name][st.name]
            if rec and rec.status == "started" then
              out:warn(string.format("step %s of phase '%s' was interrupted in run %d (started, never " ..
                "finished): running it again", st.name, item.name, rec.run_id))
            end
          end
          local t = clock.now()
          local pok, perr = run:phase(item, pending)
          local rec = { name = item.name, duration_ms = ms(clock.since(t)),
                        budget = item.budget and item.budget.text, transaction = item.transaction }
          run.phases[#run.phases + 1] = rec
          if pok then
            rec.status = "applied"
            run.applied[#run.applied + 1] = item
            run.states[item.name] = "applied"
          else
            rec.status, rec.error = "failed", tostring(perr)
            local partial = not item.transaction and (run.committed or 0) > 0
            run.states[item.name] = item.transaction and "rolled back (failed)" or
              partial and "partly applied (failed)" or "failed, nothing applied"
            if partial then run.applied[#run.applied + 1] = item end
            result.failed_phase = item.name
            error(perr, 0)
          end
        end
      end
    end

    -- final verify (it describes the end state: only once every phase is applied) and protect
    local unapplied = {}
    for _, item in ipairs(pb.items) do
      if item.kind == "phase" and run.states[item.name] ~= "applied" and #pending_steps(item, state) > 0 then
        unapplied[#unapplied + 1] = item.name
      end
    end
    if #unapplied > 0 and #pb.verify > 0 then
      out:info(string.format("final verify skipped: %d phase(s) not applied yet (%s)", #unapplied,
                             table.concat(unapplied, ", ")))
    end
    do
      local tx <close> = db:begin()
      local vok = true
      if #unapplied == 0 then vok = select(2, run:check("(verify)", pb.verify)) end
      local protect_ok = M.check_protect(run)
      tx:commit()
      if not (vok and protect_ok) then
        result.failed_phase = "(verify)"
        errors.raise("expectation", "the final verify failed")
      end
    end
    if outer then outer:rollback() end
  end)

  db = run.db
  result.db = db
  result.after = (function()
    if not run.snapshot_list then return nil end
    local aok, snap = pcall(snapshot.take, db, run.snapshot_list, {})
    return aok and snap or nil
  end)()
  result.duration_ms = ms(clock.since(run.t0))
  if ok then
    result.status, result.exit = opts.dry_run and "dry run" or "succeeded", 0
  else
    result.error, result.error_shown = err, run.errors_shown
    if db:status() == "inerror" or db:status() == "intrans" then pcall(db.exec, db, "ROLLBACK") end
    local kind = errors.is(err) and err.kind
    if not run.id then
      result.status, result.exit = "not started", errors.exit_code(err)
    elseif kind == "declined" then
      result.status, result.exit = "declined", 4
    elseif pb.on_failure == "stop" or opts.dry_run or #run.applied == 0 then
      result.status, result.exit = "failed", 1
    elseif pb.on_failure == "restore" then
      local restored = run:restore(result.backup)
      db = run.db
      if restored then
        result.status, result.exit = "failed, restored from backup", 1
      else
        result.status, result.exit = "failed, restore failed", 5
      end
    else
      out:info(string.format("on_failure = %q: undoing %d applied phase(s)", pb.on_failure, #run.applied))
      if run:rollback_applied() then
        result.status, result.exit = "failed, rolled back", 1
      else
        result.status, result.exit = "failed, recovery failed", 5
      end
    end
  end
  result.summary = require("migrun.report").summary(result, run)
  result.started_at, result.finished_at = run.started_at, os.date("%Y-%m-%d %H:%M:%S %Z")
  result.checksum, result.playbook_file = pb.checksum, pb.path
  if run.id and not opts.dry_run then
    local summary = require("cjson").encode(require("migrun.report").summary(result, run))
    local fok, ferr = pcall(ledger.finish_run, db, run.id, result.status,
                            result.error and tostring(result.error), summary)
    if not fok then out:warn("could not finish the run in the ledger: " .. tostring(ferr)) end
  end
  M.unlock(db)
  return result
end

--- runner.applied_phases(pb, state) -> the phases whose steps are all applied, in order
function M.applied_phases(pb, state)
  local list = {}
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" and #pending_steps(item, state) < #item.steps then list[#list + 1] = item end
  end
  return list
end

--- runner.rollback_plan(pb, db, to) -> {phases = {...}, stop = phase|nil}: what `migrun
-- rollback` would undo (newest first), and the first phase that has no rollback
function M.rollback_plan(pb, db, to)
  local state = ledger.state(db, pb.name)
  local applied = M.applied_phases(pb, state)
  if to and not pb.phases[to] then
    local names = {}
    for _, p in ipairs(applied) do names[#names + 1] = p.name end
    errors.raise("usage", string.format("--to: no phase named '%s'%s", to,
                 require("migrun.text").did_you_mean(to, names)))
  end
  local undo, stop = {}, nil
  for i = #applied, 1, -1 do
    local ph = applied[i]
    if ph.name == to then break end
    if not ph.rollback and not stop then stop = ph end
    undo[#undo + 1] = ph
  end
  return { phases = undo, stop = stop, state = state }
end

--- runner.rollback(pb, opts) -> result: undo applied phases (newest first), across runs,
-- each in its own transaction; stops at a phase without a rollback, before touching it
function M.rollback(pb, opts)
  local db = opts.db
  local run = setmetatable({ pb = pb, db = db, out = opts.out, opts = opts, results = {},
    applied = {}, states = {}, phases = {}, steps = {}, t0 = clock.now(), conninfo = opts.conninfo,
    started_at = os.date("%Y-%m-%d %H:%M:%S %Z") }, Run)
  local result = { playbook = pb.name, target = opts.target, states = run.states, phases = run.phases }
  M.lock(db)
  local ok, err = pcall(function()
    ledger.ensure(db)
    local plan = M.rollback_plan(pb, db, opts.to)
    if #plan.phases == 0 then
      opts.out:info("nothing to roll back: no applied phase" .. (opts.to and (" after '" .. opts.to .. "'") or ""))
      return
    end
    run.id = ledger.start_run(db, { playbook = pb.name, checksum = pb.checksum, target = opts.target,
      host = sys.hostname(), os_user = sys.username(), version = require("migrun").VERSION })
    result.run_id = run.id
    db:set("lock_timeout", string.format("%dms", pb.lock_timeout // 1000000))
    for i = #plan.phases, 1, -1 do run.applied[#run.applied + 1] = plan.phases[i] end
    if not run:rollback_applied() then
      errors.raise("recovery", "the rollback stopped before it finished")
    end
  end)
  if ok then
    result.status, result.exit = "rolled back", 0
  else
    result.error = err
    local missing = false
    for _, st in pairs(run.states) do if st:find("no rollback defined") then missing = true end end
    result.status = missing and "rollback stopped (a phase has no rollback)" or "rollback failed"
    result.exit = errors.is(err, "recovery") and (missing and 1 or 5) or errors.exit_code(err)
  end
  for _, ph in ipairs(run.applied) do
    if not run.states[ph.name] then run.states[ph.name] = "applied" end
  end
  result.duration_ms = ms(clock.since(run.t0))
  if run.id then
    pcall(ledger.finish_run, db, run.id, result.status, result.error and tostring(result.error), nil)
  end
  M.unlock(db)
  return result
end

--- runner.check_protect(run) -> ok: every protected table kept its rows (or only grew)
function M.check_protect(run)
  local snapshot = require "migrun.snapshot"
  local ok = true
  if #run.pb.protect == 0 then return true end
  local fp = {}
  for _, p in ipairs(run.pb.protect) do fp[p.table] = true end
  local tables = {}
  for _, p in ipairs(run.pb.protect) do tables[#tables + 1] = p.table end
  local now = snapshot.take(run.db, tables, { fingerprint = fp })
  local results = {}
  for _, p in ipairs(run.pb.protect) do
    local b, a = run.before:count(p.table), now:count(p.table)
    local r = { description = string.format("protect %s (%s)", p.table, p.mode), phase = "(protect)" }
    if p.mode == "grow" then
      r.ok, r.expected, r.actual = a ~= nil and b ~= nil and a >= b, string.format(">= %s rows", tostring(b)),
        string.format("%s rows", tostring(a))
    else
      local same = a == b and now:fingerprint(p.table) == run.before:fingerprint(p.table)
      r.ok = same
      r.expected = string.format("%s rows, content unchanged", tostring(b))
      r.actual = same and r.expected or string.format("%s rows%s", tostring(a),
        a == b and ", content changed" or "")
    end
    if not r.ok then ok = false end
    results[#results + 1] = r
    run.results[#run.results + 1] = r
    run.out:expectation("(protect)", r)
  end
  ledger.record_expectations(run.db, run.id, "(protect)", results)
  return ok
end

return M
