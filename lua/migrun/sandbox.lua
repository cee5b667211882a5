--- migrun.sandbox: a throwaway PostgreSQL cluster in a private temp dir, with its own socket
-- dir and a free loopback port, fsync off. Used by `migrun --sandbox` and by the test
-- harness (`migrun sandbox start|stop --env-file F`): one implementation for both.
-- As root it runs the server as the unprivileged `postgres` account (initdb refuses root).
local lfs = require "lfs"
local sys = require "migrun.core.sys"
local proc = require "migrun.proc"
local clock = require "migrun.clock"
local db = require "migrun.db"
local errors = require "migrun.errors"
local pg = require "migrun.pg"

local M = {}

local readfile = require("migrun.text").readfile

local function is_exe(path)
  return lfs.attributes(path, "mode") == "file"
end

--- sandbox.bindir() -> the directory of initdb and postgres (migrun.pg's one rule), or
-- raises kind="environment"
function M.bindir()
  local ok, initdb = pcall(pg.tool, "initdb")
  local dir = ok and initdb:match("^(.*)/[^/]*$")
  if not dir or not is_exe(dir .. "/postgres") then
    errors.raise("environment", "no PostgreSQL server binaries found (initdb, postgres)",
      { hint = "install the server: apt-get install postgresql (or set MIGRUN_PG_BINDIR)" })
  end
  return dir
end

local function rmtree(path)
  local mode = lfs.symlinkattributes(path, "mode")
  if mode == "directory" then
    for entry in lfs.dir(path) do
      if entry ~= "." and entry ~= ".." then rmtree(path .. "/" .. entry) end
    end
    lfs.rmdir(path)
  elseif mode then
    os.remove(path)
  end
end
M.rmtree = rmtree

local Sandbox = {}
Sandbox.__index = Sandbox
Sandbox.__name = "migrun.sandbox"

--- sb:conninfo([dbname]) -> a libpq conninfo string for the sandbox
function Sandbox:conninfo(dbname)
  return string.format("host=%s port=%d user=%s dbname=%s", self.sockdir, self.port,
                       self.superuser, dbname or "postgres")
end

--- sb:env() -> {PGHOST, PGPORT, PGUSER, PGDATABASE} for child programs
function Sandbox:env()
  return { PGHOST = self.sockdir, PGPORT = tostring(self.port), PGUSER = self.superuser,
           PGDATABASE = "postgres" }
end

local function wait_gone(pid, handle, timeout_ms)
  local deadline = clock.now() + timeout_ms * 1000000
  while clock.now() < deadline do
    if handle then
      if handle:wait(20) then return true end
    elseif not sys.kill(pid, 0) then
      return true
    else
      clock.sleep(20)
    end
  end
  return false
end

--- sb:stop(): shut the server down (fast, then immediate) and remove the directory.
-- Idempotent; never raises (it runs from __close and __gc).
function Sandbox:stop()
  if self.stopped then return end
  self.stopped = true
  M.stop_server(self)
  rmtree(self.dir)
end
Sandbox.__close = Sandbox.stop
Sandbox.__gc = Sandbox.stop

local function run_checked(argv, opts, what)
  local r = proc.run(argv, opts)
  if not r.ok then
    errors.raise("environment", string.format("%s failed (exit %d): %s", what, r.status,
      ((r.stderr or "") .. (r.stdout or "")):gsub("%s+$", "")))
  end
  return r
end

--- sb:detach(): leave the cluster running after this process (the test harness stops it
-- later with sandbox.stop_env)
function Sandbox:detach()
  if self.handle then self.handle:detach() end
  self.stopped = true
end

-- pg_stat_statements ships with the server package; a watch window's baseline needs it loaded
local function has_pg_stat_statements(sb)
  local f = io.open(sb.bindir .. "/../lib/pg_stat_statements.so", "rb")
  if f then f:close() end
  return f ~= nil
end

-- postgres on sb.port (a new free port when port_fixed is false), waiting until it accepts
-- connections; retries a port taken meanwhile
local function spawn_server(sb, port_fixed)
  local runopts = { user = sb.user, cwd = sb.dir, env = { LC_ALL = "C.UTF-8", PGDATA = false } }
  for attempt = 1, 5 do
    if not port_fixed then sb.port = assert(sys.free_port()) end
    local durable = sb.durable and "on" or "off"   -- a throwaway cluster needs no crash safety
    local argv = { sb.bindir .. "/postgres", "-D", sb.datadir, "-k", sb.sockdir,
      "-p", tostring(sb.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=" .. durable,
      "-c", "synchronous_commit=" .. durable, "-c", "full_page_writes=" .. durable,
      "-c", "unix_socket_permissions=0700", "-c", "max_connections=60",
      "-c", "shared_buffers=128MB", "-c", "max_wal_size=2GB" }
    if has_pg_stat_statements(sb) then
      argv[#argv + 1], argv[#argv + 2] = "-c", "shared_preload_libraries=pg_stat_statements"
    end
    sb.handle = proc.spawn(argv,
      { user = sb.user, cwd = sb.dir, new_session = true, stdin = "null",
        stdout = { append = sb.dir .. "/server.log" }, stderr = { append = sb.dir .. "/server.log" },
        env = runopts.env, die_with_parent = not sb.detached })
    local deadline = clock.now() + 30e9
    while clock.now() < deadline do
      local up, c = pcall(db.connect, sb:conninfo() .. " connect_timeout=2")
      if up then
        c:close()
        return
      end
      local exited = sb.handle:wait(0)
      if exited then break end
      clock.sleep(10)
    end
    local log = readfile(sb.dir .. "/server.log") or ""
    if not log:find("could not bind") or attempt == 5 then
      errors.raise("environment", "the sandbox server did not start: " ..
        (log:match("([^\n]*)\n?$") or "no log"))
    end
    sb.handle:close()                                -- the port was taken meanwhile: retry
  end
end

-- stop the postmaster (fast shutdown, then immediate); the data directory stays
local function stop_server(sb, how)
  local pidtext = readfile(sb.datadir .. "/postmaster.pid")
  local pid = pidtext and tonumber(pidtext:match("^(%d+)")) or (sb.handle and sb.handle:pid())
  if pid then
    sys.kill(pid, how == "immediate" and 3 or proc.SIGINT)
    if not wait_gone(pid, sb.handle, 10000) then
      sys.kill(pid, 3)                               -- SIGQUIT: immediate shutdown
      wait_gone(pid, sb.handle, 5000)
    end
  end
  if sb.handle then sb.handle:close() end
  sb.handle = nil
end
M.stop_server = stop_server

--- sb:restart([{immediate = true}]): stop the server (fast, or immediate: a crash, recovered
-- from the WAL at start) and start it again on the same port (for fault specs)
function Sandbox:restart(o)
  stop_server(self, o and o.immediate and "immediate" or "fast")
  spawn_server(self, true)
end

--- sb:standby() -> a streaming standby of this cluster (pg_basebackup -R into a directory of
-- its own, started on a free port), a sandbox handle too: conninfo(), stop(), removed at exit.
-- For specs of replica lag (pause it with SELECT pg_wal_replay_pause() on the standby).
function Sandbox:standby()
  local dir = assert(sys.mkdtemp((os.getenv("TMPDIR") or "/tmp") .. "/migrun-standby-"))
  local st = setmetatable({ dir = dir, datadir = dir .. "/data", sockdir = dir, superuser = self.superuser,
                            bindir = self.bindir, user = self.user, durable = self.durable }, Sandbox)
  local ok, err = pcall(function()
    if st.user then assert(sys.chown(dir, st.user)) end
    run_checked({ self.bindir .. "/pg_basebackup", "-D", st.datadir, "-R", "-X", "stream", "-c", "fast",
                  "-h", self.sockdir, "-p", tostring(self.port), "-U", self.superuser },
                { user = st.user, cwd = dir, env = { PGDATA = false, PGHOST = false, PGPORT = false } },
                "pg_basebackup")
    spawn_server(st, false)
  end)
  if not ok then
    st:stop()
    error(err, 0)
  end
  return st
end

--- sandbox.start([{detach = true, durable = true}]) -> sb, a to-be-closed handle: closing it
-- (or exiting) removes the cluster. The server dies with this process (a SIGKILLed migrun
-- leaves no cluster running), unless detach = true: the test harness's cluster outlives
-- `migrun sandbox start`. durable = true keeps fsync and synchronous_commit on (crash tests).
function M.start(o)
  local bindir = M.bindir()
  local user
  if sys.geteuid() == 0 then
    user = "postgres"
    if not sys.user_exists(user) then
      errors.raise("environment", "running as root, and there is no 'postgres' account to run " ..
        "the sandbox server as (initdb refuses root)", { hint = "install the postgresql package" })
    end
  end
  local dir = assert(sys.mkdtemp((os.getenv("TMPDIR") or "/tmp") .. "/migrun-sandbox-"))
  local sb = setmetatable({ dir = dir, datadir = dir .. "/data", sockdir = dir, superuser = "postgres",
                            bindir = bindir, user = user, detached = o and o.detach,
                            durable = o and o.durable }, Sandbox)
  local ok, err = pcall(function()
    if user then assert(sys.chown(dir, user)) end
    local argv = { bindir .. "/initdb", "-D", sb.datadir, "-U", sb.superuser, "-E", "UTF8",
                   "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--no-instructions" }
    if not sb.durable then argv[#argv + 1] = "--no-sync" end
    run_checked(argv,
                { user = user, cwd = dir, env = { LC_ALL = "C.UTF-8", PGDATA = false } }, "initdb")
    spawn_server(sb, false)
    if has_pg_stat_statements(sb) then
      -- in the database a --sandbox run uses; not in template1, where it would be in every
      -- new database's public schema (its dumps, its table lists, a GRANT on all its tables)
      local c <close> = db.connect(sb:conninfo("postgres"))
      c:exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    end
  end)
  if not ok then
    sb:stop()
    error(err, 0)
  end
  return sb
end

--- sandbox.write_env(sb, path): the harness's env file (PG* and where the cluster is)
function M.write_env(sb, path)
  local f, err = io.open(path, "w")
  if not f then errors.raise("usage", "cannot write the sandbox's env file: " .. err) end
  for k, v in pairs(sb:env()) do f:write(k, "=", v, "\n") end
  f:write("MIGRUN_SANDBOX_DIR=", sb.dir, "\n")
  f:close()
end

--- sandbox.read_env(path) -> {K = V} from an env file
function M.read_env(path)
  local text = readfile(path)
  if not text then return nil end
  local env = {}
  for k, v in text:gmatch("([%w_]+)=([^\n]*)") do env[k] = v end
  return env
end

--- sandbox.stop_env(path): stop the cluster an env file describes, remove the file
function M.stop_env(path)
  local env = M.read_env(path)
  if not env or not env.MIGRUN_SANDBOX_DIR then return false end
  local dir = env.MIGRUN_SANDBOX_DIR
  local sb = setmetatable({ dir = dir, datadir = dir .. "/data" }, Sandbox)
  sb:stop()
  os.remove(path)
  return true
end

return M
