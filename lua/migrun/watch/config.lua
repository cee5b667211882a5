--- migrun.watch.config: `watch "name" { ... }` read and checked while the playbook loads
-- (policy layer). Strict option names with a "did you mean", durations, percentages, sizes and
-- limits parsed once; the thresholds kept in the shape the reports draw ({figure = {max=}}).
-- Uses the DSL's helpers (fail, check_keys, parse_duration) and migrun.expect only.
local M = {}

local KEYS = { duration = "string|number", every = "string|number", slower = "string|table",
               rollback_rate = "string|table", deadlocks = "number|table", temp_bytes = "string|number|table",
               connections = "number|table", lock_waits = "number|table", expect = "table",
               on_breach = "string" }
local POLICIES = { "alert", "rollback", "stop" }

--- config.DEFAULT_MIN_CALLS: slower compares queries called at least this often (both before
-- the migration and in the window)
M.DEFAULT_MIN_CALLS = 100

-- "50%" -> 50
local function percent(at, h, what, v)
  local n = type(v) == "string" and tonumber(v:match("^%s*([%d%.]+)%s*%%%s*$"))
  if not n then h.fail(at, "%s must be a percentage written like \"2%%\", not %s", what, tostring(v)) end
  return n
end

local SIZE = { B = 1, kB = 1024, KB = 1024, MB = 1024 ^ 2, GB = 1024 ^ 3, TB = 1024 ^ 4 }

