-- backfill: key-range batches for a single integer key (sparse and negative keys, stretches
-- already done, the ends of bigint), keyset batches for the others (composite, text), resumable
-- after kill -9 with every row done exactly once (also from a checkpoint the keyset form left),
-- a batch size that tunes itself, the copy form, and the replica-lag throttle against a real
-- streaming standby whose replay is paused.
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

-- a function whose every call takes a millisecond: batches slow enough to stop in the middle
local SLOW_ZERO = [[CREATE FUNCTION slow_zero() RETURNS int VOLATILE LANGUAGE plpgsql AS
                   $$ BEGIN PERFORM pg_sleep(0.001); RETURN 0; END $$]]

-- run pb in the background until its backfill has done 500 rows, stop it with stop(handle),
-- and return its exit status and all it printed
local function stopped_mid_backfill(name, pb, dir, stop)
  local out = dir .. "/out"
  local h = H.spawn_migrun({ "--db", H.conninfo(name), pb }, { stdout = out, stderr = out .. ".err" })
  H.eventually(function()
    local ok, n = pcall(function() return query(name, "SELECT rows_done FROM migrun.backfill")[1] end)
    return ok and n and n.rows_done >= 500
  end, 30000)
  stop(h)
  local res = H.eventually(function() return h:wait(50) end, 30000)
  return res.status, H.read(out) .. H.read(out .. ".err")
end

