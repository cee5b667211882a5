-- backup_spec: verified pg_dump backups, restores and COPY table snapshots against the harness
-- server, with the real pg_dump/pg_restore. Failure paths first.
local H = require "helper"
local backup = require "migrun.backup"
local proc = require "migrun.proc"
local lfs = require "lfs"
local cjson = require "cjson"

local PASSWORD = "s3cr3t-Pa55-xyz"

-- every entry of a directory, hidden ones included
local function entries(dir)
  local out = {}
  for e in lfs.dir(dir) do
    if e ~= "." and e ~= ".." then out[#out + 1] = e end
  end
  table.sort(out)
  return out
end

local function pgenv(dbname)
  local env = {}
  for k, v in pairs(H.pgenv()) do env[k] = v end
  if dbname then env.PGDATABASE = dbname end
  return env
end

local function sh(argv, opts)
  local r = proc.run(argv, opts)
  assert(r.ok, (r.stderr or "") .. (r.stdout or ""))
  return r
end

local function script(path, text)
  H.write(path, "#!/bin/sh\n" .. text)
  sh({ "chmod", "700", path })
  return path
end

-- the schema as pg_dump prints it, comments and the random \restrict key left out
local function schema_of(dbname)
  local r = sh({ "pg_dump", "--schema-only", "--no-owner", dbname }, { env = pgenv() })
  local lines = {}
  for line in r.stdout:gmatch("[^\n]+") do
    if not line:find("^%-%-") and not line:find("^\\restrict") and not line:find("^\\unrestrict") then
      lines[#lines + 1] = line
    end
  end
  return table.concat(lines, "\n")
end

-- {["schema.table"] = {n, fp}} for every user table: row count and content fingerprint
local function contents(dbname)
  local c <close> = H.connect(dbname)
  local out = {}
  local tables = c:query([[SELECT format('%I.%I', schemaname, tablename) AS q FROM pg_tables
                           WHERE schemaname NOT IN ('pg_catalog', 'information_schema')]])
  for i = 1, tables.n do
    local q = tables[i].q
    out[q] = c:query(string.format(
      "SELECT count(*) AS n, md5(string_agg(t::text, ',' ORDER BY t::text)) AS fp FROM %s t", q))[1]
  end
  return out
end

local FIXTURE = [[
  CREATE SCHEMA "Sales";
  CREATE TABLE customers (id int PRIMARY KEY, name text UNIQUE, joined date);
  CREATE TABLE "Sales"."Orders" (id serial PRIMARY KEY, "Customer" int REFERENCES customers(id),
    total numeric(10,2), placed timestamptz DEFAULT '2024-01-01', tags text[], meta jsonb);
  CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id int NOT NULL REFERENCES "Sales"."Orders"(id), qty int CHECK (qty > 0),
    price numeric, line_total numeric GENERATED ALWAYS AS (qty * price) STORED);
  CREATE INDEX items_order ON items (order_id);
  CREATE TABLE blobs (id int PRIMARY KEY, data bytea, note text);
  CREATE VIEW order_totals AS SELECT order_id, sum(line_total) AS total FROM items GROUP BY 1;
  CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i + 1';
  INSERT INTO customers SELECT g, 'customer ' || g, date '2020-01-01' + g FROM generate_series(1, 300) g;
  INSERT INTO "Sales"."Orders" ("Customer", total, tags, meta)
    SELECT 1 + g % 300, g * 1.5, ARRAY['a' || g, NULL], jsonb_build_object('g', g, 'ü', 'ñ')
    FROM generate_series(1, 2000) g;
  INSERT INTO items (order_id, qty, price) SELECT 1 + g % 2000, 1 + g % 7, g % 100
    FROM generate_series(1, 5000) g;
  INSERT INTO blobs SELECT g, decode(md5(g::text), 'hex'), CASE WHEN g % 3 = 0 THEN NULL
    ELSE E'line\nwith\ttabs and \\ and ''quotes''' END FROM generate_series(1, 500) g;
]]

local function fixture_db(prefix)
  local name = H.fresh_db(prefix)
  local c <close> = H.connect(name)
  c:exec(FIXTURE)
  return name
end

local function expect_error(kind, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_table(err, tostring(err))
  assert.equal(kind, err.kind, tostring(err))
  return err
end

describe("backup", function()
  local src, dir

  setup(function()
    src = fixture_db("bk_src")
  end)

  teardown(function()
    H.drop_db(src)
  end)

  before_each(function()
    dir = H.tmpdir()
  end)

  after_each(function()
    H.rmtree(dir)
  end)

  describe("the pg_dump command line", function()
    it("never carries the password: it goes to PGPASSWORD (URL form)", function()
      local argv, env = backup.dump_command(
        "postgresql://alice:" .. PASSWORD .. "@db.example.com:6543/app?sslmode=require")
      for _, a in ipairs(argv) do assert.is_nil(a:find(PASSWORD, 1, true), a) end
      assert.equal(PASSWORD, env.PGPASSWORD)
      local dbname = table.concat(argv, " ")
      assert.truthy(dbname:find("host='db.example.com'", 1, true))
      assert.truthy(dbname:find("port='6543'", 1, true))
      assert.truthy(dbname:find("user='alice'", 1, true))
      assert.truthy(dbname:find("dbname='app'", 1, true))
      assert.truthy(dbname:find("sslmode='require'", 1, true))
      assert.truthy(dbname:find("--no-password", 1, true))
      assert.truthy(dbname:find("--format=custom", 1, true))
    end)

    it("never carries the password: conninfo form, quotes and backslashes kept", function()
      local argv, env = backup.dump_command([[host=h dbname='my db' password='it\'s \\ x' user=u]])
      for _, a in ipairs(argv) do
        assert.is_nil(a:find("password=", 1, true), a)
        assert.is_nil(a:find("it's", 1, true), a)
      end
      assert.equal([[it's \ x]], env.PGPASSWORD)
      assert.truthy(table.concat(argv, " "):find("dbname='my db'", 1, true))
    end)

    it("has no PGPASSWORD when the target has no password", function()
      local _, env = backup.dump_command("host=/tmp dbname=x")
      assert.is_nil(env.PGPASSWORD)
    end)

    it("refuses sslpassword, which could only travel on the command line", function()
      expect_error("usage", backup.dump_command, "host=h sslpassword=x dbname=y")
    end)

    it("reports a malformed target without quoting a password", function()
      local err = expect_error("usage", backup.dump_command, "host=h password=" .. PASSWORD .. " 'oops")
      assert.is_nil(tostring(err):find(PASSWORD, 1, true))
    end)

    it("reaches the real pg_dump with the password in its environment only", function()
      local role = "bk_pw_" .. require("migrun.core.sys").getpid()
      local admin <close> = H.connect()
      admin:exec("DROP ROLE IF EXISTS " .. role)
      admin:exec("CREATE ROLE " .. role .. " LOGIN PASSWORD '" .. PASSWORD .. "'")
      admin:exec("GRANT pg_read_all_data TO " .. role)
      local fake = script(dir .. "/pg_dump", string.format([[
printf '%%s\n' "$@" >> %s/argv.txt
[ -n "$PGPASSWORD" ] && echo set > %s/pw.txt
exec %s "$@"
]], dir, dir, require("migrun.pg").tool("pg_dump")))
      local url = string.format("postgresql://%s:%s@127.0.0.1:%s/%s", role, PASSWORD,
                                H.pgenv().PGPORT, src)
      local out = dir .. "/out"
      local ok, info = pcall(backup.dump, url, { dir = out, pg_dump = fake, progress = false })
      admin:exec("DROP ROLE IF EXISTS " .. role)   -- its connections are gone: the dump is over
      assert(ok, tostring(info))
      local argv = H.read(dir .. "/argv.txt")
      assert.is_nil(argv:find(PASSWORD, 1, true))
      assert.truthy(argv:find("user='" .. role .. "'", 1, true))
      assert.equal("set\n", H.read(dir .. "/pw.txt"))
      assert.is_nil(H.read(info.manifest):find(PASSWORD, 1, true))
      assert.is_true(info.verified)
    end)
  end)

  describe("dump failures leave nothing that looks like a backup", function()
    it("a database that does not exist: connection error, empty directory", function()
      local err = expect_error("connection", backup.dump, H.conninfo("no_such_db_bk"),
                               { dir = dir, progress = false })
      assert.equal("no_such_db_bk", err.dbname)
      assert.same({}, entries(dir))
    end)

    it("pg_dump itself failing: permission denied on a table", function()
      local role = "bk_weak_" .. require("migrun.core.sys").getpid()
      local admin <close> = H.connect(src)
      admin:exec("DROP ROLE IF EXISTS " .. role)
      admin:exec("CREATE ROLE " .. role .. " LOGIN")
      admin:exec("GRANT SELECT ON customers TO " .. role)
      local ok, err = pcall(backup.dump,
        string.format("%s user=%s", H.conninfo(src), role), { dir = dir, progress = false })
      admin:exec("DROP OWNED BY " .. role)
      admin:exec("DROP ROLE " .. role)
      assert.is_false(ok)
      assert.equal("environment", err.kind, tostring(err))
      assert.equal("pg_dump_failed", err.reason)
      assert.same({}, entries(dir))
    end)

    it("pg_dump dying half way through the stream: the partial file is removed", function()
      local real = require("migrun.pg").tool("pg_dump")
      local fake = script(dir .. "/pg_dump", string.format([[
%s "$@" | head -c 30000
exit 1
]], real))
      local out = dir .. "/out"
      local err = expect_error("environment", backup.dump, H.conninfo(src),
                               { dir = out, pg_dump = fake, progress = false })
      assert.equal("pg_dump_failed", err.reason)
      assert.same({}, entries(out))
    end)

    it("a stream that does not read back (pg_dump exits 0 with garbage)", function()
      local fake = script(dir .. "/pg_dump", "printf 'PGDMP but not really a dump'\n")
      local out = dir .. "/out"
      local err = expect_error("environment", backup.dump, H.conninfo(src),
                               { dir = out, pg_dump = fake, progress = false })
      assert.equal("verify_failed", err.reason)
      assert.same({}, entries(out))
    end)

    it("refuses jobs > 1 (parallel pg_dump can't be verified as it streams)", function()
      expect_error("usage", backup.dump, { dir = dir, jobs = 4 })
      expect_error("usage", backup.dump, H.conninfo(src), { dir = dir, jobs = 2 })
      assert.same({}, entries(dir))
    end)

    it("refuses unknown options and bad values", function()
      expect_error("usage", backup.dump, { dir = dir, kepe = 2 })
      expect_error("usage", backup.dump, { dir = dir, keep = 0 })
      expect_error("usage", backup.dump, { dir = dir, compress = 11 })
    end)
  end)

  describe("verify and restore refuse what can't be trusted", function()
    local file

    before_each(function()
      file = backup.dump(H.conninfo(src), { dir = dir, progress = false }).file
    end)

    local function flip_middle(path)
      local data = H.read(path)
      local mid = #data // 2
      local b = data:byte(mid)
      H.write(path, data:sub(1, mid - 1) .. string.char(b ~ 0x01) .. data:sub(mid + 1))
    end

    it("a byte flipped in the middle: corrupt", function()
      flip_middle(file)
      local ok, err = backup.verify(file)
      assert.is_false(ok)
      assert.equal("environment", err.kind)
      assert.equal("corrupt", err.reason)
      local into = "bk_never_" .. require("migrun.core.sys").getpid()
      local rerr = expect_error("environment", backup.restore, file, { into = into,
                                target = H.conninfo(), progress = false })
      assert.equal("corrupt", rerr.reason)
      local c <close> = H.connect()
      assert.equal(0, c:query("SELECT 1 FROM pg_database WHERE datname = $1", into).n)
    end)

    it("a truncated file: truncated (though pg_restore --list still accepts it)", function()
      local data = H.read(file)
      H.write(file, data:sub(1, #data * 2 // 3))
      local list = proc.run({ require("migrun.pg").tool("pg_restore"), "--list", file })
      assert.is_true(list.ok)                        -- why --list is not a verification
      local ok, err = backup.verify(file)
      assert.is_false(ok)
      assert.equal("truncated", err.reason)
      local rerr = expect_error("environment", backup.restore, file,
                                { into = "bk_never_t", target = H.conninfo(), progress = false })
      assert.equal("truncated", rerr.reason)
    end)

    it("a damaged file whose checksum was forged too: the full read refuses it", function()
      flip_middle(file)
      local sha = require("migrun.hash").sha256_file(file)
      os.remove(file .. ".sha256")
      H.write(file .. ".sha256", sha .. "  " .. file:match("[^/]+$") .. "\n")
      local ok, err = backup.verify(file)
      assert.is_false(ok)
      assert.equal("unreadable", err.reason)
    end)

    it("no checksum file: refused", function()
      os.remove(file .. ".sha256")
      local ok, err = backup.verify(file)
      assert.is_false(ok)
      assert.equal("no_checksum", err.reason)
      expect_error("environment", backup.restore, file, { into = "bk_never_n", target = H.conninfo() })
    end)

    it("a missing file: false, reason missing", function()
      local ok, err = backup.verify(dir .. "/nope.dump")
      assert.is_false(ok)
      assert.equal("missing", err.reason)
    end)

    it("an intact file verifies", function()
      local ok, info = backup.verify(file, { progress = false })
      assert.is_true(ok, tostring(info))
      assert.equal(lfs.attributes(file, "size"), info.size)
    end)

    it("restore needs a destination, and into excludes clean", function()
      expect_error("usage", backup.restore, file, {})
      expect_error("usage", backup.restore, file, { into = "x", clean = true })
      expect_error("usage", backup.restore, file, { into = "x", bogus = 1 })
    end)

    it("restore into an existing database is refused", function()
      expect_error("usage", backup.restore, file, { into = src, target = H.conninfo() })
    end)

    it("a checksum the caller says it checked is not trusted when it is not the file's", function()
      flip_middle(file)
      local rerr = expect_error("environment", backup.restore, file, { into = "bk_never_c",
        target = H.conninfo(), checked = string.rep("0", 64), progress = false })
      assert.equal("corrupt", rerr.reason)
    end)

    it("restores into a new database with --jobs, over an existing one in one transaction", function()
      local log = dir .. "/pg_restore.argv"
      local fake = script(dir .. "/pg_restore", "echo \"$@\" > " .. log .. "; cat > /dev/null; exit 1\n")
      local sys = require "migrun.core.sys"
      local jobs = math.min(sys.cpus(), 8)
      expect_error("environment", backup.restore, file, { into = "bk_jobs_" .. sys.getpid(),
        target = H.conninfo(), pg_restore = fake, progress = false })
      assert.truthy(H.read(log):find(jobs > 1 and ("--jobs=" .. jobs) or "--single-transaction", 1, true))
      expect_error("environment", backup.restore, file, { into = "bk_jobs1_" .. sys.getpid(),
        target = H.conninfo(), pg_restore = fake, jobs = 1, progress = false })
      assert.truthy(H.read(log):find("--single-transaction", 1, true))
      expect_error("environment", backup.restore, file, { target = H.conninfo(src), clean = true,
        pg_restore = fake, progress = false })
      local args = H.read(log)
      assert.truthy(args:find("--single-transaction", 1, true))
      assert.falsy(args:find("--jobs", 1, true))
    end)

    it("a failing pg_restore drops the database it created", function()
      local fake = script(dir .. "/pg_restore", "cat > /dev/null; echo 'boom' >&2; exit 1\n")
      local into = "bk_fail_" .. require("migrun.core.sys").getpid()
      local err = expect_error("environment", backup.restore, file,
        { into = into, target = H.conninfo(), pg_restore = fake, progress = false })
      assert.equal("restore_failed", err.reason)
      local c <close> = H.connect()
      assert.equal(0, c:query("SELECT 1 FROM pg_database WHERE datname = $1", into).n)
    end)
  end)

  describe("a dump", function()
    it("is published with its sha256 (sha256sum format) and a manifest", function()
      local info = backup.dump(H.conninfo(src), { dir = dir, progress = false })
      assert.is_true(info.verified)
      assert.truthy(info.file:match("/migrun%-" .. src .. "%-%d+T%d+Z%.dump$"))
      assert.equal(lfs.attributes(info.file, "size"), info.size)
      assert.equal(require("migrun.hash").sha256_file(info.file), info.sha256)
      assert.is_true(info.seconds >= 0)
      sh({ "sha256sum", "--check", "--quiet", info.file:match("[^/]+$") .. ".sha256" }, { cwd = dir })
      local m = cjson.decode(H.read(info.file .. ".json"))
      assert.equal(src, m.database)
      assert.equal(info.size, m.size)
      assert.equal(info.sha256, m.sha256)
      assert.truthy(m.server_version:match("^%d+"))
      assert.is_number(m.seconds)
      assert.is_true(m.snapshot_consistent)
      local rows = {}
      for _, t in ipairs(m.tables) do rows[t.schema .. "." .. t.name] = t.rows end
      assert.same({ ["public.customers"] = 300, ["Sales.Orders"] = 2000, ["public.items"] = 5000,
                    ["public.blobs"] = 500 }, rows)
      -- only the three files, nothing hidden left behind; the dump is private
      assert.equal(3, #entries(dir))
      assert.equal("rw-------", lfs.attributes(info.file, "permissions"):sub(1, 9))
    end)

    it("round-trips: the restored database equals the original", function()
      local info = backup.dump(H.conninfo(src), { dir = dir, progress = false })
      local into = "bk_copy_" .. require("migrun.core.sys").getpid()
      H.drop_db(into)
      local r = backup.restore(info.file, { into = into, target = H.conninfo(), progress = false })
      assert.equal(into, r.database)
      assert.equal(schema_of(src), schema_of(into))
      assert.same(contents(src), contents(into))
      local c <close> = H.connect(into)
      assert.equal(5001, c:query("SELECT add_one(5000) AS v")[1].v)
      c:close()
      H.drop_db(into)
    end)

    it("restores over its target with clean = true, undoing later changes", function()
      local name = fixture_db("bk_clean")
      local info = backup.dump(H.conninfo(name), { dir = dir, progress = false })
      local before_schema, before = schema_of(name), contents(name)
      do
        local c <close> = H.connect(name)
        c:exec([[DELETE FROM items WHERE id % 2 = 0; UPDATE customers SET name = name || '!';
                 DROP VIEW order_totals; ALTER TABLE blobs ADD COLUMN extra int;
                 CREATE TABLE newer (x int)]])
      end
      assert.are_not.same(before, contents(name))
      backup.restore(info.file, { target = H.conninfo(name), clean = true, progress = false })
      do                                             -- not in the dump: --clean leaves it
        local c <close> = H.connect(name)
        c:exec("DROP TABLE newer")
      end
      assert.same(before, contents(name))
      assert.equal(before_schema, schema_of(name))
      H.drop_db(name)
    end)

    it("restores in parallel from the same file (jobs)", function()
      local info = backup.dump(H.conninfo(src), { dir = dir, progress = false })
      local into = "bk_par_" .. require("migrun.core.sys").getpid()
      H.drop_db(into)
      backup.restore(info.file, { into = into, target = H.conninfo(), jobs = 2, progress = false })
      assert.same(contents(src), contents(into))
      H.drop_db(into)
    end)

    it("keeps the newest `keep` dumps of this database and touches nothing else", function()
      local small = H.fresh_db("bk_keep")
      do
        local c <close> = H.connect(small)
        c:exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
      end
      local others = { "notes.dump", "migrun-otherdb-20200101T000000Z.dump",
                       "migrun-" .. small .. "-garbage.dump", "migrun-" .. small .. "-20200101T000000Z.dump.bak" }
      for _, f in ipairs(others) do H.write(dir .. "/" .. f, "x") end
      local spec = backup.dump { dir = dir, keep = 2, progress = false }
      assert.truthy(spec:describe():find("keep 2", 1, true))
      local made = {}
      for i = 1, 3 do made[i] = spec:take(H.conninfo(small)) end
      assert.same({ made[1].file }, made[3].pruned)
      assert.is_nil(lfs.attributes(made[1].file))
      assert.is_nil(lfs.attributes(made[1].file .. ".sha256"))
      assert.is_nil(lfs.attributes(made[1].file .. ".json"))
      for i = 2, 3 do
        assert.is_true((backup.verify(made[i].file)))
      end
      for _, f in ipairs(others) do assert.equal("x", H.read(dir .. "/" .. f)) end
      local listed = backup.list(dir, small)
      assert.equal(2, #listed)
      assert.equal(made[3].file, listed[1].file)
      H.drop_db(small)
    end)

    it("removes temp files left by a killed migrun, not those of a live one", function()
      local pid = require("migrun.core.sys").getpid()
      local child = proc.run({ "sh", "-c", "echo $$" })   -- a finished child: a dead pid
      local stale = ".migrun-" .. src .. "-20200101T000000Z.dump.partial-" .. child.stdout:match("%d+")
      local live = ".migrun-" .. src .. "-20200101T000000Z.dump.partial-" .. pid
      H.write(dir .. "/" .. stale, "x")
      H.write(dir .. "/" .. live, "x")
      H.write(dir .. "/.other.partial-1", "x")
      backup.dump(H.conninfo(src), { dir = dir, progress = false, counts = false })
      assert.is_nil(lfs.attributes(dir .. "/" .. stale))
      assert.equal("x", H.read(dir .. "/" .. live))
      assert.equal("x", H.read(dir .. "/.other.partial-1"))
    end)

    it("takes a connection as the target, and the runner's context table", function()
      local c <close> = H.connect(src)
      local info = backup.dump(c, { dir = dir, progress = false, counts = "estimate" })
      assert.is_true(info.verified)
      assert.equal("idle", c:status())
      local spec = backup.dump { dir = "sub", progress = false, counts = false }
      local info2 = spec:take({ db = c, conninfo = H.conninfo(src), dir = dir })
      assert.equal(dir .. "/sub", info2.file:match("^(.*)/[^/]+$"))
      assert.same({}, info2.tables)
    end)
  end)
end)

describe("backup.tables", function()
  local name, c, dir

  before_each(function()
    name = fixture_db("bk_tables")
    c = H.connect(name)
    dir = H.tmpdir()
  end)

  after_each(function()
    c:close()
    H.drop_db(name)
    H.rmtree(dir)
  end)

  local function fingerprints()
    local all = contents(name)
    return { all['"Sales"."Orders"'], all["public.items"], all["public.customers"] }
  end

  it("refuses a table that does not exist, naming it", function()
    local err = expect_error("usage", backup.tables, c, { "customers", "Sales.orders" }, { dir = dir })
    assert.truthy(tostring(err):find("Sales.orders", 1, true))
    assert.same({}, entries(dir))
  end)

  it("round-trips a mixed-case schema-qualified table and its FK neighbours", function()
    local before = fingerprints()
    -- children listed before parents: the restore orders them itself
    local snap = backup.tables(c, { "items", "Sales.Orders", '"public"."customers"' },
                               { dir = dir, progress = false })
    assert.equal(3, #snap.tables)
    assert.equal("Sales", snap.tables[2].schema)
    assert.equal("Orders", snap.tables[2].name)
    assert.equal(2000, snap.tables[2].rows)
    assert.equal(5000, snap.tables[1].rows)
    sh({ "sha256sum", "--check", "--quiet", "SHA256SUMS" }, { cwd = snap.dir })
    c:exec([[DELETE FROM items WHERE qty = 3; UPDATE "Sales"."Orders" SET total = 0 WHERE id < 50;
             INSERT INTO customers VALUES (1000, 'new', NULL)]])
    assert.are_not.same(before, fingerprints())
    local r = backup.restore_tables(c, snap)
    assert.equal(3, r.tables)
    assert.equal(7300, r.rows)
    assert.same(before, fingerprints())
    -- generated columns were recomputed, the identity column kept its values
    assert.equal(0, c:query("SELECT count(*) AS n FROM items WHERE line_total IS DISTINCT FROM qty * price")[1].n)
    -- the snapshot reloads from its directory, in another process as well
    local again = backup.load_snapshot(snap.dir)
    c:exec([[DELETE FROM items]])
    backup.restore_tables(c, again.dir)
    assert.same(before, fingerprints())
  end)

  it("the declarative form takes and restores", function()
    local spec = backup.tables { '"Sales"."Orders"', "items", dir = dir, progress = false }
    assert.truthy(spec:describe():find("Sales.Orders", 1, true))
    local snap = spec:take(c)
    local before = fingerprints()
    c:exec([[UPDATE "Sales"."Orders" SET tags = NULL]])
    spec:restore(c, snap)
    assert.same(before, fingerprints())
  end)

  it("refuses a corrupt snapshot file and leaves the table as it is", function()
    local snap = backup.tables(c, { "customers" }, { dir = dir, progress = false })
    c:exec("DELETE FROM customers WHERE id > 100 AND id NOT IN (SELECT \"Customer\" FROM \"Sales\".\"Orders\")")
    local now = fingerprints()
    local path = snap.dir .. "/" .. snap.tables[1].file
    local data = H.read(path)
    H.write(path, data:sub(1, 100) .. string.char(data:byte(101) ~ 0xff) .. data:sub(102))
    local err = expect_error("environment", backup.restore_tables, c, snap)
    assert.equal("corrupt", err.reason)
    H.write(path, data:sub(1, #data - 10))
    err = expect_error("environment", backup.restore_tables, c, snap)
    assert.equal("truncated", err.reason)
    assert.same(now, fingerprints())
  end)

  it("rolls the TRUNCATE back when a COPY fails (all or nothing)", function()
    local snap = backup.tables(c, { "items", "blobs" }, { dir = dir, progress = false })
    c:exec("DELETE FROM items WHERE qty = 2; ALTER TABLE blobs ADD COLUMN must int NOT NULL DEFAULT 1")
    c:exec("ALTER TABLE blobs ALTER COLUMN must DROP DEFAULT")
    local now = contents(name)
    local err = expect_error("sql", backup.restore_tables, c, snap)
    assert.equal("23502", err.sqlstate)             -- not_null_violation: the new column
    assert.same(now, contents(name))
    assert.equal("idle", c:status())
  end)
end)
