-- Runbook 3.1: "Enable feature flags for organizational functionality", once the new
-- application version is deployed.
UPDATE feature_flags
SET enabled = true, updated_at = now()
WHERE flag_name IN ('organizational_model', 'multi_role_support');
