-- migrun.proc: programs run from an argv list (never a shell), with environment, stdio to
-- files or captured, timeouts, exit status, and spawned handles that die with their owner.
local proc = require "migrun.proc"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"
local clock = require "migrun.clock"
local lfs = require "lfs"

local function tmpdir()
  return assert(sys.mkdtemp("/tmp/migrun-proc-spec-"))
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function rmtree(d)
  for e in lfs.dir(d) do
    if e ~= "." and e ~= ".." then os.remove(d .. "/" .. e) end
  end
  lfs.rmdir(d)
end

-- is pid still a process (a zombie counts: it would mean nobody reaped it)?
local function exists(pid)
  return lfs.attributes("/proc/" .. pid, "mode") ~= nil
end

describe("proc.run", function()
  local dir
  setup(function() dir = tmpdir() end)
  teardown(function() rmtree(dir) end)

  it("passes arguments as they are, with no shell in between", function()
    local r = proc.run({ "printf", "%s|", "a;b", "$HOME", "`id`", "*", "two words" })
    assert.is_true(r.ok)
    assert.equal(0, r.status)
    assert.equal("a;b|$HOME|`id`|*|two words|", r.stdout)
    assert.equal("", r.stderr)
  end)

  it("reports the exit status and the signal that ended a program", function()
    local r = proc.run({ "sh", "-c", "echo out; echo err >&2; exit 7" })
    assert.is_false(r.ok)
    assert.equal(7, r.status)
    assert.equal("out\n", r.stdout)
    assert.equal("err\n", r.stderr)
    r = proc.run({ "sh", "-c", "kill -TERM $$" })
    assert.is_false(r.ok)
    assert.equal(proc.SIGTERM, r.signal)
    assert.equal(128 + proc.SIGTERM, r.status)
  end)

  it("adds, overrides and removes environment variables", function()
    local r = proc.run({ "sh", "-c", 'echo "$MR_A|${HOME-unset}|$MR_N"' },
                       { env = { MR_A = "set", HOME = false, MR_N = 5 } })
    assert.equal("set|unset|5\n", r.stdout)
  end)

  it("refuses environment names that are not strings", function()
    assert.is_false(pcall(proc.run, { "true" }, { env = { [1] = "x" } }))
    assert.is_false(pcall(proc.run, { "true" }, { env = { ["A=B"] = "x" } }))
  end)

  it("feeds stdin from a string or a file", function()
    local big = string.rep("0123456789", 100000)
    assert.equal(big, proc.run({ "cat" }, { stdin = { data = big } }).stdout)
    write(dir .. "/in", "from file\n")
    assert.equal("from file\n", proc.run({ "cat" }, { stdin = { file = dir .. "/in" } }).stdout)
    assert.equal("", proc.run({ "cat" }).stdout)                 -- stdin is /dev/null
  end)

  it("sends stdout and stderr to files, truncating or appending", function()
    local out, err = dir .. "/out", dir .. "/err"
    write(out, "old content\n")
    local r = proc.run({ "sh", "-c", "echo one; echo two >&2" },
                       { stdout = { file = out }, stderr = { file = err } })
    assert.is_true(r.ok)
    assert.is_nil(r.stdout)
    assert.equal("one\n", read(out))
    assert.equal("two\n", read(err))
    proc.run({ "echo", "three" }, { stdout = { append = out }, stderr = "null" })
    assert.equal("one\nthree\n", read(out))
  end)

  it("runs in the given directory", function()
    assert.equal(dir .. "\n", proc.run({ "pwd" }, { cwd = dir }).stdout)
  end)

  it("stops a program that overruns its timeout, with what it printed", function()
    local t = clock.now()
    local r = proc.run({ "sh", "-c", "echo started; sleep 30 & sleep 30" }, { timeout = "200ms" })
    assert.is_true(r.timed_out)
    assert.is_false(r.ok)
    assert.equal("started\n", r.stdout)
    assert.is_true(clock.since(t) < 10e9)
  end)

  it("raises kind=environment when the program can't be started", function()
    local ok, err = pcall(proc.run, { "/nonexistent/migrun-program" })
    assert.is_false(ok)
    assert.is_true(errors.is(err, "environment"))
    -- every binding raises with the one migrun.error metatable (engine/l_mr.c)
    assert.equal(require("migrun.core.db").error_mt, getmetatable(err))
    ok, err = pcall(proc.run, { "cat" }, { stdin = { file = dir .. "/missing" } })
    assert.is_false(ok)
    assert.is_true(errors.is(err, "environment"))
  end)

  it("refuses bad arguments as misuse", function()
    assert.is_false(pcall(proc.run, {}))
    assert.is_false(pcall(proc.run, { "echo", {} }))
    assert.is_false(pcall(proc.run, { "echo" }, { stdout = "sideways" }))
    assert.is_false(pcall(proc.run, { "echo" }, { timeout = "soon" }))
  end)
end)

