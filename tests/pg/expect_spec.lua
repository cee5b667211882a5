local H = require "helper"
local expect = require "migrun.expect"
local snapshot = require "migrun.snapshot"
local errors = require "migrun.errors"
local proc = require "migrun.proc"

local THIS_FILE = debug.getinfo(1, "S").source:sub(2)

-- run e:check(ctx) -> {ok, actual, expected}
local function check(e, ctx)
  local ok, actual, expected = e:check(ctx)
  return { ok = ok, actual = actual, expected = expected }
end

describe("expect (construction)", function()
  -- each case is written on one line so that the line of the call is the line of `at`
  local function line() return debug.getinfo(2, "l").currentline end

  local function fails(at, ok, err)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "playbook"), tostring(err))
    assert.equal(THIS_FILE, err.file)
    assert.equal(at, err.line)
  end

  it("records where in the playbook an expectation was written", function()
    local at, e = line(), expect.count("t", 1)
    assert.equal("count", e.kind)
    assert.equal(THIS_FILE, e.file)
    assert.equal(at, e.line)
    assert.is_true(expect.is(e))
    assert.is_false(expect.is({ kind = "count" }))
  end)

  it("rejects wrong argument types at the caller's line", function()
    local at, ok, err = line(), pcall(function() local e = expect.count("t", "many") return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.count("t", -1) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.count("a.b.c", 1) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.count(42, 1) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.delta("t", 1.5) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.count("t", math.huge) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.count("t", { min = 1, mx = 3 }) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.tables { schema = "public" } return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.tables { shema = "public", count = 1 } return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.columns("t", {}) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.columns("t", { 1 }) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.column_type("t", "c") return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.foreign_keys { count = "x" } return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.policies { cnt = 1 } return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.rls("t", "yes") return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.trigger("t") return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.schema(nil) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.that("x", "not a function") return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.exists({ "a", { "x", "y", "z" } }) return e end)
    fails(at, ok, err)
  end)

  it("rejects an orphan reference that does not parse", function()
    for _, spec in ipairs({ "tasks.workflow_id", "tasks -> workflows.id", "a.b -> ",
                            "tasks.workflow_id => workflows.id", "a.b.c.d -> e.f" }) do
      local at, ok, err = line(), pcall(function() local e = expect.no_orphans(spec) return e end)
      fails(at, ok, err)
    end
  end)

  it("rejects a query value of no accepted form", function()
    local at, ok, err = line(), pcall(function() local e = expect.query("SELECT 1", nil) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.query("SELECT 1", { foo = 1 }) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.query("SELECT 1", { min = "a" }) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.query("SELECT 1", { { {} } }) return e end)
    fails(at, ok, err)
    at, ok, err = line(), pcall(function() local e = expect.query(nil, 1) return e end)
    fails(at, ok, err)
  end)

  it("points a playbook file's error at the playbook's own line", function()
    local dir = H.tmpdir()
    local path = dir .. "/pb.lua"
    H.write(path, "local expect = ...\n" ..
                  "local verify = {\n" ..
                  "  expect.count('t', 1),\n" ..
                  "  expect.no_orphans 'tasks.workflow_id',\n" ..
                  "}\n" ..
                  "return verify\n")
    local chunk = assert(loadfile(path, "t"))
    local ok, err = pcall(chunk, expect)
    H.rmtree(dir)
    assert.is_false(ok)
    assert.equal("playbook", err.kind)
    assert.equal(path, err.file)
    assert.equal(4, err.line)
    assert.equal(2, errors.exit_code(err))
  end)

  it("points at the call of a helper that tail-calls a constructor", function()
    local function helper(n) return expect.count("t", n) end
    local at, e = line(), helper(3)
    assert.equal(at, e.line)
    assert.equal(THIS_FILE, e.file)
  end)
end)

