-- 05_import_legacy_data.sql: the optional legacy import (runbook step 5): ICP, product,
-- competitor and persona data from the legacy tables into the KB of their workspace,
-- filed under the matching section.
--   Template-based: one import_legacy_kb(...) call per legacy table; adjust the calls (table,
--     section, title and content expressions over the legacy row `l`) to your schema.
--   Safe: a legacy table that does not exist is skipped with a NOTICE, not an error.
--   Tracked: every imported entry has metadata.import_source (the legacy table) and
--     metadata.legacy_id; a unique index on the two makes a second run import nothing.
--   Reversible: rollback_legacy_import('legacy_icp_data') removes one source's entries,
--     rollback_legacy_import() all of them.
-- Fixture: icp 5 + products 8 + competitors 6 + personas 7 = 26 entries (ws-a 10, ws-b 9, ws-c 7).

-- migrun:allow require-concurrent-index the runbook's maintenance window: the application is down and knowledge_base_entries holds a few hundred rows; the import needs the index in its own transaction
CREATE UNIQUE INDEX IF NOT EXISTS kb_entries_legacy_import_key
  ON knowledge_base_entries ((metadata ->> 'import_source'), (metadata ->> 'legacy_id'))
  WHERE metadata ? 'import_source';

CREATE OR REPLACE FUNCTION public.import_legacy_kb(p_source text, p_section text,
                                                   p_title text, p_content text)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  n integer;
BEGIN
  IF to_regclass(format('public.%I', p_source)) IS NULL THEN
    RAISE NOTICE 'legacy import: table % does not exist, skipped', p_source;
    RETURN 0;
  END IF;
  EXECUTE format($q$
    INSERT INTO knowledge_base_entries (title, content, category, workspace_id, section_id, metadata)
    SELECT %s, %s, $1, l.workspace_id,
           (SELECT s.id FROM kb_sections s WHERE s.workspace_id = l.workspace_id AND s.slug = $1),
           jsonb_build_object('import_source', $2::text, 'legacy_id', l.id::text)
    FROM public.%I AS l
    ON CONFLICT ((metadata ->> 'import_source'), (metadata ->> 'legacy_id'))
      WHERE metadata ? 'import_source' DO NOTHING
  $q$, p_title, p_content, p_source) USING p_section, p_source;
  GET DIAGNOSTICS n = ROW_COUNT;
  RAISE NOTICE 'legacy import: % entries from %', n, p_source;
  RETURN n;
END
$fn$;

CREATE OR REPLACE FUNCTION public.rollback_legacy_import(p_source text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  n integer;
BEGIN
  DELETE FROM knowledge_base_entries
  WHERE metadata ? 'import_source'
    AND (p_source IS NULL OR metadata ->> 'import_source' = p_source);
  GET DIAGNOSTICS n = ROW_COUNT;
  RAISE NOTICE 'rollback_legacy_import(%): % entries removed', coalesce(p_source, 'all sources'), n;
  RETURN n;
END
$fn$;

-- the template: source table, section, title, content
SELECT import_legacy_kb('legacy_icp_data',    'icp',         $$'ICP: ' || l.segment$$, 'l.criteria');
SELECT import_legacy_kb('legacy_products',    'products',    'l.name', $$coalesce(l.description, '')$$);
SELECT import_legacy_kb('legacy_competitors', 'competitors', 'l.name', $$coalesce(l.analysis, '')$$);
SELECT import_legacy_kb('legacy_personas',    'personas',    'l.name', $$coalesce(l.profile, '')$$);
