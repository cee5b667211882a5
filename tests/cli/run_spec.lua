-- The playbook engine end to end: the real binary, the real server, the shop fixture.
local H = require "helper"
local proc = require "migrun.proc"
local clock = require "migrun.clock"

local FIX = H.source .. "/tests/fixtures/shop"

local run = H.run_db

local function fresh()
  local name = H.fresh_db("run")
  H.load(name, FIX .. "/before.sql")
  return name
end

local function ledger_rows(dbname, sql, ...)
  local c <close> = H.connect(dbname)
  return c:query(sql, ...)
end

describe("migrun run", function()
  it("applies every phase, verifies, records the ledger and exits 0", function()
    local name = fresh()
    local r = run(name, { FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local steps = ledger_rows(name, [[SELECT phase, status FROM migrun.steps
                                      WHERE kind = 'phase' ORDER BY id]])
    assert.equal(5, steps.n)
    for _, s in ipairs(steps) do assert.equal("applied", s.status) end
    local runs = ledger_rows(name, "SELECT status FROM migrun.runs")
    assert.equal("succeeded", runs[1].status)
    assert.truthy(r.stdout:find("phase 001 email", 1, true))
  end)

  it("is a no-op the second time", function()
    local name = fresh()
    assert.equal(0, run(name, { FIX .. "/shop.lua" }).status)
    local before = H.state(name)
    local r = run(name, { FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("already applied", 1, true))
    assert.same(before, H.state(name))
    local applied = ledger_rows(name, [[SELECT count(*) AS n FROM migrun.steps
                                        WHERE status = 'applied' AND kind <> 'phase']])
    assert.equal(5, applied[1].n)
  end)

  it("rolls everything back when phase 3 of 4 fails (default policy), naming file:line:col and SQLSTATE", function()
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { "--set", "broken=3", FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("sql/003_broken.sql:3:8", 1, true), out)
    assert.truthy(out:find("42P01", 1, true))
    local st = ledger_rows(name, [[SELECT DISTINCT ON (phase, step) phase, status FROM migrun.steps
                                   WHERE kind <> 'phase' ORDER BY phase, step, id DESC]])
    for _, s in ipairs(st) do assert.are_not.equal("applied", s.status) end
  end)

  it("leaves phases 1 and 2 applied with on_failure = stop, and says so", function()
    local name = fresh()
    local ref = H.fresh_db("ref")
    H.load(ref, FIX .. "/before.sql")
    H.load(ref, FIX .. "/sql/001_email.sql")
    H.load(ref, FIX .. "/sql/002_fk.sql")
    local r = run(name, { "--set", "broken=3", "--set", "policy=stop", FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.same(H.state(ref), H.state(name))
    assert.truthy(r.stdout:find("001 email: applied", 1, true), r.stdout)
    assert.truthy(r.stdout:find("002 fk: applied", 1, true), r.stdout)
    H.drop_db(ref)
  end)

  it("rolls a phase back when its verify fails", function()
    local dir = H.tmpdir()
    H.copy_tree(FIX, dir .. "/shop")
    local pb = H.read(dir .. "/shop/shop.lua"):gsub('expect.count%("orders_archive", 20%)',
                                                   'expect.count("orders_archive", 21)')
    H.write(dir .. "/shop/shop.lua", pb)
    local name = fresh()
    local before = H.state(name)
    local r = run(name, { dir .. "/shop/shop.lua" })
    assert.equal(1, r.status)
    assert.same(before, H.state(name))
    local e = ledger_rows(name, [[SELECT ok, actual, expected FROM migrun.expectations
                                  WHERE description LIKE '%orders_archive%' AND NOT ok]])
    assert.equal(1, e.n)
    assert.equal("20", e[1].actual)
    H.rmtree(dir)
  end)

  it("refuses to run when an applied file changed (drift), unless --allow-drift", function()
    local dir = H.tmpdir()
    H.copy_tree(FIX, dir .. "/shop")
    local name = fresh()
    assert.equal(0, run(name, { dir .. "/shop/shop.lua" }).status)
    H.write(dir .. "/shop/sql/002_fk.sql", H.read(dir .. "/shop/sql/002_fk.sql") .. "\n-- edited\n")
    local r = run(name, { dir .. "/shop/shop.lua" })
    assert.equal(2, r.status)
    assert.truthy(r.stderr:find("002 fk", 1, true), r.stderr)
    assert.equal(0, run(name, { "--allow-drift", dir .. "/shop/shop.lua" }).status)
    -- --allow-drift recorded the edited version: the next run goes on without it
    assert.equal(0, run(name, { dir .. "/shop/shop.lua" }).status)
    -- a CRLF checkout of the same files is not drift
    H.write(dir .. "/shop/sql/001_email.sql", (H.read(FIX .. "/sql/001_email.sql"):gsub("\n", "\r\n")))
    H.write(dir .. "/shop/sql/002_fk.sql", (H.read(dir .. "/shop/sql/002_fk.sql"):gsub("\n", "\r\n")))
    assert.equal(0, run(name, { dir .. "/shop/shop.lua" }).status)
    H.rmtree(dir)
  end)

  it("lets only one run at a time hold a database: the second exits 3 naming the holder", function()
    local name = fresh()
    local c <close> = H.connect(name)
    c:query("SELECT pg_advisory_lock(1835495022, 1)")
    local r = run(name, { FIX .. "/shop.lua" })
    assert.equal(3, r.status)
    assert.truthy(r.stderr:find("pid " .. c:backend_pid(), 1, true), r.stderr)
    c:query("SELECT pg_advisory_unlock(1835495022, 1)")
  end)

  it("retries a phase whose lock is held, and succeeds once it is released", function()
    local name = fresh()
    local holder = proc.spawn({ "psql", "-X", "-q", "-d", H.conninfo(name), "-c",
      "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;" },
      { stdout = "null", stderr = "null" })
    -- the run starts once the lock is held (a fixed head start loses the race on a busy machine)
    local admin <close> = H.connect(name)
    H.eventually(function()
      return admin:query([[SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                           WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted]]).n > 0
    end)
    local r = run(name, { "--set", "lock_timeout=300ms", FIX .. "/shop.lua" })
    holder:wait(10000)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("lock_not_available", 1, true), r.stdout)
  end)

  it("rolls a phase back and retries it whole when its lock is not available, then succeeds", function()
    local dir = H.tmpdir()
    H.write(dir .. "/lock.lua", [=[
playbook "lock1" {
  lock_timeout = "200ms",
  phase "touch orders" {
    sql [[UPDATE customers SET name = name || '!' WHERE id = 1]],
    sql [[ALTER TABLE orders ADD COLUMN touched bool]],
    verify = { expect.columns("orders", { "touched" }) },
  },
}]=])
    local name = fresh()
    local holder = proc.spawn({ "psql", "-X", "-q", "-d", H.conninfo(name), "-c",
      "BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE; SELECT pg_sleep(1); COMMIT;" },
      { stdout = "null", stderr = "null" })
    clock.sleep(300)
    local r = run(name, { dir .. "/lock.lua" })
    holder:wait(10000)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("lock_not_available (55P03), rolled back; retrying", 1, true), r.stdout)
    local c <close> = H.connect(name)
    -- the retried phase ran its first step once, not twice
    assert.equal("customer 1!", c:query("SELECT name FROM customers WHERE id = 1")[1].name)
    H.rmtree(dir)
  end)

  it("fails cleanly when a lock is held for good, never blocking others longer than lock_timeout", function()
    local dir = H.tmpdir()
    H.write(dir .. "/lock.lua", [=[
playbook "lock" {
  lock_timeout = "300ms", retries = 2,
  phase "touch orders" { sql [[ALTER TABLE orders ADD COLUMN touched bool]] },
}]=])
    local name = fresh()
    local holder = proc.spawn({ "psql", "-X", "-q", "-d", H.conninfo(name), "-c",
      "BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE; SELECT pg_sleep(30); COMMIT;" },
      { stdout = "null", stderr = "null" })
    clock.sleep(300)
    -- a reader that runs while migrun tries: it must never wait long behind migrun's lock request
    local t0 = clock.now()
    local runner = proc.spawn({ H.bin, "--db", H.conninfo(name), dir .. "/lock.lua" },
                              { stdout = "null", stderr = "null" })
    local worst = 0
    local reader <close> = H.connect(name)
    reader:set("statement_timeout", "5s")
    while not runner:wait(0) do
      local t = clock.now()
      reader:query("SELECT count(*) FROM orders")
      worst = math.max(worst, clock.since(t))
      clock.sleep(20)
    end
    local res = runner:wait()
    holder:kill()
    assert.equal(1, res.status)
    assert.is_true(worst < 600e6, "a reader waited " .. clock.format(worst))
    assert.is_true(clock.since(t0) < 20e9)
    local failed = ledger_rows(name, "SELECT attempt FROM migrun.steps WHERE status = 'failed'")
    assert.equal(1, failed.n)
    assert.equal(3, failed[1].attempt)               -- retries = 2: three attempts in all
    local cols = ledger_rows(name, [[SELECT count(*) AS n FROM information_schema.columns
                                     WHERE table_name = 'orders' AND column_name = 'touched']])
    assert.equal(0, cols[1].n)
    H.rmtree(dir)
  end)

  it("fails a phase that runs over its budget, and only warns with warn = true", function()
    local dir = H.tmpdir()
    local name = fresh()
    H.write(dir .. "/slow.lua", [=[
playbook "slow" {
  phase "slow" { sql [[SELECT pg_sleep(0.3); CREATE TABLE slow_done (x int);]], budget = var("budget", "100ms") },
}]=])
    local r = run(name, { dir .. "/slow.lua" })
    assert.equal(1, r.status)
    -- stopped while it ran (statement_timeout from the budget), not after
    assert.truthy((r.stdout .. r.stderr):find("was stopped at its budget of 100ms", 1, true), r.stdout .. r.stderr)
    local c <close> = H.connect(name)
    assert.is_nil(c:query("SELECT to_regclass('slow_done') AS t")[1].t)
    H.write(dir .. "/slow.lua", H.read(dir .. "/slow.lua"):gsub('var%("budget", "100ms"%)', '{ "100ms", warn = true }'))
    r = run(name, { dir .. "/slow.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning", 1, true))
    H.rmtree(dir)
  end)

  it("holds a transaction = false phase to the same budgets: warn = true warns, the run's budget stops it", function()
    local dir = H.tmpdir()
    local name = fresh()
    H.write(dir .. "/auto.lua", [=[
playbook "auto" {
  budget = var("run_budget", "1h"),
  phase "auto" { transaction = false, budget = { "100ms", warn = true },
    sql [[SELECT pg_sleep(0.3); CREATE TABLE auto_done (x int);]],
    rollback = sql [[DROP TABLE IF EXISTS auto_done]] },
}]=])
    local r = run(name, { dir .. "/auto.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning", 1, true), r.stdout)
    assert.truthy(r.stdout:find("100ms", 1, true), r.stdout)
    -- the run's own budget, hard: the statement is stopped while it runs, the phase undone
    local c <close> = H.connect(name)
    c:exec("DROP TABLE auto_done; DELETE FROM migrun.steps WHERE playbook = 'auto'; " ..
           "DELETE FROM migrun.plan_steps WHERE playbook = 'auto'")
    r = run(name, { "--set", "run_budget=150ms", dir .. "/auto.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("budget of 150ms", 1, true), r.stdout .. r.stderr)
    assert.is_nil(c:query("SELECT to_regclass('auto_done') AS t")[1].t)
    H.rmtree(dir)
  end)
end)
