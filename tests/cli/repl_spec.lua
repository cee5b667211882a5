-- migrun repl: scripted through stdin, and driven through a pseudo-terminal the way a person
-- types (tests/harness/pty_driver.py: keystrokes in, screen text out, waits bounded).
local H = require "helper"
local proc = require "migrun.proc"
local cjson = require "cjson"

local FIX = H.source .. "/tests/fixtures/shop"
local DRIVER = H.source .. "/tests/harness/pty_driver.py"
local PYTHON = proc.which("python3")

local function fresh()
  local name = H.fresh_db("repl")
  H.load(name, FIX .. "/before.sql")
  return name
end

-- migrun repl --db <dbname>, stdin from `input` (no terminal)
local function repl(dbname, input, opts)
  opts = opts or {}
  local argv = { "repl", "--db", H.conninfo(dbname) }
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  return H.migrun(argv, { stdin = input, cwd = opts.cwd or H.source, env = opts.env })
end

local function has(s, needle)
  return s:find(needle, 1, true) ~= nil
end

-- the pty driver's environment for migrun: a quiet terminal, no user inputrc, a private HOME
local function pty_env(home)
  local env = { TERM = "dumb", INPUTRC = "/dev/null", HOME = home, NO_COLOR = "1" }
  for k, v in pairs(H.pgenv()) do env[k] = v end
  return env
end

local function scenario(dbname, steps, opts)
  opts = opts or {}
  local home = opts.home or H.tmpdir()
  local sc = { argv = { H.bin, "repl", "--db", H.conninfo(dbname) }, env = pty_env(home),
               cwd = H.source, steps = steps, wait = opts.wait or 20, cols = opts.cols or 100 }
  local path = home .. "/scenario.json"
  H.write(path, cjson.encode(sc))
  return path, home
end

local function decode(out, err)
  local ok, res = pcall(cjson.decode, out)
  assert(ok, "the pty driver printed no result: " .. tostring(out) .. tostring(err))
  return res
end

-- run a pty scenario to its end: the driver's result (ok, error, status, output, marks, ...);
-- its HOME is removed unless opts.keep (then res.home names it)
local function pty(dbname, steps, opts)
  opts = opts or {}
  local path, home = scenario(dbname, steps, opts)
  local r = proc.run({ PYTHON, DRIVER, path }, { timeout = "120s" })
  local res = decode(r.stdout, r.stderr)
  if opts.keep then res.home = home else H.rmtree(home) end
  return res
end

local function explain(res)
  return string.format("%s\n--- screen ---\n%s", tostring(res.error), res.output)
end

local function send(s) return { send = s } end
local function expect(re, timeout) return { expect = re, timeout = timeout } end
-- Python regular expressions (the driver matches them), not Lua patterns
local PROMPT = "migrun[*!]?> "
local CONT = [[\.\.\.> ]]

