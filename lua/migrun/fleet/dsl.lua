--- migrun.fleet.dsl: the fleet file (policy layer). A Lua file that declares one fleet:
--   fleet { targets = { "postgresql://db1/app", ... } | function(db) ... end,
--           catalog = URL, concurrency = 4, waves = { 1, "10%", "rest" }, max_failures = 1,
--           name = "tenants", report = "reports/fleet.md" }
-- Everything is checked before a target is touched; every error names the file and line
-- (kind "playbook": exit 2). A targets function gets a connection to `catalog` and returns
-- connection strings (or { db = URL, name = LABEL } rows). Passwords stay in memory: a target
-- keeps its conninfo without them, and its password for a child's environment.
local errors = require "migrun.errors"
local pg = require "migrun.pg"
local text = require "migrun.text"
local waves = require "migrun.fleet.waves"

local M = {}

M.DEFAULTS = { concurrency = 4, max_failures = 1, waves = { "rest" } }

local KEYS = { targets = "table|function", catalog = "string", concurrency = "number", waves = "table",
               max_failures = "number", name = "string", report = "string" }

local function fail(at, fmt, ...)
  error(errors.new("playbook", string.format(fmt, ...), { file = at.file, line = at.line }), 0)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function check_keys(at, what, t, allowed)
  for k, v in pairs(t) do
    local want = type(k) == "string" and allowed[k]
    if not want then
      fail(at, "%s: unknown key '%s'%s", what, tostring(k), text.did_you_mean(tostring(k), sorted_keys(allowed)))
    end
    local ok = false
    for ty in want:gmatch("[^|]+") do ok = ok or type(v) == ty end
    if not ok then fail(at, "%s: '%s' must be %s, not %s", what, k, want:gsub("|", " or "), type(v)) end
  end
end

local function whole(at, key, v, min)
  if v == nil then return nil end
  if v == math.huge and key == "max_failures" then return v end   -- never stop
  local n = math.tointeger(v)
  if not n or n < min then
    fail(at, "fleet: %s must be a whole number of at least %d, not %s", key, min, tostring(v))
  end
  return n
end

--- fleet.describe_target(map) -> "user@host:port/dbname" (never a password): what a person
-- reads in the output, with libpq's defaults filled in from PG* like a child would
function M.describe_target(map)
  local user = map.user or os.getenv("PGUSER") or require("migrun.core.sys").username() or "?"
  local host = map.host or map.hostaddr or os.getenv("PGHOST") or "local socket"
  local port = map.port or os.getenv("PGPORT") or "5432"
  local dbname = map.dbname or os.getenv("PGDATABASE") or user
  if map.service then return string.format("service=%s/%s", map.service, dbname) end
  return string.format("%s@%s:%s/%s", user, host, port, dbname)
end

