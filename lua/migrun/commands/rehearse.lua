--- migrun rehearse PLAYBOOK.lua: the playbook on a throwaway clone of the target (gates
-- answered yes); its report is the forecast; the clone is dropped and the target untouched.
local command = require "migrun.command"
local status = require "migrun.run.status"

local M = {}

function M.run(opts, ctx)
  local pb = ctx:playbook()
  if #opts.load > 0 then                             -- load the fixture, then let go of the target
    ctx:connect()
    ctx.db:close()
    ctx.db = nil
  end
  local conninfo = ctx:conninfo()
  local out = ctx.out
  local clone = require("migrun.rehearse").clone(conninfo, { out = out })
  out:info(string.format("rehearsal: %s cloned into %s by %s in %.2fs", clone.source, clone.name,
                         clone.method, clone.seconds))
  local ok, res = pcall(function()
    local cdb <close> = require("migrun.db").connect(clone.conninfo)
    return command.run_playbook({ out = out, db = cdb, conninfo = clone.conninfo, pb = pb,
      report = opts.report, backup_dir = clone.scratch,
      rehearsal_clone = { source = clone.source, clone = clone.name, method = clone.method,
                          clone_seconds = clone.seconds },
      run = { yes = true, rehearsal = true, from = opts.from, only = opts.only, to = opts.to,
              allow_drift = opts.allow_drift,
              prove_rollbacks = opts.prove_rollbacks or (pb.rehearse and pb.rehearse.prove_rollbacks) } })
  end)
  clone.drop()
  if not ok then error(res, 0) end
  out:info(string.format("rehearsal %s: the target %s was not touched", status.text(status.run, res.status),
                         clone.source))
  ctx.status, ctx.report = res.status, res.report
  return res.exit
end

return M
