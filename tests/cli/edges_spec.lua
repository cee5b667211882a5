-- The engine's edges (issue "Trust II"): lock waits and INVALID indexes, budgets that hold
-- while a step runs, drift over the whole history, records of gates and backups, refusals
-- before anything is touched, and messages that are exact. Against the harness server;
-- faults that restart a server live in tests/faults.
local H = require "helper"
local cjson = require "cjson"
local lfs = require "lfs"
local proc = require "migrun.proc"

local FIX = H.source .. "/tests/fixtures/shop"
local PB = FIX .. "/shop.lua"
local run = H.run_db

local function fresh()
  local name = H.fresh_db("edge")
  H.load(name, FIX .. "/before.sql")
  return name
end

local function query(dbname, sql, ...)
  local c <close> = H.connect(dbname)
  return c:query(sql, ...)
end

local function playbook(text)
  local dir = H.tmpdir()
  H.write(dir .. "/pb.lua", text)
  return dir .. "/pb.lua", dir
end

local function copy_shop()
  local dir = H.tmpdir()
  H.copy_tree(FIX, dir .. "/shop")
  return dir .. "/shop"
end

local function invalid_indexes(name)
  return query(name, "SELECT count(*) AS n FROM pg_index WHERE NOT indisvalid")[1].n
end

describe("CREATE INDEX CONCURRENTLY", function()
  it("waiting behind an open transaction: the cleanup is retried too, and no INVALID index is left", function()
    local pb = playbook([=[
playbook "cic" {
  lock_timeout = "300ms",
  phase "index" {
    transaction = false,
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_total_idx ON orders (total)]],
    verify = { expect.index("orders", { "total" }) },
  },
}]=])
    local name = fresh()
    -- an open transaction that has touched orders: the build waits for it, times out
    local holder = proc.spawn({ "psql", "-X", "-q", "-d", H.conninfo(name), "-c",
      "BEGIN; SELECT count(*) FROM orders; SELECT pg_sleep(2.5); COMMIT;" }, { stdout = "null", stderr = "null" })
    local admin <close> = H.connect(name)
    H.eventually(function()
      return admin:query([[SELECT 1 FROM pg_stat_activity
                           WHERE query LIKE '%pg_sleep(2.5)%' AND pid <> pg_backend_pid()]]).n > 0
    end)
    local r = run(name, { pb })
    holder:wait(10000)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("lock_not_available", 1, true), r.stdout)
    assert.equal(0, invalid_indexes(name))
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_class WHERE relname = 'orders_total_idx'")[1].n)
  end)

  it("a failed unique build drops its INVALID index at once, and says it was the failed build", function()
    local pb = playbook([=[
playbook "uniq" {
  phase "index" {
    transaction = false,
    sql [[CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_uq ON orders (customer_id)]],
  },
}]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("23505", 1, true))
    assert.truthy(r.stdout:find("left by the failed build", 1, true), r.stdout)
    assert.is_nil(r.stdout:find("interrupted CREATE INDEX", 1, true), r.stdout)
    assert.equal(0, invalid_indexes(name))
  end)
end)

