--- fakeapp: the fake application of the specs (tests/harness/fake_app.c), started and stopped
-- from Lua. The binary comes from MIGRUN_FAKE_APP (ctest sets it), else sits beside the
-- build's bin/ as tests/fake_app.
--
--   local app = require("fakeapp").start {
--     routes = { 'GET /health 200 {"status":"ok"}', "POST /admin/maintenance-mode 204" },
--     delays = { "/slow 3000" },
--   }
--   app.url                  "http://127.0.0.1:PORT"
--   app:calls([path])        the requests received so far (of one path): {seq, method, path,
--                            query, headers = {lowercase = value}, body}, oldest first
--   app:route(rule)          add a rule while running (the newest matching rule wins)
--   app:delay(path, ms)      delay answers for path from now on
--   app:stop()               stop it and remove its files (also done by __gc)
-- Methods work with a dot too (app.calls()). Rules: see the head of fake_app.c.
local proc = require "migrun.proc"
local clock = require "migrun.clock"
local sys = require "migrun.core.sys"
local core_http = require "migrun.core.http"
local cjson = require "cjson"

local F = {}

--- F.binary() -> the fake_app executable's path
function F.binary()
  local p = os.getenv("MIGRUN_FAKE_APP")
  if p and p ~= "" then return p end
  local bin = os.getenv("MIGRUN_BIN") or "build/bin/migrun"
  return (bin:gsub("bin/[^/]*$", "tests/fake_app"))
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local App = { __name = "fakeapp" }
App.__index = App

-- the harness may wait: poll for the ready file, or the server's early death
local function wait_ready(h, ready, errfile)
  local deadline = clock.now() + 10e9
  while clock.now() < deadline do
    local port = tonumber((read(ready) or ""):match("^(%d+)\n"))
    if port then return port end
    if h:wait(0) then
      error("fake_app exited before it was ready: " .. (read(errfile) or ""), 3)
    end
    clock.sleep(5)
  end
  error("fake_app was not ready within 10 s", 3)
end

--- F.start{routes = {RULE...}, delays = {"PATH MS"...}, port = 0} -> app
function F.start(opts)
  opts = opts or {}
  local dir = assert(sys.mkdtemp("/tmp/migrun-fakeapp-"))
  local files = { log = dir .. "/requests.log", ready = dir .. "/ready", err = dir .. "/stderr" }
  local argv = { F.binary(), "--port", tostring(opts.port or 0), "--log", files.log,
                 "--ready", files.ready }
  for _, r in ipairs(opts.routes or {}) do
    argv[#argv + 1] = "--route"
    argv[#argv + 1] = r
  end
  for _, d in ipairs(opts.delays or {}) do
    argv[#argv + 1] = "--delay"
    argv[#argv + 1] = d
  end
  local h = proc.spawn(argv, { stdout = "null", stderr = { file = files.err },
                               die_with_parent = true })
  local port = wait_ready(h, files.ready, files.err)
  local app = setmetatable({ url = "http://127.0.0.1:" .. port, port = port, dir = dir,
                             _proc = h, _files = files }, App)
  return app
end

local function control(app, path, body)
  local r = core_http.request{ method = "PUT", url = app.url .. path, body = body,
                               timeout_ms = 5000 }
  if r.status ~= 204 then error(string.format("fake_app %s: %d %s", path, r.status, r.body), 3) end
end

--- app:calls([path]) -> list of the requests received (of that path)
function App.calls(self, path)
  local list = {}
  for line in (read(self._files.log) or ""):gmatch("[^\n]+") do
    local c = cjson.decode(line)
    if path == nil or c.path == path then list[#list + 1] = c end
  end
  return list
end

--- app:route(rule): "METHOD PATH STATUS [+Name:value]... [BODY]", newest wins
function App.route(self, rule)
  control(self, "/__route", rule)
end

--- app:delay(path, ms): answers for path wait ms milliseconds from now on
function App.delay(self, path, ms)
  control(self, "/__delay", string.format("%s %d", path, ms))
end

--- app:stop(): SIGTERM, reap, remove the files (idempotent)
function App.stop(self)
  if self._stopped then return end
  self._stopped = true
  self._proc:kill(proc.SIGTERM)
  if not self._proc:wait(5000) then self._proc:kill(proc.SIGKILL) end
  self._proc:close()
  for _, f in pairs(self._files) do os.remove(f) end
  os.remove(self.dir)
end

App.__gc = function(self) pcall(App.stop, self) end
App.__close = App.__gc

-- app:m(x) and app.m(x) both work: each method is a closure over its app that drops the app
-- when it came first
local function bind(app)
  for _, m in ipairs({ "calls", "route", "delay", "stop" }) do
    local f = App[m]
    rawset(app, m, function(first, ...)
      if first == app then return f(app, ...) end
      return f(app, first, ...)
    end)
  end
  return app
end

local start = F.start
F.start = function(opts) return bind(start(opts)) end

return F
