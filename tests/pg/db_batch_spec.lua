-- migrun.db conn:batch(): many statements in one libpq pipeline (one round trip), results
-- shaped as conn:query's, the first error raised with its item's index (engine/l_db.c).
local H = require "helper"
local errors = require "migrun.errors"
local sys = require "migrun.core.sys"

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("conn:batch", function()
  local dbname, c

  setup(function()
    dbname = H.fresh_db("dbbatch")
    c = H.connect(dbname)
  end)

  teardown(function()
    if c then c:close() end
    H.drop_db(dbname)
  end)

  local function fresh(t)
    c:exec("DROP TABLE IF EXISTS " .. t)
    c:exec("CREATE TABLE " .. t .. " (id int PRIMARY KEY, v text)")
  end

  local function ids(t)
    local got = {}
    for _, row in ipairs(c:query("SELECT id FROM " .. t .. " ORDER BY id")) do
      got[#got + 1] = row.id
    end
    return got
  end

  it("raises the first failing item with its index; the items after it are not applied",
     function()
    fresh("b_err")
    c:exec("INSERT INTO b_err VALUES (1, 'old')")
    local err = raises(c.batch, c, {
      "INSERT INTO b_err VALUES (10, 'a')",
      "INSERT INTO b_err VALUES (1, 'duplicate')",
      "INSERT INTO b_err VALUES (11, 'c')",
    })
    assert.is_true(errors.is_sql(err, "23505"))
    assert.equal(2, err.index)
    assert.equal("b_err", err.table)
    -- outside a transaction block the batch is one implicit transaction: nothing applied
    assert.same({ 1 }, ids("b_err"))
    assert.equal("idle", c:status())
  end)

  it("leaves the caller's transaction aborted when an item fails inside it", function()
    fresh("b_tx_err")
    c:exec("BEGIN")
    c:exec("INSERT INTO b_tx_err VALUES (1, 'before')")
    local err = raises(c.batch, c, {
      "INSERT INTO b_tx_err VALUES (2, 'a')",
      "SELECT 1 / 0",
      "INSERT INTO b_tx_err VALUES (3, 'c')",
    })
    assert.is_true(errors.is_sql(err, "22012"))
    assert.equal(2, err.index)
    assert.equal("inerror", c:status())
    c:exec("ROLLBACK")
    assert.same({}, ids("b_tx_err"))
    assert.equal("idle", c:status())
  end)

  it("reports a statement the extended protocol refuses (two in one item) by index", function()
    local err = raises(c.batch, c, { "SELECT 1", "SELECT 1; SELECT 2" })
    assert.is_true(errors.is_sql(err, "42601"))
    assert.equal(2, err.index)
    assert.equal(1, c:query("SELECT 1 AS x")[1].x)
  end)

  it("refuses a COPY and bad items before sending anything", function()
    fresh("b_bad")
    local err = raises(c.batch, c, { "INSERT INTO b_bad VALUES (1)", " /* x */ copy b_bad TO STDOUT" })
    assert.is_true(errors.is(err, "usage"))
    assert.is_false(pcall(c.batch, c, { "INSERT INTO b_bad VALUES (1)", 42 }))
    assert.is_false(pcall(c.batch, c, { "INSERT INTO b_bad VALUES (1)", { 42 } }))
    assert.is_false(pcall(c.batch, c, { { "SELECT $1", {} } }))
    assert.is_false(pcall(c.batch, c, "SELECT 1"))
    assert.same({}, ids("b_bad"))
    assert.equal("idle", c:status())
  end)

  it("runs inserts inside a transaction and returns what query would", function()
    fresh("b_ins")
    c:exec("BEGIN")
    local res = c:batch({
      "INSERT INTO b_ins VALUES (1, 'a')",
      "INSERT INTO b_ins VALUES (2, 'b')",
      "INSERT INTO b_ins VALUES (3, 'c') RETURNING id, v",
    })
    assert.equal("intrans", c:status())
    c:exec("COMMIT")
    assert.equal(3, #res)
    assert.equal("INSERT 0 1", res[1].command)
    assert.equal(1, res[1].affected)
    assert.equal(0, res[1].n)
    assert.same({ id = 3, v = "c" }, res[3][1])
    assert.same({ "id", "v" }, res[3].columns)
    assert.same({ "int4", "text" }, res[3].types)
    assert.same({ 1, 2, 3 }, ids("b_ins"))
    local sql = "SELECT g AS n, g % 2 = 0 AS even, NULL::text AS nothing FROM generate_series(1, 3) g"
    assert.same(c:query(sql), c:batch({ sql })[1])
  end)

  it("sends parameters, trailing nils included through table.pack", function()
    fresh("b_par")
    local res = c:batch({
      { "INSERT INTO b_par VALUES ($1, $2)", 1, "one" },
      table.pack("INSERT INTO b_par VALUES ($1, $2)", 2, nil),
      { "SELECT $1::int8 + 1 AS a, $2::float8 AS b, $3::bool AS c", 41, 0.5, true },
      { "SELECT count(*) AS n FROM b_par" },
    })
    assert.equal(4, #res)
    assert.same({ a = 42, b = 0.5, c = true }, res[3][1])
    assert.equal(2, res[4][1].n)
    assert.is_nil(c:query("SELECT v FROM b_par WHERE id = 2")[1].v)
  end)

  it("returns an empty list for an empty batch, without a round trip", function()
    assert.same({}, c:batch({}))
    assert.equal("idle", c:status())
  end)

  it("runs many items in one round trip", function()
    fresh("b_many")
    local items = {}
    for i = 1, 5000 do
      items[i] = { "INSERT INTO b_many VALUES ($1, repeat('x', 200))", i }
    end
    local res = c:batch(items)
    assert.equal(5000, #res)
    assert.equal(5000, c:query("SELECT count(*) AS n FROM b_many")[1].n)
  end)

  it("delivers notices after the batch", function()
    local t <close> = H.connect(dbname)
    local got = {}
    t:notices(function(n) got[#got + 1] = n.message end)
    t:batch({ "DO $$ BEGIN RAISE NOTICE 'one'; END $$", "DO $$ BEGIN RAISE NOTICE 'two'; END $$" })
    assert.same({ "one", "two" }, got)
  end)

  it("reports a backend terminated during the batch as a lost connection", function()
    local t <close> = H.connect(dbname)
    local err = raises(t.batch, t, { "SELECT 1", "SELECT pg_terminate_backend(pg_backend_pid())",
                                     "SELECT 3" })
    assert.is_true(errors.is(err, "connection"))
    assert.is_true(err.lost)
    assert.equal(2, err.index)
    assert.truthy(t:status() == "broken" or t:status() == "closed")
  end)

  it("gives up on a frozen backend: closed, lost, timed_out, with the item it waited for",
     function()
    local t <close> = H.connect(dbname)
    local pid = t:backend_pid()
    t:set_client_timeout(300)
    assert(sys.kill(pid, 19))                          -- SIGSTOP, always undone below
    local ok, err
    do
      local _ <close> = setmetatable({}, { __close = function() sys.kill(pid, 18) end })
      ok, err = pcall(t.batch, t, { "SELECT 1", { "SELECT $1::int", 2 } })
    end
    assert.is_false(ok)
    assert.is_true(errors.is(err, "connection"), tostring(err))
    assert.is_true(err.lost and err.timed_out)
    assert.equal(1, err.index)
    assert.equal("closed", t:status())
  end)

  it("is refused while a rows() loop holds the connection", function()
    local ok, err
    for _ in c:rows("SELECT 1") do
      ok, err = pcall(c.batch, c, { "SELECT 2" })
    end
    assert.is_false(ok)
    assert.truthy(tostring(err):find("busy", 1, true))
  end)
end)
