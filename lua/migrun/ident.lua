--- migrun.ident: table names as data, not SQL (policy layer; calls db:quote_ident only).
-- A name is taken literally: "Users" is the table named Users, never folded to users.
-- Forms: "table", "schema.table", '"My.Schema"."Order Items"' (double quotes only where a
-- part holds a dot or a quote; "" inside quotes is one "), or a list {schema, table}.
local errors = require "migrun.errors"

local M = {}

local mt = { __name = "migrun.ident" }

--- ident.split(s) -> {part, ...} | nil, message: the dot-separated parts of a name
function M.split(s)
  if type(s) ~= "string" then return nil, "a name must be a string, got " .. type(s) end
  local parts, i, n = {}, 1, #s
  while true do
    local part
    if s:sub(i, i) == '"' then
      local buf, j = {}, i + 1
      while true do
        local q = s:find('"', j, true)
        if not q then return nil, string.format("unterminated quoted name in %q", s) end
        buf[#buf + 1] = s:sub(j, q - 1)
        if s:sub(q + 1, q + 1) == '"' then
          buf[#buf + 1] = '"'
          j = q + 2
        else
          i = q + 1
          break
        end
      end
      part = table.concat(buf)
      if i <= n and s:sub(i, i) ~= "." then
        return nil, string.format("unexpected text after a quoted name in %q", s)
      end
    else
      local dot = s:find(".", i, true) or n + 1
      part = s:sub(i, dot - 1)
      if part:find('"', 1, true) then
        return nil, string.format("a double quote inside an unquoted name in %q " ..
                                  "(quote the whole part: \"a\"\"b\")", s)
      end
      i = dot
    end
    if part == "" then return nil, string.format("empty name part in %q", s) end
    if #part > 63 then
      return nil, string.format("%q is %d bytes long: PostgreSQL names hold at most 63 (it would " ..
                                "cut it silently, and two long names could become one)", part, #part)
    end
    parts[#parts + 1] = part
    if i > n then return parts end
    i = i + 1                                        -- past the dot
    if i > n then return nil, string.format("empty name part in %q", s) end
  end
end

local function make(schema, name)
  return setmetatable({ schema = schema, name = name }, mt)
end

-- A run asks for the same few names thousands of times (snapshot keys, quoting, messages):
-- each string is parsed once, and a parsed name is never changed, so it can be shared.
local parsed = setmetatable({}, { __mode = "v" })   -- name string -> its parse
local shown = setmetatable({}, { __mode = "k" })    -- parse -> its display text

--- ident.check(name) -> {schema=?, name=} | nil, message (never raises)
function M.check(x)
  if getmetatable(x) == mt then return x end
  local p = parsed[x]
  if p then return p end
  if type(x) == "table" then
    local schema, name
    if x.name ~= nil then
      schema, name = x.schema, x.name
    elseif #x == 2 then
      schema, name = x[1], x[2]
    elseif #x == 1 then
      name = x[1]
    else
      return nil, "a table given as a list must be {schema, table} or {table}"
    end
    if type(name) ~= "string" or name == "" then
      return nil, "a table name must be a non-empty string"
    end
    if schema ~= nil and (type(schema) ~= "string" or schema == "") then
      return nil, "a schema name must be a non-empty string"
    end
    for _, part in ipairs({ schema or "", name }) do
      if #part > 63 then
        return nil, string.format("%q is %d bytes long: PostgreSQL names hold at most 63", part, #part)
      end
    end
    return make(schema, name)
  end
  local parts, err = M.split(x)
  if not parts then return nil, err end
  if #parts <= 2 then
    p = #parts == 1 and make(nil, parts[1]) or make(parts[1], parts[2])
    parsed[x] = p
    return p
  end
  return nil, string.format("%q has %d parts; a table is \"table\" or \"schema.table\" " ..
                            "(quote a part that holds a dot)", x, #parts)
end

--- ident.parse(name [, level]) -> {schema=?, name=}; raises migrun.error{kind="playbook"}
function M.parse(x, level)
  local p, err = M.check(x)
  if not p then errors.raise("playbook", err, nil, (level or 1) + 1) end
  return p
end

--- ident.is(x) -> true for a parsed name
function M.is(x)
  return getmetatable(x) == mt
end

-- quoted when it holds anything but letters, digits, _ and $ (a dot or quote must be)
local function show(part)
  if part:find('[^%w_$\128-\255]') then return '"' .. part:gsub('"', '""') .. '"' end
  return part
end

--- ident.display(name) -> readable text that ident.parse reads back to the same name
function M.display(x)
  local p = M.parse(x, 2)
  local text = shown[p]
  if not text then
    text = p.schema and (show(p.schema) .. "." .. show(p.name)) or show(p.name)
    shown[p] = text
  end
  return text
end
mt.__tostring = M.display

--- ident.key(name) -> the canonical string for a name (snapshot keys, sets)
M.key = M.display

--- ident.quote(db, name) -> SQL text: "schema"."table" or "table", quoted by the server's rules
function M.quote(db, x)
  local p = M.parse(x, 2)
  if p.schema then return db:quote_ident(p.schema) .. "." .. db:quote_ident(p.name) end
  return db:quote_ident(p.name)
end

--- ident.oid(db, name) -> the relation's oid (integer), or nil when it does not exist
-- (an unqualified name follows search_path, as it would in SQL)
function M.oid(db, x)
  return db:query("SELECT to_regclass($1)::oid AS oid", M.quote(db, x))[1].oid
end

return M
