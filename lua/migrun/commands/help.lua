--- migrun help [VERB]: the same text as --help.
local M = {}

function M.run(opts, ctx)
  ctx.out:text(require("migrun.cli").help(opts.arg1))
  return 0
end

return M
