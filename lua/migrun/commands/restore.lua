--- migrun restore FILE (--into NEWDB | --clean): restore a verified backup. The checksum is
-- checked before anything is touched; --clean replaces the target (asks first, refuses a
-- backup of another database unless --other-database) and keeps the replaced one, renamed.
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
  -- the checksum alone: migrun read the dump back in full when it took it, so a file that
  -- still matches it restores (no second pass of pg_restore over the whole dump first)
  local ok, sum = pcall(backup.checksum, file)
  if not ok then
    if not errors.is(sum, "environment") then error(sum, 0) end
    errors.raise("environment", "refusing to restore: " .. sum.message)
  end
  local conninfo = ctx:conninfo()
  local c <close> = require("migrun.db").connect(conninfo)
  local where = c:target()
  local dbname = c:query("SELECT current_database() AS d")[1].d
  if opts.into and c:query("SELECT 1 FROM pg_database WHERE datname = $1", opts.into).n > 0 then
    errors.raise("usage", string.format("database %s already exists: pick another --into name, or replace " ..
                                        "a database with --clean --db URL-of-it", opts.into))
  end
  c:close()
  local source = backup.manifest(file).database
  if opts.clean and source and source ~= dbname and not opts.other_database then
    errors.raise("usage", string.format("%s is a backup of database %s, not of %s: refusing to put it over %s",
      file, source, dbname, where), { hint = "restore it --into a new database, or pass --other-database " ..
                                             "if replacing " .. dbname .. " with " .. source .. " is meant" })
  end
  local info
  if opts.clean then
    local yes, _, why = prompt.ask(ctx.out, { what = "confirm", name = "restore over the target", yes = opts.yes,
      items = { string.format("Replace %s with the contents of %s? Rows written since the backup are not in " ..
                              "it (the current database is kept, renamed).", where, file) } })
    if not yes then errors.raise("declined", why .. " (nothing was changed)") end
    info = backup.swap_restore(file, { conninfo = conninfo, label = "replaced", checked = sum })
    ctx.out:info(info.message)
  else
    info = backup.restore(file, { into = opts.into, target = conninfo, checked = sum })
  end
  ctx.out:info(string.format("restored %s into %s in %.1fs", file, opts.into or where, info.seconds or 0))
  ctx.out:data("restore", { file = file, database = info.database, seconds = info.seconds, kept = info.kept })
  return 0
end

return M
