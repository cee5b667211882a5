-- The fleet's wave planning and its checks (pure: no server).
local waves = require "migrun.fleet.waves"

local function sizes(n, spec)
  local out = {}
  for i, w in ipairs(waves.plan(n, spec)) do out[i] = w.last - w.first + 1 end
  return out
end

describe("fleet waves", function()
  it("cuts a canary, then a percentage of all the targets, then the rest", function()
    assert.same({ 1, 5, 44 }, sizes(50, { 1, "10%", "rest" }))
    assert.same({ 1, 3, 2 }, sizes(6, { 1, "50%", "rest" }))
  end)

  it("gives a percentage at least one target, and stops when the targets run out", function()
    assert.same({ 1, 1, 1 }, sizes(3, { 1, "10%", "rest" }))
    assert.same({ 1 }, sizes(1, { 1, "10%", "rest" }))
  end)

  it("repeats the last size when no \"rest\" ends the list", function()
    assert.same({ 1, 10, 10, 4 }, sizes(25, { 1, 10 }))
    assert.same({ 7 }, sizes(7, { "rest" }))
  end)

  it("refuses what is not a size, a \"rest\" before the end, and a percentage out of range", function()
    assert.is_nil(waves.check({ 1, "10%", "rest" }))
    assert.truthy(waves.check({ "rest", 1 }):find("comes last", 1, true))
    assert.truthy(waves.check({ 0 }):find("at least 1", 1, true))
    assert.truthy(waves.check({ "150%" }):find("percentage", 1, true))
    assert.truthy(waves.check({ "ten" }):find("not a size", 1, true))
    assert.truthy(waves.check({}):find("list of sizes", 1, true))
    assert.truthy(waves.check({ 1, size = 2 }):find("no keys", 1, true))
  end)
end)
