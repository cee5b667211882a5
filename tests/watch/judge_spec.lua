-- migrun.watch.judge and migrun.watch.config without a database: a tick's figures as deltas,
-- thresholds broken or not, and the option parsing the DSL relies on.
local judge = require "migrun.watch.judge"
local config = require "migrun.watch.config"
local errors = require "migrun.errors"

-- the DSL's helpers, as dsl.lua hands them over
local H = {
  fail = function(_, fmt, ...) error(errors.new("playbook", string.format(fmt, ...)), 0) end,
  check_keys = function() end,
  parse_duration = function(_, _, v) return require("migrun.clock").parse(v) end,
  is_expectation = function(e) return require("migrun.expect").is(e) end,
}

local function watch(t) return config.new("w", t, {}, H) end

local function row(t)
  local r = { commits = 0, rollbacks = 0, deadlocks = 0, temp_bytes = 0, connections = 0, lock_waits = 0 }
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end

describe("watch.judge", function()
  it("counts commits since the previous tick and the rollback rate since the window opened", function()
    local m = judge.metrics(row { commits = 190, rollbacks = 10 }, row { commits = 100 }, row { commits = 150 })
    assert.equal(40, m.commits)
    assert.equal(10, m.rollbacks)
    assert.near(10, m.rollback_rate_pct, 1e-9)                 -- 10 of 100 since the window opened
  end)

  it("counts a reset counter from zero, never below", function()
    local m = judge.metrics(row { deadlocks = 1 }, row { deadlocks = 7 }, row { deadlocks = 7 })
    assert.equal(0, m.deadlocks)
  end)

  it("breaks max and min, and names each figure once", function()
    local w = watch { duration = "1m", connections = { max = 3, min = 1 }, deadlocks = 0, temp_bytes = "1MB" }
    local b = judge.breaches(w, judge.metrics(row { connections = 4, deadlocks = 1, temp_bytes = 2 ^ 21 },
                                              row(), row()), row())
    local got = {}
    for _, x in ipairs(b) do got[x.metric] = x end
    assert.equal("max 3", got.connections.limit)
    assert.equal(1, got.deadlocks.value)
    assert.equal("max 1.0 MB", got.temp_bytes.limit)
    b = judge.breaches(w, judge.metrics(row { connections = 0 }, row(), row()), row())
    assert.equal("min 1", b[1].limit)
    assert.equal(1, #b)
  end)

  it("compares only queries with min_calls calls before and in the window", function()
    local w = watch { duration = "1m", slower = { queries = "50%", min_calls = 10 } }
    local fig = row { worst = {
      { queryid = "1", slower_pct = 400, calls = 9, base_calls = 100, mean = 5, base_mean = 1 },
      { queryid = "2", slower_pct = 300, calls = 10, base_calls = 9, mean = 4, base_mean = 1 },
      { queryid = "3", slower_pct = 60, calls = 10, base_calls = 10, mean = 1.6, base_mean = 1 },
      { queryid = "4", slower_pct = 40, calls = 50, base_calls = 50, mean = 1.4, base_mean = 1 },
    } }
    local b = judge.breaches(w, judge.metrics(fig, row(), row(), true), fig)
    assert.equal(1, #b)
    assert.equal("slower_pct:3", b[1].key)
    assert.truthy(b[1].message:find("mean 1.6 ms in the window against 1.0 ms before (+60%", 1, true), b[1].message)
  end)
end)

describe("watch.config", function()
  it("parses percentages, sizes and limits", function()
    local w = watch { duration = "30m", slower = "50%", rollback_rate = { max = "2.5%" }, temp_bytes = "64kB",
                      lock_waits = 5, on_breach = "alert" }
    assert.equal(50, w.slower.pct)
    assert.equal(config.DEFAULT_MIN_CALLS, w.slower.min_calls)
    assert.equal(2.5, w.rollback_rate)
    assert.equal(65536, w.temp_bytes)
    assert.same({ max = 5 }, w.lock_waits)
    assert.equal(15e9, w.every_ns)
  end)

  it("refuses what it cannot read", function()
    for _, t in ipairs({
      { duration = "1m", rollback_rate = 2 },
      { duration = "1m", temp_bytes = "1 parsec" },
      { duration = "1m", connections = { most = 3 } },
      { duration = "1m", deadlocks = -1 },
      { duration = "1s", every = "2s" },
      { duration = "1m", slower = { queries = "50%", min_calls = 0 } },
      { duration = "1m", on_breach = "panic" },
      { duration = "1m", "not an expectation" },
    }) do
      local ok, err = pcall(watch, t)
      assert.is_false(ok)
      assert.equal("playbook", err.kind)
    end
  end)
end)
