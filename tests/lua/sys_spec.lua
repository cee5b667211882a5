-- migrun.core.sys: the few POSIX facts and actions the Lua layer needs.
local sys = require "migrun.core.sys"
local lfs = require "lfs"

describe("sys", function()
  it("mkdtemp makes distinct private directories and never alters a Lua string", function()
    -- the template it fills in must be its own copy: Lua interns short strings, and this
    -- literal is the very string a careless binding would hand to mkdtemp
    local literal = "/tmp/migrun-sys-spec-XXXXXX"
    local a = assert(sys.mkdtemp("/tmp/migrun-sys-spec-"))
    local b = assert(sys.mkdtemp("/tmp/migrun-sys-spec-"))
    -- (compare copies: an equal literal here would be the same, possibly altered, object)
    assert.equal(("X"):rep(6), literal:sub(-6))
    assert.are_not.equal(a, b)
    assert.equal("directory", lfs.attributes(a, "mode"))
    assert.equal("rwx------", lfs.attributes(a, "permissions"))
    lfs.rmdir(a)
    lfs.rmdir(b)
    local v, msg = sys.mkdtemp("/nonexistent/dir/x-")
    assert.is_nil(v)
    assert.equal("string", type(msg))
  end)

  it("knows who and where it is", function()
    assert.equal("integer", math.type(sys.getpid()))
    assert.equal("integer", math.type(sys.geteuid()))
    assert.equal("string", type(sys.username()))
    assert.equal("string", type(sys.hostname()))
    assert.is_true(sys.user_exists("root"))
    assert.is_false(sys.user_exists("migrun-no-such-user"))
  end)

  it("finds a free loopback port and signals processes", function()
    local port = sys.free_port()
    assert.is_true(port > 0 and port < 65536)
    assert.is_true(sys.kill(sys.getpid(), 0))
    assert.is_false(pcall(sys.kill, 0, 0))
    assert.is_false(pcall(sys.kill, -1, 0))
  end)

  it("counts the processors online", function()
    assert.equal("integer", math.type(sys.cpus()))
    assert.is_true(sys.cpus() >= 1)
  end)

  it("reports no interrupt when none came", function()
    assert.is_false(sys.interrupted())
  end)
end)
