-- #pg The imported playbooks on the harness server: each runs, rolls back, and --adopt takes
-- over a database the old tool migrated (its history table made with the tool's own DDL and
-- filled the way the tool fills it), after which a run applies only the rest. Where the tool
-- itself is installed (sqitch from Debian, dbmate from npm), it migrates the database first.
local H = require "helper"
local json = require "cjson"
local digest = require "migrun.import.digest"

local FIX = H.source .. "/tests/fixtures/import/"

local function copy(tool)
  local dir = H.tmpdir() .. "/" .. tool
  H.copy_tree(FIX .. tool, dir)
  return dir
end

local function migrun(name, args)
  local argv = { "--db", H.conninfo(name) }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = H.migrun(argv)
  r.output = (r.stdout or "") .. (r.stderr or "")
  return r
end

-- the import verb first, then the verb with --db (order matters to the parser: verb first)
local function cli(verb, name, args)
  local argv = { verb, "--db", H.conninfo(name) }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = H.migrun(argv)
  r.output = (r.stdout or "") .. (r.stderr or "")
  return r
end

local function import(dir)
  local r = H.migrun({ "import", dir })
  assert.equal(0, r.status, r.stdout .. r.stderr)
  return dir .. "/playbook.lua"
end

local function tables(name, schema)
  local c <close> = H.connect(name)
  local res = c:query([[SELECT string_agg(table_name, ',' ORDER BY table_name) AS t
                        FROM information_schema.tables WHERE table_schema = $1]], schema or "public")
  return res[1].t or ""
end

local function applied(name, playbook)
  local c <close> = H.connect(name)
  if not c:query("SELECT to_regclass('migrun.steps') IS NOT NULL AS e")[1].e then return "" end
  local res = c:query([[SELECT string_agg(DISTINCT phase, ',' ORDER BY phase) AS p FROM migrun.steps
                        WHERE playbook = $1 AND step = '(phase)' AND status = 'applied']], playbook)
  return res[1].p or ""
end

local function exec(name, sql)
  local c <close> = H.connect(name)
  c:script(sql, { name = "setup" })
end

-- does the DSL expand psql variables in SQL files yet (the lead wires sqlvars into it)?
local function dsl_expands()
  local dir = H.tmpdir()
  H.write(dir .. "/x.sql", "SELECT :'v'")
  H.write(dir .. "/p.lua", 'playbook "p" { phase "a" { sql "x.sql" } }')
  local pb = require("migrun.dsl").load(dir .. "/p.lua", { vars = { v = "1" } })
  return pb.phases.a.steps[1].text == "SELECT '1'"
end

local function on_path(prog)
  return require("migrun.proc").which(prog)
end