describe("migrun repl without a terminal", function()
  local dbname
  setup(function() dbname = fresh() end)
  teardown(function() H.drop_db(dbname) end)

  it("prints an expression's value and query results as aligned tables with row count and time", function()
    local r = repl(dbname, "1 + 1\ncounts()\nsql [[SELECT id, name FROM customers WHERE id <= 2 ORDER BY id]]\n")
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("^2\n"), r.stdout)
    assert.truthy(has(r.stdout, "   table   | rows\n-----------+------\n audit_log |   10\n" ..
                                " customers |   50\n orders    |  200\n(3 rows)\nTime: "), r.stdout)
    assert.truthy(has(r.stdout, " id |    name\n----+------------\n  1 | customer 1\n  2 | customer 2\n" ..
                                "(2 rows)\nTime: "), r.stdout)
    assert.equal("", r.stderr)
  end)

  it("shows NULL, cuts wide cells and makes line breaks visible", function()
    local r = repl(dbname, "sql [[SELECT NULL::text AS a, repeat('x', 100) AS b, 'one' || chr(10) || 'two' AS c]]\n")
    assert.equal(0, r.status, r.stderr)
    assert.truthy(has(r.stdout, " NULL | "), r.stdout)
    assert.truthy(has(r.stdout, ("x"):rep(39) .. "… |"), r.stdout)
    assert.falsy(has(r.stdout, ("x"):rep(41)), r.stdout)
    assert.truthy(has(r.stdout, "one↵two"), r.stdout)
    assert.truthy(has(r.stdout, "(1 row)"), r.stdout)
  end)

  it("runs a chunk that spans lines once it is complete", function()
    local r = repl(dbname, "function twice(x)\n  return x * 2\nend\ntwice(21)\nlocal s = [[a\nb]] return #s\n")
    assert.equal(0, r.status, r.stderr)
    assert.equal("42\n3\n", r.stdout)
  end)

  it("pretty-prints nested tables with sorted keys and marks a cycle", function()
    local r = repl(dbname, 'local t = { 3, "x", b = { c = true }, a = 1 } t.self = t return t\n')
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find('^{ 3, "x", a = 1, b = { c = true }, self = <cycle: table: 0x%x+> }\n$'), r.stdout)
  end)

  it("prints Lua and SQL errors as the CLI does, goes on, and exits 1", function()
    local r = repl(dbname, "nope()\nsql [[SELECT * FROM nothere]]\n1 + 1\n")
    assert.equal(1, r.status)
    assert.truthy(has(r.stderr, "migrun: stdin:1: attempt to call a nil value (global 'nope')"), r.stderr)
    assert.truthy(has(r.stderr, 'migrun: sql:1:15: ERROR 42P01: '), r.stderr)
    assert.equal("2\n", r.stdout)
  end)

  it("names the script line of an error without a location of its own", function()
    local r = repl(dbname, "\n\ndescribe 'nosuch'\n")
    assert.equal(1, r.status)
    assert.truthy(has(r.stderr, "migrun: stdin:3: no table or view named 'nosuch'"), r.stderr)
  end)

  it("reports a syntax error and an incomplete last chunk", function()
    local r = repl(dbname, "x = = 1\n2\nfor i = 1, 2 do\n")
    assert.equal(1, r.status)
    assert.truthy(has(r.stderr, "migrun: stdin:1: unexpected symbol near '='"), r.stderr)
    assert.truthy(has(r.stderr, "stdin:3: the chunk starting here is incomplete"), r.stderr)
    assert.equal("2\n", r.stdout)
  end)

  it("reports a statement timeout as the error it is, not as a cancel", function()
    local r = repl(dbname, 'db:set("statement_timeout", "50ms")\nsql "SELECT pg_sleep(5)"\nprint("on")\n')
    assert.equal(1, r.status)
    assert.truthy(has(r.stderr, "ERROR 57014"), r.stderr)
    assert.falsy(has(r.stderr, "cancelled"), r.stderr)
    assert.equal("on\n", r.stdout)
  end)

  it("reports an aborted transaction instead of keeping it silently", function()
    local r = repl(dbname, table.concat({
      'db:exec "BEGIN"', 'sql "SELECT 1/0"', 'sql "SELECT 1"', 'sql "ROLLBACK"', 'sql "SELECT 2 AS two"',
      'db:exec "BEGIN"', 'sql "SELECT 1/0"' }, "\n") .. "\n")
    assert.equal(1, r.status)
    assert.truthy(has(r.stderr, "ERROR 22012"), r.stderr)
    local _, aborted = r.stderr:gsub("the transaction is aborted", "")
    assert.equal(2, aborted, r.stderr)
    assert.truthy(has(r.stderr, "ERROR 25P02"), r.stderr)
    assert.truthy(has(r.stdout, " two\n-----\n   2\n"), r.stdout)
    assert.truthy(has(r.stderr, "the open transaction was rolled back"), r.stderr)
  end)

  it("describes a table, lists tables, suggests a name it does not know", function()
    local r = repl(dbname, 'describe "customers"\ntables()\ndescribe "order"\n')
    assert.truthy(has(r.stdout, "Table public.customers\n"), r.stdout)
    assert.truthy(r.stdout:find("\n id +| integer +| not null |", 1), r.stdout)
    assert.truthy(has(r.stdout, "Indexes:\n    customers_pkey PRIMARY KEY btree (id)"), r.stdout)
    assert.truthy(r.stdout:find(" public | orders +| table |", 1), r.stdout)
    assert.truthy(has(r.stderr, "no table or view named 'order' (did you mean 'orders'?)"), r.stderr)
  end)

  it("times every chunk with timing(true)", function()
    local r = repl(dbname, "timing(true)\nx = 1\ntiming(false)\ny = 2\n")
    assert.equal(0, r.status, r.stderr)
    local _, n = r.stdout:gsub("Time: ", "")
    assert.equal(2, n, r.stdout)                     -- timing(true)'s own value, then x = 1
  end)

  it("loads a playbook: plan, check, run { only }, and Lua's load stays in _G", function()
    local name = fresh()
    local r = repl(name, table.concat({
      'pb = load "tests/fixtures/shop/shop.lua"', "pb", "pb:plan()", "pb:check()",
      'pb:run { only = "001 email" }', 'pb:run { onyl = "x" }', '_G.load("return 40 + 2")()',
      'sql "SELECT count(*) AS with_email FROM customers WHERE email IS NOT NULL"' }, "\n") .. "\n")
    assert.truthy(has(r.stdout, "playbook shop (tests/fixtures/shop/shop.lua, 5 phases)"), r.stdout)
    assert.truthy(has(r.stdout, "phase 001 email  [pending]"), r.stdout)
    assert.truthy(has(r.stdout, "preflight (nothing is applied yet)"), r.stdout)
    assert.truthy(has(r.stdout, "check passed"), r.stdout)
    assert.truthy(has(r.stdout, "phase 001 email  applied"), r.stdout)
    assert.truthy(r.stdout:find("shop: succeeded in [%w.]+ %(run %d+%)"), r.stdout)
    assert.truthy(has(r.stderr, "pb:run: unknown option 'onyl' (did you mean 'only'?)"), r.stderr)
    assert.truthy(has(r.stdout, "\n42\n"), r.stdout)
    assert.truthy(has(r.stdout, " with_email\n------------\n         50\n"), r.stdout)
    local c <close> = H.connect(name)
    assert.equal("succeeded", c:query("SELECT status FROM migrun.runs")[1].status)
    H.drop_db(name)
  end)

  it("stops at Ctrl-C in a script and exits 130", function()
    local dir = H.tmpdir()
    H.write(dir .. "/in.lua", 'print("start")\nsql "SELECT pg_sleep(30)"\nprint("after")\n')
    local out = dir .. "/out"
    local env = {}
    for k, v in pairs(H.pgenv()) do env[k] = v end
    local p = proc.spawn({ "sh", "-c", 'exec "$0" repl --db "$1" < "$2"', H.bin, H.conninfo(dbname),
                           dir .. "/in.lua" },
                         { env = env, stdout = { file = out }, stderr = { file = out .. ".err" } })
    local admin <close> = H.connect()
    H.eventually(function()
      return admin:query([[SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active'
                           AND query LIKE '%pg_sleep(30)%']], dbname).n > 0
    end)
    local t = H.elapsed(function()
      p:kill(proc.SIGINT)
      local res = H.eventually(function() return p:wait(10) end)
      assert.equal(130, res.status)
    end)
    assert.truthy(t < 10, "took " .. t .. "s")
    assert.equal("start\n", H.read(out))
    assert.truthy(has(H.read(out .. ".err"), "cancelled"), H.read(out .. ".err"))
    H.rmtree(dir)
  end)

  it("refuses a file argument (usage, exit 2)", function()
    local r = repl(dbname, "", { args = { "x.lua" } })
    assert.equal(2, r.status)
    assert.truthy(has(r.stderr, "migrun repl takes no arguments; unexpected extra argument 'x.lua'"), r.stderr)
    assert.truthy(has(r.stderr, 'pb = load "x.lua"'), r.stderr)
  end)

  it("scripts a sandbox: echo 'counts()' | migrun repl --sandbox --load FILE.sql", function()
    local r = H.migrun({ "repl", "--sandbox", "--load", FIX .. "/before.sql" }, { stdin = "counts()\n" })
    assert.equal(0, r.status, r.stderr)
    assert.truthy(has(r.stdout, " customers |   50\n"), r.stdout)
  end)