describe("proc.spawn", function()
  it("returns a handle to wait for, with a timeout", function()
    local h <close> = proc.spawn({ "sh", "-c", "exit 3" })
    local r = h:wait(5000)
    assert.equal(3, r.status)
    assert.is_nil(h:pid())
    assert.equal(3, h:wait().status)                          -- waiting again is harmless
  end)

  it("takes waits and timeouts of any size", function()
    local h <close> = proc.spawn({ "true" })
    assert.equal(0, h:wait(math.maxinteger).status)
    assert.is_true(proc.run({ "true" }, { timeout_ms = math.maxinteger }).ok)
    assert.is_true(proc.run({ "true" }, { timeout = "100000000000h" }).ok)
  end)

  it("answers nil while the program runs, and kill stops it", function()
    local h <close> = proc.spawn({ "sleep", "30" })
    assert.equal("integer", math.type(h:pid()))
    assert.is_nil(h:wait(0))
    assert.is_nil(h:wait(20))
    assert.is_true(h:kill())
    local r = h:wait(5000)
    assert.equal(proc.SIGTERM, r.signal)
    assert.is_false(h:kill())                                 -- nothing left to signal
  end)

  it("kills the whole process group, children included", function()
    local h <close> = proc.spawn({ "sh", "-c", "sleep 30 & echo $! > /dev/null; sleep 30" })
    h:kill(proc.SIGKILL)
    assert.equal(proc.SIGKILL, h:wait(5000).signal)
  end)

  it("kills and reaps a program whose handle is collected or closed", function()
    local function start() return proc.spawn({ "sleep", "30" }):pid() end
    local pid = start()
    assert.is_true(exists(pid))
    collectgarbage()
    collectgarbage()
    assert.is_false(exists(pid))
    local pid2
    do
      local h <close> = proc.spawn({ "sleep", "30" })
      pid2 = h:pid()
    end
    assert.is_false(exists(pid2))
  end)

  it("refuses captured stdio (that needs proc.run) and a timeout it would not enforce", function()
    assert.is_false(pcall(proc.spawn, { "echo" }, { stdout = "capture" }))
    assert.is_false(pcall(proc.spawn, { "cat" }, { stdin = { data = "x" } }))
    assert.is_false(pcall(proc.spawn, { "true" }, { timeout = "1s" }))
  end)

  it("raises kind=environment when the program can't be started", function()
    local ok, err = pcall(proc.spawn, { "/nonexistent/migrun-program" })
    assert.is_false(ok)
    assert.is_true(errors.is(err, "environment"))
  end)

  it("takes the child down with a parent that is killed, with die_with_parent", function()
    -- the parent is another migrun that spawns `sleep 60`, reports its pid, and waits to be
    -- SIGKILLed: nothing of its own (no __gc, no handler) runs then
    local bin = os.getenv("MIGRUN_BIN") or "build/bin/migrun"
    local dir = tmpdir()
    local pidfile = dir .. "/pid"
    local code = string.format([[
      local h = require("migrun.core.proc").spawn({ "sleep", "60" }, { die_with_parent = true })
      local f = io.open(%q, "w") f:write(h:pid()) f:close()
      require("migrun.clock").sleep(60000)]], pidfile)
    local parent <close> = proc.spawn({ bin, "-e", code })
    local deadline = clock.now() + 10e9
    while (lfs.attributes(pidfile, "size") or 0) == 0 and clock.now() < deadline do
      clock.sleep(10)
    end
    local child = tonumber(read(pidfile))
    assert.equal("integer", math.type(child))
    local function gone()                    -- no process, or a zombie nobody has reaped yet
      local f = io.open("/proc/" .. child .. "/stat")
      if not f then return true end
      local stat = f:read("a")
      f:close()
      return stat:match("^%d+ %b() (%a)") == "Z"
    end
    local ok, err = pcall(function()
      assert.is_false(gone())
      parent:kill(proc.SIGKILL)
      assert.equal(proc.SIGKILL, parent:wait(5000).signal)
      local t = clock.now()
      while not gone() and clock.since(t) < 2e9 do clock.sleep(10) end
      assert.is_true(gone(), "the child outlived its parent")
    end)
    if not gone() then sys.kill(child, proc.SIGKILL) end
    os.remove(pidfile)
    rmtree(dir)
    assert(ok, err)
  end)
end)

describe("proc.which", function()
  it("finds programs on PATH", function()
    assert.truthy(proc.which("sh"):find("/sh$"))
    assert.is_nil(proc.which("migrun-no-such-program"))
    assert.equal("/bin/sh", proc.which("/bin/sh"))
  end)
end)
