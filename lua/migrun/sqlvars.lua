--- migrun.sqlvars: psql's variables in SQL text (policy layer, pure Lua over strings).
-- `:name` (the value as it is), `:'name'` (a quoted literal), `:"name"` (a quoted
-- identifier) and `:{?name}` (TRUE when it is set), replaced the way psql does it: never
-- inside quoted strings, E'' strings, quoted identifiers, dollar-quoted bodies or comments,
-- and never a `::` cast, `:=` or a slice bound (`a[1:2]`, `a[lo:hi]` when hi is not set).
-- The DSL calls expand() when it loads SQL; the importers use segments() to find code.
local errors = require "migrun.errors"
local sqlsplit = require "migrun.sqlsplit"

local M = {}

local NAME = "[%a_\128-\255][%w_\128-\255]*"     -- a digit never starts one: `a[1:2]`

-- the index after a quoted string or identifier that opens at i (text:sub(i, i) == q);
-- a doubled quote stays inside; `backslash` (E'' strings) skips the character after a \
local function close_quote(text, i, q, backslash)
  local n, j = #text, i + 1
  local stop = backslash and "[\\" .. q .. "]" or q
  while true do
    local k = text:find(stop, j, not backslash)
    if not k then return n + 1 end
    if text:sub(k, k) == "\\" then
      j = k + 2
    elseif text:sub(k + 1, k + 1) == q then
      j = k + 2
    else
      return k + 1
    end
  end
end

-- the index after a /* */ comment that opens at i (they nest in PostgreSQL)
local function close_comment(text, i)
  local depth, j, n = 1, i + 2, #text
  while depth > 0 do
    local a = text:find("[/*]", j)
    if not a then return n + 1 end
    local two = text:sub(a, a + 1)
    if two == "/*" then
      depth, j = depth + 1, a + 2
    elseif two == "*/" then
      depth, j = depth - 1, a + 2
    else
      j = a + 1
    end
  end
  return j
end

