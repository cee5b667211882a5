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

-- x with each empty marked list replaced by EMPTY, and whether one was: the tables on the way
-- to one are copied, every other table is encoded as it is (no copy of a whole ledger row)
local function fix(x)
  if type(x) ~= "table" then return x, false end
  if LISTS[x] and next(x) == nil then return EMPTY, true end
  local copy
  for k, v in pairs(x) do
    local fv, changed = fix(v)
    if changed then
      if not copy then
        copy = {}
        for k2, v2 in pairs(x) do copy[k2] = v2 end
      end
      copy[k] = fv
    end
  end
  return copy or x, copy ~= nil
end

local QUOTED_EMPTY = '"' .. EMPTY:gsub("%p", "%%%0") .. '"'   -- as a pattern

--- json.encode(v) -> text
function M.encode(v)
  local fixed, changed = fix(v)
  local text = cjson.encode(fixed)
  if changed then text = text:gsub(QUOTED_EMPTY, "[]") end
  return text
end

M.decode = cjson.decode
M.null = cjson.null

return M
