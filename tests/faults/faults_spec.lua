-- Real faults during a run: the server restarts, the backend is terminated or stopped, the
-- user presses Ctrl-C in a concurrent index build, migrun --sandbox is killed, the disk is
-- full. Each runs the real binary; a restart uses a private cluster of this spec file, so the
-- harness's shared server (other suites run beside this one) is never restarted.
local H = require "helper"
local lfs = require "lfs"
local proc = require "migrun.proc"
local sandbox = require "migrun.sandbox"
local sys = require "migrun.core.sys"

local FIX = H.source .. "/tests/fixtures/shop"

local function playbook(text)
  local dir = H.tmpdir()
  H.write(dir .. "/pb.lua", text)
  return dir .. "/pb.lua", dir
end

local function state_of(conninfo)
  local c <close> = require("migrun.db").connect(conninfo)
  local t = {}
  for _, r in ipairs(c:query([[SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY 1]])) do
    t[#t + 1] = r.relname
  end
  return table.concat(t, ",")
end

-- a migrun run in the background, its output in files
local function start(argv, env)
  local dir = H.tmpdir()
  local h = H.spawn_migrun(argv, { stdout = dir .. "/out", stderr = dir .. "/err", env = env })
  return h, function() return H.read(dir .. "/out") .. H.read(dir .. "/err") end
end

local THREE = [=[
playbook "faults" {
  phase "one" { sql [[CREATE TABLE f_one (x int)]], rollback = sql [[DROP TABLE f_one]] },
  phase "two" { sql [[CREATE TABLE f_two (x int); SELECT pg_sleep(20)]], rollback = sql [[DROP TABLE f_two]] },
  phase "three" { sql [[CREATE TABLE f_three (x int)]], rollback = sql [[DROP TABLE f_three]] },
}]=]

-- the same with verify: phase two's last statement then travels with its checks in one flight
-- (conn:send_all), and it is that flight the fault hits
local THREE_VERIFIED = THREE:gsub('(phase "two" { sql %b[], )', '%1verify = { expect.exists "f_two" }, ')
assert(THREE_VERIFIED:find('verify = { expect.exists "f_two" }', 1, true))

describe("a server restart in the middle of a run", function()
  local sb
  setup(function() sb = sandbox.start() end)
  teardown(function() sb:stop() end)

  it("is recovered: migrun reconnects and rolls back through the new connection (exit 1, not 5)", function()
    local admin <close> = require("migrun.db").connect(sb:conninfo())
    admin:exec("CREATE DATABASE restart1")
    admin:close()
    local conninfo = sb:conninfo("restart1")
    local before = state_of(conninfo)
    local pb = playbook(THREE)
    local h, output = start({ "--db", conninfo, pb })
    local watch <close> = require("migrun.db").connect(sb:conninfo())
    H.eventually(function()
      return watch:query([[SELECT 1 FROM pg_stat_activity
                           WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()]]).n > 0
    end, 20000)
    watch:close()
    sb:restart()                                     -- pg_ctl restart -m fast: sessions ended
    local res = H.eventually(function() return h:wait(50) end, 60000)
    assert.equal(1, res.status, output())
    assert.truthy(output():find("reconnected", 1, true), output())
    assert.truthy(output():find("one: rolled back", 1, true), output())
    assert.equal(before, state_of(conninfo))
  end)
end)

describe("a backend that dies or stops", function()
  local dbname
  before_each(function()
    dbname = H.fresh_db("fault")
    H.load(dbname, FIX .. "/before.sql")
  end)

  it("terminated by pg_terminate_backend mid-phase (its statement and checks in one flight): " ..
     "reconnect, roll back, exit 1", function()
    local pb = playbook(THREE_VERIFIED)
    local before = state_of(H.conninfo(dbname))
    local h, output = start({ "--db", H.conninfo(dbname), pb })
    local admin <close> = H.connect(dbname)
    local pid = H.eventually(function()
      local r = admin:query([[SELECT pid FROM pg_stat_activity
                              WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()]])
      return r[1] and r[1].pid
    end, 20000)
    admin:query("SELECT pg_terminate_backend($1)", pid)
    local res = H.eventually(function() return h:wait(50) end, 60000)
    assert.equal(1, res.status, output())
    assert.equal(before, state_of(H.conninfo(dbname)))
    local run = admin:query("SELECT status FROM migrun.runs ORDER BY id DESC LIMIT 1")[1]
    assert.equal("rolled_back", run.status)
  end)

  it("stopped (SIGSTOP) under a budget: the run ends within seconds, naming the lost connection (exit 3)",
     function()
    local pb = playbook([=[
playbook "stopped" {
  phase "sleep" { sql [[SELECT pg_sleep(60)]], budget = "1s" },
}]=])
    local h, output = start({ "--db", H.conninfo(dbname), pb })
    local admin <close> = H.connect(dbname)
    local pid = H.eventually(function()
      local r = admin:query([[SELECT pid FROM pg_stat_activity
                              WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()]])
      return r[1] and r[1].pid
    end, 20000)
    assert(sys.kill(pid, 19))
    local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
    local secs, res = H.elapsed(function() return H.eventually(function() return h:wait(50) end, 90000) end)
    assert.equal(3, res.status, output())
    assert.truthy(output():find("lost the connection", 1, true), output())
    assert.truthy(secs < 60, string.format("took %.1fs", secs))
  end)
end)

describe("Ctrl-C during CREATE INDEX CONCURRENTLY", function()
  it("drops the INVALID index it leaves at once, not on the next run", function()
    local dbname = H.fresh_db("fault")
    local c <close> = H.connect(dbname)
    c:exec([[CREATE FUNCTION slow_id(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_sleep(0.02); RETURN $1; END $$;
             CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 2000)]])
    local pb = playbook([=[
playbook "cic" {
  phase "index" { transaction = false,
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS big_slow_idx ON big (slow_id(id))]] },
}]=])
    local h, output = start({ "--db", H.conninfo(dbname), pb })
    H.eventually(function()
      -- the build of big's index (the ledger's own CREATE INDEX shows here too)
      return c:query([[SELECT 1 FROM pg_stat_progress_create_index
                       WHERE datname = $1 AND relid = 'big'::regclass]], dbname).n > 0
    end, 20000)
    h:kill(proc.SIGINT)
    local res = H.eventually(function() return h:wait(50) end, 30000)
    assert.are_not.equal(0, res.status, output())
    assert.truthy(output():find("dropping the invalid index public.big_slow_idx left by the failed build", 1, true),
                  output())
    assert.equal(0, c:query("SELECT count(*) AS n FROM pg_class WHERE relname = 'big_slow_idx'")[1].n)
  end)
