-- The fake application itself (tests/harness/fake_app.c through fakeapp.lua): rules from the
-- command line and while running, delays that start later, the request log.
local http = require "migrun.http"
local fakeapp = require "fakeapp"

describe("the fake application", function()
  it("answers by its rules, the newest first, and 404 otherwise", function()
    local app = fakeapp.start { routes = { "GET /health 200 ok", "GET /api/* 200 api",
                                           "* /any 202 any" } }
    assert.equal("ok", http.get(app.url .. "/health").body)
    assert.equal("api", http.get(app.url .. "/api/v1/x").body)
    assert.equal(202, http.delete(app.url .. "/any").status)
    assert.equal(404, http.get(app.url .. "/nowhere").status)
    app:route('GET /health 503 {"status":"down"}')          -- becomes unhealthy later
    local res = http.get(app.url .. "/health", { retries = 0 })
    assert.equal(503, res.status)
    assert.equal("down", res.json.status)
    app.route("GET /health 200 back")                      -- a dot works too
    assert.equal("back", http.get(app.url .. "/health").body)
    app:stop()
  end)

  it("becomes slow when told to", function()
    local app = fakeapp.start { routes = { "GET /health 200 ok" } }
    assert.equal(200, http.get(app.url .. "/health", { timeout = "1s" }).status)
    app:delay("/health", 2000)
    local ok, err = pcall(http.get, app.url .. "/health", { timeout = "200ms", retries = 0 })
    assert.is_false(ok)
    assert.equal("timeout", err.reason)
    app:stop()
  end)

  it("logs every request with its headers and body, control requests left out", function()
    local app = fakeapp.start { routes = { "POST /hook 204" } }
    http.post { url = app.url .. "/hook?x=1", headers = { ["X-Run"] = "42" }, body = "a\nb\"c" }
    app:route("GET /other 200 x")
    local calls = app:calls()
    assert.equal(1, #calls)
    local c = calls[1]
    assert.equal(1, c.seq)
    assert.equal("POST", c.method)
    assert.equal("/hook", c.path)
    assert.equal("x=1", c.query)
    assert.equal("42", c.headers["x-run"])
    assert.equal("a\nb\"c", c.body)
    assert.same({}, app:calls("/other"))
    app:stop()
    app:stop()                                             -- stopping twice is harmless
  end)

  it("refuses a bad rule sent while running", function()
    local app = fakeapp.start {}
    local ok, err = pcall(app.route, "GET /x notanumber")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("400", 1, true))
    app:stop()
  end)
end)
