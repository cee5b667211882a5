--- migrun plan PLAYBOOK.lua [--rollback [--to PHASE]]: what would run, what is applied, what
-- drifted; changes nothing. Exit 0, 2 when the ledger and the playbook disagree (drift), 3
-- when the target cannot be reached, so CI can gate on it.
local plan = require "migrun.plan"

local M = {}

function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("plan", opts, ctx) end
  ctx:preconnect()                                   -- the server starts a backend meanwhile
  local pb = ctx:playbook()
  local db = ctx:connect()                           -- raises kind="connection": exit 3
  if opts.rollback then
    local p = plan.rollback(pb, db, opts.to)
    ctx.out:text(plan.render_rollback(p))
    ctx.out:data("rollback_plan", p)
    return 0
  end
  require("migrun.command").lint(ctx.out, pb, db)
  local p = plan.build(pb, db)
  ctx.out:text(plan.render(p))
  ctx.out:data("plan", p)
  if #p.drift > 0 then
    ctx.out:summary(string.format("%d drifted step(s): a run would refuse (exit 2)", #p.drift), false)
    ctx.status = "drift"
    return 2
  end
  return 0
end

return M
