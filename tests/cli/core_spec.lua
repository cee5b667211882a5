-- The migrun binary's core behaviour, spawned as a user would run it: exit codes (DESIGN.md:
-- 0 ok, 1 failed, 2 usage or script error, 3 environment, 130 interrupted), messages that
-- name the file and line, --sandbox/--load, Ctrl-C, and passwords that never reach output.
local H = require "helper"
local lfs = require "lfs"
local proc = require "migrun.proc"

local function output(r)
  return (r.stdout or "") .. (r.stderr or "")
end

describe("migrun CLI", function()
  local dir

  setup(function()
    dir = H.tmpdir()
  end)

  teardown(function()
    H.rmtree(dir)
  end)

  describe("usage", function()
    it("--version prints the version and exits 0", function()
      local r = H.migrun({ "--version" })
      assert.equal(0, r.status)
      assert.truthy(r.stdout:find("^migrun %d+%.%d+%.%d+"), r.stdout)
    end)

    it("--help exits 0 and lists the commands and options", function()
      local r = H.migrun({ "--help" })
      assert.equal(0, r.status)
      for _, word in ipairs({ "migrun test", "migrun sandbox", "-e CODE", "--db", "--sandbox",
                              "--load", "exit codes" }) do
        assert.truthy(r.stdout:find(word, 1, true), word)
      end
    end)

    it("an unknown option exits 2 and suggests the closest one", function()
      local r = H.migrun({ "--verison" })
      assert.equal(2, r.status)
      assert.equal("", r.stdout)
      assert.truthy(r.stderr:find("--version", 1, true))
    end)

    it("nothing to run exits 2", function()
      assert.equal(2, H.migrun({}).status)
    end)
  end)

  describe("scripts", function()
    it("-e runs a chunk", function()
      local r = H.migrun({ "-e", "io.write(6 * 7)" })
      assert.equal(0, r.status)
      assert.equal("42", r.stdout)
    end)

    it("-e with a syntax error exits 2", function()
      local r = H.migrun({ "-e", "this is not lua" })
      assert.equal(2, r.status)
      assert.truthy(r.stderr:find("command line", 1, true))
    end)

    it("runs a script file with its arguments in arg and ...", function()
      local path = dir .. "/args.lua"
      H.write(path, "io.write(arg[0], '|', arg[1], '|', arg[2], '|', select('#', ...), '|', (...))\n")
      local r = H.migrun({ path, "one", "two words" })
      assert.equal(0, r.status, r.stderr)
      assert.equal(path .. "|one|two words|2|one", r.stdout)
    end)

    it("a Lua error in a script exits 1 naming file:line", function()
      local path = dir .. "/boom.lua"
      H.write(path, "local x = 1\n\nerror('boom ' .. x)\n")
      local r = H.migrun({ path })
      assert.equal(1, r.status)
      assert.truthy(r.stderr:find(path .. ":3:", 1, true), r.stderr)
    end)

    it("a syntax error in a script exits 2 naming file:line", function()
      local path = dir .. "/syntax.lua"
      H.write(path, "local a = 1\nlocal = 2\n")
      local r = H.migrun({ path })
      assert.equal(2, r.status)
      assert.truthy(r.stderr:find(path .. ":2:", 1, true), r.stderr)
    end)

    it("a missing script exits 2", function()
      local r = H.migrun({ dir .. "/no-such-script.lua" })
      assert.equal(2, r.status)
      assert.truthy(r.stderr:find("no-such-script.lua", 1, true))
    end)
  end)

  describe("databases", function()
    local dbname

    setup(function()
      dbname = H.fresh_db("cli")
    end)

    teardown(function()
      H.drop_db(dbname)
    end)

    it("connects db from PG* variables on first use", function()
      local r = H.migrun({ "-e", "io.write(db:query('SELECT current_database() AS d')[1].d)" },
                         { env = { PGDATABASE = dbname } })
      assert.equal(0, r.status, r.stderr)
      assert.equal(dbname, r.stdout)
    end)

    it("exits 3 with a clear message when the server is down", function()
      local r = H.migrun({ "--db", "postgresql://127.0.0.1:1/x", "-e", 'db:query("select 1")' })
      assert.equal(3, r.status)
      assert.truthy(r.stderr:find("127.0.0.1:1/x", 1, true), r.stderr)
    end)

    it("--load runs an SQL file first", function()
      local sql = dir .. "/load.sql"
      H.write(sql, "CREATE TABLE loaded (id int);\nINSERT INTO loaded VALUES (1), (2);\n")
      local r = H.migrun({ "--db", H.conninfo(dbname), "--load", sql, "-e",
                           "io.write(db:query('SELECT count(*) AS n FROM loaded')[1].n)" })
      assert.equal(0, r.status, r.stderr)
      assert.equal("2", r.stdout)
    end)

    it("an SQL error in --load names file:line:col and the SQLSTATE", function()
      local sql = dir .. "/bad.sql"
      H.write(sql, "-- fixture\nCREATE TABLE ok_first (id int);\nSELECT *\n  FROM missing_table;\n")
      local r = H.migrun({ "--db", H.conninfo(dbname), "--load", sql, "-e", "print('ran')" })
      assert.equal(1, r.status)
      assert.equal("", r.stdout)
      assert.truthy(r.stderr:find(sql .. ":4:8:", 1, true), r.stderr)
      assert.truthy(r.stderr:find("42P01", 1, true), r.stderr)
    end)

    it("--sandbox --load works and removes the sandbox afterwards", function()
      local sql = dir .. "/sandbox.sql"
      H.write(sql, "CREATE TABLE items (id int);\nINSERT INTO items SELECT generate_series(1, 5);\n")
      local r = H.migrun({ "--sandbox", "--load", sql, "-e",
        "io.write(db:info().host, '\\n', db:query('SELECT count(*) AS n FROM items')[1].n)" })
      assert.equal(0, r.status, r.stderr)
      local sbdir, n = r.stdout:match("^(.-)\n(%d+)$")
      assert.equal("5", n)
      assert.truthy(sbdir:find("/migrun-sandbox-", 1, true), sbdir)
      assert.is_nil(lfs.attributes(sbdir))
    end)

    -- the query is cancelled server-side whatever is waiting on it: query, rows, copy_out
    local interruptible = {
      query = "db:query('SELECT pg_sleep(30) AS %s')",
      rows = "for _ in db:rows('SELECT pg_sleep(30) AS %s') do end",
      copy_out = "db:copy_out('COPY (SELECT pg_sleep(30) AS %s) TO STDOUT', '%s')",
    }
    for _, what in ipairs({ "query", "rows", "copy_out" }) do
      it("Ctrl-C during " .. what .. " cancels it server-side and exits 130 within seconds",
         function()
        local admin <close> = H.connect(dbname)
        local marker = "ctrlc_" .. what .. "_" .. require("migrun.core.sys").getpid()
        -- running: an idle backend still shows its last query (until the process's exit closes it)
        local sleeping = "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%' " ..
                         "|| $1 || '%' AND pid <> pg_backend_pid() AND state = 'active'"
        local errfile = dir .. "/ctrlc.err"
        local h <close> = H.spawn_migrun({ "--db", H.conninfo(dbname), "-e",
          string.format(interruptible[what], marker, dir .. "/ctrlc.out") }, { stderr = errfile })
        H.eventually(function() return admin:query(sleeping, marker)[1].n == 1 end)
        local t0 = require("migrun.clock").now()
        h:kill(proc.SIGINT)
        local res = h:wait(10000)
        assert.is_not_nil(res, "migrun did not exit within 10 s of SIGINT")
        assert.is_true((require("migrun.clock").since(t0)) < 5e9)
        assert.equal(130, res.status)
        assert.truthy(H.read(errfile):find("interrupted", 1, true))
        H.eventually(function() return admin:query(sleeping, marker)[1].n == 0 end, 3000)
      end)
    end
  end)

  describe("passwords", function()
    local SECRET = "Sekr1t-cli-8e7d"
    local role, port, admin

    local function url(password)
      return string.format("postgresql://%s:%s@127.0.0.1:%s/postgres", role, password, port)
    end

    setup(function()
      role = "mr_cli_" .. require("migrun.core.sys").getpid()
      port = H.pgenv().PGPORT
      admin = H.connect()
      admin:exec("DROP ROLE IF EXISTS " .. admin:quote_ident(role))
      admin:exec("CREATE ROLE " .. admin:quote_ident(role) .. " LOGIN PASSWORD " ..
                 admin:quote_literal(SECRET))
    end)

    teardown(function()
      admin:exec("DROP ROLE IF EXISTS " .. admin:quote_ident(role))
      admin:close()
    end)

    it("never prints the password: success, Lua error, SQL error, --verbose", function()
      local cases = {
        { code = "io.write(db:query('SELECT current_user AS u')[1].u, ' ', tostring(db))",
          status = 0 },
        { code = "db:query('SELECT 1'); error('boom')", status = 1 },
        { code = "db:query('SELECT * FROM no_such_table')", status = 1 },
        { code = "db:query('SELECT 1'); error({})", status = 1, verbose = true },
      }
      for _, case in ipairs(cases) do
        local args = { "--db", url(SECRET), "-e", case.code }
        if case.verbose then table.insert(args, 1, "--verbose") end
        local r = H.migrun(args)
        assert.equal(case.status, r.status, case.code .. ": " .. output(r))
        assert.falsy(output(r):find(SECRET, 1, true), output(r))
      end
      local ok = H.migrun({ "--db", url(SECRET), "-e", "io.write(tostring(db))" })
      assert.truthy(ok.stdout:find(role, 1, true))
    end)

    it("a password given with --db gets a hint where it belongs, and is not printed", function()
      local pwdir = H.tmpdir()
      local pb = H.write(pwdir .. "/pw.lua", 'playbook "pw" { phase "p" { sql "SELECT 1" } }\n')
      local r = H.migrun({ "--db", url(SECRET), "plan", pb })
      assert.equal(0, r.status, output(r))
      assert.truthy(output(r):find("keep it in ~/.pgpass, PGPASSFILE or a service file", 1, true), output(r))
      assert.falsy(output(r):find(SECRET, 1, true), output(r))
      H.rmtree(pwdir)
    end)

    it("a wrong password exits 3 without printing it", function()
      local wrong = "Wr0ng-cli-3b1f"
      local r = H.migrun({ "--db", url(wrong), "-e", "db:query('SELECT 1')" })
      assert.equal(3, r.status)
      assert.falsy(output(r):find(wrong, 1, true), output(r))
      assert.truthy(r.stderr:find("127.0.0.1", 1, true))
      r = H.migrun({ "--verbose", "--db", url(wrong), "-e", "db:query('SELECT 1')" })
      assert.equal(3, r.status)
      assert.falsy(output(r):find(wrong, 1, true), output(r))
    end)
  end)
end)
