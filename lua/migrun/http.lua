--- migrun.http: HTTP for playbooks, hooks and notifications (policy layer over
-- migrun.core.http, engine/http.c). Options as people write them, JSON in and out, retries
-- with exponential backoff on transient failures, and secrets: a header that carries one
-- (Authorization, Cookie, X-Api-Key, ... or any value wrapped by http.secret) is "***" in
-- every description, message and error.
--
--   http.get(url [, opts]) / http.get(opts), and post, put, patch, delete, head: perform now
--   http.request(opts) (opts.method, default GET): perform now
--   http.spec.post(opts), ... / http.request_spec(method, opts): a request to send later
--     (a playbook's hooks), checked when the playbook loads: spec:send() -> response,
--     spec:describe() -> "POST https://app/admin/maintenance-mode"
--
-- opts: url (string or secret, required), headers = {[name] = string | number | secret},
-- body = string | secret, or json = value (encoded; Content-Type application/json unless
-- given), query = {[name] = value} (appended, encoded), timeout = "10s" (whole request),
-- connect_timeout = "3s", retries = N (default 2 for GET/HEAD/PUT/DELETE/OPTIONS, 0 for
-- POST/PATCH: repeating those may repeat their effect), backoff = "200ms" (doubled each
-- retry, at most 5s), verify = true (TLS peer and host), cafile = path, max_body = bytes
-- (default 16 MiB).
--
-- A response: {status, ok = 2xx, headers = {[lowercase name] = value} (any case reads),
-- body, json = decoded when the Content-Type is JSON (json_error when it did not decode),
-- seconds (of the last attempt), attempts, method, url (described)}. Any status is a
-- response; 5xx is retried, 4xx is not. A request that got no response raises
-- migrun.error{kind = "http", reason = "timeout"|"refused"|"tls"|"dns"|"too_large"|"url"|"io",
-- method, url, attempts, curl_code}; retried on timeout, refused and io. Ctrl-C raises
-- kind "interrupted".
local core = require "migrun.core.http"
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"

local M = {}

M.DEFAULT_TIMEOUT = "10s"
M.DEFAULT_BACKOFF = "200ms"
M.MAX_BACKOFF_NS = 5e9

---------------------------------------------------------------------------------------------
-- secrets

-- A secret is an empty table whose text lives in a weak side table: pairs, json.encode and
-- table dumps see nothing; tostring and string.format("%s") give "***".
local Secret = { __name = "migrun.secret" }
local VALUES = setmetatable({}, { __mode = "k" })

--- http.is_secret(x) -> true for a value made by http.secret
function M.is_secret(x)
  return getmetatable(x) == Secret
end

--- http.secret(value) -> a secret holding value (a string or number; a secret is returned as
-- it is). Concatenating a secret with anything gives a secret.
function M.secret(value)
  if M.is_secret(value) then return value end
  if type(value) == "number" then value = tostring(value) end
  if type(value) ~= "string" then
    error("http.secret: a string is needed, got " .. type(value), 2)
  end
  local s = setmetatable({}, Secret)
  VALUES[s] = value
  return s
end

--- http.reveal(x) -> the text of a secret; any other value as it is
function M.reveal(x)
  if M.is_secret(x) then return VALUES[x] end
  return x
end

Secret.__tostring = function() return "***" end
Secret.__concat = function(a, b)
  return M.secret(tostring(M.reveal(a)) .. tostring(M.reveal(b)))
end
Secret.__eq = function(a, b) return VALUES[a] == VALUES[b] end

-- header names that carry credentials whatever their value's origin
local SECRET_HEADERS = { authorization = true, ["proxy-authorization"] = true, cookie = true,
                         ["set-cookie"] = true, ["x-api-key"] = true }

--- http.is_secret_header(name) -> true when a header of that name is always redacted
function M.is_secret_header(name)
  local n = name:lower()
  return SECRET_HEADERS[n] or n:find("token", 1, true) ~= nil or n:find("secret", 1, true) ~= nil
      or n:find("api%-?key") ~= nil or n:find("password", 1, true) ~= nil
      or n:find("signature", 1, true) ~= nil or n:find("auth", 1, true) ~= nil
end

---------------------------------------------------------------------------------------------
-- preparing a request

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }

local OPTIONS = { url = true, method = true, headers = true, body = true, json = true,
                  query = true, timeout = true, connect_timeout = true, retries = true,
                  backoff = true, verify = true, cafile = true, max_body = true }

