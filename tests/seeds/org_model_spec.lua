-- Seed "org_model": the organizational-model runbook as playbooks/org_model.lua, with its two
-- rollbacks (the data-preserving phase rollback, and playbooks/org_model_flag_rollback.lua),
-- run by the real binary, whole: 3.2's smoke tests on the switched-on features, the API's
-- response time after them (the fake application), the team's Slack messages and the
-- validation hour's watch. Green on a sandbox; on harness databases: the refusal without an
-- application, a database in another state with both rollbacks, and failing twins (a broken
-- index script, a policy that leaks assignments, an API slower than the runbook's 2 s).
local H = require "helper"
local cjson = require "cjson"
local A = dofile(H.source .. "/tests/seeds/app.lua")
local timed, one = H.timed, H.one

local PB = "playbooks/org_model.lua"
local FLAG_PB = "playbooks/org_model_flag_rollback.lua"
local FIXTURE = "sql/org_model/before.sql"
local SCHEMA = "sql/org_model/20250103_organizational_model_schema.sql"
local INDEXES = "sql/org_model/20250103_organizational_model_indexes.sql"
local ROUTES = { 'GET /health 200 {"status":"ok"}' }
local SMOKE = "3.2 smoke tests with the features on: coach dashboards, practitioner access, data isolation " ..
              "between organizations"

local function fresh(extra_sql) return H.seed_db("org_model", FIXTURE, extra_sql) end

local function expectation(doc, phase, prefix)
  for _, e in ipairs(doc.expectations) do
    if e.phase == phase and e.description:sub(1, #prefix) == prefix then return e end
  end
  error("no expectation " .. phase .. " / " .. prefix)
end

local FLAGS_ON = [[SELECT count(*) FROM feature_flags
                   WHERE flag_name IN ('organizational_model', 'multi_role_support') AND enabled]]

local function run_on(name, app, dir, pb)
  return A.run(app, A.args({ "--db", H.conninfo(name), pb or PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                             "--report", dir .. "/r.md" }, A.vars(app, { for_ = "1s" })))
end

-- the data-preserving rollback keeps the organizational data in three tables: without them,
-- the database must be exactly as before the migration
local function drop_preserved(name)
  local c <close> = H.connect(name)
  c:exec([[DROP TABLE IF EXISTS organizations_backup, practitioner_assignments_backup,
           profiles_organization_backup]])
end

describe("seed org_model", function()
  it("runs whole on a sandbox: the runbook's validation, the smoke tests after the flags, the API within 2 s, " ..
     "the team told, the validation hour watched", function()
    local app = A.start(ROUTES)
    local dir = H.tmpdir()
    local r = timed("org_model whole (sandbox)", function()
      return A.run(app, A.args({ "--sandbox", "--load", FIXTURE, PB, "--yes", "--report", dir .. "/r.md",
                                 "--set", "backup_dir=" .. dir .. "/backups" }, A.vars(app, { for_ = "3s" })))
    end)
    local seen, notices = A.seen(app), A.notices(app)
    app:stop()
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("succeeded", doc.outcome.status)
    assert.equal(2, #doc.phases)
    assert.equal("30m", doc.phases[1].budget)
    for _, e in ipairs(doc.expectations) do assert.is_true(e.ok, e.description) end
    -- pre-migration validation, recorded: 250 users, 48 active sponsor relationships, 3000 records
    assert.equal("Total Users 250, Active Sponsor Relationships 48, Total Virtue Progress Records 3000",
                 expectation(doc, "(preflight)", "pre-migration validation (recorded)").actual)
    -- post-migration validation and integrity (orphans, missing roles, invalid references: 0)
    local post = expectation(doc, "(verify)", "post-migration validation")
    assert.equal("Users with Organization 250, Coach Assignments Created 48, Users with Roles Assigned 250",
                 post.actual)
    assert.equal(post.actual, post.expected)
    local integrity = expectation(doc, "(verify)", "query(SELECT 'Orphaned Users'")
    assert.equal("[('Orphaned Users', 0), ('Missing Role Assignments', 0), " ..
                 "('Invalid Organization References', 0)]", integrity.actual)
    assert.equal("14 coaches, 236 practitioners, 0 wrong", expectation(doc, "schema migration", "roles:").actual)
    assert.is_true(expectation(doc, "schema migration", "existing profile data unchanged").ok)
    for _, t in ipairs({ "sponsor_practitioner_relationships", "user_virtue_progress", "virtues" }) do
      assert.is_true(expectation(doc, "(protect)", "protect " .. t).ok)
    end

    -- 3.2 after the flags, in the flags' phase: a coach sees the 4 practitioners she sponsored,
    -- a practitioner his coach, another organization's practitioner only his own
    local smoke = expectation(doc, "enable organizational features", SMOKE)
    assert.equal("features on 2 of 2; coach: organizations individual-users; coaching 4, coached by 0, other " ..
                 "people's assignments 0; assigning a coach refused (42501); practitioner: organizations " ..
                 "individual-users; coaching 0, coached by 1, other people's assignments 0; assigning a coach " ..
                 "refused (42501); other organization's practitioner: organizations smoke-test; coaching 0, " ..
                 "coached by 1, other people's assignments 0; assigning a coach refused (42501)", smoke.actual)

    -- the application: the team told, the API after the flags (final verify) and at every
    -- tick of the watch, the team told of the success
    assert.same({ "notify", "GET /health", "notify" }, A.squeeze(seen, "GET /health"))
    local api = A.expectations(doc, "http GET " .. app.url .. "/health", "(verify)")
    assert.equal(1, #api)
    assert.truthy(api[1].expected:find("within 2s", 1, true), api[1].expected)
    assert.same({ "notify start ok", "notify success ok" }, A.calls(doc))
    assert.truthy(notices[2]:find("succeeded", 1, true), notices[2])
    local w = doc.watch[1]
    assert.equal("validation hour", w.name)
    assert.equal("alert", w.on_breach)
    assert.equal(0, #w.breaches)

    local counts = {}
    for _, t in ipairs(doc.tables) do counts[t.table] = t end
    assert.equal(1, counts.organizations.after)
    assert.equal(48, counts.practitioner_assignments.after)
    assert.equal(0, counts.profiles.change)
    assert.truthy(doc.backup and #doc.backup.sha256 == 64)
    H.rmtree(dir)
  end)

  it("refuses to run without --set app: the preflight says what is missing (exit 1)", function()
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = H.migrun({ "--db", H.conninfo(name), PB, "--yes", "--set", "backup_dir=" .. dir .. "/backups",
                         "--report", dir .. "/r.md" }, { cwd = H.source })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("expect the application: --set app=URL (or app=none to run without it)  FAILED",
                                1, true), r.stdout)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)

  it("runs on a database in another state and rolls back both ways: feature flags only, then data-preserving",
     function()
    -- production is not the fixture: 30 more users, 3 more sponsors with 24 practitioners
    -- among them (one relationship ended), their progress
    local name = fresh([[
      INSERT INTO profiles (id, email, created_at)
      SELECT md5('profile-' || g)::uuid, 'user' || g || '@virtue.example', timestamptz '2025-01-01 08:00+00'
      FROM generate_series(251, 280) g;
      INSERT INTO sponsor_practitioner_relationships (sponsor_id, practitioner_id, active, created_at)
      SELECT md5('profile-' || (251 + (r - 1) % 3))::uuid, md5('profile-' || (256 + r))::uuid, r <> 24,
             timestamptz '2025-01-02 12:00+00' + r * interval '1 hour'
      FROM generate_series(1, 24) r;
      INSERT INTO user_virtue_progress (user_id, virtue_id, progress_pct)
      SELECT md5('profile-' || u)::uuid, v, 5 FROM generate_series(251, 280) u, generate_series(1, 12) v;]])
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("org_model on another state", function() return run_on(name, "none", dir) end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("warning: no application (--set app=none): /health is not checked", 1, true), r.stdout)
    local doc = cjson.decode(H.read(dir .. "/r.json"))
    assert.equal("Users with Organization 280, Coach Assignments Created 71, Users with Roles Assigned 280",
                 expectation(doc, "(verify)", "post-migration validation").actual)
    assert.equal("17 coaches, 263 practitioners, 0 wrong", expectation(doc, "schema migration", "roles:").actual)
    assert.truthy(expectation(doc, "enable organizational features", SMOKE).actual:find("coaching 8,", 1, true))
    assert.equal(2, one(name, FLAGS_ON))
    -- nothing of the smoke tests is left: no second organization, no role of theirs
    assert.equal(1, one(name, "SELECT count(*) FROM organizations"))
    assert.equal(0, one(name, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'org_smoke_%'"))
    local migrated = H.state(name)

    -- option 2: the flag rollback playbook switches the features off and nothing else
    r = timed("org_model flag rollback", function()
      return H.run_db(name, { FLAG_PB, "--yes", "--report", dir .. "/flags.md" })
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(0, one(name, FLAGS_ON))
    local after_flags = H.state(name)
    assert.equal(migrated.schema, after_flags.schema)
    for t, s in pairs(migrated.tables) do
      if t ~= "feature_flags" then assert.same(s, after_flags.tables[t], t) end
    end
    local flags = cjson.decode(H.read(dir .. "/flags.json"))
    assert.equal("succeeded", flags.outcome.status)
    assert.equal("dark_mode=true, sponsor_dashboard=true, virtue_journal=true, weekly_digest=false",
                 expectation(flags, "disable organizational features", "the other feature flags as they were").actual)
    -- and undoing it switches them on again
    r = H.run_db(name, { "rollback", "--yes", FLAG_PB, "--set", "backup_dir=" .. H.tmpdir() })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(2, one(name, FLAGS_ON))

    -- the extended rollback: organizational data preserved in *_backup tables, schema reverted
    r = timed("org_model data-preserving rollback", function()
      return H.run_db(name, { "rollback", "--yes", PB, "--set", "backup_dir=" .. H.tmpdir() })
    end)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal(1, one(name, "SELECT count(*) FROM organizations_backup WHERE slug = 'individual-users'"))
    assert.equal(71, one(name, "SELECT count(*) FROM practitioner_assignments_backup WHERE supervisor_role = 'coach'"))
    assert.equal(280, one(name, "SELECT count(*) FROM profiles_organization_backup WHERE organization_id IS NOT NULL"))
    assert.equal(17, one(name, "SELECT count(*) FROM profiles_organization_backup WHERE roles = ARRAY['coach']"))
    assert.equal(0, one(name, [[SELECT count(*) FROM information_schema.columns
                                WHERE table_name = 'profiles' AND column_name = 'organization_id']]))
    -- apart from the preserved data, the database is exactly as before the migration
    drop_preserved(name)
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
      return run_on(name, "none", copy, copy .. "/" .. PB)
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

  it("twin: a policy that shows a coach every assignment of the organization fails the smoke tests after the " ..
     "flags; both phases are rolled back", function()
    local copy = H.seed_copy(PB, "org_model", SCHEMA, function(t)
      return t:gsub("USING %(organization_id = public%.current_organization_id%(%)\n%s+AND " ..
                    "public%.current_profile_id%(%) IN %(practitioner_id, supervisor_id%)%);",
                    "USING (organization_id = public.current_organization_id());")
    end)
    local name = fresh()
    local before = H.state(name)
    local r = timed("org_model twin: leaky assignments policy", function()
      return run_on(name, "none", copy, copy .. "/" .. PB)
    end)
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find(SMOKE .. "  FAILED  (actual features on 2 of 2; coach: organizations individual-users; " ..
                           "coaching 4, coached by 0, other people's assignments 44;", 1, true), out)
    local doc = cjson.decode(H.read(copy .. "/r.json"))
    assert.equal("enable organizational features", doc.outcome.failed_phase)
    assert.equal("failed_rolled_back", doc.outcome.states["enable organizational features"])
    assert.equal("rolled_back", doc.outcome.states["schema migration"])
    assert.equal(0, one(name, "SELECT count(*) FROM feature_flags WHERE flag_name = 'organizational_model'"))
    drop_preserved(name)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(copy)
  end)

  it("twin: the API answers in 3 s with the features on: the final verify fails on the runbook's 2 s, the flags " ..
     "and the schema are rolled back, the team hears it", function()
    local app = A.start(ROUTES)
    app:delay("/health", 3000)
    local name = fresh()
    local before = H.state(name)
    local dir = H.tmpdir()
    local r = timed("org_model twin: slow API", function() return run_on(name, app, dir) end)
    local notices = A.notices(app)
    app:stop()
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("http GET " .. app.url .. "/health: status 2xx, within 2s  FAILED  (actual no answer " ..
                           "within 2s", 1, true), out)
    assert.equal(0, one(name, FLAGS_ON))
    assert.truthy(notices[2]:find("failed, rolled back", 1, true), notices[2])
    drop_preserved(name)
    assert.same(before, H.state(name))
    H.drop_db(name)
    H.rmtree(dir)
  end)
end)
