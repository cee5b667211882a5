-- The importers without a server: each tool's folder read into migrations, the scripts made
-- runnable in a phase, the playbook written with the DSL only (and loadable by it).
local H = require "helper"
local digest = require "migrun.import.digest"
local dsl = require "migrun.dsl"
local import = require "migrun.import"

local FIX = H.source .. "/tests/fixtures/import/"

-- a copy of a fixture folder in a temp dir (the import writes beside the migrations)
local function copy(tool)
  local dir = H.tmpdir() .. "/" .. tool
  H.copy_tree(FIX .. tool, dir)
  return dir
end

local function phases(project)
  local t = {}
  for _, m in ipairs(project.migrations) do t[#t + 1] = m.phase end
  return t
end

local function by_phase(project, name)
  for _, m in ipairs(project.migrations) do if m.phase == name then return m end end
  error("no migration " .. name)
end

local function raises(kind, fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.equal(kind, err.kind, tostring(err))
  return err
end

describe("import.detect", function()
  it("finds each tool from its files", function()
    assert.equal("flyway", import.detect(FIX .. "flyway").name)
    assert.equal("dbmate", import.detect(FIX .. "dbmate").name)
    assert.equal("golang-migrate", import.detect(FIX .. "golang_migrate").name)
    assert.equal("sqitch", import.detect(FIX .. "sqitch").name)
  end)

  it("refuses a folder with no migrations, and one that is not there", function()
    raises("usage", function() import.detect(H.tmpdir()) end)
    raises("usage", function() import.detect("/nonexistent/migrations") end)
  end)

  it("suggests the closest tool for a misspelt name", function()
    local err = raises("usage", function() import.tool("flyawy") end)
    assert.matches("did you mean 'flyway'", err.message, 1, true)
    assert.equal("golang-migrate", import.tool("golang_migrate").name)
  end)
end)

describe("the Flyway importer", function()
  local project
  setup(function() project = import.read(FIX .. "flyway") end)

  it("orders versions as Flyway does, repeatables last", function()
    assert.same({ "V1 create accounts", "V1.1 add account email", "V2 create invoices",
                  "V3 index invoices account", "V4 add invoice status", "R account summary view" }, phases(project))
  end)

  it("pairs each version with its undo script", function()
    assert.equal("U1.1__add_account_email.sql", by_phase(project, "V1.1 add account email").down.file)
    assert.is_nil(by_phase(project, "V4 add invoice status").down)
  end)

  it("reads executeInTransaction=false from the script's .conf", function()
    local m = by_phase(project, "V4 add invoice status")
    assert.is_false(m.transaction)
    assert.matches("executeInTransaction=false", m.no_tx_why, 1, true)
  end)

  it("keeps the checksum Flyway records (CRC-32 of the lines)", function()
    local m = by_phase(project, "V2 create invoices")
    assert.equal(digest.flyway(H.read(FIX .. "flyway/V2__create_invoices.sql")), m.checksum)
  end)

  it("writes ${placeholders} as psql variables, and knows the configured values", function()
    local up = by_phase(project, "V1 create accounts").up.text
    assert.matches("CREATE TABLE :schema.accounts", up, 1, true)
    assert.matches("IS :'app_name';", up, 1, true)
    assert.matches("-- ${app_name}'s accounts", up, 1, true)           -- comments stay as written
    assert.matches('CREATE TABLE :"schema".invoices', by_phase(project, "V2 create invoices").up.text, 1, true)
    assert.equal("public", project.defaults.schema)
    assert.equal("billing", project.defaults.app_name)
  end)

  it("reports a callback and a file Flyway would skip", function()
    local files = {}
    for _, w in ipairs(project.warnings) do files[w.file] = w.message end
    assert.matches("callback", files["afterMigrate.sql"])
  end)

  it("compares versions the way Flyway does", function()
    assert.equal("1.1", require("migrun.import.flyway").version_key("1_01.0"))
    assert.equal("2024.1.5", require("migrun.import.flyway").version_key("2024.01.05"))
    assert.is_true(require("migrun.import.flyway").version_less("1.9", "1.10"))
    assert.is_false(require("migrun.import.flyway").version_less("2", "1.10"))
  end)

  it("refuses two migrations of one version, as Flyway does", function()
    local dir = copy("flyway")
    H.write(dir .. "/V1_0__again.sql", "SELECT 1;")
    local err = raises("usage", function() import.read(dir) end)
    assert.matches("two migrations with version 1", err.message, 1, true)
  end)
end)

describe("flyway.placeholders", function()
  local fw = require "migrun.import.flyway"

  it("translates a placeholder in SQL, a whole literal and a whole quoted name", function()
    local text, vars, problems = fw.placeholders([[SELECT ${a}, '${b}', "${c}", x::${t}, pre_${a};]])
    assert.equal([[SELECT :a, :'b', :"c", x:::t, pre_:a;]], text)
    assert.same({ a = "a", b = "b", c = "c", t = "t" }, vars)
    assert.same({}, problems)
  end)

  it("leaves what psql cannot say, and says where", function()
    local src = "SELECT '${a} and more', ${b}_suffix,\n  $$ ${c} $$, E'${d}';"
    local text, _, problems = fw.placeholders(src)
    assert.equal(src, text)
    assert.equal(4, #problems)
    assert.equal(1, problems[1].line)
    assert.equal(9, problems[1].col)
    assert.matches("longer string", problems[1].message)
    assert.matches("followed by more of a name", problems[2].message)
    assert.equal(2, problems[3].line)
    assert.matches("dollar", problems[3].message)
    assert.matches("E''", problems[4].message, 1, true)
  end)

  it("names Flyway's built-in placeholders as psql can", function()
    local text, vars = fw.placeholders("SET search_path = ${flyway:defaultSchema};")
    assert.equal("SET search_path = :flyway_defaultSchema;", text)
    assert.equal("flyway:defaultSchema", vars.flyway_defaultSchema)
  end)

  it("follows a configured prefix and suffix", function()
    local text = fw.placeholders("SELECT #[x];", { prefix = "#[", suffix = "]" })
    assert.equal("SELECT :x;", text)
  end)
end)

describe("the dbmate importer", function()
  local dbmate = require "migrun.import.dbmate"
  local project
  setup(function() project = import.read(FIX .. "dbmate") end)

  it("makes a phase of each file, in file-name order", function()
    assert.same({ "20240105090000 create customers", "20240105090500 create orders",
                  "20240112143000 index orders customer", "20240120080000 seed order statuses" }, phases(project))
  end)

  it("splits the up and down sections into scripts of their own", function()
    local m = by_phase(project, "20240105090500 create orders")
    assert.matches("CREATE TABLE orders", m.up.text, 1, true)
    assert.not_matches("DROP TABLE", m.up.text, 1, true)
    assert.matches("DROP TABLE orders", m.down.text, 1, true)
    assert.equal("20240105090500_create_orders.down.sql", m.down.copy)
    assert.equal(18, m.down.line)
  end)

  it("reads transaction:false from the directive line", function()
    local m = by_phase(project, "20240112143000 index orders customer")
    assert.is_false(m.transaction)
    assert.is_nil(by_phase(project, "20240105090000 create customers").transaction)
  end)

  it("refuses statements before the up section, and a down before the up", function()
    raises("usage", function() dbmate.sections("CREATE TABLE x ();\n-- migrate:up\nSELECT 1;\n", "f.sql") end)
    raises("usage", function() dbmate.sections("-- migrate:down\nSELECT 1;\n-- migrate:up\n", "f.sql") end)
    raises("usage", function() dbmate.sections("SELECT 1;\n", "f.sql") end)
  end)

  it("reads several up/down pairs in one file", function()
    local secs = dbmate.sections("-- comment\n-- migrate:up\nA;\n-- migrate:down\nB;\n" ..
                                 "-- migrate:up transaction:false\nC;\n-- migrate:down\nD;\n", "f.sql")
    assert.equal(2, #secs)
    assert.equal("C;\n", secs[2].up.text)
    assert.equal("false", secs[2].up_options.transaction)
    assert.equal("B;\n", secs[1].down.text)
  end)

  it("does not take -- migrate:upgrade for a directive", function()
    local secs = dbmate.sections("-- migrate:up\nA;\n-- migrate:upgrade\n-- migrate:down\nB;\n", "f.sql")
    assert.equal(1, #secs)
    assert.equal("A;\n-- migrate:upgrade\n", secs[1].up.text)
  end)
end)

describe("the golang-migrate importer", function()
  local project
  setup(function() project = import.read(FIX .. "golang_migrate") end)

  it("orders versions as numbers, not as text", function()
    assert.same({ "1 create users", "2 add profiles", "3 users lower username idx", "10 add user settings" },
                phases(project))
  end)

  it("pairs .up and .down files, and leaves a migration without one without a rollback", function()
    assert.equal("1_create_users.down.sql", by_phase(project, "1 create users").down.file)
    assert.is_nil(by_phase(project, "3 users lower username idx").down)
  end)

  it("refuses two up files of one version", function()
    local dir = copy("golang_migrate")
    H.write(dir .. "/01_again.up.sql", "SELECT 1;")
    raises("usage", function() import.read(dir) end)
  end)
end)

describe("the Sqitch importer", function()
  local sqitch = require "migrun.import.sqitch"
  local project
  setup(function() project = import.read(FIX .. "sqitch") end)

  it("takes the plan's order and its project name", function()
    assert.equal("flipr", project.name)
    assert.same({ "appschema", "users", "insert_user@v1.0.0-dev1", "flips", "insert_user" }, phases(project))
  end)

  it("finds the earlier version of a reworked change under its tag", function()
    local old = by_phase(project, "insert_user@v1.0.0-dev1")
    assert.equal("deploy/insert_user@v1.0.0-dev1.sql", old.up.file)
    assert.equal("revert/insert_user@v1.0.0-dev1.sql", old.down.file)
    assert.equal("insert_user#1", old.key)
    assert.equal("insert_user#2", by_phase(project, "insert_user").key)
  end)

  it("keeps the note, the dependencies and the tags for the reader", function()
    local flips = by_phase(project, "flips")
    assert.matches("requires appschema, users; conflicts with legacy_flips", flips.description, 1, true)
    assert.same({ "@v1.0.0-dev1: Tag v1.0.0-dev1." }, by_phase(project, "insert_user@v1.0.0-dev1").after)
  end)

  it("keeps the SHA-1 Sqitch records of a deploy script", function()
    assert.equal(digest.sha1(H.read(FIX .. "sqitch/deploy/users.sql")), by_phase(project, "users").checksum)
  end)

  it("refuses a change that requires one planned after it", function()
    local err = raises("usage", function()
      sqitch.parse_plan("%project=p\n\na 2024-01-01T00:00:00Z A <a@x>\n", "sqitch.plan")
      local dir = H.tmpdir()
      H.copy_tree(FIX .. "sqitch", dir .. "/s")
      H.write(dir .. "/s/sqitch.plan", "%project=flipr\n\nusers [appschema] 2024-01-01T00:00:00Z A <a@x>\n" ..
                                       "appschema 2024-01-01T00:00:00Z A <a@x>\n")
      import.read(dir .. "/s")
    end)
    assert.matches("not planned before it", err.message, 1, true)
    assert.equal(3, err.line)
  end)

  it("refuses a plan without %project, and a change without its planner", function()
    raises("usage", function() sqitch.parse_plan("a 2024-01-01T00:00:00Z A <a@x>\n", "p") end)
    local err = raises("usage", function() sqitch.parse_plan("%project=p\n\na [b]\n", "p") end)
    assert.equal(3, err.line)
  end)

  it("reads dependencies, conflicts and notes from the plan", function()
    local plan = sqitch.parse_plan("%syntax-version=1.0.0\n%project=p\n\n" ..
      "a 2024-01-01T00:00:00Z A B <a@x> # first # still the note\n" ..
      "b [a !c other:d] 2024-01-01T00:00:00Z A <a@x>\n@t1 2024-01-01T00:00:00Z A <a@x> # tag\n", "p")
    assert.equal("p", plan.project)
    assert.equal("first # still the note", plan.changes[1].note)
    assert.same({ "a", "other:d" }, plan.changes[2].requires)
    assert.same({ "c" }, plan.changes[2].conflicts)
    assert.equal("t1", plan.changes[2].tags[1].name)
  end)
end)

describe("import.prepare", function()
  local function prep(text, role)
    local s, notes = { file = "m.sql", text = text }, {}
    local why = import.prepare(s, role or "up", function(msg, line, serious)
      notes[#notes + 1] = { msg = msg, line = line, serious = serious }
    end)
    return s, why, notes
  end

  it("takes out the tool's own BEGIN ... COMMIT: the phase is the transaction", function()
    local s, why = prep("-- x\nBEGIN;\nCREATE TABLE t ();\nCOMMIT;\n")
    assert.is_nil(why)
    assert.equal("-- x\n/* BEGIN; */\nCREATE TABLE t ();\n/* COMMIT; */\n", s.text)
  end)

  it("takes out a verify script's BEGIN ... ROLLBACK", function()
    local s = prep("BEGIN;\nSELECT 1;\nROLLBACK;\n", "verify")
    assert.equal("/* BEGIN; */\nSELECT 1;\n/* ROLLBACK; */\n", s.text)
  end)

  it("runs a script that commits in the middle outside a transaction, as it is", function()
    local s, why = prep("BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;\n")
    assert.matches("commits on its own", why)
    assert.equal("BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;\n", s.text)
  end)

  it("knows the statements PostgreSQL refuses in a transaction", function()
    for _, sql in ipairs({ "CREATE INDEX CONCURRENTLY i ON t (a);", "create unique index concurrently i on t (a);",
                           "DROP INDEX CONCURRENTLY i;", "VACUUM ANALYZE t;", "CREATE DATABASE x;",
                           "REINDEX TABLE CONCURRENTLY t;", "ALTER SYSTEM SET work_mem = '8MB';" }) do
      local _, why = prep("/* c */ " .. sql)
      assert.matches("cannot run in a transaction", why, 1, true)
    end
    local _, why = prep("CREATE INDEX i ON t (a); SELECT 'CREATE INDEX CONCURRENTLY';")
    assert.is_nil(why)
  end)

  it("writes psql's \\set as its value and asks for a command's value with --set", function()
    local s, _, notes = prep("\\set schema app\n\\set pw `cat /run/secret`\n\\echo hi\n" ..
                             "CREATE TABLE :\"schema\".t (p text DEFAULT :'pw');\n")
    assert.equal("-- (psql) \\set schema app\n-- (psql) \\set pw `cat /run/secret`\n-- (psql) \\echo hi\n" ..
                 "CREATE TABLE \"app\".t (p text DEFAULT :'pw');\n", s.text)
    assert.equal("`cat /run/secret`", s.needs.pw)
    assert.is_falsy(notes[1].serious)
  end)

  it("reports a meta-command a playbook cannot run, with its line", function()
    local s, _, notes = prep("SELECT 1;\nSELECT 'CREATE DATABASE x'\\gexec\nSELECT 1\\g\n")
    assert.equal("SELECT 1;\nSELECT 'CREATE DATABASE x'\\gexec\nSELECT 1;\n", s.text)
    assert.equal(1, #notes)
    assert.is_true(notes[1].serious)
    assert.equal(2, notes[1].line)
    assert.matches("\\gexec", notes[1].msg, 1, true)
  end)
end)

describe("import.syntax_error", function()
  it("finds the line PostgreSQL's parser rejects, variables and all", function()
    if not pcall(require, "migrun.core.pgquery") then
      pending("this build has no SQL parser")
      return
    end
    local e = import.syntax_error("SELECT :'x';\nALTER TABLE DROP COLUMN x;\n")
    assert.equal(2, e.line)
    assert.is_nil(import.syntax_error("CREATE TABLE :\"s\".t (a int);"))
  end)
end)

describe("the generated playbook", function()
  -- load it with the DSL, as a run would
  local function load(tool, vars)
    local dir = copy(tool)
    local r = import.run({ dir = dir })
    return dsl.load(r.playbook, { vars = vars }), r, dir
  end

  it("is one phase per migration with its rollback, and loads (Flyway)", function()
    local pb, r = load("flyway", { schema = "public", app_name = "billing" })
    assert.equal(6, #pb.items)
    assert.equal(".migrun/flyway/_V1__create_accounts.sql", pb.phases["V1 create accounts"].steps[1].file)
    assert.equal(".migrun/flyway/_U1__create_accounts.sql", pb.phases["V1 create accounts"].rollback.file)
    assert.is_false(pb.phases["V3 index invoices account"].transaction)
    assert.is_true(pb.phases["V2 create invoices"].transaction)
    assert.same({ "app_name", "schema" }, r.vars)
    assert.same({ "V4 add invoice status", "R account summary view" }, r.no_rollback)
  end)

  it("keeps the scripts where they are when nothing needed rewriting (golang-migrate)", function()
    local pb, r = load("golang_migrate")
    assert.equal("golang_migrate", pb.name)
    assert.equal("1_create_users.up.sql", pb.phases["1 create users"].steps[1].file)
    assert.equal(".migrun/golang-migrate/2_add_profiles.up.sql", pb.phases["2 add profiles"].steps[1].file)
    assert.equal(3, #r.written)                        -- the playbook and the two copies of 2
  end)

  it("writes dbmate's sections beside it, and transaction = false where dbmate said so", function()
    local pb, _, dir = load("dbmate")
    local ph = pb.phases["20240112143000 index orders customer"]
    assert.is_false(ph.transaction)
    assert.matches("DROP INDEX CONCURRENTLY", ph.rollback.text, 1, true)
    assert.truthy(H.read(dir .. "/.migrun/dbmate/20240105090000_create_customers.up.sql"))
  end)

  it("turns Sqitch verify scripts into expectations", function()
    local pb = load("sqitch")
    assert.equal("flipr", pb.name)
    local v = pb.phases.users.verify[1]
    assert.equal("that", v.kind)
    assert.equal("sqitch verify .migrun/sqitch/verify/users.sql", v:describe())
  end)

  it("never replaces a file: the playbook, or a copy with other contents", function()
    local dir = copy("dbmate")
    import.run({ dir = dir })
    local err = raises("usage", function() import.run({ dir = dir }) end)
    assert.matches("already exists", err.message, 1, true)
    local dir2 = copy("dbmate")
    require("lfs").mkdir(dir2 .. "/.migrun")
    require("lfs").mkdir(dir2 .. "/.migrun/dbmate")
    H.write(dir2 .. "/.migrun/dbmate/20240105090000_create_customers.up.sql", "-- mine\n")
    raises("usage", function() import.run({ dir = dir2 }) end)
    assert.equal("-- mine\n", H.read(dir2 .. "/.migrun/dbmate/20240105090000_create_customers.up.sql"))
    assert.is_nil(io.open(dir2 .. "/playbook.lua"))
  end)

  it("writes paths relative to the playbook when --out puts it elsewhere", function()
    local dir = copy("golang_migrate")
    local out = H.tmpdir() .. "/deploy/app.lua"
    import.run({ dir = dir, out = out })
    local pb = dsl.load(out)
    assert.matches("^%.%./", pb.phases["1 create users"].steps[1].file)
    assert.equal(".migrun/golang-migrate/2_add_profiles.up.sql", pb.phases["2 add profiles"].steps[1].file)
  end)

  it("names the playbook after the application, not after a generic folder", function()
    local root = H.tmpdir() .. "/shop"
    require("lfs").mkdir(root)
    require("lfs").mkdir(root .. "/db")
    H.copy_tree(FIX .. "dbmate", root .. "/db/migrations")
    assert.equal("shop", import.run({ dir = root .. "/db/migrations" }).name)
  end)
end)

describe("import.digest", function()
  it("computes zlib's CRC-32 and Flyway's line checksum", function()
    assert.equal(0x414FA339, digest.crc32("The quick brown fox jumps over the lazy dog"))
    -- Flyway ignores line endings and a byte-order mark
    assert.equal(digest.flyway("a\nb\n"), digest.flyway("\239\187\191a\r\nb"))
    assert.equal(digest.crc32("ab") - (digest.crc32("ab") >= 0x80000000 and 0x100000000 or 0),
                 digest.flyway("a\nb"))
  end)

  it("computes SHA-1", function()
    assert.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", digest.sha1(""))
    assert.equal("a9993e364706816aba3e25717850c26c9cd0d89d", digest.sha1("abc"))
    assert.equal("84983e441c3bd26ebaae4aa1f95129e5e54670f1",
                 digest.sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)
end)
