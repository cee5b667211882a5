--- migrun rollback PLAYBOOK.lua [--to PHASE]: undo applied phases, newest first, across runs.
-- It shows first what it will undo and the rows that will be lost, asks (a terminal, or
-- --yes), and takes the playbook's backup before it touches anything.
local prompt = require "migrun.prompt"
local status = require "migrun.run.status"

local M = {}

function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("rollback", opts, ctx) end
  ctx:preconnect()                                   -- the server starts a backend meanwhile
  local pb = ctx:playbook()
  local db = ctx:connect()
  local out = ctx.out
  local plan = require "migrun.plan"
  local result = require("migrun.runner").rollback(pb, { db = db, out = out, to = opts.to,
    target = db:target(), conninfo = ctx.conninfo,
    confirm = function(rp, run)
      local p = plan.rollback(pb, db, opts.to)
      out:text(plan.render_rollback(p))
      out:data("rollback_plan", p)
      local undo = #rp.phases - (rp.stop and 1 or 0)
      local ok, _, why = prompt.ask(out, { what = "confirm", name = "rollback", yes = opts.yes,
        items = { string.format("Undo %d phase(s) of %s on %s, losing %d row(s)?", undo, pb.name,
                                db:target(), p.rows_lost) } })
      if not ok then return false, why .. " (nothing was changed)" end
      if pb.backup then
        out:info("backup before the rollback: " .. pb.backup:describe())
        local dir = ctx.sandbox and (ctx.sandbox.dir .. "/backups") or nil
        run.backup = pb.backup:take({ conninfo = ctx.conninfo, db = db, out = out, dir = pb.dir,
                                      playbook = pb.name }, dir and { dir = dir } or nil)
      end
      return true
    end })
  if result.error then out:error(result.error) end
  out:summary(string.format("%s: %s", pb.name, status.text(status.run, result.status or "rollback_done")),
              result.exit == 0)
  for i = #pb.items, 1, -1 do
    local item = pb.items[i]
    local code = result.states[item.name]
    if code then out:info(string.format("  %s: %s", item.name, status.text(status.phase, code))) end
  end
  if opts.report and result.run_id then
    local report = require "migrun.report"
    local md = report.write(report.data(db, result.run_id), opts.report)
    out:info("report: " .. md)
    ctx.report = md
  end
  ctx.status, ctx.run_id = result.status, result.run_id
  return result.exit
end

return M
