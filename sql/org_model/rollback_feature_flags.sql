-- Rollback option 2, "Feature Flag Rollback" (issues detected within the first hour): the
-- organizational features are switched off; schema and data stay as the migration left them.
UPDATE feature_flags
SET enabled = false, updated_at = now()
WHERE flag_name IN ('organizational_model', 'multi_role_support');
