--- migrun.lint.server: what a connected lint asks the server (policy layer): table sizes,
-- column types and NOT NULL checks, function volatility, the version. Read-only catalog
-- queries, each answer cached for the run; a table the server does not have is nil.
local errors = require "migrun.errors"

local M = {}
local S = {}
S.__index = S

--- server.new(db) -> a cache over the connection
function M.new(db)
  return setmetatable({ db = db, sizes = {}, tables = {}, funcs = {} }, S)
end

--- s:version() -> server_version_num (150004)
function S:version()
  if not self.ver then self.ver = self.db:server_version() end
  return self.ver
end

local function regclass(db, name)
  local r = db:query("SELECT to_regclass($1)::oid AS oid", name)
  return r[1] and r[1].oid
end

--- s:size(table) -> {rows (estimate, nil when never analyzed), bytes} | nil
function S:size(name)
  local c = self.sizes[name]
  if c ~= nil then return c or nil end
  local ok, r = pcall(self.db.query, self.db, [[
    SELECT c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes,
           c.oid::regclass::text AS rel
    FROM pg_class c WHERE c.oid = to_regclass($1)]], name)
  -- a table another session holds locked is not "of unknown size": the caller waits and
  -- retries, as a run's preflight does
  if not ok and errors.is_sql(r, "55P03") then error(r, 0) end
  local row = ok and r[1]
  if not row then
    self.sizes[name] = false
    return nil
  end
  local rows = tonumber(row.rows)
  if rows and rows < 0 then
    -- never analyzed: count a small table (cheap), leave a big one to its size
    rows = nil
    if (tonumber(row.bytes) or 0) < 64 * 1024 * 1024 then
      local okc, rc = pcall(self.db.query, self.db, "SELECT count(*) AS n FROM " .. row.rel)
      if not okc and errors.is_sql(rc, "55P03") then error(rc, 0) end
      rows = okc and rc[1] and tonumber(rc[1].n) or nil
    end
  end
  c = { rows = rows, bytes = tonumber(row.bytes) or 0 }
  self.sizes[name] = c
  return c
end

-- typmod to the modifiers a type name shows: varchar(n), numeric(p,s), timestamp(p)
local function mods_of(typname, typmod)
  if not typmod or typmod < 0 then return {} end
  if typname == "varchar" or typname == "bpchar" then return { typmod - 4 } end
  if typname == "numeric" then
    local v = typmod - 4
    return { (v >> 16) & 0xffff, v & 0xffff }
  end
  if typname == "interval" then return { typmod & 0xffff } end
  return { typmod }
end

local DISPLAY = { int2 = "smallint", int4 = "integer", int8 = "bigint", bpchar = "char" }

--- s:table(name) -> {columns = {col = {type = {name, mods, text}, notnull}}, checks =
-- {conname = {column, validated}}, partitioned, rows, bytes} | nil
function S:table(name)
  local c = self.tables[name]
  if c ~= nil then return c or nil end
  local ok, t = pcall(self.read_table, self, name)
  self.tables[name] = ok and t or false       -- a lint never fails on a catalog question
  return ok and t or nil
end

function S:read_table(name)
  local oid = regclass(self.db, name)
  if not oid then return nil end
  local t = { columns = {}, checks = {}, from_server = true }
  local cols = self.db:query([[
    SELECT a.attname, t.typname, a.atttypmod, a.attnotnull, a.attndims
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped]], oid)
  for i = 1, cols.n or #cols do
    local r = cols[i]
    local typname = r.typname
    local array = typname:sub(1, 1) == "_"
    if array then typname = typname:sub(2) end
    local mods = mods_of(typname, tonumber(r.atttypmod))
    local shown = DISPLAY[typname] or typname
    if #mods > 0 then shown = shown .. "(" .. table.concat(mods, ",") .. ")" end
    t.columns[r.attname] = { type = { name = typname, mods = mods, array = array,
                                      text = shown .. (array and "[]" or "") },
                             notnull = r.attnotnull == true or r.attnotnull == "t" }
  end
  local checks = self.db:query([[
    SELECT conname, convalidated, pg_get_constraintdef(oid) AS def
    FROM pg_constraint WHERE conrelid = $1 AND contype = 'c']], oid)
  for i = 1, checks.n or #checks do
    local r = checks[i]
    local col = r.def:match("^CHECK %(%((.-) IS NOT NULL%)%)")
    if col then
      col = col:match('^"(.*)"$') or col
      t.checks[r.conname] = { column = col, validated = r.convalidated == true or r.convalidated == "t" }
    end
  end
  local kind = self.db:query("SELECT relkind FROM pg_class WHERE oid = $1", oid)[1]
  t.partitioned = kind and kind.relkind == "p"
  return t
end

--- s:volatility(name, nargs) -> "volatile" | "stable" | nil (no such function)
function S:volatility(name, nargs)
  local key = name .. "/" .. nargs
  local c = self.funcs[key]
  if c ~= nil then return c or nil end
  local schema, fname = name:match("^(.-)%.([^.]+)$")
  local ok, r = pcall(self.db.query, self.db, [[
    SELECT bool_or(p.provolatile = 'v') AS volatile, count(*) AS n
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proname = $1 AND ($2::text IS NULL OR n.nspname = $2)
      AND (p.pronargs = $3 OR p.provariadic <> 0
           OR $3 BETWEEN p.pronargs - p.pronargdefaults AND p.pronargs)]],
    fname or name, schema, nargs)
  local row = ok and r[1]
  local v
  if row and tonumber(row.n) and tonumber(row.n) > 0 then
    v = (row.volatile == true or row.volatile == "t") and "volatile" or "stable"
  end
  self.funcs[key] = v or false
  return v
end

--- s:index_table(index) -> the table an index is on, or nil
function S:index_table(name)
  local ok, r = pcall(self.db.query, self.db, [[
    SELECT indrelid::regclass::text AS t FROM pg_index WHERE indexrelid = to_regclass($1)]], name)
  return ok and r[1] and r[1].t or nil
end

--- s:timezone() -> the session TimeZone (a timestamp -> timestamptz change is free in UTC)
function S:timezone()
  if not self.tz then
    local ok, r = pcall(self.db.query, self.db, "SELECT current_setting('TimeZone') AS tz")
    self.tz = ok and r[1] and r[1].tz or "?"
  end
  return self.tz
end

return M