describe("expect (against the database)", function()
  local dbname, db, ctx, dir

  setup(function()
    dbname = H.fresh_db("expect")
    db = H.connect(dbname)
    dir = H.tmpdir()
    db:exec([[
      CREATE SCHEMA "My.Schema";
      CREATE TABLE "My.Schema"."Order Items" (
        "Item Id" int PRIMARY KEY, "Order.Id" int, qty numeric(10, 2), "we""ird" text);
      CREATE TABLE "Users" (id int PRIMARY KEY, "Name" varchar(80), created timestamptz(3),
                            tags text[]);
      CREATE TABLE users (id int PRIMARY KEY);
      INSERT INTO "Users" SELECT g, 'u' || g FROM generate_series(1, 5) g;
      INSERT INTO users VALUES (1), (2);
      CREATE TABLE workflows (id int PRIMARY KEY, name text);
      CREATE TABLE tasks (id int PRIMARY KEY, workflow_id int, flag boolean, amount numeric);
      INSERT INTO workflows VALUES (1, 'w1'), (2, 'w2');
      INSERT INTO tasks VALUES (1, 1, true, 1.50), (2, 2, false, 2), (3, NULL, NULL, NULL);
      INSERT INTO "My.Schema"."Order Items" VALUES (1, 10, 1.5, 'x'), (2, 11, 2, NULL);
      CREATE TABLE "we""ird" (id int REFERENCES workflows (id));
      ALTER TABLE tasks ADD CONSTRAINT tasks_wf_fk FOREIGN KEY (workflow_id)
        REFERENCES workflows (id);
      ALTER TABLE "My.Schema"."Order Items" ADD CONSTRAINT oi_user_fk FOREIGN KEY ("Order.Id")
        REFERENCES "Users" (id) NOT VALID;
      CREATE INDEX tasks_wf_idx ON tasks (workflow_id, id);
      CREATE INDEX tasks_expr_idx ON tasks (lower(workflow_id::text));
      CREATE UNIQUE INDEX oi_idx ON "My.Schema"."Order Items" ("Order.Id", "we""ird");
      ALTER TABLE "Users" ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own ON "Users" USING (true);
      CREATE POLICY own2 ON "Users" FOR SELECT USING (id > 0);
      CREATE POLICY oi ON "My.Schema"."Order Items" USING (true);
      CREATE FUNCTION "My.Schema"."Touch Me"() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN RETURN NEW; END $$;
      CREATE FUNCTION public.add_one(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 1';
      CREATE TRIGGER "Touch Trigger" BEFORE UPDATE ON "My.Schema"."Order Items"
        FOR EACH ROW EXECUTE FUNCTION "My.Schema"."Touch Me"();
      CREATE VIEW v_tasks AS SELECT * FROM tasks;
      CREATE TABLE parted (id int, k int) PARTITION BY RANGE (k);
      CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
      CREATE SCHEMA migrun;
      CREATE TABLE migrun.runs (id int PRIMARY KEY);
      CREATE TABLE migrun.steps (run int REFERENCES migrun.runs (id));
    ]])
    ctx = { db = db, dir = dir, conninfo = H.conninfo(dbname), env = {} }
  end)

  teardown(function()
    db:close()
    H.drop_db(dbname)
    H.rmtree(dir)
  end)

  describe("query", function()
    it("compares the first column of the first row", function()
      local r = check(expect.query("SELECT count(*) FROM tasks WHERE workflow_id IS NULL", 1), ctx)
      assert.same({ ok = true, actual = 1, expected = 1 }, r)
      r = check(expect.query("SELECT count(*) FROM tasks", 2), ctx)
      assert.same({ ok = false, actual = 3, expected = 2 }, r)
    end)

    it("compares numeric, text, boolean and NULL values", function()
      assert.is_true(check(expect.query("SELECT amount FROM tasks WHERE id = 1", 1.5), ctx).ok)
      assert.is_true(check(expect.query("SELECT amount FROM tasks WHERE id = 1", "1.50"), ctx).ok)
      assert.is_true(check(expect.query("SELECT name FROM workflows WHERE id = 2", "w2"), ctx).ok)
      assert.is_true(check(expect.query("SELECT flag FROM tasks WHERE id = 2", false), ctx).ok)
      assert.is_true(check(expect.query("SELECT flag FROM tasks WHERE id = 3", expect.NULL),
                           ctx).ok)
      local r = check(expect.query("SELECT flag FROM tasks WHERE id = 3", true), ctx)
      assert.same({ ok = false, actual = "NULL", expected = true }, r)
      r = check(expect.query("SELECT flag FROM tasks WHERE id = 99", 0), ctx)
      assert.same({ ok = false, actual = "no rows", expected = 0 }, r)
    end)

    it("checks a range", function()
      assert.is_true(check(expect.query("SELECT count(*) FROM tasks", { min = 1, max = 3 }),
                           ctx).ok)
      local r = check(expect.query("SELECT count(*) FROM tasks", { max = 2 }), ctx)
      assert.is_false(r.ok)
      assert.equal(3, r.actual)
    end)

    it("asks a function", function()
      local e = expect.query("SELECT count(*) FROM tasks", function(n) return n % 2 == 1 end)
      assert.is_true(check(e, ctx).ok)
      e = expect.query("SELECT count(*) FROM tasks", function(n) return n > 10 end)
      local r = check(e, ctx)
      assert.is_false(r.ok)
      assert.equal(3, r.actual)
    end)

    it("compares a list of rows, all columns, in order", function()
      local sql = "SELECT id, workflow_id FROM tasks ORDER BY id"
      local r = check(expect.query(sql, { { 1, 1 }, { 2, 2 }, { 3, expect.NULL } }), ctx)
      assert.is_true(r.ok)
      r = check(expect.query(sql, { { 1, 1 }, { 2, 3 }, { 3, expect.NULL } }), ctx)
      assert.is_false(r.ok)
      assert.equal("[(1, 1), (2, 2), (3, NULL)]", r.actual)
      assert.equal("[(1, 1), (2, 3), (3, NULL)]", r.expected)
      assert.is_false(check(expect.query(sql, { { 1, 1 }, { 2, 2 } }), ctx).ok)
      assert.is_false(check(expect.query(sql, { { 1 }, { 2 }, { 3 } }), ctx).ok)
      assert.is_true(check(expect.query("SELECT name FROM workflows ORDER BY 1", { "w1", "w2" }),
                           ctx).ok)
      assert.is_true(check(expect.query("SELECT 1 WHERE false", {}), ctx).ok)
    end)

    it("raises an SQL error for a broken query", function()
      local ok, err = pcall(expect.query("SELECT * FROM nope", 0).check,
                            expect.query("SELECT * FROM nope", 0), ctx)
      assert.is_false(ok)
      assert.equal("42P01", err.sqlstate)
    end)

    it("describes itself", function()
      assert.equal("query(SELECT count(*) FROM tasks) = 0",
                   expect.query("SELECT count(*)\n  FROM tasks", 0):describe())
      assert.same({}, expect.query("SELECT 1", 1):tables())
    end)
  end)

  describe("count", function()
    it("counts rows of a literal, schema-qualified, quoted name", function()
      assert.same({ ok = true, actual = 5, expected = 5 }, check(expect.count("Users", 5), ctx))
      assert.same({ ok = true, actual = 2, expected = 2 }, check(expect.count("users", 2), ctx))
      assert.is_true(check(expect.count('"My.Schema"."Order Items"', 2), ctx).ok)
      assert.is_true(check(expect.count({ "My.Schema", "Order Items" }, 2), ctx).ok)
      assert.is_true(check(expect.count('"we""ird"', 0), ctx).ok)
      assert.same({ ok = false, actual = 5, expected = 4 }, check(expect.count("Users", 4), ctx))
    end)

    it("applies a WHERE condition", function()
      local e = expect.count("tasks", 2, "workflow_id IS NOT NULL -- trailing comment")
      assert.same({ ok = true, actual = 2, expected = 2 }, check(e, ctx))
      assert.equal("count(tasks WHERE workflow_id IS NOT NULL -- trailing comment) = 2",
                   e:describe())
    end)

    it("fails on a missing table, reporting it missing", function()
      assert.same({ ok = false, actual = "missing", expected = 1 },
                  check(expect.count("nope", 1), ctx))
      assert.same({ ok = false, actual = "missing", expected = 1 },
                  check(expect.count("nosuchschema.t", 1), ctx))
    end)

    it("accepts a range and names its tables", function()
      local e = expect.count("Users", { min = 1 })
      assert.is_true(check(e, ctx).ok)
      assert.same({ "Users" }, e:tables())
      assert.equal("count(Users) = 150", expect.count("Users", 150):describe())
      assert.same({ '"My.Schema"."Order Items"' },
                  expect.count({ "My.Schema", "Order Items" }, 1):tables())
    end)
  end)

  describe("delta and unchanged", function()
    it("fail clearly without a run-start snapshot", function()
      local r = check(expect.delta("tasks", 0), { db = db })
      assert.is_false(r.ok)
      assert.equal("no run-start snapshot", r.actual)
      r = check(expect.unchanged("tasks"), { db = db })
      assert.is_false(r.ok)
      assert.equal("no run-start snapshot", r.actual)
    end)

    it("measure the change since the run-start snapshot", function()
      local list = { expect.delta("workflows", 2), expect.delta("Users", -1),
                     expect.unchanged("tasks"), expect.unchanged('"My.Schema"."Order Items"'),
                     expect.delta("fresh", 3), expect.unchanged("workflows") }
      local tables, opts = expect.snapshot_plan(list)
      local tx <close> = db:begin()
      local before = snapshot.take(db, tables, opts)
      db:exec([[INSERT INTO workflows VALUES (3, 'w3'), (4, 'w4');
                DELETE FROM "Users" WHERE id = 5;
                UPDATE tasks SET amount = amount;
                UPDATE "My.Schema"."Order Items" SET qty = 3 WHERE "Item Id" = 1;
                CREATE TABLE fresh AS SELECT g FROM generate_series(1, 3) g]])
      local c = { db = db, before = before }
      assert.same({ ok = true, actual = 2, expected = 2 }, check(list[1], c))
      assert.same({ ok = true, actual = -1, expected = -1 }, check(list[2], c))
      assert.is_true(check(list[3], c).ok)
      local r = check(list[4], c)
      assert.is_false(r.ok)
      assert.matches("^2 rows", r.actual)
      assert.matches("^2 rows", r.expected)
      assert.are_not.equal(r.expected, r.actual)
      assert.same({ ok = true, actual = 3, expected = 3 }, check(list[5], c))
      r = check(list[6], c)
      assert.is_false(r.ok)
      assert.matches("^4 rows", r.actual)
      assert.same({ ok = false, actual = 2, expected = 5 }, check(expect.delta("workflows", 5), c))
      assert.equal("delta(workflows) = +2", list[1]:describe())
      db:exec("DROP TABLE fresh")
      assert.same({ ok = false, actual = "missing", expected = 3 }, check(list[5], c))
      assert.equal("not in the run-start snapshot", check(expect.delta("users", 0), c).actual)
      tx:rollback()
    end)
  end)

  describe("tables, exists, absent", function()
    it("counts the base tables of a schema, partitioned ones included", function()
      -- public: Users, users, workflows, tasks, we"ird, parted, parted_1 (not the view)
      assert.same({ ok = true, actual = 7, expected = 7 },
                  check(expect.tables { schema = "public", count = 7 }, ctx))
      assert.same({ ok = false, actual = 7, expected = 43 },
                  check(expect.tables { count = 43 }, ctx))
      assert.same({ ok = true, actual = 1, expected = 1 },
                  check(expect.tables { schema = "My.Schema", count = 1 }, ctx))
      assert.same({ ok = false, actual = 0, expected = 1 },
                  check(expect.tables { schema = "my.schema", count = 1 }, ctx))
    end)

    it("checks that relations exist", function()
      assert.same({ ok = true, actual = "present", expected = "present" },
                  check(expect.exists { "Users", '"My.Schema"."Order Items"', "v_tasks" }, ctx))
      assert.same({ ok = false, actual = "missing", expected = "present" },
                  check(expect.exists("quests"), ctx))
      local r = check(expect.exists { "Users", "quests", '"my.schema".x' }, ctx)
      assert.is_false(r.ok)
      assert.equal('missing: quests, "my.schema".x', r.actual)
    end)

    it("checks that relations are gone", function()
      assert.same({ ok = true, actual = "absent", expected = "absent" },
                  check(expect.absent { "quests", "quest_moves", "USERS" }, ctx))
      assert.same({ ok = false, actual = "present: Users", expected = "absent" },
                  check(expect.absent { "quests", "Users" }, ctx))
      assert.same({ "quests", "Users" }, expect.absent { "quests", "Users" }:tables())
    end)
  end)

  describe("columns and column_type", function()
    it("finds columns by their exact names", function()
      assert.is_true(check(expect.columns('"My.Schema"."Order Items"',
                                          { "Item Id", "Order.Id", 'we"ird' }), ctx).ok)
      assert.same({ ok = false, actual = "missing: name, x", expected = "present" },
                  check(expect.columns("Users", { "id", "name", "x" }), ctx))
      assert.same({ ok = false, actual = "missing", expected = "present" },
                  check(expect.columns("nope", { "id" }), ctx))
    end)

    it("compares types as the server names them", function()
      assert.is_true(check(expect.column_type("Users", "id", "int"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "id", "integer"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "Name", "varchar"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "Name", "varchar(80)"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "Name", "character varying(80)"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "created", "timestamptz(3)"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "created", "timestamptz"), ctx).ok)
      assert.is_true(check(expect.column_type("Users", "tags", "text[]"), ctx).ok)
      assert.is_true(check(expect.column_type('"My.Schema"."Order Items"', "qty",
                                              "numeric(10, 2)"), ctx).ok)
      assert.same({ ok = false, actual = "character varying(80)", expected = "character varying(50)" },
                  check(expect.column_type("Users", "Name", "varchar(50)"), ctx))
      assert.same({ ok = false, actual = "integer", expected = "bigint" },
                  check(expect.column_type("Users", "id", "int8"), ctx))
      assert.same({ ok = false, actual = "integer", expected = "nosuchtype" },
                  check(expect.column_type("Users", "id", "nosuchtype"), ctx))
      assert.same({ ok = false, actual = "no column ID", expected = "int" },
                  check(expect.column_type("Users", "ID", "int"), ctx))
      assert.same({ ok = false, actual = "missing", expected = "int" },
                  check(expect.column_type("nope", "id", "int"), ctx))
    end)
  end)

  describe("foreign keys and orphans", function()
    it("counts FK constraints outside the system schemas and migrun", function()
      assert.same({ ok = true, actual = 3, expected = 3 },
                  check(expect.foreign_keys { count = 3 }, ctx))
      assert.same({ ok = false, actual = 3, expected = 42 },
                  check(expect.foreign_keys { count = 42 }, ctx))
      assert.same({ ok = true, actual = 1, expected = 1 },
                  check(expect.foreign_keys { count = 1, table = '"My.Schema"."Order Items"' }, ctx))
      assert.same({ ok = true, actual = 0, expected = 0 },
                  check(expect.foreign_keys { count = 0, table = "Users" }, ctx))
      assert.same({ ok = false, actual = "missing", expected = 0 },
                  check(expect.foreign_keys { count = 0, table = "nope" }, ctx))
    end)

    it("finds no orphans where every reference resolves", function()
      local e = expect.no_orphans "tasks.workflow_id -> workflows.id"
      assert.same({ ok = true, actual = 0, expected = 0 }, check(e, ctx))
      assert.same({ "tasks", "workflows" }, e:tables())
      assert.equal("no_orphans(tasks.workflow_id -> workflows.id)", e:describe())
    end)

    it("counts orphans, with quoted and schema-qualified names", function()
      local e = expect.no_orphans '"My.Schema"."Order Items"."Order.Id" -> public.Users.id'
      assert.same({ ok = false, actual = 2, expected = 0 }, check(e, ctx))
      e = expect.no_orphans '"My.Schema"."Order Items"."Item Id" -> "Users".id'
      assert.same({ ok = true, actual = 0, expected = 0 }, check(e, ctx))
    end)

    it("fails on a missing table", function()
      local r = check(expect.no_orphans "tasks.workflow_id -> flows.id", ctx)
      assert.same({ ok = false, actual = "missing: flows", expected = 0 }, r)
    end)
  end)

  describe("rls and policies", function()
    it("checks row-level security", function()
      assert.same({ ok = true, actual = "enabled", expected = "enabled" },
                  check(expect.rls("Users"), ctx))
      assert.same({ ok = false, actual = "disabled", expected = "enabled" },
                  check(expect.rls("users"), ctx))
      assert.is_true(check(expect.rls("users", false), ctx).ok)
      assert.same({ ok = false, actual = "missing", expected = "enabled" },
                  check(expect.rls("nope"), ctx))
    end)

    it("counts policies", function()
      assert.same({ ok = true, actual = 3, expected = 3 }, check(expect.policies { count = 3 }, ctx))
      assert.same({ ok = false, actual = 3, expected = 18 },
                  check(expect.policies { count = 18 }, ctx))
      assert.same({ ok = true, actual = 2, expected = 2 },
                  check(expect.policies { count = 2, table = "Users" }, ctx))
      assert.same({ ok = false, actual = 0, expected = 1 },
                  check(expect.policies { count = 1, table = "users" }, ctx))
    end)
  end)

  describe("index, function_exists, trigger", function()
    it("finds an index by its exact key columns in order", function()
      assert.is_true(check(expect.index("tasks", { "workflow_id", "id" }), ctx).ok)
      assert.is_true(check(expect.index("tasks", { "id" }), ctx).ok)             -- the pkey
      assert.is_true(check(expect.index('"My.Schema"."Order Items"', { "Order.Id", 'we"ird' }),
                           ctx).ok)
      local r = check(expect.index("tasks", { "id", "workflow_id" }), ctx)
      assert.is_false(r.ok)
      assert.equal("(id, workflow_id)", r.expected)
      assert.matches("tasks_wf_idx(workflow_id, id)", r.actual, 1, true)
      assert.is_false(check(expect.index("tasks", { "workflow_id" }), ctx).ok)
      assert.same({ ok = false, actual = "no indexes", expected = "(id)" },
                  check(expect.index("parted_1", { "id" }), ctx))
      assert.same({ ok = false, actual = "missing", expected = "(id)" },
                  check(expect.index("nope", { "id" }), ctx))
    end)

    it("finds functions by name or schema.name", function()
      assert.same({ ok = true, actual = "present", expected = "present" },
                  check(expect.function_exists("add_one"), ctx))
      assert.is_true(check(expect.function_exists("public.add_one"), ctx).ok)
      assert.is_true(check(expect.function_exists('"My.Schema"."Touch Me"'), ctx).ok)
      assert.same({ ok = false, actual = "missing", expected = "present" },
                  check(expect.function_exists("Touch Me"), ctx))         -- not on search_path
      assert.is_false(check(expect.function_exists("Add_One"), ctx).ok)
      assert.is_false(check(expect.function_exists("nosuchschema.add_one"), ctx).ok)
    end)

    it("finds a trigger on a table", function()
      assert.same({ ok = true, actual = "present", expected = "present" },
                  check(expect.trigger('"My.Schema"."Order Items"', "Touch Trigger"), ctx))
      assert.same({ ok = false, actual = "not found", expected = "present" },
                  check(expect.trigger('"My.Schema"."Order Items"', "touch trigger"), ctx))
      assert.same({ ok = false, actual = "missing", expected = "present" },
                  check(expect.trigger("nope", "x"), ctx))
    end)
  end)

  describe("schema", function()
    local function dump_to(path)
      local r = proc.run({ "pg_dump", "--schema-only", "--dbname=" .. H.conninfo(dbname) },
                         { stdout = { file = path }, stderr = "capture" })
      assert.is_true(r.ok, r.stderr)
    end

    it("passes when the live schema equals the file, migrun's schema left out", function()
      dump_to(dir .. "/schema.sql")
      -- the reference may carry comments, SET lines and psql meta-commands of its own
      local f = assert(io.open(dir .. "/schema.sql", "a"))
      f:write("\n-- a note\n\\unrestrict abc\nSET lock_timeout = 0;\n\n")
      f:close()
      local r = check(expect.schema("schema.sql"), ctx)
      assert.same({ ok = true, actual = "same", expected = "same as schema.sql" }, r)
    end)

    it("fails with a diff when the live schema differs", function()
      dump_to(dir .. "/schema.sql")
      db:exec("ALTER TABLE workflows ADD COLUMN extra integer")
      local r = check(expect.schema(dir .. "/schema.sql"), ctx)
      db:exec("ALTER TABLE workflows DROP COLUMN extra")
      assert.is_false(r.ok)
      assert.matches("\n%+    extra integer\n", r.actual)
      assert.matches("^%-%-%- ", r.actual)
    end)

    it("refuses, without waiting on locks, a transaction that changed something", function()
      dump_to(dir .. "/schema.sql")
      local tx <close> = db:begin()
      assert.is_true(check(expect.schema("schema.sql"), ctx).ok)    -- nothing changed yet
      db:exec("ALTER TABLE workflows ADD COLUMN extra2 integer")
      local r = check(expect.schema("schema.sql"), ctx)
      assert.equal(expect.NOT_CHECKED, r.ok)
      assert.matches("open transaction", r.actual)
      local res = expect.check_all(ctx, { expect.schema("schema.sql") })
      assert.is_false(res[1].ok)
      assert.matches("^not checked", res[1].actual)
      tx:rollback()
    end)

    it("runs inside check_all's read-only transaction and reports pg_dump failures", function()
      dump_to(dir .. "/schema.sql")
      local tx <close> = db:begin()
      db:exec("SET TRANSACTION READ ONLY")
      local res = expect.check_all(ctx, { expect.schema("schema.sql") })
      tx:rollback()
      assert.is_true(res[1].ok, res[1].actual)
      local bad = { db = db, dir = dir, conninfo = H.conninfo(dbname .. "_nope"), env = {} }
      local r = check(expect.schema("schema.sql"), bad)
      assert.is_false(r.ok)
      assert.matches("^pg_dump failed", r.actual)
    end)

    it("fails on a missing file", function()
      local r = check(expect.schema("nope.sql"), ctx)
      assert.is_false(r.ok)
      assert.matches("^cannot read", r.actual)
    end)

    it("normalises pg_dump output", function()
      local lines = expect.normalise_schema(table.concat({
        "--", "-- PostgreSQL database dump", "--", "\\restrict XyZ",
        "SET statement_timeout = 0;",
        "SELECT pg_catalog.set_config('search_path', '', false);",
        "CREATE SCHEMA migrun;", "ALTER SCHEMA migrun OWNER TO bob;",
        "CREATE TABLE migrun.runs (", "    id integer", ");",
        "CREATE TABLE public.t (", "    id integer   ", ");", "",
        "ALTER TABLE public.t OWNER TO alice;",
        "CREATE FUNCTION public.f() RETURNS int", "    LANGUAGE sql",
        "    AS $$ SELECT 1; $$;",
        "GRANT SELECT ON TABLE public.t TO bob;", "\\unrestrict XyZ" }, "\n"))
      assert.same({ "CREATE TABLE public.t (", "    id integer", ");",
                    "CREATE FUNCTION public.f() RETURNS int", "    LANGUAGE sql",
                    "    AS $$ SELECT 1; $$;", "GRANT SELECT ON TABLE public.t TO bob;" }, lines)
    end)

    it("diffs line lists in unified style", function()
      assert.is_nil(expect.diff({ "a", "b" }, { "a", "b" }))
      local d = expect.diff({ "a", "b", "c", "d" }, { "a", "x", "c", "d" }, { from = "f", to = "g" })
      assert.equal("--- f\n+++ g\n@@ -1 +1 @@\n a\n-b\n+x\n c\n d", d)
      local a, b = {}, {}
      for i = 1, 200 do a[i] = "line " .. i; b[i] = "line " .. i end
      b[10] = "changed"
      table.insert(b, 150, "added")
      table.remove(b, 190)                               -- "line 189"
      d = expect.diff(a, b, { context = 1 })
      assert.equal(table.concat({ "--- expected", "+++ actual",
        "@@ -9 +9 @@", " line 9", "-line 10", "+changed", " line 11",
        "@@ -149 +149 @@", " line 149", "+added", " line 150",
        "@@ -188 +189 @@", " line 188", "-line 189", " line 190" }, "\n"), d)
      d = expect.diff(a, b, { context = 1, max = 5 })
      assert.matches("%.%.%. %(2 more lines differ%)$", d)
    end)

    it("finds a diff that turns one list into the other", function()
      math.randomseed(7)
      for _ = 1, 200 do
        local a, b = {}, {}
        for i = 1, math.random(0, 12) do a[i] = tostring(math.random(1, 4)) end
        for i = 1, math.random(0, 12) do b[i] = tostring(math.random(1, 4)) end
        local ops = expect._diff_ops(a, b, 100)
        local ra, rb = {}, {}
        for _, op in ipairs(ops) do
          if op[1] ~= "+" then ra[#ra + 1] = op[2] end
          if op[1] ~= "-" then rb[#rb + 1] = op[2] end
        end
        assert.same(a, ra)
        assert.same(b, rb)
      end
    end)

    it("keeps the password out of pg_dump's argv", function()
      local split = function(s)
        local conninfo, env = require("migrun.pg").split_password(s)
        return conninfo, env.PGPASSWORD
      end
      assert.same({ "dbname='my db' host='h' port='5'", "s3 cret" },
                  { split("host=h password='s3 cret' port=5 dbname='my db'") })
      assert.same({ "dbname='db' host='h' port='5' sslmode='require' user='alice'", "p@ss:w" },
                  { split("postgresql://alice:p%40ss%3Aw@h:5/db?password=p%40ss%3Aw&sslmode=require") })
      assert.same({ "dbname='x' host='h'" }, { split("host=h dbname=x") })
    end)
  end)

  describe("that", function()
    it("asks the given function", function()
      local e = expect.that("two workflows", function(d)
        local n = d:query("SELECT count(*) AS n FROM workflows")[1].n
        return n == 2, n, 2
      end)
      assert.same({ ok = true, actual = 2, expected = 2 }, check(e, ctx))
      assert.equal("two workflows", e:describe())
      e = expect.that("never", function() return false, "x", "y" end, { tables = { "tasks" } })
      assert.same({ ok = false, actual = "x", expected = "y" }, check(e, ctx))
      assert.same({ "tasks" }, e:tables())
    end)
  end)

  describe("check_all", function()
    local function list()
      return {
        expect.count("workflows", 2),
        expect.query("SELECT count(*) FROM nope", 0),
        expect.count("workflows", 3),
        expect.that("boom", function() error("lua boom") end),
        expect.exists("tasks"),
      }
    end

    it("runs every check and records one that raises as failed", function()
      local results = expect.check_all(ctx, list())
      assert.equal(5, #results)
      local oks = {}
      for i, r in ipairs(results) do oks[i] = r.ok end
      assert.same({ true, false, false, false, true }, oks)
      assert.equal("count(workflows) = 2", results[1].description)
      assert.equal(2, results[1].actual)
      assert.equal(3, results[3].expected)
      assert.equal("42P01", results[2].error.sqlstate)
      assert.is_string(results[2].actual)
      assert.is_nil(results[2].actual:find("\n"))
      assert.equal("count", results[1].kind)
      assert.is_number(results[1].line)
      assert.is_true(expect.is(results[1].expectation))
    end)

    it("keeps an open transaction usable when a check's query fails", function()
      local tx <close> = db:begin()
      db:exec("INSERT INTO workflows VALUES (7, 'w7')")
      local results = expect.check_all(ctx, list())
      assert.equal(5, #results)
      assert.is_true(results[5].ok)
      assert.equal(3, results[1].actual)                 -- sees the open transaction's row
      assert.equal("intrans", db:status())
      assert.equal(3, db:query("SELECT count(*) AS n FROM workflows")[1].n)
      tx:rollback()
    end)

    it("raises again, with the results so far, when the transaction is aborted", function()
      local tx <close> = db:begin()
      pcall(db.exec, db, "SELECT * FROM nope")
      assert.equal("inerror", db:status())
      local ok, err = pcall(expect.check_all, ctx, list())
      tx:rollback()
      assert.is_false(ok)
      assert.equal("sql", err.kind)
      assert.equal("25P02", err.sqlstate)
      assert.equal(1, #err.results)
      assert.is_false(err.results[1].ok)
    end)

    it("builds the snapshot plan of a list", function()
      local tables, opts = expect.snapshot_plan({ expect.count("a", 1), expect.unchanged("b"),
                                                  expect.delta("a", 1), expect.query("x", 1) })
      assert.same({ "a", "b" }, tables)
      assert.same({ fingerprint = { b = true } }, opts)
    end)
  end)

  describe("check_all in one pipeline", function()
    -- ctx.db behind a proxy that counts the round trips (query, exec, batch); Lua methods
    -- (begin) get the proxy as self, so their own statements are counted too
    local function counting(c)
      local calls = { query = 0, exec = 0, batch = 0 }
      local proxy = {}
      setmetatable(proxy, { __index = function(_, k)
        local v = c[k]
        if type(v) ~= "function" then return v end
        local native = debug.getinfo(v, "S").what == "C"
        return function(_, ...)
          if calls[k] then calls[k] = calls[k] + 1 end
          return v(native and c or proxy, ...)
        end
      end })
      return proxy, calls
    end

    local function with(fields)
      local c = { db = db, dir = dir, conninfo = ctx.conninfo, env = {} }
      for k, v in pairs(fields or {}) do c[k] = v end
      return c
    end

    local function first_line(err)
      return (tostring(errors.wrap(err)):match("[^\n]*"))
    end

    -- what check_all did before batches: each e:check alone, under a savepoint rolled back
    -- inside a transaction; an error is a failed result with its first line
    local function one_by_one(c, list)
      local out = {}
      for i, e in ipairs(list) do
        local tx = c.db:status() == "intrans" and c.db:begin() or nil
        local ok, got, actual, expected = pcall(e.check, e, c)
        if tx then tx:rollback() end
        if ok then
          out[i] = { ok = got and true or false, actual = actual, expected = expected,
                     description = e:describe() }
        else
          out[i] = { ok = false, actual = first_line(got), expected = e:expected(),
                     description = e:describe(), sqlstate = got.sqlstate }
        end
      end
      return out
    end

    local function shape(results)
      local out = {}
      for i, r in ipairs(results) do
        out[i] = { ok = r.ok, actual = r.actual, expected = r.expected,
                   description = r.description, sqlstate = r.error and r.error.sqlstate }
      end
      return out
    end

    -- every kind, on present and missing tables, columns and types, with checks that raise
    local function mixed()
      return {
        expect.tables { schema = "public", count = 7 },
        expect.count("workflows", 2),
        expect.count("nope", 1),
        expect.count("nosuchschema.t", 1),
        expect.count("tasks", 1, "1 / 0 = 1"),                       -- raises 22012
        expect.count("tasks", 1, "id IN (SELECT id FROM nope)"),     -- 42P01, not the table's
        expect.exists { "Users", "quests", '"my.schema".x' },
        expect.absent { "quests", "Users" },
        expect.columns('"My.Schema"."Order Items"', { "Item Id", "Order.Id", 'we"ird' }),
        expect.columns("Users", { "id", "name", "x" }),
        expect.columns("nope", { "id" }),
        expect.column_type("Users", "Name", "varchar(50)"),
        expect.column_type("Users", "created", "timestamptz(3)"),
        expect.column_type("Users", "tags", "text[]"),
        expect.column_type("Users", "ID", "int"),
        expect.column_type("nope", "id", "int"),
        expect.column_type("Users", "id", "int("),                   -- raises 42601
        expect.foreign_keys { count = 3 },
        expect.foreign_keys { count = 0, table = "nope" },
        expect.no_orphans "tasks.workflow_id -> flows.id",
        expect.no_orphans '"My.Schema"."Order Items"."Order.Id" -> public.Users.id',
        expect.no_orphans "tasks.nocolumn -> workflows.id",          -- raises 42703
        expect.rls("Users"),
        expect.rls("nope"),
        expect.policies { count = 2, table = "Users" },
        expect.policies { count = 1, table = "nope" },
        expect.index("tasks", { "workflow_id", "id" }),
        expect.index("tasks", { "id", "workflow_id" }),
        expect.index("parted_1", { "id" }),
        expect.index("nope", { "id" }),
        expect.function_exists("Touch Me"),
        expect.function_exists('"My.Schema"."Touch Me"'),
        expect.trigger('"My.Schema"."Order Items"', "Touch Trigger"),
        expect.trigger("nope", "x"),
        expect.query("SELECT * FROM nope", 0),                      -- raises 42P01
        expect.query("SELECT count(*) FROM tasks", 3),
        expect.query("SELECT id, workflow_id FROM tasks ORDER BY id", { { 1, 1 }, { 2, 2 } }),
        expect.query("SELECT 1; SELECT 2", 2),                      -- two statements: alone
        expect.that("lua", function() return true, 1, 1 end),
        expect.count("users", 2),
      }
    end

    it("gives what checks one by one give: missing tables and columns, failing checks", function()
      local outside = with()
      assert.same(one_by_one(outside, mixed()), shape(expect.check_all(outside, mixed())))
      assert.equal("idle", db:status())
      do
        local tx <close> = db:begin()
        db:exec("INSERT INTO workflows VALUES (7, 'w7')")
        local inside = with()
        assert.same(one_by_one(inside, mixed()), shape(expect.check_all(inside, mixed())))
        assert.equal("intrans", db:status())
        assert.equal(3, db:query("SELECT count(*) AS n FROM workflows")[1].n)
        tx:rollback()
      end
      do
        local tx <close> = db:begin()
        db:exec("SET TRANSACTION READ ONLY")
        local ro = with { read_only = true }
        local want = one_by_one(ro, mixed())
        assert.same(want, shape(expect.check_all(ro, mixed())))
        assert.equal("intrans", db:status())
        tx:rollback()
      end
    end)

    it("sends 50 declarative checks in one batch, user queries too in a read-only transaction",
       function()
      local proxy, calls = counting(db)
      local list = {}
      for i = 1, 10 do
        list[#list + 1] = expect.count("workflows", 2)
        list[#list + 1] = expect.columns("Users", { "id", "Name" })
        list[#list + 1] = expect.index("tasks", { "workflow_id", "id" })
        list[#list + 1] = expect.no_orphans "tasks.workflow_id -> workflows.id"
        list[#list + 1] = i % 2 == 0 and expect.query("SELECT count(*) FROM tasks", 3) or
                          expect.trigger('"My.Schema"."Order Items"', "Touch Trigger")
      end
      assert.equal(50, #list)
      local tx <close> = db:begin()
      db:exec("SET TRANSACTION READ ONLY")
      local results = expect.check_all(with { db = proxy, read_only = true }, list)
      tx:rollback()
      for _, r in ipairs(results) do assert.is_true(r.ok, r.description) end
      assert.same({ query = 0, exec = 0, batch = 1 }, calls)
    end)

    it("sends them in one batch outside a transaction too; user queries run alone", function()
      local proxy, calls = counting(db)
      local list = {}
      for i = 1, 50 do list[i] = expect.rls(i % 2 == 0 and "Users" or "users", i % 2 == 0) end
      local results = expect.check_all(with { db = proxy }, list)
      for _, r in ipairs(results) do assert.is_true(r.ok, r.description) end
      assert.same({ query = 0, exec = 0, batch = 1 }, calls)
      -- a read-write transaction: the user's SQL keeps its savepoint, outside the batch
      calls.batch = 0
      local tx <close> = db:begin()
      results = expect.check_all(with { db = proxy }, {
        expect.count("workflows", 2), expect.query("SELECT count(*) FROM tasks", 3),
        expect.count("users", 2) })
      tx:rollback()
      for _, r in ipairs(results) do assert.is_true(r.ok, r.description) end
      assert.same({ query = 1, exec = 2, batch = 1 }, calls)
    end)

    it("does not let a failing check hide the ones after it, inside a transaction", function()
      local proxy, calls = counting(db)
      local tx <close> = db:begin()
      db:exec("INSERT INTO workflows VALUES (8, 'w8')")
      local results = expect.check_all(with { db = proxy }, {
        expect.count("workflows", 3),
        expect.count("tasks", 1, "1 / 0 = 1"),
        expect.count("workflows", 3),
        expect.count("tasks", 0, "amount / 0 > 1"),
        expect.exists "tasks",
      })
      -- the transaction goes on, with its own row: rolled back to the batch's savepoint only
      assert.equal("intrans", db:status())
      assert.equal(3, db:query("SELECT count(*) AS n FROM workflows")[1].n)
      tx:rollback()
      local oks = {}
      for i, r in ipairs(results) do oks[i] = r.ok end
      assert.same({ true, false, true, false, true }, oks)
      assert.equal(3, results[1].actual)
      assert.equal(3, results[3].actual)
      assert.equal("22012", results[2].error.sqlstate)
      assert.equal("22012", results[4].error.sqlstate)
      assert.is_nil(results[2].actual:find("\n"))
      assert.same({ query = 0, exec = 0, batch = 3 }, calls)   -- one more flight per failure
    end)

    it("does not let a failing check hide the ones after it, outside a transaction", function()
      local proxy, calls = counting(db)
      local results = expect.check_all(with { db = proxy }, {
        expect.count("tasks", 1, "1 / 0 = 1"),
        expect.count("workflows", 2),
        expect.count("nope", 1),
        expect.exists "tasks",
        expect.count("tasks", 1, "1 / 0 = 1"),
      })
      assert.equal("idle", db:status())
      local got = {}
      for i, r in ipairs(results) do got[i] = { r.ok, r.error and r.error.sqlstate or r.actual } end
      assert.same({ { false, "22012" }, { true, 2 }, { false, "missing" }, { true, "present" },
                    { false, "22012" } }, got)
      -- three failing batches, one more that succeeds; "missing" asked the catalog once
      assert.same({ query = 1, exec = 0, batch = 4 }, calls)
    end)

    it("judges checks prefetched behind a statement (one flight) as it judges them itself", function()
      -- ctx.savepoints = false, as in a phase: a check that raises fails the list, so the list
      -- stops where it raises; without one it runs whole
      local function lists()
        return {
          { expect.count("workflows", 2), expect.exists { "Users", "quests" }, expect.count("nope", 1),
            expect.columns("Users", { "id", "name", "x" }), expect.index("tasks", { "workflow_id", "id" }),
            expect.no_orphans "tasks.workflow_id -> workflows.id",
            expect.count("tasks", 3, "id > 0 AND $$a;b'$$ <> ''"), expect.query("SELECT count(*) FROM tasks", 3) },
          { expect.exists "tasks", expect.count("tasks", 1, "1 / 0 = 1"), expect.exists "workflows" },
        }
      end
      for n, list in ipairs(lists()) do
        local c = with { savepoints = false }
        local tx <close> = db:begin()
        db:exec("INSERT INTO workflows VALUES (9, 'w9')")        -- seen by the checks: same transaction
        local pok, want = pcall(expect.check_all, c, list)
        if not pok then want = want.results end
        tx:rollback()
        local tx2 <close> = db:begin()
        db:exec("INSERT INTO workflows VALUES (9, 'w9')")
        local sql, count, take = expect.prefetch(c, lists()[n])
        db:send_all("SELECT 41 + 1 AS x;\n" .. sql)
        local res = H.eventually(function() return db:wait(50) end)
        assert.equal(42, res[1][1].x)
        if not res.failed then assert.equal(1 + count, #res) end
        local answers = take(res, 2)
        assert.equal("intrans", db:status())                   -- rolled back to its savepoint
        local gok, got = pcall(expect.check_all, c, lists()[n], answers)
        if not gok then got = got.results end
        assert.equal(pok, gok)
        assert.same(shape(want), shape(got))
        assert.equal(3, db:query("SELECT count(*) AS n FROM workflows")[1].n)
        tx2:rollback()
      end
    end)

    it("rolls back to its savepoint when the last check left to send fails", function()
      local proxy, calls = counting(db)
      local tx <close> = db:begin()
      db:exec("INSERT INTO workflows VALUES (9, 'w9')")
      local results = expect.check_all(with { db = proxy }, {
        expect.count("tasks", 1, "1 / 0 = 1"), expect.count("workflows", 1, "1 / 0 = 1") })
      assert.equal("intrans", db:status())
      assert.equal(3, db:query("SELECT count(*) AS n FROM workflows")[1].n)
      tx:rollback()
      assert.equal("22012", results[1].error.sqlstate)
      assert.equal("22012", results[2].error.sqlstate)
      assert.same({ query = 0, exec = 1, batch = 2 }, calls)
    end)

    it("keeps a batched user query's settings to itself", function()
      local tx <close> = db:begin()
      db:exec("SET TRANSACTION READ ONLY")
      local results = expect.check_all(with { read_only = true }, {
        expect.query("SELECT set_config('search_path', 'nowhere', true)", "nowhere"),
        expect.count("users", 2),
        expect.query("UPDATE users SET id = id RETURNING id", 1),     -- 25006: read only
        expect.count("users", 2),
      })
      assert.equal("intrans", db:status())
      tx:rollback()
      assert.is_true(results[1].ok)
      assert.same({ true, 2 }, { results[2].ok, results[2].actual })
      assert.equal("25006", results[3].error.sqlstate)
      assert.same({ true, 2 }, { results[4].ok, results[4].actual })
    end)

    it("raises a built-in check's error as before under savepoints = false", function()
      local tx <close> = db:begin()
      local strict = with { savepoints = false }
      local results = expect.check_all(strict, { expect.count("nope", 1),
                                                 expect.count("users", 2) })
      assert.same({ "missing", 2 }, { results[1].actual, results[2].actual })
      local ok, err = pcall(expect.check_all, strict, {
        expect.count("users", 2), expect.count("tasks", 1, "1 / 0 = 1"), expect.count("users", 2) })
      tx:rollback()
      assert.is_false(ok)
      assert.equal("22012", err.sqlstate)
      assert.equal(2, #err.results)
      assert.same({ true, 2 }, { err.results[1].ok, err.results[1].actual })
      assert.is_false(err.results[2].ok)
    end)
  end)
end)
