-- The playbook engine beyond the happy path: non-transactional phases, the ledger views,
-- machine-readable output.
local H = require "helper"
local cjson = require "cjson"

local FIX = H.source .. "/tests/fixtures/shop"

local run = H.run_db

local function fresh()
  local name = H.fresh_db("eng")
  H.load(name, FIX .. "/before.sql")
  return name
end

describe("a transaction = false phase", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("runs CREATE INDEX CONCURRENTLY statement by statement and records it", function()
    H.write(dir .. "/cic.lua", [=[
playbook "cic" {
  phase "index" {
    transaction = false,
    sql [[CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);
          CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx ON orders (customer_id);]],
    verify = { expect.index("orders", { "total" }), expect.index("orders", { "customer_id" }) },
    rollback = sql [[DROP INDEX CONCURRENTLY orders_total_idx; DROP INDEX CONCURRENTLY orders_customer_idx;]],
  },
}]=])
    local name = fresh()
    local r = run(name, { dir .. "/cic.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local c <close> = H.connect(name)
    local st = c:query("SELECT status FROM migrun.steps WHERE kind = 'sql' ORDER BY id")
    assert.same({ "started", "applied" }, { st[1].status, st[2].status })
  end)

  it("finds the invalid index an interrupted build left, and rebuilds it", function()
    H.write(dir .. "/cic.lua", [=[
playbook "cic" {
  phase "index" {
    transaction = false,
    sql [[CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_uq ON orders (customer_id);]],
    verify = { expect.index("orders", { "customer_id" }) },
  },
}]=])
    local name = fresh()
    -- duplicates make the build fail, leaving an INVALID index behind (as an interrupt would)
    local r = run(name, { dir .. "/cic.lua" })
    assert.equal(1, r.status)
    local c <close> = H.connect(name)
    assert.equal(0, c:query([[SELECT count(*) AS n FROM pg_class WHERE relname = 'orders_customer_uq']])[1].n)
    -- simulate an interrupted run: an invalid index and a step marked started, never done
    c:exec("CREATE TABLE scratch (x int)")
    c:exec("INSERT INTO scratch VALUES (1), (1)")
    pcall(c.exec, c, "CREATE UNIQUE INDEX CONCURRENTLY orders_customer_uq ON orders (customer_id)")
    assert.equal(1, c:query([[SELECT count(*) AS n FROM pg_index i JOIN pg_class r ON r.oid = i.indexrelid
                              WHERE r.relname = 'orders_customer_uq' AND NOT i.indisvalid]])[1].n)
    c:exec("DELETE FROM orders WHERE id > 50")        -- now the unique build can succeed
    -- the ledger says the step started and never finished, as after a kill -9
    c:exec([[UPDATE migrun.steps SET status = 'started' WHERE id = (SELECT max(id) FROM migrun.steps
             WHERE kind = 'sql')]])
    r = run(name, { dir .. "/cic.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("was interrupted in run", 1, true), r.stdout)
    assert.truthy(r.stdout:find("invalid index", 1, true), r.stdout)
    assert.equal(0, c:query([[SELECT count(*) AS n FROM pg_index i JOIN pg_class r ON r.oid = i.indexrelid
                              WHERE r.relname = 'orders_customer_uq' AND NOT i.indisvalid]])[1].n)
  end)
end)

describe("session settings", function()
  it("applies statement_timeout per phase, and sets client_connection_check_interval", function()
    local dir = H.tmpdir()
    H.write(dir .. "/st.lua", [=[
playbook "st" {
  statement_timeout = "5s", on_failure = "stop",
  phase "settings" {
    step "check the session" (function(db)
      assert(db:get("client_connection_check_interval") == "2s", "client_connection_check_interval not set")
      assert(db:get("statement_timeout") == "5s", "playbook statement_timeout not applied")
      return 0
    end),
  },
  phase "slow" {
    statement_timeout = "100ms",
    sql [[CREATE TABLE st_done (x int); SELECT pg_sleep(2);]],
  },
}]=])
    local name = fresh()
    local r = run(name, { dir .. "/st.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("57014", 1, true), r.stderr)
    assert.truthy(r.stdout:find("phase settings  applied", 1, true), r.stdout)
    local c <close> = H.connect(name)
    assert.is_nil(c:query("SELECT to_regclass('st_done') AS t")[1].t)
    H.rmtree(dir)
  end)

  it("runs --from a phase, and refuses an unknown one with a suggestion", function()
    local name = fresh()
    local r = run(name, { "--from", "003 statu", FIX .. "/shop.lua" })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("did you mean '003 status'", 1, true), r.stderr)
    r = run(name, { "--from", "004 archive", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local c <close> = H.connect(name)
    assert.equal(20, c:query("SELECT count(*) AS n FROM orders_archive")[1].n)
    assert.equal(0, c:query([[SELECT count(*) AS n FROM information_schema.columns
                              WHERE table_name = 'customers' AND column_name = 'email']])[1].n)
  end)
end)

describe("reruns", function()
  it("a rerun of a playbook with nothing to compare at run start is a no-op", function()
    local dir = H.tmpdir()
    H.write(dir .. "/plain.lua", [=[
playbook "plain" {
  phase "one" { sql [[CREATE TABLE plain_one (id int)]], verify = { expect.exists "plain_one" } },
}]=])
    local name = fresh()
    assert.equal(0, run(name, { dir .. "/plain.lua" }).status)
    local r = run(name, { dir .. "/plain.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("already applied", 1, true), r.stdout)
  end)
end)

describe("plan, check and status", function()
  it("plan shows pending, then applied steps; it changes nothing", function()
    local name = fresh()
    local before = H.state(name)
    local p = run(name, { "plan", FIX .. "/shop.lua" })
    assert.equal(0, p.status, p.stderr)
    assert.truthy(p.stdout:find("phase 001 email  [pending]", 1, true), p.stdout)
    assert.same(before, H.state(name))
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    p = run(name, { "plan", FIX .. "/shop.lua" })
    assert.truthy(p.stdout:find("phase 004 archive  [applied]", 1, true), p.stdout)
  end)

  it("check follows the ledger: preflight before, the applied phases' verify between, final verify after",
     function()
    local name = fresh()
    local r = run(name, { "check", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("preflight (nothing is applied yet)", 1, true), r.stdout)
    assert.equal(0, run(name, { "--to", "002 fk", FIX .. "/shop.lua" }).status)
    r = run(name, { "check", "--verbose", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("verify of phase '001 email' (applied)", 1, true), r.stdout)
    assert.truthy(r.stdout:find("verify of phase '002 fk' (applied)", 1, true), r.stdout)
    assert.is_nil(r.stdout:find("003 status", 1, true), r.stdout)
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    r = run(name, { "check", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("final verify (every phase is applied)", 1, true), r.stdout)
    assert.truthy(r.stdout:find("unchanged(audit_log)  skipped", 1, true), r.stdout)
    -- and it fails (exit 1) when the database is not what the ledger says
    local c <close> = H.connect(name)
    c:exec("INSERT INTO customers (id, name, email) VALUES (51, 'late', 'late@example.com')")
    r = run(name, { "check", FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("count(customers) = 50  FAILED", 1, true), r.stdout)
  end)

  it("check reads the database even when the playbook's SQL has lint errors (it runs none of it)", function()
    local name = fresh()
    local dir = H.tmpdir()
    H.write(dir .. "/drop.lua", [=[
playbook "drop" {
  phase "drop" { sql [[DROP TABLE audit_log]], rollback = sql [[CREATE TABLE audit_log (id int)]] },
  verify = { expect.absent "audit_log" },
}]=])
    assert.equal(2, run(name, { "plan", dir .. "/drop.lua" }).status)     -- plan and run lint
    local r = run(name, { "check", dir .. "/drop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("preflight (nothing is applied yet)", 1, true), r.stdout)
    assert.is_nil(r.stderr:find("ban-drop-table", 1, true), r.stderr)
    H.rmtree(dir)
  end)

  it("status lists runs and their phases with outcome", function()
    local name = fresh()
    run(name, { "--set", "broken=3", FIX .. "/shop.lua" })
    run(name, { FIX .. "/shop.lua" })
    local r = run(name, { "status", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("run 2  shop  succeeded", 1, true), r.stdout)
    assert.truthy(r.stdout:find("run 1  shop  failed, rolled back", 1, true), r.stdout)
  end)
end)

describe("output", function()
  it("--json writes one JSON object per event", function()
    local name = fresh()
    local r = run(name, { "--json", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stderr)
    local events = {}
    for line in r.stdout:gmatch("[^\n]+") do events[#events + 1] = cjson.decode(line) end
    assert.equal("result", events[#events].event)
    assert.equal(0, events[#events].exit)
    local phases = 0
    for _, e in ipairs(events) do if e.event == "phase" and e.status == "applied" then phases = phases + 1 end end
    assert.equal(5, phases)
  end)

  it("--quiet prints nothing on success, and NO_COLOR output has no escape codes", function()
    local name = fresh()
    local r = run(name, { "--quiet", FIX .. "/shop.lua" })
    assert.equal(0, r.status)
    assert.is_nil(r.stdout:find("phase", 1, true))
    r = run(name, { FIX .. "/shop.lua" })
    assert.is_nil(r.stdout:find("\27[", 1, true))
  end)
end)

describe("migrun new", function()
  it("scaffolds a project that runs green on a sandbox, and refuses an existing directory", function()
    local dir = H.tmpdir()
    local r = H.migrun({ "new", "shopfix" }, { cwd = dir })
    assert.equal(0, r.status, r.stderr)
    r = H.migrun({ "--sandbox", "--load", "shopfix/before.sql", "shopfix/playbook.lua", "--yes" }, { cwd = dir })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("phase 001 add status  applied", 1, true), r.stdout)
    assert.truthy(H.read(dir .. "/shopfix/reports/shopfix-run-1.md"):find("succeeded", 1, true))
    assert.truthy(r.stdout:find("backup: pg_dump -Fc", 1, true), r.stdout)
    assert.is_nil(require("lfs").attributes(dir .. "/shopfix/backups"), "a sandbox run wrote backups/")
    -- its specs use migrun.testing, run green, and leave no backup in the project
    r = H.migrun({ "test", "spec" }, { cwd = dir .. "/shopfix" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("3 successes / 0 failures", 1, true), r.stdout)
    assert.is_nil(require("lfs").attributes(dir .. "/shopfix/backups"))
    r = H.migrun({ "new", "shopfix" }, { cwd = dir })
    assert.equal(2, r.status)
  end)
end)
