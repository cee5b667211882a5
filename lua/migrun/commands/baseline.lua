--- migrun baseline PLAYBOOK.lua --to PHASE [--note TEXT]: take over a database that is already
-- migrated: the phases up to PHASE are recorded as applied without running (who, when, why).
local prompt = require "migrun.prompt"
local status = require "migrun.run.status"

local M = {}

function M.run(opts, ctx)
  local pb = ctx:playbook()
  local db = ctx:connect()
  local out = ctx.out
  local result = require("migrun.runner").baseline(pb, { db = db, out = out, to = opts.to,
    note = opts.note, target = db:target(), conninfo = ctx.conninfo,
    confirm = function(list)
      local names = {}
      for _, ph in ipairs(list) do names[#names + 1] = ph.name end
      out:info("baseline would record as applied, without running them: " .. table.concat(names, ", "))
      local ok, _, why = prompt.ask(out, { what = "confirm", name = "baseline", yes = opts.yes,
        items = { string.format("Does %s already have the changes of these %d phase(s)?", db:target(), #list) } })
      return ok, why
    end })
  if result.error then out:error(result.error) end
  out:summary(string.format("%s: %s", pb.name, status.text(status.run, result.status)), result.exit == 0)
  ctx.status, ctx.run_id = result.status, result.run_id
  return result.exit
end

return M
