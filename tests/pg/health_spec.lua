-- Health expectations against real sessions of a real server: a real long transaction, a
-- real session idle in a transaction, real connections, a real blocked session, a real
-- streaming standby whose replay is paused, real extensions. Each failure names what it found.
local H = require "helper"
local db = require "migrun.db"
local expect = require "migrun.expect"
local errors = require "migrun.errors"
local clock = require "migrun.clock"

local function check(e, c)
  local ok, actual, expected = e:check({ db = c })
  return { ok = ok, actual = actual, expected = expected }
end

-- every health check batched with others gives what it gives alone
local function check_all(list, c)
  return expect.check_all({ db = c }, list)
end

describe("health expectations", function()
  local name, me
  local others = {}
  local function other(app)
    local c = db.connect(H.conninfo(name) .. " application_name=" .. app)
    others[#others + 1] = c
    return c
  end
  setup(function()
    name = H.fresh_db("health")
    me = H.connect(name)
    me:exec("CREATE TABLE accounts (id bigint PRIMARY KEY, v int); INSERT INTO accounts VALUES (1, 0); " ..
            "CREATE EXTENSION pg_stat_statements")
  end)
  after_each(function()
    for _, c in ipairs(others) do c:close() end
    others = {}
  end)
  teardown(function()
    me:close()
    H.drop_db(name)
  end)

  it("no_long_transactions names the transaction that would hold a migration back", function()
    local e = expect.no_long_transactions { max = "300ms" }
    assert.is_true(check(e, me).ok)
    local c = other("nightly-report")
    c:exec("BEGIN; SELECT count(*) FROM accounts")
    clock.sleep(400)
    local r = check(e, me)
    assert.is_false(r.ok)
    local pid = c:backend_pid()
    assert.truthy(r.actual:find("pid " .. pid .. " (postgres via nightly-report from local socket) " ..
                                "in a transaction for", 1, true), r.actual)
    assert.truthy(r.actual:find("SELECT count(*) FROM accounts", 1, true), r.actual)
    assert.equal("none open longer than 300ms", r.expected)
    -- in a batch, the same
    local res = check_all({ e, expect.count("accounts", 1) }, me)
    assert.is_false(res[1].ok)
    assert.is_true(res[2].ok)
    c:exec("COMMIT")
    assert.is_true(check(e, me).ok)
  end)

  it("idle_in_transaction finds a session that opened a transaction and went quiet", function()
    local e = expect.idle_in_transaction { max = "200ms" }
    local c = other("forgetful-worker")
    c:exec("BEGIN; UPDATE accounts SET v = v + 1 WHERE id = 1")
    clock.sleep(300)
    local r = check(e, me)
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("via forgetful-worker", 1, true), r.actual)
    assert.truthy(r.actual:find("idle in a transaction for", 1, true), r.actual)
    assert.truthy(r.actual:find("UPDATE accounts", 1, true), r.actual)
    c:exec("ROLLBACK")
    assert.is_true(check(e, me).ok)
  end)

  it("connections counts this database's sessions by application", function()
    for _ = 1, 3 do other("api") end
    other("worker")
    local r = check(expect.connections { max = 3 }, me)
    assert.is_false(r.ok)
    assert.equal("4 (api 3, worker 1)", r.actual)
    assert.equal("<= 3", r.expected)
    assert.is_true(check(expect.connections { max = 4 }, me).ok)
    assert.is_false(check(expect.connections { min = 5 }, me).ok)
    assert.is_true(check(expect.connections { max = 0, state = "active" }, me).ok)
  end)

  it("no_blocked_sessions names the waiting session and the one that blocks it", function()
    local e = expect.no_blocked_sessions()
    assert.is_true(check(e, me).ok)
    local holder = other("holder")
    holder:exec("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    local waiter = other("waiter")
    local waiter_pid = waiter:backend_pid()
    waiter:send("SELECT * FROM accounts")
    H.eventually(function()
      return me:query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'waiter' " ..
                      "AND wait_event_type = 'Lock'")[1].n == 1
    end)
    local r = check(e, me)
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("pid " .. waiter_pid .. " (postgres via waiter", 1, true), r.actual)
    assert.truthy(r.actual:find("for a lock held by pid " .. holder:backend_pid(), 1, true), r.actual)
    assert.is_true(check(expect.no_blocked_sessions { min_wait = "1h" }, me).ok)
    holder:exec("ROLLBACK")
    waiter:wait()
    assert.is_true(check(e, me).ok)
  end)

  it("no_blocked_sessions counts the time waiting for the lock, not since the statement began", function()
    local holder = other("holder")
    holder:exec("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    local waiter = other("late-waiter")
    -- 3 s of work first, then the lock: waiting for it only since a moment ago
    waiter:send("DO $$ BEGIN PERFORM pg_sleep(3); PERFORM count(*) FROM accounts; END $$")
    H.eventually(function()
      return me:query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'late-waiter' " ..
                      "AND wait_event_type = 'Lock'")[1].n == 1
    end, 20000)
    assert.is_true(check(expect.no_blocked_sessions { min_wait = "2s" }, me).ok)
    local r = check(expect.no_blocked_sessions(), me)
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("late-waiter", 1, true), r.actual)
    holder:exec("ROLLBACK")
    waiter:wait()
  end)

  it("extension says what is missing and how to get it", function()
    local r = check(expect.extension "pg_stat_statements", me)
    -- the harness's sandbox preloads pg_stat_statements (created in setup)
    assert.is_true(r.ok, r.actual)
    assert.truthy(r.actual:find("loaded", 1, true))
    r = check(expect.extension "pgcrypto", me)
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("CREATE EXTENSION pgcrypto", 1, true), r.actual)
    r = check(expect.extension("plpgsql", { version = "0.9" }), me)
    assert.is_false(r.ok)
    assert.truthy(r.actual:find("installed at 1.0", 1, true), r.actual)
    r = check(expect.extension "no_such_ext", me)
    assert.equal("not installed, and not available on this server", r.actual)
  end)

  it("replication_lag fails on a server no standby is connected to, unless standbys = 0", function()
    local r = check(expect.replication_lag { max = "10s" }, me)
    assert.is_false(r.ok)
    assert.equal("0 standby(s) connected, 1 expected", r.actual)
    assert.is_true(check(expect.replication_lag { max = "10s", standbys = 0 }, me).ok)
  end)

  it("refuses bad options where the playbook wrote them", function()
    local ok, err = pcall(function() return expect.no_long_transactions { maxx = "5m" } end)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "playbook"))
    assert.truthy(err.message:find("did you mean 'max'", 1, true), err.message)
    ok, err = pcall(function() return expect.replication_lag { max = "ten seconds" } end)
    assert.is_false(ok)
    assert.truthy(err.message:find("expect.replication_lag: max", 1, true), err.message)
    ok, err = pcall(function() return expect.connections {} end)
    assert.is_false(ok)
    assert.truthy(err.message:find("give max, min or both", 1, true), err.message)
  end)
