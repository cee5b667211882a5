-- migrun.http against the fake application: every verb with headers, bodies and JSON both
-- ways; any status is a response; options are checked before anything is sent.
local http = require "migrun.http"
local fakeapp = require "fakeapp"
local json = require "migrun.json"

describe("http requests", function()
  local app
  setup(function()
    app = fakeapp.start { routes = {
      'GET /health 200 {"status":"ok","db":{"connected":true},"items":[{"name":"a"}]}',
      "* /echo 200 @echo",
      "GET /text 200 +X-Twice:one +X-Twice:two plain words",
      "GET /problem 422 +Content-Type:application/problem+json {\"title\":\"bad\"}",
      "GET /notjson 200 +Content-Type:application/json {not json",
      "POST /admin/maintenance-mode 204",
      "DELETE /admin/maintenance-mode 204",
      "GET /missing 404 nope",
    } }
  end)
  teardown(function() app:stop() end)

  -- the request the fake app logged last (for a path)
  local function last(path)
    local calls = app:calls(path)
    return calls[#calls]
  end

  it("GETs a JSON document and decodes it", function()
    local res = http.get(app.url .. "/health")
    assert.equal(200, res.status)
    assert.is_true(res.ok)
    assert.equal(1, res.attempts)
    assert.equal("ok", res.json.status)
    assert.is_true(res.json.db.connected)
    assert.equal("a", res.json.items[1].name)
    assert.equal("application/json", res.headers["content-type"])
    assert.equal("application/json", res.headers["Content-Type"])   -- any case reads
    assert.is_true(res.seconds >= 0 and res.seconds < 5)
    assert.equal("GET", last("/health").method)
  end)

  it("sends headers, a query and a text body with every verb", function()
    for _, verb in ipairs({ "get", "post", "put", "patch", "delete" }) do
      local res = http[verb](app.url .. "/echo", {
        headers = { ["X-Request-Id"] = "r-" .. verb, Accept = "text/plain", ["X-Num"] = 7 },
        query = { page = 2, q = "a b&c" },
        body = "payload of " .. verb,
      })
      assert.equal(200, res.status, verb)
      local seen = res.json
      assert.equal(verb:upper(), seen.method)
      assert.equal("/echo", seen.path)
      assert.equal("page=2&q=a%20b%26c", seen.query)
      assert.equal("r-" .. verb, seen.headers["x-request-id"])
      assert.equal("text/plain", seen.headers.accept)
      assert.equal("7", seen.headers["x-num"])
      assert.equal("payload of " .. verb, seen.body)
      assert.is_nil(seen.headers["content-type"])          -- curl adds no form type of its own
      assert.same(seen, json.decode(json.encode(last("/echo"))))
    end
  end)

  it("sends JSON with its Content-Type and reads JSON back", function()
    local res = http.post { url = app.url .. "/echo", json = { mode = "on", ids = { 1, 2 } } }
    local seen = res.json
    assert.equal("POST", seen.method)
    assert.equal("application/json", seen.headers["content-type"])
    assert.same({ mode = "on", ids = { 1, 2 } }, json.decode(seen.body))
    -- a Content-Type of the caller's own is kept
    res = http.put { url = app.url .. "/echo", json = { a = 1 },
                     headers = { ["content-type"] = "application/merge-patch+json" } }
    assert.equal("application/merge-patch+json", res.json.headers["content-type"])
  end)

  it("posts and deletes without a body (Content-Length 0 on POST)", function()
    local on = http.post(app.url .. "/admin/maintenance-mode")
    assert.equal(204, on.status)
    assert.is_true(on.ok)
    assert.equal("", on.body)
    assert.equal("0", last("/admin/maintenance-mode").headers["content-length"])
    local off = http.delete { url = app.url .. "/admin/maintenance-mode" }
    assert.equal(204, off.status)
    assert.equal("DELETE", last("/admin/maintenance-mode").method)
  end)

  it("reads HEAD answers without a body", function()
    local res = http.head(app.url .. "/health")
    assert.equal(200, res.status)
    assert.equal("", res.body)
    assert.is_nil(res.json)
  end)

  it("returns a non-2xx status as a response, not an error", function()
    local res = http.get(app.url .. "/missing")
    assert.equal(404, res.status)
    assert.is_false(res.ok)
    assert.equal("nope", res.body)
    local p = http.get(app.url .. "/problem")
    assert.equal(422, p.status)
    assert.equal("bad", p.json.title)                     -- +json types decode too
  end)

  it("joins a repeated response header and leaves text bodies alone", function()
    local res = http.get(app.url .. "/text")
    assert.equal("plain words", res.body)
    assert.equal("one, two", res.headers["x-twice"])
    assert.equal("text/plain", res.headers["content-type"])
    assert.is_nil(res.json)
  end)

  it("says when a JSON body does not decode instead of raising", function()
    local res = http.get(app.url .. "/notjson")
    assert.equal(200, res.status)
    assert.is_nil(res.json)
    assert.is_string(res.json_error)
  end)

  it("performs a request given as options with a method", function()
    local res = http.request { method = "put", url = app.url .. "/echo", body = "x" }
    assert.equal("PUT", res.json.method)
    assert.equal("PUT", res.method)
  end)

  it("prints a response without its body", function()
    local res = http.get(app.url .. "/health")
    assert.truthy(tostring(res):find("^migrun%.http%.response %(200, "))
  end)

  describe("checks options before sending anything", function()
    local cases = {
      { "no url", {} },
      { "a url without http", { url = "ftp://example.com/x" } },
      { "an unknown option", { url = "http://x/", tiemout = "1s" } },
      { "a number for timeout", { url = "http://x/", timeout = 5 } },
      { "a bad duration", { url = "http://x/", timeout = "soon" } },
      { "body and json together", { url = "http://x/", body = "a", json = {} } },
      { "a bad header name", { url = "http://x/", headers = { ["Bad Name"] = "v" } } },
      { "negative retries", { url = "http://x/", retries = -1 } },
      { "a non-boolean verify", { url = "http://x/", verify = "no" } },
      { "a method other than its own", { url = "http://x/", method = "GET" } },
    }
    for _, c in ipairs(cases) do
      it("refuses " .. c[1] .. ", naming the caller's line", function()
        local before = #app:calls()
        local ok, err = pcall(function()
          local res = http.post(c[2])                     -- not a tail call: this line is named
          return res
        end)
        assert.is_false(ok)
        assert.is_string(err)                             -- misuse: a plain error
        assert.truthy(err:find("http_spec.lua:%d+: http%.post: "), err)
        assert.equal(before, #app:calls())
      end)
    end

    it("suggests the option meant", function()
      local ok, err = pcall(http.post, { url = "http://x/", tiemout = "1s" })
      assert.is_false(ok)
      assert.truthy(err:find("unknown option tiemout (did you mean 'timeout'?)", 1, true), err)
    end)

    it("refuses a header holding a line break in the C binding", function()
      local ok, err = pcall(http.get, { url = app.url .. "/echo",
                                        headers = { ["X-Evil"] = "a\r\nX-Injected: 1" } })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("line break", 1, true))
      assert.falsy(tostring(err):find("Injected", 1, true))
    end)
  end)
end)

describe("http request specs", function()
  it("describe themselves and send later", function()
    local app = fakeapp.start { routes = { "POST /admin/maintenance-mode 204" } }
    local spec = http.spec.post { url = app.url .. "/admin/maintenance-mode" }
    assert.is_true(http.is_spec(spec))
    assert.equal("POST", spec.method)
    assert.equal("POST " .. app.url .. "/admin/maintenance-mode", spec:describe())
    assert.equal("http POST " .. app.url .. "/admin/maintenance-mode", tostring(spec))
    assert.equal(0, #app:calls())                         -- nothing sent when built
    local res = spec:send()
    assert.equal(204, res.status)
    res = spec:send({})                                   -- a run's context is accepted
    assert.equal(204, res.status)
    assert.equal(2, #app:calls())
    assert.equal("DELETE http://h/x", http.request_spec("delete", "http://h/x"):describe())
    app:stop()
  end)

  it("raise a playbook error at the playbook's line when built wrong", function()
    local ok, err = pcall(function()
      local spec = http.spec.post { url = 42 }
      return spec
    end)
    assert.is_false(ok)
    assert.equal("playbook", err.kind)
    assert.truthy(err.file:find("http_spec.lua", 1, true))
    assert.is_number(err.line)
    assert.truthy(err.message:find("http.spec.post: url", 1, true))
  end)
end)
