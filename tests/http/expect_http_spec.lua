-- expect.http through migrun.expect_http's interface (new + kind), as migrun.expect will
-- plug it in: one request, ok/actual/expected as text, never raising for what the endpoint did.
local expect_http = require "migrun.expect_http"
local http = require "migrun.http"
local fakeapp = require "fakeapp"

-- an expectation as migrun.expect builds it: the fields, with kind, file and line
local function make(opts)
  local e = expect_http.new(opts, { file = "playbook.lua", line = 7 })
  e.kind, e.file, e.line = "http", "playbook.lua", 7
  return e
end

local function check(opts)
  local e = make(opts)
  return expect_http.kind.check(e, {})
end

describe("expect.http", function()
  local app
  setup(function()
    app = fakeapp.start { routes = {
      'GET /health 200 {"status":"ok","db":{"connected":true},"replicas":[{"lag":0}]}',
      'GET /down 503 {"status":"down"}',
      "GET /text 200 all systems ok",
      "GET /created 201 made",
      "* /echo 200 @echo",
      "GET /hangup 0",
    }, delays = { "/slow 3000" } }
    app:route("GET /slow 200 late")
  end)
  teardown(function() app:stop() end)

  it("passes on a 2xx by default, saying the status and time", function()
    local ok, actual, expected = check { url = app.url .. "/health" }
    assert.is_true(ok)
    assert.truthy(actual:find("^200 in %d+[mu]s$"), actual)
    assert.equal("status 2xx", expected)
  end)

  it("checks the status, a body substring and JSON paths together", function()
    local ok, actual, expected = check { url = app.url .. "/health", status = 200,
      body_contains = "connected", within = "2s",
      json = { status = "ok", ["db.connected"] = true, ["replicas.1.lag"] = 0 } }
    assert.is_true(ok, actual)
    assert.equal('status 200, body containing "connected", json db.connected = true, ' ..
                 'json replicas.1.lag = 0, json status = "ok", within 2s', expected)
  end)

  it("fails on a wrong status, showing the body", function()
    local ok, actual, expected = check { url = app.url .. "/down", status = 200 }
    assert.is_false(ok)
    assert.equal('503: {"status":"down"}', actual)
    assert.equal("status 200", expected)
  end)

  it("accepts a list of statuses or a class", function()
    assert.is_true((check { url = app.url .. "/created", status = { 200, 201 } }))
    assert.is_false((check { url = app.url .. "/created", status = { 200, 204 } }))
    assert.is_true((check { url = app.url .. "/down", status = "5xx" }))
  end)

  it("fails when the body lacks the text", function()
    local ok, actual = check { url = app.url .. "/text", body_contains = "degraded" }
    assert.is_false(ok)
    assert.equal("200: all systems ok", actual)
  end)

  it("fails on a JSON value that differs, naming the path and what it holds", function()
    local ok, actual = check { url = app.url .. "/health",
                               json = { status = "ok", ["db.connected"] = false, ["db.pool"] = 5 } }
    assert.is_false(ok)
    assert.equal("200: db.connected = true, db.pool = (absent)", actual)
    ok, actual = check { url = app.url .. "/text", json = { status = "ok" } }
    assert.is_false(ok)
    assert.equal("200, not JSON: all systems ok", actual)
  end)

  it("fails, without raising, when no answer comes within the limit", function()
    local ok, actual, expected = check { url = app.url .. "/slow", within = "200ms" }
    assert.is_false(ok)
    assert.equal("no answer within 200ms", actual)
    assert.equal("status 2xx, within 200ms", expected)
  end)

  it("fails, without raising, when the application is down or hangs up", function()
    local gone = fakeapp.start {}
    local url = gone.url .. "/health"
    gone:stop()
    local ok, actual = check { url = url }
    assert.is_false(ok)
    assert.truthy(actual:find("^refused: "), actual)
    ok, actual = check { url = app.url .. "/hangup" }
    assert.is_false(ok)
    assert.truthy(actual:find("^io: "), actual)
  end)

  it("makes exactly one request per check (no retries)", function()
    local before = #app:calls("/down")
    check { url = app.url .. "/down" }
    assert.equal(before + 1, #app:calls("/down"))
  end)

  it("cuts a long body to 200 characters on one line", function()
    app:route("GET /long 500 " .. string.rep("line of text ", 40))
    local ok, actual = check { url = app.url .. "/long" }
    assert.is_false(ok)
    assert.equal(5 + 200, #actual)                        -- "500: " + 200
    assert.truthy(actual:find("%.%.%.$"))
  end)

  it("describes itself with secrets redacted, and keeps them out of actual", function()
    local token = "tok-exp-5ecr3t-11"
    app:route("POST /leak 200 you sent Bearer " .. token .. " and " .. token)
    local e = make { url = app.url .. "/leak", method = "POST", body_contains = "nothing-like-this",
                     headers = { Authorization = "Bearer " .. token, ["X-K"] = http.secret(token) } }
    local d = expect_http.kind.describe(e)
    assert.equal("http POST " .. app.url .. "/leak [Authorization: ***, X-K: ***]: " ..
                 'status 2xx, body containing "nothing-like-this"', d)
    local ok, actual = expect_http.kind.check(e, {})   -- the answer holds the token: scrubbed
    assert.is_false(ok)
    assert.equal("200: you sent *** and ***", actual)
  end)

  it("marks itself as outside any transaction and says what it expected", function()
    assert.is_true(expect_http.kind.outside_transaction)
    local e = make { url = app.url .. "/health", status = 200, within = "2s" }
    assert.equal("status 200, within 2s", expect_http.kind.expected(e))
  end)

  describe("refuses bad options with a playbook error at the given line", function()
    local cases = {
      { "a missing url", {} },
      { "a url that is not http", { url = "postgres://x" } },
      { "a bad status", { url = "http://x/", status = "ok" } },
      { "a bad status in a list", { url = "http://x/", status = { 200, "x" } } },
      { "an empty body_contains", { url = "http://x/", body_contains = "" } },
      { "an empty json table", { url = "http://x/", json = {} } },
      { "a bad within", { url = "http://x/", within = "quickly" } },
      { "a number for within", { url = "http://x/", within = 2 } },
      { "an unknown option", { url = "http://x/", statsu = 200 } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local ok, err = pcall(expect_http.new, c[2], { file = "playbook.lua", line = 12 })
        assert.is_false(ok)
        assert.equal("playbook", err.kind)
        assert.equal("playbook.lua", err.file)
        assert.equal(12, err.line)
        assert.truthy(err.message:find("^expect%.http: "), err.message)
      end)
    end
  end)
end)
