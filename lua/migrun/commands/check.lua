--- migrun check PLAYBOOK.lua: read-only; what it checks follows the ledger (the preflight
-- when nothing is applied, the final verify when everything is, the verify of the applied
-- phases in between). Exit 1 when an expectation fails. It runs no SQL step, so it does not
-- lint them (run, plan and rollback do): a finding says nothing of what the database holds.
local M = {}

function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("check", opts, ctx) end
  ctx:preconnect()                                   -- the server starts a backend meanwhile
  local pb = ctx:playbook()
  local db = ctx:connect()
  local ok = require("migrun.plan").check(pb, db, ctx.out, ctx.conninfo)
  return ok and 0 or 1
end

return M