-- One pass over the text: the literal segments (strings, identifiers, dollar bodies,
-- comments) and the variable references in the code between them. A reference is
-- {name, quote = nil | "'" | '"' | "?", first, last, bracket = true inside [ ]}.
local function scan(text)
  local segs, refs = {}, {}
  local n, i, code_from, bracket = #text, 1, 1, 0
  local function literal(kind, first, after)
    if first > code_from then segs[#segs + 1] = { kind = "code", first = code_from, last = first - 1 } end
    segs[#segs + 1] = { kind = kind, first = first, last = math.min(after, n + 1) - 1 }
    code_from = after
    return after
  end
  while i <= n do
    local k = text:find("[-/'\"$:%[%]%a_\128-\255]", i)
    if not k then break end
    local c = text:sub(k, k)
    if c == "-" then
      if text:sub(k + 1, k + 1) == "-" then
        i = literal("comment", k, (text:find("\n", k, true) or n) + 1)
      else
        i = k + 1
      end
    elseif c == "/" then
      if text:sub(k + 1, k + 1) == "*" then i = literal("comment", k, close_comment(text, k)) else i = k + 1 end
    elseif c == "'" then
      i = literal("string", k, close_quote(text, k, "'", false))
    elseif c == '"' then
      i = literal("ident", k, close_quote(text, k, '"', false))
    elseif c == "$" then
      local tag = text:match("^%$[%a_\128-\255][%w_\128-\255]*%$", k) or text:match("^%$%$", k)
      if tag then
        local e = text:find(tag, k + #tag, true)
        i = literal("dollar", k, e and e + #tag or n + 1)
      else
        i = k + 1                                    -- $1, a parameter
      end
    elseif c == "[" then
      bracket, i = bracket + 1, k + 1
    elseif c == "]" then
      bracket, i = math.max(0, bracket - 1), k + 1
    elseif c == ":" then
      local nx = text:sub(k + 1, k + 1)
      local name, last, quote
      if nx == ":" then
        i = k + 2                                    -- a cast: ::type
      else
        if nx == "'" or nx == '"' then
          name = text:match("^" .. NAME .. nx, k + 2)
          if name then name, quote, last = name:sub(1, -2), nx, k + 1 + #name end
        elseif nx == "{" then
          name = text:match("^{%?(" .. NAME .. ")}", k + 1)
          if name then quote, last = "?", k + 3 + #name end
        else
          name = text:match("^" .. NAME, k + 1)
          if name then last = k + #name end
        end
        if name then
          refs[#refs + 1] = { name = name, quote = quote, first = k, last = last, bracket = bracket > 0 }
          i = last + 1
        else
          i = k + 1                                  -- := , a[1:2], a lone colon
        end
      end
    else
      -- a word: E'...' is an escape string; a $ inside a word (a$b) opens no dollar quote
      local word = text:match("^[%a_\128-\255][%w_$\128-\255]*", k)
      local after = k + #word
      if (word == "E" or word == "e") and text:sub(after, after) == "'" then
        i = literal("estring", k, close_quote(text, after, "'", true))
      else
        i = after
      end
    end
  end
  if code_from <= n then segs[#segs + 1] = { kind = "code", first = code_from, last = n } end
  return segs, refs
end

-- Whether text can hold a reference at all: a colon that starts one (:name, :'name', :"name",
-- :{?name}), is not the second of a cast's "::", and is not surely in a -- comment (its line
-- has a -- before it and nothing that opens or closes a literal: ' " $ / *). Cheap, and enough
-- to skip the scan for most SQL (casts, `-- migrun:allow` notes, no variables); a colon inside
-- a literal only makes it scan.
local REF_START = ":[%a_\128-\255'\"{]"
local function may_refer(text)
  local k = text:find(REF_START)
  local line, nl = 1, text:find("\n", 1, true)    -- where k's line starts; the next newline
  while k do
    local colons = 0                                 -- the colons just before: "::" pairs first
    while text:byte(k - 1 - colons) == 58 do colons = colons + 1 end
    if colons % 2 == 0 then
      while nl and nl < k do line, nl = nl + 1, text:find("\n", nl + 1, true) end
      local before = text:sub(line, k - 1)
      if not before:find("--", 1, true) or before:find("['\"$/*]") then return true end
    end
    k = text:find(REF_START, k + 1)
  end
  return false
end

--- sqlvars.segments(text) -> {{kind, first, last}, ...}: the text cut into "code" and the
-- literal kinds "string", "estring", "ident", "dollar" and "comment", in order, covering it all
function M.segments(text)
  return (scan(text))
end

--- sqlvars.refs(text) -> {{name, quote, first, last, line, col}, ...}: the variable
-- references in order (quote: nil for :name, "'" for :'name', '"' for :"name", "?" for
-- :{?name}); a reference inside [ ] has bracket = true (it may be a slice bound)
function M.refs(text)
  local _, refs = scan(text)
  for _, r in ipairs(refs) do r.line, r.col = sqlsplit.position(text, r.first) end
  return refs
end

--- sqlvars.literal(s) -> s as an SQL string literal, as quote_literal() writes it
function M.literal(s)
  s = tostring(s)
  if s:find("\\", 1, true) then return "E'" .. s:gsub("\\", "\\\\"):gsub("'", "''") .. "'" end
  return "'" .. s:gsub("'", "''") .. "'"
end

--- sqlvars.identifier(s) -> s as a quoted SQL identifier, as psql's :"name" writes it
function M.identifier(s)
  return '"' .. tostring(s):gsub('"', '""') .. '"'
end

--- sqlvars.expand(text, vars [, {file =, line =, partial =}]) -> text with every reference
-- replaced. vars: {name = value}. An unknown name raises kind="playbook" naming
-- file:line:col (line counts from o.line, the line the text starts on in its file, default
-- 1); an unknown name inside [ ] is left alone, as psql leaves it: `a[lo:hi]` is a slice.
-- partial = true leaves every unknown name alone (a first pass with some of the values).
function M.expand(text, vars, o)
  if not may_refer(text) then return text end
  local _, refs = scan(text)
  if #refs == 0 then return text end
  vars = vars or {}
  local parts, at = {}, 1
  for _, r in ipairs(refs) do
    local v, rep = vars[r.name], nil
    if r.quote == "?" then
      if v ~= nil or not (o and o.partial) then rep = v ~= nil and "TRUE" or "FALSE" end
    elseif v == nil then
      if not (r.bracket and r.quote == nil) and not (o and o.partial) then
        local line, col = sqlsplit.position(text, r.first)
        local form = r.quote == nil and (":" .. r.name) or (":" .. r.quote .. r.name .. r.quote)
        errors.raise("playbook", string.format("unknown variable %s", form), {
          file = o and o.file, line = line + ((o and o.line) or 1) - 1, col = col, variable = r.name,
          hint = string.format("set it with --set %s=VALUE", r.name) }, 2)
      end
    elseif r.quote == "'" then
      rep = M.literal(v)
    elseif r.quote == '"' then
      rep = M.identifier(v)
    else
      rep = tostring(v)
    end
    if rep then
      parts[#parts + 1] = text:sub(at, r.first - 1)
      parts[#parts + 1] = rep
      at = r.last + 1
    end
  end
  parts[#parts + 1] = text:sub(at)
  return table.concat(parts)
end

return M
