--- migrun.expect: the expectations of DESIGN.md (policy layer). Each constructor validates
-- its arguments while the playbook loads (errors of kind "playbook" at the playbook's line);
-- e:check(ctx) asks the database and returns ok, actual, expected; check_all sends the
-- checks of a list that are one SQL statement in one pipeline (conn:batch). Uses migrun.db
-- through ctx.db (parameterized SQL, identifiers via migrun.ident), migrun.proc for pg_dump.
local errors = require "migrun.errors"
local ident = require "migrun.ident"
local text = require "migrun.text"

-- modules only some kinds need, loaded at their first use: loading a playbook (status, plan,
-- lint) does not pay for them
local lazy = setmetatable({}, { __index = function(t, name)
  local m = require("migrun." .. name)
  rawset(t, name, m)
  return m
end })

local M = {}

--- expect.NOT_CHECKED: what a check returns first when it could not look (actual = why)
M.NOT_CHECKED = setmetatable({}, { __name = "migrun.not_checked" })

--- expect.NULL: stands for SQL NULL in an expected value or row (nil cannot sit in a list)
M.NULL = setmetatable({}, { __name = "migrun.null", __tostring = function() return "NULL" end })

local Expectation = {}
Expectation.__index = Expectation
Expectation.__name = "migrun.expectation"

-- kind -> {describe = fn(e), check = fn(e, ctx) -> ok, actual, expected, and optionally:
--   sql = fn(e, ctx) -> sql, params... | nil   the check as ONE statement (nil: not this time)
--   judge = fn(e, result, ctx) -> ok, actual, expected   reads that statement's result
--   recheck = fn(err) -> bool   that statement's error may mean "missing": ask check() instead
--   tables, fingerprints, expected = fn(e); flags needs_baseline, outside_transaction, may_write}
-- A kind with sql and judge is declarative: check_all batches it with the others.
local kinds = {}

---------------------------------------------------------------------------------------------
-- construction helpers

-- Where the playbook called the constructor: level 1 is here, 2 the constructor, 3 its caller.
-- A tail call (`return expect.count(...)`) leaves no caller frame: the nearest Lua frame
-- below is the best left.
local function caller()
  local level = 3
  local info = debug.getinfo(level, "Sl")
  if debug.getinfo(2, "t").istailcall then
    while info and info.what == "C" do
      level = level + 1
      info = debug.getinfo(level, "Sl")
    end
  end
  if not info then return {} end
  local src = info.source or ""
  return { file = src:sub(1, 1) == "@" and src:sub(2) or info.short_src,
           line = info.currentline }
end

local function bad(at, fmt, ...)
  errors.raise("playbook", string.format(fmt, ...), { file = at.file, line = at.line }, 3)
end

local function new(kind, at, fields)
  fields.kind, fields.file, fields.line = kind, at.file, at.line
  return setmetatable(fields, Expectation)
end

local function want_table(at, fn, x)
  local p, err = ident.check(x)
  if not p then bad(at, "expect.%s: %s", fn, err) end
  return p
end

local function want_string(at, fn, what, x)
  if type(x) ~= "string" or x == "" then
    bad(at, "expect.%s: %s must be a non-empty string, got %s", fn, what, type(x))
  end
  return x
end

local function is_integer(x)
  return math.tointeger(x) ~= nil                    -- 150 and 150.0, not 1.5 nor math.huge
end

-- A count: an integer, or {min=, max=}. `signed` allows negatives (delta).
local function want_count(at, fn, what, x, signed)
  if type(x) == "number" then
    if not is_integer(x) or (not signed and x < 0) then
      bad(at, "expect.%s: %s must be a%s integer, got %s", fn, what,
          signed and "n" or " non-negative", tostring(x))
    end
    return { eq = math.tointeger(x) }
  end
  if type(x) == "table" and getmetatable(x) == nil and (x.min ~= nil or x.max ~= nil) then
    for k, v in pairs(x) do
      if (k ~= "min" and k ~= "max") or type(v) ~= "number" then
        bad(at, "expect.%s: a range is {min = N, max = N}; unexpected %s = %s", fn,
            tostring(k), tostring(v))
      end
    end
    return { min = x.min, max = x.max }
  end
  bad(at, "expect.%s: %s must be a number or {min =, max =}, got %s", fn, what, type(x))
end

local function range_text(m)
  if m.min and m.max then return string.format("between %s and %s", m.min, m.max) end
  if m.min then return ">= " .. tostring(m.min) end
  return "<= " .. tostring(m.max)
end

-- expected value of a count matcher, for reports: the number, or the range as text
local function count_expected(m)
  if m.eq then return m.eq end
  return range_text(m)
end

local function count_ok(m, n)
  n = tonumber(n)
  if n == nil then return false end
  if m.eq then return n == m.eq end
  return (m.min == nil or n >= m.min) and (m.max == nil or n <= m.max)
end

local function count_text(m, signed)
  if m.eq then
    if signed and m.eq > 0 then return "= +" .. m.eq end
    return "= " .. m.eq
  end
  return range_text(m)
end

local function names_of(at, fn, x)
  local list = {}
  if type(x) == "table" and getmetatable(x) == nil and x.name == nil and type(x[1]) ~= "nil" then
    -- {"a", "b"} is two tables; {"s", "t"} never means schema s: use "s.t" for that
    for i, v in ipairs(x) do
      if type(v) == "table" and not ident.is(v) and #v ~= 2 then
        bad(at, "expect.%s: item %d is not a table name", fn, i)
      end
      list[#list + 1] = want_table(at, fn, v)
    end
  else
    list[1] = want_table(at, fn, x)
  end
  return list
end

local function displays(list)
  local out = {}
  for i, p in ipairs(list) do out[i] = ident.display(p) end
  return out
end

local function one_line(s, max)
  s = tostring(s):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  max = max or 60
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

---------------------------------------------------------------------------------------------
-- values as a report shows them

local function show_value(v)
  if v == nil or v == M.NULL then return "NULL" end
  if type(v) == "string" then return "'" .. v:gsub("'", "''") .. "'" end
  return tostring(v)
end

local function show_rows(rows, max)
  max = max or 5
  local parts = {}
  for i = 1, math.min(#rows, max) do
    local cells = {}
    for c = 1, rows[i].n do cells[c] = show_value(rows[i][c]) end
    parts[i] = "(" .. table.concat(cells, ", ") .. ")"
  end
  local s = "[" .. table.concat(parts, ", ")
  if #rows > max then s = s .. string.format(", ... %d rows", #rows) end
  return s .. "]"
end

-- equality of an expected Lua value and what the database returned
local function same(want, got)
  if want == M.NULL then return got == nil end
  if got == nil then return false end
  local tw = type(want)
  if tw == "number" then
    local g = type(got) ~= "boolean" and tonumber(got) or nil
    return g ~= nil and g == want
  elseif tw == "boolean" then
    if type(got) == "boolean" then return got == want end
    return tostring(got) == tostring(want)
  else                                               -- string
    if type(got) == "number" then
      local w = tonumber(want)
      return w ~= nil and w == got
    end
    return tostring(got) == want
  end
end

local function is_scalar(v)
  local t = type(v)
  return t == "number" or t == "string" or t == "boolean" or v == M.NULL
end

local function is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

---------------------------------------------------------------------------------------------
-- the database side

local function rel(ctx, p)
  return ident.oid(ctx.db, p)
end

-- A declarative kind's statement resolves its table inside SQL: `present` is false when it
-- does not exist (to_regclass follows search_path, as ident.oid does), and r.oid is its oid.
local REL = "(SELECT pg_catalog.to_regclass($1)::oid AS oid) r"

-- check() of a declarative kind whose statement never fails for a missing table: one query
local function declarative(k)
  k.check = function(e, ctx) return k.judge(e, ctx.db:query(k.sql(e, ctx)), ctx) end
  return k
end

-- a statement naming a table in FROM fails for a missing one (or its schema): its check(),
-- which looks the table up first, says "missing" instead
local function missing_relation(err)
  return errors.is_sql(err, "42P01") or errors.is_sql(err, "3F000")
end

-- schemas whose objects are never the user's (and migrun's own): pg_toast* and pg_temp_*
-- by their 8-character prefix (a LIKE costs the planner a pattern analysis, cold)
local USER_SCHEMAS = [[n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrun')
  AND pg_catalog.substr(n.nspname, 1, 8) NOT IN ('pg_toast', 'pg_temp_')]]

---------------------------------------------------------------------------------------------
-- expect.query

--- expect.query(sql, v): the first column of the first row equals v (a number, string,
-- boolean or expect.NULL); or v = {min =, max =}; or v = function(actual) -> bool; or v is a
-- list of rows ({{1, "a"}, {2, "b"}}; a scalar item is a one-column row) compared in order.
function M.query(sql, v)
  local at = caller()
  want_string(at, "query", "the SQL", sql)
  local mode
  if is_scalar(v) then
    mode = "value"
  elseif type(v) == "function" then
    mode = "function"
  elseif type(v) == "table" and getmetatable(v) == nil then
    if v.min ~= nil or v.max ~= nil then
      want_count(at, "query", "the range", v, true)
      mode = "range"
    elseif is_list(v) then
      for i, row in ipairs(v) do
        if not is_scalar(row) and not (type(row) == "table" and getmetatable(row) == nil and
                                       is_list(row)) then
          bad(at, "expect.query: row %d must be a list of values or one value", i)
        end
        if type(row) == "table" then
          for c, cell in ipairs(row) do
            if not is_scalar(cell) then
              bad(at, "expect.query: row %d column %d must be a value (expect.NULL for NULL)",
                  i, c)
            end
          end
        end
      end
      mode = "rows"
    end
  end
  if not mode then
    bad(at, "expect.query: the expected value must be a number, string, boolean, expect.NULL, " ..
            "{min =, max =}, a function(actual) or a list of rows; got %s", type(v))
  end
  return new("query", at, { sql = sql, value = v, mode = mode })
end

local function expected_rows(e)
  local rows = {}
  for i, r in ipairs(e.value) do
    if type(r) == "table" then
      rows[i] = table.pack(table.unpack(r))
    else
      rows[i] = table.pack(r)
    end
  end
  return rows
end

local function query_expected(e)
  if e.mode == "value" then return e.value == M.NULL and "NULL" or e.value end
  if e.mode == "range" then return range_text(e.value) end
  if e.mode == "function" then return "satisfies its condition" end
  return show_rows(expected_rows(e))
end

-- the first keywords of a statement that only reads (in a READ ONLY transaction)
local READS = { select = true, with = true, values = true, table = true }

kinds.query = {
  may_write = true,                                  -- the user's SQL: checked under a savepoint
  expected = query_expected,
  describe = function(e)
    local head = "query(" .. one_line(e.sql) .. ")"
    if e.mode == "value" then return head .. " = " .. show_value(e.value) end
    if e.mode == "range" then return head .. " " .. range_text(e.value) end
    if e.mode == "function" then return head .. " satisfies its condition" end
    return head .. " = " .. #e.value .. " row" .. (#e.value == 1 and "" or "s")
  end,
  -- batched only when check_all may (a read-only transaction), and only a single statement
  -- that reads: a pipeline item is one statement of the extended protocol
  sql = function(e)
    local ok, stmts = pcall(lazy.sqlsplit.split, e.sql, "expect.query")
    if not ok or #stmts ~= 1 then return nil end
    local first = (stmts[1].sql:match("^[%a_]+") or ""):lower()
    if READS[first] then return e.sql end
  end,
  check = function(e, ctx)
    return kinds.query.judge(e, ctx.db:query(e.sql))
  end,
  judge = function(e, res)
    if e.mode == "rows" then
      local want = expected_rows(e)
      local got = {}
      for i = 1, res.n do
        local row = { n = res.ncols }
        for c = 1, res.ncols do row[c] = res[i][res.columns[c]] end
        got[i] = row
      end
      local ok = #got == #want
      for i = 1, ok and #want or 0 do
        if want[i].n ~= got[i].n then ok = false; break end
        for c = 1, want[i].n do
          if not same(want[i][c], got[i][c]) then ok = false; break end
        end
      end
      return ok, show_rows(got), query_expected(e)
    end
    local actual
    if res.n > 0 and res.ncols > 0 then actual = res[1][res.columns[1]] end
    local report = res.n == 0 and "no rows" or (actual == nil and "NULL" or actual)
    if e.mode == "value" then
      return res.n > 0 and same(e.value, actual), report, query_expected(e)
    elseif e.mode == "range" then
      return actual ~= nil and count_ok(e.value, actual), report, query_expected(e)
    end
    return e.value(actual) and true or false, report, query_expected(e)
  end,
}

---------------------------------------------------------------------------------------------
-- counts: count, delta, unchanged, tables

--- expect.count(table, n [, where]): exact row count (n may be {min =, max =}); where is an
-- SQL condition (a fragment of the playbook's own SQL)
function M.count(tbl, n, where)
  local at = caller()
  local t = want_table(at, "count", tbl)
  local m = want_count(at, "count", "the count", n)
  if where ~= nil then want_string(at, "count", "the WHERE condition", where) end
  return new("count", at, { table = t, match = m, where = where })
end

kinds.count = {
  describe = function(e)
    local t = ident.display(e.table)
    if e.where then t = t .. " WHERE " .. one_line(e.where) end
    return "count(" .. t .. ") " .. count_text(e.match)
  end,
  check = function(e, ctx)
    if not rel(ctx, e.table) then return false, "missing", count_expected(e.match) end
    return kinds.count.judge(e, ctx.db:query(kinds.count.sql(e, ctx)))
  end,
  sql = function(e, ctx)
    local sql = "SELECT count(*) AS n FROM " .. ident.quote(ctx.db, e.table)
    if e.where then sql = sql .. " WHERE (" .. e.where .. "\n)" end
    return sql
  end,
  judge = function(e, res)
    local n = res[1].n
    return count_ok(e.match, n), n, count_expected(e.match)
  end,
  recheck = missing_relation,
  tables = function(e) return { ident.display(e.table) } end,
}

--- expect.delta(table, n): rows now minus rows at run start (ctx.before) equals n (or is in
-- {min =, max =}); a table created by the run started at 0
function M.delta(tbl, n)
  local at = caller()
  local t = want_table(at, "delta", tbl)
  return new("delta", at, { table = t, match = want_count(at, "delta", "the change", n, true) })
end

local NO_SNAPSHOT = "no run-start snapshot"

local function before_of(ctx, t)
  local before = ctx.before
  if before == nil then return nil, NO_SNAPSHOT end
  if before.taken and not before:taken(t) then
    return nil, "not in the run-start snapshot"
  end
  return before
end

kinds.delta = {
  needs_baseline = true,                             -- compares with the run-start snapshot
  describe = function(e)
    return "delta(" .. ident.display(e.table) .. ") " .. count_text(e.match, true)
  end,
  check = function(e, ctx)
    local before, why = before_of(ctx, e.table)
    if not before then return false, why, count_expected(e.match) end
    local now = lazy.snapshot.count_rows(ctx.db, e.table)
    if now == nil then return false, "missing", count_expected(e.match) end
    return kinds.delta.judge(e, { { n = now } }, ctx)
  end,
  -- without the run-start count there is nothing to ask: check() says why
  sql = function(e, ctx)
    if not before_of(ctx, e.table) then return nil end
    return "SELECT count(*) AS n FROM " .. ident.quote(ctx.db, e.table)
  end,
  judge = function(e, res, ctx)
    local d = res[1].n - (ctx.before:count(e.table) or 0)
    return count_ok(e.match, d), d, count_expected(e.match)
  end,
  recheck = missing_relation,
  tables = function(e) return { ident.display(e.table) } end,
}

--- expect.unchanged(table): row count and content fingerprint as at run start
function M.unchanged(tbl)
  local at = caller()
  return new("unchanged", at, { table = want_table(at, "unchanged", tbl) })
end

local function rows_fp(n, fp)
  if n == nil then return "missing" end
  return string.format("%d rows, fingerprint %s", n, fp and fp:sub(1, 12) or "?")
end

kinds.unchanged = {
  needs_baseline = true,
  describe = function(e) return "unchanged(" .. ident.display(e.table) .. ")" end,
  check = function(e, ctx)
    local before, why = before_of(ctx, e.table)
    if not before then return false, why, "as at run start" end
    local n0, fp0 = before:count(e.table), before:fingerprint(e.table)
    if n0 ~= nil and fp0 == nil then
      return false, "no run-start fingerprint", rows_fp(n0, nil)
    end
    local n1, fp1 = lazy.snapshot.fingerprint(ctx.db, e.table)
    return n0 == n1 and fp0 == fp1, rows_fp(n1, fp1), rows_fp(n0, fp0)
  end,
  tables = function(e) return { ident.display(e.table) } end,
  fingerprints = function(e) return { ident.display(e.table) } end,
}

--- expect.tables{schema = "public", count = n}: base tables (relkind r, p) in the schema
function M.tables(opts)
  local at = caller()
  if type(opts) ~= "table" then bad(at, "expect.tables: takes {schema =, count =}") end
  for k in pairs(opts) do
    if k ~= "schema" and k ~= "count" then
      bad(at, "expect.tables: unknown option %s%s", tostring(k),
          text.did_you_mean(tostring(k), { "schema", "count" }))
    end
  end
  local schema = opts.schema == nil and "public" or want_string(at, "tables", "schema",
                                                                  opts.schema)
  if opts.count == nil then bad(at, "expect.tables: count is required") end
  return new("tables", at, { schema = schema, match = want_count(at, "tables", "count",
                                                                  opts.count) })
end

kinds.tables = declarative {
  describe = function(e) return "tables(" .. e.schema .. ") " .. count_text(e.match) end,
  sql = function(e)
    return [[
      SELECT count(*) AS n FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')]], e.schema
  end,
  judge = function(e, res)
    local n = res[1].n
    return count_ok(e.match, n), n, count_expected(e.match)
  end,
}

---------------------------------------------------------------------------------------------
-- existence: exists, absent, columns, column_type

--- expect.exists(name | {name, ...}): each relation exists (table, view, sequence, ...)
function M.exists(x)
  local at = caller()
  return new("exists", at, { names = names_of(at, "exists", x) })
end

--- expect.absent(name | {name, ...}): none of them exists
function M.absent(x)
  local at = caller()
  return new("absent", at, { names = names_of(at, "absent", x) })
end

-- one row, a column pK per name: does it exist?
local function names_sql(e, ctx)
  local cols, params = {}, {}
  for i, p in ipairs(e.names) do
    cols[i] = string.format("pg_catalog.to_regclass($%d) IS NOT NULL AS p%d", i, i)
    params[i] = ident.quote(ctx.db, p)
  end
  return "SELECT " .. table.concat(cols, ", "), table.unpack(params)
end

local function partition(e, res)
  local present, missing = {}, {}
  for i, p in ipairs(e.names) do
    local list = res[1]["p" .. i] and present or missing
    list[#list + 1] = ident.display(p)
  end
  return present, missing
end

kinds.exists = declarative {
  describe = function(e) return "exists(" .. table.concat(displays(e.names), ", ") .. ")" end,
  sql = names_sql,
  judge = function(e, res)
    local _, missing = partition(e, res)
    if #missing == 0 then return true, "present", "present" end
    if #e.names == 1 then return false, "missing", "present" end
    return false, "missing: " .. table.concat(missing, ", "), "present"
  end,
  tables = function(e) return displays(e.names) end,
}

kinds.absent = declarative {
  describe = function(e) return "absent(" .. table.concat(displays(e.names), ", ") .. ")" end,
  sql = names_sql,
  judge = function(e, res)
    local present = partition(e, res)
    if #present == 0 then return true, "absent", "absent" end
    if #e.names == 1 then return false, "present", "absent" end
    return false, "present: " .. table.concat(present, ", "), "absent"
  end,
  tables = function(e) return displays(e.names) end,
}

local function want_names(at, fn, what, x)
  if type(x) == "string" then x = { x } end
  if type(x) ~= "table" or #x == 0 then
    bad(at, "expect.%s: %s must be a non-empty list of names", fn, what)
  end
  for i, c in ipairs(x) do
    if type(c) ~= "string" or c == "" then
      bad(at, "expect.%s: %s item %d must be a non-empty string", fn, what, i)
    end
  end
  return { table.unpack(x) }
end

--- expect.columns(table, {col, ...}): the table has (at least) these columns
function M.columns(tbl, cols)
  local at = caller()
  local t = want_table(at, "columns", tbl)
  return new("columns", at, { table = t, columns = want_names(at, "columns", "columns", cols) })
end

kinds.columns = declarative {
  describe = function(e)
    return "columns(" .. ident.display(e.table) .. ": " .. table.concat(e.columns, ", ") .. ")"
  end,
  -- present, then one row per column (attname NULL for a table without any)
  sql = function(e, ctx)
    return "SELECT r.oid IS NOT NULL AS present, a.attname FROM " .. REL .. [[
      LEFT JOIN pg_catalog.pg_attribute a
        ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped]],
      ident.quote(ctx.db, e.table)
  end,
  judge = function(e, res)
    if not res[1].present then return false, "missing", "present" end
    local set, missing = {}, {}
    for i = 1, res.n do
      if res[i].attname then set[res[i].attname] = true end
    end
    for _, c in ipairs(e.columns) do
      if not set[c] then missing[#missing + 1] = c end
    end
    if #missing == 0 then return true, "present", "present" end
    return false, "missing: " .. table.concat(missing, ", "), "present"
  end,
  tables = function(e) return { ident.display(e.table) } end,
}

--- expect.column_type(table, col, type): the column's type, as the server names it
-- ("int" = "integer", "timestamptz" = "timestamp with time zone"); a type written without
-- a modifier matches any modifier ("varchar" matches varchar(255)), one with it must match
function M.column_type(tbl, col, typ)
  local at = caller()
  local t = want_table(at, "column_type", tbl)
  want_string(at, "column_type", "the column", col)
  want_string(at, "column_type", "the type", typ)
  return new("column_type", at, { table = t, column = col, type = typ })
end

kinds.column_type = declarative {
  describe = function(e)
    return string.format("column_type(%s.%s) = %s", ident.display(e.table), e.column, e.type)
  end,
  -- one row; the type names are read only once the column is found (CASE), so a type that
  -- does not parse fails only where it is compared. $4: the type written without its modifier.
  sql = function(e, ctx)
    local base, _, rest = e.type:match("^(.-)%s*(%b())(.*)$")
    return [[
      SELECT r.oid IS NOT NULL AS present, a.attnum IS NOT NULL AS found,
             pg_catalog.format_type(a.atttypid, a.atttypmod) AS full,
             pg_catalog.format_type(a.atttypid, NULL) AS base,
             CASE WHEN a.attnum IS NOT NULL
               THEN pg_catalog.format_type(pg_catalog.to_regtype($3), NULL) END AS want,
             CASE WHEN a.attnum IS NOT NULL AND $4::text IS NOT NULL
               THEN pg_catalog.format_type(pg_catalog.to_regtype($4::text), NULL) END AS canon
      FROM ]] .. REL .. [[
      LEFT JOIN pg_catalog.pg_attribute a
        ON a.attrelid = r.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped]],
      ident.quote(ctx.db, e.table), e.column, e.type, base and (base .. rest) or nil
  end,
  judge = function(e, res)
    local r = res[1]
    if not r.present then return false, "missing", e.type end
    if not r.found then return false, "no column " .. e.column, e.type end
    local has_mod = e.type:find("(", 1, true) ~= nil
    if not has_mod then
      local want = r.want or e.type                  -- unknown type name: shown as written
      local array = e.type:match("%[%]$") and "[]" or ""
      if r.want and not r.want:find("[]", 1, true) then want = r.want .. array end
      return r.base == want, r.base, want
    end
    -- with a modifier: the server's spelling of the base name, then the modifier as written
    local norm = function(s) return (s:lower():gsub("%s+", " "):gsub(" ?([(),]) ?", "%1")) end
    local _, mods = e.type:match("^(.-)%s*(%b())(.*)$")
    local want = e.type
    local canon = r.canon
    if canon then
      -- format_type writes the modifier after the name, before "with(out) time zone" and []
      local core, arr = canon:match("^(.-)([%[%]]*)$")
      local tz = core:match(" with time zone$") or core:match(" without time zone$") or ""
      want = core:sub(1, #core - #tz) .. mods .. tz .. arr
    end
    return norm(r.full) == norm(want), r.full, want
  end,
  tables = function(e) return { ident.display(e.table) } end,
}

---------------------------------------------------------------------------------------------
-- constraints and security: foreign_keys, no_orphans, rls, policies, index, trigger

local function count_opts(at, fn, opts)
  if type(opts) ~= "table" then bad(at, "expect.%s: takes {count = n [, table = name]}", fn) end
  for k in pairs(opts) do
    if k ~= "count" and k ~= "table" then
      bad(at, "expect.%s: unknown option %s%s", fn, tostring(k),
          text.did_you_mean(tostring(k), { "count", "table" }))
    end
  end
  if opts.count == nil then bad(at, "expect.%s: count is required", fn) end
  local t = opts.table ~= nil and want_table(at, fn, opts.table) or nil
  return { match = want_count(at, fn, "count", opts.count), table = t }
end

-- sql counts in the user's schemas; table_filter (on r.oid) narrows it to one table
local function counted(name, sql, table_filter)
  return declarative {
    describe = function(e)
      local t = e.table and "(" .. ident.display(e.table) .. ")" or ""
      return name .. t .. " " .. count_text(e.match)
    end,
    sql = function(e, ctx)
      if not e.table then return sql end
      return "SELECT r.oid IS NOT NULL AS present, (" .. sql .. " AND " .. table_filter ..
             ") AS n FROM " .. REL, ident.quote(ctx.db, e.table)
    end,
    judge = function(e, res)
      local row = res[1]
      if e.table and not row.present then return false, "missing", count_expected(e.match) end
      return count_ok(e.match, row.n), row.n, count_expected(e.match)
    end,
    tables = function(e) return e.table and { ident.display(e.table) } or {} end,
  }
end

--- expect.foreign_keys{count = n [, table = name]}: FK constraints in the user's schemas
-- (not pg_catalog, information_schema or migrun), or on one table; a partition's copy of
-- its parent's FK is not counted again
function M.foreign_keys(opts)
  local at = caller()
  return new("foreign_keys", at, count_opts(at, "foreign_keys", opts))
end

kinds.foreign_keys = counted("foreign_keys", [[
  SELECT count(*) AS n FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
  WHERE c.contype = 'f' AND c.conparentid = 0 AND ]] .. USER_SCHEMAS, "c.conrelid = r.oid")

--- expect.policies{count = n [, table = name]}: row-level security policies, likewise
function M.policies(opts)
  local at = caller()
  return new("policies", at, count_opts(at, "policies", opts))
end

kinds.policies = counted("policies", [[
  SELECT count(*) AS n FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE ]] .. USER_SCHEMAS, "p.polrelid = r.oid")

-- "schema.table.col" | "table.col" (parts quoted as in ident) -> table, column
local function split_column(s)
  local parts, err = ident.split(s)
  if not parts then return nil, err end
  if #parts < 2 or #parts > 3 then
    return nil, string.format("%q is not table.column or schema.table.column", s)
  end
  local col = table.remove(parts)
  return ident.check(parts), col
end

--- expect.no_orphans "child.col -> parent.col": every non-NULL child.col has a parent row
function M.no_orphans(spec)
  local at = caller()
  want_string(at, "no_orphans", "the reference", spec)
  local lhs, rhs = spec:match("^%s*(.-)%s*%->%s*(.-)%s*$")
  if not lhs or lhs == "" or rhs == "" then
    bad(at, "expect.no_orphans: %q is not \"child.column -> parent.column\"", spec)
  end
  local child, ccol = split_column(lhs)
  if not child then bad(at, "expect.no_orphans: %s", ccol) end
  local parent, pcol = split_column(rhs)
  if not parent then bad(at, "expect.no_orphans: %s", pcol) end
  return new("no_orphans", at, { child = child, child_column = ccol, parent = parent,
                                 parent_column = pcol, spec = spec })
end

kinds.no_orphans = {
  describe = function(e)
    return string.format("no_orphans(%s.%s -> %s.%s)", ident.display(e.child), e.child_column,
                         ident.display(e.parent), e.parent_column)
  end,
  check = function(e, ctx)
    local db = ctx.db
    local missing = {}
    for _, p in ipairs({ e.child, e.parent }) do
      if not rel(ctx, p) then missing[#missing + 1] = ident.display(p) end
    end
    if #missing > 0 then return false, "missing: " .. table.concat(missing, ", "), 0 end
    return kinds.no_orphans.judge(e, db:query(kinds.no_orphans.sql(e, ctx)))
  end,
  sql = function(e, ctx)
    local db = ctx.db
    return string.format([[
      SELECT count(*) AS n FROM %s AS c
      WHERE c.%s IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE p.%s = c.%s)]],
      ident.quote(db, e.child), db:quote_ident(e.child_column), ident.quote(db, e.parent),
      db:quote_ident(e.parent_column), db:quote_ident(e.child_column))
  end,
  judge = function(_, res)
    local n = res[1].n
    return n == 0, n, 0
  end,
  recheck = missing_relation,
  tables = function(e) return { ident.display(e.child), ident.display(e.parent) } end,
}

--- expect.rls(table [, enabled = true]): row-level security is enabled (or disabled)
function M.rls(tbl, enabled)
  local at = caller()
  local t = want_table(at, "rls", tbl)
  if enabled ~= nil and type(enabled) ~= "boolean" then
    bad(at, "expect.rls: the second argument must be a boolean, got %s", type(enabled))
  end
  return new("rls", at, { table = t, enabled = enabled ~= false })
end

kinds.rls = declarative {
  describe = function(e)
    return "rls(" .. ident.display(e.table) .. ") " .. (e.enabled and "enabled" or "disabled")
  end,
  sql = function(e, ctx)
    return "SELECT r.oid IS NOT NULL AS present, c.relrowsecurity AS on FROM " .. REL ..
           " LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid", ident.quote(ctx.db, e.table)
  end,
  judge = function(e, res)
    local want = e.enabled and "enabled" or "disabled"
    if not res[1].present then return false, "missing", want end
    local got = res[1].on and "enabled" or "disabled"
    return got == want, got, want
  end,
  tables = function(e) return { ident.display(e.table) } end,
}

--- expect.index(table, {col, ...}): an index whose key columns are exactly these, in order
function M.index(tbl, cols)
  local at = caller()
  local t = want_table(at, "index", tbl)
  return new("index", at, { table = t, columns = want_names(at, "index", "columns", cols) })
end

kinds.index = declarative {
  describe = function(e)
    return "index(" .. ident.display(e.table) .. ": " .. table.concat(e.columns, ", ") .. ")"
  end,
  -- present, then per index its key (indkey: the column numbers, 0 for an expression, key
  -- columns first) with one row per column of the table it names (index NULL: no index);
  -- lighter for a cold planner than a row per key position
  sql = function(e, ctx)
    return [[
      SELECT r.oid IS NOT NULL AS present, c.relname AS index, i.indkey::text AS key,
             i.indnkeyatts AS nkey, a.attnum, a.attname
      FROM ]] .. REL .. [[
      LEFT JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
      LEFT JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      LEFT JOIN pg_catalog.pg_attribute a
        ON a.attrelid = r.oid AND a.attnum = ANY (i.indkey) AND a.attnum > 0
      ORDER BY c.relname]], ident.quote(ctx.db, e.table)
  end,
  judge = function(e, res)
    local want = "(" .. table.concat(e.columns, ", ") .. ")"
    if not res[1].present then return false, "missing", want end
    local order, key, names = {}, {}, {}
    for r = 1, res.n do
      local row = res[r]
      if row.index == nil then break end
      if not key[row.index] then
        order[#order + 1] = row.index
        key[row.index], names[row.index] = { nkey = row.nkey, text = row.key }, {}
      end
      if row.attnum then names[row.index][row.attnum] = row.attname end
    end
    local cols = {}
    for _, name in ipairs(order) do
      local list, k = {}, key[name]
      for num in k.text:gmatch("%-?%d+") do
        if #list == k.nkey then break end
        list[#list + 1] = names[name][tonumber(num)] or "(expression)"
      end
      cols[name] = list
    end
    local seen = {}
    for _, name in ipairs(order) do
      local list = cols[name]
      local match = #list == #e.columns
      for i = 1, match and #list or 0 do
        if list[i] ~= e.columns[i] then match = false end
      end
      if match then return true, want, want end
      seen[#seen + 1] = name .. "(" .. table.concat(list, ", ") .. ")"
    end
    if #seen == 0 then return false, "no indexes", want end
    return false, "not found; indexes: " .. one_line(table.concat(seen, ", "), 200), want
  end,
  tables = function(e) return { ident.display(e.table) } end,
}

--- expect.function_exists(name): a function or procedure "name" (visible on search_path)
-- or "schema.name" exists, whatever its arguments
function M.function_exists(name)
  local at = caller()
  local p = want_table(at, "function_exists", name)
  return new("function_exists", at, { name = p })
end

kinds.function_exists = declarative {
  describe = function(e) return "function_exists(" .. ident.display(e.name) .. ")" end,
  sql = function(e)
    return [[
      SELECT count(*) AS n FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proname = $1
        AND CASE WHEN $2::text IS NULL THEN pg_catalog.pg_function_is_visible(p.oid)
                 ELSE n.nspname = $2::text END]], e.name.name, e.name.schema
  end,
  judge = function(_, res)
    local n = res[1].n
    if n > 0 then return true, "present", "present" end
    return false, "missing", "present"
  end,
}

--- expect.trigger(table, name): a (user) trigger of that name is on the table
function M.trigger(tbl, name)
  local at = caller()
  local t = want_table(at, "trigger", tbl)
  return new("trigger", at, { table = t, name = want_string(at, "trigger", "the trigger name",
                                                              name) })
end

kinds.trigger = declarative {
  describe = function(e)
    return "trigger(" .. ident.display(e.table) .. ", " .. e.name .. ")"
  end,
  sql = function(e, ctx)
    return [[
      SELECT r.oid IS NOT NULL AS present,
             (SELECT count(*) FROM pg_catalog.pg_trigger
              WHERE tgrelid = r.oid AND tgname = $2 AND NOT tgisinternal) AS n
      FROM ]] .. REL, ident.quote(ctx.db, e.table), e.name
  end,
  judge = function(_, res)
    if not res[1].present then return false, "missing", "present" end
    local n = res[1].n
    if n > 0 then return true, "present", "present" end
    return false, "not found", "present"
  end,
  tables = function(e) return { ident.display(e.table) } end,
}

---------------------------------------------------------------------------------------------
-- expect.schema

--- expect.schema(file [, {privileges = false}]): the live schema, as pg_dump --schema-only
-- prints it and normalised (comments, SET lines, psql meta-commands, OWNER TO, blank lines
-- and the migrun schema dropped), equals the one in file (relative to the playbook's dir).
-- privileges = false also drops GRANT/REVOKE lines on both sides.
function M.schema(file, opts)
  local at = caller()
  want_string(at, "schema", "the file", file)
  if opts ~= nil and type(opts) ~= "table" then
    bad(at, "expect.schema: options must be a table, got %s", type(opts))
  end
  local privileges = not (opts and opts.privileges == false)
  -- pg_dump runs on a connection of its own: it cannot see uncommitted changes, so the
  -- check refuses a transaction that has written anything, and runs without a savepoint
  return new("schema", at, { path = file, privileges = privileges })
end

local function is_migrun_stmt(first)
  local padded = " " .. first .. " "
  return padded:find("[^%w_$]migrun%.") ~= nil or padded:find("[^%w_$]SCHEMA migrun[^%w_$]") ~= nil
end

--- expect.normalise_schema(sql [, {privileges = false}]) -> list of lines compared by
-- expect.schema (exposed for tests and for `migrun` commands that save a reference schema)
function M.normalise_schema(sql, opts)
  local kept = {}
  for line in (sql .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("%s+$", "")
    if line ~= "" and not line:find("^%-%-") and not line:find("^\\") then
      kept[#kept + 1] = line
    end
  end
  local body = table.concat(kept, "\n")
  local out = {}
  for _, st in ipairs(lazy.sqlsplit.split(body, "schema")) do
    local s = st.sql
    local first = s:match("^[^\n]*")
    local drop = s:find("^SET%s") or s:find("^SELECT pg_catalog%.set_config%(") or
      s:find("^ALTER [%u ]+.- OWNER TO ") or is_migrun_stmt(first) or
      (opts and opts.privileges == false and (s:find("^GRANT%s") or s:find("^REVOKE%s")))
    if not drop then
      for line in (s .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = line end
    end
  end
  return out
end

-- Myers' O((N+M)D) diff of two line lists -> {{op, line}, ...} with op " ", "-" or "+";
-- nil when more than dmax lines differ. Each run of changes lists "-" before "+".
local function myers(a, b, dmax)
  local n, m = #a, #b
  local v, trace, found = { [1] = 0 }, {}, nil
  for d = 0, math.min(n + m, dmax) do
    local copy = {}
    for k, x in pairs(v) do copy[k] = x end
    trace[d] = copy
    for k = -d, d, 2 do
      local x
      if k == -d or (k ~= d and (v[k - 1] or -1) < (v[k + 1] or -1)) then
        x = v[k + 1]
      else
        x = v[k - 1] + 1
      end
      local y = x - k
      while x < n and y < m and a[x + 1] == b[y + 1] do x, y = x + 1, y + 1 end
      v[k] = x
      if x >= n and y >= m then found = d; break end
    end
    if found then break end
  end
  if not found then return nil end
  local rev, x, y = {}, n, m
  for d = found, 0, -1 do
    local vd, k = trace[d], x - y
    local pk
    if k == -d or (k ~= d and (vd[k - 1] or -1) < (vd[k + 1] or -1)) then
      pk = k + 1
    else
      pk = k - 1
    end
    local px = vd[pk]
    local py = px - pk
    while x > px and y > py do
      rev[#rev + 1] = { " ", a[x] }; x, y = x - 1, y - 1
    end
    if d > 0 then
      if x == px then rev[#rev + 1] = { "+", b[y] } else rev[#rev + 1] = { "-", a[x] } end
      x, y = px, py
    end
  end
  local ops, run = {}, nil
  local function flush()
    if not run then return end
    for _, op in ipairs(run) do if op[1] == "-" then ops[#ops + 1] = op end end
    for _, op in ipairs(run) do if op[1] == "+" then ops[#ops + 1] = op end end
    run = nil
  end
  for i = #rev, 1, -1 do
    local op = rev[i]
    if op[1] == " " then
      flush()
      ops[#ops + 1] = op
    else
      run = run or {}
      run[#run + 1] = op
    end
  end
  flush()
  return ops
end
M._diff_ops = myers

--- expect.diff(a, b [, {from =, to =, max = 30, context = 2}]) -> unified-style text of
-- the first differences between two line lists, or nil when they are equal
function M.diff(a, b, opts)
  opts = opts or {}
  local max, context = opts.max or 30, opts.context or 2
  local pre = 0
  while pre < #a and pre < #b and a[pre + 1] == b[pre + 1] do pre = pre + 1 end
  if pre == #a and pre == #b then return nil end
  local suf = 0
  while suf < #a - pre and suf < #b - pre and a[#a - suf] == b[#b - suf] do suf = suf + 1 end
  local ma, mb = {}, {}
  for i = pre + 1, #a - suf do ma[#ma + 1] = a[i] end
  for i = pre + 1, #b - suf do mb[#mb + 1] = b[i] end
  local ops = myers(ma, mb, 500)
  if not ops then                                    -- too different to align: both sides
    ops = {}
    for _, l in ipairs(ma) do ops[#ops + 1] = { "-", l } end
    for _, l in ipairs(mb) do ops[#ops + 1] = { "+", l } end
  end
  local all = {}
  for i = 1, pre do all[#all + 1] = { " ", a[i] } end
  for _, op in ipairs(ops) do all[#all + 1] = op end
  for i = #a - suf + 1, #a do all[#all + 1] = { " ", a[i] } end
  local show = {}                                    -- lines within `context` of a change
  for k, op in ipairs(all) do
    if op[1] ~= " " then
      for d = -context, context do show[k + d] = true end
    end
  end
  local out = { "--- " .. (opts.from or "expected"), "+++ " .. (opts.to or "actual") }
  local la, lb, body, hidden, prev = 0, 0, 0, 0, false
  for k, op in ipairs(all) do
    if op[1] ~= "+" then la = la + 1 end
    if op[1] ~= "-" then lb = lb + 1 end
    if show[k] and body < max then
      if not prev then
        out[#out + 1] = string.format("@@ -%d +%d @@", op[1] == "+" and la + 1 or la,
                                      op[1] == "-" and lb + 1 or lb)
      end
      out[#out + 1] = op[1] .. op[2]
      body = body + 1
    elseif op[1] ~= " " then
      hidden = hidden + 1
    end
    prev = show[k] or false
  end
  if hidden > 0 then out[#out + 1] = string.format("... (%d more lines differ)", hidden) end
  return table.concat(out, "\n")
end

-- the live schema as pg_dump prints it -> text | nil, message
local function dump_schema(ctx)
  local ok, exe = pcall(lazy.pg.tool, "pg_dump", { major = ctx.db and lazy.pg.major(ctx.db:server_version()),
                                               override = ctx.pg_dump })
  if not ok then return nil, tostring(exe) end
  local clean, env0 = lazy.pg.split_password(ctx.conninfo or lazy.pg.conninfo_of(ctx.db))
  local env = {}
  for k, v in pairs(ctx.env or {}) do env[k] = v end
  if env0.PGPASSWORD and env.PGPASSWORD == nil then env.PGPASSWORD = env0.PGPASSWORD end
  local argv = { exe, "--schema-only", "--exclude-schema=migrun", "--no-password",
                 "--lock-wait-timeout=" .. (ctx.pg_dump_lock_wait or "10s") }
  if clean ~= "" then argv[#argv + 1] = "--dbname=" .. clean end
  local r = lazy.proc.run(argv, { env = env, stdin = "null", stdout = "capture", stderr = "capture",
                             timeout = ctx.pg_dump_timeout or "120s" })
  if not r.ok then
    local why = r.timed_out and "timed out" or (r.stderr or ""):match("[^\n]+") or
                ("exit " .. tostring(r.status))
    return nil, "pg_dump failed: " .. why
  end
  return r.stdout
end

local function resolve(dir, path)
  if path:sub(1, 1) == "/" or not dir or dir == "" then return path end
  return dir:gsub("/+$", "") .. "/" .. path
end

kinds.schema = {
  -- pg_dump runs on a connection of its own: it cannot see uncommitted changes, so the check
  -- refuses a transaction that has written anything, and runs without a savepoint
  outside_transaction = true,
  describe = function(e) return "schema(" .. e.path .. ")" end,
  check = function(e, ctx)
    local want = "same as " .. e.path
    local status = ctx.db and ctx.db:status()
    -- pg_dump connects by itself: it cannot see what an open transaction changed (and would
    -- wait on its locks); a transaction that has changed nothing yet has no xid
    if status == "intrans" and ctx.db:query("SELECT txid_current_if_assigned() AS x")[1].x then
      return M.NOT_CHECKED, "pg_dump cannot see an open transaction's changes " ..
                            "(check the schema after COMMIT)", want
    elseif status and status ~= "idle" and status ~= "intrans" then
      return M.NOT_CHECKED, "the connection is " .. status, want
    end
    local ref, rerr = text.readfile(resolve(ctx.dir, e.path))
    if not ref then return false, "cannot read " .. e.path .. ": " .. tostring(rerr), want end
    local live, derr = dump_schema(ctx)
    if not live then return false, derr, want end
    local o = { privileges = e.privileges }
    local d = M.diff(M.normalise_schema(ref, o), M.normalise_schema(live, o),
                     { from = e.path, to = "live schema" })
    if not d then return true, "same", want end
    return false, d, want
  end,
}

---------------------------------------------------------------------------------------------
-- expect.that

--- expect.that(description, function(db, ctx) return ok, actual, expected end [, {tables}])
function M.that(description, fn, opts)
  local at = caller()
  want_string(at, "that", "the description", description)
  if type(fn) ~= "function" then
    bad(at, "expect.that: the second argument must be a function(db), got %s", type(fn))
  end
  local tables = {}
  if opts ~= nil then
    if type(opts) ~= "table" then bad(at, "expect.that: options must be a table") end
    for _, t in ipairs(opts.tables or {}) do tables[#tables + 1] = want_table(at, "that", t) end
  end
  return new("that", at, { description = description, fn = fn, table_list = tables })
end

kinds.that = {
  may_write = true,                                  -- the user's Lua: checked under a savepoint
  describe = function(e) return e.description end,
  check = function(e, ctx)
    local ok, actual, expected = e.fn(ctx.db, ctx)
    return ok and true or false, actual, expected
  end,
  tables = function(e) return displays(e.table_list) end,
}

---------------------------------------------------------------------------------------------
-- kinds that live in modules of their own: an application endpoint (migrun.expect_http) and
-- the server's health (migrun.expect_health)

--- expect.http { url =, status =, body_contains =, json =, within = }: see migrun.expect_http
function M.http(opts)
  local at = caller()
  return new("http", at, require("migrun.expect_http").new(opts, at))
end

--- expect.pgtap(glob [, {schema =}]): pgTAP test files, every assertion reported; see
-- migrun.expect_pgtap
function M.pgtap(glob, opts)
  local at = caller()
  return new("pgtap", at, require("migrun.expect_pgtap").new(at, glob, opts))
end

-- their kinds load with them, at the first expectation of the kind
local KIND_MODULES = { http = "migrun.expect_http", pgtap = "migrun.expect_pgtap" }
setmetatable(kinds, { __index = function(t, kind)
  local m = KIND_MODULES[kind]
  if not m then return nil end
  local k = require(m).kind
  rawset(t, kind, k)
  return k
end })

for name, h in pairs(require("migrun.expect_health").kinds) do
  --- expect.no_long_transactions, idle_in_transaction, connections, no_blocked_sessions,
  -- replication_lag, extension: see migrun.expect_health
  M[name] = function(...)
    local at = caller()
    return new(name, at, h.new(at, ...))
  end
  kinds[name] = declarative(h.kind)
end

---------------------------------------------------------------------------------------------
-- the common interface

--- e:describe() -> one readable line for plan and report, e.g. "count(tools) = 150"
function Expectation:describe()
  if self.label then return self.label .. ": " .. kinds[self.kind].describe(self) end
  return kinds[self.kind].describe(self)
end

--- e:as(label) -> e, labelled for plans and reports (a runbook's "Q1.1 tables remain")
function Expectation:as(label)
  if type(label) ~= "string" or label == "" then
    bad({ file = self.file, line = self.line }, "expect:as: the label must be a non-empty string")
  end
  self.label = label
  return self
end

--- e:check(ctx) -> ok, actual, expected; ctx = {db, before, dir, conninfo, env}
function Expectation:check(ctx)
  return kinds[self.kind].check(self, ctx)
end

--- e:has(flag) -> true when its kind carries the flag: "needs_baseline" (compares with the
-- run-start snapshot), "outside_transaction" (cannot see an open transaction's work),
-- "may_write" (runs the user's own SQL or Lua, so it is checked under a savepoint)
function Expectation:has(flag)
  return kinds[self.kind][flag] == true
end

--- e:expected() -> what it expects, for a report when its check could not run
function Expectation:expected()
  local f = kinds[self.kind].expected
  if f then return f(self) end
  return kinds[self.kind].describe(self)
end

--- e:tables() -> names of the tables it reads (for the before/after snapshot)
function Expectation:tables()
  local f = kinds[self.kind].tables
  return f and f(self) or {}
end

--- e:fingerprints() -> names of the tables whose run-start fingerprint it needs
function Expectation:fingerprints()
  local f = kinds[self.kind].fingerprints
  return f and f(self) or {}
end

--- e:missing_files(dir) -> a message when the files it reads (from dir, the playbook's) are not
-- there, else nil: a playbook is refused when it loads, before a phase runs for nothing
function Expectation:missing_files(dir)
  local f = kinds[self.kind].missing_files
  return f and f(self, dir) or nil
end

Expectation.__tostring = function(e) return "expect." .. e:describe() end

--- expect.is(x) -> true for an expectation
function M.is(x)
  return getmetatable(x) == Expectation
end

--- expect.snapshot_plan(list) -> tables, {fingerprint = set}: the arguments of
-- snapshot.take that serve these expectations (delta and unchanged need the run start)
function M.snapshot_plan(list)
  local seen, tables, fps = {}, {}, {}
  for _, e in ipairs(list or {}) do
    for _, t in ipairs(e:tables()) do
      if not seen[t] then seen[t] = true; tables[#tables + 1] = t end
    end
    for _, t in ipairs(e:fingerprints()) do fps[t] = true end
  end
  return tables, { fingerprint = fps }
end

local ABORTED = { inerror = true, broken = true, closed = true, unknown = true }

local function first_line(err)
  return (tostring(errors.wrap(err)):match("[^\n]*"))
end

-- Run one check. Inside an open transaction it runs under a savepoint that is always
-- rolled back: a failing query cannot abort the caller's transaction, and a check leaves
-- nothing behind.
local function run_one(ctx, e)
  local db = ctx.db
  -- ctx.savepoints = false: the caller gives up on its transaction when a check raises, so a
  -- built-in check (read-only by construction) skips the savepoint's two round trips. The
  -- user's own SQL (query) and Lua (that) may write: they always run under one, rolled back.
  local isolate = ctx.savepoints ~= false or e:has("may_write")
  if db and isolate and db:status() == "intrans" and not e:has("outside_transaction") then
    local tx = db:begin()
    local res = table.pack(pcall(e.check, e, ctx))
    local rok, rerr = pcall(tx.rollback, tx)
    if res[1] and not rok then return false, rerr end
    return table.unpack(res, 1, res.n)
  end
  return pcall(e.check, e, ctx)
end

-- The savepoints of a batch inside a transaction: one around the whole pipeline, one around
-- each user query in it
local BATCH_SP, QUERY_SP = "migrun_checks", "migrun_check"

-- e's pipeline item ({sql, params..., n = count}), or nil when it runs by itself (check()).
-- The user's SQL joins a batch only when the caller says its transaction is read only
-- (ctx.read_only): elsewhere it may write, and runs alone under its savepoint.
local function batch_item(ctx, e, in_tx)
  local k = kinds[e.kind]
  if not (k.sql and k.judge) then return nil end
  if e:has("may_write") and not (ctx.read_only and in_tx) then return nil end
  local got = table.pack(pcall(k.sql, e, ctx))
  if not got[1] or got[2] == nil then return nil end -- a failing sql(): check() says how
  for i = 2, got.n do
    -- a NUL byte would make conn:batch refuse every item: this one fails alone, as ever
    if type(got[i]) == "string" and got[i]:find("\0", 1, true) then return nil end
  end
  return table.pack(table.unpack(got, 2, got.n))
end

-- Send entries ({i =, item =, wrap =}) in one pipeline -> answers[i] = {res = result} |
-- {err = error}. A failing item aborts the items after it: it keeps its error and the others
-- go again in the next pipeline (one flight per failing item). Inside a transaction the
-- pipeline runs under a savepoint, and the next one starts by rolling back to it; outside,
-- each pipeline is a transaction of its own. A user query (wrap) runs under a savepoint of
-- its own, rolled back, as it does alone: what it changes (a setting) stays its own. Raises
-- what is not one item's SQL error (a lost connection, an interrupt).
local function run_batch(db, entries, in_tx)
  local answers, pending = {}, { table.unpack(entries) }
  local head = in_tx and "SAVEPOINT " .. BATCH_SP or nil
  while #pending > 0 do
    local list, owner = { head }, {}
    for p, en in ipairs(pending) do
      local function add(item)
        list[#list + 1] = item
        owner[#list] = p
      end
      if en.wrap then add("SAVEPOINT " .. QUERY_SP) end
      add(en.item)
      en.at = #list
      if en.wrap then
        add("ROLLBACK TO SAVEPOINT " .. QUERY_SP)
        add("RELEASE SAVEPOINT " .. QUERY_SP)
      end
    end
    if in_tx then list[#list + 1] = "RELEASE SAVEPOINT " .. BATCH_SP end
    local ok, res = pcall(db.batch, db, list)
    if ok then
      for _, en in ipairs(pending) do answers[en.i] = { res = res[en.at] } end
      return answers
    end
    local p = errors.is_sql(res) and owner[res.index]
    if not p or db:status() ~= (in_tx and "inerror" or "idle") then error(res, 0) end
    res.index = nil                                  -- a place in this pipeline, not the list's
    answers[pending[p].i] = { err = res }
    table.remove(pending, p)
    head = in_tx and "ROLLBACK TO SAVEPOINT " .. BATCH_SP or nil
  end
  -- the last item sent failed: nothing is left to send but the way back
  if in_tx then
    db:exec("ROLLBACK TO SAVEPOINT " .. BATCH_SP .. "; RELEASE SAVEPOINT " .. BATCH_SP)
  end
  return answers
end

-- Answer list[i] and the declarative checks after it in one batch, filing answers[j] (false:
-- j runs by itself). Outside a transaction a batch stops at a check that runs by itself and
-- may write (it commits what it writes: the checks after it must see it).
local function batch_from(ctx, list, i, answers)
  local status = ctx.db:status()
  local in_tx = status == "intrans"
  local entries = {}
  for j = i, #list do
    local e = list[j]
    local item = (in_tx or status == "idle") and batch_item(ctx, e, in_tx)
    if item then
      entries[#entries + 1] = { i = j, item = item, wrap = e:has("may_write") }
    elseif j > i and not in_tx and e:has("may_write") then
      break
    else
      answers[j] = false
    end
  end
  if #entries == 0 then return end
  for j, a in pairs(run_batch(ctx.db, entries, in_tx)) do answers[j] = a end
end

-- a pipeline item's parameter as an SQL literal, as conn:batch would have sent it as text
local function literal(db, v)
  if v == nil then return "NULL" end
  if type(v) == "boolean" then return v and "'true'" or "'false'" end
  if math.type(v) == "float" then
    v = v ~= v and "NaN" or v == math.huge and "Infinity" or v == -math.huge and "-Infinity"
        or string.format("%.17g", v)
  end
  return db:quote_literal(tostring(v))
end

local prepared = 0                                   -- names of the statements prefetch prepares

--- expect.prefetch(ctx, list) -> sql, count, take | nil. The built-in checks of list that
-- would go in one pipeline, as statements for the caller to send right after its own last
-- statement, in the same flight (conn:send_all), inside its open transaction and under a
-- savepoint: `count` statements. A check with parameters is PREPAREd and EXECUTEd (the
-- parameters as literals, typed as the pipeline would type them). take(results, from) reads
-- them from the flight's results (from = the position of the first of them) -> the answers
-- for check_all(ctx, list, answers); when one failed, it rolls back to the savepoint (the
-- checks after it did not run: check_all runs them as ever).
function M.prefetch(ctx, list)
  local db = ctx.db
  local parts, entries = { "SAVEPOINT " .. BATCH_SP }, {}
  for i, e in ipairs(list or {}) do
    local item = kinds[e.kind].sql and batch_item(ctx, e, true)
    if item then
      local en = { i = i, first = #parts + 1 }
      if item.n > 1 then
        prepared = prepared + 1
        local name = "migrun_check_" .. prepared
        local args = {}
        for k = 2, item.n do args[k - 1] = literal(db, item[k]) end
        parts[#parts + 1] = "PREPARE " .. name .. " AS " .. item[1]
        parts[#parts + 1] = "EXECUTE " .. name .. "(" .. table.concat(args, ", ") .. ")"
        en.at = #parts
        parts[#parts + 1] = "DEALLOCATE " .. name
      else
        parts[#parts + 1] = item[1]
        en.at = #parts
      end
      en.last = #parts
      entries[#entries + 1] = en
    end
  end
  if #entries == 0 then return nil end
  parts[#parts + 1] = "RELEASE SAVEPOINT " .. BATCH_SP
  local function take(results, from)
    local answers, failed = {}, results.failed and results.failed - from + 1
    for _, en in ipairs(entries) do
      if failed and failed >= en.first and failed <= en.last then
        answers[en.i] = { err = results[results.failed] }
      elseif not failed or failed > en.last then
        answers[en.i] = { res = results[from + en.at - 1] }
      end
    end
    if failed then
      db:exec("ROLLBACK TO SAVEPOINT " .. BATCH_SP .. "; RELEASE SAVEPOINT " .. BATCH_SP)
    end
    return answers
  end
  return table.concat(parts, ";\n"), #parts, take
end

--- expect.check_all(ctx, list) -> {{expectation, ok, actual, expected, description, kind,
-- file, line [, error]}, ...}: runs every check. One that raises is a failed result whose
-- actual is the error's first line; the error is raised again (with .results attached)
-- only when the connection can go on no more (transaction aborted, connection lost), on an
-- interrupt, or, under ctx.savepoints = false, when a built-in check fails inside a
-- transaction (it would have aborted it). The declarative checks go in one pipeline
-- (conn:batch) and are judged in the list's order; ctx.read_only = true (the caller's
-- transaction is READ ONLY) lets the user's single-statement queries join it. prefetched:
-- answers expect.prefetch's take() read.
function M.check_all(ctx, list, prefetched)
  local results, answers = {}, prefetched or {}
  local db = ctx.db
  for i, e in ipairs(list or {}) do
    local r = { expectation = e, kind = e.kind, file = e.file, line = e.line }
    local dok, desc = pcall(e.describe, e)
    r.description = dok and desc or e.kind
    results[#results + 1] = r
    local k = kinds[e.kind]
    if answers[i] == nil and k.sql and db and db.batch then
      local bok, berr = pcall(batch_from, ctx, list, i, answers)
      if not bok then
        r.ok, r.actual, r.error, r.expected = false, first_line(berr), berr, e:expected()
        if type(berr) == "table" then berr.results = results end
        error(berr, 0)
      end
    end
    local a = answers[i]
    local pok, ok, actual, expected, details
    if a and a.res then
      pok, ok, actual, expected = pcall(k.judge, e, a.res, ctx)
    elseif a and a.err and not (k.recheck and k.recheck(a.err)) then
      pok, ok = false, a.err
    else
      pok, ok, actual, expected, details = run_one(ctx, e)
    end
    if pok and ok == M.NOT_CHECKED then
      r.ok, r.not_checked, r.actual, r.expected = false, actual, "not checked: " .. actual, expected
    elseif pok then
      r.ok, r.actual, r.expected, r.details = ok and true or false, actual, expected, details
    else
      local err = ok
      r.ok, r.actual, r.error, r.expected = false, first_line(err), err, e:expected()
      local status = db and db:status()
      -- alone, without a savepoint, this batched check's error would have aborted the
      -- transaction; the batch rolled back to its own savepoint instead
      local would_abort = a and a.err == err and ctx.savepoints == false and
                          status == "intrans" and not e:has("may_write")
      if errors.is(err, "interrupted") or (status and ABORTED[status]) or would_abort then
        if type(err) == "table" then err.results = results end
        error(err, 0)
      end
    end
  end
  return results
end

-- a typo in a playbook (`expect.cuont`) says so where it was written, with the closest name,
-- instead of "attempt to call a nil value"
setmetatable(M, { __index = function(_, k)
  local names = {}
  for name, v in pairs(M) do
    if type(v) == "function" and not name:find("^_") then names[#names + 1] = name end
  end
  table.sort(names)
  local info = debug.getinfo(2, "Sl") or {}
  local src = info.source or ""
  errors.raise("playbook", string.format("unknown expectation expect.%s%s", tostring(k),
    text.did_you_mean(tostring(k), names)),
    { file = src:sub(1, 1) == "@" and src:sub(2) or nil, line = info.currentline })
end })

return M
