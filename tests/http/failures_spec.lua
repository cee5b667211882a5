-- migrun.http when no response arrives: each failure raises migrun.error{kind = "http"} with a
-- reason a policy can act on (timeout, refused, tls, too_large, io), quickly, naming the
-- request; TLS is verified unless told otherwise.
local http = require "migrun.http"
local errors = require "migrun.errors"
local fakeapp = require "fakeapp"
local proc = require "migrun.proc"
local H = require "helper"

-- the error a call raises (the spec fails if it does not raise)
local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("http failures", function()
  local app
  setup(function()
    app = fakeapp.start { routes = { "GET /health 200 ok", "GET /hangup 0", "GET /big 200 @bytes:5000" },
                          delays = { "/slow 5000" } }
  end)
  teardown(function() app:stop() end)

  it("times out quickly with reason timeout", function()
    local secs, err = H.elapsed(function()
      return raised(http.get, { url = app.url .. "/slow", timeout = "300ms", retries = 0 })
    end)
    assert.is_true(errors.is(err, "http"))
    assert.equal("timeout", err.reason)
    assert.equal("GET", err.method)
    assert.equal(app.url .. "/slow", err.url)
    assert.equal(1, err.attempts)
    assert.truthy(tostring(err):find("GET " .. app.url .. "/slow: ", 1, true))
    assert.is_true(secs >= 0.25 and secs < 2, "took " .. secs .. " s")
  end)

  it("is refused when nothing listens, with reason refused", function()
    local gone = fakeapp.start {}
    local url = gone.url .. "/health"
    gone:stop()
    local secs, err = H.elapsed(function() return raised(http.get, url, { retries = 0 }) end)
    assert.is_true(errors.is(err, "http"))
    assert.equal("refused", err.reason)
    assert.equal(url, err.url)
    assert.is_true(secs < 2)
  end)

  it("fails the TLS handshake with a plain-HTTP server, with reason tls", function()
    local url = app.url:gsub("^http:", "https:") .. "/health"
    local err = raised(http.get, url, { timeout = "5s" })
    assert.is_true(errors.is(err, "http"))
    assert.equal("tls", err.reason)
    assert.equal(1, err.attempts)                         -- a TLS failure is not retried
  end)

  it("reports a connection closed without an answer as reason io, after retries", function()
    local err = raised(http.get, app.url .. "/hangup", { retries = 1, backoff = "1ms" })
    assert.is_true(errors.is(err, "http"))
    assert.equal("io", err.reason)
    assert.equal(2, err.attempts)
    assert.equal(2, #app:calls("/hangup"))
    assert.truthy(tostring(err):find("(2 attempts)", 1, true))
  end)

  it("stops reading a body over max_body, with reason too_large", function()
    local err = raised(http.get, app.url .. "/big", { max_body = 1000 })
    assert.is_true(errors.is(err, "http"))
    assert.equal("too_large", err.reason)
    assert.equal(5000, #http.get(app.url .. "/big").body)
  end)

  it("raises kind http for a URL curl cannot use, with reason url", function()
    local err = raised(http.get, "http://127.0.0.1:99999/x")
    assert.is_true(errors.is(err, "http"))
    assert.equal("url", err.reason)
  end)

  describe("TLS verification", function()
    local dir, server, url
    setup(function()
      if not proc.which("openssl") then return end
      dir = H.tmpdir()
      local r = proc.run({ "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", dir .. "/key.pem", "-out", dir .. "/cert.pem", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1" })
      assert(r.ok, r.stderr)
      server = proc.spawn({ "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
        dir .. "/cert.pem", "-key", dir .. "/key.pem", "-www" },
        { stdout = { file = dir .. "/out" }, stderr = "null", die_with_parent = true })
      local port = H.eventually(function()
        local f = io.open(dir .. "/out")
        local s = f and f:read("a") or ""
        if f then f:close() end
        return s:match("ACCEPT [^\n]*:(%d+)")
      end)
      url = "https://127.0.0.1:" .. port .. "/"
    end)
    teardown(function() if server then server:close() end end)

    it("refuses a self-signed certificate by default, with reason tls", function()
      if not server then pending("openssl is needed for a TLS server") return end
      local err = raised(http.get, url)
      assert.equal("tls", err.reason)
      assert.equal(1, err.attempts)
    end)

    it("accepts it from a given CA file, or with verify = false", function()
      if not server then pending("openssl is needed for a TLS server") return end
      assert.equal(200, http.get(url, { cafile = dir .. "/cert.pem" }).status)
      assert.equal(200, http.get(url, { verify = false }).status)
    end)
  end)
end)

describe("http retries", function()
  local app
  setup(function()
    app = fakeapp.start { routes = { 'GET /down 503 {"status":"down"}', "* /teapot 418 no",
                                     "POST /down 503 down" },
                          delays = { "/slow 5000" } }
  end)
  teardown(function() app:stop() end)

  it("retries a 5xx with backoff and returns the last response, attempts counted", function()
    local secs, res = H.elapsed(function()
      return http.get(app.url .. "/down", { retries = 2, backoff = "50ms" })
    end)
    assert.equal(503, res.status)
    assert.is_false(res.ok)
    assert.equal(3, res.attempts)
    assert.equal("down", res.json.status)
    assert.equal(3, #app:calls("/down"))
    assert.is_true(secs >= 0.14, "backoff 50ms + 100ms, took " .. secs)   -- 50 + 100 ms
  end)

  it("does not retry a 4xx", function()
    local res = http.get(app.url .. "/teapot", { retries = 3, backoff = "1ms" })
    assert.equal(418, res.status)
    assert.equal(1, res.attempts)
    assert.equal(1, #app:calls("/teapot"))
  end)

  it("retries GET twice by default, POST not at all unless asked", function()
    local before = #app:calls("/down")
    assert.equal(3, http.get(app.url .. "/down", { backoff = "1ms" }).attempts)
    assert.equal(1, http.post(app.url .. "/down").attempts)
    assert.equal(2, http.post(app.url .. "/down", { retries = 1, backoff = "1ms" }).attempts)
    assert.equal(before + 6, #app:calls("/down"))
  end)

  it("retries a timeout and raises after the last attempt", function()
    local err = raised(http.get, app.url .. "/slow", { timeout = "100ms", retries = 1,
                                                        backoff = "1ms" })
    assert.equal("timeout", err.reason)
    assert.equal(2, err.attempts)
    H.eventually(function() return #app:calls("/slow") >= 2 end, 2000)
  end)

  it("retries a refused connection", function()
    local gone = fakeapp.start {}
    local url = gone.url
    gone:stop()
    local err = raised(http.put, url, { retries = 2, backoff = "1ms" })
    assert.equal("refused", err.reason)
    assert.equal(3, err.attempts)
  end)
end)
