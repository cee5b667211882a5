-- 04_seed_kb_sections.sql: the 9 default sections of every workspace (runbook step 4),
-- each existing workspace entry filed under its section, the performance indexes and the
-- helper view. Idempotent: ON CONFLICT DO NOTHING and "only where not yet filed", so a
-- second run inserts and updates nothing. Fixture: 3 workspaces x 9 = 27 sections.

INSERT INTO kb_sections (workspace_id, slug, name, icon, description, position)
SELECT w.id, s.slug, s.name, s.icon, s.description, s.position
FROM workspaces w
CROSS JOIN (VALUES
  (1, 'icp',         'ICP',         'target',         'Ideal Customer Profile: who we sell to'),
  (2, 'products',    'Products',    'package',        'What we sell, features and pricing'),
  (3, 'competitors', 'Competitors', 'swords',         'Who we compete with and how we win'),
  (4, 'personas',    'Personas',    'users',          'The people we talk to: goals and pains'),
  (5, 'value-props', 'Value Props', 'gem',            'Why customers choose us'),
  (6, 'use-cases',   'Use Cases',   'list-checks',    'Problems we solve, with examples'),
  (7, 'objections',  'Objections',  'message-circle', 'Objections we hear and our answers'),
  (8, 'resources',   'Resources',   'book-open',      'Links, documents and references'),
  (9, 'general',     'General',     'folder',         'Everything else')
) AS s (position, slug, name, icon, description)
ON CONFLICT (workspace_id, slug) DO NOTHING;

-- file each workspace entry under the section of its category (General when it has none
-- or an unknown one); shared entries have no workspace, so no section
UPDATE knowledge_base_entries e
SET section_id = s.id
FROM kb_sections s
WHERE e.section_id IS NULL
  AND e.workspace_id IS NOT NULL
  AND s.workspace_id = e.workspace_id
  AND s.slug = CASE WHEN e.category IN ('icp', 'products', 'competitors', 'personas', 'value-props',
                                        'use-cases', 'objections', 'resources', 'general')
                    THEN e.category ELSE 'general' END;

-- the KB screen lists one workspace's section in date order
-- migrun:allow require-concurrent-index the runbook's maintenance window: the application is down and knowledge_base_entries holds a few hundred rows
CREATE INDEX IF NOT EXISTS kb_entries_workspace_section_idx
  ON knowledge_base_entries (workspace_id, section_id, created_at DESC);
CREATE INDEX IF NOT EXISTS kb_sections_workspace_position_idx ON kb_sections (workspace_id, position);

-- helper view: sections with their entry counts; security_invoker so that RLS applies to
-- whoever reads it, not to the view's owner
CREATE OR REPLACE VIEW kb_section_overview WITH (security_invoker = true) AS
SELECT s.workspace_id, s.id AS section_id, s.slug, s.name, s.icon, s.position,
       count(e.id) AS entries
FROM kb_sections s
LEFT JOIN knowledge_base_entries e ON e.section_id = s.id
GROUP BY s.id;