describe("imported playbooks on the server #pg", function()
  local dbs = {}
  local function fresh(prefix)
    local n = H.fresh_db(prefix)
    dbs[#dbs + 1] = n
    return n
  end
  teardown(function() for _, n in ipairs(dbs) do pcall(H.drop_db, n) end end)

  describe("Flyway", function()
    local FW_SET = { "--set", "schema=public", "--set", "app_name=billing" }

    -- what `flyway migrate` does: placeholders replaced in the text, each script in its own
    -- transaction (V3 outside one: CONCURRENTLY), a history row per script
    local function flyway_migrate(name, dir, files, extra_rows)
      local c <close> = H.connect(name)
      c:exec([[CREATE TABLE "public"."flyway_schema_history" (
          "installed_rank" INT NOT NULL, "version" VARCHAR(50), "description" VARCHAR(200) NOT NULL,
          "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, "checksum" INTEGER,
          "installed_by" VARCHAR(100) NOT NULL, "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
          "execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL);
        ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk"
          PRIMARY KEY ("installed_rank");
        CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")]])
      local rank = 0
      for _, f in ipairs(files) do
        local raw = H.read(dir .. "/" .. f[3])
        local sql = raw:gsub("%${schema}", "public"):gsub("%${app_name}", "billing")
        if f.apply ~= false then c:script(sql, { name = f[3] }) end
        rank = rank + 1
        c:query([[INSERT INTO flyway_schema_history (installed_rank, version, description, type, script,
                    checksum, installed_by, execution_time, success)
                  VALUES ($1, $2, $3, $4, $5, $6, current_user, 7, $7)]],
                rank, f[1], f[2], f.type or "SQL", f[3], f.type == "BASELINE" and nil or digest.flyway(raw),
                f.success ~= false)
      end
      for _, row in ipairs(extra_rows or {}) do c:exec(row) end
    end

    it("runs, verifies its schema and rolls back", function()
      if not dsl_expands() then pending("the DSL does not expand psql variables in SQL files yet") return end
      local pb = import(copy("flyway"))
      local name = fresh("imp_fw")
      local r = migrun(name, { pb, "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.equal("account_summary,accounts,invoices", tables(name))
      assert.equal("billing", H.one(name, "SELECT obj_description('accounts'::regclass)"))
      assert.equal(3, H.one(name, "SELECT count(*) FROM pg_enum"))
      -- V4 and the repeatable have no undo script: roll back a run that stopped after V3
      name = fresh("imp_fw3")
      r = migrun(name, { pb, "--yes", "--to", "V3 index invoices account", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.equal(1, H.one(name, "SELECT count(*) FROM pg_indexes WHERE indexname = 'invoices_account_id_idx'"))
      r = H.migrun({ "rollback", "--db", H.conninfo(name), pb, "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.stdout .. r.stderr)
      assert.equal("", tables(name))
    end)

    it("adopts flyway_schema_history, and the next run applies only the rest", function()
      local dir = copy("flyway")
      local name = fresh("ad_fw")
      flyway_migrate(name, dir, { { "1", "create accounts", "V1__create_accounts.sql" },
                                  { "1.1", "add account email", "V1.1__add_account_email.sql" },
                                  { "2", "create invoices", "V2__create_invoices.sql" } })
      local r = cli("import", name, { dir, "--adopt", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 3 migrations as applied", r.output, 1, true)
      assert.equal("V1 create accounts,V1.1 add account email,V2 create invoices", applied(name, "flyway"))
      -- adopting again records nothing new
      r = cli("import", name, { dir, "--adopt", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 0 migrations as applied (3 already were)", r.output, 1, true)
      if not dsl_expands() then pending("the DSL does not expand psql variables in SQL files yet") return end
      r = migrun(name, { dir .. "/playbook.lua", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("phase V2 create invoices  skipped", r.output, 1, true)
      assert.matches("phase V3 index invoices account  applied", r.output, 1, true)
    end)

    it("counts a repeatable as applied only while its script is unchanged", function()
      local dir = copy("flyway")
      local all = { { "1", "create accounts", "V1__create_accounts.sql" },
                    { "1.1", "add account email", "V1.1__add_account_email.sql" },
                    { "2", "create invoices", "V2__create_invoices.sql" },
                    { "3", "index invoices account", "V3__index_invoices_account.sql" },
                    { "4", "add invoice status", "V4__add_invoice_status.sql" },
                    { nil, "account summary view", "R__account_summary_view.sql" } }
      local name = fresh("ad_fwr")
      flyway_migrate(name, dir, all)
      local r = cli("import", name, { dir, "--adopt", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 6 migrations as applied", r.output, 1, true)
      -- the view's script changed since Flyway ran it: Flyway would run it again, so does migrun
      local dir2 = copy("flyway")
      H.write(dir2 .. "/R__account_summary_view.sql", H.read(dir2 .. "/R__account_summary_view.sql") .. "-- v2\n")
      name = fresh("ad_fwr2")
      flyway_migrate(name, dir, all)
      r = cli("import", name, { dir2, "--adopt", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 5 migrations as applied", r.output, 1, true)
      assert.not_matches("R account summary view", applied(name, "flyway"), 1, true)
    end)

    it("takes a BASELINE row for every version up to it", function()
      local dir = copy("flyway")
      local name = fresh("ad_fwb")
      flyway_migrate(name, dir, { { "1", "create accounts", "V1__create_accounts.sql" },
                                  { "1.1", "add account email", "V1.1__add_account_email.sql", apply = true } })
      exec(name, [[DELETE FROM flyway_schema_history;
                   INSERT INTO flyway_schema_history VALUES (1, '1.1', '<< Flyway Baseline >>', 'BASELINE',
                     '<< Flyway Baseline >>', NULL, 'postgres', now(), 0, true)]])
      local r = cli("import", name, { dir, "--adopt", "--yes", table.unpack(FW_SET) })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 2 migrations as applied", r.output, 1, true)
    end)

    it("refuses (exit 2) a history with a failed migration, and records nothing", function()
      local dir = copy("flyway")
      local name = fresh("ad_fwf")
      flyway_migrate(name, dir, { { "1", "create accounts", "V1__create_accounts.sql" },
                                  { "1.1", "add account email", "V1.1__add_account_email.sql", apply = false,
                                    success = false } })
      local r = cli("import", name, { dir, "--adopt", "--yes", "--json" })
      assert.equal(2, r.status, r.output)
      assert.matches("failed migration", r.output, 1, true)
      assert.is_false(H.one(name, "SELECT to_regclass('migrun.steps') IS NOT NULL"))
      local last = json.decode(r.stdout:match("([^\n]+)\n*$"))
      assert.equal("result", last.event)
      assert.equal(2, last.exit)
    end)

    it("refuses (exit 2) a history with a version the folder lacks", function()
      local dir = copy("flyway")
      local name = fresh("ad_fwu")
      flyway_migrate(name, dir, { { "1", "create accounts", "V1__create_accounts.sql" } },
        { [[INSERT INTO flyway_schema_history VALUES (2, '9', 'later', 'SQL', 'V9__later.sql', 1, 'p',
             now(), 1, true)]] })
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("version 9 that the folder", r.output, 1, true)
    end)

    it("refuses (exit 2) a target without a history table", function()
      local r = cli("import", fresh("ad_fwn"), { copy("flyway"), "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("no Flyway history", r.output, 1, true)
    end)
  end)

  describe("dbmate", function()
    local function dbmate_migrate(name, dir, versions)
      local c <close> = H.connect(name)
      c:exec("create table if not exists public.schema_migrations (version varchar primary key)")
      local dbmate = require "migrun.import.dbmate"
      for _, f in ipairs(versions) do
        for _, sec in ipairs(dbmate.sections(H.read(dir .. "/" .. f), f)) do c:script(sec.up.text, { name = f }) end
        c:query("insert into public.schema_migrations (version) values ($1)", f:match("^%d+"))
      end
    end

    it("runs, verifies its schema and rolls back", function()
      local pb = import(copy("dbmate"))
      local name = fresh("imp_dm")
      local r = migrun(name, { pb, "--yes" })
      assert.equal(0, r.status, r.output)
      assert.equal("customers,order_statuses,orders", tables(name))
      assert.equal(1, H.one(name, "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer_id_idx'"))
      r = H.migrun({ "rollback", "--db", H.conninfo(name), pb, "--yes" })
      assert.equal(0, r.status, r.stdout .. r.stderr)
      assert.equal("", tables(name))
    end)

    it("adopts schema_migrations, and the next run applies only the rest", function()
      local dir = copy("dbmate")
      local name = fresh("ad_dm")
      dbmate_migrate(name, dir, { "20240105090000_create_customers.sql", "20240105090500_create_orders.sql" })
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 2 migrations as applied", r.output, 1, true)
      r = migrun(name, { dir .. "/playbook.lua", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("phase 20240112143000 index orders customer  applied", r.output, 1, true)
      assert.equal("customers,order_statuses,orders,schema_migrations", tables(name))
    end)

    it("refuses (exit 2) a history with a gap: migrun applies phases in order", function()
      local dir = copy("dbmate")
      local name = fresh("ad_dmg")
      dbmate_migrate(name, dir, { "20240105090000_create_customers.sql" })
      exec(name, "insert into schema_migrations values ('20240120080000')")
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("comes before it", r.output, 1, true)
    end)

    it("migrated by dbmate itself, then adopted", function()
      local bin = os.getenv("MIGRUN_DBMATE") or on_path("dbmate")
      if not bin then pending("dbmate is not installed (npm install dbmate; MIGRUN_DBMATE=path)") return end
      local dir = copy("dbmate")
      local part = H.tmpdir()
      for _, f in ipairs({ "20240105090000_create_customers.sql", "20240105090500_create_orders.sql",
                           "20240112143000_index_orders_customer.sql" }) do
        H.write(part .. "/" .. f, H.read(dir .. "/" .. f))
      end
      local name = fresh("ad_dmr")
      local e = H.pgenv()
      local url = string.format("postgres://%s@/%s?host=%s&port=%s&sslmode=disable", e.PGUSER, name, e.PGHOST,
                                e.PGPORT)
      local p = require("migrun.proc").run({ bin, "--no-dump-schema", "-d", part, "migrate" },
                                           { env = { DATABASE_URL = url } })
      assert.is_true(p.ok, p.stdout .. p.stderr)
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 3 migrations as applied", r.output, 1, true)
      r = migrun(name, { dir .. "/playbook.lua", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("phase 20240120080000 seed order statuses  applied", r.output, 1, true)
    end)
  end)

  describe("golang-migrate", function()
    local function migrate_to(name, dir, files, version, dirty)
      local c <close> = H.connect(name)
      c:exec([[CREATE TABLE IF NOT EXISTS "public"."schema_migrations"
               (version bigint not null primary key, dirty boolean not null)]])
      for _, f in ipairs(files) do c:exec(H.read(dir .. "/" .. f)) end
      c:exec("TRUNCATE public.schema_migrations")
      c:query("INSERT INTO public.schema_migrations (version, dirty) VALUES ($1, $2)", version, dirty or false)
    end

    it("runs in numeric order, and rolls back to the phase without a down file", function()
      local pb = import(copy("golang_migrate"))
      local name = fresh("imp_gm")
      local r = migrun(name, { pb, "--yes" })
      assert.equal(0, r.status, r.output)
      assert.equal("profiles,user_settings,users", tables(name))
      r = H.migrun({ "rollback", "--db", H.conninfo(name), pb, "--yes" })
      assert.equal(1, r.status, r.stdout .. r.stderr)          -- 3 has no down: stops there
      assert.equal("profiles,users", tables(name))
    end)

    it("adopts its one-row schema_migrations", function()
      local dir = copy("golang_migrate")
      local name = fresh("ad_gm")
      migrate_to(name, dir, { "1_create_users.up.sql", "2_add_profiles.up.sql" }, 2)
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 2 migrations as applied", r.output, 1, true)
      r = migrun(name, { dir .. "/playbook.lua", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("phase 10 add user settings  applied", r.output, 1, true)
    end)

    it("refuses (exit 2) a dirty database", function()
      local dir = copy("golang_migrate")
      local name = fresh("ad_gmd")
      migrate_to(name, dir, { "1_create_users.up.sql" }, 2, true)
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("dirty", r.output, 1, true)
      assert.matches("migrate force", r.output, 1, true)
    end)

    it("refuses (exit 2) a version the folder lacks", function()
      local dir = copy("golang_migrate")
      local name = fresh("ad_gmu")
      migrate_to(name, dir, { "1_create_users.up.sql" }, 7)
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("version 7", r.output, 1, true)
    end)
  end)

  describe("Sqitch", function()
    -- the registry tables sqitch's pg engine creates (the columns adoption reads, and the
    -- constraints between them), and the rows `sqitch deploy` writes for each change
    local function sqitch_deploy(name, dir, changes)
      local c <close> = H.connect(name)
      c:exec([[
        CREATE SCHEMA IF NOT EXISTS sqitch;
        CREATE TABLE sqitch.projects (project TEXT PRIMARY KEY, uri TEXT NULL UNIQUE,
          created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), creator_name TEXT NOT NULL,
          creator_email TEXT NOT NULL);
        CREATE TABLE sqitch.changes (change_id TEXT PRIMARY KEY, script_hash TEXT NULL, change TEXT NOT NULL,
          project TEXT NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
          note TEXT NOT NULL DEFAULT '', committed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
          committer_name TEXT NOT NULL, committer_email TEXT NOT NULL, planned_at TIMESTAMPTZ NOT NULL,
          planner_name TEXT NOT NULL, planner_email TEXT NOT NULL, UNIQUE (project, script_hash));
        INSERT INTO sqitch.projects VALUES ('flipr', 'https://example.com/flipr/', now(), 'Ada', 'ada@example.com');
      ]])
      for i, ch in ipairs(changes) do
        local raw = H.read(dir .. "/deploy/" .. ch .. ".sql")
        c:script(raw, { name = ch })                     -- its own BEGIN ... COMMIT, as psql runs it
        c:query([[INSERT INTO sqitch.changes (change_id, script_hash, change, project, committer_name,
                    committer_email, planned_at, planner_name, planner_email)
                  VALUES ($1, $2, $3, 'flipr', 'Ada', 'ada@example.com', now(), 'Ada', 'ada@example.com')]],
                digest.sha1("change " .. i), digest.sha1(raw), (ch:gsub("@.*", "")))
      end
    end

    it("runs with its verify scripts as expectations, and rolls back", function()
      local pb = import(copy("sqitch"))
      local name = fresh("imp_sq")
      local r = migrun(name, { pb, "--yes" })
      assert.equal(0, r.status, r.output)
      assert.equal("flips,users", tables(name, "flipr"))
      assert.equal(1, H.one(name, "SELECT count(*) FROM pg_proc WHERE prosrc LIKE '%lower($1)%'"))
      r = H.migrun({ "rollback", "--db", H.conninfo(name), pb, "--yes" })
      assert.equal(0, r.status, r.stdout .. r.stderr)
      assert.equal(0, H.one(name, "SELECT count(*) FROM pg_namespace WHERE nspname = 'flipr'"))
    end)

    it("fails a phase whose verify script raises, and rolls it back", function()
      local dir = copy("sqitch")
      H.write(dir .. "/verify/flips.sql", "SELECT 1/count(*) FROM pg_tables WHERE tablename = 'nope';\n")
      local pb = import(dir)
      local name = fresh("imp_sqv")
      local r = migrun(name, { pb, "--yes" })
      assert.equal(1, r.status, r.output)
      assert.matches("sqitch verify verify/flips.sql", r.output, 1, true)
      assert.equal(0, H.one(name, "SELECT count(*) FROM pg_tables WHERE tablename = 'flips'"))
    end)

    it("adopts sqitch.changes, and the next run applies only the rest", function()
      local dir = copy("sqitch")
      local name = fresh("ad_sq")
      sqitch_deploy(name, dir, { "appschema", "users", "insert_user@v1.0.0-dev1" })
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 3 migrations as applied", r.output, 1, true)
      assert.not_matches("has changed since", r.output, 1, true)
      r = migrun(name, { dir .. "/playbook.lua", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("phase insert_user@v1.0.0-dev1  skipped", r.output, 1, true)
      assert.matches("phase flips  applied", r.output, 1, true)
    end)

    it("says which applied script changed since it was deployed", function()
      local dir = copy("sqitch")
      local name = fresh("ad_sqc")
      sqitch_deploy(name, dir, { "appschema" })
      H.write(dir .. "/deploy/appschema.sql", H.read(dir .. "/deploy/appschema.sql") .. "-- edited\n")
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("appschema has changed since", r.output, 1, true)
    end)

    it("refuses (exit 2) a registry with a change the plan lacks", function()
      local dir = copy("sqitch")
      local name = fresh("ad_squ")
      sqitch_deploy(name, dir, { "appschema" })
      exec(name, [[INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email,
                   planned_at, planner_name, planner_email) VALUES ('x', 'gone', 'flipr', 'a', 'a', now(), 'a', 'a')]])
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(2, r.status, r.output)
      assert.matches("change gone", r.output, 1, true)
    end)

    it("deployed by sqitch itself, then adopted", function()
      if not on_path("sqitch") then
        pending("sqitch is not installed (apt-get install sqitch libdbd-pg-perl)")
        return
      end
      local dir = copy("sqitch")
      local name = fresh("ad_sqr")
      local e = H.pgenv()
      local target = string.format("db:pg://%s@/%s?host=%s&port=%s", e.PGUSER, name, e.PGHOST, e.PGPORT)
      local p = require("migrun.proc").run({ "sqitch", "deploy", "--to", "@v1.0.0-dev1", target },
        { cwd = dir, env = { SQITCH_FULLNAME = "Spec", SQITCH_EMAIL = "spec@example.com", HOME = H.tmpdir() } })
      assert.is_true(p.ok, p.stdout .. p.stderr)
      local r = cli("import", name, { dir, "--adopt", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("recorded 3 migrations as applied", r.output, 1, true)
      r = migrun(name, { dir .. "/playbook.lua", "--yes" })
      assert.equal(0, r.status, r.output)
      assert.matches("phase insert_user  applied", r.output, 1, true)
    end)
  end)

  describe("the command line", function()
    it("refuses (exit 2) to replace a playbook, and a folder that is not one", function()
      local dir = copy("dbmate")
      import(dir)
      local r = H.migrun({ "import", dir })
      assert.equal(2, r.status)
      assert.matches("already exists", r.stderr, 1, true)
      r = H.migrun({ "import", dir .. "/nope" })
      assert.equal(2, r.status)
    end)

    it("says what it wrote as JSON, the result last", function()
      local dir = copy("golang_migrate")
      local r = H.migrun({ "import", dir, "--json" })
      assert.equal(0, r.status, r.stderr)
      local events = {}
      for line in r.stdout:gmatch("[^\n]+") do events[#events + 1] = json.decode(line) end
      local data
      for _, e in ipairs(events) do if e.event == "import" then data = e end end
      assert.equal("golang-migrate", data.tool)
      assert.equal(4, data.phases)
      assert.same({ "3 users lower username idx" }, data.no_rollback)
      assert.equal("result", events[#events].event)
      assert.equal(0, events[#events].exit)
    end)

    it("answers no to adoption without a terminal or --yes (exit 4), recording nothing", function()
      local dir = copy("golang_migrate")
      local name = fresh("ad_cli")
      exec(name, [[CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null);
                   CREATE TABLE users (id int); INSERT INTO schema_migrations VALUES (1, false)]])
      local r = cli("import", name, { dir, "--adopt" })
      assert.equal(4, r.status, r.output)
      assert.equal("", applied(name, "golang_migrate"))
    end)
  end)
end)
