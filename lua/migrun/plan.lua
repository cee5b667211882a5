--- migrun.plan: the read-only verbs (policy layer). `plan` builds what a run would do from the
-- ledger (applied, pending, drifted) and renders it; `plan --rollback` what a rollback would
-- undo and the rows it would lose; `check` runs the expectations the ledger's state calls for
-- in a READ ONLY transaction (`status`, which lists the ledger's runs, is
-- migrun.commands.status). Each builds data (for --json) and renders text from it.
local clock = require "migrun.clock"
local ident = require "migrun.ident"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local sqlsplit = require "migrun.sqlsplit"
local state = require "migrun.run.state"

local M = {}

local array = json.array

local function budget_text(b)
  return b and (b.text .. (b.warn and " (warn)" or "")) or nil
end

local function descriptions(list)
  local out = array()
  for _, e in ipairs(list or {}) do out[#out + 1] = e:describe() end
  return out
end

--- the step's name as people know it: a file, or the first line of inline SQL
local function step_label(st)
  if st.file or st.kind == "lua" then return st.name end
  local text = st.kind == "backfill" and require("migrun.backfill").describe(st) or st.text
  local first = (text or ""):match("^%s*([^\n]*)") or ""
  if #first > 60 then first = first:sub(1, 57) .. "..." end
  if st.name:find("^sql #") or st.name == "rollback" then return first end
  return st.name .. ": " .. first
end
M.step_label = step_label

local function has_backfill(pb)
  for _, ph in ipairs(state.phases(pb)) do
    for _, st in ipairs(ph.steps) do
      if st.kind == "backfill" then return true end
    end
  end
  return false
end

--- plan.build(pb, db) -> {playbook, file, description, on_failure, lock_timeout, budget,
-- preflight, backup, protect, items = {{kind, name, state, steps, verify, rollback, ...}},
-- verify, report, drift}
function M.build(pb, db)
  local ls = ledger.state(db, pb.name)
  local drift = state.drift(pb, ls)
  local drifted = {}
  for _, d in ipairs(drift) do drifted[state.key(d.phase, d.step)] = d end
  local p = { playbook = pb.name, file = pb.path, description = pb.description, on_failure = pb.on_failure,
              lock_timeout = clock.format(pb.lock_timeout), budget = budget_text(pb.budget),
              preflight = descriptions(pb.preflight), backup = pb.backup and pb.backup:describe() or nil,
              protect = array(), items = array(), verify = descriptions(pb.verify), report = pb.report,
              drift = array(), hooks = array(), notify = array() }
  local hooks = require "migrun.hooks"
  for _, ev in ipairs(hooks.EVENTS) do
    for _, h in ipairs(pb.hooks and pb.hooks[ev] or {}) do
      p.hooks[#p.hooks + 1] = { event = ev, call = hooks.describe(h) }
    end
  end
  for _, c in ipairs(pb.notify or {}) do
    local on = array()
    for _, ev in ipairs(hooks.NOTIFY_EVENTS) do if c.on[ev] then on[#on + 1] = ev end end
    p.notify[#p.notify + 1] = { webhook = c.webhook and require("migrun.http").describe_url(c.webhook) or nil,
                                format = c.format, on = on }
  end
  for _, d in ipairs(drift) do
    p.drift[#p.drift + 1] = { phase = d.phase, step = d.step, reason = d.reason, text = state.describe_drift(d) }
  end
  for _, pr in ipairs(pb.protect) do p.protect[#p.protect + 1] = { table = pr.table, mode = pr.mode } end
  -- interrupted backfills: where they go on
  local resumes = has_backfill(pb) and require("migrun.backfill").checkpoints(db, pb.name) or {}
  for _, item in ipairs(pb.items) do
    if item.kind == "gate" then
      p.items[#p.items + 1] = { kind = "gate", name = item.name, questions = array({ table.unpack(item.items) }) }
    else
      local steps = array()
      for _, st in ipairs(item.steps) do
        local d = drifted[state.key(item.name, st.name)]
        local cp = resumes[state.key(item.name, st.name)]
        steps[#steps + 1] = { name = st.name, label = step_label(st), kind = st.kind, budget = budget_text(st.budget),
          state = d and ("drift: " .. d.reason) or state.is_applied(ls, item.name, st.name) and "applied" or
                  cp and ("pending: resumes " .. cp) or "pending" }
      end
      p.items[#p.items + 1] = { kind = "phase", name = item.name, state = state.phase_state(item, ls),
        budget = budget_text(item.budget), transaction = item.transaction, steps = steps,
        verify = descriptions(item.verify), rollback = item.rollback and step_label(item.rollback) or nil }
    end
  end
  return p
end

--- plan.render(p) -> text
function M.render(p)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
  add("playbook %s%s", p.playbook, p.description and (" — " .. p.description) or "")
  add("  file %s, on_failure = %s, lock_timeout %s%s", p.file, p.on_failure, p.lock_timeout,
      p.budget and (", budget " .. p.budget) or "")
  if #p.preflight > 0 then
    add("preflight")
    for _, d in ipairs(p.preflight) do add("  expect %s", d) end
  end
  if p.backup then add("backup %s", p.backup) end
  for _, h in ipairs(p.hooks) do add("hook %s: %s", h.event, h.call) end
  for _, n in ipairs(p.notify) do
    add("notify %s (%s) on %s", n.webhook or "nowhere: no webhook set", n.format, table.concat(n.on, ", "))
  end
  if #p.protect > 0 then
    local t = {}
    for _, pr in ipairs(p.protect) do t[#t + 1] = pr.mode == "grow" and (pr.table .. " (may grow)") or pr.table end
    add("protect %s", table.concat(t, ", "))
  end
  for _, item in ipairs(p.items) do
    if item.kind == "gate" then
      add("gate %s", item.name)
      for _, q in ipairs(item.questions) do add("  [ ] %s", q) end
    else
      add("phase %s  [%s]%s%s", item.name, item.state, item.budget and ("  budget " .. item.budget) or "",
          item.transaction and "" or "  (no transaction)")
      for _, s in ipairs(item.steps) do
        add("  step %s (%s)%s  [%s]", s.label, s.kind, s.budget and ("  budget " .. s.budget) or "", s.state)
      end
      for _, d in ipairs(item.verify) do add("  expect %s", d) end
      add("  rollback %s", item.rollback or "none defined")
    end
  end
  if #p.verify > 0 then
    add("verify")
    for _, d in ipairs(p.verify) do add("  expect %s", d) end
  end
  if p.report then add("report %s (with the run id in its name)", p.report) end
  if #p.drift > 0 then
    add("")
    add("DRIFT: the ledger and the playbook disagree; a run refuses until they agree:")
    for _, d in ipairs(p.drift) do add("  %s", d.text) end
    add("(put the applied version back, or record the change with `migrun accept-drift`)")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- ---------------------------------------------------------------------------------------
-- what a rollback loses

local function strip(sql)
  return (sql:gsub("%-%-[^\n]*", " "):gsub("/%*.-%*/", " "))
end

local NAME = "([%w_%.\"]+)"

-- the table names of "a, b, c" (quotes as written)
local function names_in(list)
  local out = {}
  for part in list:gmatch("[^,]+") do
    local n = part:match("^%s*" .. NAME)
    if n then out[#out + 1] = n end
  end
  return out
end

local function unquote(n)
  return (n:gsub('"', ""))
end

local function count(db, sql, ...)
  local ok, r = pcall(db.query, db, sql, ...)
  if ok then return r[1].n end
end

local function exists(db, t)
  return ident.check(t) and ident.oid(db, t) ~= nil
end

-- the rows (or values) one rollback statement destroys, by what the statement is
local function loss_of(db, stmt)
  local s = strip(stmt):gsub("%s+", " "):gsub("^ ", ""):gsub(";?%s*$", "")
  local low = s:lower()
  local out = {}
  local tables = low:match("^drop table (.*)$")
  if tables then
    tables = tables:gsub("^if exists ", ""):gsub(" cascade$", ""):gsub(" restrict$", "")
    for _, t in ipairs(names_in(tables)) do
      t = unquote(t)
      if exists(db, t) then
        out[#out + 1] = { table = t, rows = count(db, "SELECT count(*) AS n FROM " .. ident.quote(db, t)),
                          what = "dropped with all its rows" }
      end
    end
    return out
  end
  local trunc = low:match("^truncate (.*)$")
  if trunc then
    trunc = trunc:gsub("^table ", ""):gsub("^only ", ""):gsub(" cascade$", ""):gsub(" restrict$", "")
      :gsub(" restart identity$", ""):gsub(" continue identity$", "")
    for _, t in ipairs(names_in(trunc)) do
      t = unquote(t)
      if exists(db, t) then
        out[#out + 1] = { table = t, rows = count(db, "SELECT count(*) AS n FROM " .. ident.quote(db, t)),
                          what = "truncated" }
      end
    end
    return out
  end
  local dt, rest = low:match("^delete from " .. NAME .. "(.*)$")
  if dt then
    dt = unquote(dt)
    if not exists(db, dt) then return out end
    local where_at = rest:find(" where ", 1, true)
    if rest:find(" using ", 1, true) or rest:find(" returning ", 1, true) then
      out[#out + 1] = { table = dt, what = "rows deleted (how many: it depends on other tables)" }
    else
      local cond = where_at and s:sub(#s - #rest + where_at + 7) or "true"
      out[#out + 1] = { table = dt, what = "rows deleted",
        rows = count(db, "SELECT count(*) AS n FROM " .. ident.quote(db, dt) .. " WHERE (" .. cond .. ")") }
    end
    return out
  end
  local at, cols = low:match("^alter table " .. NAME .. " (drop .*)$")
  if not at then at, cols = low:match("^alter table if exists " .. NAME .. " (drop .*)$") end
  if not at then at, cols = low:match("^alter table only " .. NAME .. " (drop .*)$") end
  if at then
    at = unquote(at)
    for clause in (cols .. ","):gmatch("(.-),") do
      local col = clause:match("^%s*drop column if exists " .. NAME) or clause:match("^%s*drop column " .. NAME)
        or (not clause:match("^%s*drop constraint") and clause:match("^%s*drop " .. NAME))
      if col and exists(db, at) then
        col = unquote(col)
        local n = count(db, string.format("SELECT count(%s) AS n FROM %s", db:quote_ident(col), ident.quote(db, at)))
        if n then out[#out + 1] = { table = at, column = col, rows = n, what = "values of the dropped column" } end
      end
    end
  end
  return out
end

--- plan.rollback(pb, db, to) -> {playbook, phases = {{name, rollback, stop, losses}}, stop}:
-- what `migrun rollback` would undo, newest first, and what it destroys: the rows of tables
-- it drops or truncates, the rows it deletes, the values of columns it drops (dropping a
-- constraint or an index loses none)
function M.rollback(pb, db, to)
  local ls = ledger.state(db, pb.name)
  local rp = state.rollback_plan(pb, ls, to)
  local p = { playbook = pb.name, phases = array(), stop = rp.stop and rp.stop.name or nil, rows_lost = 0 }
  for _, ph in ipairs(rp.phases) do
    local entry = { name = ph.name, losses = array() }
    p.phases[#p.phases + 1] = entry
    if ph == rp.stop then
      entry.stop = true
      break
    end
    entry.rollback = step_label(ph.rollback)
    if ph.rollback.kind == "lua" then
      entry.unknown = "Lua code: migrun cannot tell what it deletes"
    else
      for _, stmt in ipairs(sqlsplit.split(ph.rollback.text, ph.rollback.file or pb.file)) do
        for _, l in ipairs(loss_of(db, stmt.sql)) do
          entry.losses[#entry.losses + 1] = l
          if l.rows and not l.column then p.rows_lost = p.rows_lost + l.rows end
        end
      end
    end
  end
  return p
end

--- plan.render_rollback(p) -> text
function M.render_rollback(p)
  if #p.phases == 0 then return "nothing to roll back\n" end
  local lines = { string.format("rollback of %s would undo, in this order:", p.playbook) }
  for _, ph in ipairs(p.phases) do
    if ph.stop then
      lines[#lines + 1] = string.format("  %s: NO ROLLBACK DEFINED: the rollback stops here; it and the " ..
                                        "phases before it stay applied", ph.name)
    else
      lines[#lines + 1] = string.format("  %s: %s", ph.name, ph.rollback)
      if ph.unknown then lines[#lines + 1] = "    " .. ph.unknown end
      for _, l in ipairs(ph.losses) do
        if l.column then
          lines[#lines + 1] = string.format("    %s.%s: %s non-null value(s) lost (the column is dropped)",
                                            l.table, l.column, tostring(l.rows))
        elseif l.rows then
          lines[#lines + 1] = string.format("    %s: %d row(s) lost (%s)", l.table, l.rows, l.what)
        else
          lines[#lines + 1] = string.format("    %s: %s", l.table, l.what)
        end
      end
      if #ph.losses == 0 and not ph.unknown then lines[#lines + 1] = "    loses no rows" end
    end
  end
  lines[#lines + 1] = string.format("rows lost in all: %d", p.rows_lost)
  return table.concat(lines, "\n") .. "\n"
end

-- ---------------------------------------------------------------------------------------
-- check

--- plan.check_sections(pb, ledger_state) -> {{label, list}}: what `check` verifies, following
-- the ledger: the preflight when nothing is applied, the final verify when all is, else the
-- verify of each applied phase
function M.check_sections(pb, ls)
  local applied = state.applied_phases(pb, ls)
  local phases = state.phases(pb)
  local complete = #applied == #phases
  for _, ph in ipairs(applied) do
    if #state.pending_steps(ph, ls) > 0 then complete = false end
  end
  if #applied == 0 then
    return { { label = "preflight (nothing is applied yet)", where = "(preflight)", list = pb.preflight } }
  end
  if complete then
    return { { label = "final verify (every phase is applied)", where = "(verify)", list = pb.verify } }
  end
  local sections = {}
  for _, ph in ipairs(applied) do
    sections[#sections + 1] = { label = string.format("verify of phase '%s' (applied)", ph.name),
                                where = ph.name, list = ph.verify }
  end
  return sections
end

--- plan.check(pb, db, out, conninfo) -> ok: the sections' expectations in one READ ONLY
-- transaction; those that compare with a run's start are skipped (no run is starting)
function M.check(pb, db, out, conninfo)
  local expect = require "migrun.expect"
  local ls = ledger.state(db, pb.name)
  -- read_only: the transaction below is READ ONLY, so the user's queries may join the batch
  local ctx = { db = db, dir = pb.dir, conninfo = conninfo, read_only = true }
  local all, n = true, 0
  local tx <close> = db:begin()
  db:exec("SET TRANSACTION READ ONLY")
  for _, sec in ipairs(M.check_sections(pb, ls)) do
    out:info(sec.label)
    local list = {}
    for _, e in ipairs(sec.list) do
      if e:has("needs_baseline") then
        out:info(string.format("  expect %s  skipped (it compares with a run's start)", e:describe()))
      else
        list[#list + 1] = e
      end
    end
    if #list == 0 then out:info("  (nothing to check)") end
    for _, r in ipairs(expect.check_all(ctx, list)) do
      r.phase = sec.where
      out:expectation(sec.where, r)
      n = n + 1
      if not r.ok then all = false end
    end
  end
  tx:rollback()
  out:summary(string.format("check %s (%d expectation(s))", all and "passed" or "FAILED", n), all)
  return all
end

return M
