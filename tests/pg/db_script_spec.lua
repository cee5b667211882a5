-- migrun.db conn:script(): multi-statement SQL files, run like psql -f; an error names the
-- file, line and column (from the server's position, or the statement's start without one).
local H = require "helper"
local errors = require "migrun.errors"

describe("conn:script", function()
  local dbname, c

  local function fails(text, name)
    local ok, err = pcall(c.script, c, text, { name = name or "f.sql" })
    assert.is_false(ok, "expected the script to fail")
    return err
  end

  setup(function()
    dbname = H.fresh_db("dbscript")
    c = H.connect(dbname)
  end)

  teardown(function()
    if c then c:close() end
    H.drop_db(dbname)
  end)

  it("runs every statement and counts statements and rows", function()
    local r = c:script([[
-- a header comment; with a semicolon
CREATE TABLE s1 (id int PRIMARY KEY, note text);
INSERT INTO s1 VALUES (1, 'a;b'), (2, $q$c;d$q$);
CREATE FUNCTION s1_count() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM s1);
END $$;
UPDATE s1 SET note = note || ';' WHERE id = 1;
]], { name = "setup.sql" })
    assert.same({ statements = 4, rows = 3 }, r)
    assert.equal(2, c:query("SELECT s1_count() AS n")[1].n)
  end)

  it("maps a missing relation to file:line:col from the server's position", function()
    local err = fails([[
-- header
CREATE TABLE s2 (id int);

SELECT *
  FROM missing_table;
]], "missing.sql")
    assert.is_true(errors.is_sql(err, "42P01"))
    assert.equal("missing.sql", err.file)
    assert.equal(5, err.line)
    assert.equal(8, err.col)
    assert.truthy(tostring(err):find("^missing%.sql:5:8: ERROR 42P01: "))
  end)

  it("maps a syntax error inside a statement", function()
    local err = fails("SELECT 1;\n\n  INSERT INTO s2 VALUES (1,,2);\n")
    assert.is_true(errors.is_sql(err, "42601"))
    assert.equal(3, err.line)
    assert.equal(28, err.col)                            -- the second comma
    err = fails("SELEC 1;")
    assert.equal("42601", err.sqlstate)
    assert.same({ 1, 1 }, { err.line, err.col })
  end)

  it("maps a runtime error without a position to the statement's first line", function()
    c:exec("CREATE TABLE s3 (id int PRIMARY KEY)")
    local err = fails([[
INSERT INTO s3 VALUES (1);
/* a comment
   over lines */   INSERT INTO s3
  VALUES (1);
SELECT 'never reached';
]])
    assert.is_true(errors.is_sql(err, "23505"))
    assert.is_nil(err.position)
    assert.equal(3, err.line)
    assert.equal(20, err.col)
    -- statements before the failing one stay applied, like psql -f
    assert.equal(1, c:query("SELECT count(*) AS n FROM s3")[1].n)
  end)

  it("counts columns in characters when the line holds multibyte text", function()
    local err = fails("SELECT 1;\nSELECT 'ééé' || nope;\n")
    assert.equal("42703", err.sqlstate)
    assert.equal(2, err.line)
    assert.equal(17, err.col)                            -- bytes would say 20
  end)

  it("maps errors after dollar-quoted bodies that hold semicolons", function()
    local err = fails([[
DO $body$
BEGIN
  PERFORM 1; PERFORM 2;
END
$body$;
SELECT no_such_function();
]])
    assert.equal("42883", err.sqlstate)
    assert.equal(6, err.line)
    assert.equal(8, err.col)
  end)

  it("maps an error raised inside a DO block to the block's line", function()
    local err = fails("SELECT 1;\n\nDO $$ BEGIN\n  RAISE EXCEPTION 'stop' USING ERRCODE = 'P0042';\nEND $$;\n")
    assert.equal("P0042", err.sqlstate)
    assert.equal(3, err.line)
    assert.equal("string", type(err.context))
  end)

  it("refuses psql meta-commands, naming their line", function()
    local ok, err = pcall(c.script, c, "SELECT 1;\n\\set x 1\n", { name = "meta.sql" })
    assert.is_false(ok)
    assert.is_true(errors.is(err, "usage"))
    assert.equal("meta.sql", err.file)
    assert.equal(2, err.line)
  end)

  it("runs an empty or comment-only script", function()
    assert.same({ statements = 0, rows = 0 }, c:script("-- nothing\n/* here */\n"))
    assert.same({ statements = 0, rows = 0 }, c:script(""))
  end)

  it("leaves the connection usable after a failure", function()
    fails("SELECT 1/0;")
    assert.equal("idle", c:status())
    assert.equal(1, c:query("SELECT 1 AS x")[1].x)
  end)
end)
