-- Seed "baseline": the consolidated-baseline runbook as playbooks/baseline.lua, run by the real
-- binary on a sandbox (green) and on harness databases (idempotence, rollback, failing twins).
local H = require "helper"
local cjson = require "cjson"
local lfs = require "lfs"
local timed, run_db, one, expectation = H.timed, H.run_db, H.one, H.expectation

local PB = "playbooks/baseline.lua"
local FIXTURE = "sql/baseline/before.sql"
local BASELINE = "sql/baseline/20250906200000_consolidated_baseline.sql"

local function fresh() return H.seed_db("baseline", FIXTURE) end

local function files_in(dir)
  local n = 0
  if lfs.attributes(dir, "mode") ~= "directory" then return 0 end
  for f in lfs.dir(dir) do if f ~= "." and f ~= ".." then n = n + 1 end end
  return n
end

local function broken_copy(edit)
  return H.seed_copy(PB, "baseline", BASELINE, function(t) return edit(t) end)
end

describe("seed baseline", function()
  it("runs green on a sandbox: every check passes, the five data tables keep their rows", function()
    local dir = H.tmpdir()
    local r = timed("baseline green (sandbox)", function()
      return H.seed_green(FIXTURE, PB, dir)
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.equal("applied", doc.phases[1].status)
    assert.equal("15m", doc.phases[1].budget)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    -- the completion report's numbers (step 14), before and after
    for t, n in pairs({ objects = 412, media = 1236, accounts = 58, chakai = 37, local_classes = 9 }) do
      local desc = string.format("count(%s) = %d", t, n)
      assert.equal(tostring(n), expectation(doc, "(preflight)", desc).actual)
      assert.equal(tostring(n), expectation(doc, "(verify)", desc).actual)
      assert.is_true(expectation(doc, "(protect)", "protect " .. t .. " (same)").ok)
    end
    assert.equal("11", expectation(doc, "apply consolidated baseline", "policies = 11").actual)
    assert.equal("6", expectation(doc, "apply consolidated baseline", "foreign_keys = 6").actual)
    assert.is_true(expectation(doc, "apply consolidated baseline",
      "swap_local_class_sort_order swaps two classes; both local_class triggers fire").ok)
    assert.is_true(expectation(doc, "apply consolidated baseline",
      "the baseline is idempotent: a second application changes nothing").ok)
    assert.equal("same", expectation(doc, "(verify)", "schema(../sql/baseline/consolidated_schema.sql)").actual)
    -- the backup of steps 3-4: on disk, checksummed
    assert.truthy(doc.backup and doc.backup.sha256 and #doc.backup.sha256 == 64)
    assert.truthy(lfs.attributes(doc.backup.file, "size") > 0)
    local md = H.read(dir .. "/r.md")
    assert.truthy(md:find("| (verify) | count(objects) = 412 | 412 | 412 | pass |", 1, true), md)
    H.rmtree(dir)
  end)

  it("applies to a database that has the objects, applies again as a no-op, and rolls back exactly", function()
    local dir = H.tmpdir()
    local name = fresh()
    local before = H.state(name)
    local r = run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local applied = H.state(name)
    -- the file itself is idempotent: a second application changes neither schema nor data
    H.load(name, H.source .. "/" .. BASELINE)
    assert.same(applied, H.state(name))
    -- and so is the playbook: a second run has nothing to do
    r = run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("already applied", 1, true), r.stdout)
    assert.same(applied, H.state(name))
    -- the swap check ran inside the phase and left the data alone
    assert.equal(10, one(name, "SELECT sort_order FROM local_classes WHERE title = 'Urasenke class 1'"))
    -- anon could reorder classes before, not after
    assert.is_false(one(name, [[SELECT has_function_privilege('anon',
      'public.swap_local_class_sort_order(uuid, uuid)', 'EXECUTE')]]))
    -- migrun rollback: the pre-baseline schema back, every row kept
    r = run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.same(before, H.state(name))
    assert.equal(23, one(name, "SELECT count(*) FROM supabase_migrations.schema_migrations"))
    assert.is_true(one(name, [[SELECT has_function_privilege('anon',
      'public.swap_local_class_sort_order(uuid, uuid)', 'EXECUTE')]]))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: an orphaned media row (the FK conflict) stops the run at preflight, before the backup", function()
    local dir = H.tmpdir()
    local name = fresh()
    do
      local c <close> = H.connect(name)
      c:exec("UPDATE media SET object_id = 4120 WHERE id = 1236")   -- its object was deleted
    end
    local before = H.state(name)
    local r = timed("baseline twin: orphaned media row", function()
      return run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                            "--report", dir .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("no_orphans(media.object_id -> objects.id)", 1, true), out)
    assert.truthy(out:find("preflight failed", 1, true), out)
    assert.same(before, H.state(name))
    assert.equal(0, files_in(dir .. "/backups"))
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    local e = expectation(doc, "(preflight)", "no_orphans(media.object_id -> objects.id)")
    assert.is_false(e.ok)
    assert.equal("1", e.actual)
    assert.equal(0, one(name, "SELECT count(*) FROM pg_constraint WHERE conname = 'media_object_id_fkey'"))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a broken statement in the baseline fails at file:line:col and rolls the phase back", function()
    local copy = broken_copy(function(s)
      return (s:gsub("ON public%.chakai %(event_date%)", "ON public.chakai (event_day)"))
    end)
    local text = H.read(copy .. "/" .. BASELINE)
    -- the statement is one line; the server gives no position for a missing index column, so
    -- the error points at the start of the statement
    local line = H.line_of(text, "event_day")
    local name = fresh()
    local before = H.state(name)
    local r = timed("baseline twin: broken SQL", function()
      return H.migrun({ "--db", H.conninfo(name), copy .. "/" .. PB, "--yes",
                        "--set", "backup_dir=" .. copy .. "/backups", "--report", copy .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find(string.format("20250906200000_consolidated_baseline.sql:%d:1: ERROR 42703", line),
                           1, true), out)
    assert.same(before, H.state(name))
    assert.equal("failed", one(name, [[SELECT status FROM migrun.steps WHERE kind = 'sql'
                                       ORDER BY id DESC LIMIT 1]]))
    H.drop_db(name)
    H.rmtree(copy)
  end)
end)