-- the run after it resumes after the checkpoint's key, and every row of tbl is done once
local function resumes_once(name, pb, tbl, cp)
  local r = H.run_db(name, { pb })
  assert.equal(0, r.status, r.stdout .. r.stderr)
  assert.truthy(r.stdout:find("resuming after id " .. cp.last, 1, true), r.stdout)
  assert.falsy((r.stdout .. r.stderr):find("changed since its checkpoint", 1, true), r.stdout .. r.stderr)
  local final = query(name, "SELECT min(n) AS lo, max(n) AS hi FROM " .. tbl)[1]
  assert.equal(1, final.lo)
  assert.equal(1, final.hi)
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

  it("resumes after Ctrl-C in the middle of a key-range batch: sparse negative keys, every row once", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec(SLOW_ZERO .. [[;
             CREATE TABLE ledger_rows (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
             INSERT INTO ledger_rows (id) SELECT g::bigint * 1000003 - 3000000000000 FROM generate_series(1, 4000) g]])
    -- about 100 rows a range, each row slow: Ctrl-C lands inside a batch, which rolls back
    -- with its checkpoint
    local pb, dir = playbook([=[
playbook "interrupted" {
  phase "count" { transaction = false,
    backfill "ledger_rows" { set = "n = n + 1 + slow_zero()", where = "true", batch = 100000000 },
    rollback = sql [[UPDATE ledger_rows SET n = 0]] },
}]=])
    local status, said = stopped_mid_backfill(name, pb, dir, function(h) h:kill(proc.SIGINT) end)
    assert.are_not.equal(0, status, said)
    -- partly applied, and kept: the default on_failure = "rollback" would undo every batch
    assert.truthy(said:find("backfill ledger_rows: %d+ rows in %d+ batches before it stopped"), said)
    assert.truthy(said:find("failed (partly applied)", 1, true), said)
    assert.truthy(said:find("run the playbook again to resume from its checkpoint", 1, true), said)
    local cp = query(name, "SELECT rows_done, (last_key->>'migrun_k1')::bigint AS last FROM migrun.backfill")[1]
    local partial = query(name, [[
      SELECT count(*) FILTER (WHERE n = 1) AS one, count(*) FILTER (WHERE n > 1) AS more,
             count(*) FILTER (WHERE n = 1 AND id > $1) AS past FROM ledger_rows]], cp.last)[1]
    assert.equal(cp.rows_done, partial.one)       -- the checkpoint tells exactly what is done
    assert.equal(0, partial.more)
    assert.equal(0, partial.past)
    resumes_once(name, pb, "ledger_rows", cp)
    assert.equal(4000, query(name, "SELECT count(*) AS n FROM ledger_rows")[1].n)
  end)

  it("keeps its batches when its connection is killed: reconnected, nothing rolled back, a rerun resumes", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec(SLOW_ZERO .. [[;
             CREATE TABLE cut (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
             INSERT INTO cut (id) SELECT g FROM generate_series(1, 3000) g]])
    local pb, dir = playbook([=[
playbook "cut" {
  phase "count" { transaction = false,
    backfill "cut" { set = "n = n + 1 + slow_zero()", where = "true", batch = 100 },
    rollback = sql [[UPDATE cut SET n = 0]] },
}]=])
    local status, said = stopped_mid_backfill(name, pb, dir, function()
      c:exec([[SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name LIKE 'migrun cut%']])
    end)
    assert.equal(1, status, said)
    assert.truthy(said:find("lost the connection", 1, true), said)
    assert.truthy(said:find("run the playbook again to resume from its checkpoint", 1, true), said)
    local cp = query(name, "SELECT rows_done, (last_key->>'migrun_k1')::bigint AS last FROM migrun.backfill")[1]
    assert.equal(cp.rows_done, query(name, "SELECT count(*) AS n FROM cut WHERE n = 1")[1].n)
    resumes_once(name, pb, "cut", cp)
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
    -- fast batches grew it from the first 1000 rows (by a quarter at most per batch)
    assert.truthy(b.samples[#b.samples].batch > 1000, cjson.encode(b.samples))
    assert.truthy(b.batches < 100, b.batches)
  end)

  -- six rows whose set sleeps 40 ms each: a batch holding them all runs 240 ms, past a 100 ms
  -- target whatever the machine; one holding at most two fits it
  local SLOW_SIX = [[CREATE FUNCTION slow_at(i bigint) RETURNS text LANGUAGE plpgsql AS
                     $$ BEGIN IF i BETWEEN 7000 AND 7005 THEN PERFORM pg_sleep(0.04); END IF; RETURN 'x' || i; END $$]]

  it("holds every batch to its target: one running past it is cancelled and tried again smaller", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE slowish (id bigint PRIMARY KEY, v text, k text UNIQUE, n int NOT NULL DEFAULT 0);
             INSERT INTO slowish SELECT g, NULL, lpad(g::text, 6, '0') FROM generate_series(1, 20000) g;]])
    c:exec(SLOW_SIX)
    -- both forms: key ranges (id) and keyset batches (a text key); then a step that takes 300 ms
    -- under the session's own statement_timeout, which the batches' must not outlive
    local pb, dir = playbook([=[
playbook "capped" {
  phase "fill" { transaction = false,
    backfill "slowish" { set = "v = slow_at(id), n = n + 1", where = "v IS NULL", target = "100ms" },
    backfill "slowish" { name = "by k", key = "k", set = "v = v || '!', n = n + 1", where = "v NOT LIKE '%!'",
                         target = "100ms" },
    step "after" (function(db) db:query("SELECT pg_sleep(0.3)") end),
    rollback = sql [[UPDATE slowish SET v = NULL, n = 0]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill slowish: a batch of %d+ keys ran past its target 100ms: cancelled and " ..
                                "halved %d+ time%(s%), it went through with %d+"), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.truthy(doc.backfills[1].cut >= 1, cjson.encode(doc.backfills[1]))
    assert.truthy(H.read(dir .. "/r.md"):find("ran past the 100 ms target", 1, true))
    -- cancelled batches rolled back with their checkpoints: every row done once by each step
    local counts = c:query([[SELECT count(*) FILTER (WHERE n = 2 AND v = 'x' || id || '!') AS twice,
                                    count(*) AS n FROM slowish]])[1]
    assert.equal(20000, counts.twice)
    assert.equal(20000, counts.n)
  end)

  -- a fresh database with tbl (id, v) of n rows, and slow_at(id), which sleeps secs for the ids
  -- that cond picks -> its name, a connection; and a playbook that fills v with it under target
  local function slow_rows(tbl, n, cond, secs)
    local name = H.fresh_db("bf")
    local c = H.connect(name)
    c:exec(string.format([[CREATE TABLE %s (id bigint PRIMARY KEY, v text);
      INSERT INTO %s SELECT g, NULL FROM generate_series(1, %d) g;
      CREATE FUNCTION slow_at(i bigint) RETURNS text LANGUAGE plpgsql AS
        $$ BEGIN IF %s THEN PERFORM pg_sleep(%s); END IF; RETURN 'x' || i; END $$]], tbl, tbl, n, cond, secs))
    return name, c
  end
  local function slow_fill(tbl, size, policy)
    return playbook(string.format([=[
playbook "%s" {
  %s
  phase "fill" { transaction = false,
    backfill "%s" { set = "v = slow_at(id)", where = "v IS NULL", %s },
    rollback = sql [[UPDATE %s SET v = NULL]] },
}]=], tbl, policy or "", tbl, size, tbl))
  end
  -- the two, run once, and it fails -> dbname, a connection, all it printed
  local function fails_slowly(tbl, n, cond, secs, size, policy)
    local name, c = slow_rows(tbl, n, cond, secs)
    local r = H.run_db(name, { (slow_fill(tbl, size, policy)) })
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    return name, c, out
  end

  it("stops at a single row that takes longer than its target, after its retries, and says why", function()
    local name, c <close>, out = fails_slowly("slowrow", 3000, "i = 2000", 0.3, 'target = "100ms"',
                                              'retries = 1, on_failure = "stop",')
    assert.truthy(out:find("a batch: its one key ran past its target 100ms (57014), rolled back; retrying", 1, true),
                  out)
    assert.truthy(out:find("57014", 1, true), out)
    assert.truthy(out:find("look at pg_locks, or raise target", 1, true), out)
    -- the rows before it are kept with their checkpoint; the row itself and those after are not
    local cp = query(name, "SELECT last_key->>'migrun_k1' AS k FROM migrun.backfill")[1]
    assert.equal("1999", cp.k)
    assert.equal(1999, c:query("SELECT count(*) AS n FROM slowrow WHERE v IS NOT NULL")[1].n)
  end)

  it("holds a fixed batch to the playbook's statement_timeout, as an SQL step's statement", function()
    local _, c <close>, out = fails_slowly("limited", 3000, "i = 1500", 0.3, "batch = 1000",
                                           'statement_timeout = "100ms",')
    assert.truthy(out:find("ERROR 57014: canceling statement due to statement timeout", 1, true), out)
    assert.falsy(out:find("ran past its target", 1, true), out)
    -- the batch before it rolled back too (on_failure = "rollback")
    assert.equal(0, c:query("SELECT count(*) AS n FROM limited WHERE v IS NOT NULL")[1].n)
  end)

  it("stops at its budget between batches, keeping the batches done", function()
    local name, c <close>, out = fails_slowly("budgeted", 5000, "false", 0,
                                              'batch = 1000, max_rate = "2000/s", budget = "1s"',
                                              'on_failure = "stop",')
    -- before a batch, or in the batch whose statement_timeout was what the budget had left
    assert.truthy(out:find("step backfill budgeted was stopped at its budget of 1s", 1, true), out)
    local n = c:query("SELECT count(*) AS n FROM budgeted WHERE v IS NOT NULL")[1].n
    assert.truthy(n >= 1000 and n < 5000, n)
    assert.equal(n, query(name, "SELECT rows_done FROM migrun.backfill")[1].rows_done)
  end)

  it("takes an operator's pg_cancel_backend for what it is, not for a batch past its target", function()
    local name, c <close> = slow_rows("cancelled", 3000, "i = 500", 30)
    local pb, dir = slow_fill("cancelled", 'target = "60s"')
    local out = dir .. "/out"
    local h <close> = H.spawn_migrun({ "--db", H.conninfo(name), pb }, { stdout = out, stderr = out .. ".err" })
    local pid
    H.eventually(function()
      local r = c:query([[SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                          AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()]])[1]
      pid = r and r.pid
      return pid ~= nil
    end, 30000)
    c:query("SELECT pg_cancel_backend($1)", pid)
    local res = H.eventually(function() return h:wait(50) end, 30000)
    local text = H.read(out) .. H.read(out .. ".err")
    assert.equal(1, res.status, text)
    assert.truthy(text:find("57014", 1, true), text)
    assert.falsy(text:find("ran past its target", 1, true), text)
    assert.equal(0, c:query("SELECT count(*) AS n FROM cancelled WHERE v IS NOT NULL")[1].n)
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

  it("walks a sparse integer key in ranges: gaps of billions, negative keys, the ends of bigint", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE sparse (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
             INSERT INTO sparse (id) SELECT -9223372036854775808 + g FROM generate_series(0, 499) g;
             INSERT INTO sparse (id) SELECT -5000000000 + g * 7 FROM generate_series(0, 999) g;
             INSERT INTO sparse (id) SELECT g FROM generate_series(-300, 300) g;
             INSERT INTO sparse (id) SELECT 3000000000 + g * 1000 FROM generate_series(0, 999) g;
             INSERT INTO sparse (id) SELECT 9223372036854775807 - g FROM generate_series(0, 499) g]])
    -- where = "true": a range done twice would show as n = 2
    local pb, dir = playbook([=[
playbook "sparse" {
  phase "count" { transaction = false,
    backfill "sparse" { set = "n = n + 1", where = "true" },
    rollback = sql [[UPDATE sparse SET n = 0]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local final = query(name, "SELECT min(n) AS lo, max(n) AS hi, count(*) AS n FROM sparse")[1]
    assert.equal(1, final.lo)
    assert.equal(1, final.hi)
    assert.equal(3601, final.n)
    local b = cjson.decode(H.read(dir .. "/r.json")).backfills[1]
    assert.equal(3601, b.rows)
    -- the gaps are skipped by one read each, not walked range by range
    assert.truthy(b.batches < 60, b.batches)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM migrun.backfill")[1].n)
  end)

  it("skips a stretch already done in one go and leaves it untouched", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE half (id int PRIMARY KEY, v text);
             INSERT INTO half SELECT g, CASE WHEN g BETWEEN 10001 AND 20000 THEN 'before' END
             FROM generate_series(1, 30000) g]])
    local pb, dir = playbook([=[
playbook "half" {
  phase "fill" { transaction = false,
    backfill "half" { set = "v = 'x' || id", where = "v IS NULL", batch = 1000 },
    rollback = sql [[UPDATE half SET v = NULL]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill half: 20000 rows in 21 batches", 1, true), r.stdout)
    local counts = query(name, [[SELECT count(*) FILTER (WHERE v = 'before') AS before,
                                        count(*) FILTER (WHERE v = 'x' || id) AS done FROM half]])[1]
    assert.equal(10000, counts.before)
    assert.equal(20000, counts.done)
    -- batch = N: ranges of N keys; the 21st is the one range of the stretch done (0 rows)
    local b = cjson.decode(H.read(dir .. "/r.json")).backfills[1]
    assert.equal(1000, b.samples[#b.samples].batch)
  end)

  it("resumes from a checkpoint the keyset form left (last key done), and refuses one it cannot read", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE legacy (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
             INSERT INTO legacy (id) SELECT g * 3 FROM generate_series(1, 10000) g]])
    local pb = playbook([=[
playbook "legacy" {
  phase "count" { transaction = false,
    backfill "legacy" { set = "n = n + 1", where = "true" },
    rollback = sql [[UPDATE legacy SET n = 0]] },
}]=])
    -- the ledger first (a run of another playbook), then the row an interrupted keyset run left:
    -- the rows up to id 12000 were done by it
    local setup = playbook([=[playbook "setup" { phase "noop" { sql [[SELECT 1]] } }]=])
    assert.equal(0, H.run_db(name, { setup }).status)
    c:exec([[UPDATE legacy SET n = 1 WHERE id <= 12000;
             INSERT INTO migrun.backfill (playbook, phase, step, last_key, rows_done, batches)
             VALUES ('legacy', 'count', 'backfill legacy', '{"migrun_k1": "twelve"}', 4000, 4)]])
    local bad = H.run_db(name, { pb })
    assert.is_not.equal(0, bad.status)
    assert.truthy((bad.stdout .. bad.stderr):find("not an integer of id", 1, true), bad.stdout .. bad.stderr)
    c:exec([[UPDATE migrun.backfill SET last_key = '{"migrun_k1": 12000}']])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("resuming after id 12000 (4000 rows in 4 batches before)", 1, true), r.stdout)
    assert.truthy(r.stdout:find("backfill legacy: 6000 rows", 1, true), r.stdout)
    local final = query(name, "SELECT min(n) AS lo, max(n) AS hi FROM legacy")[1]
    assert.equal(1, final.lo)
    assert.equal(1, final.hi)
  end)

  it("does rows inserted during the run past the last key, as the keyset form does, not those behind", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE grow (id int PRIMARY KEY, v int);
             INSERT INTO grow SELECT g, NULL FROM generate_series(1, 3000) g]])
    -- pause_if runs between batches: after the first one, rows arrive behind it and past the end
    local pb = playbook([=[
local calls = 0
playbook "grow" {
  phase "fill" { transaction = false,
    backfill "grow" { set = "v = 1", where = "v IS NULL", batch = 1000,
      pause_if = function(db)
        calls = calls + 1
        if calls == 2 then
          db:exec("INSERT INTO grow SELECT g, NULL FROM generate_series(900000, 900499) g")
          db:exec("INSERT INTO grow VALUES (-7, NULL)")
        end
        return false
      end },
    rollback = sql [[UPDATE grow SET v = NULL]] },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill grow: 3500 rows", 1, true), r.stdout)
    assert.equal(3500, query(name, "SELECT count(*) AS n FROM grow WHERE v = 1")[1].n)
    assert.is_nil(query(name, "SELECT v FROM grow WHERE id = -7")[1].v)
  end)

  it("walks a text key in keyset batches, and an integer key = column in ranges", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE tagged (code text PRIMARY KEY, seq bigint UNIQUE NOT NULL, v int);
             INSERT INTO tagged SELECT 'c' || g, g * 10 - 50000, NULL FROM generate_series(1, 2500) g]])
    local pb, dir = playbook([=[
playbook "text key" {
  phase "by code" { transaction = false,
    backfill "tagged" { set = "v = 1", where = "v IS NULL", batch = 300 },
    rollback = sql [[UPDATE tagged SET v = NULL]] },
  phase "by seq" { transaction = false,
    backfill "tagged" { set = "v = 2", where = "v = 1", key = "seq", batch = 3000 },
    rollback = sql [[UPDATE tagged SET v = 1]] },
}]=])
    local r = H.run_db(name, { "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    -- keyset: 300 rows a batch; ranges: 3000 keys a batch, so 300 rows (seq steps by 10)
    assert.truthy(r.stdout:find("backfill tagged: 2500 rows in 9 batches", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(9, doc.backfills[1].batches)
    assert.equal(9, doc.backfills[2].batches)
    assert.equal(2500, query(name, "SELECT count(*) AS n FROM tagged WHERE v = 2")[1].n)
  end)

  it("walks keys past 2^53 exactly in keyset batches (a composite key, a numeric key), and resumes there", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    -- 18-digit keys one apart: as a Lua float (a JSON number through cjson) they would round
    c:exec([[CREATE TABLE big (tenant int, id bigint, v int, PRIMARY KEY (tenant, id));
             INSERT INTO big SELECT 1, 123456789012345678 + g, NULL FROM generate_series(1, 50) g;
             CREATE TABLE num (id numeric PRIMARY KEY, v int);
             INSERT INTO num SELECT 987654321098765432 + g, NULL FROM generate_series(1, 50) g]])
    local pb = playbook([=[
playbook "big keys" {
  phase "big" { transaction = false,
    backfill "big" { set = "v = coalesce(v, 0) + 1", where = "v IS NULL", batch = 7 },
    backfill "num" { set = "v = coalesce(v, 0) + 1", where = "v IS NULL", batch = 7 },
    rollback = sql [[UPDATE big SET v = NULL; UPDATE num SET v = NULL]] },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    -- every row once: none skipped (v NULL), none done twice (v 2)
    for _, t in ipairs({ "big", "num" }) do
      assert.equal(0, query(name, "SELECT count(*) AS n FROM " .. t .. " WHERE v IS NULL OR v <> 1")[1].n, t)
    end
    -- a checkpoint in the middle (as a kill -9 leaves it): the rerun starts right after its key
    c:exec([[UPDATE big SET v = NULL WHERE id > 123456789012345700;
             INSERT INTO migrun.backfill (playbook, phase, step, last_key, rows_done, batches)
             VALUES ('big keys', 'big', 'backfill big', '{"migrun_k1": 1, "migrun_k2": 123456789012345700}', 22, 4);
             DELETE FROM migrun.steps WHERE playbook = 'big keys'; DELETE FROM migrun.plan_steps]])
    r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("resuming after tenant 1, id 123456789012345700", 1, true), r.stdout)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM big WHERE v IS NULL OR v <> 1")[1].n)
  end)

  it("copies in key ranges: a sparse source with negative keys, and where", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE src (id bigint PRIMARY KEY, name text, live boolean);
             INSERT INTO src SELECT g::bigint * 1000003 - 2000000000, 'n' || g, g % 10 <> 0
             FROM generate_series(1, 4000) g;
             CREATE TABLE dst (id bigint PRIMARY KEY, name text)]])
    local pb = playbook([=[
playbook "copy ranges" {
  phase "copy" { transaction = false,
    backfill "dst" { from = "src", select = "id, upper(name)", where = "live",
                     on_conflict = "(id) DO NOTHING" },
    verify = { expect.count("dst", 3600) },
    rollback = sql [[TRUNCATE dst]] },
}]=])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("backfill dst: 3600 rows", 1, true), r.stdout)
    assert.equal(0, query(name, "SELECT count(*) AS n FROM dst d JOIN src s USING (id) " ..
                                "WHERE NOT s.live OR d.name <> upper(s.name)")[1].n)
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

describe("backfill batches and locks", function()
  -- a fresh database with tbl (id, v, w, n) of 5,000 rows, a playbook that fills w and counts
  -- each row's updates in n (size: the backfill's batch or target; policy: lines before its
  -- phase), and a psql session that runs sql meanwhile (it holds a lock, then lets go) ->
  -- dbname, a connection, the playbook, the session
  local function held(tbl, size, policy, sql)
    local name = H.fresh_db("bf")
    local c = H.connect(name)
    c:exec(string.format([[CREATE TABLE %s (id bigint PRIMARY KEY, v text, w text, n int NOT NULL DEFAULT 0);
                           INSERT INTO %s SELECT g, 'v' || g, NULL, 0 FROM generate_series(1, 5000) g]], tbl, tbl))
    local pb = playbook(string.format([=[
playbook "%s" {
  %s
  phase "fill" { transaction = false,
    backfill "%s" { set = "w = upper(v), n = n + 1", where = "w IS NULL", %s },
    rollback = sql [[UPDATE %s SET w = NULL, n = 0]] },
}]=], tbl, policy, tbl, size, tbl))
    local holder = proc.spawn({ "psql", "-X", "-q", "-d", H.conninfo(name), "-c", sql },
                              { stdout = "null", stderr = "null" })
    return name, c, pb, holder
  end

  -- the run after the session let go: it succeeded, and every row was updated once
  local function done_once(c, tbl, r)
    local out = r.stdout .. r.stderr
    assert.equal(0, r.status, out)
    assert.truthy(r.stdout:find("backfill " .. tbl .. ": 5000 rows", 1, true), r.stdout)
    assert.equal(5000, c:query("SELECT count(*) FILTER (WHERE n = 1 AND w = upper(v)) AS n FROM " .. tbl)[1].n)
    return out
  end

  -- a fixed batch, and a tuned one: its lock_timeout is half its target at most, so a batch
  -- that waits for the table lock meets a lock timeout (retried at its size), not the target
  for _, size in ipairs({ "batch = 1000", 'target = "200ms"' }) do
    it("retries a batch that meets a lock timeout, and every row is done exactly once (" .. size .. ")", function()
      -- the table is locked against writes before the run starts, and let go about a second later
      local name, c <close>, pb, holder = held("held", size, 'lock_timeout = "200ms",',
        "BEGIN; LOCK TABLE held IN SHARE MODE; SELECT pg_sleep(1); COMMIT;")
      H.eventually(function()
        return c:query([[SELECT 1 FROM pg_locks l JOIN pg_class k ON k.oid = l.relation
                         WHERE k.relname = 'held' AND l.mode = 'ShareLock' AND l.granted]]).n > 0
      end)
      local r = H.run_db(name, { pb })
      holder:wait(10000)
      local out = done_once(c, "held", r)
      assert.truthy(out:find("a batch: lock_not_available (55P03), rolled back; retrying", 1, true), out)
      -- and says who holds the lock, once
      local _, named = out:gsub("backfill held: its table is locked by pid %d+ %(user [^\n]*" ..
                                "LOCK TABLE held IN SHARE MODE", "")
      assert.equal(1, named, out)
      assert.falsy(out:find("ran past its target", 1, true), out)
    end)
  end

  it("names the open transaction that holds a row its batch waited for, and goes on once it ends", function()
    -- one row, in the second batch, is locked by a transaction that ends about a second later
    local name, c <close>, pb, holder = held("rowheld", 'target = "200ms"', "",
      "BEGIN; UPDATE rowheld SET v = v WHERE id = 2500; SELECT pg_sleep(1); COMMIT;")
    H.eventually(function()
      return c:query([[SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                       AND wait_event = 'PgSleep']]).n > 0
    end)
    local r = H.run_db(name, { pb })
    holder:wait(10000)
    local out = done_once(c, "rowheld", r)
    assert.truthy(out:find("backfill rowheld: open transactions that wrote to rowheld: pid %d+ %(user [^\n]*" ..
                           "UPDATE rowheld SET v = v WHERE id = 2500"), out)
  end)
end)

-- a table of 3,000 rows and a backfill in batches of 1,000 that divides by zero at id 1500 (the
-- second batch), run once under the policy line given -> dbname, a connection, the playbook,
-- the run's result
local function fails_at_1500(policy)
  local name = H.fresh_db("bf")
  local c = H.connect(name)
  c:exec([[CREATE TABLE acc (id bigint PRIMARY KEY, v text, w text, n int NOT NULL DEFAULT 0);
           INSERT INTO acc SELECT g, 'v' || g, NULL, 0 FROM generate_series(1, 3000) g]])
  local pb = playbook([=[
playbook "half" {
  ]=] .. policy .. [=[

  phase "fill" { transaction = false,
    backfill "acc" { set = "w = (1 / (id - 1500))::text, n = n + 1", where = "w IS NULL", batch = 1000 },
    rollback = sql [[UPDATE acc SET w = NULL, n = 0]] },
}]=])
  return name, c, pb, H.run_db(name, { pb })
end

describe("a key-range batch's statement", function()
  it("fails whole with its checkpoint: the error names the SQLSTATE and the batch, a rerun resumes", function()
    local name, c <close>, pb, r = fails_at_1500('on_failure = "stop",')
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    assert.truthy(out:find("ERROR 22012: division by zero", 1, true), out)
    assert.truthy(out:find('"acc"."id" >= 1001 AND "acc"."id" <= 2000', 1, true), out)
    -- the failed batch took nothing with it: the checkpoint is the batch before, and so are the rows
    local cp = c:query([[SELECT (last_key->>'migrun_k1')::bigint AS last, rows_done FROM migrun.backfill]])[1]
    assert.equal(1000, cp.last)
    assert.equal(1000, cp.rows_done)
    local rows = c:query([[SELECT count(*) FILTER (WHERE n = 1 AND id <= 1000) AS done,
                                  count(*) FILTER (WHERE n <> 0 AND id > 1000) AS past FROM acc]])[1]
    assert.equal(1000, rows.done)
    assert.equal(0, rows.past)
    -- the plan says what the step does and where the next run resumes
    local p = H.run_db(name, { "plan", pb })
    assert.equal(0, p.status, p.stdout .. p.stderr)
    assert.truthy(p.stdout:find("step backfill acc: SET w = (1 / (id - 1500))::text, n = n + 1 WHERE", 1, true),
                  p.stdout)
    assert.truthy(p.stdout:find("[pending: resumes after key 1000, 1000 rows done]", 1, true), p.stdout)
    -- fixed (its text changed: --allow-drift), the rerun resumes and every row is done once
    H.write(pb, H.read(pb):gsub("%(1 / %(id %- 1500%)%)::text", "upper(v)"))
    r = H.run_db(name, { "--allow-drift", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("resuming after id 1000", 1, true), r.stdout)
    assert.truthy((r.stdout .. r.stderr):find("backfill acc changed since its checkpoint: the 1000 rows done " ..
                                              "keep what the old text did", 1, true), r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM acc WHERE n <> 1")[1].n)
  end)

  it("fails partly applied: on_failure = rollback undoes its batches and drops the checkpoint", function()
    local name, c <close>, pb, r = fails_at_1500("")
    local out = r.stdout .. r.stderr
    assert.equal(1, r.status, out)
    -- a batch committed before the failing one: not "nothing applied"
    assert.truthy(out:find("failed (partly applied)", 1, true), out)
    assert.falsy(out:find("nothing applied", 1, true), out)
    assert.equal("rolled_back",
      c:query("SELECT summary->'states'->>'fill' AS s FROM migrun.runs ORDER BY id DESC LIMIT 1")[1].s)
    -- the rollback ran, and the checkpoint went with it: it spoke of rows that are undone now
    assert.equal(0, c:query("SELECT count(*) AS n FROM acc WHERE n <> 0 OR w IS NOT NULL")[1].n)
    assert.equal(0, c:query("SELECT count(*) AS n FROM migrun.backfill")[1].n)
    -- fixed, the rerun starts from the first key (resuming after 1000 would skip 1000 rows)
    H.write(pb, H.read(pb):gsub("%(1 / %(id %- 1500%)%)::text", "upper(v)"))
    r = H.run_db(name, { "--allow-drift", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.falsy(r.stdout:find("resuming", 1, true), r.stdout)
    assert.equal(0, c:query("SELECT count(*) AS n FROM acc WHERE n <> 1 OR w IS NULL")[1].n)
  end)

  it("left partly applied (on_failure = stop), the rollback verb undoes its batches and its checkpoint", function()
    local name, c <close>, pb, r = fails_at_1500('on_failure = "stop",')
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.equal("partly_applied", c:query([[SELECT status FROM migrun.steps WHERE step = 'backfill acc'
                                             ORDER BY id DESC LIMIT 1]])[1].status)
    local p = H.run_db(name, { "plan", pb })
    assert.truthy(p.stdout:find("phase fill  [partly applied]", 1, true), p.stdout)
    r = H.run_db(name, { "rollback", "--yes", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("phase fill  rolled back", 1, true), r.stdout)
    assert.equal(0, c:query("SELECT count(*) AS n FROM acc WHERE n <> 0 OR w IS NOT NULL")[1].n)
    assert.equal(0, c:query("SELECT count(*) AS n FROM migrun.backfill")[1].n)
    -- fixed, the next run starts from the first key and does every row once
    H.write(pb, H.read(pb):gsub("%(1 / %(id %- 1500%)%)::text", "id::text"))
    r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM acc WHERE w IS DISTINCT FROM id::text OR n <> 1")[1].n)
  end)

  it("has one checksum in every process, and an applied one recorded in another key order is not drift", function()
    local pb = playbook([=[
playbook "stable" {
  phase "fill" { transaction = false,
    backfill "st" { set = "w = 'x'", where = "w IS NULL", key = "id", batch = 100 },
    rollback = sql [[UPDATE st SET w = NULL]] },
}]=])
    local code = "local pb = require('migrun.dsl').load(arg[1], { playbook = true }); " ..
                 "io.write(pb.items[1].steps[1].checksum)"
    local seen = {}
    for _ = 1, 6 do
      local r = H.migrun({ "-e", code, pb })
      assert.equal(0, r.status, r.stderr)
      seen[r.stdout] = true
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.equal(1, n)                              -- a Lua table's order differs between processes
    -- a ledger row of migrun 0.1 holds the checksum of the fields in whatever order its process had
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE st (id int PRIMARY KEY, w text);
             INSERT INTO st SELECT g, NULL FROM generate_series(1, 300) g]])
    assert.equal(0, H.run_db(name, { pb }).status)
    local old = require("migrun.hash").text('{"key":["id"],"where":"w IS NULL","set":"w = \'x\'","table":"st"}')
    c:exec("UPDATE migrun.steps SET checksum = $1 WHERE step = 'backfill st'", old)
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("nothing to do", 1, true), r.stdout)
    -- a real change is drift all the same
    H.write(pb, H.read(pb):gsub("w = 'x'", "w = 'y'"))
    r = H.run_db(name, { pb })
    assert.equal(2, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("fill / backfill st: changed since it was applied", 1, true), r.stderr)
  end)

  it("rolled back by the rollback verb, a finished backfill starts afresh on the next run", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE rb (id bigint PRIMARY KEY, w text);
             INSERT INTO rb SELECT g, NULL FROM generate_series(1, 500) g]])
    local pb = playbook([=[
playbook "again" {
  phase "fill" { transaction = false,
    backfill "rb" { set = "w = 'x' || id", where = "w IS NULL", batch = 200 },
    rollback = sql [[UPDATE rb SET w = NULL]] },
}]=])
    assert.equal(0, H.run_db(name, { pb }).status)
    -- a checkpoint left by an interrupted run of the rollback's playbook must not survive it
    c:exec([[INSERT INTO migrun.backfill (playbook, phase, step, run_id, last_key, rows_done, batches, updated_at)
             VALUES ('again', 'fill', 'backfill rb', 1, '{"migrun_k1": 400}', 400, 2, now())]])
    local r = H.run_db(name, { "rollback", "--yes", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM migrun.backfill")[1].n)
    r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, c:query("SELECT count(*) AS n FROM rb WHERE w IS NULL")[1].n)
  end)

  it("reaches the server as written: quotes, a backslash and a percent sign in set and where", function()
    local name = H.fresh_db("bf")
    local c <close> = H.connect(name)
    c:exec([[CREATE TABLE q (id int PRIMARY KEY, v text);
             INSERT INTO q SELECT g, NULL FROM generate_series(1, 50) g]])
    local pb = playbook([==[
playbook "quoted" {
  phase "fill" { transaction = false,
    backfill "q" { set = [[v = 'it''s 100% \ done']], where = [[v IS NULL AND 'a%b' LIKE 'a\%b']], batch = 20 },
    rollback = sql [[UPDATE q SET v = NULL]] },
}]==])
    local r = H.run_db(name, { pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local got = c:query("SELECT count(*) AS n, min(v) AS v FROM q WHERE v IS NOT NULL")[1]
    assert.equal(50, got.n)
    assert.equal([[it's 100% \ done]], got.v)
  end)
end)
