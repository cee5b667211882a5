-- migrun.db: connections, conn:query/exec, typed values, parameters, structured errors,
-- NUL bytes, lost connections and the client timeout, close and gc, quoting, settings and
-- timeouts, cancel, notices, pipelined batches (engine/l_db.c, db.c, db.lua).
local H = require "helper"
local db = require "migrun.db"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("migrun.db", function()
  local dbname, c, admin

  setup(function()
    dbname = H.fresh_db("dbq")
    c = H.connect(dbname)
    admin = H.connect(dbname)
  end)

  teardown(function()
    if c then c:close() end
    if admin then admin:close() end
    H.drop_db(dbname)
  end)

  describe("connect", function()
    it("raises kind=connection naming host, port and dbname when the server is down", function()
      local err = raises(db.connect, "postgresql://127.0.0.1:1/nowhere")
      assert.is_true(errors.is(err, "connection"))
      assert.is_nil(err.sqlstate)
      assert.equal("127.0.0.1", err.host)
      assert.equal("1", err.port)
      assert.equal("nowhere", err.dbname)
      local line = tostring(err)
      assert.truthy(line:find("127.0.0.1", 1, true))
      assert.truthy(line:find("nowhere", 1, true))
    end)

    it("withholds a malformed connection string that holds a password", function()
      local err = raises(db.connect, "host=x password=hunter2-secret 'unterminated")
      assert.is_true(errors.is(err, "connection"))
      assert.falsy(tostring(err):find("hunter2", 1, true))
    end)

    it("accepts a conninfo string and a URL", function()
      local e = H.pgenv()
      local url = string.format("postgresql://%s@/%s?host=%s&port=%s", e.PGUSER, dbname,
                                e.PGHOST, e.PGPORT)
      local u <close> = db.connect(url)
      assert.equal(dbname, u:query("SELECT current_database() AS d")[1].d)
      assert.equal(dbname, c:query("SELECT current_database() AS d")[1].d)
    end)

    it("uses libpq's defaults (PG* variables) without an argument", function()
      local r = H.migrun({ "-e", "local c = require('migrun.db').connect() " ..
                                 "io.write(c:query('SELECT current_database() AS d')[1].d)" },
                         { env = { PGDATABASE = dbname } })
      assert.equal(0, r.status, r.stderr)
      assert.equal(dbname, r.stdout)
    end)

    it("names user, host, port and database in tostring, and says when it is closed", function()
      local t <close> = H.connect(dbname)
      local s = tostring(t)
      assert.truthy(s:find("^migrun%.db %("))
      assert.truthy(s:find(dbname, 1, true))
      assert.truthy(s:find(H.pgenv().PGPORT, 1, true))
      t:close()
      assert.equal("migrun.db (closed)", tostring(t))
    end)

    it("reports its server version as an integer", function()
      local v = c:server_version()
      assert.equal("integer", math.type(v))
      assert.equal(tonumber(c:query("SHOW server_version_num")[1].server_version_num), v)
    end)
  end)

  describe("query", function()
    it("converts integers, floats, booleans and NULL, and keeps numeric exact", function()
      local r = c:query([[
        SELECT 1::int2 AS i2, 2::int4 AS i4, 9223372036854775807::int8 AS i8, 26::oid AS o,
               1.5::float4 AS f4, 0.1::float8 AS f8, 'NaN'::float8 AS nan,
               'Infinity'::float8 AS inf, '-Infinity'::float4 AS ninf,
               true AS t, false AS f, NULL::int AS n,
               12345678901234567890.000000000000000001::numeric AS num,
               'héllo'::text AS txt, '{"a": 1}'::jsonb AS j, '2024-01-02'::date AS d]])
      assert.equal(1, r.n)
      local row = r[1]
      for _, k in ipairs({ "i2", "i4", "i8", "o" }) do
        assert.equal("integer", math.type(row[k]), k)
      end
      assert.equal(1, row.i2)
      assert.equal(math.maxinteger, row.i8)
      assert.equal(26, row.o)
      assert.equal("float", math.type(row.f4))
      assert.equal(1.5, row.f4)
      assert.equal(0.1, row.f8)
      assert.is_true(row.nan ~= row.nan)
      assert.equal(math.huge, row.inf)
      assert.equal(-math.huge, row.ninf)
      assert.is_true(row.t)
      assert.is_false(row.f)
      assert.is_nil(row.n)
      assert.equal("12345678901234567890.000000000000000001", row.num)
      assert.equal("héllo", row.txt)
      assert.equal('{"a": 1}', row.j)
      assert.equal("2024-01-02", row.d)
      assert.equal(16, r.ncols)
      assert.equal("n", r.columns[12])
      assert.same({ "int2", "int4", "int8", "oid", "float4", "float8", "float8", "float8",
                    "float4", "bool", "bool", "int4", "numeric", "text", "jsonb", "date" },
                  r.types)
      assert.equal("SELECT 1", r.command)
    end)

    it("sends $n parameters: nil is NULL, booleans, integers, floats, strings", function()
      local row = c:query("SELECT $1::int8 + 1 AS a, $2::text AS b, $3::bool AS c, " ..
                          "$4::float8 AS d, $5::int AS e, $6::int8 AS f, $7::float8 AS g",
                          41, "it's", true, 0.1, nil, math.mininteger, 0 / 0)[1]
      assert.equal(42, row.a)
      assert.equal("it's", row.b)
      assert.is_true(row.c)
      assert.equal(0.1, row.d)
      assert.is_nil(row.e)
      assert.equal(math.mininteger, row.f)
      assert.is_true(row.g ~= row.g)
      assert.equal(math.huge, c:query("SELECT $1::float8 AS x", math.huge)[1].x)
    end)

    it("refuses a parameter it cannot send, as misuse", function()
      local err = raises(c.query, c, "SELECT $1", {})
      assert.equal("string", type(err))
      assert.equal("idle", c:status())
    end)

    it("keeps every column when names repeat", function()
      local r = c:query("SELECT 1 AS a, 2 AS a, 3 AS a")
      assert.same({ "a", "a_2", "a_3" }, r.columns)
      assert.same({ a = 1, a_2 = 2, a_3 = 3 }, r[1])
    end)

    it("returns many rows, and none for an empty result", function()
      local r = c:query("SELECT g FROM generate_series(1, 1000) g")
      assert.equal(1000, r.n)
      assert.equal(1000, r[1000].g)
      assert.equal(0, c:query("SELECT 1 WHERE false").n)
      assert.equal(0, c:query("").n)
    end)

    it("exec returns the number of rows affected", function()
      c:exec("CREATE TABLE ex (id int PRIMARY KEY, v text)")
      assert.equal(3, c:exec("INSERT INTO ex SELECT g, 'v' FROM generate_series(1, 3) g"))
      assert.equal(2, c:exec("UPDATE ex SET v = $1 WHERE id > $2", "w", 1))
      assert.equal(0, c:exec("DELETE FROM ex WHERE id > 100"))
      assert.equal(0, c:exec("CREATE INDEX ON ex (v)"))
      assert.equal(3, c:query("DELETE FROM ex RETURNING id").affected)
    end)
  end)

  describe("errors", function()
    it("raise a structured error: sqlstate, severity, message, position", function()
      local err = raises(c.query, c, "SELECT * FROM no_such_table")
      assert.is_true(errors.is_sql(err, "42P01"))
      assert.equal("ERROR", err.severity)
      assert.equal(15, err.position)
      assert.equal("string", type(err.message))
      local first = tostring(err):match("^[^\n]*")
      assert.truthy(first:find("ERROR 42P01", 1, true))
      assert.equal("idle", c:status())
    end)

    it("carry detail, table and constraint", function()
      c:exec("CREATE TABLE uq (id int CONSTRAINT uq_pk PRIMARY KEY)")
      c:exec("INSERT INTO uq VALUES (1)")
      local err = raises(c.exec, c, "INSERT INTO uq VALUES (1)")
      assert.equal("23505", err.sqlstate)
      assert.equal("uq", err.table)
      assert.equal("uq_pk", err.constraint)
      assert.equal("public", err.schema)
      assert.equal("string", type(err.detail))
      assert.truthy(tostring(err):find("\nDETAIL: ", 1, true))
    end)

    it("carry the hint and the context", function()
      local err = raises(c.query, c, "SELECT 1 + 'a'::text::point")
      assert.equal("string", type(err.sqlstate))
      local e2 = raises(c.exec, c, "DO $$ BEGIN PERFORM 1 / 0; END $$")
      assert.equal("22012", e2.sqlstate)
      assert.equal("string", type(e2.context))
      assert.is_nil(e2.where)
      local e3 = raises(c.query, c, "SELECT 1 FROM pg_class WHERE relname = 1")
      assert.equal("42883", e3.sqlstate)
      assert.equal("string", type(e3.hint))
    end)

    it("refuse COPY through query() and leave the connection usable", function()
      c:exec("CREATE TABLE cq (x int)")
      assert.is_false(pcall(c.query, c, "COPY cq FROM STDIN"))
      assert.is_false(pcall(c.exec, c, "COPY cq TO STDOUT"))
      -- without reading the whole output first
      local secs, ok = H.elapsed(function()
        return pcall(c.exec, c, "COPY (SELECT generate_series(1, 100000000)) TO STDOUT")
      end)
      assert.is_false(ok)
      assert.is_true(secs < 10, string.format("took %.1fs", secs))
      assert.equal(1, c:query("SELECT 1 AS x")[1].x)
    end)

  end)

  describe("NUL bytes", function()
    -- libpq takes C strings: a NUL would silently cut the statement (or a value) short there
    it("refuse SQL holding one, with its offset, before anything is sent", function()
      c:exec("CREATE TABLE nul_t (x int)")
      local cases = {
        { "SELECT 1;\0DROP TABLE nul_t", function(sql) return c:query(sql) end },
        { "SELECT 1;\0DROP TABLE nul_t", function(sql) return c:exec(sql) end },
        { "SELECT 1;\0DROP TABLE nul_t", function(sql) for _ in c:rows(sql) do end end },
        { "COPY nul_t TO STDOUT\0;", function(sql) return c:copy_out(sql, function() end) end },
        { "COPY nul_t FROM STDIN\0;", function(sql) return c:copy_in(sql, function() end) end },
        { "SELECT 1;\0DROP TABLE nul_t", function(sql) return c:batch({ "SELECT 1", sql }) end },
      }
      for i, case in ipairs(cases) do
        local err = raises(case[2], case[1])
        assert.is_true(errors.is(err, "usage"), "case " .. i)
        assert.equal(tostring(case[1]:find("\0", 1, true) - 1), err.message:match("byte offset (%d+)"))
      end
      assert.truthy(raises(cases[6][2], cases[6][1]).message:find("item 2", 1, true))
      assert.equal("idle", c:status())
      assert.equal(0, c:query("SELECT count(*) AS n FROM nul_t")[1].n)   -- still there
    end)

    it("refuse text and bytea parameters holding one, naming the parameter", function()
      local err = raises(c.query, c, "SELECT $1::text, $2::text", "ok", "a\0b")
      assert.is_true(errors.is(err, "usage"))
      assert.truthy(err.message:find("$2", 1, true))
      assert.truthy(err.message:find("offset 1", 1, true))
      err = raises(c.exec, c, "SELECT $1::bytea", "\0\1")
      assert.is_true(errors.is(err, "usage"))
      err = raises(c.batch, c, { { "SELECT $1::text", "x\0" } })
      assert.is_true(errors.is(err, "usage"))
      -- bytea travels as hex text
      assert.equal("\\x0001", c:query("SELECT $1::bytea AS b", "\\x0001")[1].b)
      assert.equal("idle", c:status())
    end)

    it("refuse identifiers and literals holding one", function()
      assert.is_true(errors.is(raises(c.quote_ident, c, "a\0b"), "usage"))
      assert.is_true(errors.is(raises(c.quote_literal, c, "a\0b"), "usage"))
    end)
  end)

  describe("lost connections", function()
    it("report a terminated backend as lost, and the connection is broken afterwards", function()
      local v <close> = H.connect(dbname)
      admin:query("SELECT pg_terminate_backend($1)", v:backend_pid())
      local err = raises(v.query, v, "SELECT 1")
      assert.is_true(errors.is(err, "connection"))
      assert.is_true(err.lost)
      assert.is_nil(err.sqlstate)
      assert.equal(dbname, err.dbname)
      assert.truthy(v:status() == "broken" or v:status() == "closed")
      assert.is_true(errors.is(raises(v.query, v, "SELECT 1"), "connection"))
    end)

    it("report a backend terminated in the middle of a call as lost", function()
      local v <close> = H.connect(dbname)
      local err = raises(v.query, v, "SELECT pg_terminate_backend(pg_backend_pid())")
      assert.is_true(errors.is(err, "connection"))
      assert.is_true(err.lost)
      assert.equal("broken", v:status())
      -- and while rows stream
      local w <close> = H.connect(dbname)
      local pid = w:backend_pid()
      local next_row, stream = w:rows("SELECT 1 AS x UNION ALL SELECT 2 FROM pg_sleep(30)")
      H.eventually(function()
        return admin:query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND " ..
                           "wait_event = 'PgSleep'", pid).n > 0
      end)
      admin:query("SELECT pg_terminate_backend($1)", pid)
      local ok
      ok, err = pcall(function()
        local row = next_row(stream)
        while row do row = next_row(stream) end
      end)
      assert.is_false(ok)
      assert.is_true(errors.is(err, "connection"))
      assert.is_true(err.lost)
      assert.truthy(w:status() == "broken" or w:status() == "closed")
    end)
  end)

  describe("client timeout", function()
    it("takes milliseconds or nil, and says what it was", function()
      local v <close> = H.connect(dbname)
      assert.is_nil(v:set_client_timeout(500))
      assert.equal(500, v:set_client_timeout(nil))
      assert.is_nil(v:set_client_timeout(0))
      assert.is_false(pcall(v.set_client_timeout, v, -1))
      assert.is_false(pcall(v.set_client_timeout, v, "1s"))
    end)

    it("cancels a query that overruns it: the SQL error says timed_out, the connection lives",
       function()
      local v <close> = H.connect(dbname)
      v:set_client_timeout(300)
      local secs, ok, err = H.elapsed(function() return pcall(v.query, v, "SELECT pg_sleep(10)") end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_true(err.timed_out)
      assert.is_true(secs < 5, string.format("took %.1fs", secs))
      assert.equal("idle", v:status())
      ok, err = pcall(function() for _ in v:rows("SELECT pg_sleep(10)") do end end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_true(err.timed_out)
      assert.equal(1, v:query("SELECT 1 AS x")[1].x)
    end)

    it("closes the connection of a server that stopped answering, within seconds", function()
      local v <close> = H.connect(dbname)
      local pid = v:backend_pid()
      v:set_client_timeout(1500)
      -- the backend is frozen (SIGSTOP): it answers neither the query nor the cancel. It is
      -- always let go again, whatever happens to this spec.
      assert(sys.kill(pid, 19))
      local secs, ok, err
      do
        local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
        secs, ok, err = H.elapsed(function() return pcall(v.query, v, "SELECT 1") end)
      end
      assert.is_false(ok)
      assert.is_true(errors.is(err, "connection"), tostring(err))
      assert.is_true(err.lost)
      assert.is_true(err.timed_out)
      assert.truthy(err.message:find("1500 ms", 1, true))
      assert.is_true(secs >= 1.4 and secs < 5, string.format("took %.1fs", secs))
      assert.equal("closed", v:status())
      H.eventually(function() return not H.backend_alive(admin, pid) end)
    end)
  end)

  describe("close and gc", function()
    it("close is idempotent and use after close raises a clear error", function()
      local t = H.connect(dbname)
      t:close()
      t:close()
      assert.equal("closed", t:status())
      local err = raises(t.query, t, "SELECT 1")
      assert.truthy(tostring(err):find("connection is closed", 1, true))
      assert.is_false(pcall(t.exec, t, "SELECT 1"))
      assert.is_false(pcall(t.rows, t, "SELECT 1"))
    end)

    it("closes at the end of a <close> scope", function()
      local pid
      do
        local t <close> = H.connect(dbname)
        pid = t:backend_pid()
        assert.is_true(H.backend_alive(admin, pid))
      end
      H.eventually(function() return not H.backend_alive(admin, pid) end)
    end)

    it("closes a connection nobody holds when it is collected", function()
      local function open() return H.connect(dbname):backend_pid() end
      local pid = open()
      collectgarbage()
      collectgarbage()
      H.eventually(function() return not H.backend_alive(admin, pid) end)
    end)
  end)

  describe("quoting", function()
    it("quotes identifiers and literals so they round trip", function()
      assert.equal('"a""b"', c:quote_ident('a"b'))
      assert.equal("'it''s'", c:quote_literal("it's"))
      local tricky = [[x'y"z\w]]
      local sql = "SELECT " .. c:quote_literal(tricky) .. " AS " .. c:quote_ident(tricky)
      assert.equal(tricky, c:query(sql)[1][tricky])
    end)
  end)

  describe("settings", function()
    it("set and get a session setting", function()
      local t <close> = H.connect(dbname)
      t:set("application_name", "migrun-spec")
      assert.equal("migrun-spec", t:get("application_name"))
      t:set("work_mem", 8192)
      assert.equal("8MB", t:get("work_mem"))
    end)

    it("statement_timeout cancels a slow statement with 57014", function()
      local t <close> = H.connect(dbname)
      t:set("statement_timeout", "100ms")
      local secs, ok, err = H.elapsed(function() return pcall(t.query, t, "SELECT pg_sleep(10)") end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_true(secs < 5)
      t:set("statement_timeout", 0)
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
    end)

    it("lock_timeout gives up on a held lock with 55P03", function()
      c:exec("CREATE TABLE lk (x int)")
      local holder <close> = H.connect(dbname)
      holder:exec("BEGIN")
      holder:exec("LOCK TABLE lk IN ACCESS EXCLUSIVE MODE")
      local t <close> = H.connect(dbname)
      t:set("lock_timeout", "100ms")
      local err = raises(t.query, t, "SELECT * FROM lk")
      assert.is_true(errors.is_sql(err, "55P03"))
      holder:exec("ROLLBACK")
      assert.equal(0, t:query("SELECT * FROM lk").n)
    end)
  end)

  describe("cancel", function()
    it("cancels the query running on the connection", function()
      local t <close> = H.connect(dbname)
      local pid = t:backend_pid()
      local next_row, stream = t:rows("SELECT pg_sleep(30)")
      H.eventually(function()
        return admin:query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND " ..
                           "wait_event = 'PgSleep'", pid).n > 0
      end)
      assert.is_true(t:cancel())
      local secs, ok, err = H.elapsed(function() return pcall(next_row, stream) end)
      assert.is_false(ok)
      assert.is_true(errors.is_sql(err, "57014"))
      assert.is_true(secs < 5)
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
    end)

    it("on Ctrl-C, cancels the query the process is waiting on, and exits 130", function()
      local sql = "SELECT pg_sleep(60) AS ctrl_c_spec"
      local h <close> = H.spawn_migrun({ "-e", "db:query('" .. sql .. "')" },
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

    it("is harmless on an idle connection, and says no on a closed one", function()
      local t = H.connect(dbname)
      assert.is_true(t:cancel())
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
      t:close()
      local ok, msg = t:cancel()
      assert.is_false(ok)
      assert.equal("string", type(msg))
    end)
  end)

  describe("notices", function()
    it("hands NOTICE and WARNING to the handler", function()
      local t <close> = H.connect(dbname)
      local got = {}
      assert.is_nil(t:notices(function(n) got[#got + 1] = n end))
      t:exec("DO $$ BEGIN RAISE NOTICE 'hello %', 1; RAISE WARNING 'careful'; END $$")
      assert.equal(2, #got)
      assert.equal("NOTICE", got[1].severity)
      assert.equal("00000", got[1].sqlstate)
      assert.equal("hello 1", got[1].message)
      assert.equal("WARNING", got[2].severity)
      assert.equal("01000", got[2].sqlstate)
    end)

    it("delivers the notices sent before an error, and the error still wins", function()
      local t <close> = H.connect(dbname)
      local got = {}
      t:notices(function(n) got[#got + 1] = n.message end)
      local err = raises(t.exec, t, "DO $$ BEGIN RAISE NOTICE 'before'; PERFORM 1 / 0; END $$")
      assert.equal("22012", err.sqlstate)
      assert.same({ "before" }, got)
      t:notices(function() error("handler failed") end)
      err = raises(t.exec, t, "DO $$ BEGIN RAISE NOTICE 'x'; PERFORM 1 / 0; END $$")
      assert.equal("22012", err.sqlstate)
    end)

    it("lets the handler use the connection, and propagates its error", function()
      local t <close> = H.connect(dbname)
      local seen
      t:notices(function(n) seen = t:query("SELECT $1::text AS m", n.message)[1].m end)
      assert.equal(7, t:query("DO $$ BEGIN RAISE NOTICE 'inner'; END $$; SELECT 7 AS x")[1].x)
      assert.equal("inner", seen)
      local old = t:notices(function() error({ mine = true }) end)
      assert.equal("function", type(old))
      local err = raises(t.exec, t, "DO $$ BEGIN RAISE NOTICE 'x'; END $$")
      assert.is_true(err.mine)
      assert.equal(1, t:query("SELECT 1 AS x")[1].x)
    end)

    it("drops notices when no handler is set", function()
      local t <close> = H.connect(dbname)
      t:exec("DO $$ BEGIN RAISE NOTICE 'nobody listens'; END $$")
      local got = {}
      t:notices(function(n) got[#got + 1] = n end)
      t:exec("SELECT 1")
      assert.equal(0, #got)
      assert.equal("function", type(t:notices(nil)))
      assert.is_nil(t:notices(nil))
    end)
  end)
end)
