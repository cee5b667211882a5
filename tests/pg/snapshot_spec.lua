local H = require "helper"
local snapshot = require "migrun.snapshot"

describe("snapshot", function()
  local dbname, db

  setup(function()
    dbname = H.fresh_db("snapshot")
    db = H.connect(dbname)
    db:exec([[
      CREATE SCHEMA "My.Schema";
      CREATE TABLE "My.Schema"."Order Items" (id int, note text);
      INSERT INTO "My.Schema"."Order Items" SELECT g, 'n' || g FROM generate_series(1, 7) g;
      CREATE TABLE "Users" (id int PRIMARY KEY, name text);
      CREATE TABLE users (id int PRIMARY KEY, name text);
      INSERT INTO "Users" VALUES (1, 'a'), (2, 'b'), (3, 'c');
      INSERT INTO users VALUES (1, 'a');
      CREATE TABLE a (id int, v text);
      CREATE TABLE b (id int, v text);
      INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, NULL), (3, NULL);
      INSERT INTO b VALUES (3, NULL), (2, 'y'), (3, NULL), (1, 'x');
      CREATE TABLE "we""ird" (id int);
      INSERT INTO "we""ird" VALUES (1), (2);
      CREATE TABLE empty (id int);
    ]])
  end)

  teardown(function()
    db:close()
    H.drop_db(dbname)
  end)

  it("counts the rows of each table, exactly and by its literal name", function()
    local s = snapshot.take(db, { "Users", "users", "public.Users", '"My.Schema"."Order Items"',
                                  { "public", 'we"ird' }, "empty" })
    assert.equal(3, s:count("Users"))
    assert.equal(1, s:count("users"))
    assert.equal(3, s:count("public.Users"))
    assert.equal(7, s:count('"My.Schema"."Order Items"'))
    assert.equal(7, s:count({ "My.Schema", "Order Items" }))
    assert.equal(2, s:count('public."we""ird"'))
    assert.equal(0, s:count("empty"))
  end)

  it("leaves a missing table out of the counts, but remembers it was asked for", function()
    local s = snapshot.take(db, { "nope", "nosuchschema.t", "a" })
    assert.is_nil(s:count("nope"))
    assert.is_nil(s:count("nosuchschema.t"))
    assert.is_true(s:taken("nope"))
    assert.is_false(s:exists("nope"))
    assert.is_false(s:taken("b"))
    assert.same({ "a", "nope", "nosuchschema.t" }, s:tables())
  end)

  it("answers dot calls too, as run.before.count(name)", function()
    local s = snapshot.take(db, { "a" })
    assert.equal(4, s.count("a"))
    assert.equal(4, s:count("a"))
  end)

  it("fingerprints content regardless of row order and physical layout", function()
    local s = snapshot.take(db, { "a", "b" }, { fingerprint = { a = true, b = true } })
    assert.is_string(s:fingerprint("a"))
    assert.equal(s:fingerprint("a"), s:fingerprint("b"))
    db:exec("UPDATE b SET v = v")                    -- new row versions, same content
    db:exec("VACUUM FULL b")
    local s2 = snapshot.take(db, { "b" }, { fingerprint = { "b" } })
    assert.equal(s:fingerprint("a"), s2:fingerprint("b"))
  end)

  it("sees a changed value, a removed duplicate and an added row in the fingerprint", function()
    local fp = function() return snapshot.take(db, {}, { fingerprint = { "b" } }):fingerprint("b") end
    local base = fp()
    db:exec("UPDATE b SET v = 'z' WHERE id = 1")
    assert.are_not.equal(base, fp())
    db:exec("UPDATE b SET v = 'x' WHERE id = 1")
    assert.equal(base, fp())
    db:exec("DELETE FROM b WHERE ctid = (SELECT min(ctid) FROM b WHERE id = 3)")
    assert.are_not.equal(base, fp())
    db:exec("INSERT INTO b VALUES (3, NULL)")
    assert.equal(base, fp())
  end)

  it("has no fingerprint for a table it only counted", function()
    local s = snapshot.take(db, { "a" })
    assert.equal(4, s:count("a"))
    assert.is_nil(s:fingerprint("a"))
  end)

  it("works inside an open transaction and leaves it open", function()
    local tx <close> = db:begin()
    db:exec("INSERT INTO a VALUES (9, 'tx')")
    local s = snapshot.take(db, { "a" }, { fingerprint = true })
    assert.equal(5, s:count("a"))
    assert.is_string(s:fingerprint("a"))
    assert.equal("intrans", db:status())
    tx:rollback()
    assert.equal(4, snapshot.take(db, { "a" }):count("a"))
  end)

  it("diffs two snapshots into before/after/change rows", function()
    db:exec("CREATE TABLE grow (id int); INSERT INTO grow VALUES (1)")
    local names = { "grow", "doomed", "born", "a" }
    db:exec("CREATE TABLE doomed (id int); INSERT INTO doomed VALUES (1), (2)")
    local before = snapshot.take(db, names, { fingerprint = { "a" } })
    db:exec([[INSERT INTO grow VALUES (2), (3); DROP TABLE doomed;
              CREATE TABLE born (id int); INSERT INTO born VALUES (1)]])
    local after = snapshot.take(db, names, { fingerprint = { "a" } })
    local rows = snapshot.diff(before, after)
    assert.same({
      { table = "a", before = 4, after = 4, change = 0, content = "same" },
      { table = "born", after = 1 },
      { table = "doomed", before = 2 },
      { table = "grow", before = 1, after = 3, change = 2 },
    }, rows)
  end)
end)
