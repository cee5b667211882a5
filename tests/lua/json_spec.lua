-- migrun.json: lua-cjson plus one rule, a table marked as a list is [] when empty
local json = require "migrun.json"

describe("json.encode", function()
  it("writes a marked empty list as [], at any depth, and an unmarked empty table as {}", function()
    local v = { a = json.array(), b = { c = json.array(), d = { 1, 2 } }, e = {}, f = json.array({ 1 }) }
    assert.same({ a = {}, b = { c = {}, d = { 1, 2 } }, e = {}, f = { 1 } }, json.decode(json.encode(v)))
    local text = json.encode(v)
    assert.truthy(text:find('"a":[]', 1, true), text)
    assert.truthy(text:find('"c":[]', 1, true), text)
    assert.truthy(text:find('"e":{}', 1, true), text)
    assert.equal("[]", json.encode(json.array()))
  end)

  it("leaves the value it encodes as it was", function()
    local inner = json.array()
    local v = { list = inner, n = 1 }
    json.encode(v)
    assert.equal(inner, v.list)
    assert.is_nil(next(inner))
  end)

  it("keeps a string that happens to look like the marker's text", function()
    assert.equal('["x"]', json.encode({ "x" }))
    assert.equal('"a [] b"', json.encode("a [] b"))
  end)
end)