end)

describe("migrun repl on a terminal", function()
  local dbname
  setup(function() dbname = fresh() end)
  teardown(function() H.drop_db(dbname) end)
  before_each(function()
    if not PYTHON then pending("python3 drives the pseudo-terminal; it is not installed") end
  end)

  it("prints values at a prompt and leaves on Ctrl-D with status 0", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect("on [^\n]+: Lua with `db` connected"), expect(PROMPT), send("1 + 1\r"), expect("\n2\n"),
      expect(PROMPT), send("db\r"), expect([[migrun\.db \(]]), expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
    assert.equal(0, res.status, explain(res))
  end)

  it("continues an incomplete chunk on a continuation prompt", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send("for i = 1, 3 do\r"), expect(CONT), send("print(i * 10)\r"),
      expect(CONT), send("end\r"), expect("\n10\n20\n30\n"), expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
    assert.equal(0, res.status)
  end)

  it("completes globals, fields and methods with Tab", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send("string.form\t"), expect([[string\.format]]), send("('%d', 7)\r"), expect("\n7\n"),
      expect(PROMPT), send("db:que\t"), expect("db:query"), send("('SELECT 5 AS five')\r"), expect("five"),
      expect(PROMPT), send("db:\t\t"), expect("db:exec.*db:query"), send("\21"),
      send("coun\t"), expect("counts"), send("()\r"), expect([[customers \|]]), expect(PROMPT),
      send("sql [[SELECT count(*) AS n FROM ord\t"), expect("FROM orders"), send("]]\r"), expect(" 200\n"),
      expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
  end)

  it("completes table names after describe \"", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send('describe "cust\t'), expect('describe "customers"'), send("\r"),
      expect([[Table public\.customers]]), expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
  end)

  it("drops the line and the pending chunk on Ctrl-C at the prompt", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send("for i = 1, 2 do\r"), expect(CONT), send("print('no')"), expect([[print\('no'\)]]),
      send("\3"), expect("\\^C\n" .. PROMPT), send("1 + 1\r"), expect("\n2\n"), expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
    assert.equal(0, res.status)
    assert.falsy(has(res.output, "\nno\n"), res.output)
  end)

  it("cancels a running query on Ctrl-C, not the session", function()
    if not PYTHON then return end
    local home = H.tmpdir()
    local path = scenario(dbname, {
      expect(PROMPT), send('sql "SELECT pg_sleep(10) AS slept"\r'), expect("pg_sleep"),
      { wait_file = home .. "/go", timeout = 20 }, { mark = "ctrl-c" }, send("\3"), expect("cancelled"),
      { mark = "cancelled" }, expect(PROMPT), send("db:status()\r"), expect('\nidle\n'), expect(PROMPT),
      send("sql 'SELECT 3 AS three'\r"), expect("three"), expect(PROMPT), send("\4"),
    }, { home = home })
    local out = home .. "/driver.out"
    local p = proc.spawn({ PYTHON, DRIVER, path }, { stdout = { file = out }, stderr = { file = out .. ".err" } })
    local admin <close> = H.connect()
    local active = [[SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active'
                     AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()]]
    H.eventually(function() return admin:query(active, dbname).n > 0 end, 20000)
    H.write(home .. "/go", "go")
    H.eventually(function() return p:wait(100) end, 60000)
    local res = decode(H.read(out), H.read(out .. ".err"))
    assert.is_true(res.ok, explain(res))
    assert.equal(0, res.status)
    assert.truthy(res.marks.cancelled - res.marks["ctrl-c"] < 5, explain(res))
    assert.falsy(has(res.output, "slept\n"), res.output)
    assert.equal(0, admin:query(active, dbname).n)
    H.rmtree(home)
  end)

  it("cancels a runaway Lua loop on Ctrl-C", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send("n = 0 print('looping') while true do n = n + 1 end\r"),
      expect("\nlooping\n"), send("\3"),
      expect("cancelled"), expect(PROMPT), send("type(n)\r"), expect("\nnumber\n"), expect(PROMPT), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
    assert.equal(0, res.status)
  end)

  it("leaves on SIGTERM at the prompt with status 130, saving the history", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send("x = 1\r"), expect(PROMPT), send("abc"), expect("abc"), { kill = "TERM" },
    }, { keep = true })
    assert.is_true(res.ok, explain(res))
    assert.equal(130, res.status, explain(res))
    assert.truthy(has(H.read(res.home .. "/.migrun_history"), "x = 1\n"))
    H.rmtree(res.home)
  end)

  it("shows the transaction state in the prompt and reports an aborted one", function()
    if not PYTHON then return end
    local res = pty(dbname, {
      expect(PROMPT), send('db:exec "BEGIN"\r'), expect([[migrun\*> ]]), send('sql "SELECT 1/0"\r'),
      expect("ERROR 22012"), expect("the transaction is aborted"), expect("migrun!> "),
      send('sql "ROLLBACK"\r'), expect("\nROLLBACK\n"), expect("\nmigrun> "), send("\4"),
    })
    assert.is_true(res.ok, explain(res))
  end)

  it("keeps history in ~/.migrun_history, a multi-line chunk as one entry", function()
    if not PYTHON then return end
    local first = pty(dbname, {
      expect(PROMPT), send("function g()\r"), expect(CONT), send("return x + 1 end\r"),
      expect(PROMPT), send("\4"),
    }, { keep = true })
    assert.is_true(first.ok, explain(first))
    assert.truthy(has(H.read(first.home .. "/.migrun_history"), "function g()\nreturn x + 1 end\n"))
    local second = pty(dbname, {
      expect(PROMPT), send("\27[A"), expect([[return x \+ 1 end]]), send("\r"), expect(PROMPT),
      send("x = 41\r"), expect(PROMPT), send("g()\r"), expect("\n42\n"), expect(PROMPT), send("\4"),
    }, { home = first.home, keep = true })
    assert.is_true(second.ok, explain(second))
    H.rmtree(first.home)
  end)
end)
