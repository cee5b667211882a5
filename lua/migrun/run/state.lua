--- migrun.run.state: what a playbook means against its ledger, as pure functions (policy
-- layer; no database access). Which steps are pending, which applied steps drifted, which
-- phases an invocation selects, what a rollback would undo, and the sets of tables a
-- playbook touches. `plan`, `check`, the runner and the REPL all read it from here.
local errors = require "migrun.errors"
local ident = require "migrun.ident"
local text = require "migrun.text"

local M = {}

local function key(phase, step) return phase .. "\0" .. step end
M.key = key

--- state.phases(pb) -> the phases of a playbook, in order
function M.phases(pb)
  local list = {}
  for _, item in ipairs(pb.items) do
    if item.kind == "phase" then list[#list + 1] = item end
  end
  return list
end

--- state.record(ledger_state, phase, step) -> the latest ledger row of a step, or nil
function M.record(ls, phase, step)
  local p = ls.steps[phase]
  return p and p[step]
end

--- state.is_applied(ledger_state, phase, step) -> true when its latest row says applied
function M.is_applied(ls, phase, step)
  local r = M.record(ls, phase, step)
  return r ~= nil and r.status == "applied"
end

--- state.pending_steps(ph, ledger_state) -> the steps of a phase not applied yet
function M.pending_steps(ph, ls)
  local pending = {}
  for _, st in ipairs(ph.steps) do
    if not M.is_applied(ls, ph.name, st.name) then pending[#pending + 1] = st end
  end
  return pending
end

--- state.phase_state(ph, ledger_state) -> "applied" | "pending" | "partly applied"
function M.phase_state(ph, ls)
  local n = #M.pending_steps(ph, ls)
  if n == 0 then return "applied" end
  for _, st in ipairs(ph.steps) do
    local r = M.record(ls, ph.name, st.name)
    if r and r.status == "partly_applied" then return "partly applied" end
  end
  if n == #ph.steps then return "pending" end
  return "partly applied"
end

--- state.applied_phases(pb, ledger_state) -> phases with at least one applied (or partly
-- applied) step, in order: what a rollback undoes
function M.applied_phases(pb, ls)
  local list = {}
  for _, ph in ipairs(M.phases(pb)) do
    for _, st in ipairs(ph.steps) do
      local r = M.record(ls, ph.name, st.name)
      if r and (r.status == "applied" or r.status == "partly_applied") then
        list[#list + 1] = ph
        break
      end
    end
  end
  return list
end

--- state.drift(pb, ledger_state) -> {{phase, step, reason, ...}, ...}: the ledger's history
-- and the playbook disagree. reason: "changed" (an applied step's text changed), "renamed"
-- (an applied step is gone, and a pending one has its exact text: `from` names the old
-- step), "removed" (an applied step is no longer in the playbook), "inserted" (a step no
-- run has ever seen comes before an applied one, so it would run out of order).
function M.drift(pb, ls)
  local drift = {}
  local in_playbook, pending_by_sum = {}, {}
  local phases = M.phases(pb)
  local last_applied = 0                             -- position of the last applied step
  local order = {}
  for _, ph in ipairs(phases) do
    for _, st in ipairs(ph.steps) do
      order[#order + 1] = { ph = ph, st = st }
      in_playbook[key(ph.name, st.name)] = true
      local r = M.record(ls, ph.name, st.name)
      if r and r.status == "applied" then
        last_applied = #order
        local same = r.checksum == st.checksum or
                     (st.kind == "backfill" and require("migrun.backfill").same_text(st, r.checksum))
        if not same then
          drift[#drift + 1] = { phase = ph.name, step = st.name, reason = "changed",
                                old_checksum = r.checksum, checksum = st.checksum, row = r }
        end
      else
        pending_by_sum[st.checksum] = pending_by_sum[st.checksum] or { phase = ph.name, step = st.name }
      end
    end
  end
  local renamed_to = {}
  for phase, steps in pairs(ls.steps) do
    for step, r in pairs(steps) do
      if r.status == "applied" and r.kind ~= "phase" and not in_playbook[key(phase, step)] then
        local new = pending_by_sum[r.checksum]
        if new then
          renamed_to[key(new.phase, new.step)] = true
          drift[#drift + 1] = { phase = new.phase, step = new.step, reason = "renamed",
                                from = { phase = phase, step = step }, checksum = r.checksum }
        else
          drift[#drift + 1] = { phase = phase, step = step, reason = "removed",
                                old_checksum = r.checksum, row = r }
        end
      end
    end
  end
  for i = 1, last_applied - 1 do
    local o = order[i]
    local k = key(o.ph.name, o.st.name)
    if not ls.known[k] and not M.record(ls, o.ph.name, o.st.name) and not renamed_to[k] then
      drift[#drift + 1] = { phase = o.ph.name, step = o.st.name, reason = "inserted",
                            checksum = o.st.checksum }
    end
  end
  table.sort(drift, function(a, b)
    if a.phase ~= b.phase then return a.phase < b.phase end
    return a.step < b.step
  end)
  return drift
end

local DRIFT_TEXT = {
  changed = "changed since it was applied",
  removed = "applied, but no longer in the playbook",
  renamed = "applied under another name",
  inserted = "new, and placed before steps that are already applied (it would run out of order)",
}

--- state.describe_drift(d) -> one line for people
function M.describe_drift(d)
  local s = string.format("%s / %s: %s", d.phase, d.step, DRIFT_TEXT[d.reason] or d.reason)
  if d.from then s = s .. string.format(" (was %s / %s)", d.from.phase, d.from.step) end
  return s
end

local function phase_names(pb)
  local names = {}
  for _, ph in ipairs(M.phases(pb)) do names[#names + 1] = ph.name end
  return names
end

--- state.check_phase_name(pb, option, name): raises kind="usage" for an unknown phase,
-- naming the command-line option and the closest phase
function M.check_phase_name(pb, option, name)
  if name and not pb.phases[name] then
    errors.raise("usage", string.format("%s: no phase named '%s'%s", option, name,
      text.did_you_mean(name, phase_names(pb))),
      { hint = "the phases are: " .. table.concat(phase_names(pb), ", ") }, 2)
  end
end

--- state.select(pb, {from =, only =, to =}) -> set of the phase names this invocation may run
function M.select(pb, o)
  M.check_phase_name(pb, "--from", o.from)
  M.check_phase_name(pb, "--only", o.only)
  M.check_phase_name(pb, "--to", o.to)
  if o.only and (o.from or o.to) then
    errors.raise("usage", "--only runs one phase; it does not combine with --from or --to")
  end
  local set, on = {}, not o.from
  for _, n in ipairs(phase_names(pb)) do
    if o.from == n then on = true end
    if (o.only and o.only == n) or (not o.only and on) then set[n] = true end
    if o.to == n then on = false end
  end
  if o.from and o.to and not next(set) then
    errors.raise("usage", string.format("--to '%s' comes before --from '%s': nothing to run", o.to, o.from))
  end
  return set
end

--- state.rollback_plan(pb, ledger_state, to) -> {phases = {...} newest first, stop = phase|nil}:
-- what a rollback would undo, and the first phase on the way that has no rollback
function M.rollback_plan(pb, ls, to)
  M.check_phase_name(pb, "--to", to)
  local applied = M.applied_phases(pb, ls)
  local undo, stop = {}, nil
  for i = #applied, 1, -1 do
    local ph = applied[i]
    if ph.name == to then break end
    if not ph.rollback and not stop then stop = ph end
    undo[#undo + 1] = ph
  end
  return { phases = undo, stop = stop }
end

--- state.baseline_plan(pb, ledger_state, to) -> the phases up to and including `to` whose
-- steps are not all recorded as applied
function M.baseline_plan(pb, ls, to)
  if not to then errors.raise("usage", "migrun baseline needs --to PHASE (the last phase already applied)") end
  M.check_phase_name(pb, "--to", to)
  local list = {}
  for _, ph in ipairs(M.phases(pb)) do
    if #M.pending_steps(ph, ls) > 0 then list[#list + 1] = ph end
    if ph.name == to then break end
  end
  return list
end

-- ---------------------------------------------------------------------------------------
-- the tables a playbook touches

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

--- state.touched_tables(sql, into): adds to the set `into` the tables the SQL writes or alters
function M.touched_tables(sql, into)
  -- comments and string literals hold no statement (format('ALTER TABLE %I ...') is not one)
  local s = (sql or ""):gsub("%-%-[^\n]*", ""):gsub("/%*.-%*/", ""):gsub("'[^']*'", "''"):lower()
  for _, p in ipairs(WRITE_PATTERNS) do
    for name in s:gmatch(p) do
      name = name:gsub('"', ""):gsub("^public%.", ""):gsub("[%.,;]+$", "")
      if name ~= "" and not SKIP_WORDS[name] and ident.check(name) then into[name] = true end
    end
  end
  return into
end

local function sorted(set)
  local list = {}
  for t in pairs(set) do list[#list + 1] = t end
  table.sort(list)
  return list
end

local function each_expectation(pb, fn)
  for _, e in ipairs(pb.preflight) do fn(e) end
  for _, e in ipairs(pb.verify) do fn(e) end
  for _, ph in ipairs(M.phases(pb)) do
    for _, e in ipairs(ph.verify) do fn(e) end
  end
end

--- state.fingerprint_tables(pb) -> set of tables whose content a run fingerprints at its start
-- (the protected ones, and those an expectation compares with the run start)
function M.fingerprint_tables(pb)
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  each_expectation(pb, function(e)
    for _, t in ipairs(e:fingerprints()) do set[t] = true end
  end)
  return set
end

--- state.baseline_tables(pb) -> sorted tables that expectations compare with the run start,
-- and the protected ones
function M.baseline_tables(pb)
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  each_expectation(pb, function(e)
    if e:has("needs_baseline") then
      for _, t in ipairs(e:tables()) do set[t] = true end
    end
  end)
  return sorted(set)
end

--- state.snapshot_tables(pb) -> sorted tables the playbook touches, reads or protects (the
-- before/after table of the report)
function M.snapshot_tables(pb)
  local set = {}
  for _, p in ipairs(pb.protect) do set[p.table] = true end
  for _, t in ipairs(pb.snapshot) do set[t] = true end
  each_expectation(pb, function(e)
    for _, t in ipairs(e:tables()) do set[t] = true end
  end)
  for _, ph in ipairs(M.phases(pb)) do
    for _, st in ipairs(ph.steps) do
      if st.text then M.touched_tables(st.text, set) end
      if st.kind == "backfill" then set[ident.display(st.table)] = true end
    end
  end
  return sorted(set)
end

--- state.todo(pb, ledger_state, selected) -> phases to do now, phases with work applied before
function M.todo(pb, ls, selected)
  local todo, applied_before = 0, 0
  for _, ph in ipairs(M.phases(pb)) do
    local n = #M.pending_steps(ph, ls)
    if selected[ph.name] and n > 0 then todo = todo + 1 end
    if n < #ph.steps then applied_before = applied_before + 1 end
  end
  return todo, applied_before
end

return M
