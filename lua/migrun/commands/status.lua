--- migrun status [PLAYBOOK.lua]: the ledger's runs, newest first, with their phases.
local M = {}

function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("status", opts, ctx) end
  local name
  if opts.file then name = ctx:playbook().name end
  local db = ctx:connect()
  local plan = require "migrun.plan"
  local runs = plan.status(db, name)
  ctx.out:text(plan.render_status(runs, name))
  ctx.out:data("status", { playbook = name, runs = runs })
  return 0
end

return M
