--- migrun report [RUN_ID] [--report FILE]: a run's report, rebuilt from the ledger.
local errors = require "migrun.errors"

local M = {}

function M.run(opts, ctx)
  local id
  if opts.arg1 then
    id = math.tointeger(tonumber(opts.arg1))
    if not id then errors.raise("usage", "migrun report [RUN_ID]: RUN_ID is a number, got " .. opts.arg1) end
  end
  local db = ctx:connect()
  local report = require "migrun.report"
  local doc = report.data(db, id)
  if not doc then
    errors.raise("usage", id and ("no run " .. id .. " in the ledger") or "no runs in the ledger")
  end
  if opts.report then
    local md, json = report.write(doc, opts.report)
    ctx.out:info(string.format("report: %s and %s", md, json))
    ctx.report = md
  elseif ctx.out.json then
    ctx.out:data("report", doc)
  else
    ctx.out:text(report.markdown(doc))
  end
  ctx.run_id = doc.run.id
  return 0
end

return M
