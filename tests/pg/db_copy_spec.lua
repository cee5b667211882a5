-- migrun.db conn:copy_out / conn:copy_in: streaming COPY to and from files (in C) and Lua
-- functions, text and binary formats; every failure leaves the connection usable.
local H = require "helper"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

describe("COPY", function()
  local dbname, c, dir

  -- an md5 of the whole table in a stable order: equal content, equal fingerprint
  local function fingerprint(t)
    return c:query("SELECT count(*) AS n, md5(string_agg(x::text, '|' ORDER BY x::text)) AS h " ..
                   "FROM " .. t .. " x")[1]
  end

  local function fresh(name)
    c:exec("DROP TABLE IF EXISTS " .. name)
    c:exec("CREATE TABLE " .. name .. " (LIKE src)")
  end

  setup(function()
    dbname = H.fresh_db("dbcopy")
    c = H.connect(dbname)
    dir = H.tmpdir()
    c:exec([[CREATE TABLE src (id int PRIMARY KEY, t text, n numeric, b bool, f float8,
                               ts timestamptz, j jsonb, raw bytea)]])
    c:exec([[INSERT INTO src VALUES
      (1, 'plain', 1.5, true, 0.1, '2024-01-02 03:04:05+00', '{"a": [1, 2]}', '\x00ff'),
      (2, E'tab\there\nnew line \\ backslash', NULL, false, 'NaN', NULL, NULL, NULL),
      (3, 'ünïcødé ✓', 12345678901234567890.000000000000000001, NULL, '-Infinity',
       'infinity', '"s"', ''),
      (4, NULL, 0, true, 1e308, '1970-01-01 00:00:00+00', 'null', '\x5c2e')]])
    c:exec("INSERT INTO src SELECT g, md5(g::text), g, g % 2 = 0, g / 7.0, NULL, NULL, NULL " ..
           "FROM generate_series(5, 20000) g")
  end)

  teardown(function()
    if c then c:close() end
    H.rmtree(dir)
    H.drop_db(dbname)
  end)

  it("round-trips a table through a file in text format", function()
    local path = dir .. "/src.txt"
    assert.equal(20000, c:copy_out("COPY src TO STDOUT", path))
    fresh("dst")
    assert.equal(20000, c:copy_in("COPY dst FROM STDIN", path))
    assert.same(fingerprint("src"), fingerprint("dst"))
    assert.equal(0, c:query("SELECT count(*) AS n FROM (SELECT * FROM src EXCEPT " ..
                            "SELECT * FROM dst) d")[1].n)
  end)

  it("round-trips a table through a file in binary format", function()
    local path = dir .. "/src.bin"
    assert.equal(20000, c:copy_out("COPY src TO STDOUT (FORMAT binary)", path))
    assert.equal("PGCOPY\n\xff\r\n\0", H.read(path):sub(1, 11))
    fresh("dstb")
    assert.equal(20000, c:copy_in("COPY dstb FROM STDIN (FORMAT binary)", path))
    assert.same(fingerprint("src"), fingerprint("dstb"))
  end)

  it("writes its file private to the user (0600)", function()
    local path = dir .. "/private.txt"
    c:copy_out("COPY (SELECT 1) TO STDOUT", path)
    local r = require("migrun.proc").run({ "stat", "-c", "%a", path })
    assert.equal("600\n", r.stdout)
  end)

  it("streams to and from Lua functions, in text and binary", function()
    for _, fmt in ipairs({ "text", "binary" }) do
      local chunks = {}
      local n = c:copy_out("COPY src TO STDOUT (FORMAT " .. fmt .. ")",
                           function(chunk) chunks[#chunks + 1] = chunk end)
      assert.equal(20000, n)
      assert.is_true(#chunks > 1)
      fresh("dstf")
      local i = 0
      assert.equal(20000, c:copy_in("COPY dstf FROM STDIN (FORMAT " .. fmt .. ")", function()
        i = i + 1
        return chunks[i]
      end))
      assert.same(fingerprint("src"), fingerprint("dstf"))
    end
  end)

  it("accepts chunks that don't follow row boundaries", function()
    fresh("dstc")
    local data = "1\ta\n2\tb\n3\tc\n"
    local pos = 0
    c:copy_in("COPY dstc (id, t) FROM STDIN", function()
      if pos >= #data then return nil end
      pos = pos + 2
      return data:sub(pos - 1, pos)
    end)
    assert.equal(3, c:query("SELECT count(*) AS n FROM dstc")[1].n)
  end)

  it("raises kind=io for a missing input file and loads nothing", function()
    fresh("dste")
    local ok, err = pcall(c.copy_in, c, "COPY dste FROM STDIN", dir .. "/missing.txt")
    assert.is_false(ok)
    assert.is_true(errors.is(err, "io"))
    assert.equal("idle", c:status())
    assert.equal(0, c:query("SELECT count(*) AS n FROM dste")[1].n)
  end)

  it("raises kind=io for an output file it cannot create", function()
    local ok, err = pcall(c.copy_out, c, "COPY src TO STDOUT", dir .. "/no/such/dir/x.txt")
    assert.is_false(ok)
    assert.is_true(errors.is(err, "io"))
    assert.equal("idle", c:status())
    assert.equal(1, c:query("SELECT 1 AS x")[1].x)
  end)

  it("propagates an error raised by the copy_out function and recovers", function()
    local seen = 0
    local ok, err = pcall(c.copy_out, c, "COPY (SELECT generate_series(1, 10000000)) TO STDOUT",
      function()
        seen = seen + 1
        if seen == 100 then error({ mine = true }) end
      end)
    assert.is_false(ok)
    assert.is_true(err.mine)
    assert.equal(100, seen)
    assert.equal("idle", c:status())
    assert.equal(2, c:query("SELECT 2 AS x")[1].x)
  end)

  it("propagates an error raised by the copy_in function, loading nothing", function()
    fresh("dsti")
    local i = 0
    local ok, err = pcall(c.copy_in, c, "COPY dsti (id) FROM STDIN", function()
      i = i + 1
      if i == 50 then error({ mine = true }) end
      return i .. "\n"
    end)
    assert.is_false(ok)
    assert.is_true(err.mine)
    assert.equal("idle", c:status())
    assert.equal(0, c:query("SELECT count(*) AS n FROM dsti")[1].n)
  end)

  it("refuses a chunk that is not a string", function()
    fresh("dsts")
    local ok = pcall(c.copy_in, c, "COPY dsts (id) FROM STDIN", function() return {} end)
    assert.is_false(ok)
    assert.equal(3, c:query("SELECT 3 AS x")[1].x)
  end)

  it("raises the server's error for bad data, with its SQLSTATE", function()
    fresh("dstd")
    local path = dir .. "/bad.txt"
    H.write(path, "1\tok\nnot-a-number\tbad\n")
    local ok, err = pcall(c.copy_in, c, "COPY dstd (id, t) FROM STDIN", path)
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "22P02"))
    assert.equal("string", type(err.context))
    assert.equal(0, c:query("SELECT count(*) AS n FROM dstd")[1].n)
  end)

  it("raises the server's error for a bad COPY statement", function()
    local ok, err = pcall(c.copy_out, c, "COPY no_such_table TO STDOUT", dir .. "/x")
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "42P01"))
    ok, err = pcall(c.copy_in, c, "COPY no_such_table FROM STDIN", function() end)
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "42P01"))
    assert.equal(4, c:query("SELECT 4 AS x")[1].x)
  end)

  it("refuses statements that are not the expected COPY direction", function()
    assert.is_false(pcall(c.copy_out, c, "SELECT 1", dir .. "/x"))
    assert.is_false(pcall(c.copy_out, c, "COPY src FROM STDIN", dir .. "/x"))
    local secs, ok = H.elapsed(function()
      return pcall(c.copy_in, c, "COPY (SELECT generate_series(1, 100000000)) TO STDOUT",
                   dir .. "/src.txt")
    end)
    assert.is_false(ok)
    assert.is_true(secs < 10, string.format("took %.1fs", secs))
    assert.equal("idle", c:status())
    assert.equal(5, c:query("SELECT 5 AS x")[1].x)
  end)

  it("keeps the connection busy while a callback runs", function()
    local ok, err = pcall(c.copy_out, c, "COPY (SELECT 1) TO STDOUT", function()
      c:query("SELECT 1")
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("busy", 1, true))
    assert.equal(6, c:query("SELECT 6 AS x")[1].x)
  end)

  it("copies inside a transaction that is rolled back", function()
    fresh("dsttx")
    local path = dir .. "/src.txt"
    c:copy_out("COPY src TO STDOUT", path)
    pcall(c.tx, c, function(conn)
      conn:copy_in("COPY dsttx FROM STDIN", path)
      assert.equal(20000, conn:query("SELECT count(*) AS n FROM dsttx")[1].n)
      error("undo")
    end)
    assert.equal(0, c:query("SELECT count(*) AS n FROM dsttx")[1].n)
  end)

  -- a backend frozen (SIGSTOP) halfway through a COPY: the client timeout closes the
  -- connection instead of waiting forever; the backend is always let go again (SIGCONT)
  local function frozen_midway(run)
    local t <close> = H.connect(dbname)
    local pid = t:backend_pid()
    local froze = false
    local function freeze()                  -- the limit starts then: a slow start is no hang
      if not froze then
        froze = true
        t:set_client_timeout(300)
        assert(sys.kill(pid, 19))
      end
    end
    local ok, err
    do
      local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
      ok, err = pcall(run, t, freeze)
    end
    assert.is_true(froze)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "connection"), tostring(err))
    assert.is_true(err.lost and err.timed_out)
    assert.equal("closed", t:status())
  end

  it("gives up on a backend that stops sending COPY data", function()
    frozen_midway(function(t, freeze)
      t:copy_out("COPY (SELECT generate_series(1, 100000000)) TO STDOUT", function() freeze() end)
    end)
    -- into a file, streamed in C: another process freezes the backend while it streams
    local t <close> = H.connect(dbname)
    local pid = t:backend_pid()
    t:set_client_timeout(1000)
    local killer = require("migrun.proc").spawn({ "sh", "-c", "sleep 0.3; kill -STOP " .. pid })
    local ok, err
    do
      local _ <close> = setmetatable({}, { __close = function()
        killer:wait(5000)
        sys.kill(pid, 18)
      end })
      ok, err = pcall(t.copy_out, t, "COPY (SELECT 1 FROM generate_series(1, 1000000000)) TO STDOUT",
                      dir .. "/frozen.txt")
    end
    os.remove(dir .. "/frozen.txt")
    assert.is_false(ok)
    assert.is_true(errors.is(err, "connection"), tostring(err))
    assert.is_true(err.lost and err.timed_out)
    assert.equal("closed", t:status())
  end)

  it("cancels a COPY whose query is silent for longer than the client timeout", function()
    local t <close> = H.connect(dbname)
    t:set_client_timeout(300)
    local ok, err = pcall(t.copy_out, t, "COPY (SELECT pg_sleep(5)) TO STDOUT", dir .. "/slow.txt")
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "57014"), tostring(err))
    assert.is_true(err.timed_out)
    assert.equal("idle", t:status())
  end)

  it("gives up on a backend that stops reading COPY data", function()
    local chunk = string.rep("1\n", 32768)
    frozen_midway(function(t, freeze)
      t:exec("CREATE TEMP TABLE sink (x int)")
      t:copy_in("COPY sink FROM STDIN", function()
        freeze()
        return chunk
      end)
    end)
  end)
end)
