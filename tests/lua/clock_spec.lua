local clock = require "migrun.clock"

describe("clock", function()
  it("parses the durations playbooks use", function()
    assert.equal(400 * 1000000, clock.parse("400ms"))
    assert.equal(2 * 1000000000, clock.parse("2s"))
    assert.equal(5 * 60 * 1000000000, clock.parse("5m"))
    assert.equal(90 * 1000000000, clock.parse("1m30s"))
    assert.equal(1500 * 1000000, clock.parse("1.5s"))
  end)

  it("refuses what is not a duration, saying how to write one", function()
    for _, bad in ipairs({ "", "5", "fast", "5 parsecs", "2x" }) do
      local v, err = clock.parse(bad)
      assert.is_nil(v)
      assert.matches("400ms", err)
    end
  end)

  it("formats durations for people", function()
    assert.equal("234ms", clock.format(234 * 1000000))
    assert.equal("1.52s", clock.format(1520 * 1000000))
    assert.equal("3m04s", clock.format(184 * 1000000000))
    assert.equal("850us", clock.format(850 * 1000))
  end)

  it("takes integer nanoseconds as they are", function()
    assert.equal(1234, clock.parse(1234))
  end)

  it("returns at once from a sleep that is negative, zero or not a number", function()
    local t = clock.now()
    clock.sleep(-5)
    clock.sleep(0)
    clock.sleep(0 / 0)
    assert.is_true(clock.since(t) < 1e9)
    assert.is_false(pcall(clock.sleep, "soon"))
  end)

  it("measures elapsed time without overflowing", function()
    assert.equal("integer", math.type(clock.since(math.mininteger)))
  end)

  it("is monotonic and sleeps", function()
    local t = clock.now()
    clock.sleep(5)
    assert.is_true(clock.since(t) >= 5 * 1000000)
  end)
end)
