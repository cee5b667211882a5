-- The command line does exactly what it says: strict options and arguments, help for every
-- verb, --json for every verb, reports that are never overwritten, and the ledger verbs
-- (baseline, accept-drift). Each spec spawns the real binary against the harness server.
local H = require "helper"
local cjson = require "cjson"
local lfs = require "lfs"

local FIX = H.source .. "/tests/fixtures/shop"
local PB = FIX .. "/shop.lua"
local run = H.run_db

local function fresh()
  local name = H.fresh_db("cl")
  H.load(name, FIX .. "/before.sql")
  return name
end

local function query(dbname, sql, ...)
  local c <close> = H.connect(dbname)
  return c:query(sql, ...)
end

local function has_ledger(name)
  return query(name, "SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'migrun'")[1].n > 0
end

-- every line of stdout is a JSON object; returns them
local function events(r)
  local list = {}
  for line in r.stdout:gmatch("[^\n]+") do
    local ok, e = pcall(cjson.decode, line)
    assert(ok, "not JSON: " .. line)
    list[#list + 1] = e
  end
  return list
end

local function event(list, name)
  for _, e in ipairs(list) do if e.event == name then return e end end
end

local function copy_shop()
  local dir = H.tmpdir()
  H.copy_tree(FIX, dir .. "/shop")
  return dir .. "/shop"
end

describe("options and arguments", function()
  it("an unknown option after the playbook exits 2 with a suggestion, and touches nothing", function()
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { PB, "--dryrun", "--yes" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("unknown option --dryrun (did you mean '--dry-run'?)", 1, true), r.stderr)
    assert.same(before, H.state(name))
    assert.is_false(has_ledger(name))
  end)

  it("an option another verb takes is refused, naming the verb", function()
    local r = H.migrun({ "plan", "--dry-run", PB })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("--dry-run is not an option of `migrun plan`", 1, true), r.stderr)
    -- the run verb's own option written without the verb: the hint gives the command to type
    r = H.migrun({ PB, "--fleet", "fleet.lua" })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("--fleet is an option of the run verb: migrun run " .. PB .. " --fleet", 1, true),
                  r.stderr)
  end)

  it("a second playbook is an error, not silently ignored", function()
    local name = fresh()
    local r = run(name, { PB, PB })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("unexpected extra argument", 1, true), r.stderr)
    assert.is_false(has_ledger(name))
    r = H.migrun({ "plan", PB, "extra.lua" })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("unexpected extra argument 'extra.lua'", 1, true), r.stderr)
  end)

  it("--to PHASE stops after that phase", function()
    local name = fresh()
    local r = run(name, { "--to", "002 fk", PB })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local applied = query(name, [[SELECT DISTINCT phase FROM migrun.steps WHERE status = 'applied'
                                  ORDER BY phase]])
    assert.equal(2, applied.n)
    assert.equal("002 fk", applied[2].phase)
    assert.equal(2, run(name, { "--to", "002 fx", PB }).status)
  end)

  it("--set needs K=V", function()
    local r = H.migrun({ "--set", "novalue", PB })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("--set needs K=V", 1, true), r.stderr)
  end)
end)

describe("help", function()
  it("every verb answers --help with exit 0, and `migrun help VERB` prints the same", function()
    local list = H.migrun({ "--help" })
    assert.equal(0, list.status)
    for _, verb in ipairs({ "run", "plan", "check", "status", "report", "rollback", "rehearse", "baseline",
                            "accept-drift", "backup", "restore", "repl", "new", "test", "sandbox", "help" }) do
      assert.truthy(list.stdout:find("migrun " .. verb, 1, true), verb)
      local a = H.migrun({ verb, "--help" })
      assert.equal(0, a.status, verb .. ": " .. a.stderr)
      assert.equal(1, a.stdout:find("migrun " .. verb, 1, true), a.stdout)
      assert.truthy(a.stdout:find("options:", 1, true), a.stdout)
      local b = H.migrun({ "help", verb })
      assert.equal(0, b.status)
      assert.equal(a.stdout, b.stdout)
    end
    local t = H.migrun({ "test", "--help" })
    assert.truthy(t.stdout:find("busted", 1, true), t.stdout)
  end)

  it("help for a verb that does not exist exits 2 with a suggestion", function()
    local r = H.migrun({ "help", "rollbak" })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("did you mean 'rollback'", 1, true), r.stderr)
  end)
