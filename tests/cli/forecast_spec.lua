-- What a migration will do to a live database, learnt before it runs: the locks a rehearsal
-- saw, proven rollbacks, and progress while a long statement runs.
local H = require "helper"
local cjson = require "cjson"

local FIX = H.source .. "/tests/fixtures/shop"

local function fresh()
  local name = H.fresh_db("fc")
  H.load(name, FIX .. "/before.sql")
  return name
end

local function playbook(text)
  local dir = H.tmpdir()
  H.write(dir .. "/pb.lua", text)
  return dir .. "/pb.lua", dir
end

describe("rehearse", function()
  it("forecasts the locks of every statement: relation, mode, what it blocks, held for, rewritten", function()
    local pb, dir = playbook([=[
playbook "locks" {
  lint = { ["adding-field-with-default"] = "warn", ["require-concurrent-index"] = "warn" },
  phase "rewrite" {
    sql [[ALTER TABLE orders ADD COLUMN token text DEFAULT md5(random()::text)]],
    rollback = sql [[ALTER TABLE orders DROP COLUMN token]],
  },
  phase "index" {
    sql [[CREATE INDEX orders_token_idx ON orders (token)]],
    rollback = sql [[DROP INDEX orders_token_idx]],
  },
}]=])
    local name = fresh()
    local r = H.run_db(name, { "rehearse", "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local by = {}
    for _, l in ipairs(doc.locks) do by[l.phase .. "/" .. l.relation .. "/" .. l.mode] = l end
    local rw = by["rewrite/orders/AccessExclusiveLock"]
    assert.truthy(rw, cjson.encode(doc.locks))
    assert.is_true(rw.rewritten)
    assert.equal("everything: reads, writes and DDL", rw.blocks)
    assert.truthy(rw.held_ms >= 0)
    local ix = by["index/orders/ShareLock"]
    assert.truthy(ix, cjson.encode(doc.locks))
    assert.is_false(ix.rewritten)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("## Locks (forecast from the rehearsal)", 1, true), md)
    assert.truthy(md:find("| rewrite | orders | AccessExclusiveLock | everything: reads, writes and DDL |",
                          1, true), md)
  end)

  it("--prove-rollbacks shows a rollback that brings the database back, and one that does not", function()
    local pb, dir = playbook([=[
playbook "proof" {
  lint = { ["ban-drop-column"] = "warn" },
  phase "add note" {
    sql [[ALTER TABLE orders ADD COLUMN note text]],
    rollback = sql [[ALTER TABLE orders DROP COLUMN note]],
  },
  phase "drop total" {
    sql [[ALTER TABLE orders DROP COLUMN total]],
    rollback = sql [[ALTER TABLE orders ADD COLUMN total numeric(10,2)]],
  },
}]=])
    local name = fresh()
    local before = H.state(name)
    local r = H.run_db(name, { "rehearse", "--prove-rollbacks", "--report", dir .. "/r.md", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))                  -- the target: untouched
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal(2, #doc.proofs)
    assert.is_true(doc.proofs[1].ok)
    assert.is_false(doc.proofs[2].ok)
    assert.equal("orders", doc.proofs[2].detail.tables[1].table)
    assert.truthy(doc.proofs[2].detail.known[1]:find("column order", 1, true))
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| add note | brings it back |", 1, true), md)
    assert.truthy(md:find("| drop total | **does not bring it back** |", 1, true), md)
  end)
end)

describe("a statement running over a second", function()
  it("reports its progress: elapsed time against its budget, the operation's phase and percent", function()
    local pb = playbook([=[
playbook "slow index" {
  phase "index" { transaction = false, budget = "2m",
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS big_slow_idx ON big (slow_id(id))]],
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS big_slow_idx]] },
}]=])
    local name = H.fresh_db("fc")
    local c <close> = H.connect(name)
    c:exec([[CREATE FUNCTION slow_id(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS
             $$ BEGIN PERFORM pg_sleep(0.01); RETURN $1; END $$;
             CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 300)]])
    local r = H.run_db(name, { "--json", pb })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local progress
    for line in r.stdout:gmatch("[^\n]+") do
      local e = cjson.decode(line)
      if e.event == "progress" then progress = e end
    end
    assert.truthy(progress, r.stdout)
    assert.equal("CREATE INDEX", progress.operation)
    assert.truthy(progress.seconds >= 1)
    assert.truthy(progress.budget_seconds > 100 and progress.budget_seconds <= 120, progress.budget_seconds)
  end)
end)
