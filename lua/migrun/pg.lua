--- migrun.pg: what migrun knows of PostgreSQL's surroundings, in one place (policy layer):
-- where its programs are (one rule for server and client binaries), and connection strings
-- (parse with libpq's own PQconninfoParse, quote, rebuild, redact, split off the password).
-- Calls the C core's conninfo parser and redactor; never prints a password.
local lfs = require "lfs"
local core_backup = require "migrun.core.backup"
local core_db = require "migrun.core.db"
local errors = require "migrun.errors"

local M = {}

local ROOT = "/usr/lib/postgresql"

local function is_file(p)
  return lfs.attributes(p, "mode") == "file"
end

--- pg.versions() -> installed major versions under /usr/lib/postgresql, newest first
function M.versions()
  local v = {}
  if lfs.attributes(ROOT, "mode") == "directory" then
    for e in lfs.dir(ROOT) do
      if tonumber(e) then v[#v + 1] = tonumber(e) end
    end
  end
  table.sort(v, function(a, b) return a > b end)
  return v
end

local function in_path(name)
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    if is_file(dir .. "/" .. name) then return dir .. "/" .. name end
  end
end

--- pg.tool(name [, {major =, override =}]) -> path of a PostgreSQL program (pg_dump, psql,
-- initdb, postgres, ...). One rule for all of them: the override; $MIGRUN_PG_BINDIR; the
-- server's own major version; the newest installed version at least that new (pg_dump
-- refuses a server newer than itself); PATH. Raises kind="environment", reason="missing_tool".
function M.tool(name, o)
  o = o or {}
  if o.override then
    if o.override:find("/") and not is_file(o.override) then
      errors.raise("environment", string.format("%s: no such program: %s", name, o.override),
                   { reason = "missing_tool" }, 2)
    end
    return o.override
  end
  local env = os.getenv("MIGRUN_PG_BINDIR")
  if env and env ~= "" and is_file(env .. "/" .. name) then return env .. "/" .. name end
  local function at(v) return string.format("%s/%d/bin/%s", ROOT, v, name) end
  if o.major and is_file(at(o.major)) then return at(o.major) end
  for _, v in ipairs(M.versions()) do
    if (not o.major or v >= o.major) and is_file(at(v)) then return at(v) end
  end
  local p = in_path(name)
  if p then return p end
  errors.raise("environment", string.format("%s not found", name), { reason = "missing_tool",
    hint = string.format("install PostgreSQL's programs (apt-get install postgresql-client-%s, " ..
                         "or postgresql for the server), or set MIGRUN_PG_BINDIR",
                         o.major or "15") }, 2)
end

--- pg.major(server_version_num) -> the major version (150004 -> 15, 90624 -> 9)
function M.major(num)
  return num >= 100000 and num // 10000 or num // 100
end

-- ---------------------------------------------------------------------------------------
-- connection strings

--- pg.redact(s) -> s with any password replaced by ***
M.redact = core_db.redact

--- pg.quote(v) -> a conninfo value quoted by libpq's rules
function M.quote(v)
  return "'" .. tostring(v):gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
end

--- pg.parse(s) -> {keyword = value} of a URL or key=value string (libpq's parser); raises
-- kind="usage" without quoting anything that may be a secret
function M.parse(s)
  if s == nil or s == "" then return {} end
  local map, err = core_backup.parse_conninfo(s)
  if not map then
    local secret = M.redact(s) ~= s or s:find("password", 1, true)
    errors.raise("usage", "invalid connection string" .. (secret
      and " (details withheld: it holds a password)" or ": " .. tostring(err):gsub("%s+$", "")),
      { hint = "a URL (postgresql://user@host:5432/db) or key=value pairs (host=h dbname=db)" }, 2)
  end
  return map
end

--- pg.build(map) -> a key=value conninfo string (keys sorted, values quoted)
function M.build(map)
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. M.quote(map[k]) end
  return table.concat(parts, " ")
end

--- pg.with_dbname(conninfo, dbname) -> the same server (password included: keep it in
-- memory) pointing at another database
function M.with_dbname(conninfo, dbname)
  local map = M.parse(conninfo)
  map.dbname = dbname
  return M.build(map)
end

--- pg.split_password(s) -> conninfo without any secret, env {PGPASSWORD =}, map: for child
-- programs, which get the password in their environment, never in argv
function M.split_password(s)
  if s == nil or s == "" then return "", {}, {} end
  local map = M.parse(s)
  local env = {}
  if map.password then
    env.PGPASSWORD = map.password
    map.password = nil
  end
  if map.sslpassword then
    errors.raise("usage", "sslpassword can't be handed to a child program (pg_dump, psql) " ..
      "without putting it on its command line; use a key file without a passphrase", nil, 2)
  end
  return M.build(map), env, map
end

--- pg.has_password(s) -> true when a connection string carries a password
function M.has_password(s)
  if s == nil or s == "" then return false end
  local ok, map = pcall(M.parse, s)
  return ok and map.password ~= nil or M.redact(s) ~= s
end

--- pg.conninfo_of(conn) -> a conninfo that reaches the same database (no password: a child
-- program finds it in PGPASSWORD or pgpass)
function M.conninfo_of(conn)
  local i = conn:info()
  local map = {}
  for _, k in ipairs({ "host", "port", "user", "dbname" }) do
    if i[k] and i[k] ~= "" then map[k] = i[k] end
  end
  return M.build(map)
end

--- pg.dump_schema(ctx) -> text | nil, message: the live schema as `pg_dump --schema-only`
-- prints it (migrun's own schema left out). ctx: db (a connection: which server, which
-- version) and/or conninfo, env, pg_dump (a program to use), lock_wait ("10s"), timeout.
-- The password reaches pg_dump as PGPASSWORD, never in its argv.
function M.dump_schema(ctx)
  local ok, exe = pcall(M.tool, "pg_dump", { major = ctx.db and M.major(ctx.db:server_version()),
                                              override = ctx.pg_dump })
  if not ok then return nil, tostring(exe) end
  local clean, env0 = M.split_password(ctx.conninfo or M.conninfo_of(ctx.db))
  local env = {}
  for k, v in pairs(ctx.env or {}) do env[k] = v end
  if env0.PGPASSWORD and env.PGPASSWORD == nil then env.PGPASSWORD = env0.PGPASSWORD end
  local argv = { exe, "--schema-only", "--exclude-schema=migrun", "--no-password",
                 "--lock-wait-timeout=" .. (ctx.lock_wait or "10s") }
  if clean ~= "" then argv[#argv + 1] = "--dbname=" .. clean end
  local r = require("migrun.proc").run(argv, { env = env, stdin = "null", stdout = "capture",
                                               stderr = "capture", timeout = ctx.timeout or "120s" })
  if not r.ok then
    local why = r.timed_out and "timed out" or (r.stderr or ""):match("[^\n]+") or
                ("exit " .. tostring(r.status))
    return nil, "pg_dump failed: " .. why
  end
  return r.stdout
end

return M
