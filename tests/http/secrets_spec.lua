-- Secrets in HTTP requests: credential headers and http.secret values reach the server, and
-- never appear in a description, a tostring, an error, or a URL as shown.
local http = require "migrun.http"
local errors = require "migrun.errors"
local json = require "migrun.json"
local fakeapp = require "fakeapp"

local TOKEN = "tok-5ecr3t-8d1f"
local KEY = "key-5ecr3t-77aa"

-- none of the secrets in s
local function clean(s)
  s = tostring(s)
  assert.falsy(s:find(TOKEN, 1, true), s)
  assert.falsy(s:find(KEY, 1, true), s)
  assert.falsy(s:find("p4ssw0rd", 1, true), s)
  return s
end

describe("http secrets", function()
  local app, gone
  setup(function()
    app = fakeapp.start { routes = { "* /echo 200 @echo", "GET /down 503 down" },
                          delays = { "/slow 5000" } }
    local g = fakeapp.start {}
    gone = g.url
    g:stop()
  end)
  teardown(function() app:stop() end)

  it("wraps a value that prints as *** and concatenates into a secret", function()
    local s = http.secret(KEY)
    assert.is_true(http.is_secret(s))
    assert.equal("***", tostring(s))
    assert.equal("key: ***", string.format("key: %s", s))
    local bearer = "Bearer " .. http.secret(TOKEN)
    assert.is_true(http.is_secret(bearer))
    assert.equal("Bearer " .. TOKEN, http.reveal(bearer))
    clean(json.encode({ s, bearer }))
    local seen = {}
    for k, v in pairs(s) do seen[#seen + 1] = tostring(k) .. tostring(v) end
    assert.same({}, seen)                                 -- nothing to iterate over
    assert.equal(s, http.secret(s))
  end)

  it("sends the real values to the server", function()
    local res = http.get { url = app.url .. "/echo", headers = {
      Authorization = "Bearer " .. TOKEN, ["X-Key"] = http.secret(KEY) } }
    assert.equal("Bearer " .. TOKEN, res.json.headers.authorization)
    assert.equal(KEY, res.json.headers["x-key"])
  end)

  it("shows credential headers and secret values as *** in describe and tostring", function()
    local opts = { method = "POST", url = app.url .. "/echo",
                   headers = { Authorization = "Bearer " .. TOKEN, ["X-Key"] = http.secret(KEY),
                               Cookie = "sid=" .. TOKEN, ["X-Api-Key"] = KEY,
                               ["X-Trace"] = "t-1" } }
    local d = clean(http.describe(opts))
    assert.equal("POST " .. app.url .. "/echo [Authorization: ***, Cookie: ***, X-Api-Key: ***, " ..
                 "X-Key: ***, X-Trace: t-1]", d)
    local spec = http.spec.post(opts)
    clean(spec:describe())
    clean(tostring(spec))
    clean(json.encode(spec))                              -- even a dump of the spec object
  end)

  it("keeps secrets out of errors: refused, timeout, and a 5xx retried", function()
    local headers = { Authorization = "Bearer " .. TOKEN, ["X-Key"] = http.secret(KEY) }
    for _, case in ipairs({
      { url = gone .. "/x?token=" .. TOKEN, retries = 1, backoff = "1ms" },
      { url = app.url .. "/slow?api_key=" .. KEY, timeout = "100ms", retries = 0 },
    }) do
      case.headers = headers
      local ok, err = pcall(http.get, case)
      assert.is_false(ok)
      assert.is_true(errors.is(err, "http"))
      clean(tostring(err))
      clean(err.message)
      clean(err.url)
      for _, v in pairs(err) do clean(v) end
    end
  end)

  it("redacts user info and secret-looking query values in URLs as shown", function()
    assert.equal("https://alice:***@app.example.com/hook?token=***&page=2",
                 http.describe_url("https://alice:p4ssw0rd@app.example.com/hook?token=" .. TOKEN ..
                                   "&page=2"))
    assert.equal("https://***@github.com/o/r", http.describe_url("https://" .. TOKEN .. "@github.com/o/r"))
    assert.equal("https://s3/b?X-Amz-Signature=***&X-Amz-Date=1",
                 http.describe_url("https://s3/b?X-Amz-Signature=" .. KEY .. "&X-Amz-Date=1"))
    local ok, err = pcall(http.get, { url = "http://alice:p4ssw0rd@" .. gone:sub(8) .. "/?key=" .. KEY,
                                      retries = 0 })
    assert.is_false(ok)
    clean(tostring(err))
    assert.truthy(err.url:find("alice:***@", 1, true), err.url)
  end)

  it("shows only the origin of a secret URL (a webhook)", function()
    local hook = http.secret(app.url .. "/services/T000/B000/" .. TOKEN)
    local spec = http.spec.post { url = hook, json = { text = "migration started" } }
    assert.equal("POST " .. app.url .. "/***", spec:describe())
    local res = spec:send()                               -- the real URL was used: a 404 from it
    assert.equal(404, res.status)
    assert.equal("/services/T000/B000/" .. TOKEN, app:calls()[#app:calls()].path)
    clean(res.url)
    local ok, err = pcall(http.post, { url = http.secret(gone .. "/hook/" .. TOKEN) })
    assert.is_false(ok)
    clean(tostring(err))
    assert.equal(gone .. "/***", err.url)
  end)

  it("reveals secrets inside a JSON body only to the server", function()
    local spec = http.spec.post { url = app.url .. "/echo",
                                  json = { token = http.secret(TOKEN), channel = "#ops" } }
    clean(tostring(spec))
    local res = spec:send()
    assert.same({ token = TOKEN, channel = "#ops" }, json.decode(res.json.body))
  end)

  it("scrubs a request's secrets out of any text", function()
    local req = { url = app.url, headers = { Authorization = "Bearer " .. TOKEN } }
    assert.equal("echoed *** and *** back", http.scrub(req, "echoed Bearer " .. TOKEN ..
                 " and " .. TOKEN .. " back"))
  end)
end)
