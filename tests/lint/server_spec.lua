-- Connected lint (#pg): the server's version, column types, validated checks, function
-- volatility and table sizes; severity rises with the table ("orders has 1.2M rows ...").
local H = require "helper"
local lint = require "migrun.lint"

local function ids(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.rule end
  table.sort(out)
  return table.concat(out, ",")
end

local function find(findings, rule)
  for _, f in ipairs(findings) do if f.rule == rule then return f end end
  return nil
end

describe("lint with a server #pg", function()
  local name, db

  setup(function()
    name = H.fresh_db("lint")
    db = H.connect(name)
    db:exec([[
      CREATE TABLE big (id bigint PRIMARY KEY, note text, email varchar(20), amount integer);
      INSERT INTO big SELECT g, 'n', 'e', g FROM generate_series(1, 1200000) g;
      ANALYZE big;
      CREATE TABLE small (id bigint PRIMARY KEY, note text, email varchar(20), amount integer);
      INSERT INTO small SELECT g, 'n', 'e', g FROM generate_series(1, 50) g;
      ANALYZE small;
      ALTER TABLE small ADD CONSTRAINT small_note_not_null CHECK (note IS NOT NULL);
      CREATE INDEX big_email_idx ON big (email);
      CREATE FUNCTION fixed_code() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;
      CREATE FUNCTION lucky() RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT 7 $$;
    ]])
  end)

  teardown(function()
    if db then db:close() end
    if name then H.drop_db(name) end
  end)

  local function run(sql, opts)
    opts = opts or {}
    opts.db, opts.file = db, "m.sql"
    return lint.sql(sql, opts)
  end

  it("raises the severity with the table's size and says how big it is", function()
    local f = run("CREATE INDEX big_note_idx ON big (note);")
    local hit = find(f, "require-concurrent-index")
    assert.equal("error", hit.severity)
    assert.matches("big has 1%.2M rows, %d+ MB: this build holds SHARE for", hit.message)
  end)

  it("lowers it for a small table, and says so", function()
    local hit = find(run("CREATE INDEX small_note_idx ON small (note);"), "require-concurrent-index")
    assert.equal("warning", hit.severity)
    assert.matches("small has 50 rows", hit.message)
    -- a warning-level rule on a big table becomes an error
    hit = find(run("UPDATE big SET note = 'x';"), "whole-table-dml")
    assert.equal("error", hit.severity)
    hit = find(run("UPDATE small SET note = 'x';"), "whole-table-dml")
    assert.equal("warning", hit.severity)
  end)

  it("reads the old column type from the server for a type change", function()
    assert.is_nil(find(run("ALTER TABLE big ALTER COLUMN email TYPE varchar(40);"), "changing-column-type"))
    assert.equal("", ids(run("ALTER TABLE big ALTER COLUMN email TYPE text;")))
    local hit = find(run("ALTER TABLE big ALTER COLUMN amount TYPE bigint;"), "changing-column-type")
    assert.equal("error", hit.severity)
    assert.matches("integer to bigint", hit.message)
    hit = find(run("ALTER TABLE big ALTER COLUMN email TYPE varchar(10);"), "changing-column-type")
    assert.matches("varchar%(20%) to varchar%(10%)", hit.message)
  end)

  it("knows a validated CHECK on the server makes SET NOT NULL scan-free", function()
    assert.equal("", ids(run("ALTER TABLE small ALTER COLUMN note SET NOT NULL;")))
    assert.equal("set-not-null", ids(run("ALTER TABLE big ALTER COLUMN note SET NOT NULL;")))
  end)

  it("asks the server how volatile a DEFAULT's function is", function()
    assert.equal("", ids(run("ALTER TABLE big ADD COLUMN code text DEFAULT fixed_code();")))
    local hit = find(run("ALTER TABLE big ADD COLUMN n int DEFAULT lucky();"), "adding-field-with-default")
    assert.matches("lucky%(%) is volatile", hit.message)
  end)

  it("finds the table of an index it is asked to drop", function()
    local hit = find(run("DROP INDEX big_email_idx;"), "require-concurrent-drop-index")
    assert.equal("big", hit.table)
    assert.matches("ACCESS EXCLUSIVE on big", hit.message)
  end)

  it("takes the PostgreSQL version from the server", function()
    local shared = {}
    lint.sql("SELECT 1", { db = db, findings = shared })
    local v = db:server_version()
    assert.is_true(v >= 120000)
    -- PostgreSQL 12+: the validated CHECK counts (it would not under --pg-version 11)
    assert.equal("set-not-null", ids(run("ALTER TABLE small ALTER COLUMN note SET NOT NULL;",
                                          { pg_version = 110000 })))
  end)
end)