-- a file name for a target's own report and log: its position, database, host and port
local function slug(i, n, map, label)
  local host = (map.host or map.hostaddr or os.getenv("PGHOST") or "local"):match("([^/,]+)[,]?[^/]*$") or "local"
  local base = string.format("%s-%s-%s", map.dbname or label, host, map.port or os.getenv("PGPORT") or "5432")
  base = base:gsub("[^%w%.%-_]", "_"):sub(1, 80)
  return string.format("%0" .. #tostring(n) .. "d-%s", i, base)
end

-- one target from what the fleet file gave: a string, or { db = URL, name = LABEL }
local function target(at, i, n, t)
  local url, name = t, nil
  if type(t) == "table" then
    check_keys(at, "fleet: target " .. i, t, { db = "string", name = "string" })
    url, name = t.db, t.name
    if not url then fail(at, "fleet: target %d has no db = URL", i) end
  elseif type(t) ~= "string" then
    fail(at, "fleet: target %d must be a connection string or { db = URL, name = LABEL }, not %s", i, type(t))
  end
  local ok, clean, env, map = pcall(pg.split_password, url)
  if not ok then fail(at, "fleet: target %d: %s", i, errors.text(clean)) end
  local label = name or M.describe_target(map)
  return { index = i, name = name, label = label, conninfo = url, clean = clean, env = env,
           key = M.describe_target(map), slug = slug(i, n, map, label) }
end

-- the catalog's answer: connect, call the function, close
local function from_catalog(at, decl)
  if not decl.catalog then
    fail(at, "fleet: targets is a function, so it needs catalog = URL (the database it queries)")
  end
  local db <close> = require("migrun.db").connect(decl.catalog)   -- kind="connection": exit 3
  local ok, res = pcall(decl.targets, db)
  if not ok then
    if errors.is(res, "connection") or errors.is(res, "interrupted") then error(res, 0) end
    local file, line, msg = errors.text(res):match("^@?(.-):(%d+): (.*)$")
    if file and not errors.is(res) then
      fail({ file = file, line = tonumber(line) }, "fleet: targets: %s", msg)
    end
    fail(at, "fleet: targets (from the catalog): %s", errors.text(res))
  end
  if type(res) ~= "table" then fail(at, "fleet: the targets function must return a list, not %s", type(res)) end
  return res
end

--- fleet.load(path [, {vars}]) -> fleet {name, file, dir, line, targets, concurrency, waves
-- (sizes), plan ({first, last} per wave), max_failures, report}; raises kind="playbook" with
-- file and line, kind="connection" when the catalog cannot be reached
function M.load(path, opts)
  opts = opts or {}
  local decls = {}
  local env = {}
  function env.fleet(t)
    local info = debug.getinfo(2, "Sl")
    local at = { file = info.source:sub(1, 1) == "@" and info.source:sub(2) or path, line = info.currentline }
    if type(t) ~= "table" then fail(at, "fleet: expects a table { targets = ..., ... }") end
    if #decls > 0 then fail(at, "a file declares one fleet; this is the second") end
    decls[1] = { t = t, at = at }
  end
  env.var = setmetatable({}, {
    __index = function(_, k) return (opts.vars or {})[k] end,
    __call = function(_, k, default) local v = (opts.vars or {})[k]; if v == nil then return default end; return v end,
  })
  env.env = setmetatable({}, {
    __index = function(_, k) return os.getenv(k) end,
    __call = function(_, k, default) return os.getenv(k) or default end,
  })
  setmetatable(env, { __index = function(_, k)
    if _G[k] ~= nil then return _G[k] end
    local info = debug.getinfo(2, "Sl")
    local names = sorted_keys(_G)
    for _, n in ipairs({ "fleet", "var", "env" }) do names[#names + 1] = n end
    fail({ file = path, line = info and info.currentline }, "unknown name '%s'%s", tostring(k),
         text.did_you_mean(tostring(k), names))
  end })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    if err:find("^cannot open") then errors.raise("usage", "--fleet: " .. err) end
    local file, line, msg = err:match("^(.-):(%d+): (.*)$")
    errors.raise("playbook", msg or err, { file = file, line = tonumber(line) })
  end
  local ok, e = pcall(chunk)
  if not ok then
    if errors.is(e) then error(e, 0) end
    local file, line, msg = tostring(e):match("^(.-):(%d+): (.*)$")
    errors.raise("playbook", msg or tostring(e), { file = file or path, line = tonumber(line) })
  end
  if not decls[1] then
    errors.raise("usage", path .. " declares no fleet (a file with fleet { targets = { ... } })")
  end
  local t, at = decls[1].t, decls[1].at
  check_keys(at, "fleet", t, KEYS)
  local spec = t.waves or M.DEFAULTS.waves
  local why = waves.check(spec)
  if why then fail(at, "fleet: %s", why) end
  local list = t.targets
  if list == nil then fail(at, "fleet: needs targets = { URL, ... } (or a function of the catalog)") end
  if type(list) == "function" then
    list = from_catalog(at, t)
  elseif t.catalog then
    fail(at, "fleet: catalog is the database a targets function queries; targets is a list here")
  end
  local n = #list
  if n == 0 then fail(at, "fleet: no targets") end
  local dir = path:match("^(.*)/[^/]*$") or "."
  local fleet = {
    name = t.name or path:match("([^/]+)%.lua$") or path, file = path, dir = dir, line = at.line,
    concurrency = whole(at, "concurrency", t.concurrency, 1) or M.DEFAULTS.concurrency,
    max_failures = whole(at, "max_failures", t.max_failures, 1) or M.DEFAULTS.max_failures,
    waves = spec, targets = {},
    report = t.report and ((t.report:sub(1, 1) == "/" or dir == ".") and t.report or dir .. "/" .. t.report),
  }
  local seen = {}
  for i = 1, n do
    local tg = target(at, i, n, list[i])
    if seen[tg.key] then
      fail(at, "fleet: targets %d and %d are the same database (%s): two runs would contend for its lock",
           seen[tg.key], i, tg.key)
    end
    seen[tg.key] = i
    fleet.targets[i] = tg
  end
  fleet.plan = waves.plan(n, spec)
  for w, range in ipairs(fleet.plan) do
    for i = range.first, range.last do fleet.targets[i].wave = w end
  end
  return fleet
end

return M
