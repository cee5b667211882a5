-- What makes migrun safe to point at production: failure policies, rollback across runs,
-- dry run, rehearsal, gates, reports, and no secret anywhere.
local H = require "helper"
local cjson = require "cjson"

local FIX = H.source .. "/tests/fixtures/shop"

local run = H.run_db

local function fresh()
  local name = H.fresh_db("safe")
  H.load(name, FIX .. "/before.sql")
  return name
end

local function query(dbname, sql, ...)
  local c <close> = H.connect(dbname)
  return c:query(sql, ...)
end

describe("failure policies, phase 3 of 5 failing", function()
  it("rollback: the database is exactly as before the run", function()
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { "--set", "broken=3", FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
  end)

  it("stop: exactly as after phase 2, and it says which phases are applied", function()
    local name, ref = fresh(), fresh()
    H.load(ref, FIX .. "/sql/001_email.sql")
    H.load(ref, FIX .. "/sql/002_fk.sql")
    local r = run(name, { "--set", "broken=3", "--set", "policy=stop", FIX .. "/shop.lua" })
    assert.equal(1, r.status)
    assert.same(H.state(ref), H.state(name))
    assert.truthy(r.stdout:find("002 fk: applied", 1, true))
  end)

  it("restore: this run's verified dump is restored over the target", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = run(name, { "--set", "broken=3", "--set", "policy=restore", "--set", "backup_dir=" .. dir,
                          FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("restored", 1, true), r.stdout)
    assert.same(before, H.state(name))
    H.rmtree(dir)
  end)

  it("restore without a backup is refused when the playbook loads: exit 2, nothing touched", function()
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { "--set", "broken=3", "--set", "policy=restore", FIX .. "/shop.lua" })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("shop.lua:4: playbook 'shop': on_failure = \"restore\" needs a backup", 1, true),
                  r.stderr)
    assert.same(before, H.state(name))
  end)

  it("a rollback that fails gives exit 5 and the state of every phase", function()
    local dir = H.tmpdir()
    H.copy_tree(FIX, dir .. "/shop")
    H.write(dir .. "/shop/sql/002_rollback.sql", "ALTER TABLE orders DROP CONSTRAINT no_such_constraint;\n")
    local name = fresh()
    local r = run(name, { "--set", "broken=3", dir .. "/shop/shop.lua" })
    assert.equal(5, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("002 fk: rollback failed", 1, true), r.stdout)
    assert.truthy(r.stdout:find("001 email: applied (not rolled back)", 1, true), r.stdout)
    H.rmtree(dir)
  end)
end)

describe("Ctrl-C during a run", function()
  it("cancels the running statement, rolls the phase back, undoes the earlier phases, exits 1", function()
    local dir = H.tmpdir()
    H.write(dir .. "/int.lua", [=[
playbook "int" {
  phase "one" { sql [[CREATE TABLE int_one (x int)]], rollback = sql [[DROP TABLE int_one]] },
  phase "slow" { sql [[CREATE TABLE int_two (x int); SELECT pg_sleep(30);]] },
}]=])
    local name = fresh()
    local before = H.state(name)
    local out = dir .. "/out.txt"
    local p = H.spawn_migrun({ "--db", H.conninfo(name), dir .. "/int.lua" }, { stdout = out, stderr = out })
    local admin <close> = H.connect()
    H.eventually(function()
      return admin:query([[SELECT 1 FROM pg_stat_activity WHERE datname = $1
                           AND query LIKE '%pg_sleep(30)%' AND state = 'active']], name).n > 0
    end)
    p:kill(require("migrun.proc").SIGINT)
    local res = p:wait(15000)
    assert.is_not_nil(res, "migrun did not stop after Ctrl-C")
    assert.equal(1, res.status, H.read(out))
    assert.same(before, H.state(name))
    assert.equal(0, admin:query([[SELECT count(*) AS n FROM pg_stat_activity
                                  WHERE datname = $1 AND query LIKE '%pg_sleep(30)%' AND state = 'active']],
                                name)[1].n)
    assert.truthy(H.read(out):find("one: rolled back", 1, true), H.read(out))
  end)
end)

