--- migrun status [PLAYBOOK.lua]: the ledger's runs, newest first, with their phases. Its
-- budget is psql's `select 1` (bench/engine.sh): one connection and one query, so it requires
-- only what that needs (the ledger's reader, not migrun.plan and its planners).
local clock = require "migrun.clock"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local status = require "migrun.run.status"

local M = {}

--- status.runs(db [, playbook]) -> the latest 20 runs, newest first, each with its phases and
-- the steps that did not simply apply (a `started` row followed by the same step's end is not
-- shown)
function M.runs(db, playbook)
  local runs = json.array()
  for _, r in ipairs(ledger.runs(db, playbook, 20, { steps = true })) do
    local entry = { id = r.id, playbook = r.playbook, status = r.status, dry_run = r.dry_run,
                    started_at = r.started_at, ms = r.ms, by = (r.os_user or "?") .. "@" .. (r.host or "?"),
                    steps = json.array() }
    local ended = {}
    for _, s in ipairs(r.steps) do
      if s.status ~= "started" then ended[s.phase .. "\0" .. s.step] = true end
    end
    for _, s in ipairs(r.steps) do
      local finished_later = s.status == "started" and ended[s.phase .. "\0" .. s.step]
      if (s.kind == "phase" or s.status ~= "applied") and not finished_later then
        entry.steps[#entry.steps + 1] = { phase = s.phase, step = s.kind ~= "phase" and s.step or nil,
                                          status = s.status, duration_ms = s.duration_ms, note = s.note }
      end
    end
    runs[#runs + 1] = entry
  end
  return runs
end

--- status.render(runs [, playbook]) -> text
function M.render(runs, playbook)
  if #runs == 0 then return "no runs recorded" .. (playbook and (" for " .. playbook) or "") .. "\n" end
  local lines = {}
  for _, r in ipairs(runs) do
    lines[#lines + 1] = string.format("run %d  %s  %s%s  started %s  %s  by %s", r.id, r.playbook,
      status.text(status.run, r.status), r.dry_run and " (dry run)" or "", r.started_at,
      clock.format(math.floor(r.ms * 1e6)), r.by)
    for _, s in ipairs(r.steps) do
      local what = s.phase .. (s.step and (" / " .. s.step) or "")
      local took = s.duration_ms and clock.format(math.floor(s.duration_ms * 1e6)) or ""
      lines[#lines + 1] = string.format("  %-40s %-12s %s", what, s.status:gsub("_", " "), took)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("status", opts, ctx) end
  local name
  ctx:preconnect()                                   -- the server starts a backend meanwhile
  if opts.file then name = ctx:playbook().name end
  local runs = M.runs(ctx:connect(), name)
  ctx.out:text(M.render(runs, name))
  ctx.out:data("status", { playbook = name, runs = runs })
  return 0
end

return M
