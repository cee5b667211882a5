-- Phases commit with synchronous_commit = off; the run's last commit is a durable one. So a
-- crash (pg_ctl stop -m immediate) can lose only the newest phases, each together with its own
-- ledger rows, never one without the other; and after exit 0 a crash loses nothing. On a
-- private cluster with fsync and synchronous_commit on.
local H = require "helper"
local db = require "migrun.db"
local proc = require "migrun.proc"
local sandbox = require "migrun.sandbox"

local N = 150

local function playbook()
  local dir = H.tmpdir()
  local lines = { 'playbook "durable" {' }
  for i = 1, N do
    lines[#lines + 1] = string.format('  phase "p%03d" { sql [[CREATE TABLE d%03d (id int)]], ' ..
                                      'rollback = sql [[DROP TABLE d%03d]] },', i, i, i)
  end
  lines[#lines + 1] = "}"
  H.write(dir .. "/pb.lua", table.concat(lines, "\n"))
  return dir .. "/pb.lua"
end

-- phases the ledger says are applied, and the tables that exist
local function compare(conninfo)
  local c <close> = db.connect(conninfo)
  local has_ledger = c:query("SELECT to_regclass('migrun.steps') IS NOT NULL AS e")[1].e
  local applied = {}
  if has_ledger then
    for _, r in ipairs(c:query([[SELECT DISTINCT ON (phase) phase, status FROM migrun.steps
                                 WHERE kind = 'phase' ORDER BY phase, id DESC]])) do
      if r.status == "applied" then applied[r.phase] = true end
    end
  end
  local exists = {}
  for _, r in ipairs(c:query("SELECT relname FROM pg_class WHERE relname ~ '^d[0-9]{3}$' AND relkind = 'r'")) do
    exists["p" .. r.relname:sub(2)] = true
  end
  local n = 0
  for _ in pairs(applied) do n = n + 1 end
  return applied, exists, n
end

describe("durability with synchronous_commit = off per phase", function()
  local sb
  setup(function() sb = sandbox.start({ durable = true }) end)
  teardown(function() sb:stop() end)

  local function fresh(name)
    local admin <close> = db.connect(sb:conninfo())
    admin:exec("CREATE DATABASE " .. name)
    return sb:conninfo(name)
  end

  it("a crash mid-run: the ledger matches the schema exactly", function()
    local conninfo = fresh("crash_mid")
    local h = proc.spawn({ H.bin, "--db", conninfo, "--quiet", playbook() }, { stdout = "null", stderr = "null" })
    -- wait until some phases are in, then crash the server and the run together
    H.eventually(function()
      local ok, n = pcall(function()
        local c <close> = db.connect(conninfo)
        return c:query([[SELECT count(*) AS n FROM pg_class WHERE relname ~ '^d[0-9]{3}$']])[1].n
      end)
      return ok and n >= 20
    end, 60000)
    h:kill(proc.SIGKILL)
    sb:restart({ immediate = true })
    H.eventually(function() return h:wait(10) end)
    local applied, exists, n = compare(conninfo)
    assert.truthy(n > 0 and n < N, "applied: " .. n)
    assert.same(applied, exists)
  end)

  it("after exit 0, a crash loses nothing, even where synchronous_commit is off by default", function()
    local conninfo = fresh("crash_after")
    do
      local admin <close> = db.connect(sb:conninfo())
      admin:exec("ALTER DATABASE crash_after SET synchronous_commit = off")
    end
    local r = proc.run({ H.bin, "--db", conninfo, "--quiet", playbook() }, { timeout = "300s" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    sb:restart({ immediate = true })
    local applied, exists, n = compare(conninfo)
    assert.equal(N, n)
    assert.same(applied, exists)
    local c <close> = db.connect(conninfo)
    assert.equal("succeeded", c:query("SELECT status FROM migrun.runs ORDER BY id DESC LIMIT 1")[1].status)
  end)
end)
