--- migrun.json: JSON as migrun writes it (policy layer over lua-cjson). One rule that
-- lua-cjson 2.1 lacks: a table marked as a list stays a list when empty ([] not {}), so a
-- field has one type in every document and event.
local cjson = require "cjson"

local M = {}

local LISTS = setmetatable({}, { __mode = "k" })
local EMPTY = "migrun-empty-list-c0d1f1ed"

--- json.array(t) -> t, marked as a list (encoded [] when empty)
function M.array(t)
  t = t or {}
  LISTS[t] = true
  return t
end

local function fix(x)
  if type(x) ~= "table" then return x end
  if LISTS[x] and next(x) == nil then return EMPTY end
  local o = {}
  for k, v in pairs(x) do o[k] = fix(v) end
  return o
end

--- json.encode(v) -> text
function M.encode(v)
  return (cjson.encode(fix(v)):gsub('"' .. EMPTY:gsub("%p", "%%%0") .. '"', "[]"))
end

M.decode = cjson.decode
M.null = cjson.null

return M