local function is_text(x)
  return type(x) == "string" or M.is_secret(x)
end

local function duration(fail, what, v)
  if type(v) ~= "string" then
    fail(string.format("%s must be a duration like \"5s\" or \"200ms\", got %s", what, type(v)))
  end
  local ns, err = clock.parse(v)
  if not ns then fail(what .. ": " .. err) end
  return ns
end

-- v with every secret inside it revealed (a copy, only when there is one), and whether there was
local function reveal_deep(v, seen)
  if M.is_secret(v) then return VALUES[v], true end
  if type(v) ~= "table" then return v, false end
  seen = seen or {}
  if seen[v] then return v, false end
  seen[v] = true
  local copy, any = {}, false
  for k, x in pairs(v) do
    local y, s = reveal_deep(x, seen)
    copy[k], any = y, any or s
  end
  if any then return setmetatable(copy, getmetatable(v)), true end
  return v, false
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- url .. "?" .. the query table's parameters (sorted); a secret anywhere makes a secret
local function with_query(fail, url, query)
  local names = {}
  for k in pairs(query) do
    if type(k) ~= "string" then fail("query names must be strings") end
    names[#names + 1] = k
  end
  table.sort(names)
  local out = url
  local sep = M.reveal(url):find("?", 1, true) and "&" or "?"
  for _, k in ipairs(names) do
    local v = query[k]
    if not (is_text(v) or type(v) == "number" or type(v) == "boolean") then
      fail(string.format("query.%s must be a string, number or boolean, got %s", k, type(v)))
    end
    local enc = M.is_secret(v) and M.secret(urlencode(M.reveal(v))) or urlencode(tostring(v))
    out = out .. sep .. urlencode(k) .. "=" .. enc
    sep = "&"
  end
  return out
end

-- a cafile: a relative one is taken from the directory of the file that names it (base), as
-- sql "file.sql" is, not from the working directory; it must be readable now
local function cafile_path(fail, cafile, base)
  if type(cafile) ~= "string" or cafile == "" then fail("cafile must be a path") end
  if cafile:sub(1, 1) ~= "/" and base then cafile = (base:match("^(.*)/") or ".") .. "/" .. cafile end
  local f, err = io.open(cafile, "r")
  if not f then fail("cafile cannot be read: " .. tostring(err)) end
  f:close()
  return cafile
end

--- http.prepare(method, opts, fail [, base]) -> a checked request (for migrun's own modules:
-- expect.http builds on it). fail(message) raises; it is called on any bad option. base: the
-- file a relative cafile is next to (the playbook), else the working directory.
function M.prepare(method, opts, fail, base)
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then
    fail("options must be a table {url = ...}, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      local names = {}
      for name in pairs(OPTIONS) do names[#names + 1] = name end
      table.sort(names)
      fail(string.format("unknown option %s%s", tostring(k), require("migrun.text").did_you_mean(tostring(k), names)))
    end
  end
  if method and opts.method ~= nil and tostring(opts.method):upper() ~= method then
    fail(string.format("method %s given to a %s request", tostring(opts.method), method))
  end
  method = method or opts.method or "GET"
  if type(method) ~= "string" or not method:find("^%a+$") then
    fail("method must be a word like GET or POST, got " .. tostring(method))
  end
  method = method:upper()
  local url = opts.url
  if not is_text(url) or M.reveal(url) == "" then
    fail("url must be a non-empty string, got " .. type(url))
  end
  if not M.reveal(url):find("^[hH][tT][tT][pP][sS]?://") then
    fail("url must start with http:// or https://, got " .. (M.is_secret(url) and "***" or url))
  end
  if opts.query ~= nil then
    if type(opts.query) ~= "table" then fail("query must be a table") end
    url = with_query(fail, url, opts.query)
  end

  local headers, have = {}, {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" or getmetatable(opts.headers) ~= nil then
      fail("headers must be a table {[name] = value}")
    end
    for name, v in pairs(opts.headers) do
      if type(name) ~= "string" or not name:find("^[%w!#$%%&'*+%-.^_`|~]+$") then
        fail("bad header name " .. tostring(name))
      end
      if not (is_text(v) or type(v) == "number") then
        fail(string.format("header %s must be a string, got %s", name, type(v)))
      end
      if type(v) == "number" then v = tostring(v) end
      -- a credential-carrying header is a secret whatever its origin
      if M.is_secret_header(name) then v = M.secret(v) end
      headers[#headers + 1] = { name = name, value = v }
      have[name:lower()] = true
    end
  end

  local body = opts.body
  if body ~= nil and opts.json ~= nil then fail("give body or json, not both") end
  if body ~= nil and not is_text(body) then fail("body must be a string, got " .. type(body)) end
  if opts.json ~= nil then
    local value, secret = reveal_deep(opts.json)
    local ok, text = pcall(json.encode, value)
    if not ok then fail("json cannot be encoded: " .. tostring(text)) end
    body = secret and M.secret(text) or text
    if not have["content-type"] then     -- implied by json: left out of descriptions
      headers[#headers + 1] = { name = "Content-Type", value = "application/json", implied = true }
    end
  end
  table.sort(headers, function(a, b) return a.name:lower() < b.name:lower() end)

  local retries = opts.retries
  if retries == nil then retries = IDEMPOTENT[method] and 2 or 0 end
  if math.type(retries) ~= "integer" or retries < 0 or retries > 20 then
    fail("retries must be an integer from 0 to 20, got " .. tostring(retries))
  end
  if opts.verify ~= nil and type(opts.verify) ~= "boolean" then
    fail("verify must be true or false")
  end
  local cafile = opts.cafile ~= nil and cafile_path(fail, opts.cafile, base) or nil
  if opts.max_body ~= nil and (math.type(opts.max_body) ~= "integer" or opts.max_body < 1) then
    fail("max_body must be a positive integer (bytes)")
  end
  local timeout = duration(fail, "timeout", opts.timeout or M.DEFAULT_TIMEOUT)
  local connect = opts.connect_timeout and duration(fail, "connect_timeout", opts.connect_timeout)
  return setmetatable({
    method = method, url = url, headers = headers, body = body,
    timeout_ms = math.max(1, timeout // 1000000),
    connect_timeout_ms = connect and math.max(1, connect // 1000000) or nil,
    retries = retries,
    backoff_ns = duration(fail, "backoff", opts.backoff or M.DEFAULT_BACKOFF),
    verify = opts.verify ~= false, cafile = cafile, max_body = opts.max_body,
  }, { __name = "migrun.http.request", __tostring = function(r) return M.describe(r) end })
end

-- the arguments of core.request: secrets revealed, only here
local function to_core(req)
  local headers = {}
  for _, h in ipairs(req.headers) do headers[h.name] = M.reveal(h.value) end
  return { method = req.method, url = M.reveal(req.url), headers = headers,
           body = M.reveal(req.body), timeout_ms = req.timeout_ms,
           connect_timeout_ms = req.connect_timeout_ms, verify = req.verify,
           cafile = req.cafile, max_body = req.max_body }
end

---------------------------------------------------------------------------------------------
-- descriptions and redaction

--- http.describe_url(url) -> the URL as it may be shown: user info and secret-looking query
-- values as "***"; a secret URL shows its origin only ("https://hooks.example.com/***")
function M.describe_url(url)
  if M.is_secret(url) then
    local v = VALUES[url]
    local origin = v:match("^%a[%w+.-]*://[^/?#]*")
    if not origin then return "***" end
    return core.redact_url(origin) .. (#v > #origin and "/***" or "")
  end
  return core.redact_url(url)
end

-- a prepared request from a prepared request, a spec, or options (checked now)
local function prepared(x, name)
  local mt = getmetatable(x)
  if mt and mt.__name == "migrun.http.request" then return x end
  if mt and mt.__name == "migrun.http.spec" then return x._req end
  return M.prepare(nil, x, function(msg) error(string.format("http.%s: %s", name, msg), 0) end)
end

--- http.describe(req) -> "POST https://app/admin/maintenance-mode [Authorization: ***]": a
-- request (options, a spec or a prepared request) as it may be shown; secrets are "***"
function M.describe(req)
  req = prepared(req, "describe")
  local s = req.method .. " " .. M.describe_url(req.url)
  local hs = {}
  for _, h in ipairs(req.headers) do
    if not h.implied then
      hs[#hs + 1] = h.name .. ": " .. (M.is_secret(h.value) and "***" or h.value)
    end
  end
  if #hs > 0 then s = s .. " [" .. table.concat(hs, ", ") .. "]" end
  return s
end

-- every secret text a request carries, longest first (so a secret inside another goes too)
local function secrets_of(req)
  local list = {}
  local function add(v)
    if M.is_secret(v) and VALUES[v] ~= "" then list[#list + 1] = VALUES[v] end
  end
  add(req.url)
  add(req.body)
  for _, h in ipairs(req.headers) do
    add(h.value)
    -- "Bearer abc": the token alone may turn up in a message too
    local word = M.is_secret(h.value) and VALUES[h.value]:match("^%a+%s+(%S+)$")
    if word and #word >= 4 then list[#list + 1] = word end
  end
  table.sort(list, function(a, b) return #a > #b end)
  return list
end

--- http.scrub(req, text) -> text with every secret of the request replaced by "***"
function M.scrub(req, text)
  text = tostring(text)
  for _, s in ipairs(secrets_of(prepared(req, "scrub"))) do
    local from = 1
    while true do
      local i, j = text:find(s, from, true)
      if not i then break end
      text = text:sub(1, i - 1) .. "***" .. text:sub(j + 1)
      from = i + 3
    end
  end
  return text
end

--- http.scrub_known(text) -> text with the text of every secret alive in this process as
-- "***" (for what a hook's own code raised or printed: it may quote a token it was given)
function M.scrub_known(text)
  text = tostring(text)
  local list = {}
  for _, v in pairs(VALUES) do
    if #v >= 4 then list[#list + 1] = v end
  end
  table.sort(list, function(a, b) return #a > #b end)
  for _, v in ipairs(list) do
    local from = 1
    while true do
      local i, j = text:find(v, from, true)
      if not i then break end
      text = text:sub(1, i - 1) .. "***" .. text:sub(j + 1)
      from = i + 3
    end
  end
  return text
end

---------------------------------------------------------------------------------------------
-- responses

local Response = { __name = "migrun.http.response" }
Response.__index = Response
Response.__tostring = function(r)
  return string.format("migrun.http.response (%d, %s)", r.status, clock.format(r.seconds * 1e9))
end

-- response headers read in any case: res.headers["Content-Type"]
local Headers = { __index = function(t, k)
  if type(k) == "string" then return rawget(t, k:lower()) end
end }

local function is_json(ctype)
  ctype = (ctype or ""):lower():match("^%s*([^;%s]+)") or ""
  return ctype == "application/json" or ctype:find("%+json$") ~= nil
end

local function response(req, raw, attempts)
  local res = setmetatable({
    status = raw.status, ok = raw.status >= 200 and raw.status < 300,
    headers = setmetatable(raw.headers, Headers), body = raw.body, seconds = raw.seconds,
    attempts = attempts, method = req.method, url = M.describe_url(req.url),
  }, Response)
  if raw.body ~= "" and is_json(raw.headers["content-type"]) then
    local ok, v = pcall(json.decode, raw.body)
    if ok then res.json = v else res.json_error = tostring(v) end
  end
  return res
end

---------------------------------------------------------------------------------------------
-- performing

local RETRY_REASON = { timeout = true, refused = true, io = true }

local function fail_error(req, e, attempts)
  local reason = e.reason
  local msg = string.format("%s %s: %s", req.method, M.describe_url(req.url),
                            M.scrub(req, e.curl_message or e.message or reason))
  if attempts > 1 then msg = msg .. string.format(" (%d attempts)", attempts) end
  return errors.new(e.kind == "interrupted" and "interrupted" or "http", msg,
    { reason = reason, method = req.method, url = M.describe_url(req.url), attempts = attempts,
      curl_code = e.curl_code, seconds = e.seconds })
end

--- http.send(req) -> response: perform a prepared request (or a spec) with its retries
function M.send(req)
  req = prepared(req, "send")
  local args = to_core(req)
  local wait = req.backoff_ns
  local attempts = 0
  while true do
    attempts = attempts + 1
    local ok, raw = pcall(core.request, args)
    if ok then
      if raw.status < 500 or attempts > req.retries then return response(req, raw, attempts) end
    elseif not errors.is(raw) then
      error(raw, 0)                                     -- a bug, not data: as it is
    elseif raw.kind == "interrupted" or not RETRY_REASON[raw.reason] or attempts > req.retries then
      error(fail_error(req, raw, attempts), 0)
    end
    clock.sleep(wait / 1e6)                             -- returns early on Ctrl-C
    wait = math.min(wait * 2, M.MAX_BACKOFF_NS)
  end
end

-- a fail function for a call made now: a plain error (misuse is a bug, not data) that names
-- the line of the caller of http.x (level 1 here, 2 http.x, 3 its caller)
local function call_error(name)
  local info = debug.getinfo(3, "Sl") or {}
  local where = info.currentline and info.currentline > 0
                and string.format("%s:%d: ", info.short_src, info.currentline) or ""
  return function(msg) error(string.format("%shttp.%s: %s", where, name, msg), 0) end
end

--- http.request(opts) -> response (opts.method, default GET)
function M.request(opts)
  return M.send(M.prepare(nil, opts, call_error("request")))
end

-- (url [, opts]) or (opts) -> opts with url, a copy: the caller's table is never changed
local function merge(a, b)
  if is_text(a) then
    local o = {}
    for k, v in pairs(b or {}) do o[k] = v end
    o.url = a
    return o
  end
  return a
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head" }) do
  local name = m
  --- http.get(url [, opts]) / http.get(opts) -> response; likewise post, put, patch, delete, head
  M[m] = function(a, b)
    return M.send(M.prepare(name:upper(), merge(a, b), call_error(name)))
  end
end

---------------------------------------------------------------------------------------------
-- request specs: built when a playbook loads, sent later

local Spec = { __name = "migrun.http.spec" }
-- the fields of a response, read from a spec: http.get at the top of a playbook made a request
-- to send later (a hook), not a request sent now; reading its "response" must not be nil
local RESPONSE_FIELDS = { status = true, ok = true, headers = true, body = true, json = true, seconds = true }
Spec.__index = function(self, k)
  if Spec[k] ~= nil then return Spec[k] end
  if RESPONSE_FIELDS[k] then
    error(string.format("%s is a request to send later (a hook), not a response: it has no .%s. " ..
                        "While the playbook loads, http.%s makes a hook; to send a request and read " ..
                        "its answer, call it inside a step (step \"name\" (function(db) ... end))",
                        tostring(self), k, (rawget(self, "method") or "get"):lower()), 2)
  end
  return nil
end
Spec.__tostring = function(s) return "http " .. M.describe(s._req) end

--- spec:send([ctx]) -> response (with the spec's retries); raises like http.request. The
-- run's context is accepted for the hooks' sake; nothing in it is needed yet.
function Spec:send(_ctx)
  return M.send(self._req)
end

--- spec:describe() -> "POST https://app/admin/maintenance-mode" (secrets as "***")
function Spec:describe()
  return M.describe(self._req)
end

-- where the playbook called: level 1 is here, 2 request_spec, 3 http.spec.x or the caller
local function caller(level)
  local info = debug.getinfo(level + 1, "Sl") or {}
  local src = info.source or ""
  return { file = src:sub(1, 1) == "@" and src:sub(2) or info.short_src, line = info.currentline }
end

local function spec_at(method, opts, at, fname)
  local req = M.prepare(method, opts, function(msg)
    errors.raise("playbook", string.format("%s: %s", fname, msg), { file = at.file, line = at.line })
  end, at.file)
  return setmetatable({ method = req.method, _req = req }, Spec)
end

--- http.request_spec(method, url | opts [, opts]) -> spec; bad options raise kind "playbook" at
-- the caller's line
function M.request_spec(method, a, b)
  return spec_at(method, merge(a, b), caller(2), "http.request_spec")
end

--- http.is_spec(x) -> true for a request spec
function M.is_spec(x)
  return getmetatable(x) == Spec
end

M.spec = {}
for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head" }) do
  local name = m
  --- http.spec.post(url | opts [, opts]) -> spec; likewise get, put, patch, delete, head
  M.spec[m] = function(a, b)
    return spec_at(name:upper(), merge(a, b), caller(2), "http.spec." .. name)
  end
end

--- http.for_playbook(loading) -> the `http` a playbook sees: while the file loads (loading()
-- is true) http.post{...} is a request to send later (a hook), checked now; called from a
-- Lua step or hook function at run time, it performs the request.
function M.for_playbook(loading)
  local t = { secret = M.secret, is_secret = M.is_secret, describe = M.describe }
  for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head" }) do
    local name = m
    t[m] = function(a, b)
      local at = caller(2)
      if loading() then return spec_at(name:upper(), merge(a, b), at, "http." .. name) end
      return M.send(M.prepare(name:upper(), merge(a, b), call_error(name), at.file))
    end
  end
  t.request = function(opts)
    if loading() then return spec_at(nil, opts, caller(2), "http.request") end
    return M.request(opts)
  end
  return t
end

--- http.version() -> libcurl's version string
M.version = core.version

return M
