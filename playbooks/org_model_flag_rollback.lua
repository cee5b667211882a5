-- Organizational model, rollback option 2: "Feature Flag Rollback" (issues detected within the
-- first hour). Switches the organizational features off and touches nothing else: the
-- schema, the organization, the roles and the coach assignments stay, so switching the flags
-- back on (`migrun rollback` of this playbook) restores the new experience at once.
-- For issues discovered later, the data-preserving rollback is
-- `migrun rollback playbooks/org_model.lua`; for a database restore, `migrun restore` of the
-- backup playbooks/org_model.lua took.
--
--   migrun playbooks/org_model_flag_rollback.lua --yes

local FLAGS = "('organizational_model', 'multi_role_support')"

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

  gate "immediate rollback" {
    "Issue confirmed and traced to the organizational features (login failures, dashboards)",
    "Stakeholders told the organizational features are being switched off",
  },

  phase "disable organizational features" {
    sql "../sql/org_model/rollback_feature_flags.sql",
    budget = "1m",     -- a two-row UPDATE
    verify = {
      expect.query("SELECT count(*) FROM feature_flags WHERE flag_name IN " .. FLAGS .. " AND enabled", 0),
      -- the other flags as they were: three on, one off
      expect.query("SELECT count(*) FROM feature_flags WHERE flag_name NOT IN " .. FLAGS .. " AND enabled", 3),
    },
    -- undoing the rollback: the features on again
    rollback = sql "../sql/org_model/enable_feature_flags.sql",
  },

  verify = {
    expect.count("organizations", 1),
    expect.count("practitioner_assignments", 48),
    expect.query("SELECT count(*) FROM profiles WHERE organization_id IS NOT NULL", 250),
  },

  report = "../reports/org_model_flag_rollback.md",
}
