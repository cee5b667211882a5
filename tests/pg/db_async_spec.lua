-- migrun.db: a statement watched while it runs: conn:send starts it, conn:wait polls for its
-- result (shaped and raised as conn:query's), the connection is busy meanwhile, and cancel,
-- close, the client timeout, notices and Ctrl-C work on it (engine/l_db.c, db.c).
local H = require "helper"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- wait(ms) until the statement ends (at most 300 times): its result, and how many waits said
-- "running"
local function poll(conn, ms)
  for running = 0, 300 do
    local res, state = conn:wait(ms)
    if res then return res, running end
    assert.equal("running", state)
  end
  error("still running after 300 waits")
end

-- how many waits said "running" before one raised (at most 300): false, err, waits
local function poll_error(conn, ms)
  local waits = 0
  local ok, err = pcall(function()
    while not conn:wait(ms) do
      waits = waits + 1
      assert(waits <= 300, "still running after 300 waits")
    end
  end)
  return ok, err, waits
end

describe("migrun.db send and wait", function()
  local dbname, c, admin

  setup(function()
    dbname = H.fresh_db("dba")
    c = H.connect(dbname)
    admin = H.connect(dbname)
  end)

  teardown(function()
    if c then c:close() end
    if admin then admin:close() end
    H.drop_db(dbname)
  end)

  local function running_pid(pid, wait_event)
    return admin:query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' " ..
                       "AND ($2::text IS NULL OR wait_event = $2)", pid, wait_event).n > 0
  end

  describe("misuse and refusals", function()
    it("refuses a wait with no statement sent", function()
      local t <close> = H.connect(dbname)
      local err = raises(t.wait, t, 0)
      assert.equal("string", type(err))
      assert.is_false(pcall(t.wait, t, -1))
      assert.equal("idle", t:status())
    end)

    it("refuses NUL bytes before anything is sent, and the connection stays free", function()
      local t <close> = H.connect(dbname)
      local err = raises(t.send, t, "SELECT 1;\0SELECT 2")
      assert.is_true(errors.is(err, "usage"))
      assert.equal("9", err.message:match("byte offset (%d+)"))
      err = raises(t.send, t, "SELECT $1::text", "a\0b")
      assert.is_true(errors.is(err, "usage"))
      assert.truthy(err.message:find("$1", 1, true))
      assert.is_false(pcall(t.send, t, "SELECT $1", {}))
      assert.equal("idle", t:status())
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
    end)

    it("refuses COPY, also when wait() finds one in a multi-statement string", function()
      local t <close> = H.connect(dbname)
      t:exec("CREATE TABLE IF NOT EXISTS acopy (x int)")
      assert.is_false(pcall(t.send, t, "COPY acopy FROM STDIN"))
      assert.is_false(pcall(t.send, t, "  /* c */ copy acopy TO STDOUT"))
      assert.equal("idle", t:status())
      t:send("SELECT 1; COPY acopy FROM STDIN")
      assert.equal("string", type(raises(t.wait, t)))
      t:send("SELECT 1; COPY (SELECT generate_series(1, 100000000)) TO STDOUT")
      local secs, ok = H.elapsed(function() return pcall(t.wait, t, 10000) end)
      assert.is_false(ok)
      assert.is_true(secs < 10, string.format("took %.1fs", secs))
      assert.equal(2, t:query("SELECT 2 AS x")[1].x)
    end)

    it("keeps the connection busy while the statement runs, but for wait, cancel and close",
       function()
      local t <close> = H.connect(dbname)
      t:send("SELECT pg_sleep(0.3)")
      for _, call in ipairs({
        function() return t:query("SELECT 1") end,
        function() return t:exec("SELECT 1") end,
        function() return t:send("SELECT 1") end,
        function() return t:batch({ "SELECT 1" }) end,
        function() for _ in t:rows("SELECT 1") do end end,
        function() return t:quote_ident("x") end,
        function() return t:backend_pid() end,
        function() return t:get("application_name") end,
      }) do
        local err = raises(call)
        assert.truthy(tostring(err):find("connection is busy", 1, true), tostring(err))
      end
      assert.equal("active", t:status())
      local res = poll(t, 50)
      assert.equal(1, res.n)
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
      assert.is_false(pcall(t.wait, t, 0)) -- the statement is over: nothing to wait for
    end)
  end)

  describe("results", function()
    it("says running while the statement runs, then returns its result", function()
      c:send("SELECT pg_sleep(0.3) AS slept, $1::int + 1 AS x", 41)
      local res, running = poll(c, 50)
      assert.is_true(running >= 1, "never running")
      assert.equal(1, res.n)
      assert.equal(42, res[1].x)
      assert.same({ "slept", "x" }, res.columns)
      assert.equal("int4", res.types[2])
      assert.equal("SELECT 1", res.command)
      assert.equal("idle", c:status())
    end)

    it("takes no time limit when ms is nil, and 0 only looks", function()
      c:send("SELECT 7 AS x")
      assert.equal(7, c:wait()[1].x)
      c:send("SELECT pg_sleep(0.5)")
      local secs, res, state = H.elapsed(function() return c:wait(0) end)
      assert.is_nil(res)
      assert.equal("running", state)
      assert.is_true(secs < 0.3, string.format("took %.3fs", secs))
      assert.equal(1, c:wait().n)
    end)

    it("returns a command's tag and rows affected, as conn:query does", function()
      c:exec("CREATE TABLE ares (id int PRIMARY KEY, v text)")
      c:send("INSERT INTO ares SELECT g, 'v' FROM generate_series(1, 3) g")
      local res = poll(c, 50)
      assert.equal(3, res.affected)
      assert.equal("INSERT 0 3", res.command)
      assert.equal(0, res.n)
      c:send("UPDATE ares SET v = $1 WHERE id > $2", "w", 1)
      res = poll(c, 50)
      assert.equal(2, res.affected)
      assert.equal("UPDATE 2", res.command)
      c:send("DELETE FROM ares RETURNING id")
      res = poll(c, 50)
      assert.equal(3, res.affected)
      assert.equal(3, res.n)
    end)

    it("returns the last result of a multi-statement string", function()
      c:send("SELECT 1 AS a; SELECT pg_sleep(0.1); SELECT 3 AS c")
      assert.equal(3, poll(c, 20)[1].c)
    end)
  end)

  describe("errors", function()
    it("raises an SQL error from wait with every field, and the connection lives", function()
      local err = raises(function()
        c:send("SELECT * FROM no_such_table")
        poll(c, 50)
      end)
      assert.is_true(errors.is_sql(err, "42P01"))
      assert.equal("ERROR", err.severity)
      assert.equal(15, err.position)
      assert.equal("idle", c:status())
      assert.equal(1, c:query("SELECT 1 AS x")[1].x)
    end)

    it("raises an error that comes after running a while, with its context", function()
      c:send("DO $$ BEGIN PERFORM pg_sleep(0.3); PERFORM 1 / 0; END $$")
      local ok, err, waits = poll_error(c, 50)
      assert.is_false(ok)
      assert.is_true(waits >= 1)
      assert.is_true(errors.is_sql(err, "22012"))
      assert.equal("string", type(err.context))
      assert.is_nil(err.timed_out)
      assert.equal("idle", c:status())
    end)

    it("raises a lost connection as conn:query does", function()
      local t <close> = H.connect(dbname)
      local pid = t:backend_pid()
      t:send("SELECT pg_sleep(30)")
      H.eventually(function() return running_pid(pid, "PgSleep") end)
      admin:query("SELECT pg_terminate_backend($1)", pid)
      local err = raises(poll, t, 50)
      assert.is_true(errors.is(err, "connection"))
      assert.is_true(err.lost)
      assert.is_nil(err.sqlstate)
      assert.truthy(t:status() == "broken" or t:status() == "closed")
      assert.is_true(errors.is(raises(t.query, t, "SELECT 1"), "connection"))
    end)
  end)

  describe("cancel", function()
    it("cancels the statement: the next wait raises 57014", function()
      local t <close> = H.connect(dbname)
      local pid = t:backend_pid()
      t:send("SELECT pg_sleep(30)")
      H.eventually(function() return running_pid(pid, "PgSleep") end)
      assert.is_nil((t:wait(0)))
      assert.is_true(t:cancel())
      local secs, ok, err = H.elapsed(function() return pcall(t.wait, t, 5000) end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_nil(err.timed_out)
      assert.is_true(secs < 5)
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
    end)

    it("on Ctrl-C during wait, cancels the statement and exits 130", function()
      local sql = "SELECT pg_sleep(60) AS ctrl_c_async_spec"
      local h <close> = H.spawn_migrun({ "-e", "db:send('" .. sql .. "') " ..
                                               "while not db:wait(100) do end" },
                                       { env = { PGDATABASE = dbname } })
      local function running()
        return admin:query("SELECT 1 FROM pg_stat_activity WHERE query = $1 AND state = 'active'",
                           sql).n > 0
      end
      H.eventually(running)
      assert(sys.kill(h:pid(), 2))
      local r = h:wait(10000)
      assert.equal(130, r and r.status)
      H.eventually(function() return not running() end, 5000)
    end)
  end)

  describe("close and gc", function()
    it("close in the middle of a statement stops it on the server, and never raises", function()
      local t = H.connect(dbname)
      local pid = t:backend_pid()
      t:send("SELECT pg_sleep(30)")
      H.eventually(function() return running_pid(pid, "PgSleep") end)
      t:close()
      t:close()
      assert.equal("closed", t:status())
      H.eventually(function() return not H.backend_alive(admin, pid) end, 5000)
      assert.truthy(tostring(raises(t.wait, t, 0)):find("connection is closed", 1, true))
    end)

    it("a <close> scope left by an error between send and wait stops the statement", function()
      local pid
      local ok = pcall(function()
        local t <close> = H.connect(dbname)
        pid = t:backend_pid()
        t:send("SELECT pg_sleep(30)")
        H.eventually(function() return running_pid(pid, "PgSleep") end)
        error("the watcher failed")
      end)
      assert.is_false(ok)
      H.eventually(function() return not H.backend_alive(admin, pid) end, 5000)
    end)

    it("a collected connection stops its statement, even with results half read", function()
      local function start()
        local t = H.connect(dbname)
        local pid = t:backend_pid()
        t:send("SELECT 1 AS a; SELECT pg_sleep(30)")
        H.eventually(function() return running_pid(pid, "PgSleep") end)
        assert.is_nil((t:wait(0))) -- the first result is read and kept
        return pid
      end
      local pid = start()
      collectgarbage()
      collectgarbage()
      H.eventually(function() return not H.backend_alive(admin, pid) end, 5000)
    end)
  end)

  describe("client timeout", function()
    it("counts across waits: a statement that overruns it raises 57014 with timed_out",
       function()
      local t <close> = H.connect(dbname)
      t:set_client_timeout(300)
      t:send("SELECT pg_sleep(10)")
      local secs, ok, err, waits = H.elapsed(function() return poll_error(t, 50) end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_true(err.timed_out)
      assert.is_true(secs < 5, string.format("took %.1fs", secs))
      assert.is_true(waits >= 4, "only " .. waits .. " waits")
      assert.equal("idle", t:status())
      -- the next statement starts with a fresh limit and without timed_out
      t:send("SELECT pg_sleep(0.1) AS x")
      assert.equal(1, poll(t, 50).n)
    end)

    it("closes the connection of a server that stopped answering, across several waits",
       function()
      local v <close> = H.connect(dbname)
      local pid = v:backend_pid()
      v:set_client_timeout(1500)
      -- the backend is frozen (SIGSTOP): it answers neither the statement nor the cancel. It
      -- is always let go again, whatever happens to this spec.
      assert(sys.kill(pid, 19))
      local secs, ok, err, waits
      do
        local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
        v:send("SELECT 1")
        secs, ok, err, waits = H.elapsed(function() return poll_error(v, 100) end)
      end
      assert.is_false(ok)
      assert.is_true(errors.is(err, "connection"), tostring(err))
      assert.is_true(err.lost)
      assert.is_true(err.timed_out)
      assert.truthy(err.message:find("1500 ms", 1, true))
      assert.is_true(waits >= 10, "only " .. waits .. " waits")
      assert.is_true(secs >= 1.4 and secs < 5, string.format("took %.1fs", secs))
      assert.equal("closed", v:status())
      H.eventually(function() return not H.backend_alive(admin, pid) end)
    end)
  end)

  describe("watching a statement", function()
    it("names the session whose lock it waits on, then returns once that one commits",
       function()
      c:exec("CREATE TABLE alock (x int)")
      c:exec("INSERT INTO alock VALUES (1), (2)")
      local holder <close> = H.connect(dbname)
      local holder_pid = holder:backend_pid()
      holder:exec("BEGIN")
      holder:exec("LOCK TABLE alock IN ACCESS EXCLUSIVE MODE")
      local t <close> = H.connect(dbname)
      local pid = t:backend_pid()
      t:send("SELECT count(*) AS n FROM alock")
      local watcher <close> = H.connect(dbname)
      local blockers = H.eventually(function()
        local res, state = t:wait(50)
        assert.is_nil(res)
        assert.equal("running", state)
        local b = watcher:query("SELECT pg_blocking_pids($1) AS b", pid)[1].b
        return b ~= "{}" and b
      end)
      assert.equal("{" .. holder_pid .. "}", blockers)
      assert.is_nil((t:wait(50)))
      holder:exec("COMMIT")
      local res = H.eventually(function() return t:wait(50) end)
      assert.equal(2, res[1].n)
      assert.equal("idle", t:status())
    end)

    it("delivers notices with the wait that ends the statement, not before", function()
      local t <close> = H.connect(dbname)
      local got = {}
      t:notices(function(n) got[#got + 1] = n.message end)
      t:send("DO $$ BEGIN RAISE NOTICE 'early'; PERFORM pg_sleep(0.3); " ..
             "RAISE NOTICE 'late'; END $$")
      local running = 0
      while not t:wait(50) do
        running = running + 1
        assert.same({}, got)
        assert(running <= 300, "still running after 300 waits")
      end
      assert.is_true(running >= 1)
      assert.same({ "early", "late" }, got)
      -- and before the error that ends one
      got = {}
      local err = raises(function()
        t:send("DO $$ BEGIN RAISE NOTICE 'before'; PERFORM pg_sleep(0.1); PERFORM 1 / 0; END $$")
        poll(t, 20)
      end)
      assert.equal("22012", err.sqlstate)
      assert.same({ "before" }, got)
    end)
  end)

  describe("send_all: several statements, every result", function()
    it("returns one result per statement, in order, shaped as conn:query's", function()
      c:send_all("SELECT 1 AS a; CREATE TEMP TABLE sa (id int); INSERT INTO sa VALUES (1), (2); " ..
                 "SELECT count(*) AS n FROM sa")
      assert.equal("active", c:status())
      local res = H.eventually(function() return c:wait(50) end)
      assert.equal(4, #res)
      assert.is_nil(res.failed)
      assert.equal(1, res[1][1].a)
      assert.equal("CREATE TABLE", res[2].command)
      assert.equal(2, res[3].affected)
      assert.equal(2, res[4][1].n)
      assert.equal("idle", c:status())
    end)

    it("puts the first failure in its place with list.failed; the statements after it never ran", function()
      c:exec("CREATE TABLE IF NOT EXISTS sa2 (id int)")
      c:exec("BEGIN")
      c:send_all("INSERT INTO sa2 VALUES (1); SELECT 1 / 0; INSERT INTO sa2 VALUES (2)")
      local res = H.eventually(function() return c:wait(50) end)
      assert.equal(2, res.failed)
      assert.equal(2, #res)
      assert.equal(1, res[1].affected)
      assert.is_true(errors.is_sql(res[2], "22012"), tostring(res[2]))
      assert.equal("inerror", c:status())
      c:exec("ROLLBACK")
      assert.equal(0, c:query("SELECT count(*) AS n FROM sa2")[1].n)
    end)

    it("waits across polls, refuses parameters, is busy meanwhile, and cancels", function()
      assert.has_error(function() c:send_all("SELECT $1", 1) end)
      c:send_all("SELECT pg_sleep(0.3); SELECT 2 AS b")
      local res, running = poll(c, 20)
      assert.is_true(running >= 1)
      assert.equal(2, res[2][1].b)
      c:send_all("SELECT 1; SELECT pg_sleep(30)")
      assert.truthy(tostring(select(2, pcall(c.query, c, "SELECT 1"))):find("busy", 1, true))
      assert.is_true(c:cancel())
      local ok, err = pcall(poll, c, 50)
      if ok then
        assert.is_true(errors.is_sql(err[err.failed], "57014"))
      else
        assert.is_true(errors.is_sql(err, "57014"), tostring(err))
      end
      assert.equal("idle", c:status())
    end)

    it("refuses a COPY among the statements and leaves the connection usable", function()
      local err = raises(function()
        c:send_all("SELECT 1; COPY (SELECT 1) TO STDOUT")
        poll(c, 50)
      end)
      assert.truthy(tostring(err):find("COPY", 1, true), tostring(err))
      assert.equal(5, c:query("SELECT 5 AS v")[1].v)
    end)

    it("a connection closed while it runs frees everything (no leak under ASan)", function()
      local t = H.connect(dbname)
      t:send_all("SELECT 1; SELECT pg_sleep(30)")
      t:close()
      assert.equal("closed", t:status())
    end)
  end)
end)

describe("migrun.db connect(.., {async = true}): the backend starts while the caller goes on", function()
  local db = require "migrun.db"

  it("connects at the first use, as a blocking connect would", function()
    local c <close> = db.connect(H.conninfo("postgres"), { async = true })
    assert.equal(1, c:query("SELECT 1 AS one")[1].one)
    assert.equal("idle", c:status())
    assert.truthy(c:backend_pid() > 0)
  end)

  it("raises the connection's failure at the first use, naming the database, never the password", function()
    local c <close> = db.connect(H.conninfo("postgres") .. " dbname=migrun_no_such_db password=s3cret",
                                 { async = true })
    local err = raises(c.query, c, "SELECT 1")
    assert.is_true(errors.is(err, "connection"), tostring(err))
    assert.truthy(tostring(err):find("migrun_no_such_db", 1, true), tostring(err))
    assert.falsy(tostring(err):find("s3cret", 1, true), tostring(err))
    assert.equal("closed", c:status())
  end)

  it("status() finishes it too; a connection never used is dropped cleanly (no leak under ASan)", function()
    local c = db.connect(H.conninfo("postgres"), { async = true })
    assert.equal("idle", c:status())
    c:close()
    local unused = db.connect(H.conninfo("postgres"), { async = true })
    unused:close()
    assert.equal("closed", unused:status())
    assert.equal("migrun.db (closed)", tostring(unused))
  end)

  it("a server that is not there fails at the first use", function()
    local port = require("migrun.core.sys").free_port()
    local c <close> = db.connect("host=127.0.0.1 port=" .. port .. " dbname=x", { async = true })
    local err = raises(c.exec, c, "SELECT 1")
    assert.is_true(errors.is(err, "connection"), tostring(err))
  end)
end)
