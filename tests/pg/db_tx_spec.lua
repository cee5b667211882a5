-- migrun.db transactions: conn:tx(fn) (BEGIN/COMMIT, ROLLBACK and re-raise, savepoints when
-- nested) and the to-be-closed conn:begin() underneath it.
local H = require "helper"
local errors = require "migrun.errors"

describe("transactions", function()
  local dbname, c

  local function count()
    return c:query("SELECT count(*) AS n FROM t")[1].n
  end

  setup(function()
    dbname = H.fresh_db("dbtx")
    c = H.connect(dbname)
    c:exec("CREATE TABLE t (id int PRIMARY KEY)")
  end)

  before_each(function()
    c:exec("TRUNCATE t")
  end)

  teardown(function()
    if c then c:close() end
    H.drop_db(dbname)
  end)

  it("commits what fn did and returns fn's results", function()
    local a, b, n = c:tx(function(conn, x)
      assert.equal("intrans", conn:status())
      conn:exec("INSERT INTO t VALUES (1), (2)")
      return x, nil, 3
    end, "arg")
    assert.equal("arg", a)
    assert.is_nil(b)
    assert.equal(3, n)
    assert.equal("idle", c:status())
    assert.equal(2, count())
  end)

  it("rolls back when fn raises, and re-raises the same error", function()
    local mine = { mine = true }
    local ok, err = pcall(c.tx, c, function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      error(mine)
    end)
    assert.is_false(ok)
    assert.equal(mine, err)
    assert.equal("idle", c:status())
    assert.equal(0, count())
  end)

  it("rolls back on an SQL error and keeps its SQLSTATE", function()
    local ok, err = pcall(c.tx, c, function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      conn:exec("INSERT INTO t VALUES (1)")
    end)
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "23505"))
    assert.equal("idle", c:status())
    assert.equal(0, count())
  end)

  it("nests with savepoints: an inner failure caught outside keeps the outer work", function()
    c:tx(function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      local ok, err = pcall(conn.tx, conn, function(inner)
        inner:exec("INSERT INTO t VALUES (2)")
        inner:exec("INSERT INTO t VALUES (1)")         -- duplicate: the savepoint rolls back
      end)
      assert.is_false(ok)
      assert.equal("23505", err.sqlstate)
      assert.equal("intrans", conn:status())
      conn:tx(function(inner) inner:exec("INSERT INTO t VALUES (3)") end)
    end)
    assert.same({ 1, 3 }, { c:query("SELECT id FROM t ORDER BY id")[1].id,
                            c:query("SELECT id FROM t ORDER BY id")[2].id })
    assert.equal(2, count())
  end)

  it("nests three deep, and an uncaught inner failure rolls everything back", function()
    local ok = pcall(c.tx, c, function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      conn:tx(function(c2)
        c2:exec("INSERT INTO t VALUES (2)")
        c2:tx(function(c3)
          c3:exec("INSERT INTO t VALUES (3)")
          error("deep")
        end)
      end)
    end)
    assert.is_false(ok)
    assert.equal("idle", c:status())
    assert.equal(0, count())
    c:tx(function(conn) conn:tx(function(c2) c2:exec("INSERT INTO t VALUES (9)") end) end)
    assert.equal(1, count())
  end)

  it("refuses to report a commit when a caught error had aborted the transaction", function()
    local ok, err = pcall(c.tx, c, function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      pcall(conn.exec, conn, "SELECT * FROM no_such_table")   -- caught, but fatal to the tx
    end)
    assert.is_false(ok)
    assert.is_true(errors.is_sql(err, "25P02"))
    assert.equal("idle", c:status())
    assert.equal(0, count())
  end)

  it("does the same for a savepoint, leaving the outer transaction usable", function()
    c:tx(function(conn)
      conn:exec("INSERT INTO t VALUES (1)")
      local ok, err = pcall(conn.tx, conn, function(inner)
        inner:exec("INSERT INTO t VALUES (2)")
        pcall(inner.exec, inner, "SELECT 1/0")
      end)
      assert.is_false(ok)
      assert.equal("25P02", err.sqlstate)
      assert.equal("intrans", conn:status())
    end)
    assert.equal(1, count())
  end)

  it("begin() is a to-be-closed value: rollback unless committed", function()
    do
      local _ <close> = c:begin()
      c:exec("INSERT INTO t VALUES (1)")
    end
    assert.equal(0, count())
    do
      local tx <close> = c:begin()
      c:exec("INSERT INTO t VALUES (1)")
      tx:commit()
    end
    assert.equal(1, count())
    assert.equal("idle", c:status())
  end)

  it("refuses to begin on a connection whose transaction already failed", function()
    c:exec("BEGIN")
    pcall(c.exec, c, "SELECT 1/0")
    local ok, err = pcall(c.begin, c)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "usage"))
    c:exec("ROLLBACK")
  end)

  it("refuses a tx without a function, as misuse", function()
    assert.is_false(pcall(c.tx, c))
    assert.equal("idle", c:status())
  end)
end)
