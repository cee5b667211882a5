--- migrun run PLAYBOOK.lua (also `migrun PLAYBOOK.lua`, and `migrun SCRIPT.lua` / `-e CODE`
-- for plain Lua with migrun's modules and a lazily connected `db`).
local command = require "migrun.command"
local errors = require "migrun.errors"

local M = {}

-- a plain Lua chunk: migrun's modules on the path, `db` connected on first use
local function run_code(opts, ctx)
  local env = { arg = { [0] = "-e", table.unpack(opts.args) } }
  local chunk, err = load(opts.e, "=(command line)", "t", env)
  if not chunk then errors.raise("usage", err) end
  setmetatable(env, { __index = function(t, k)
    if k == "db" then
      local c = ctx:connect()
      rawset(t, "db", c)
      return c
    end
    return _G[k]
  end })
  if #opts.load > 0 then env.db = ctx:connect() end
  chunk(table.unpack(opts.args))
  return 0
end

--- run(opts, ctx) -> exit code
function M.run(opts, ctx)
  if opts.fleet then return require("migrun.fleet").command("run", opts, ctx) end
  if opts.e then
    if opts.file then table.insert(opts.args, 1, opts.file) end
    return run_code(opts, ctx)
  end
  require("migrun.dsl").check_syntax(opts.file)      -- a syntax error is refused before connecting
  -- an explicit target connects (and --load runs) before the file loads: a script sees `db`;
  -- --db alone starts connecting, and the server starts its backend while the file loads
  ctx:preconnect()
  if opts.sandbox or opts.db or #opts.load > 0 then ctx:connect() end
  local pb = ctx:playbook({ script = true })
  if not pb then return 0 end                        -- a plain script: it has run
  if #opts.args > 0 then
    errors.raise("usage", string.format("migrun runs one playbook at a time; unexpected extra argument '%s'",
                                        opts.args[1]), { hint = "run each playbook on its own" })
  end
  local db = ctx:connect()
  local result = command.run_playbook({ out = ctx.out, db = db, conninfo = ctx.conninfo, pb = pb,
    report = opts.report, backup_dir = ctx.sandbox and (ctx.sandbox.dir .. "/backups") or nil,
    run = { yes = opts.yes, dry_run = opts.dry_run, from = opts.from, only = opts.only, to = opts.to,
            allow_drift = opts.allow_drift } })
  if result.db ~= db then ctx.db = result.db end     -- a restore reconnected
  ctx.status, ctx.run_id, ctx.report = result.status, result.run_id, result.report
  return result.exit
end

return M
