-- expect.pgtap with the real pgTAP extension (Debian postgresql-15-pgtap): test files a team
-- already has run inside the phase's transaction, every assertion reported, a failing test
-- rolls the phase back, and nothing of the tests (nor pgtap itself) is left behind.
local H = require "helper"
local expect = require "migrun.expect"
local cjson = require "cjson"

local function has_pgtap(c)
  return c:query("SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'pgtap'")[1].n > 0
end

local USERS_TEST = [[
\set ECHO none
\set QUIET 1
-- the team's test, as pg_prove runs it
BEGIN;
SELECT plan(3);
SELECT has_table('users');
SELECT has_column('users', 'email', 'users have an email');
SELECT col_not_null('users', 'nickname', 'nickname is required');
SELECT * FROM finish();
ROLLBACK;
]]

describe("expect.pgtap", function()
  local name, dir, c
  setup(function()
    name = H.fresh_db("pgtap")
    c = H.connect(name)
    c:exec("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)")
    dir = H.tmpdir()
    os.execute("mkdir -p " .. dir .. "/tests/db")
    H.write(dir .. "/tests/db/01_users.sql", USERS_TEST)
  end)
  teardown(function()
    c:close()
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("reports every assertion with its description, and leaves nothing behind", function()
    if not has_pgtap(c) then pending("pgTAP is not installed (postgresql-15-pgtap)") return end
    local e = expect.pgtap "tests/db/*.sql"
    local tx = c:begin()
    c:exec("ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT ''")
    local res = expect.check_all({ db = c, dir = dir }, { e })
    assert.is_true(res[1].ok, res[1].actual)
    assert.equal("3 of 3 passed in 1 file(s)", res[1].actual)
    local d = res[1].details
    assert.equal(3, #d)
    assert.same({ n = 2, ok = true, description = "users have an email", file = "tests/db/01_users.sql" }, d[2])
    -- still in the caller's transaction, which the file's BEGIN/ROLLBACK did not end
    assert.equal("intrans", c:status())
    tx:rollback()
    assert.equal(0, c:query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'pgtap'")[1].n)
    local failed = expect.check_all({ db = c, dir = dir }, { e })[1]
    assert.is_false(failed.ok)
    assert.truthy(failed.actual:find("not ok 3 nickname is required", 1, true), failed.actual)
    assert.equal("idle", c:status())
  end)

  it("names the file, line and column of a statement that fails, and a plan not kept", function()
    if not has_pgtap(c) then pending("pgTAP is not installed (postgresql-15-pgtap)") return end
    local d2 = H.tmpdir()
    H.write(d2 .. "/broken.sql", "SELECT plan(2);\nSELECT has_table('users');\nSELECT has_tabel('users');\n")
    H.write(d2 .. "/short.sql", "SELECT plan(2);\nSELECT has_table('users');\n")
    local r = expect.check_all({ db = c, dir = d2 }, { expect.pgtap "*.sql" })[1]
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("broken.sql:3:8: function has_tabel(unknown) does not exist", 1, true), r.actual)
    assert.truthy(r.actual:find("SQLSTATE 42883", 1, true), r.actual)
    assert.truthy(r.actual:find("short.sql: planned 2 tests, ran 1", 1, true), r.actual)
    r = expect.check_all({ db = c, dir = d2 }, { expect.pgtap "nothing/*.sql" })[1]
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("no file matches nothing/*.sql", 1, true), r.actual)
    H.rmtree(d2)
  end)

  it("a glob that matches no file refuses the playbook when it loads, naming its line", function()
    local d2 = H.tmpdir()
    H.write(d2 .. "/pb.lua", [=[
playbook "tap" {
  phase "nick" {
    sql [[ALTER TABLE users ADD COLUMN nickname text]],
    verify = { expect.pgtap "tests/dbb/*.sql" },
    rollback = sql [[ALTER TABLE users DROP COLUMN nickname]],
  },
}]=])
    local r = H.migrun({ "--db", H.conninfo(name), "--yes", d2 .. "/pb.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find(d2 .. "/pb.lua:4:", 1, true), r.stderr)
    assert.truthy(r.stderr:find("no file matches tests/dbb/*.sql (in " .. d2 .. ")", 1, true), r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'users' " ..
                            "AND column_name = 'nickname'")[1].n)
    H.rmtree(d2)
  end)

  it("a failing test rolls the phase back; the report lists every assertion", function()
    if not has_pgtap(c) then pending("pgTAP is not installed (postgresql-15-pgtap)") return end
    H.write(dir .. "/pb.lua", [=[
playbook "tap" {
  phase "nick" {
    sql [[ALTER TABLE users ADD COLUMN nickname text]],
    verify = { expect.pgtap "tests/db/*.sql" },
    rollback = sql [[ALTER TABLE users DROP COLUMN nickname]],
  },
}]=])
    local r = H.migrun({ "--db", H.conninfo(name), "--yes", "--report", dir .. "/r.md", dir .. "/pb.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'users' " ..
                            "AND column_name = 'nickname'")[1].n)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("- ok 2 users have an email", 1, true), md)
    assert.truthy(md:find("- **not ok** 3 nickname is required", 1, true), md)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(3, #doc.expectations[1].details)
    -- NOT NULL in the phase: the same tests pass and the phase stays
    H.write(dir .. "/pb.lua", [=[
playbook "tap" {
  phase "nick" {
    sql [[ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT '']],
    verify = { expect.pgtap "tests/db/*.sql" },
    rollback = sql [[ALTER TABLE users DROP COLUMN nickname]],
  },
  verify = { expect.pgtap "tests/db/01_users.sql" },
}]=])
    r = H.migrun({ "--db", H.conninfo(name), "--yes", "--allow-drift", dir .. "/pb.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'pgtap'")[1].n)
  end)
end)
