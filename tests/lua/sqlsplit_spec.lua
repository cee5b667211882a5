local sqlsplit = require "migrun.sqlsplit"

local function sqls(text)
  local out = {}
  for i, s in ipairs(sqlsplit.split(text)) do out[i] = s.sql end
  return out
end

describe("sqlsplit", function()
  it("splits on semicolons and drops empty statements and comments", function()
    assert.same({ "SELECT 1;", "SELECT 2;" }, sqls("SELECT 1; ; -- c\n SELECT 2;"))
  end)

  it("gives one plain statement (nothing to scan for) the same offsets as the scanner would", function()
    local text = "\n\t CREATE TABLE t (id int)  \n"
    assert.same({ { sql = "CREATE TABLE t (id int)", start = 4, stop = 26 } }, sqlsplit.split(text))
    -- with a semicolon the scanner runs; the statement keeps the same start
    assert.same(4, sqlsplit.split("\n\t CREATE TABLE t (id int);")[1].start)
    assert.same({}, sqlsplit.split(" \n\t"))
    assert.same({}, sqlsplit.split(""))
  end)

  it("keeps a final statement without a semicolon", function()
    assert.same({ "SELECT 1;", "SELECT 2" }, sqls("SELECT 1;\nSELECT 2\n"))
  end)

  it("never cuts quoted strings, identifiers or comments", function()
    local t = [[SELECT 'a;b', "c;d", E'e\';f' /* g; /* nested; */ h; */ ; SELECT 2;]]
    local s = sqls(t)
    assert.equal(2, #s)
    assert.equal("SELECT 2;", s[2])
  end)

  it("never cuts dollar-quoted bodies", function()
    local t = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ " ..
              "LANGUAGE plpgsql; SELECT $$a;b$$; SELECT $1;"
    local s = sqls(t)
    assert.equal(3, #s)
    assert.equal("SELECT $$a;b$$;", s[2])
  end)

  it("never cuts BEGIN ATOMIC bodies, CASE ... END included", function()
    local t = [[
CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;
  SELECT 2;
END;
CREATE TABLE t (a int);]]
    local s = sqls(t)
    assert.equal(2, #s)
    assert.equal("CREATE TABLE t (a int);", s[2])
  end)

  it("does not treat BEGIN as a body outside CREATE FUNCTION", function()
    assert.same({ "BEGIN;", "SELECT 1;", "COMMIT;" }, sqls("BEGIN; SELECT 1; COMMIT;"))
  end)

  it("gives each statement's start offset for line mapping", function()
    local t = "-- header\n\nSELECT 1;\n  SELECT 2;"
    local s = sqlsplit.split(t)
    assert.same({ 3, 1 }, { sqlsplit.position(t, s[1].start) })
    assert.same({ 4, 3 }, { sqlsplit.position(t, s[2].start) })
  end)

  it("counts columns in characters, not bytes", function()
    local t = "SELECT 'é', x;"
    local byte = t:find("x", 1, true)
    assert.same({ 1, 13 }, { sqlsplit.position(t, byte) })
  end)

  it("rejects psql meta-commands with their line", function()
    local ok, err = pcall(sqlsplit.split, "SELECT 1;\n\\i other.sql\n", "x.sql")
    assert.is_false(ok)
    assert.equal("usage", err.kind)
    assert.equal("x.sql", err.file)
    assert.equal(2, err.line)
  end)
end)
