-- examples/: each example runs green exactly as its README says (the command is read from
-- the README), and the failure each one is about is caught and leaves the database as it was.
local H = require "helper"
local clock = require "migrun.clock"
local cjson = require "cjson"

local EX = H.source .. "/examples"

local function timed(label, fn)
  local t = clock.now()
  local r = fn()
  io.stderr:write(string.format("\n[examples] %s: %s\n", label, clock.format(clock.since(t))))
  return r
end

-- the `migrun --sandbox ...` command of an example's README, as argv (without "migrun")
local function readme_command(name)
  local readme = H.read(EX .. "/" .. name .. "/README.md")
  local line = assert(readme:match("\nmigrun (%-%-sandbox [^\n]+)"), name .. "/README.md has no command")
  local argv = {}
  for word in line:gmatch("%S+") do argv[#argv + 1] = word end
  return argv
end

-- run an example as its README says, plus extra arguments; returns result, report doc
local function run_example(name, extra)
  local dir = H.tmpdir()
  local argv = readme_command(name)
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = "--report"
  argv[#argv + 1] = dir .. "/r.md"
  local r = timed(name .. " (--sandbox)", function() return H.migrun(argv, { cwd = H.source }) end)
  local ok, doc = pcall(function() return cjson.decode(H.read(dir .. "/r.json")) end)
  H.rmtree(dir)
  return r, ok and doc or nil
end

local function phases_of(doc)
  local list = {}
  for _, p in ipairs(doc.phases) do list[#list + 1] = p.name .. "=" .. p.status end
  return list
end

-- the expectation of that description checked where (a phase, "(verify)", "(protect)")
local function find_expectation(doc, description, where)
  for _, e in ipairs(doc.expectations) do
    if e.description == description and (where == nil or e.phase == where) then return e end
  end
end

-- an example copied to a temp dir, its playbook edited by fn(text) -> text
local function edited_copy(name, fn)
  local dir = H.tmpdir()
  H.copy_tree(EX .. "/" .. name, dir .. "/" .. name)
  local path = dir .. "/" .. name .. "/playbook.lua"
  local before = H.read(path)
  local after = fn(before)
  assert.are_not.equal(before, after, "the edit changed nothing")
  H.write(path, after)
  return dir, path
end

local function fresh(name)
  local db = H.fresh_db("ex_" .. name)
  H.load(db, EX .. "/" .. name .. "/before.sql")
  return db
end

describe("examples/quickstart", function()
  it("is what scripts/quickstart.sh runs, and the README's first command", function()
    local script = H.read(H.source .. "/scripts/quickstart.sh")
    local last = script:gsub("%s+$", ""):match("[^\n]+$")
    assert.equal("exec build/bin/migrun --sandbox --load examples/quickstart/before.sql " ..
                 "examples/quickstart/playbook.lua --yes", last)
    local readme = H.read(H.source .. "/README.md")
    assert.truthy(readme:find("```sh\nscripts/quickstart.sh", 1, true))
    assert.is_nil(io.open(EX .. "/quickstart/quickstart.lua"))
  end)

  it("adds the backfilled column and the foreign key the way a live table allows, lint-clean", function()
    local r, doc = run_example("quickstart")
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same({ "add customers.email=applied", "backfill customers.email=applied",
                  "require customers.email=applied", "orders -> customers foreign key=applied",
                  "validate the foreign key=applied" }, phases_of(doc))
    local lint = H.migrun({ "lint", EX .. "/quickstart/playbook.lua" })
    assert.equal(0, lint.status, lint.stdout)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    assert.equal("1000 rows, content unchanged", find_expectation(doc, "protect orders (same)").actual)
  end)

  it("stops at the gate without --yes and no terminal (exit 4)", function()
    local argv = readme_command("quickstart")
    for i = #argv, 1, -1 do if argv[i] == "--yes" then table.remove(argv, i) end end
    local r = H.migrun(argv, { cwd = H.source })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("go/no-go", 1, true))
  end)

  it("refuses to start when an order has no customer (preflight), changing nothing", function()
    local db = fresh("quickstart")
    do
      local c <close> = H.connect(db)
      c:exec("INSERT INTO orders VALUES (1001, 4242, 9.99)")
    end
    local before = H.state(db)
    local r = timed("quickstart: orphan order", function()
      return H.migrun({ "--db", H.conninfo(db), EX .. "/quickstart/playbook.lua", "--yes" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("no_orphans(orders.customer_id -> customers.id)  FAILED  (actual 1, expected 0)",
                                1, true), r.stdout)
    assert.same(before, H.state(db))
    H.drop_db(db)
  end)
end)

describe("examples/lua_step", function()
  it("backfills in key-range batches, then a Lua step reports with db:query and run.log", function()
    local r, doc = run_example("lua_step", { "--set", "batch=7000" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill accounts: 25000 rows in 4 batches", 1, true), r.stdout)
    assert.truthy(r.stdout:find("example.com: %d+ accounts"), r.stdout)
    assert.same({ "add the column=applied", "backfill in batches=applied", "not null, checked=applied",
                  "not null=applied", "unique index=applied", "unique constraint=applied" }, phases_of(doc))
    for _, p in ipairs(doc.phases) do
      if p.name == "backfill in batches" then assert.is_false(p.transaction) end
    end
    local rows
    for _, s in ipairs(doc.steps) do
      if s.step == "backfill accounts" then rows = s.rows end
    end
    assert.equal(25000, rows)
    assert.equal(4, doc.backfills[1].batches)
  end)

  it("undoes the committed batches with the rollback when the backfill's verify fails", function()
    -- a wrong backfill (no trim): the batches commit, the verify catches it, the rollbacks
    -- of the backfill and of the column bring the table back as it was
    local dir, path = edited_copy("lua_step", function(s)
      return (s:gsub('set = "email_normalized = lower%(trim%(email%)%)"', 'set = "email_normalized = lower(email)"'))
    end)
    local db = fresh("lua_step")
    local before = H.state(db)
    local r = timed("lua_step: wrong backfill", function()
      return H.migrun({ "--db", H.conninfo(db), path, "--yes" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("FAILED  (actual 3571, expected 0)", 1, true), r.stdout)
    assert.truthy(r.stdout:find("backfill in batches  rolled back", 1, true), r.stdout)
    assert.same(before, H.state(db))
    H.drop_db(db)
    H.rmtree(dir)
  end)
end)

describe("examples/concurrent_index", function()
  it("builds the index concurrently in a transaction = false phase, then attaches it", function()
    local r, doc = run_example("concurrent_index")
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same({ "build the index concurrently=applied", "attach it as a constraint=applied" }, phases_of(doc))
    assert.is_false(doc.phases[1].transaction)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
  end)

  it("leaves no INVALID index behind when the concurrent build fails", function()
    -- without its preflight, the playbook meets a duplicate order number in the build itself
    local dir, path = edited_copy("concurrent_index", function(s)
      return (s:gsub("\n  preflight = %b{},\n", "\n"))
    end)
    local db = fresh("concurrent_index")
    do
      local c <close> = H.connect(db)
      c:exec("INSERT INTO orders VALUES (50001, 'ORD-000042', 1, 1)")
    end
    local before = H.state(db)
    local r = timed("concurrent_index: duplicate key during the build", function()
      return H.migrun({ "--db", H.conninfo(db), path, "--yes" })
    end)
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find("23505", 1, true), out)
    assert.truthy(out:find("dropping the invalid index public.orders_order_number_key left by the failed build",
                           1, true), out)
    local c <close> = H.connect(db)
    assert.equal(0, c:query("SELECT count(*) AS n FROM pg_class WHERE relname = 'orders_order_number_key'")[1].n)
    assert.same(before, H.state(db))
    H.drop_db(db)
    H.rmtree(dir)
  end)
end)

describe("examples/custom_expect", function()
  it("checks the identity sequence and the invoice totals with expect.that", function()
    local r, doc = run_example("custom_expect")
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local seq = find_expectation(doc, "invoices.id identity sequence is at or past max(id)", "(verify)")
    assert.is_true(seq.ok)
    assert.equal("sequence at 100500", seq.actual)
    assert.equal(">= 100500", seq.expected)
    assert.equal("0 of 2000 wrong",
                 find_expectation(doc, "every invoice total equals the sum of its lines", "(preflight)").actual)
    assert.equal("0 of 2500 wrong",
                 find_expectation(doc, "every invoice total equals the sum of its lines", "(verify)").actual)
  end)

  it("fails the phase and rolls it back when the setval is forgotten", function()
    local dir, path = edited_copy("custom_expect", function(s)
      -- the phase's setval (the first one; the rollback has the second)
      return (s:gsub("\n      SELECT setval%(pg_get_serial_sequence%('invoices', 'id'%),[^\n]*", "", 1))
    end)
    local db = fresh("custom_expect")
    local before = H.state(db)
    local r = timed("custom_expect: setval forgotten", function()
      return H.migrun({ "--db", H.conninfo(db), path, "--yes" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("invoices.id identity sequence is at or past max(id)  FAILED  " ..
                                "(actual sequence at 2000, expected >= 100500)", 1, true), r.stdout)
    assert.same(before, H.state(db))
    local c <close> = H.connect(db)
    assert.equal(2000, c:query("SELECT last_value FROM invoices_id_seq")[1].last_value)
    H.drop_db(db)
    H.rmtree(dir)
  end)
end)
