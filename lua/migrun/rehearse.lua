--- migrun.rehearse: a throwaway clone of a target, so a playbook's timings on it are the
-- forecast for production and the target is never touched (policy layer). The clone is
-- CREATE DATABASE ... TEMPLATE target STRATEGY FILE_COPY when nobody else is connected to the
-- target (a file copy: fast); else a verified dump taken now, restored into a scratch
-- database — never an older dump, whose data would make a stale forecast. Everything the
-- rehearsal writes (that dump, the playbook's own backups) goes to a scratch directory that
-- is removed with the clone.
local backup = require "migrun.backup"
local clock = require "migrun.clock"
local db = require "migrun.db"
local errors = require "migrun.errors"
local pg = require "migrun.pg"
local sandbox = require "migrun.sandbox"
local sys = require "migrun.core.sys"

local M = {}

--- rehearse.clone(conninfo [, {out =, maintenance_db =}]) -> {name, conninfo, source, method,
-- seconds, scratch (a directory for the rehearsal's files), drop = fn}
function M.clone(conninfo, opts)
  opts = opts or {}
  local target <close> = db.connect(conninfo)
  local dbname = target:query("SELECT current_database() AS d")[1].d
  target:close()
  -- the clone is made from another database: the target must have no session at all
  local maintenance = opts.maintenance_db or (dbname == "postgres" and "template1" or "postgres")
  local admin_conninfo = pg.with_dbname(conninfo, maintenance)
  local admin = db.connect(admin_conninfo)
  local name = string.format("%s_rehearsal_%d", dbname, sys.getpid()):sub(1, 63)
  local scratch = assert(sys.mkdtemp((os.getenv("TMPDIR") or "/tmp") .. "/migrun-rehearsal-"))
  local t0 = clock.now()
  -- a session that just closed (ours above, a caller's) leaves pg_stat_activity a moment later
  local others
  local deadline = clock.now() + 2e9
  repeat
    others = admin:query([[SELECT count(*) AS n FROM pg_stat_activity
                           WHERE datname = $1 AND pid <> pg_backend_pid()]], dbname)[1].n
    if others > 0 then clock.sleep(50) end
  until others == 0 or clock.now() > deadline
  local method, ok, why
  if others == 0 then
    method = "template copy (STRATEGY FILE_COPY)"
    ok, why = pcall(admin.exec, admin, string.format("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
      admin:quote_ident(name), admin:quote_ident(dbname)))
  else
    why = string.format("%d other session(s) are connected to %s", others, dbname)
  end
  if not ok then
    if opts.out then
      opts.out:info(string.format("rehearsal: no template copy (%s): cloning from a verified dump taken now",
                                  errors.is(why) and why.message or tostring(why)))
    end
    local rok, rerr = pcall(function()
      local info = backup.dump(conninfo, { dir = scratch, progress = false })
      backup.restore(info.file, { into = name, target = admin_conninfo })
    end)
    if not rok then
      admin:close()
      sandbox.rmtree(scratch)
      error(rerr, 0)
    end
    method = "restore of a verified dump taken now"
  end
  local clone = { name = name, source = dbname, method = method, seconds = clock.since(t0) / 1e9,
                  conninfo = pg.with_dbname(conninfo, name), scratch = scratch }
  function clone.drop()
    local dok, derr = pcall(admin.exec, admin,
                            "DROP DATABASE IF EXISTS " .. admin:quote_ident(name) .. " WITH (FORCE)")
    admin:close()
    sandbox.rmtree(scratch)
    if not dok then
      errors.raise("environment", "could not drop the rehearsal clone " .. name .. ": " .. tostring(derr))
    end
  end
  return clone
end

return M
