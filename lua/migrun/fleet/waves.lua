--- migrun.fleet.waves: how a fleet's targets are cut into waves (policy layer; pure, no I/O).
-- A wave size is a count (1, 5), a percentage of all the targets ("10%", at least 1), or
-- "rest" (every target left; only as the last entry). Targets left after the listed sizes go
-- in further waves of the last size, so { 1, 10 } is a canary and then tens.
local M = {}

--- waves.check(spec) -> nil | message: what is wrong with a `waves` list, for the fleet DSL
function M.check(spec)
  if type(spec) ~= "table" or #spec == 0 then
    return "waves must be a list of sizes, e.g. { 1, \"10%\", \"rest\" }"
  end
  for i, s in ipairs(spec) do
    if math.type(s) == "integer" then
      if s < 1 then return string.format("wave %d: a size is at least 1, not %d", i, s) end
    elseif type(s) == "string" and s:match("^%d+%.?%d*%%$") then
      local p = tonumber(s:sub(1, -2))
      if p <= 0 or p > 100 then return string.format("wave %d: %s is not a percentage in (0, 100]", i, s) end
    elseif s == "rest" then
      if i ~= #spec then return string.format("wave %d: \"rest\" takes every target left, so it comes last", i) end
    else
      return string.format("wave %d: %s is not a size (a count such as 1, a percentage such as " ..
                           "\"10%%\", or \"rest\")", i, type(s) == "string" and string.format("%q", s) or tostring(s))
    end
  end
  for k in pairs(spec) do
    if math.type(k) ~= "integer" or k < 1 or k > #spec then
      return "waves must be a plain list of sizes (no keys)"
    end
  end
  return nil
end

local function size_of(s, total)
  if s == "rest" then return math.huge end
  if type(s) == "string" then return math.max(1, math.floor(total * tonumber(s:sub(1, -2)) / 100)) end
  return s
end

--- waves.plan(n, spec) -> { {first, last}, ... }: target indices 1..n cut into waves, in order
function M.plan(n, spec)
  local list, first, i = {}, 1, 1
  while first <= n do
    local s = spec[math.min(i, #spec)]
    local last = math.min(n, first + size_of(s, n) - 1)
    list[#list + 1] = { first = first, last = last }
    first, i = last + 1, i + 1
  end
  return list
end

--- waves.describe(spec) -> "1, 10%, rest"
function M.describe(spec)
  local parts = {}
  for i, s in ipairs(spec) do parts[i] = tostring(s) end
  return table.concat(parts, ", ")
end

return M
