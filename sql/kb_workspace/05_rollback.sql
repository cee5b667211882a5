-- 05_rollback.sql: undo the legacy import: its entries (by their metadata tag), then the
-- functions and the index it created.

SELECT rollback_legacy_import();
DROP FUNCTION IF EXISTS public.import_legacy_kb(text, text, text, text);
DROP FUNCTION IF EXISTS public.rollback_legacy_import(text);
DROP INDEX IF EXISTS kb_entries_legacy_import_key;
