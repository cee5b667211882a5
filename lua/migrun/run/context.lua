--- migrun.run.context: one invocation's memory (policy layer): the playbook, the connection,
-- what was printed and recorded, the step rows of the report, the phase states, and the work
-- clock that budgets read (time spent waiting at a gate is not migrun's work). The executor,
-- recovery and the runner share it; it writes to the ledger through migrun.ledger only.
local clock = require "migrun.clock"
local expect = require "migrun.expect"
local ledger = require "migrun.ledger"
local status = require "migrun.run.status"

local M = {}

local Run = {}
Run.__index = Run

--- context.new(pb, opts) -> run; opts as runner.run takes them
function M.new(pb, opts)
  return setmetatable({
    pb = pb, db = opts.db, out = opts.out, opts = opts, conninfo = opts.conninfo, env = opts.env,
    dry_run = opts.dry_run, results = {}, applied = {}, states = {}, phases = {}, steps = {},
    logs = {}, gates = {}, sql = {}, lock_waits = {},
    forecast = {},                         -- the locks a rehearsal saw (migrun.run.forecast)
    proofs = {},                           -- rollbacks proven on a rehearsal (migrun.run.prove)
    backfills = {},                        -- throughput and pauses (migrun.backfill)
    calls = {},                            -- hooks and notifications (migrun.hooks)
    t0 = clock.now(), t_start = clock.now(), gate_ns = 0, warned = {},
    started_at = os.date("%Y-%m-%d %H:%M:%S %Z"),
  }, Run)
end

--- run:work_ns() -> nanoseconds of migrun's own work since the run started (gates excluded)
function Run:work_ns()
  return clock.since(self.t0) - self.gate_ns
end

--- run:set_state(phase_name, code): what became of a phase (a migrun.run.status.phase code)
function Run:set_state(name, code)
  assert(status.phase[code], "unknown phase state " .. tostring(code))
  self.states[name] = code
end

--- run:warn_once(key, message)
function Run:warn_once(key, msg)
  if self.warned[key] then return end
  self.warned[key] = true
  self.out:warn(msg)
end

--- run:record(rec): one step row, into the ledger (in the caller's transaction, or buffered
-- to go with the phase's COMMIT) and into the run's memory, which the report uses (a dry
-- run's ledger rows are rolled back with its work)
function Run:record(rec)
  rec.run_id, rec.playbook = self.id, self.pb.name
  if self.buffer then
    self.buffer.steps[#self.buffer.steps + 1] = rec
  elseif self.id then
    ledger.record_step(self.db, rec)
  end
  if rec.status ~= "started" then
    local shown = (self.dry_run and rec.status == "applied") and "ran (dry run)" or rec.status
    self.steps[#self.steps + 1] = { phase = rec.phase, step = rec.step, kind = rec.kind, status = shown,
      duration_ms = rec.duration_ms, rows = rec.rows, attempt = rec.attempt, budget = rec.budget,
      error = rec.error, note = rec.note }
  end
end

--- run:record_call(c): a hook call or a notification, into the run's memory and the ledger
-- (kept in memory only when the ledger cannot be written: the connection is lost or busy)
function Run:record_call(c)
  self.calls[#self.calls + 1] = c
  if self.id and not self.dry_run and self.db:status() == "idle" then
    local ok, err = pcall(ledger.record_call, self.db, self.id, c)
    if not ok then self:warn_once("record-call", "could not record a hook call in the ledger: " .. tostring(err)) end
  end
end

--- run:ctx() -> what expectations get: db, the run-start snapshot, the playbook's dir, ...
function Run:ctx()
  return { db = self.db, before = self.before, dir = self.pb.dir, conninfo = self.conninfo,
           env = self.env, savepoints = not self.buffer }
end

--- run:api() -> the `run` argument of Lua steps: variables, the logger, the run-start snapshot
function Run:api(phase, step)
  return {
    vars = self.pb.vars, id = self.id, dry_run = self.dry_run, dir = self.pb.dir,
    conninfo = self.conninfo,     -- for a second connection (it may hold a password: keep it in memory)
    log = function(msg)
      msg = tostring(msg)
      self.logs[#self.logs + 1] = { phase = phase, step = step, message = msg }
      self.out:info("  " .. msg)
    end,
    before = self.before,         -- snapshot methods work as run.before.count("t") too
  }
end

--- run:check(where, list [, {no_ledger = true, prefetched = answers}]) -> results, all_ok:
-- check expectations (prefetched: what expect.prefetch read already), print and record them.
-- A check that could not look (expect.schema inside a transaction) fails, except in a dry
-- run, where it is reported as skipped.
function Run:check(where, list, o)
  local results = expect.check_all(self:ctx(), list, o and o.prefetched)
  local all = true
  for _, r in ipairs(results) do
    if r.not_checked and self.dry_run then
      r.ok, r.skipped = true, true
      r.actual = "skipped in a dry run (" .. r.not_checked .. ")"
    end
    r.phase = where
    self.results[#self.results + 1] = r
    self.out:expectation(where, r)
    if not r.ok then all = false end
  end
  if self.id and not (o and o.no_ledger) then
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

--- run:forget_since(results_mark, steps_mark): drop what a rolled-back attempt recorded in
-- memory (its ledger rows went with its transaction)
function Run:forget_since(rmark, smark)
  for i = #self.results, rmark + 1, -1 do self.results[i] = nil end
  for i = #self.steps, smark + 1, -1 do self.steps[i] = nil end
end

return M
