-- Organizational model, rollback option 2: "Feature Flag Rollback" (issues detected within the
-- first hour). Switches the organizational features off and touches nothing else: the
-- schema, the organization, the roles and the coach assignments stay, so switching the flags
-- back on (`migrun rollback` of this playbook) restores the new experience at once.
-- For issues discovered later, the data-preserving rollback is
-- `migrun rollback playbooks/org_model.lua`; for a database restore, `migrun restore` of the
-- backup playbooks/org_model.lua took.
--
--   migrun playbooks/org_model_flag_rollback.lua --yes
--
-- The team hears it start and end ("keep stakeholders updated": SLACK_WEBHOOK in the
-- environment; without it the run warns once and goes on). It asks nothing of the
-- application: an emergency switch must not wait for one, and the flags are what the
-- application reads.

local FLAGS = "('organizational_model', 'multi_role_support')"

-- the flags this rollback leaves alone, as they were when its phase began
local OTHER_FLAGS = "SELECT coalesce(string_agg(flag_name || '=' || enabled, ', ' ORDER BY flag_name), " ..
                    "'(none)') AS f FROM feature_flags WHERE flag_name NOT IN " .. FLAGS
local other_flags_before

playbook "org_model_flag_rollback" {
  description = "Disable the organizational features; keep schema and data",
  budget = "15m",      -- inside the runbook's first hour, with room for the gate

  -- the organizational model is live: migrated, and both features on
  preflight = {
    expect.exists { "organizations", "practitioner_assignments" },
    expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS .. " AND enabled", 2),
  },

  -- a flag flip must leave every row of the organizational model where it is
  protect = { "organizations", "practitioner_assignments", "profiles",
              "sponsor_practitioner_relationships", "user_virtue_progress" },

  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure" } },

  gate "immediate rollback" {
    "Issue confirmed and traced to the organizational features (login failures, dashboards)",
    "Stakeholders told the organizational features are being switched off",
  },

  phase "disable organizational features" {
    step "record the feature flags left alone" (function(db)
      other_flags_before = db:query(OTHER_FLAGS)[1].f
      return 0
    end),
    sql "../sql/org_model/rollback_feature_flags.sql",
    budget = "1m",     -- a two-row UPDATE
    verify = {
      expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS .. " AND enabled", 0),
      expect.that("the other feature flags as they were", function(db)
        local now = db:query(OTHER_FLAGS)[1].f
        return now == other_flags_before, now, other_flags_before or "taken at the start of the phase"
      end),
    },
    -- undoing the rollback: the features on again
    rollback = sql "../sql/org_model/enable_feature_flags.sql",
  },

  -- the organizational model itself is still there, whole (protect compares every row)
  verify = {
    expect.count("organizations", { min = 1 }),
    expect.query("SELECT count(*) FROM profiles WHERE organization_id IS NULL", 0),
  },

  report = "../reports/org_model_flag_rollback.md",
}
