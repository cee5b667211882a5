-- Ctrl-C during an HTTP request: the transfer is abandoned and migrun exits 130 within
-- seconds, however long the request's own timeout.
local proc = require "migrun.proc"
local clock = require "migrun.clock"
local fakeapp = require "fakeapp"
local H = require "helper"

describe("http and Ctrl-C", function()
  local app, dir
  setup(function()
    app = fakeapp.start { routes = { "GET /slow 200 late" }, delays = { "/slow 60000" } }
    dir = H.tmpdir()
  end)
  teardown(function() app:stop() end)

  it("abandons a slow request on SIGINT and exits 130 within seconds", function()
    local errfile = dir .. "/stderr"
    local code = string.format("require('migrun.http').get { url = %q, timeout = '60s' }",
                               app.url .. "/slow")
    local h <close> = proc.spawn({ H.bin, "-e", code }, { stdin = "null", stdout = "null",
      stderr = { file = errfile }, env = { NO_COLOR = "1" }, die_with_parent = true })
    H.eventually(function()
      local early = h:wait(0)
      assert(not early, "migrun ended before the request: " .. H.read(errfile))
      return #app:calls("/slow") == 1
    end)
    local t0 = clock.now()
    h:kill(proc.SIGINT)
    local res = h:wait(10000)
    assert.is_not_nil(res, "migrun did not exit within 10 s of SIGINT")
    assert.is_true(clock.since(t0) < 3e9, "took " .. clock.format(clock.since(t0)))
    assert.equal(130, res.status)
    assert.truthy(H.read(errfile):find("interrupted", 1, true), H.read(errfile))
  end)
end)