end)

describe("expect.replication_lag with a real standby", function()
  local sb, standby
  setup(function()
    sb = require("migrun.sandbox").start()
    standby = sb:standby()
  end)
  teardown(function()
    if standby then standby:stop() end
    sb:stop()
  end)

  it("passes while the standby keeps up, fails naming it while its replay is paused", function()
    local primary <close> = db.connect(sb:conninfo())
    local st <close> = db.connect(standby:conninfo())
    primary:exec("CREATE TABLE lag_probe (id bigint)")
    H.eventually(function() return st:query("SELECT to_regclass('lag_probe') IS NOT NULL AS e")[1].e end, 30000)
    local e = expect.replication_lag { max = "1s", standbys = 1 }
    H.eventually(function() return check(e, primary).ok end, 30000)
    assert.is_false(check(expect.replication_lag { max = "1s", standbys = 2 }, primary).ok)
    st:query("SELECT pg_wal_replay_pause()")
    primary:exec("INSERT INTO lag_probe SELECT generate_series(1, 1000)")
    local r = H.eventually(function()
      local res = check(e, primary)
      return not res.ok and res
    end, 30000)
    assert.truthy(r.actual:find("behind", 1, true), r.actual)
    -- seen from the standby itself
    local from_standby = H.eventually(function()
      local res = check(expect.replication_lag { max = "1s" }, st)
      return not res.ok and res
    end, 30000)
    assert.truthy(from_standby.actual:find("this standby", 1, true), from_standby.actual)
    st:query("SELECT pg_wal_replay_resume()")
    H.eventually(function() return check(e, primary).ok end, 30000)
  end)
end)

describe("a preflight of health checks", function()
  it("refuses to start behind a long transaction, naming it, and changes nothing", function()
    local name = H.fresh_db("health")
    local dir = H.tmpdir()
    local c <close> = db.connect(H.conninfo(name) .. " application_name=three-hour-report")
    c:exec("CREATE TABLE t (id bigint PRIMARY KEY); BEGIN; SELECT * FROM t")
    clock.sleep(300)
    local pb = H.write(dir .. "/pb.lua", [[
playbook "health" {
  preflight = { expect.no_long_transactions { max = "200ms" }, expect.no_blocked_sessions(),
                expect.connections { max = 50 } },
  phase "add" { sql [[ALTER TABLE t ADD COLUMN note text]] .. "]]" .. [[,
                rollback = sql [[ALTER TABLE t DROP COLUMN note]] .. "]]" .. [[ },
}
]])
    local r = H.migrun({ "--db", H.conninfo(name), "--yes", pb })
    c:exec("COMMIT")
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("via three-hour-report", 1, true), r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("preflight failed: nothing was changed", 1, true), r.stderr)
    local n = H.connect(name)
    assert.equal(0, n:query("SELECT count(*) AS n FROM information_schema.columns " ..
                            "WHERE table_name = 't' AND column_name = 'note'")[1].n)
    n:close()
    H.rmtree(dir)
    H.drop_db(name)
  end)
end)
