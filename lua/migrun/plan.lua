--- migrun.plan: the read-only verbs. `plan` shows phases, steps (applied, pending, drifted),
-- budgets and expectations; `check` runs preflight and final verify in a READ ONLY
-- transaction; `status` prints the ledger's runs with their phases and timings.
local clock = require "migrun.clock"
local ledger = require "migrun.ledger"
local runner = require "migrun.runner"

local M = {}

local function budget(b)
  return b and (" budget " .. b.text .. (b.warn and " (warn)" or "")) or ""
end

--- plan.render(pb, db_or_nil) -> text
function M.render(pb, db)
  local state = db and ledger.state(db, pb.name) or nil
  local drift = {}
  if state then
    for _, d in ipairs(runner.drift(pb, state)) do drift[d.phase .. "\0" .. d.step] = true end
  end
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
  add("playbook %s%s", pb.name, pb.description and (" — " .. pb.description) or "")
  add("  file %s, on_failure = %s, lock_timeout %s%s", pb.path, pb.on_failure,
      clock.format(pb.lock_timeout), budget(pb.budget))
  if #pb.preflight > 0 then
    add("preflight")
    for _, e in ipairs(pb.preflight) do add("  expect %s", e:describe()) end
  end
  if pb.backup then add("backup %s", pb.backup.describe and pb.backup:describe() or "yes") end
  if #pb.protect > 0 then
    local t = {}
    for _, p in ipairs(pb.protect) do t[#t + 1] = p.mode == "grow" and (p.table .. " (may grow)") or p.table end
    add("protect %s", table.concat(t, ", "))
  end
  for _, item in ipairs(pb.items) do
    if item.kind == "gate" then
      add("gate %s", item.name)
      for _, q in ipairs(item.items) do add("  [ ] %s", q) end
    else
      local pending = state and #runner.pending_steps(item, state)
      local st = not state and "state unknown" or pending == 0 and "applied" or
                 pending == #item.steps and "pending" or "partly applied"
      add("phase %s  [%s]%s%s", item.name, st, budget(item.budget),
          item.transaction and "" or "  (no transaction)")
      for _, s in ipairs(item.steps) do
        local rec = state and state[item.name] and state[item.name][s.name]
        local sst = not state and "" or drift[item.name .. "\0" .. s.name] and "  [DRIFT: changed since applied]"
                    or (rec and rec.status == "applied") and "  [applied]" or "  [pending]"
        add("  step %s (%s)%s%s", s.name, s.kind, budget(s.budget), sst)
      end
      for _, e in ipairs(item.verify) do add("  expect %s", e:describe()) end
      add("  rollback %s", item.rollback and item.rollback.name or "none defined")
    end
  end
  if #pb.verify > 0 then
    add("verify")
    for _, e in ipairs(pb.verify) do add("  expect %s", e:describe()) end
  end
  if pb.report then add("report %s", pb.report) end
  return table.concat(lines, "\n") .. "\n"
end

--- plan.rollback(pb, db, to) -> text: what `migrun rollback` would undo, newest first, and
-- the rows written since each phase was applied that its rollback would lose
function M.rollback(pb, db, to)
  local cjson = require "cjson"
  local snapshot = require "migrun.snapshot"
  local plan = runner.rollback_plan(pb, db, to)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
  if #plan.phases == 0 then return "nothing to roll back\n" end
  add("rollback of %s would undo, in this order:", pb.name)
  for _, ph in ipairs(plan.phases) do
    if ph == plan.stop then
      add("  %s: NO ROLLBACK DEFINED: the rollback stops here; it and the phases before it stay applied",
          ph.name)
      break
    end
    add("  %s: %s", ph.name, ph.rollback.name)
    -- the run that applied it recorded row counts when it finished
    local run_id
    for _, rec in pairs(plan.state[ph.name] or {}) do run_id = math.max(run_id or 0, rec.run_id) end
    local after = {}
    if run_id then
      local r = db:query("SELECT summary::text AS s FROM migrun.runs WHERE id = $1", run_id)[1]
      local sum = r and r.s and cjson.decode(r.s) or {}
      for _, t in ipairs(sum.tables or {}) do after[t.table] = t.after end
    end
    local tables = {}
    runner.touched_tables(ph.rollback.text, tables)
    local names = {}
    for t in pairs(tables) do names[#names + 1] = t end
    table.sort(names)
    for _, t in ipairs(names) do
      local now = snapshot.count_rows(db, t)
      local was = after[t]
      local dropped = (ph.rollback.text or ""):lower():find("drop%s+table[^;]-" .. t:lower():gsub("%p", "%%%0"))
      if now and dropped then
        add("    %s: dropped, its %d row(s) lost", t, now)
      elseif now and type(was) == "number" and now > was then
        add("    %s: %d row(s) written since the phase was applied (%d then, %d now) may be lost",
            t, now - was, was, now)
      elseif now then
        add("    %s: %d row(s) now", t, now)
      end
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

--- plan.check(pb, db, out, conninfo) -> exit code: 0 when preflight and verify all pass
function M.check(pb, db, out, conninfo)
  local expect = require "migrun.expect"
  local ctx = { db = db, dir = pb.dir, conninfo = conninfo }
  local all = true
  local tx <close> = db:begin()
  db:exec("SET TRANSACTION READ ONLY")
  for _, part in ipairs({ { "(preflight)", pb.preflight }, { "(verify)", pb.verify } }) do
    local list = {}
    for _, e in ipairs(part[2]) do
      if e.kind == "delta" or e.kind == "unchanged" then
        out:info(string.format("  expect %s  skipped (needs a run's starting snapshot)", e:describe()))
      else
        list[#list + 1] = e
      end
    end
    for _, r in ipairs(expect.check_all(ctx, list)) do
      out:expectation(part[1], r)
      if not r.ok then all = false end
    end
  end
  tx:rollback()
  out:summary(all and "check passed" or "check FAILED", all)
  return all and 0 or 1
end

--- plan.status(db [, playbook]) -> text: runs, newest first, with their phases
function M.status(db, playbook)
  local runs = ledger.runs(db, playbook, 20)
  if #runs == 0 then return "no runs recorded" .. (playbook and (" for " .. playbook) or "") .. "\n" end
  local lines = {}
  for _, r in ipairs(runs) do
    lines[#lines + 1] = string.format("run %d  %s  %s%s  started %s  %s  by %s@%s", r.id, r.playbook,
      r.status, r.dry_run and " (dry run)" or "", r.started_at, clock.format(math.floor(r.ms * 1e6)),
      r.os_user or "?", r.host or "?")
    for _, s in ipairs(ledger.steps(db, r.id)) do
      if s.kind == "phase" or s.status ~= "applied" then
        local what = s.phase .. (s.kind == "phase" and "" or (" / " .. s.step))
        local took = s.duration_ms and clock.format(math.floor(s.duration_ms * 1e6)) or ""
        lines[#lines + 1] = string.format("  %-40s %-12s %s", what, s.status, took)
      end
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