end)

describe("migrun --sandbox killed with SIGKILL", function()
  it("leaves no cluster running: the postmaster dies with it", function()
    local dir = H.tmpdir()
    local h = H.spawn_migrun({ "--sandbox", "-e", string.format([[
      local f = io.open(%q, "w")
      f:write(db:query("SELECT setting FROM pg_settings WHERE name = 'data_directory'")[1].setting)
      f:close()
      require("migrun.clock").sleep(60000)]], dir .. "/datadir") })
    local datadir = H.eventually(function()
      local f = io.open(dir .. "/datadir")
      local s = f and f:read("a")
      if f then f:close() end
      return s ~= "" and s
    end, 20000)
    local pidtext = H.read(datadir .. "/postmaster.pid")
    local pid = tonumber(pidtext:match("^(%d+)"))
    h:kill(proc.SIGKILL)
    H.eventually(function() return h:wait(10) end)
    H.eventually(function() return not sys.kill(pid, 0) end, 10000)
  end)
end)

describe("a report that cannot be written in full (a full disk)", function()
  it("fails the command loudly and leaves no half report", function()
    if sys.geteuid() ~= 0 then
      pending("mounting a small tmpfs needs root")
      return
    end
    local dir = H.tmpdir()
    local mnt = dir .. "/full"
    lfs.mkdir(mnt)
    local m = proc.run({ "mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", mnt })
    if not m.ok then
      pending("this machine does not allow a tmpfs mount: " .. m.stderr)
      return
    end
    local _ <close> = setmetatable({}, { __close = function() proc.run({ "umount", mnt }) end })
    H.write(mnt .. "/filler", string.rep("x", 8 * 1024))
    local dbname = H.fresh_db("fault")
    H.load(dbname, FIX .. "/before.sql")
    local r = H.run_db(dbname, { "--report", mnt .. "/r.md", FIX .. "/shop.lua" })
    assert.equal(3, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("cannot write the report", 1, true), r.stderr)
    for f in lfs.dir(mnt) do assert.truthy(f == "." or f == ".." or f == "filler", "left: " .. f) end
  end)
end)

describe("Ctrl-C at any moment of a long statement", function()
  -- the statement is watched in steps of a second (blockers, progress): a Ctrl-C that lands
  -- between two steps must cancel it and roll back like one that lands inside a step
  it("always rolls back cleanly (exit 1), never leaves the connection busy (exit 5)", function()
    local clock = require "migrun.clock"
    local dbname = H.fresh_db("fault")
    local conninfo = H.conninfo(dbname)
    local before = state_of(conninfo)
    local pb = playbook(THREE)
    local watch <close> = H.connect(dbname)
    for _, after_ms in ipairs({ 1100, 1500, 2050, 2600, 3300 }) do
      local h, output = start({ "--db", conninfo, pb })
      local t = H.eventually(function()
        return watch:query([[SELECT 1 FROM pg_stat_activity
                             WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()]]).n > 0 and clock.now()
      end, 20000)
      clock.sleep(math.max(0, after_ms - clock.since(t) / 1e6))
      h:kill(proc.SIGINT)
      local res = H.eventually(function() return h:wait(50) end, 30000)
      assert.equal(1, res.status, string.format("Ctrl-C %d ms into the statement:\n%s", after_ms, output()))
      assert.equal(before, state_of(conninfo), output())
    end
  end)
end)