describe("a run over its budget", function()
  it("is still undone: the budget that ran out does not stop the rollbacks (exit 1, not 5)", function()
    local dir = H.tmpdir()
    H.write(dir .. "/budget.lua", [=[
playbook "budget" {
  budget = "1s",
  phase "one" { sql [[CREATE TABLE b_one (x int)]], rollback = sql [[DROP TABLE b_one]] },
  phase "slow" { sql [[SELECT pg_sleep(3)]] },
}]=])
    local name = fresh()
    local before = H.state(name)
    local r = H.migrun({ "--db", H.conninfo(name), dir .. "/budget.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("over its", 1, true) or (r.stdout .. r.stderr):find("budget", 1, true),
                  r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("one: rolled back", 1, true), r.stdout)
    assert.same(before, H.state(name))
  end)
end)

describe("migrun rollback", function()
  it("undoes applied phases newest first, across runs, and --to keeps the earlier ones", function()
    local name = fresh()
    local before = H.state(name)
    assert.equal(0, run(name, { "--only", "001 email", FIX .. "/shop.lua" }).status)
    local after1 = H.state(name)
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local r = run(name, { "rollback", "--yes", "--to", "001 email", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(after1, H.state(name))
    r = run(name, { "rollback", "--yes", FIX .. "/shop.lua" })
    assert.equal(0, r.status)
    assert.same(before, H.state(name))
    -- and the ledger knows: everything is pending again
    local p = run(name, { "plan", FIX .. "/shop.lua" })
    assert.truthy(p.stdout:find("phase 001 email  [pending]", 1, true), p.stdout)
  end)

  it("stops at a phase that has no rollback, with a clear message", function()
    local dir = H.tmpdir()
    H.copy_tree(FIX, dir .. "/shop")
    local pb = H.read(dir .. "/shop/shop.lua"):gsub('rollback = sql "sql/002_rollback.sql",', "")
    H.write(dir .. "/shop/shop.lua", pb)
    local name = fresh()
    assert.equal(0, run(name, { dir .. "/shop/shop.lua" }).status)
    local plan = run(name, { "plan", "--rollback", dir .. "/shop/shop.lua" })
    assert.truthy(plan.stdout:find("002 fk: NO ROLLBACK DEFINED", 1, true), plan.stdout)
    local r = run(name, { "rollback", "--yes", dir .. "/shop/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("phase '002 fk' has no rollback", 1, true), r.stderr)
    assert.equal(1, query(name, [[SELECT count(*) AS n FROM information_schema.columns
                                  WHERE table_name = 'customers' AND column_name = 'email']])[1].n)
    assert.equal(0, query(name, [[SELECT count(*) AS n FROM information_schema.tables
                                  WHERE table_name = 'orders_archive']])[1].n)
    H.rmtree(dir)
  end)

  it("plan --rollback counts only what a rollback really loses, rows written since included", function()
    local name = fresh()
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local c <close> = H.connect(name)
    c:exec("INSERT INTO orders_archive SELECT * FROM orders WHERE id BETWEEN 21 AND 30")
    local p = run(name, { "plan", "--rollback", FIX .. "/shop.lua" })
    assert.equal(0, p.status, p.stderr)
    assert.truthy(p.stdout:find("orders_archive: 30 row(s) lost (dropped with all its rows)", 1, true), p.stdout)
    -- dropping a foreign key or a comment loses nothing; dropping a column loses its values
    assert.truthy(p.stdout:find("002 fk: sql/002_rollback.sql\n    loses no rows", 1, true), p.stdout)
    assert.truthy(p.stdout:find("customers.email: 50 non-null value(s) lost", 1, true), p.stdout)
    assert.truthy(p.stdout:find("rows lost in all: 30", 1, true), p.stdout)
    local j = run(name, { "plan", "--rollback", "--json", FIX .. "/shop.lua" })
    local events = {}
    for line in j.stdout:gmatch("[^\n]+") do events[#events + 1] = cjson.decode(line) end
    assert.equal("rollback_plan", events[1].event)
    assert.equal(30, events[1].rows_lost)
    assert.equal("result", events[#events].event)
  end)

  it("asks first: without a terminal and without --yes it shows the loss, changes nothing, exits 4", function()
    local name = fresh()
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local before = H.state(name)
    local r = run(name, { "rollback", FIX .. "/shop.lua" })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("rows lost in all: 20", 1, true), r.stdout)
    assert.truthy(r.stderr:find("pass --yes", 1, true), r.stderr)
    assert.same(before, H.state(name))
  end)

  it("takes the playbook's verified backup before it undoes anything", function()
    local name = fresh()
    local dir = H.tmpdir()
    assert.equal(0, run(name, { "--set", "backup_dir=" .. dir, FIX .. "/shop.lua" }).status)
    local dumps = 0
    for f in require("lfs").dir(dir) do if f:match("%.dump$") then dumps = dumps + 1 end end
    assert.equal(1, dumps)
    local r = run(name, { "rollback", "--yes", "--set", "backup_dir=" .. dir, FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backup before the rollback", 1, true), r.stdout)
    dumps = 0
    for f in require("lfs").dir(dir) do if f:match("%.dump$") then dumps = dumps + 1 end end
    assert.equal(2, dumps)
    H.rmtree(dir)
  end)
end)

describe("dry run and rehearsal", function()
  it("--dry-run runs every phase and rolls it all back; the report says DRY RUN", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = run(name, { "--dry-run", "--report", dir .. "/dry.md", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'migrun'")[1].n)
    local md = H.read(dir .. "/dry.md")
    assert.truthy(md:find("DRY RUN", 1, true))
    assert.truthy(md:find("| 004 archive | checked in the dry run |", 1, true), md)
    -- a dry run never says "applied"
    assert.is_nil(r.stdout:find("applied", 1, true), r.stdout)
    assert.is_nil(md:find("applied", 1, true), md)
    H.rmtree(dir)
  end)

  it("rehearse runs on a clone, writes the forecast, drops the clone and leaves the target alone", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = run(name, { "rehearse", "--report", dir .. "/reh.md", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    assert.truthy(r.stdout:find("STRATEGY FILE_COPY", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/reh.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.is_true(doc.run.rehearsal)
    assert.truthy(doc.run.rehearsal_clone.clone_seconds >= 0)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_database WHERE datname LIKE '%rehearsal%'")[1].n)
    H.rmtree(dir)
  end)
end)

describe("gates", function()
  local pb
  setup(function()
    pb = H.tmpdir() .. "/gate.lua"
    H.write(pb, [=[
playbook "gated" {
  phase "before gate" { sql [[CREATE TABLE gate_before (x int)]] },
  gate "go/no-go" { "Staging passed?", "Team notified?" },
  phase "after gate" { sql [[CREATE TABLE gate_after (x int)]] },
}]=])
  end)

  it("without a terminal and without --yes is refused before anything is touched (exit 4)", function()
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { pb })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("gate 'go/no-go' needs an answer", 1, true), r.stderr)
    assert.same(before, H.state(name))
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'migrun'")[1].n)
  end)

  it("--yes answers it, and the answer is recorded in the ledger and the report", function()
    local name = fresh()
    local dir = H.tmpdir()
    assert.equal(0, run(name, { "--yes", "--report", dir .. "/g.md", pb }).status)
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'gate_after'")[1].n)
    local g = query(name, "SELECT gate, answer, answered_by, items::text AS items FROM migrun.gates")
    assert.equal(1, g.n)
    assert.equal("go/no-go", g[1].gate)
    assert.equal("yes (--yes)", g[1].answer)
    assert.truthy(g[1].answered_by:find("@", 1, true))
    assert.truthy(g[1].items:find("Team notified?", 1, true))
    local md = H.read(dir .. "/g.md")
    assert.truthy(md:find("| go/no-go | Staging passed? | yes (--yes) |", 1, true), md)
  end)

  it("is not asked when nothing after it is left to do", function()
    local name = fresh()
    assert.equal(0, run(name, { "--only", "after gate", "--yes", pb }).status)
    assert.equal(0, run(name, { "--only", "before gate", pb }).status)
  end)
end)

describe("reports", function()
  it("hold metadata, phases, steps, expectations and the before/after/change table", function()
    local name = fresh()
    local dir = H.tmpdir()
    local r = run(name, { "--report", dir .. "/shop.md", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stderr)
    local md = H.read(dir .. "/shop.md")
    for _, want in ipairs({ "# migrun report: shop — succeeded", "| Playbook sha256 |", "| Target |",
                            "| 001 email | applied |", "| 001 email | sql/001_email.sql | applied |",
                            "| (verify) | count(customers) = 50 | 50 | 50 | pass |",
                            "| orders_archive |  | 20 |  |", "| orders | 200 | 200 | 0 |" }) do
      assert.truthy(md:find(want, 1, true), "missing: " .. want .. "\n" .. md)
    end
    local doc = cjson.decode(H.read(dir .. "/shop.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.equal(#doc.expectations, select(2, md:gsub("| pass |", "")))
    -- migrun report rebuilds the same document from the ledger
    local again = run(name, { "report", "--json" })
    local first = cjson.decode(again.stdout:match("^[^\n]+"))
    assert.equal("report", first.event)
    first.event = nil
    assert.same(doc, first)
    H.rmtree(dir)
  end)

  it("never contain a secret: a password in the URL appears in no output, report or ledger row", function()
    local name = fresh()
    local admin <close> = H.connect(name)
    local role = "report_owner_" .. require("migrun.core.sys").getpid()
    admin:exec("CREATE ROLE " .. role .. " LOGIN SUPERUSER PASSWORD 'Sup3r-S3cret-Pw'")
    local url = string.format("postgresql://%s:Sup3r-S3cret-Pw@127.0.0.1:%s/%s", role, H.pgenv().PGPORT, name)
    local dir = H.tmpdir()
    local outs = {}
    for _, args in ipairs({ { "--set", "broken=3", "--verbose", FIX .. "/shop.lua" },
                            { "--report", dir .. "/r.md", FIX .. "/shop.lua" }, { "status" },
                            { "report", "--report", dir .. "/r2.md" }, { "plan", FIX .. "/shop.lua" },
                            { "--json", "status" } }) do
      local argv = { "--db", url }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local r = H.migrun(argv)
      assert.are_not.equal(2, r.status, r.stdout .. r.stderr)
      outs[#outs + 1] = r.stdout .. r.stderr
    end
    local bad = H.migrun({ "--db", url:gsub("Sup3r", "Wrong"), "status" })
    assert.equal(3, bad.status)
    outs[#outs + 1] = bad.stdout .. bad.stderr
    outs[#outs + 1] = H.read(dir .. "/r.md") .. H.read(dir .. "/r.json") .. H.read(dir .. "/r2.json")
    local ledger = admin:query([[SELECT (SELECT string_agg(r::text, ' ') FROM migrun.runs r) ||
                                        (SELECT string_agg(s::text, ' ') FROM migrun.steps s) AS t]])[1].t
    outs[#outs + 1] = ledger
    for i, o in ipairs(outs) do
      assert.is_nil(o:find("S3cret", 1, true), "secret in output " .. i .. ":\n" .. o)
    end
    admin:exec("DROP OWNED BY " .. role)
    admin:exec("DROP ROLE " .. role)
    H.rmtree(dir)
  end)
end)