-- 1048576 | "1GB" | "500MB" | "64kB" (PostgreSQL's units: 1024-based) -> bytes
local function size(at, h, what, v)
  if math.type(v) == "integer" and v >= 0 then return v end
  local n, unit = tostring(v):match("^%s*([%d%.]+)%s*(%a*)%s*$")
  local f = unit and (unit == "" and 1 or SIZE[unit])
  if not (n and f) then
    h.fail(at, "%s must be bytes or a size like \"1GB\", \"500MB\", \"64kB\", not %s", what, tostring(v))
  end
  return math.floor(tonumber(n) * f)
end

-- N | { max = N [, min = M] } -> {max =, min =}: whole numbers, at least 0; max_only: a count
-- where too few is never a problem (deadlocks) takes no min
local function limits(at, h, what, v, max_only)
  local t = type(v) == "table" and v or { max = v }
  for k, x in pairs(t) do
    if max_only and k ~= "max" then
      h.fail(at, "%s is N or { max = N }, not %s", what, tostring(k))
    elseif k ~= "max" and k ~= "min" then
      h.fail(at, "%s takes max = N and min = N, not %s%s", what, tostring(k),
             require("migrun.text").did_you_mean(tostring(k), { "max", "min" }))
    end
    if math.type(x) ~= "integer" or x < 0 then
      h.fail(at, "%s: %s must be a whole number >= 0, not %s", what, k, tostring(x))
    end
  end
  if t.max == nil and t.min == nil then h.fail(at, "%s needs max = N (or min = N)", what) end
  return { max = t.max, min = t.min }
end

--- config.new(name, t, at, h) -> a watch {kind = "watch", name, ...}; raises kind="playbook"
-- at the playbook's line. h: the DSL's fail, check_keys, parse_duration and is_expectation.
function M.new(name, t, at, h)
  if type(name) ~= "string" or name == "" then h.fail(at, "watch: expects a name") end
  local what = string.format("watch '%s'", name)
  if type(t) ~= "table" then h.fail(at, "%s: expects a table { duration = ..., every = ... }", what) end
  h.check_keys(at, what, t, KEYS)
  if t.duration == nil then
    h.fail(at, "%s: needs duration = \"30m\" (how long to watch after the last phase)", what)
  end
  for _, k in ipairs({ "duration", "every" }) do
    if type(t[k]) == "number" then
      h.fail(at, "%s: %s is a duration with its unit, like \"30m\" or \"15s\", not the number %s", what, k,
             tostring(t[k]))
    end
  end
  local w = { kind = "watch", name = name, file = at.file, line = at.line,
              duration = tostring(t.duration), every = t.every and tostring(t.every),
              on_breach = t.on_breach or "stop", expectations = {}, thresholds = {} }
  w.duration_ns = h.parse_duration(at, what .. ": duration", t.duration)
  -- every 15 s by default; a window shorter than that is sampled at its end
  w.every_ns = t.every and h.parse_duration(at, what .. ": every", t.every) or math.min(15e9, w.duration_ns)
  w.every = w.every or (w.every_ns == 15e9 and "15s" or w.duration)
  if w.duration_ns <= 0 or w.every_ns <= 0 then h.fail(at, "%s: duration and every must be more than 0", what) end
  if w.every_ns > w.duration_ns then
    h.fail(at, "%s: every (%s) is longer than the window (%s)", what, w.every, w.duration)
  end
  local ok = false
  for _, p in ipairs(POLICIES) do ok = ok or p == w.on_breach end
  if not ok then
    h.fail(at, "%s: on_breach must be \"rollback\", \"alert\" or \"stop\", not %q%s", what, w.on_breach,
           require("migrun.text").did_you_mean(w.on_breach, POLICIES))
  end
  local th = w.thresholds
  if t.slower ~= nil then
    local s = type(t.slower) == "table" and t.slower or { queries = t.slower }
    for k in pairs(s) do
      if k ~= "queries" and k ~= "min_calls" then
        h.fail(at, "%s: slower takes queries = \"50%%\" and min_calls = N, not %s%s", what, tostring(k),
               require("migrun.text").did_you_mean(tostring(k), { "queries", "min_calls" }))
      end
    end
    if s.queries == nil then h.fail(at, "%s: slower needs queries = \"50%%\"", what) end
    local mc = s.min_calls or M.DEFAULT_MIN_CALLS
    if math.type(mc) ~= "integer" or mc < 1 then
      h.fail(at, "%s: slower.min_calls must be a whole number >= 1, not %s", what, tostring(mc))
    end
    w.slower = { pct = percent(at, h, what .. ": slower.queries", s.queries), min_calls = mc, text = s.queries }
    th.slower_pct = { max = w.slower.pct, min_calls = mc }
  end
  if t.rollback_rate ~= nil then
    local v = t.rollback_rate
    if type(v) == "table" then
      for k in pairs(v) do
        if k ~= "max" then
          h.fail(at, "%s: rollback_rate is \"2%%\" or { max = \"2%%\" }, not %s", what, tostring(k))
        end
      end
      v = v.max
    end
    w.rollback_rate = percent(at, h, what .. ": rollback_rate", v)
    th.rollback_rate_pct = { max = w.rollback_rate }
  end
  if t.deadlocks ~= nil then
    w.deadlocks = limits(at, h, what .. ": deadlocks", t.deadlocks, true)
    th.deadlocks = w.deadlocks
  end
  if t.temp_bytes ~= nil then
    local v = t.temp_bytes
    if type(v) == "table" then
      for k in pairs(v) do
        if k ~= "max" then
          h.fail(at, "%s: temp_bytes is \"1GB\" or { max = \"1GB\" }, not %s", what, tostring(k))
        end
      end
      v = v.max
    end
    w.temp_bytes = size(at, h, what .. ": temp_bytes", v)
    w.temp_bytes_text = tostring(v)
    th.temp_bytes = { max = w.temp_bytes }
  end
  if t.connections ~= nil then
    w.connections = limits(at, h, what .. ": connections", t.connections)
    th.connections = w.connections
  end
  if t.lock_waits ~= nil then
    w.lock_waits = limits(at, h, what .. ": lock_waits", t.lock_waits)
    th.lock_waits = w.lock_waits
  end
  -- expectations: in expect = { ... }, or in the list part as DESIGN.md writes them
  local list = {}
  for _, e in ipairs(t.expect or {}) do list[#list + 1] = e end
  for _, e in ipairs(t) do list[#list + 1] = e end
  for i, e in ipairs(list) do
    if not h.is_expectation(e) then
      h.fail(at, "%s: item %d of its expectations is not an expectation (expect.*)", what, i)
    end
    w.expectations[#w.expectations + 1] = e
  end
  if #w.expectations > 0 then th.expect_failed = { max = 0 } end
  return w
end

--- config.add(pb, w, fail): a watch joins the playbook's windows (in the order written); the
-- phases and gates never see it
function M.add(pb, w, fail)
  pb.watches = pb.watches or {}
  for _, o in ipairs(pb.watches) do
    if o.name == w.name then
      fail({ file = w.file, line = w.line }, "playbook '%s': two watches named '%s' (lines %d and %d)", pb.name,
           w.name, o.line, w.line)
    end
  end
  pb.watches[#pb.watches + 1] = w
end

--- config.min_calls(pb) -> the smallest slower.min_calls of the playbook's watches (nil: none
-- has slower); the baseline keeps the queries called at least that often
function M.min_calls(pb)
  local m
  for _, w in ipairs(pb.watches or {}) do
    local mc = w.slower and w.slower.min_calls or M.DEFAULT_MIN_CALLS
    m = math.min(m or mc, mc)
  end
  return m
end

return M
