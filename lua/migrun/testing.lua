--- migrun.testing: the API for testing a playbook with `migrun test` (policy layer). A spec
-- loads its playbook, looks at its phases, and runs it on a throwaway sandbox cluster loaded
-- with a fixture, then asserts on the result and on the database:
--
--   local T = require "migrun.testing"
--   local pb = T.load("playbook.lua")                    -- phases: pb.phases["001 add status"]
--   local db = T.database { load = "before.sql" }        -- a fresh database on the sandbox
--   local r = T.run(pb, db, { yes = true })              -- exit, status, states, results, output
--   assert.equal(0, r.exit)
--   assert.equal(500, db:query("SELECT count(*) AS n FROM items")[1].n)
--
-- One sandbox per spec process, started on first use and removed when the VM closes. Backups
-- a run takes go to the sandbox's directory, never to the project's.
local command = require "migrun.command"
local errors = require "migrun.errors"

local M = {}

local sb
local count = 0

--- testing.sandbox() -> the spec process's sandbox cluster (started on first use)
function M.sandbox()
  if not sb then sb = require("migrun.sandbox").start() end
  return sb
end

local Database = {}
Database.__index = Database
Database.__name = "migrun.testing.database"

--- db:connect() -> a new migrun.db connection to it (close it, or let it go out of scope)
function Database:connect()
  return require("migrun.db").connect(self.conninfo)
end

--- db:query(sql, ...) -> the result, on a connection of its own
function Database:query(sql, ...)
  local c <close> = self:connect()
  return c:query(sql, ...)
end

--- db:exec(sql, ...) -> rows affected, on a connection of its own
function Database:exec(sql, ...)
  local c <close> = self:connect()
  return c:exec(sql, ...)
end

--- db:load(file.sql): an SQL file as psql -1 -f would run it
function Database:load(file)
  command.load_file(self.conninfo, file)
  return self
end

--- testing.database{load = "before.sql" | {files}} -> a new empty database on the sandbox
-- (files loaded in order)
function M.database(o)
  o = o or {}
  local s = M.sandbox()
  count = count + 1
  local name = string.format("spec_%d_%d", require("migrun.core.sys").getpid(), count)
  local admin <close> = require("migrun.db").connect(s:conninfo())
  admin:exec("CREATE DATABASE " .. admin:quote_ident(name))
  local d = setmetatable({ name = name, conninfo = s:conninfo(name) }, Database)
  local files = type(o.load) == "string" and { o.load } or o.load or {}
  for _, f in ipairs(files) do d:load(f) end
  return d
end

--- testing.load(path [, {vars = {K = V}}]) -> the playbook (name, items, phases by name, ...)
function M.load(path, o)
  local pb = require("migrun.dsl").load(path, { vars = o and o.vars or {} })
  if not pb then errors.raise("usage", path .. " declares no playbook") end
  return pb
end

-- an output that keeps what a run prints, for the spec to read
local function capture()
  local buf = {}
  local stream = { write = function(self, ...)
    for _, s in ipairs({ ... }) do buf[#buf + 1] = tostring(s) end
    return self
  end, flush = function() end }
  local out = require("migrun.output").new({ color = false, stream = stream })
  return out, function() return table.concat(buf) end
end

--- testing.run(pb, db, {yes, dry_run, from, only, to, allow_drift, report}) -> result:
-- {exit, status, states = {phase = code}, results, phases, run_id, output}
function M.run(pb, db, o)
  o = o or {}
  local out, text = capture()
  local c <close> = db:connect()
  local result = command.run_playbook({ out = out, db = c, conninfo = db.conninfo, pb = pb,
    report = o.report, default_report = false, backup_dir = M.sandbox().dir .. "/backups",
    run = { yes = o.yes, dry_run = o.dry_run, from = o.from, only = o.only, to = o.to,
            allow_drift = o.allow_drift } })
  if result.db and result.db ~= c then result.db:close() end
  result.output = text()
  result.run, result.db = nil, nil
  return result
end

return M
