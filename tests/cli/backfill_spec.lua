-- backfill: keyset batches (composite keys too), resumable after kill -9 with every row done
-- exactly once, a batch size that tunes itself, the copy form, and the replica-lag throttle
-- against a real streaming standby whose replay is paused.
local H = require "helper"
local cjson = require "cjson"
local proc = require "migrun.proc"

local function playbook(text)
  local dir = H.tmpdir()
  H.write(dir .. "/pb.lua", text)
  return dir .. "/pb.lua", dir
end

local function query(name, sql, ...)
  local c <close> = H.connect(name)
  return c:query(sql, ...)
end

describe("backfill", function()
  it("walks a composite key in keyset batches and reports its throughput", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE events (tenant int, seq int, payload text, norm text, PRIMARY KEY (tenant, seq));
             INSERT INTO events SELECT t, s, ' X' || t || '-' || s || ' ' , NULL
             FROM generate_series(1, 7) t, generate_series(1, 3000) s]])
    local pb, dir = playbook([=[
playbook "composite" {
  phase "norm" { transaction = false,
    backfill "events" { set = "norm = lower(trim(payload))", where = "norm IS NULL", batch = 1000 },
    verify = { expect.query("SELECT count(*) FROM events WHERE norm IS DISTINCT FROM lower(trim(payload))", 0) },
    rollback = sql [[UPDATE events SET norm = NULL WHERE norm IS NOT NULL]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill events: 21000 rows in 21 batches", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(21000, doc.backfills[1].rows)
    assert.equal(21, doc.backfills[1].batches)
    -- the checkpoint goes when the step is done
    assert.equal(0, query(name, "SELECT count(*) AS n FROM migrun.backfill")[1].n)
  end)

  it("resumes after kill -9 from its checkpoint: every row done exactly once", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
             INSERT INTO counters (id) SELECT generate_series(1, 20000)]])
    -- where = "true": nothing but the checkpoint stops a batch from running twice
    local pb = playbook([=[
playbook "once" {
  phase "count" { transaction = false,
    backfill "counters" { set = "n = n + 1", where = "true", batch = 200, max_rate = 20000 },
    rollback = sql [[UPDATE counters SET n = 0]] },
}]=])
    local h = H.spawn_migrun({ "--db", H.conninfo(name), pb })
    H.eventually(function()
      local ok, n = pcall(function() return query(name, "SELECT rows_done FROM migrun.backfill")[1] end)
      return ok and n and n.rows_done >= 4000
    end, 30000)
    h:kill(proc.SIGKILL)
    H.eventually(function() return h:wait(10) end)
    local partial = query(name, "SELECT count(*) FILTER (WHERE n = 1) AS one, count(*) FILTER (WHERE n > 1) AS more " ..
                                "FROM counters")[1]
    assert.truthy(partial.one > 0 and partial.one < 20000)
    assert.equal(0, partial.more)
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("resuming after", 1, true), r.stdout)
    local final = query(name, "SELECT min(n) AS lo, max(n) AS hi, count(*) AS n FROM counters")[1]
    assert.equal(1, final.lo)
    assert.equal(1, final.hi)
    assert.equal(20000, final.n)
  end)

  it("tunes its batch size to the target duration", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE wide (id int PRIMARY KEY, v text, w text);
             INSERT INTO wide SELECT g, md5(g::text), NULL FROM generate_series(1, 100000) g]])
    local pb, dir = playbook([=[
playbook "tune" {
  phase "fill" { transaction = false,
    backfill "wide" { set = "w = upper(v)", where = "w IS NULL", target = "100ms" },
    rollback = sql [[UPDATE wide SET w = NULL WHERE w IS NOT NULL]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local b = doc.backfills[1]
    assert.equal(100000, b.rows)
    -- fast batches grew it from the first 1000 rows (by half at most per batch)
    assert.truthy(b.samples[#b.samples].batch > 1000, cjson.encode(b.samples))
    assert.truthy(b.batches < 100, b.batches)
  end)

  it("copies rows between tables: from, select, on_conflict", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE dh_tool (id int PRIMARY KEY, name text, vendor text);
             INSERT INTO dh_tool SELECT g, 'tool ' || g, 'v' || (g % 7) FROM generate_series(1, 5000) g;
             CREATE TABLE tools (id int PRIMARY KEY, name text NOT NULL, metadata jsonb);
             INSERT INTO tools VALUES (42, 'already there', '{}')]])
    local pb = playbook([=[
playbook "copy" {
  phase "copy" { transaction = false,
    backfill "tools" { from = "dh_tool", columns = { "id", "name", "metadata" },
                       select = "id, name, jsonb_build_object('vendor', vendor)",
                       on_conflict = "(id) DO NOTHING", batch = 700 },
    verify = { expect.count("tools", 5000) },
    rollback = sql [[DELETE FROM tools WHERE id IN (SELECT id FROM dh_tool) AND name <> 'already there']] },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal("already there", query(name, "SELECT name FROM tools WHERE id = 42")[1].name)
    assert.equal("v1", query(name, "SELECT metadata->>'vendor' AS v FROM tools WHERE id = 8")[1].v)
  end)

  it("refuses a transactional phase and a table without a key, before anything runs", function()
    local pb = playbook([=[
playbook "bad" {
  phase "in tx" { backfill "t" { set = "a = 1", where = "a IS NULL" } },
}]=])
    local r = H.migrun({ pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("needs transaction = false", 1, true), r.stderr)
  end)
end)

describe("backfill throttled by a standby's replay lag", function()
  local sb, standby
  setup(function()
    sb = require("migrun.sandbox").start()
    standby = sb:standby()
  end)
  teardown(function()
    if standby then standby:stop() end
    sb:stop()
  end)

  it("pauses while the standby lags more than max_replica_lag, and says why", function()
    local db = require "migrun.db"
    local primary <close> = db.connect(sb:conninfo())
    primary:exec([[CREATE TABLE lagged (id int PRIMARY KEY, v int);
                   INSERT INTO lagged SELECT g, NULL FROM generate_series(1, 100000) g]])
    local st <close> = db.connect(standby:conninfo())
    H.eventually(function() return st:query("SELECT to_regclass('lagged') IS NOT NULL AS e")[1].e end, 30000)
    st:query("SELECT pg_wal_replay_pause()")
    local pb, dir = playbook([=[
playbook "lag" {
  phase "fill" { transaction = false,
    backfill "lagged" { set = "v = id", where = "v IS NULL", batch = 1000, max_rate = 10000,
                        max_replica_lag = "1s" },
    rollback = sql [[UPDATE lagged SET v = NULL]] },
}]=])
    local out = dir .. "/out"
    local h = H.spawn_migrun({ "--db", sb:conninfo(), "--report", dir .. "/r.md", pb },
                             { stdout = out, stderr = out .. ".err" })
    H.eventually(function()
      assert.is_nil(h:wait(0), "the run ended without pausing:\n" .. H.read(out) .. H.read(out .. ".err"))
      return H.read(out):find("paused: replica lag", 1, true)
    end, 60000)
    st:query("SELECT pg_wal_replay_resume()")
    local res = H.eventually(function() return h:wait(50) end, 60000)
    assert.equal(0, res.status, H.read(out))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local p = doc.backfills[1].pauses[1]
    assert.truthy(p, H.read(out))
    assert.truthy(p.reason:find("max_replica_lag 1.00s", 1, true), p.reason)
    assert.truthy(p.seconds > 0)
  end)
end)
