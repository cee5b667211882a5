-- Seed "org_model": the organizational-model runbook as playbooks/org_model.lua, with its two
-- rollbacks (the data-preserving phase rollback, and playbooks/org_model_flag_rollback.lua),
-- run by the real binary on a sandbox (green) and on harness databases (rollbacks, twin).
local H = require "helper"
local cjson = require "cjson"
local timed, run_db, one = H.timed, H.run_db, H.one

local PB = "playbooks/org_model.lua"
local FLAG_PB = "playbooks/org_model_flag_rollback.lua"
local FIXTURE = "sql/org_model/before.sql"
local INDEXES = "sql/org_model/20250103_organizational_model_indexes.sql"

local function fresh() return H.seed_db("org_model", FIXTURE) end

local function expectation(doc, phase, prefix)
  for _, e in ipairs(doc.expectations) do
    if e.phase == phase and e.description:sub(1, #prefix) == prefix then return e end
  end
  error("no expectation " .. phase .. " / " .. prefix)
end

local FLAGS_ON = [[SELECT count(*) FROM feature_flags
                   WHERE flag_name IN ('organizational_model', 'multi_role_support') AND enabled]]

describe("seed org_model", function()
  it("runs green on a sandbox with the runbook's validation numbers", function()
    local dir = H.tmpdir()
    local r = timed("org_model green (sandbox)", function()
      return H.seed_green(FIXTURE, PB, dir)
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.equal(2, #doc.phases)
    assert.equal("30m", doc.phases[1].budget)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    -- pre-migration validation: 250 users, 48 active sponsor relationships, 3000 progress records
    local pre = expectation(doc, "(preflight)", "query(SELECT 'Total Users'")
    assert.equal("[('Total Users', 250), ('Active Sponsor Relationships', 48), " ..
                 "('Total Virtue Progress Records', 3000)]", pre.actual)
    -- post-migration validation and integrity (orphans, missing roles, invalid references: 0)
    local post = expectation(doc, "(verify)", "query(SELECT 'Users with Organization'")
    assert.equal("[('Users with Organization', 250), ('Coach Assignments Created', 48), " ..
                 "('Users with Roles Assigned', 250)]", post.actual)
    local integrity = expectation(doc, "(verify)", "query(SELECT 'Orphaned Users'")
    assert.equal("[('Orphaned Users', 0), ('Missing Role Assignments', 0), " ..
                 "('Invalid Organization References', 0)]", integrity.actual)
    assert.equal("[('coach', 14), ('practitioner', 236)]",
                 expectation(doc, "schema migration", "query(SELECT roles[1]").actual)
    assert.is_true(expectation(doc, "schema migration", "existing profile data unchanged").ok)
    for _, t in ipairs({ "sponsor_practitioner_relationships", "user_virtue_progress", "virtues" }) do
      assert.is_true(expectation(doc, "(protect)", "protect " .. t).ok)
    end
    local counts = {}
    for _, t in ipairs(doc.tables) do counts[t.table] = t end
    assert.equal(1, counts.organizations.after)
    assert.equal(48, counts.practitioner_assignments.after)
    assert.equal(0, counts.profiles.change)
    assert.truthy(doc.backup and #doc.backup.sha256 == 64)
    H.rmtree(dir)
  end)

  it("rolls back both ways: feature flags only, then data-preserving", function()
    local dir = H.tmpdir()
    local name = fresh()
    local before = H.state(name)
    local r = run_db(name, { PB, "--yes", "--set", "backup_dir=" .. dir, "--report", dir .. "/r.md" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(2, one(name, FLAGS_ON))
    local migrated = H.state(name)

    -- option 2: the flag rollback playbook switches the features off and nothing else
    r = timed("org_model flag rollback", function()
      return run_db(name, { FLAG_PB, "--yes", "--report", dir .. "/flags.md" })
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, one(name, FLAGS_ON))
    local after_flags = H.state(name)
    assert.equal(migrated.schema, after_flags.schema)
    for t, s in pairs(migrated.tables) do
      if t ~= "feature_flags" then assert.same(s, after_flags.tables[t], t) end
    end
    local doc = cjson.decode(H.read(dir .. "/flags.json"))
    assert.equal("succeeded", doc.outcome.status)
    -- and undoing it switches them on again
    r = run_db(name, { "rollback", "--yes", FLAG_PB, "--set", "backup_dir=" .. H.tmpdir() })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(2, one(name, FLAGS_ON))

    -- the extended rollback: organizational data preserved in *_backup tables, schema reverted
    r = timed("org_model data-preserving rollback", function()
      return run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(1, one(name, "SELECT count(*) FROM organizations_backup WHERE slug = 'individual-users'"))
    assert.equal(48, one(name, "SELECT count(*) FROM practitioner_assignments_backup WHERE supervisor_role = 'coach'"))
    assert.equal(250, one(name, "SELECT count(*) FROM profiles_organization_backup WHERE organization_id IS NOT NULL"))
    assert.equal(14, one(name, "SELECT count(*) FROM profiles_organization_backup WHERE roles = ARRAY['coach']"))
    assert.equal(0, one(name, [[SELECT count(*) FROM information_schema.columns
                                WHERE table_name = 'profiles' AND column_name = 'organization_id']]))
    -- apart from the preserved data, the database is exactly as before the migration
    do
      local c <close> = H.connect(name)
      c:exec([[DROP TABLE organizations_backup, practitioner_assignments_backup,
               profiles_organization_backup]])
    end
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("twin: a typo in the index script fails at file:line and leaves the database as it was", function()
    local copy = H.seed_copy(PB, "org_model", INDEXES, function(t)
      return t:gsub("ON profiles %(organization_id%)", "ON profiles (organisation_id)")
    end)
    local text = H.read(copy .. "/" .. INDEXES)
    local line = H.line_of(text, "organisation_id")
    local name = fresh()
    local before = H.state(name)
    local r = timed("org_model twin: broken index script", function()
      return H.migrun({ "--db", H.conninfo(name), copy .. "/" .. PB, "--yes",
                        "--set", "backup_dir=" .. copy .. "/backups", "--report", copy .. "/r.md" })
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    -- one-line statement; the server gives no position for a missing index column
    assert.truthy(out:find(string.format("20250103_organizational_model_indexes.sql:%d:1: ERROR 42703", line),
                           1, true), out)
    -- the schema and data scripts ran before it, in the same transaction: gone with it
    assert.same(before, H.state(name))
    local doc = cjson.decode(H.read(copy .. "/r.json"))
    assert.equal("schema migration", doc.outcome.failed_phase)
    assert.equal("failed_rolled_back", doc.outcome.states["schema migration"])
    H.drop_db(name)
    H.rmtree(copy)
  end)
end)
