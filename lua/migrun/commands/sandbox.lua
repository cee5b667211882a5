--- migrun sandbox start|stop --env-file FILE: a sandbox cluster that outlives the command
-- (the test harness's), or stopping one.
local errors = require "migrun.errors"

local M = {}

function M.run(opts, ctx)
  local sandbox = require "migrun.sandbox"
  if not opts.env_file then errors.raise("usage", "migrun sandbox " .. opts.arg1 .. " needs --env-file FILE") end
  if opts.arg1 == "start" then
    local sb = sandbox.start({ detach = true })
    local ok, err = pcall(sandbox.write_env, sb, opts.env_file)
    if not ok then
      sb:stop()                                      -- nobody could find it to stop it
      error(err, 0)
    end
    sb:detach()                                      -- outlive this process
    ctx.out:info("sandbox ready: " .. sb:conninfo())
    return 0
  elseif opts.arg1 == "stop" then
    if not sandbox.stop_env(opts.env_file) then
      ctx.out:warn("no sandbox described by " .. opts.env_file)
    end
    return 0
  end
  errors.raise("usage", "migrun sandbox start|stop --env-file FILE, not " .. opts.arg1)
end

return M
