--- migrun restore FILE (--into NEWDB | --clean): restore a verified backup. The checksum is
-- checked before anything is touched; --clean (over the target itself) asks first.
local errors = require "migrun.errors"
local prompt = require "migrun.prompt"

local M = {}

function M.run(opts, ctx)
  local backup = require "migrun.backup"
  local file = opts.arg1
  if not opts.into and not opts.clean then
    errors.raise("usage", "migrun restore FILE needs --into NEWDB (a new database) or --clean (over the target)")
  end
  if opts.into and opts.clean then
    errors.raise("usage", "--into restores into a new database; --clean over the target: give one of them")
  end
  local ok, err = backup.verify(file)
  if not ok then
    errors.raise("environment", "refusing to restore: " .. (errors.is(err) and err.message or tostring(err)))
  end
  local conninfo = ctx:conninfo()
  local c <close> = require("migrun.db").connect(conninfo)
  local where = c:target()
  if opts.into and c:query("SELECT 1 FROM pg_database WHERE datname = $1", opts.into).n > 0 then
    errors.raise("usage", string.format("database %s already exists: pick another --into name, or restore " ..
                                        "over a database with --clean --db URL-of-it", opts.into))
  end
  c:close()
  if opts.clean then
    local yes, _, why = prompt.ask(ctx.out, { what = "confirm", name = "restore over the target", yes = opts.yes,
      items = { "Restore " .. file .. " over " .. where .. "? Objects in the dump are dropped and " ..
                "recreated; rows written since the dump are lost." } })
    if not yes then errors.raise("declined", why .. " (nothing was changed)") end
  end
  local info = backup.restore(file, { into = opts.into, target = conninfo, clean = opts.clean })
  ctx.out:info(string.format("restored %s into %s in %.1fs", file, opts.into or where, info.seconds or 0))
  ctx.out:data("restore", { file = file, database = info.database, seconds = info.seconds })
  return 0
end

return M
