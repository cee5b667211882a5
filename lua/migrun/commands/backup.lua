--- migrun backup [--out FILE]: a verified backup of the target.
local M = {}

function M.run(opts, ctx)
  local backup = require "migrun.backup"
  local info = backup.dump(ctx:conninfo(), { file = opts.out, dir = not opts.out and "." or nil })
  ctx.out:text(string.format("backup %s\n  %d bytes, sha256 %s, %.1fs, verified by a full read\n",
                             info.file, info.size, info.sha256, info.seconds))
  ctx.out:data("backup", { file = info.file, size = info.size, sha256 = info.sha256, seconds = info.seconds,
                           database = info.database, manifest = info.manifest })
  return 0
end

return M
