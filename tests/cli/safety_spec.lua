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

  it("restore without a backup is a failed recovery: exit 5, and each phase's state", function()
    local name = fresh()
    local r = run(name, { "--set", "broken=3", "--set", "policy=restore", FIX .. "/shop.lua" })
    assert.equal(5, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("001 email: applied (no backup to restore)", 1, true), r.stdout)
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

describe("migrun rollback", function()
  it("undoes applied phases newest first, across runs, and --to keeps the earlier ones", function()
    local name = fresh()
    local before = H.state(name)
    assert.equal(0, run(name, { "--only", "001 email", FIX .. "/shop.lua" }).status)
    local after1 = H.state(name)
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local r = run(name, { "rollback", "--to", "001 email", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(after1, H.state(name))
    r = run(name, { "rollback", FIX .. "/shop.lua" })
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
    local r = run(name, { "rollback", dir .. "/shop/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("phase '002 fk' has no rollback", 1, true), r.stderr)
    assert.equal(1, query(name, [[SELECT count(*) AS n FROM information_schema.columns
                                  WHERE table_name = 'customers' AND column_name = 'email']])[1].n)
    assert.equal(0, query(name, [[SELECT count(*) AS n FROM information_schema.tables
                                  WHERE table_name = 'orders_archive']])[1].n)
    H.rmtree(dir)
  end)

  it("plan --rollback counts the rows written since that would be lost", function()
    local name = fresh()
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local c <close> = H.connect(name)
    c:exec("INSERT INTO orders_archive SELECT * FROM orders WHERE id BETWEEN 21 AND 30")
    local p = run(name, { "plan", "--rollback", FIX .. "/shop.lua" })
    assert.truthy(p.stdout:find("orders_archive: dropped, its 30 row(s) lost", 1, true), p.stdout)
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
    assert.truthy(md:find("| 004 archive | applied |", 1, true), md)
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
    assert.truthy(doc.run.rehearsal.clone_seconds >= 0)
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

  it("without a terminal and without --yes exits 4, and nothing after the gate runs", function()
    local name = fresh()
    local r = run(name, { pb })
    assert.equal(4, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("Staging passed?", 1, true))
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'gate_before'")[1].n)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'gate_after'")[1].n)
  end)

  it("--yes answers it", function()
    local name = fresh()
    assert.equal(0, run(name, { "--yes", pb }).status)
    assert.equal(1, query(name, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'gate_after'")[1].n)
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
    assert.same(doc, cjson.decode(again.stdout))
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
    for _, args in ipairs({ { FIX .. "/shop.lua" }, { "status" }, { "report" }, { "plan", FIX .. "/shop.lua" },
                            { "--set", "broken=3", "--verbose", FIX .. "/shop.lua" } }) do
      local argv = { "--db", url, "--report", dir .. "/r.md" }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local r = H.migrun(argv)
      outs[#outs + 1] = r.stdout .. r.stderr
    end
    local bad = H.migrun({ "--db", url:gsub("Sup3r", "Wrong"), "status" })
    assert.equal(3, bad.status)
    outs[#outs + 1] = bad.stdout .. bad.stderr
    outs[#outs + 1] = H.read(dir .. "/r.md") .. H.read(dir .. "/r.json")
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
