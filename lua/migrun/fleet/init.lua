--- migrun.fleet: one playbook on many databases (policy layer): `migrun VERB PLAYBOOK.lua
-- --fleet FLEET.lua` for run, rollback and check (a child migrun per target, in waves: see
-- fleet.scheduler), and status and plan (each target's ledger read here, one short connection
-- each: see fleet.survey). The fleet file is fleet.dsl; the aggregated report fleet.report.
-- Exit codes: scheduler.exit_code (run, rollback, check); survey_exit (status, plan).
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"
local prompt = require "migrun.prompt"
local scheduler = require "migrun.fleet.scheduler"
local state = require "migrun.run.state"

local M = {}

local function usage(msg, hint)
  errors.raise("usage", msg, { hint = hint }, 3)
end

local function mkdirs(dir)
  local lfs = require "lfs"
  local acc = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    lfs.mkdir(acc)
  end
  if lfs.attributes(dir, "mode") ~= "directory" then
    errors.raise("environment", "cannot create the fleet's report directory " .. dir, { reason = "io" })
  end
end

--- fleet.report_path(opts, fleet, verb) -> the aggregated report (Markdown), and the directory
-- beside it for the targets' own reports and logs: --report as given; else the fleet's
-- `report` (or reports/<name>.md beside the fleet file) with the verb and a stamp in its name
function M.report_path(explicit, fl, verb)
  local lfs = require "lfs"
  local md
  if explicit then
    md = explicit:find("%.md$") and explicit or explicit .. ".md"
  else
    local base = fl.report or ((fl.dir == "." and "" or fl.dir .. "/") .. "reports/" .. fl.name .. ".md")
    local stem = base:gsub("%.md$", "")
    local stamp = os.date("!%Y%m%dT%H%M%SZ")
    md = string.format("%s-%s-%s.md", stem, verb, stamp)
    local n = 1
    while lfs.attributes(md) or lfs.attributes((md:gsub("%.md$", ""))) do
      n = n + 1
      md = string.format("%s-%s-%s-%d.md", stem, verb, stamp, n)
    end
  end
  local dir = md:gsub("%.md$", "")
  return md, dir
end

-- ---------------------------------------------------------------------------------------
-- run, rollback, check: a child per target

