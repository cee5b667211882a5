--- migrun.errors: the one error shape of migrun (policy layer).
-- Every failure is a table with a `kind` ("sql", "connection", "environment", "usage",
-- "playbook", "expectation", "io", "interrupted", ...) and a `message`; SQL errors add
-- sqlstate, severity, detail, hint, position, where and, once mapped, file/line/col.
-- The metatable is created by the C core (so C can raise these too); this fills it in.
local core = require "migrun.core.db"

local M = {}
local mt = core.error_mt
M.mt = mt

local function location(e)
  if not e.file then return "" end
  local s = e.file
  if e.line then
    s = s .. ":" .. e.line
    if e.col then s = s .. ":" .. e.col end
  end
  return s .. ": "
end

mt.__tostring = function(e)
  local parts = {}
  if e.kind == "sql" then
    parts[1] = string.format("%s%s %s: %s", location(e), e.severity or "ERROR",
                             e.sqlstate or "?????", e.message or "")
    if e.detail then parts[#parts + 1] = "DETAIL: " .. e.detail end
    if e.hint then parts[#parts + 1] = "HINT: " .. e.hint end
    local context = e.context or e.where
    if context then parts[#parts + 1] = "CONTEXT: " .. context:gsub("\n", "\n  ") end
  elseif e.kind == "connection" then
    local target = ""
    if e.host or e.dbname then
      target = string.format(" to %s@%s:%s/%s", e.user or "?", e.host or "?", e.port or "?",
                             e.dbname or "?")
    end
    parts[1] = string.format(e.lost and "lost the connection%s: %s" or "cannot connect%s: %s",
                             target, e.message or "")
    if e.hint then parts[#parts + 1] = "HINT: " .. e.hint end
  else
    parts[1] = location(e) .. (e.message or e.kind or "error")
    if e.hint then parts[#parts + 1] = "HINT: " .. e.hint end
  end
  return table.concat(parts, "\n")
end

--- errors.new(kind, message [, fields]) -> a migrun.error (not raised)
function M.new(kind, message, fields)
  local e = fields or {}
  e.kind, e.message = kind, message
  return setmetatable(e, mt)
end

--- errors.raise(kind, message [, fields [, level]]): raise a migrun.error
function M.raise(kind, message, fields, level)
  error(M.new(kind, message, fields), level or 2)
end

--- errors.is(e [, kind]) -> true when e is a migrun.error (of that kind)
function M.is(e, kind)
  return getmetatable(e) == mt and (kind == nil or e.kind == kind)
end

--- errors.is_sql(e [, sqlstate]) -> true for an SQL error (with that SQLSTATE)
function M.is_sql(e, sqlstate)
  return M.is(e, "sql") and (sqlstate == nil or e.sqlstate == sqlstate)
end

-- a table someone raised with error({ ... }): its message, else its fields, never "table: 0x.."
local function describe_table(t)
  if type(t.message) == "string" then return t.message end
  if type(t.msg) == "string" then return t.msg end
  if type(t[1]) == "string" and next(t, #t > 0 and #t or nil) == nil then return table.concat(t, " ") end
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = tostring(k) .. " = " .. tostring(v) end
  table.sort(parts)
  return "error { " .. table.concat(parts, ", ") .. " }"
end

--- errors.text(e) -> what anything raised says, readably (a table raised by error{...} too)
function M.text(e)
  if M.is(e) then return tostring(e) end
  if type(e) == "table" then
    local emt = getmetatable(e)
    if emt and emt.__tostring then return tostring(e) end
    return describe_table(e)
  end
  return tostring(e)
end

--- errors.wrap(e) -> a migrun.error from anything raised (a string error becomes kind "lua")
function M.wrap(e)
  if M.is(e) then return e end
  return M.new("lua", M.text(e))
end

--- errors.exit_code(e) -> the CLI exit code DESIGN.md gives for an error of this kind
function M.exit_code(e)
  local kind = M.is(e) and e.kind or "lua"
  if kind == "usage" or kind == "playbook" or kind == "drift" or kind == "parse" then return 2 end
  if kind == "connection" or kind == "environment" then return 3 end
  if kind == "declined" then return 4 end
  if kind == "recovery" then return 5 end
  if kind == "interrupted" then return 130 end
  return 1
end

return M
