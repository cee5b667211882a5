-- migrun.db conn:rows(): results of any size in flat memory (single-row mode); break, errors
-- and gc end the query and give the connection back.
local H = require "helper"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

-- resident set size of this process in kB (C memory too, where collectgarbage can't see)
local function rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

describe("conn:rows", function()
  local dbname, c

  setup(function()
    dbname = H.fresh_db("dbrows")
    c = H.connect(dbname)
  end)

  teardown(function()
    if c then c:close() end
    H.drop_db(dbname)
  end)

  it("yields typed rows keyed by column name, with parameters", function()
    local got = {}
    for row in c:rows("SELECT g AS n, g % 2 = 0 AS even, NULL::text AS nothing, " ..
                      "md5(g::text) AS h FROM generate_series(1, $1) g", 5) do
      got[#got + 1] = row
    end
    assert.equal(5, #got)
    assert.equal("integer", math.type(got[3].n))
    assert.is_true(got[2].even)
    assert.is_false(got[3].even)
    assert.is_nil(got[1].nothing)
    assert.equal(32, #got[1].h)
  end)

  it("streams a million rows in flat memory", function()
    collectgarbage()
    collectgarbage()
    local base, rss0 = collectgarbage("count"), rss_kb()
    local peak, n, sum = base, 0, 0
    for row in c:rows("SELECT g, md5(g::text) FROM generate_series(1, 1000000) g") do
      n = n + 1
      sum = sum + row.g
      if n % 50000 == 0 then peak = math.max(peak, collectgarbage("count")) end
    end
    assert.equal(1000000, n)
    assert.equal(1000000 * 1000001 // 2, sum)
    -- materialised, this result is ~190 MB of Lua tables plus ~100 MB of PGresult; streamed,
    -- both stay at garbage level (measured: ~0.2 MB of heap, ~1 MB of RSS)
    assert.is_true(peak - base < 16 * 1024, string.format("Lua heap grew %.0f kB", peak - base))
    local rss1 = rss_kb()
    -- AddressSanitizer's quarantine keeps freed memory resident: RSS says nothing there
    if rss0 and rss1 and not os.getenv("ASAN_OPTIONS") then
      assert.is_true(rss1 - rss0 < 64 * 1024, string.format("RSS grew %d kB", rss1 - rss0))
    end
    assert.equal("idle", c:status())
  end)

  it("cancels the rest of the query on break and leaves the connection usable", function()
    -- a set-returning function in the target list streams (in FROM it would materialise):
    -- reading 100M rows to the end would take minutes
    local secs = H.elapsed(function()
      for row in c:rows("SELECT generate_series(1, 100000000) AS g") do
        if row.g == 10 then break end
      end
    end)
    assert.is_true(secs < 10, string.format("break took %.1fs", secs))
    assert.equal("idle", c:status())
    assert.equal(1, c:query("SELECT 1 AS x")[1].x)
  end)

  it("raises a mid-stream SQL error after the rows before it, and recovers", function()
    local n = 0
    local ok, err = pcall(function()
      for _ in c:rows("SELECT 1 / (1000 - g) AS x FROM generate_series(1, 2000) g") do
        n = n + 1
      end
    end)
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "22012"))
    assert.is_true(n < 1000)
    assert.equal("idle", c:status())
    assert.equal(2, c:query("SELECT 2 AS x")[1].x)
  end)

  it("raises an SQL error before the first row (bad SQL) with its position", function()
    local ok, err = pcall(function() for _ in c:rows("SELECT nope FROM nowhere") do end end)
    assert.is_false(ok)
    assert.equal("42P01", err.sqlstate)
    assert.equal(18, err.position)
    assert.equal(3, c:query("SELECT 3 AS x")[1].x)
  end)

  it("ends the query when the loop body raises", function()
    local ok, err = pcall(function()
      for row in c:rows("SELECT generate_series(1, 100000000) AS g") do
        if row.g == 3 then error({ mine = true }) end
      end
    end)
    assert.is_false(ok)
    assert.is_true(err.mine)
    assert.equal(4, c:query("SELECT 4 AS x")[1].x)
  end)

  it("finishes quietly when every row has already arrived", function()
    for row in c:rows("SELECT g FROM generate_series(1, 3) g") do
      if row.g == 2 then break end
    end
    assert.equal(5, c:query("SELECT 5 AS x")[1].x)
  end)

  it("keeps the connection busy inside the loop", function()
    local ok, err
    for _ in c:rows("SELECT 1") do
      ok, err = pcall(c.query, c, "SELECT 2")
    end
    assert.is_false(ok)
    assert.truthy(tostring(err):find("busy", 1, true))
    assert.equal(6, c:query("SELECT 6 AS x")[1].x)
  end)

  it("yields nothing for a statement without rows", function()
    c:exec("CREATE TABLE r (x int)")
    local n = 0
    for _ in c:rows("INSERT INTO r VALUES (1)") do n = n + 1 end
    for _ in c:rows("") do n = n + 1 end
    assert.equal(0, n)
    assert.equal(1, c:query("SELECT count(*) AS n FROM r")[1].n)
  end)

  it("gives the connection back when an abandoned stream is collected", function()
    local function abandon()
      local next_row, stream = c:rows("SELECT generate_series(1, 100000000) AS g")
      assert.equal(1, next_row(stream).g)
    end
    abandon()
    collectgarbage()
    collectgarbage()
    assert.equal(7, c:query("SELECT 7 AS x")[1].x)
  end)

  it("raises a clear error when the connection is closed inside the loop", function()
    local t = H.connect(dbname)
    local ok, err = pcall(function()
      for _ in t:rows("SELECT generate_series(1, 1000) AS g") do t:close() end
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true))
    assert.equal("closed", t:status())
  end)

  -- Ctrl-C can raise as conn:rows() returns, before the loop holds the stream as its closing
  -- value: the connection is then closed (or collected) with the query still running, and
  -- closing a socket does not stop a query that is not sending anything
  it("cancels a query still running when its connection is closed before the loop", function()
    local t = H.connect(dbname)
    local marker = "rows_orphan_" .. sys.getpid()
    local pid = t:backend_pid()
    local _ = t:rows("SELECT pg_sleep(30) AS " .. marker)
    H.eventually(function()
      return c:query("SELECT state FROM pg_stat_activity WHERE pid = $1", pid)[1].state == "active"
    end)
    t:close()
    H.eventually(function()
      local r = c:query("SELECT state FROM pg_stat_activity WHERE pid = $1", pid)[1]
      return r == nil or r.state ~= "active"
    end, 3000)
  end)

  it("gives up on a frozen backend mid-stream: the connection is closed", function()
    local t <close> = H.connect(dbname)
    local pid = t:backend_pid()
    local ok, err
    local n = 0
    do
      local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
      ok, err = pcall(function()
        for _ in t:rows("SELECT generate_series(1, 100000000) AS g") do
          n = n + 1
          if n == 1 then                     -- from here on, silence is a hang
            t:set_client_timeout(300)
            assert(sys.kill(pid, 19))          -- SIGSTOP, undone above
          end
        end
      end)
    end
    assert.is_false(ok)
    assert.is_true(errors.is(err, "connection"), tostring(err))
    assert.is_true(err.lost and err.timed_out)
    assert.is_true(n >= 1)
    assert.equal("closed", t:status())
  end)

  it("delivers notices when the stream ends", function()
    local t <close> = H.connect(dbname)
    t:exec([[CREATE FUNCTION noisy() RETURNS int LANGUAGE plpgsql AS $$
             BEGIN RAISE NOTICE 'from noisy'; RETURN 1; END $$]])
    local got = {}
    t:notices(function(n) got[#got + 1] = n.message end)
    for _ in t:rows("SELECT noisy()") do end
    assert.same({ "from noisy" }, got)
  end)
end)