end)

describe("--json", function()
  it("is JSON on every line for every verb, the result event last with its exit code", function()
    local name = fresh()
    local dir = H.tmpdir()
    local cases = {
      { { PB }, 0 }, { { "plan", PB }, 0 }, { { "plan", "--rollback", PB }, 0 }, { { "check", PB }, 0 },
      { { "status", PB }, 0 }, { { "report" }, 0 }, { { "backup", "--out", dir .. "/b.dump" }, 0 },
      { { "help" }, 0, true }, { { "--version" }, 0, true }, { { "new", dir .. "/proj" }, 0, true },
    }
    for _, c in ipairs(cases) do
      local args = { "--json" }
      for _, a in ipairs(c[1]) do args[#args + 1] = a end
      local r = c[3] and H.migrun(args) or run(name, args)
      assert.equal(c[2], r.status, table.concat(c[1], " ") .. ": " .. r.stdout .. r.stderr)
      local list = events(r)
      assert.truthy(#list >= 1, table.concat(c[1], " "))
      local last = list[#list]
      assert.equal("result", last.event, table.concat(c[1], " "))
      assert.equal(c[2], last.exit)
      for i = 1, #list - 1 do assert.are_not.equal("result", list[i].event) end
    end
    local p = event(events(run(name, { "--json", "plan", PB })), "plan")
    assert.equal("applied", p.items[1].state)
    local s = events(run(name, { "--json", "status", PB }))
    assert.equal("status", s[1].event)
    assert.equal("succeeded", s[1].runs[1].status)
    local b = event(events(run(name, { "--json", "backup", "--out", dir .. "/c.dump" })), "backup")
    assert.equal(64, #b.sha256)
  end)

  it("puts an error event on stdout for exit 2 and 3", function()
    local r = H.migrun({ "--json", "--bogus" })
    assert.equal(2, r.status)
    local list = events(r)
    assert.equal("error", list[1].event)
    assert.equal("usage", list[1].kind)
    assert.equal(2, list[#list].exit)
    r = H.migrun({ "--json", "--db", "host=/nonexistent/dir dbname=x connect_timeout=2", "status" })
    assert.equal(3, r.status)
    list = events(r)
    assert.equal("error", list[1].event)
    assert.equal("connection", list[1].kind)
    assert.equal(3, list[#list].exit)
  end)

  it("gives a field one type: steps is a list, expected and actual are text in events and reports", function()
    local name = fresh()
    local dir = H.tmpdir()
    local c <close> = H.connect(name)
    c:exec("INSERT INTO orders VALUES (999, 4242, 1)")            -- an orphan: preflight fails
    local r = run(name, { "--json", "--report", dir .. "/r.md", PB })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local e
    for _, ev in ipairs(events(r)) do
      if ev.event == "expectation" and ev.description:find("no_orphans") then e = ev end
    end
    assert.equal("string", type(e.expected))
    assert.equal("string", type(e.actual))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("table", type(doc.steps))
    assert.truthy(H.read(dir .. "/r.json"):find('"steps":[]', 1, true))
    for _, x in ipairs(doc.expectations) do
      assert.equal("string", type(x.expected))
      assert.equal("string", type(x.actual))
    end
  end)
end)

describe("reports", function()
  it("are never overwritten: the default name carries the run id; a no-op rerun writes none", function()
    local shop = copy_shop()
    H.write(shop .. "/shop.lua", H.read(shop .. "/shop.lua"):gsub(
      'protect = { "audit_log" },', 'protect = { "audit_log" }, report = "reports/shop.md",'))
    local name = fresh()
    local r = run(name, { "--only", "001 email", shop .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(lfs.attributes(shop .. "/reports/shop-run-1.md"))
    r = run(name, { shop .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(lfs.attributes(shop .. "/reports/shop-run-2.md"))
    assert.truthy(H.read(shop .. "/reports/shop-run-1.md"):find("| 001 email | applied |", 1, true))
    r = run(name, { shop .. "/shop.lua" })                 -- nothing to do
    assert.equal(0, r.status)
    assert.is_nil(lfs.attributes(shop .. "/reports/shop-run-3.md"))
    local n = 0
    for f in lfs.dir(shop .. "/reports") do if f:match("%.md$") then n = n + 1 end end
    assert.equal(2, n)
    local dry = H.fresh_db("cl")
    H.load(dry, FIX .. "/before.sql")
    assert.equal(0, run(dry, { "--dry-run", shop .. "/shop.lua" }).status)
    local found
    for f in lfs.dir(shop .. "/reports") do if f:match("^shop%-dry%-run%-.*%.md$") then found = f end end
    assert.truthy(found, "no dry-run report")
  end)

  it("carry the --set values, inline SQL, the log of Lua steps; an index is not counted as a table", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[
playbook "rich" {
  phase "one" {
    sql [[CREATE INDEX orders_total_idx ON orders (total)]],
    step "note" (function(db, run) run.log("checked " .. run.vars.who) end),
    verify = { expect.exists "orders_total_idx", expect.count("orders", 200) },
  },
}]=])
    local name = fresh()
    local r = run(name, { "--set", "who=alice", "--report", dir .. "/r.md", dir .. "/pb.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| who | `alice` |", 1, true), md)
    assert.truthy(md:find("CREATE INDEX orders_total_idx ON orders (total)", 1, true), md)
    assert.truthy(md:find("one / note: checked alice", 1, true), md)
    assert.is_nil(md:find("| orders_total_idx |", 1, true), md)
    assert.truthy(md:find("| **Total** | **200** | **200** | **0** |", 1, true), md)
  end)

  it("say so when no expectation was checked, instead of 0 of 0 passed", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[playbook "bare" { phase "one" { sql [[CREATE TABLE bare_one (x int)]] } }]=])
    local name = fresh()
    assert.equal(0, run(name, { "--report", dir .. "/r.md", dir .. "/pb.lua" }).status)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("No expectation was checked.", 1, true), md)
    assert.is_nil(md:find("0 of 0", 1, true))
  end)
end)

describe("what a run says", function()
  it("status shows finished transaction = false steps as applied, not started", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[
playbook "nontx" {
  phase "idx" { transaction = false, sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS o_idx ON orders (total)]] },
}]=])
    local name = fresh()
    assert.equal(0, run(name, { dir .. "/pb.lua" }).status)
    local s = run(name, { "status", dir .. "/pb.lua" })
    assert.is_nil(s.stdout:find("\n  idx / [^\n]* started"), s.stdout)
    assert.truthy(s.stdout:find("idx                                      applied", 1, true), s.stdout)
  end)

  it("lists the phases' states in run order when it fails, and a failed query's expected value", function()
    local shop = copy_shop()
    H.write(shop .. "/shop.lua", H.read(shop .. "/shop.lua"):gsub(
      'expect.query%("SELECT obj_description%(\'orders\'::regclass%)", "migrated by the shop playbook"%)',
      'expect.query("SELECT count(*) FROM no_such_table", 0)'))
    local name = fresh()
    local r = run(name, { shop .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("expected 0)", 1, true), r.stdout)
    assert.is_nil(r.stdout:find("expected nil", 1, true), r.stdout)
    local i1 = r.stdout:find("  001 email: rolled back", 1, true)
    local i5 = r.stdout:find("  005 comment: rolled back (failed)", 1, true)
    assert.truthy(i1 and i5 and i1 < i5, r.stdout)
  end)
end)

describe("--dry-run with a transaction = false phase", function()
  it("says what it cannot cover, stops there, and reports what it checked", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[
playbook "mixed" {
  phase "a" { sql [[ALTER TABLE orders ADD COLUMN note text]], verify = { expect.columns("orders", { "note" }) } },
  phase "b" { transaction = false, sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS o_note ON orders (note)]] },
  phase "c" { sql [[ALTER INDEX o_note RENAME TO o_note2]], verify = { expect.exists "o_note2" } },
}]=])
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { "--dry-run", "--report", dir .. "/r.md", dir .. "/pb.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("phase 'b' has transaction = false", 1, true), r.stdout)
    assert.truthy(r.stdout:find("migrun rehearse", 1, true), r.stdout)
    assert.same(before, H.state(name))
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| a | checked in the dry run |", 1, true), md)
    assert.truthy(md:find("| b | not covered by the dry run (transaction = false) |", 1, true), md)
    assert.truthy(md:find("| c | not reached in the dry run |", 1, true), md)
    assert.truthy(md:find("It stopped before phase `b`", 1, true), md)
  end)
end)

describe("--load", function()
  it("takes a plain pg_dump file (COPY data, \\restrict) and its settings never reach the run", function()
    local src = fresh()
    local dir = H.tmpdir()
    local env = {}
    for k, v in pairs(H.pgenv()) do env[k] = v end
    env.PGDATABASE = src
    local dump = require("migrun.proc").run({ require("migrun.pg").tool("pg_dump"), "--no-owner" },
                                            { env = env })
    assert.is_true(dump.ok, dump.stderr)
    assert.truthy(dump.stdout:find("COPY public.orders", 1, true))
    assert.truthy(dump.stdout:find("set_config('search_path', '', false)", 1, true))
    H.write(dir .. "/dump.sql", dump.stdout)
    H.write(dir .. "/pb.lua", [=[
playbook "after load" {
  phase "one" { sql [[CREATE TABLE loaded_after (id int)]], verify = { expect.count("orders", 200) } },
}]=])
    local target = H.fresh_db("cl")
    local r = run(target, { "--load", dir .. "/dump.sql", dir .. "/pb.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(200, query(target, "SELECT count(*) AS n FROM orders")[1].n)
    assert.equal("public", query(target, [[SELECT n.nspname FROM pg_class c JOIN pg_namespace n
                                            ON n.oid = c.relnamespace WHERE relname = 'loaded_after']])[1].nspname)
  end)

  it("names the line of a bad COPY row", function()
    local dir = H.tmpdir()
    H.write(dir .. "/bad.sql", "CREATE TABLE t (id int);\nCOPY t (id) FROM stdin;\n1\n2\nthree\n\\.\n")
    local r = H.migrun({ "--sandbox", "--load", dir .. "/bad.sql", "-e", "print(1)" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("bad.sql:5:1: ERROR 22P02", 1, true), r.stderr)
  end)
end)

describe("messages name command-line options", function()
  it("restore --into an existing database says --into or --clean", function()
    local name = fresh()
    local dir = H.tmpdir()
    assert.equal(0, run(name, { "backup", "--out", dir .. "/b.dump" }).status)
    local r = run(name, { "restore", dir .. "/b.dump", "--into", name })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("--into", 1, true), r.stderr)
    assert.truthy(r.stderr:find("--clean", 1, true), r.stderr)
    assert.is_nil(r.stderr:find("clean = true", 1, true), r.stderr)
  end)
end)

describe("backups as a protocol", function()
  it("backup.tables restores its tables' rows when on_failure = restore", function()
    local shop = copy_shop()
    local dir = H.tmpdir()
    H.write(shop .. "/shop.lua", H.read(shop .. "/shop.lua"):gsub(
      'backup = var.backup_dir and backup.dump { dir = var.backup_dir } or nil,',
      'backup = backup.tables { "orders", "customers", dir = "' .. dir .. '" },'))
    local name = fresh()
    local before = query(name, "SELECT count(*) AS n, sum(total) AS s FROM orders")[1]
    local r = run(name, { "--set", "policy=restore", "--set", "broken=3", shop .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("restored from the snapshot", 1, true), r.stdout)
    local after = query(name, "SELECT count(*) AS n, sum(total) AS s FROM orders")[1]
    assert.same(before, after)
  end)

  it("a backup that cannot restore itself is refused with on_failure = restore when the playbook loads", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[
local half = { take = function() return {} end, describe = function() return "a half backup" end }
playbook "half" { on_failure = "restore", backup = half, phase "one" { sql [[SELECT 1]] } }]=])
    local name = fresh()
    local r = run(name, { dir .. "/pb.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("pb.lua:2: playbook 'half': on_failure = \"restore\", but this backup " ..
                                "(a half backup) cannot restore itself", 1, true), r.stderr)
    assert.is_false(has_ledger(name))
  end)
end)

describe("taking over a database: baseline and accept-drift", function()
  it("baseline records phases as applied without running them, who and why, and a run goes on after",
     function()
    local name = fresh()
    H.load(name, FIX .. "/sql/001_email.sql")        -- migrated by hand before migrun came
    H.load(name, FIX .. "/sql/002_fk.sql")
    local r = run(name, { "baseline", "--to", "002 fk", PB })
    assert.equal(4, r.status, r.stdout .. r.stderr)   -- asks first
    assert.is_false(has_ledger(name))
    r = run(name, { "baseline", "--to", "002 fk", "--yes", "--note", "migrated by hand in March", PB })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local rows = query(name, [[SELECT s.phase, s.note, r.kind, r.os_user FROM migrun.steps s
                               JOIN migrun.runs r ON r.id = s.run_id WHERE s.kind <> 'phase' ORDER BY s.id]])
    assert.equal(2, rows.n)
    assert.equal("baseline", rows[1].kind)
    assert.truthy(rows[1].note:find("migrated by hand in March", 1, true))
    r = run(name, { PB })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("phase 001 email  skipped  already applied", 1, true), r.stdout)
    assert.truthy(r.stdout:find("phase 003 status  applied", 1, true), r.stdout)
  end)

  it("accept-drift shows the diff, then records the new version so runs go on", function()
    local shop = copy_shop()
    local name = fresh()
    assert.equal(0, run(name, { shop .. "/shop.lua" }).status)
    H.write(shop .. "/sql/002_fk.sql", H.read(shop .. "/sql/002_fk.sql") .. "-- reviewed in PR 42\n")
    assert.equal(2, run(name, { shop .. "/shop.lua" }).status)
    local p = run(name, { "plan", shop .. "/shop.lua" })
    assert.equal(2, p.status, p.stdout .. p.stderr)
    assert.truthy(p.stdout:find("DRIFT", 1, true), p.stdout)
    local r = run(name, { "accept-drift", shop .. "/shop.lua" })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("+-- reviewed in PR 42", 1, true), r.stdout)
    r = run(name, { "accept-drift", "--yes", shop .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, run(name, { shop .. "/shop.lua" }).status)
    assert.equal(0, run(name, { "plan", shop .. "/shop.lua" }).status)
  end)

  it("plan exits 3 when it cannot reach the target", function()
    local r = H.migrun({ "plan", "--db", "host=/nonexistent/dir dbname=x connect_timeout=2", PB })
    assert.equal(3, r.status, r.stdout .. r.stderr)
  end)

  it("plan --rollback names an inline rollback by its first line", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", [=[
playbook "inline" {
  phase "one" { sql [[CREATE TABLE inl (x int)]], rollback = sql [[DROP TABLE inl]] },
}]=])
    local name = fresh()
    assert.equal(0, run(name, { dir .. "/pb.lua" }).status)
    local p = run(name, { "plan", "--rollback", dir .. "/pb.lua" })
    assert.truthy(p.stdout:find("one: DROP TABLE inl", 1, true), p.stdout)
    assert.is_nil(p.stdout:find("rollback rollback", 1, true), p.stdout)
  end)
end)