local function confirm(verb, opts, out, pb, fl)
  local n = #fl.targets
  local items = {}
  if verb == "rollback" then
    items[1] = string.format("Roll back %s on %d target(s)%s? (each takes the playbook's backup first and " ..
      "reports the rows it lost)", pb.name, n, opts.to and (" down to " .. opts.to) or "")
  elseif verb == "run" then
    for _, item in ipairs(pb.items) do
      if item.kind == "gate" then
        for _, q in ipairs(item.items) do items[#items + 1] = string.format("[%s] %s", item.name, q) end
      end
    end
    if #items == 0 then return true end               -- no gate: a single run would not ask either
    items[#items + 1] = string.format("Answer these gates yes on all %d target(s)?", n)
  else
    return true
  end
  local ok, rec, why = prompt.ask(out, { what = "fleet", name = fl.name, yes = opts.yes, items = items })
  if not ok then errors.raise("declined", why .. " (no target was started)") end
  return true, rec
end

local function child_args(verb, opts)
  local args = {}
  local function add(...) for _, a in ipairs({ ... }) do args[#args + 1] = a end end
  for _, kv in ipairs(opts.set or {}) do add("--set", kv) end
  if verb == "run" or verb == "rollback" then add("--yes") end   -- asked once, up front
  if verb == "run" then
    if opts.from then add("--from", opts.from) end
    if opts.only then add("--only", opts.only) end
    if opts.to then add("--to", opts.to) end
    if opts.allow_drift then add("--allow-drift") end
    if opts.dry_run then add("--dry-run") end
  elseif verb == "rollback" and opts.to then
    add("--to", opts.to)
  end
  return args
end

local function summary_text(fl, results, duration_ns)
  local counts, order = {}, {}
  for _, r in ipairs(results) do
    if not counts[r.state] then order[#order + 1] = r.state end
    counts[r.state] = (counts[r.state] or 0) + 1
  end
  local parts = {}
  for _, st in ipairs(order) do parts[#parts + 1] = string.format("%d %s", counts[st], scheduler.STATES[st].text) end
  return string.format("fleet %s: %s in %s", fl.name, table.concat(parts, ", "), clock.format(duration_ns))
end

local function with_children(verb, opts, ctx, pb, fl)
  local out = ctx.out
  if verb == "run" then state.select(pb, opts) end   -- a misspelt --from/--only/--to: exit 2 here
  if opts.to then state.check_phase_name(pb, "--to", opts.to) end
  local _, confirmation = confirm(verb, opts, out, pb, fl)
  local md, dir = M.report_path(opts.report, fl, verb)
  mkdirs(dir)
  local waves = verb ~= "check"
  local started_at, t0 = os.date("%Y-%m-%d %H:%M:%S %Z"), clock.now()
  local sizes = {}
  for i, w in ipairs(fl.plan) do sizes[i] = w.last - w.first + 1 end
  if not out:event("fleet", { fleet = fl.name, verb = verb, playbook = pb.name, targets = #fl.targets,
                              waves = waves and json.array(sizes) or nil, concurrency = fl.concurrency,
                              max_failures = waves and fl.max_failures ~= math.huge and fl.max_failures or nil,
                              dir = dir }) then
    local how = waves and string.format("in %d wave(s) of %s, concurrency %d, max_failures %s", #fl.plan,
      table.concat(sizes, " + "), fl.concurrency, fl.max_failures == math.huge and "none" or fl.max_failures)
      or string.format("(concurrency %d)", fl.concurrency)
    out:info(string.format("fleet %s: %s %s on %d target(s) %s", fl.name, verb, pb.name, #fl.targets, how))
    out:info("each target's report and log: " .. dir .. "/")
  end
  local view = require("migrun.fleet.view").new(out, { verb = verb, states = scheduler.STATES })
  return scheduler.guarded(function()
    local o = scheduler.run({ fleet = fl, verb = verb, playbook = pb.path, args = child_args(verb, opts),
                              report = verb ~= "check", dir = dir, view = view, waves = waves,
                              stop_on_failure = waves })
    o.plan = waves and fl.plan or { { first = 1, last = #fl.targets } }
    local code = scheduler.exit_code(o)
    if #o.not_started > 0 then
      local names = {}
      for i, r in ipairs(o.not_started) do names[i] = r.target.label end
      local why = o.stop == "interrupted" and "interrupted" or
        string.format("stopped: %d failure(s) reached max_failures = %s", o.failures, tostring(fl.max_failures))
      if not out:event("not_started", { reason = o.stop, targets = json.array(names) }) then
        out:info(string.format("%s; not started (%d): %s", why, #names, table.concat(names, ", ")))
      end
    end
    local duration = clock.since(t0)
    local report = require "migrun.fleet.report"
    local doc = report.document({ fleet = fl, verb = verb, playbook = pb, outcome = o, waves = waves,
      started_at = started_at, finished_at = os.date("%Y-%m-%d %H:%M:%S %Z"), duration_ms = duration / 1e6,
      exit = code, confirmation = confirmation, path = md })
    -- a report that cannot be written fails the command (exit 3), as a single run's does, but
    -- never hides a target that needs a human
    local wok, jpath = pcall(function() local _, j = report.write(doc, md, scheduler.STATES) return j end)
    if wok then
      out:info(string.format("fleet report: %s and %s", md, jpath))
    else
      out:error(jpath)
      md = nil
      if code == 0 or code == 1 then code = 3 end
    end
    out:summary(summary_text(fl, o.results, duration), code == 0)
    ctx.status, ctx.report = doc.fleet.outcome, md
    scheduler.take_interrupt()                        -- a Ctrl-C after the last target: nothing to stop
    return code
  end)
end

-- ---------------------------------------------------------------------------------------
-- status, plan: each target's ledger

local function pad(s, n) return s .. string.rep(" ", math.max(0, n - #s)) end

local function last_run_text(r)
  local run = r.last_run
  if not run then return "-" end
  local status = require "migrun.run.status"
  return string.format("run %d %s, %s", run.id, status.text(status.run, run.status),
                       tostring(run.started_at):sub(1, 19))
end

local function would(r, o)
  if r.state == "unreachable" or r.state == "error" then return r.error or r.state end
  if r.state == "running" then
    return string.format("wait: a migrun run holds its lock (pid %s)", tostring(r.holder.pid))
  end
  if r.state == "drift" then return "refuse (drift: " .. (r.drift_text or "?") .. ")" end
  if o.rollback then
    local s = r.would_undo > 0 and string.format("undo %d phase(s)", r.would_undo) or "nothing to undo"
    if r.rollback_stop then s = s .. string.format(" (stops at '%s': no rollback)", r.rollback_stop) end
    return s
  end
  if r.todo == 0 then return "skip (applied)" end
  return string.format("run %d phase(s)", r.todo)
end

local function survey_command(verb, opts, ctx, pb, fl)
  local out = ctx.out
  local survey = require "migrun.fleet.survey"
  local o = { from = opts.from, only = opts.only, to = opts.to, rollback = opts.rollback }
  if verb == "plan" then
    if o.rollback then state.check_phase_name(pb, "--to", o.to) else state.select(pb, o) end
  end
  local live = not out.json and not out.quiet and require("migrun.core.term").isatty(1)
  local rows = {}
  for i, tg in ipairs(fl.targets) do
    if live then
      io.stdout:write(string.format("\rreading the ledgers: %d/%d\27[K", i, #fl.targets))
      io.stdout:flush()
    end
    local r = survey.target(tg, pb, o)
    r.target = tg
    rows[i] = r
  end
  if live then io.stdout:write("\r\27[K") end
  local counts, any_bad, any_drift = {}, false, false
  for _, r in ipairs(rows) do
    counts[r.state] = (counts[r.state] or 0) + 1
    any_bad = any_bad or r.state == "unreachable" or r.state == "error"
    any_drift = any_drift or r.state == "drift"
  end
  local list = json.array()
  for i, r in ipairs(rows) do
    list[i] = { target = r.target.label, database = r.target.key, wave = r.target.wave, state = r.state,
                phases = r.phases, applied = r.applied, todo = r.todo, would_undo = r.would_undo, drift = r.drift,
                last_run = r.last_run, holder = r.holder, error = r.error,
                would = verb == "plan" and would(r, o) or nil }
  end
  out:data(verb == "plan" and "fleet_plan" or "fleet_status", { fleet = fl.name, playbook = pb.name,
    targets = list, counts = counts })
  -- the table: by state for status, in wave order for plan
  local order = {}
  for i in ipairs(rows) do order[i] = i end
  if verb == "status" then
    local rank = {}
    for k, s in ipairs(survey.ORDER) do rank[s] = k end
    table.sort(order, function(a, b)
      local ra, rb = rank[rows[a].state], rank[rows[b].state]
      if ra ~= rb then return ra < rb end
      return a < b
    end)
  end
  local w = 6
  for _, r in ipairs(rows) do w = math.max(w, #r.target.label) end
  local lines = {}
  if verb == "plan" then
    local sizes = {}
    for i, wv in ipairs(fl.plan) do sizes[i] = wv.last - wv.first + 1 end
    lines[1] = string.format("fleet %s: %s%s on %d target(s) in %d wave(s) of %s (concurrency %d, max_failures %s)",
      fl.name, o.rollback and "rollback of " or "", pb.name, #fl.targets, #fl.plan, table.concat(sizes, " + "),
      fl.concurrency, fl.max_failures == math.huge and "none" or tostring(fl.max_failures))
    lines[2] = string.format("%-4s  %s  %-14s  %-6s  %s", "WAVE", pad("TARGET", w), "STATE", "PHASES",
                             o.rollback and "A ROLLBACK WOULD" or "A RUN WOULD")
  else
    lines[1] = string.format("fleet %s: %s on %d target(s)", fl.name, pb.name, #fl.targets)
    lines[2] = string.format("%-14s  %s  %-6s  %s", "STATE", pad("TARGET", w), "PHASES", "LAST RUN")
  end
  for _, i in ipairs(order) do
    local r = rows[i]
    local phases = r.phases and string.format("%d/%d", r.applied, r.phases) or ""
    local st = survey.TEXT[r.state]
    if verb == "plan" then
      lines[#lines + 1] = string.format("%-4d  %s  %-14s  %-6s  %s", r.target.wave, pad(r.target.label, w), st,
                                        phases, would(r, o))
    else
      local tail = r.error or last_run_text(r)
      if r.holder then tail = tail .. string.format(" (running now: pid %s)", tostring(r.holder.pid)) end
      lines[#lines + 1] = string.format("%-14s  %s  %-6s  %s", st, pad(r.target.label, w), phases, tail)
    end
  end
  local parts = {}
  for _, s in ipairs(survey.ORDER) do
    if counts[s] then parts[#parts + 1] = string.format("%d %s", counts[s], survey.TEXT[s]) end
  end
  out:text(table.concat(lines, "\n") .. "\n")
  local code = any_bad and 3 or (verb == "plan" and any_drift) and 2 or 0
  out:summary(string.format("%d target(s): %s", #rows, table.concat(parts, ", ")), code == 0)
  return code
end

-- ---------------------------------------------------------------------------------------

--- fleet.command(verb, opts, ctx) -> exit code: the --fleet form of run, rollback, check,
-- status and plan
function M.command(verb, opts, ctx)
  if opts.db or opts.sandbox or #(opts.load or {}) > 0 then
    usage("--fleet takes its targets from the fleet file: it does not combine with --db, --sandbox or --load",
          "list the databases in the fleet file's targets")
  end
  if not opts.file then
    usage("migrun " .. verb .. " --fleet needs the playbook: migrun " .. verb .. " PLAYBOOK.lua --fleet " .. opts.fleet)
  end
  local pb = ctx:playbook()                           -- a playbook error: exit 2 before any target
  local fl = require("migrun.fleet.dsl").load(opts.fleet, { vars = opts.vars })
  if verb == "status" or verb == "plan" then return survey_command(verb, opts, ctx, pb, fl) end
  return with_children(verb, opts, ctx, pb, fl)
end

return M
