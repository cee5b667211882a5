--- migrun new NAME: a playbook project that runs as it is.
local M = {}

function M.run(opts, ctx)
  local files = require("migrun.scaffold").new(opts.arg1)
  for _, f in ipairs(files) do ctx.out:info("created " .. f) end
  ctx.out:info(string.format("try it: migrun --sandbox --load %s/before.sql %s/playbook.lua --yes",
                             opts.arg1, opts.arg1))
  ctx.out:info(string.format("test it: cd %s && migrun test spec", opts.arg1))
  ctx.out:data("created", { files = require("migrun.json").array(files) })
  return 0
end

return M