describe("budgets hold while a step runs", function()
  it("a Lua step that never ends is stopped at its budget", function()
    local pb = playbook([=[
playbook "spin" {
  phase "spin" { step "forever" (function() while true do end end, { budget = "1s" }) },
}]=])
    local name = fresh()
    local t, r = H.elapsed(function() return run(name, { pb }) end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("step forever was stopped at its budget of 1s", 1, true), r.stderr)
    assert.truthy(t < 60, "took " .. t .. "s")       -- it ends: before the fix it never did
  end)

  it("SQL run by a Lua step gets the budget's statement_timeout", function()
    local pb = playbook([=[
playbook "sleepy" {
  phase "sleep" { step "sleep" (function(db) db:query("SELECT pg_sleep(30)") end, { budget = "1s" }) },
}]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("was stopped at its budget of 1s", 1, true), r.stderr)
  end)

  it("counts an SQL step's budget over all its statements: the second gets what the first left", function()
    -- each statement alone fits the budget; the two do not. Before, each got the whole budget,
    -- both ran, and the step failed only afterwards ("took 1.2s, over its budget")
    local pb = playbook([=[
playbook "two sleeps" {
  phase "sleep" { sql("SELECT pg_sleep(0.6); SELECT pg_sleep(0.6)", { name = "sleeps", budget = "1s" }) },
}]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("step sleeps was stopped at its budget of 1s", 1, true), r.stdout .. r.stderr)
  end)
end)

describe("a transaction = false step that fails half-way", function()
  -- a transaction = false phase of sql with its rollback, run once under on_failure = "stop"
  -- -> dbname, playbook, the run's result, the status of the step in the ledger
  local function stopped(sql, rollback)
    local name = fresh()
    local pb = playbook(string.format([=[
playbook "halfway" {
  on_failure = "stop",
  phase "tables" { transaction = false, sql [[%s]], rollback = sql [[%s]] },
}]=], sql, rollback))
    local r = run(name, { pb })
    local last = query(name, "SELECT status FROM migrun.steps WHERE kind = 'sql' ORDER BY id DESC LIMIT 1")[1]
    return name, pb, r, last.status
  end

  it("is recorded partly applied: the rollback verb undoes what its first statement committed", function()
    local name, pb, r, status = stopped(
      "CREATE TABLE first_half (id int); CREATE TABLE second_half (id int REFERENCES no_such_table (id))",
      "DROP TABLE IF EXISTS second_half; DROP TABLE IF EXISTS first_half")
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("failed (partly applied)", 1, true), r.stdout .. r.stderr)
    assert.equal("partly_applied", status)
    assert.truthy(query(name, "SELECT to_regclass('first_half') IS NOT NULL AS e")[1].e)
    r = run(name, { "rollback", "--yes", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("phase tables  rolled back", 1, true), r.stdout)
    assert.falsy(query(name, "SELECT to_regclass('first_half') IS NOT NULL AS e")[1].e)
  end)

  it("that committed nothing is failed, and there is nothing to roll back", function()
    local name, pb, r, status = stopped("CREATE TABLE broken (id int REFERENCES no_such_table (id))",
                                        "DROP TABLE IF EXISTS broken")
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.equal("failed", status)
    r = run(name, { "rollback", "--yes", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("nothing to roll back", 1, true), r.stdout)
  end)
end)

describe("drift covers the whole history", function()
  it("a renamed file, a removed phase and a phase inserted before applied ones are drift", function()
    local name = fresh()
    local shop = copy_shop()
    assert.equal(0, run(name, { shop .. "/shop.lua" }).status)
    local original = H.read(shop .. "/shop.lua")
    -- renamed: the same text under a new file name
    os.rename(shop .. "/sql/002_fk.sql", shop .. "/sql/002_foreign_key.sql")
    H.write(shop .. "/shop.lua", (original:gsub('sql "sql/002_fk.sql"', 'sql "sql/002_foreign_key.sql"')))
    local r = run(name, { shop .. "/shop.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("applied under another name (was 002 fk / sql/002_fk.sql)", 1, true), r.stderr)
    os.rename(shop .. "/sql/002_foreign_key.sql", shop .. "/sql/002_fk.sql")
    -- removed: an applied phase taken out of the playbook
    H.write(shop .. "/shop.lua", (original:gsub('phase "005 comment" %b{},', "")))
    r = run(name, { shop .. "/shop.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("005 comment / sql/005_comment.sql: applied, but no longer in the playbook", 1, true),
                  r.stderr)
    -- inserted: a new phase before applied ones would run out of order
    H.write(shop .. "/shop.lua", (original:gsub('  phase "002 fk"',
      '  phase "001b late" { sql [[CREATE INDEX late_idx ON orders (id)]] },\n  phase "002 fk"')))
    r = run(name, { shop .. "/shop.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("001b late / sql #1: new, and placed before steps that are already applied", 1, true),
                  r.stderr)
    -- --allow-drift runs it and records it; the next run is clean
    assert.equal(0, run(name, { "--allow-drift", shop .. "/shop.lua" }).status)
    assert.equal(0, run(name, { shop .. "/shop.lua" }).status)
  end)

  it("a long drift list is cut after ten lines, and says how to see them all", function()
    local name = fresh()
    local many, one = {}, {}
    for i = 1, 30 do
      many[#many + 1] = string.format('  phase "p%02d" { sql [[CREATE TABLE d%02d (id int)]], ' ..
                                      'rollback = sql [[DROP TABLE d%02d]] },', i, i, i)
    end
    one[1] = many[1]
    local pb = playbook('playbook "wide" {\n' .. table.concat(many, "\n") .. "\n}")
    assert.equal(0, run(name, { pb }).status)
    H.write(pb, 'playbook "wide" {\n' .. table.concat(one, "\n") .. "\n}")
    local r = run(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    local listed = select(2, r.stderr:gsub("applied, but no longer in the playbook", ""))
    assert.equal(10, listed, r.stderr)
    assert.truthy(r.stderr:find("... and 19 more (`migrun plan " .. pb .. "` lists them all)", 1, true), r.stderr)
    -- the plan lists all 29
    local p = run(name, { "plan", pb })
    assert.equal(29, select(2, p.stdout:gsub("applied, but no longer in the playbook", "")), p.stdout .. p.stderr)
  end)

  it("a ledger made by an older migrun gets the indexes that find a run's rows", function()
    local name = fresh()
    assert.equal(0, run(name, { PB }).status)
    query(name, [[DROP INDEX migrun.steps_run, migrun.expectations_run, migrun.calls_run,
                  migrun.watch_samples_run]])
    local pb = playbook([=[
playbook "later" { phase "one" { sql [[CREATE TABLE later (id int)]], rollback = sql [[DROP TABLE later]] } }]=])
    local r = run(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local idx = query(name, [[SELECT string_agg(i, ' ' ORDER BY i) AS i
                              FROM (SELECT indexrelid::regclass::text AS i FROM pg_index) x
                              WHERE i LIKE 'migrun.%_run']])[1].i
    assert.equal("migrun.calls_run migrun.expectations_run migrun.steps_run migrun.watch_samples_run", idx)
  end)

  it("a phase skipped with --only is not drift later", function()
    local name = fresh()
    assert.equal(0, run(name, { "--only", "003 status", PB }).status)
    local r = run(name, { PB })
    assert.equal(0, r.status, r.stdout .. r.stderr)
  end)
end)

describe("protect and resumed runs", function()
  it("protect of a table that does not exist is a playbook error before anything runs", function()
    local pb = playbook([=[
playbook "typo" { protect = { "audit_logs" }, phase "one" { sql [[CREATE TABLE typo_one (x int)]] } }]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("protect: there is no table audit_logs", 1, true), r.stderr)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'migrun'")[1].n)
  end)

  it("a resumed migration compares with the start of the run that began it, and the report says so", function()
    local name = fresh()
    local dir = H.tmpdir()
    assert.equal(0, run(name, { "--to", "002 fk", PB }).status)
    local c <close> = H.connect(name)
    c:exec("INSERT INTO audit_log (note) VALUES ('written between the runs')")
    local r = run(name, { "--report", dir .. "/r.md", PB })
    assert.equal(1, r.status, r.stdout .. r.stderr)    -- protect audit_log: a row appeared since run 1
    assert.truthy(r.stdout:find("resuming: comparisons are with the start of run 1", 1, true), r.stdout)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("since run 1 began", 1, true), md)
    assert.truthy(md:find("Before is the start of run 1, which began this migration.", 1, true), md)
  end)
end)

describe("gates", function()
  it("waiting at a gate is not the migration's time: a slow answer under a 1s run budget", function()
    local pb, dir = playbook([=[
playbook "slow answer" {
  budget = "1s",
  phase "before" { sql [[CREATE TABLE gb (x int)]] },
  gate "deployed?" { "Is the new application live?", "Smoke tests green?" },
  phase "after" { sql [[CREATE TABLE ga (x int)]] },
}]=])
    local name = fresh()
    local res = H.pty({ H.bin, "--db", H.conninfo(name), "--report", dir .. "/r.md", pb }, {
      { expect = "Is the new application live\\? \\[y/N\\]", timeout = 30 }, { pause = 2 }, { send = "y\r" },
      { expect = "Smoke tests green\\? \\[y/N\\]", timeout = 10 }, { send = "yes\r" },
    })
    if not res then return end
    assert.is_true(res.ok, tostring(res.error) .. "\n" .. tostring(res.output))
    assert.equal(0, res.status, res.output)
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'ga'")[1].n)
    local g = query(name, "SELECT answer, items::text AS items, waited_ms::float8 AS w FROM migrun.gates")[1]
    assert.equal("yes", g.answer)
    assert.truthy(g.w >= 2000, tostring(g.w))
    local items = cjson.decode(g.items)
    assert.equal("Smoke tests green?", items[2].question)
    assert.equal("yes", items[2].answer)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("waiting at gates", 1, true), md)
    assert.truthy(md:find("| deployed? | Is the new application live? | yes |", 1, true), md)
  end)

  it("a no at a terminal declines (exit 4), and the answer is recorded", function()
    local pb = playbook([=[
playbook "no" {
  phase "before" { sql [[CREATE TABLE nb (x int)]] },
  gate "go?" { "Proceed with the cut-over?" },
  phase "after" { sql [[CREATE TABLE na (x int)]] },
}]=])
    local name = fresh()
    local res = H.pty({ H.bin, "--db", H.conninfo(name), pb }, {
      { expect = "cut-over\\? \\[y/N\\]", timeout = 30 }, { send = "n\r" },
    })
    if not res then return end
    assert.equal(4, res.status, res.output)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'na'")[1].n)
    assert.equal("no", query(name, "SELECT answer FROM migrun.gates")[1].answer)
  end)
end)

describe("backups", function()
  it("prove = true restores the dump into a scratch database and counts every table", function()
    local shop = copy_shop()
    local dir = H.tmpdir()
    H.write(shop .. "/shop.lua", H.read(shop .. "/shop.lua"):gsub(
      'backup = var.backup_dir and backup.dump { dir = var.backup_dir } or nil,',
      'backup = backup.dump { dir = "' .. dir .. '", prove = true },'))
    local name = fresh()
    local r = run(name, { "--report", dir .. "/r.md", shop .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("Proven restorable: restored into the scratch database", 1, true), md)
    assert.truthy(md:find("the row counts of all %d+ tables %(%d+ rows%) match"), md)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_database WHERE datname LIKE '%_prove_%'")[1].n)
  end)

  it("rehearse clones from a dump taken now when the target is busy, and leaves no file behind", function()
    local name = fresh()
    local dir = H.tmpdir()
    local busy <close> = H.connect(name)             -- a template copy needs the target idle
    local r = run(name, { "rehearse", "--set", "backup_dir=" .. dir, PB })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("by restore of a verified dump taken now", 1, true), r.stdout)
    for f in lfs.dir(dir) do assert.truthy(f == "." or f == "..", "left behind: " .. f) end
    busy:close()
  end)

  it("restore --clean refuses a backup of another database, unless --other-database", function()
    local a, b = fresh(), fresh()
    local dir = H.tmpdir()
    assert.equal(0, run(a, { "backup", "--out", dir .. "/a.dump" }).status)
    local r = run(b, { "restore", "--clean", "--yes", dir .. "/a.dump" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("is a backup of database " .. a .. ", not of " .. b, 1, true), r.stderr)
    r = run(b, { "restore", "--clean", "--yes", "--other-database", dir .. "/a.dump" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("kept as " .. b .. "_replaced_", 1, true), r.stdout)
    local kept = query(b, "SELECT datname FROM pg_database WHERE datname LIKE $1", b .. "_replaced_%")[1].datname
    H.drop_db(kept)
  end)

  it("restore --clean puts back a database with partitioned tables", function()
    local name = H.fresh_db("edge")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE events (id int, at date NOT NULL, CONSTRAINT events_id_ck CHECK (id > 0))
               PARTITION BY RANGE (at);
             CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
             INSERT INTO events SELECT g, '2026-03-01' FROM generate_series(1, 100) g]])
    local dir = H.tmpdir()
    assert.equal(0, run(name, { "backup", "--out", dir .. "/p.dump" }).status)
    c:exec("DELETE FROM events WHERE id > 50")
    c:close()
    local r = run(name, { "restore", "--clean", "--yes", dir .. "/p.dump" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(100, query(name, "SELECT count(*) AS n FROM events")[1].n)
    local kept = query(name, "SELECT datname FROM pg_database WHERE datname LIKE $1", name .. "_replaced_%")[1].datname
    H.drop_db(kept)
  end)

  it("on_failure = restore finishes cleanly: reconnected, recorded, reported", function()
    local name = fresh()
    local dir = H.tmpdir()
    local r = run(name, { "--set", "broken=3", "--set", "policy=restore", "--set", "backup_dir=" .. dir,
                          "--report", dir .. "/r.md", PB })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.is_nil(r.stderr:find("closed", 1, true), r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("restored", doc.outcome.status)
    assert.equal("undone_by_restore", doc.outcome.states["001 email"])
    local kept = query(name, "SELECT datname FROM pg_database WHERE datname LIKE $1", name .. "_failed_%")[1].datname
    H.drop_db(kept)
  end)
end)

describe("refused before anything is touched", function()
  it("a playbook with a Lua syntax error, before connecting (exit 2, not 3)", function()
    local pb = playbook('playbook "broken" {\n  phase "one" { sql [[SELECT 1]] \n}\n')
    local r = H.migrun({ "--db", "host=/nonexistent/dir dbname=x", pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:", 1, true), r.stderr)
  end)

  it("a DSL typo names the file, the line and the closest name", function()
    local pb = playbook('playbook "typo" {\n  phsae "one" { sql [[SELECT 1]] },\n}\n')
    local r = H.migrun({ pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:2: unknown name 'phsae' (did you mean 'phase'?)", 1, true), r.stderr)
    pb = playbook('playbook "typo" {\n  phase "one" { sql [[SELECT 1]],\n    verify = { expect.cuont("t", 1) } },\n}\n')
    r = H.migrun({ pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:3: unknown expectation expect.cuont (did you mean 'count'?)", 1, true),
                  r.stderr)
  end)

  it("SQL holding a NUL byte (it would be cut there), inline or in a file", function()
    local pb, dir = playbook('playbook "nul" { phase "one" { sql "SELECT 1;\0 DROP TABLE orders" } }')
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("NUL byte at byte offset 9", 1, true), r.stderr)
    H.write(dir .. "/nul.sql", "SELECT 1;\0\n")
    H.write(pb, 'playbook "nul" { phase "one" { sql "nul.sql" } }')
    r = run(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("nul.sql holds a NUL byte", 1, true), r.stderr)
    local c <close> = H.connect(name)
    local ok, err = pcall(c.exec, c, "SELECT 1;\0 DROP TABLE orders")
    assert.is_false(ok)
    assert.equal("usage", err.kind)
    assert.equal(1, c:query("SELECT count(*) AS n FROM pg_class WHERE relname = 'orders'")[1].n)
  end)

  it("a name over 63 bytes, in the playbook or in its SQL", function()
    local long = string.rep("x", 64)
    local pb = playbook('playbook "long" { protect = { "' .. long .. '" }, phase "one" { sql [[SELECT 1]] } }')
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("64 bytes long", 1, true), r.stderr)
    pb = playbook('playbook "long" {\n  phase "one" {\n    sql [[CREATE TABLE ' .. long .. ' (x int)]],\n  },\n}\n')
    r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:3:", 1, true), r.stderr)
    assert.truthy(r.stderr:find("42622", 1, true), r.stderr)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'xxxxxxxx%'")[1].n)
  end)
end)

describe("messages", function()
  it("error { ... } raised by a Lua step reads as its fields, not table: 0x", function()
    local pb = playbook([=[
playbook "tbl" { phase "one" { step "raise" (function() error({ code = 7, why = "no quota" }) end) } }]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(1, r.status)
    assert.is_nil(r.stderr:find("table: 0x", 1, true), r.stderr)
    assert.truthy(r.stderr:find("code = 7", 1, true), r.stderr)
    assert.truthy(r.stderr:find("why = no quota", 1, true), r.stderr)
  end)

  it("an error in inline multi-line SQL names the failing statement's line, in either kind of phase", function()
    for _, tx in ipairs({ "true", "false" }) do
      local pb = playbook(string.format([=[
playbook "lines" {
  phase "one" {
    transaction = %s,
    sql [[
      CREATE TABLE lines_ok (x int);
      SELECT nosuch FROM lines_ok;
    ]],
  },
}]=], tx))
      local name = fresh()
      local r = run(name, { pb })
      assert.truthy(r.stderr:find("pb.lua:6:14: ERROR 42703", 1, true), tx .. ": " .. r.stderr)
    end
  end)

  it("a malformed URL never echoes its password", function()
    for _, url in ipairs({ "postgresql://u:Hush-Pw-91@host:notaport/db", "postgresql://u:Hush-Pw-91@[::1/db",
                           "postgresql://u:Hush%zzPw-91@localhost/db", "host=x password=Hush-Pw-91 port=abc" }) do
      local r = H.migrun({ "--db", url, "status" })
      assert.are_not.equal(0, r.status)
      assert.is_nil((r.stdout .. r.stderr):find("Hush", 1, true), url .. ": " .. r.stdout .. r.stderr)
    end
  end)
end)

describe("indexes in expect.exists and expect.absent", function()
  it("work, and a run that created an index named in expect.absent can be resumed", function()
    local pb = playbook([=[
playbook "idx" {
  preflight = { expect.absent "orders_total_idx" },
  phase "index" { sql [[CREATE INDEX orders_total_idx ON orders (total)]],
                  verify = { expect.exists "orders_total_idx" } },
  phase "more" { sql [[CREATE TABLE idx_more (x int)]] },
}]=])
    local name = fresh()
    assert.equal(0, run(name, { "--only", "index", pb }).status)
    local r = run(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, run(name, { "check", pb }).status)
  end)
end)

describe("lock waits name the blocker", function()
  it("in the output, the JSON events, the lock timeout's error and the report", function()
    local pb, dir = playbook([=[
playbook "blocked" {
  lock_timeout = "400ms", retries = 1,
  phase "alter" { sql [[ALTER TABLE orders ADD COLUMN blocked_note text]] },
}]=])
    local name = fresh()
    local holder <close> = H.connect(name)
    holder:exec("SET application_name = 'blocker-app'")
    holder:exec("BEGIN")
    holder:exec("LOCK TABLE orders IN ACCESS SHARE MODE")
    local blocker_pid = holder:backend_pid()
    local r = run(name, { "--report", dir .. "/r.md", pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("waiting for a lock held by pid " .. blocker_pid, 1, true), out)
    assert.truthy(out:find("blocker-app", 1, true), out)
    assert.truthy(out:find("LOCK TABLE orders IN ACCESS SHARE MODE", 1, true), out)
    assert.truthy(r.stderr:find("HINT: blocked by pid " .. blocker_pid, 1, true), r.stderr)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("## Lock waits", 1, true), md)
    assert.truthy(md:find("| " .. blocker_pid .. " |", 1, true), md)
    local j = run(name, { "--json", pb })
    local found
    for line in j.stdout:gmatch("[^\n]+") do
      local e = cjson.decode(line)
      if e.event == "lock_wait" then found = e end
    end
    assert.truthy(found, j.stdout)
    assert.equal(blocker_pid, found.blockers[1].pid)
    assert.equal("idle in transaction", found.blockers[1].state)
    holder:exec("ROLLBACK")
  end)
end)

-- A transactional phase that ends in SQL sends its last statement and its verify's built-in
-- checks in one flight (conn:send_all): every failure must still land where it belongs.
describe("a phase's last statement and its checks in one flight", function()
  local function ledger(name, sql)
    local c <close> = H.connect(name)
    return c:query(sql)
  end

  it("fails the phase on a check whose SQL errors, naming the check, and rolls it back", function()
    local pb = playbook([=[
playbook "flight" {
  phase "one" {
    sql [[CREATE TABLE flight_one (id int PRIMARY KEY)]],
    verify = { expect.exists "flight_one", expect.count("orders", 0, "flight_missing > 0"), expect.exists "orders" },
    rollback = sql [[DROP TABLE flight_one]],
  },
}]=])
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { pb })
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    -- the check is named, where the playbook has it
    assert.truthy(out:find("pb.lua:4: ERROR 42703: column \"flight_missing\" does not exist", 1, true), out)
    assert.truthy(out:find("CONTEXT: verify of phase 'one': count(orders", 1, true), out)
    assert.same(before, H.state(name))
    local steps = ledger(name, "SELECT status FROM migrun.steps WHERE kind = 'phase' ORDER BY id")
    assert.equal("failed", steps[steps.n].status)
    -- the connection is fine afterwards: the same playbook, fixed, applies
    H.write(pb, H.read(pb):gsub('expect.count%("orders", 0, "flight_missing > 0"%), ', ""))
    r = run(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("names the statement's own file:line:col when the last statement fails, not a check", function()
    local pb = playbook([=[
playbook "flight" {
  phase "two" {
    sql [[
      CREATE TABLE flight_two (id int PRIMARY KEY);
      INSERT INTO flight_nope VALUES (1)]],
    verify = { expect.exists "flight_two" },
  },
}]=])
    local name = fresh()
    local r = run(name, { pb })
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find("pb.lua:5:19", 1, true), out)
    assert.truthy(out:find("42P01", 1, true), out)
    assert.truthy(out:find("flight_nope", 1, true), out)
    assert.equal(0, ledger(name, "SELECT count(*) AS n FROM pg_class WHERE relname = 'flight_two'")[1].n)
  end)

  it("judges a check that is false after the statement, with the statement's rows in the ledger", function()
    local pb = playbook([=[
playbook "flight" {
  phase "three" {
    sql [[UPDATE orders SET id = id]],
    verify = { expect.count("orders", 0), expect.exists "orders" },
  },
}]=])
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("verify failed", 1, true), r.stdout .. r.stderr)
    local n = ledger(name, "SELECT count(*) AS n FROM orders")[1].n
    H.write(pb, H.read(pb):gsub('expect.count%("orders", 0%)', 'expect.count("orders", ' .. n .. ')'))
    r = run(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local rows = ledger(name, [[SELECT rows FROM migrun.steps
                                WHERE phase = 'three' AND kind = 'sql' AND status = 'applied']])
    assert.equal(n, rows[1].rows)
  end)

  it("names the blocker when the last statement of a verified phase waits on a lock", function()
    local pb = playbook([=[
playbook "blocked" {
  lock_timeout = "400ms", retries = 0,
  phase "alter" { sql [[ALTER TABLE orders ADD COLUMN flight_note text]],
                  verify = { expect.columns("orders", { "flight_note" }) } },
}]=])
    local name = fresh()
    local holder <close> = H.connect(name)
    holder:exec("BEGIN")
    holder:exec("LOCK TABLE orders IN ACCESS SHARE MODE")
    local r = run(name, { pb })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("55P03", 1, true), r.stderr)
    assert.truthy(r.stderr:find("HINT: blocked by pid " .. holder:backend_pid(), 1, true), r.stderr)
    holder:exec("ROLLBACK")
    assert.equal(0, run(name, { pb }).status)
  end)
end)
