--- migrun.fleet.survey: what each target's own ledger says of a playbook (policy layer), for
-- `status --fleet` and `plan --fleet`. One short connection per target, read-only: the
-- ledger's state through migrun.ledger and migrun.run.state (the runner's own reading), the
-- latest run, and whether a migrun run holds the target's lock right now.
local errors = require "migrun.errors"
local ledger = require "migrun.ledger"
local state = require "migrun.run.state"

local M = {}

-- the advisory lock every migrun run takes (runner.lock): (int4, int4) keys
local LOCK_K1, LOCK_K2 = 1835495022, 1

--- survey.ORDER, survey.TEXT: the states, in the order of the table, and their text
M.ORDER = { "running", "drift", "partly_applied", "pending", "applied", "unreachable", "error" }
M.TEXT = { running = "running", drift = "drift", partly_applied = "partly applied", pending = "pending",
           applied = "applied", unreachable = "unreachable", error = "error" }

local function one(db, pb, o)
  local ls = ledger.state(db, pb.name)
  local phases = state.phases(pb)
  local applied, partly = 0, false
  for _, ph in ipairs(phases) do
    local st = state.phase_state(ph, ls)
    if st == "applied" then applied = applied + 1 elseif st == "partly applied" then partly = true end
  end
  local drift = state.drift(pb, ls)
  local r = { phases = #phases, applied = applied, drift = #drift }
  if #drift > 0 then r.drift_text = state.describe_drift(drift[1]) end
  local last = ledger.runs(db, pb.name, 1)[1]
  if last then
    r.last_run = { id = last.id, status = last.status, started_at = last.started_at,
                   finished_at = last.finished_at, ms = last.ms }
  end
  local holder = db:query([[
    SELECT a.pid, a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())]],
    LOCK_K1, LOCK_K2)[1]
  if holder then r.holder = { pid = holder.pid, app = holder.app } end
  if o.rollback then
    local rp = state.rollback_plan(pb, ls, o.to)
    r.would_undo = #rp.phases - (rp.stop and 1 or 0)
    r.rollback_stop = rp.stop and rp.stop.name
  else
    r.todo = state.todo(pb, ls, state.select(pb, o))
  end
  r.state = holder and "running" or #drift > 0 and "drift" or applied == #phases and "applied"
            or (applied > 0 or partly) and "partly_applied" or "pending"
  return r
end

--- survey.target(tg, pb, o) -> {state, phases, applied, todo, drift, last_run, holder, error}:
-- o = {from, only, to, rollback}; an unreachable target has state "unreachable" and error
function M.target(tg, pb, o)
  local ok, db = pcall(require("migrun.db").connect, tg.conninfo)
  if not ok then
    if errors.is(db, "interrupted") then error(db, 0) end
    return { state = "unreachable", error = errors.text(db):match("[^\n]*") }
  end
  local rok, r = pcall(one, db, pb, o or {})
  db:close()
  if not rok then
    if errors.is(r, "interrupted") or errors.is(r, "usage") then error(r, 0) end
    return { state = "error", error = errors.text(r):match("[^\n]*") }
  end
  return r
end

return M
