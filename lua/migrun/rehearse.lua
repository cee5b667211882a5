--- migrun.rehearse: run a playbook on a throwaway clone of its target, so its timings are
-- the forecast for production and the target is never touched. The clone is
-- CREATE DATABASE ... TEMPLATE target STRATEGY FILE_COPY when nobody else is connected to
-- the target (a file copy: fast), else the newest verified dump restored into a scratch
-- database (a new dump is taken when there is none). The clone is dropped afterwards.
local backup = require "migrun.backup"
local clock = require "migrun.clock"
local db = require "migrun.db"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

local M = {}

--- rehearse.with_dbname(conninfo, dbname) -> the same target (password included, for this
-- process only) pointing at another database
function M.with_dbname(conninfo, dbname)
  local map = {}
  if conninfo and conninfo ~= "" then
    map = assert(require("migrun.core.backup").parse_conninfo(conninfo))
  end
  map.dbname = dbname
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "='" .. tostring(map[k]):gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
  end
  return table.concat(parts, " ")
end

--- rehearse.clone(conninfo, opts) -> {name, conninfo, method, seconds, drop = fn}
-- opts.dumps: a directory of verified dumps to restore from when a template copy can't be made
function M.clone(conninfo, opts)
  opts = opts or {}
  local target <close> = db.connect(conninfo)
  local dbname = target:query("SELECT current_database() AS d")[1].d
  target:close()
  -- the clone is made from another database: the target must have no session at all
  local maintenance = opts.maintenance_db or (dbname == "postgres" and "template1" or "postgres")
  local admin_conninfo = M.with_dbname(conninfo, maintenance)
  local admin = db.connect(admin_conninfo)
  local name = string.format("%s_rehearsal_%d", dbname, sys.getpid()):sub(1, 63)
  local t0 = clock.now()
  local others = admin:query([[SELECT count(*) AS n FROM pg_stat_activity
                               WHERE datname = $1 AND pid <> pg_backend_pid()]], dbname)[1].n
  local method
  local ok, scratch = true, nil
  if others == 0 then
    method = "template copy (STRATEGY FILE_COPY)"
    ok = pcall(admin.exec, admin, string.format("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
      admin:quote_ident(name), admin:quote_ident(dbname)))
  end
  if others > 0 or not ok then
    -- someone is connected (a template copy needs the target idle): restore a verified dump
    local dump
    local list = opts.dumps and backup.list(opts.dumps, dbname) or {}
    if list[1] then
      dump = list[1].file
      method = "restore of the newest verified dump " .. dump
    else
      local dir = assert(sys.mkdtemp((os.getenv("TMPDIR") or "/tmp") .. "/migrun-rehearsal-"))
      scratch = dir
      local info = backup.dump(conninfo, { dir = dir, progress = false })
      dump = info.file
      method = "restore of a fresh verified dump"
    end
    local rok, rerr = pcall(backup.restore, dump, { into = name, target = admin_conninfo })
    if scratch then require("migrun.sandbox").rmtree(scratch) end
    if not rok then
      admin:close()
      error(rerr, 0)
    end
  end
  local clone = { name = name, source = dbname, method = method, seconds = clock.since(t0) / 1e9,
                  conninfo = M.with_dbname(conninfo, name) }
  function clone.drop()
    local dok, derr = pcall(admin.exec, admin,
                            "DROP DATABASE IF EXISTS " .. admin:quote_ident(name) .. " WITH (FORCE)")
    admin:close()
    if not dok then
      errors.raise("environment", "could not drop the rehearsal clone " .. name .. ": " .. tostring(derr))
    end
  end
  return clone
end

return M
