--- migrun.clock: monotonic time (ns) from the C core, and durations as people write them.
local core = require "migrun.core.clock"

local M = { now = core.now, since = core.since, sleep = core.sleep }

local UNIT = { ns = 1, us = 1e3, ms = 1e6, s = 1e9, m = 60e9, min = 60e9, h = 3600e9 }

--- clock.parse("400ms" | "2s" | "1m30s" | "1.5h") -> nanoseconds | nil, message
function M.parse(s)
  if math.type(s) == "integer" then return s end
  if type(s) ~= "string" or not s:find("%S") then
    return nil, string.format("not a duration: %s (write it like 400ms, 2s, 5m)", tostring(s))
  end
  local total, pos = 0, 1
  s = s:gsub("%s+", "")
  while pos <= #s do
    local num, unit, nxt = s:match("^(%d+%.?%d*)(%a+)()", pos)
    if not num or not UNIT[unit] then
      return nil, string.format("not a duration: %q (write it like 400ms, 2s, 5m)", s)
    end
    total = total + tonumber(num) * UNIT[unit]
    pos = nxt
  end
  return math.floor(total + 0.5)
end

--- clock.format(ns) -> "850us", "234ms", "1.52s", "3m04s", "1h02m"
function M.format(ns)
  if ns < 1e6 then return string.format("%dus", ns // 1000) end
  if ns < 1e9 then return string.format("%dms", ns // 1000000) end
  if ns < 60e9 then return string.format("%.2fs", ns / 1e9) end
  if ns < 3600e9 then
    local s = ns // 1000000000
    return string.format("%dm%02ds", s // 60, s % 60)
  end
  local m = ns // 60000000000
  return string.format("%dh%02dm", m // 60, m % 60)
end

return M
