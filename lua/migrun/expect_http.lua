--- migrun.expect_http: expect.http, an application endpoint as an expectation (policy layer,
-- over migrun.http). A self-contained kind for migrun.expect to plug in:
--
--   function M.http(opts) local at = caller(); return new("http", at, expect_http.new(opts, at)) end
--   kinds.http = expect_http.kind
--
-- expect.http { url = ..., method = "GET", headers = {...}, body = ..., json_body = {...},
--               status = 200 | {200, 204} | "2xx" (default "2xx"),
--               body_contains = "ok", json = { status = "ok", ["db.connected"] = true },
--               within = "2s" (the request's timeout and the slowest answer that passes;
--                          default: no limit but migrun.http's timeout) }
-- json: each key is a dotted path into the decoded body ("items.1.name": lists count from 1);
-- the value found there must equal the given one (tables compare deeply).
-- The check makes one request (no retries: a watch repeats checks itself) and never raises
-- for what the endpoint did: a timeout, a refusal or a wrong answer is a failed check.
local http = require "migrun.http"
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"

local M = {}

local OPTIONS = { url = true, method = true, headers = true, body = true, json_body = true,
                  status = true, body_contains = true, json = true, within = true, verify = true,
                  cafile = true }

local BODY_SHOWN = 200

local function fail_at(at)
  return function(msg)
    errors.raise("playbook", "expect.http: " .. msg, { file = at.file, line = at.line })
  end
end

-- status: a number, a list of numbers, or "2xx" -> {set = {[n] = true}, text} | {lo, hi, text}
local function status_matcher(fail, s)
  if s == nil then return { lo = 200, hi = 299, text = "2xx" } end
  if math.type(s) == "integer" and s >= 100 and s <= 999 then
    return { set = { [s] = true }, text = tostring(s) }
  end
  if type(s) == "string" and s:find("^[1-5]xx$") then
    local d = tonumber(s:sub(1, 1))
    return { lo = d * 100, hi = d * 100 + 99, text = s }
  end
  if type(s) == "table" and #s > 0 then
    local set, names = {}, {}
    for i, n in ipairs(s) do
      if math.type(n) ~= "integer" or n < 100 or n > 999 then
        fail(string.format("status[%d] must be an HTTP status like 200, got %s", i, tostring(n)))
      end
      set[n] = true
      names[#names + 1] = tostring(n)
    end
    return { set = set, text = table.concat(names, " or ") }
  end
  fail("status must be a number like 200, a list of them or \"2xx\", got " .. tostring(s))
end

local function status_ok(m, status)
  if m.set then return m.set[status] == true end
  return status >= m.lo and status <= m.hi
end

-- a value for expected/actual texts: strings quoted, tables as JSON
local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local ok, s = pcall(json.encode, v)
    return ok and s or tostring(v)
  end
  if v == json.null then return "null" end
  return tostring(v)
end

local function same(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- the value at a dotted path of a decoded document (nil when absent)
local function at_path(doc, path)
  local v = doc
  for seg in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    local nxt = v[seg]
    if nxt == nil and seg:find("^%d+$") then nxt = v[tonumber(seg)] end
    v = nxt
  end
  return v
end

--- expect_http.new(opts, at) -> the fields of an expect.http expectation (a plain table:
-- migrun.expect adds kind, file and line); bad options raise kind "playbook" at `at`
function M.new(opts, at)
  at = at or {}
  local fail = fail_at(at)
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then
    fail("options must be a table {url = ..., status = 200}, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      local names = {}
      for name in pairs(OPTIONS) do names[#names + 1] = name end
      table.sort(names)
      fail("unknown option " .. tostring(k) .. require("migrun.text").did_you_mean(tostring(k), names))
    end
  end
  if opts.body_contains ~= nil and (type(opts.body_contains) ~= "string" or opts.body_contains == "") then
    fail("body_contains must be a non-empty string")
  end
  local want_json
  if opts.json ~= nil then
    if type(opts.json) ~= "table" or next(opts.json) == nil then
      fail("json must be a table of {[\"path.to.key\"] = value}")
    end
    want_json = {}
    for k, v in pairs(opts.json) do
      if type(k) ~= "string" or k == "" then fail("json keys must be paths like \"db.connected\"") end
      want_json[#want_json + 1] = { path = k, value = v }
    end
    table.sort(want_json, function(a, b) return a.path < b.path end)
  end
  local within_ns
  if opts.within ~= nil then
    if type(opts.within) ~= "string" then fail("within must be a duration like \"2s\"") end
    local ns, err = clock.parse(opts.within)
    if not ns or ns <= 0 then fail("within: " .. (err or "must be longer than 0")) end
    within_ns = ns
  end
  local req = http.prepare(opts.method or "GET", {
    url = opts.url, headers = opts.headers, body = opts.body, json = opts.json_body,
    timeout = opts.within, retries = 0, verify = opts.verify, cafile = opts.cafile,
  }, fail, at and at.file)
  return {
    request = req,
    want_status = status_matcher(fail, opts.status),
    body_contains = opts.body_contains,
    want_json = want_json,
    within_ns = within_ns,
    within = opts.within,
  }
end

local function expected_text(e)
  local parts = { "status " .. e.want_status.text }
  if e.body_contains then parts[#parts + 1] = string.format("body containing %q", e.body_contains) end
  for _, j in ipairs(e.want_json or {}) do
    parts[#parts + 1] = string.format("json %s = %s", j.path, show(j.value))
  end
  if e.within then parts[#parts + 1] = "within " .. e.within end
  return table.concat(parts, ", ")
end

local function one_line(s, max)
  s = tostring(s):gsub("%s+", " ")
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

-- the failing json paths of a response, as "path = actual" texts (none: all equal)
local function json_mismatches(e, res)
  local out = {}
  for _, j in ipairs(e.want_json or {}) do
    local got = res.json ~= nil and at_path(res.json, j.path) or nil
    if not same(j.value, got) then
      out[#out + 1] = string.format("%s = %s", j.path, got == nil and "(absent)" or show(got))
    end
  end
  return out
end

--- expect_http.kind: {describe, expected, check, outside_transaction} for migrun.expect
M.kind = {
  -- it asks the application, which cannot see an open transaction's work anyway
  outside_transaction = true,

  describe = function(e)
    return string.format("http %s: %s", http.describe(e.request), expected_text(e))
  end,

  expected = function(e) return expected_text(e) end,

  --- check(e, ctx) -> ok, actual, expected: "200 in 35ms", "503: {...}", "timeout: ..."
  check = function(e, _ctx)
    local expected = expected_text(e)
    local ok, res = pcall(http.send, e.request)
    if not ok then
      if not errors.is(res, "http") then error(res, 0) end    -- Ctrl-C, or a bug
      -- scrubbed before cut: a cut could leave half a secret that no longer matches
      local why = res.reason == "timeout" and e.within and ("no answer within " .. e.within)
                  or string.format("%s: %s", res.reason,
                                   one_line(http.scrub(e.request, res.message), BODY_SHOWN))
      return false, why, expected
    end
    local took = clock.format(math.floor(res.seconds * 1e9))
    local body = one_line(http.scrub(e.request, res.body), BODY_SHOWN)
    if not status_ok(e.want_status, res.status) then
      return false, string.format("%d: %s", res.status, body), expected
    end
    if e.body_contains and not res.body:find(e.body_contains, 1, true) then
      return false, string.format("%d: %s", res.status, body), expected
    end
    if e.want_json then
      if res.json == nil then
        return false, string.format("%d, not JSON: %s", res.status, body), expected
      end
      local bad = json_mismatches(e, res)
      if #bad > 0 then
        return false, http.scrub(e.request, string.format("%d: %s", res.status,
                                                          table.concat(bad, ", "))), expected
      end                                                 -- (json values are not cut)
    end
    local actual = string.format("%d in %s", res.status, took)
    if e.within_ns and res.seconds * 1e9 > e.within_ns then return false, actual, expected end
    return true, actual, expected
  end,
}

return M
