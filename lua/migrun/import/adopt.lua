--- migrun.import.adopt: take over a database another tool migrated (policy layer). Reads the
-- tool's history table on the target, refuses a history migrun cannot continue from (a
-- failed migration, one the folder lacks, a gap), and records the applied migrations'
-- phases as applied in migrun's ledger without running them, through runner.baseline.
local errors = require "migrun.errors"
local prompt = require "migrun.prompt"

local M = {}

local function list(t, n)
  n = n or 5
  local shown = {}
  for i = 1, math.min(#t, n) do shown[i] = t[i] end
  return table.concat(shown, ", ") .. (#t > n and string.format(" and %d more", #t - n) or "")
end

--- adopt.plan(project, history) -> {applied = {migration...}, last = migration | nil,
-- skipped = {repeatable...}}: the applied migrations must come first in the folder's order
-- (migrun runs phases in order); raises kind="usage" otherwise
function M.plan(project, h)
  local tool = project.tool
  if #h.failed > 0 then
    errors.raise("usage", string.format("%s shows a failed migration: %s; migrun adopts only a history " ..
      "that %s itself would go on from", h.table, list(h.failed), tool.title), { hint = h.dirty_hint })
  end
  if #h.unknown > 0 then
    errors.raise("usage", string.format("%s holds %s that the folder %s lacks", h.table, list(h.unknown),
      project.dir), { hint = "import the folder of the version that migrated this database" })
  end
  local applied, skipped, gap, last = {}, {}, nil, nil
  for _, m in ipairs(project.migrations) do
    if h.applied[m.key] and gap and m.repeatable then
      skipped[#skipped + 1] = m                      -- Flyway runs a repeatable again anyway
    elseif h.applied[m.key] then
      if gap then
        errors.raise("usage", string.format("%s lists %s as applied but not %s, which comes before it; " ..
          "migrun applies phases in order", h.table, m.phase, gap.phase),
          { hint = "apply the missing one with " .. tool.title .. " first" })
      end
      applied[#applied + 1] = m
      last = m
    else
      gap = gap or m
    end
  end
  return { applied = applied, last = last, skipped = skipped }
end

--- adopt.run(project, {playbook, db, output, yes, vars, conninfo, confirm}) ->
-- {recorded, already, table, last, result}: reads the history, loads the playbook, records
function M.run(project, o)
  local out, db = o.output, o.db
  local h = project.tool.history(db, project)
  if not h then
    errors.raise("usage", string.format("%s has no %s history (%s): nothing to adopt", db:target(),
      project.tool.title, project.tool.table), { hint = "without --adopt, the playbook's first run applies " ..
      "every phase" })
  end
  local p = M.plan(project, h)
  local res = { table = h.table, recorded = 0, already = 0, changed = h.changed }
  for _, phase in ipairs(h.changed) do
    out:warn(string.format("%s: the script applied as %s has changed since (its checksum in %s differs)",
                           o.playbook, phase, h.table))
  end
  for _, m in ipairs(p.skipped) do
    out:info(string.format("%s is left to run again: %s runs a repeatable migration after the ones " ..
                           "before it", m.phase, project.tool.title))
  end
  if not p.last then
    out:info(string.format("%s lists no applied migration: nothing to record", h.table))
    return res
  end
  local pb = require("migrun.dsl").load(o.playbook, { vars = o.vars })
  if not pb then errors.raise("usage", o.playbook .. " declares no playbook") end
  for _, m in ipairs(p.applied) do
    if not pb.phases[m.phase] then
      errors.raise("usage", string.format("%s has no phase '%s' (%s lists it as applied)", o.playbook, m.phase,
        h.table), { hint = "it was imported before that migration was added: import again with --out NEW.lua" })
    end
  end
  local confirm = o.confirm or function(todo)
    out:info(string.format("adopt would record %d phase(s) as applied, without running them, up to '%s'",
                           #todo, p.last.phase))
    local ok, _, why = prompt.ask(out, { what = "confirm", name = "adopt", yes = o.yes,
      items = { string.format("Does %s hold the %d migrations %s lists as applied?", db:target(),
                              #p.applied, h.table) } })
    return ok, why
  end
  local result = require("migrun.runner").baseline(pb, { db = db, out = out, to = p.last.phase,
    note = string.format("adopted from %s (%s)", h.table, project.tool.title), target = db:target(),
    conninfo = o.conninfo, confirm = confirm })
  for _, code in pairs(result.states or {}) do
    if code == "baselined" then res.recorded = res.recorded + 1 end
  end
  res.already = #p.applied - res.recorded
  res.last, res.result = p.last.phase, result
  return res
end

return M
