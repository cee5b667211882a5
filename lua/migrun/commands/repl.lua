--- migrun repl: interactive Lua with `db` connected.
local M = {}

function M.run(opts, ctx)
  local db = ctx:connect()
  return require("migrun.repl").run({ db = db, conninfo = ctx.conninfo, ctx = ctx,
                                      verbose = opts.verbose, no_color = opts.no_color })
end

return M
