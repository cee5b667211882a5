-- Production migration procedure: the consolidated baseline (20250906200000) of the tea
-- ceremony catalogue, applied to the production database that already has every table.
-- Replaces the runbook's 14 steps: backup and its verification (steps 3-4), final system
-- checks (step 5), the push (step 6), completion and schema diff (step 8), data integrity
-- (step 9), function and trigger validation (step 10) and the completion report (step 14).
-- Application work (maintenance mode, endpoint tests, monitoring) stays with people: it is
-- the go/no-go checklist.
--
--   migrun --sandbox --load sql/baseline/before.sql playbooks/baseline.lua --yes
--
-- Variables: backup_dir (default ../backups, i.e. backups/ at the repository root).

local BASELINE = "../sql/baseline/20250906200000_consolidated_baseline.sql"

-- Row counts of the data the runbook protects (step 9: "Verify data counts match
-- pre-migration"); the baseline adds schema only, so they hold before and after.
local ROWS = { objects = 412, media = 1236, accounts = 58, chakai = 37, local_classes = 9 }

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Everything the baseline can create or change in the public schema, as one digest:
-- tables (RLS flag, privileges), columns, constraints, indexes, policies, functions (body,
-- settings, privileges) and triggers (definition, enabled). Equal digests = same schema.
local CATALOG = [[
  SELECT count(*) AS objects, md5(string_agg(d, E'\n' ORDER BY d)) AS digest FROM (
    SELECT format('table %s rls=%s acl=%s', c.oid::regclass, c.relrowsecurity, c.relacl)
      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
    UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s', a.attrelid::regclass, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
        AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT format('policy %s %s %s %s %s %s', tablename, policyname, cmd, roles, qual, with_check)
      FROM pg_policies WHERE schemaname = 'public'
    UNION ALL
    SELECT format('function %s %s acl=%s', pg_get_functiondef(p.oid), p.proconfig, p.proacl)
      FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('trigger %s %s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
  ) AS s(d)]]

playbook "baseline" {
  description = "Consolidated baseline 20250906200000 on a database that already has the objects",
  budget = "3h",                      -- "Total Estimated Time: 2-3 hours including verification"
  lock_timeout = "2s",

  -- Step 5, final system checks, and what can make the push fail half-way ("Migration Fails
  -- Due to Constraint Conflict"): found here, before the backup and the downtime start.
  preflight = {
    -- `supabase migration list`: the 23 incremental migrations, the baseline not yet applied
    expect.query("SELECT count(*) FROM supabase_migrations.schema_migrations", 23),
    expect.query([[SELECT count(*) FROM supabase_migrations.schema_migrations
                   WHERE version = '20250906200000']], 0),
    expect.tables { schema = "public", count = 6 },
    -- pre-migration counts, checked again after (step 9)
    expect.count("objects", ROWS.objects),
    expect.count("media", ROWS.media),
    expect.count("accounts", ROWS.accounts),
    expect.count("chakai", ROWS.chakai),
    expect.count("local_classes", ROWS.local_classes),
    -- the foreign key and unique constraint the baseline adds must not meet conflicting rows
    expect.no_orphans "media.object_id -> objects.id",
    expect.query([[SELECT count(*) FROM (SELECT sort_order FROM local_classes
                   GROUP BY sort_order HAVING count(*) > 1) AS d]], 0),
    -- maintenance mode: no other client is running statements in this database
    expect.query([[SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND backend_type = 'client backend' AND state = 'active']], 0),
  },

  -- Steps 3-4: a full pg_dump (custom format), sha256 beside it, read back in full by
  -- pg_restore before the push starts (an empty or truncated file is refused).
  backup = backup.dump { dir = var("backup_dir", "../backups") },

  -- step 9: every row of the data tables survives, byte for byte; the migrations table gains
  -- the baseline's row
  protect = { "objects", "media", "accounts", "chakai", "local_classes",
              ["supabase_migrations.schema_migrations"] = "grow" },

  gate "go/no-go (T-0)" {
    "Downtime window scheduled and communicated; status page updated",
    "Application in maintenance mode (if required)",
    "Consolidated migration tested on a local copy; staging passed",
    "Team in the Slack channel; emergency contacts available",
    "Rollback ready: `migrun rollback playbooks/baseline.lua`, or `migrun restore` of the backup above",
  },

  -- Step 6: `supabase db push`. One transaction: the file, then the migrations-table row the
  -- CLI records. Steps 7-8 give it until T+15.
  phase "apply consolidated baseline" {
    sql(BASELINE),
    sql [[INSERT INTO supabase_migrations.schema_migrations (version, name)
          VALUES ('20250906200000', 'consolidated_baseline')
          ON CONFLICT (version) DO NOTHING]],
    budget = "15m",
    verify = {
      -- step 8: the migration list shows the baseline
      expect.query([[SELECT count(*) FROM supabase_migrations.schema_migrations
                     WHERE version = '20250906200000']], 1),
      -- existing tables were skipped, none created or lost
      expect.tables { schema = "public", count = 6 },
      -- new indexes and constraints
      expect.foreign_keys { count = 6 },
      expect.foreign_keys { table = "media", count = 1 },
      expect.index("objects", { "owner_id" }),
      expect.index("objects", { "category" }),
      expect.index("media", { "object_id", "sort_order" }),
      expect.index("chakai", { "host_id" }),
      expect.index("chakai", { "event_date" }),
      expect.index("local_classes", { "sort_order" }),
      -- RLS on every table: 8 policies before, 11 after
      expect.rls "accounts", expect.rls "objects", expect.rls "media",
      expect.rls "chakai", expect.rls "chakai_objects", expect.rls "local_classes",
      expect.policies { count = 11 },
      expect.policies { table = "local_classes", count = 2 },
      -- the security fixes: no function with a mutable search_path, and anon can no longer
      -- reorder classes
      expect.function_exists "public.swap_local_class_sort_order",
      expect.function_exists "public.assign_local_class_sort_order",
      expect.query([[SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
                     AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c
                                     WHERE c LIKE 'search_path=%')]], 0),
      expect.query([[SELECT has_function_privilege('anon',
                     'public.swap_local_class_sort_order(uuid, uuid)', 'EXECUTE')]], false),
      expect.trigger("local_classes", "set_local_classes_updated_at"),
      expect.trigger("local_classes", "assign_local_class_sort_order"),

      -- Step 10, inside the phase's transaction: swap the first two classes, check that their
      -- positions moved and the update trigger stamped them, swap back, insert a class
      -- without a position and check the insert trigger put it last. All of it under a
      -- savepoint that is rolled back: the data is left exactly as it was (protect checks).
      expect.that("swap_local_class_sort_order swaps two classes; both local_class triggers fire",
        function(db)
          local sp <close> = db:begin()
          local pair = db:query([[SELECT id, sort_order FROM public.local_classes
                                  ORDER BY sort_order LIMIT 2]])
          if pair.n < 2 then return false, pair.n .. " classes", "at least 2 classes" end
          local a, b = pair[1], pair[2]
          local want = string.format("swapped to %d/%d, stamped 2, back to %d/%d, new class at %d",
                                     b.sort_order, a.sort_order, a.sort_order, b.sort_order,
                                     db:query("SELECT max(sort_order) + 10 AS n FROM public.local_classes")[1].n)
          db:query("SELECT public.swap_local_class_sort_order($1, $2)", a.id, b.id)
          local moved = db:query([[SELECT (SELECT sort_order FROM public.local_classes WHERE id = $1) AS a,
                                          (SELECT sort_order FROM public.local_classes WHERE id = $2) AS b,
                                          (SELECT count(*) FROM public.local_classes
                                           WHERE id IN ($1, $2) AND updated_at = now()) AS stamped]],
                                 a.id, b.id)[1]
          db:query("SELECT public.swap_local_class_sort_order($1, $2)", a.id, b.id)
          local back = db:query([[SELECT (SELECT sort_order FROM public.local_classes WHERE id = $1) AS a,
                                         (SELECT sort_order FROM public.local_classes WHERE id = $2) AS b]],
                                a.id, b.id)[1]
          local new = db:query([[INSERT INTO public.local_classes (title) VALUES ('migrun check')
                                 RETURNING sort_order]])[1].sort_order
          sp:rollback()
          local got = string.format("swapped to %d/%d, stamped %d, back to %d/%d, new class at %d",
                                    moved.a, moved.b, moved.stamped, back.a, back.b, new)
          return got == want, got, want
        end, { tables = { "local_classes" } }),

      -- "Existing tables will show 'already exists, skipping'": applying the file a second
      -- time (under a savepoint, rolled back) leaves the catalogue exactly as the first did
      expect.that("the baseline is idempotent: a second application changes nothing",
        function(db, ctx)
          local sp <close> = db:begin()
          local first = db:query(CATALOG)[1]
          db:script(read(ctx.dir .. "/" .. BASELINE), { name = BASELINE })
          local second = db:query(CATALOG)[1]
          sp:rollback()
          return first.digest == second.digest,
            string.format("%d schema objects, digest %s", second.objects, second.digest:sub(1, 12)),
            string.format("%d schema objects, digest %s", first.objects, first.digest:sub(1, 12))
        end),
    },
    -- puts the pre-baseline schema back and keeps every row (sql/baseline/rollback.sql)
    rollback = sql "../sql/baseline/rollback.sql",
  },

  -- Steps 8-10 after COMMIT: the final suite, and the numbers of the completion report
  verify = {
    -- step 8: "diff consolidated_schema.sql post_migration_schema.sql" (pg_dump runs on its
    -- own connection: first in this list, before anything else touches the transaction)
    expect.schema "../sql/baseline/consolidated_schema.sql",
    -- step 9: data counts match pre-migration
    expect.count("objects", ROWS.objects),
    expect.count("media", ROWS.media),
    expect.count("accounts", ROWS.accounts),
    expect.count("chakai", ROWS.chakai),
    expect.count("local_classes", ROWS.local_classes),
    -- step 9: foreign key constraints, all of them validated
    expect.query([[SELECT conname FROM pg_constraint WHERE contype = 'f'
                   AND connamespace = 'public'::regnamespace
                   ORDER BY 1]],
                 { "accounts_id_fkey", "chakai_host_id_fkey", "chakai_objects_chakai_id_fkey",
                   "chakai_objects_object_id_fkey", "media_object_id_fkey", "objects_owner_id_fkey" }),
    expect.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated", 0),
    -- step 9: RLS policies of the public schema
    expect.query([[SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'
                   ORDER BY 1, 2]],
                 { { "accounts", "accounts_select_own" }, { "accounts", "accounts_update_own" },
                   { "chakai", "chakai_select_visible" }, { "chakai", "chakai_write_host" },
                   { "chakai_objects", "chakai_objects_select_visible" },
                   { "local_classes", "local_classes_select_public" },
                   { "local_classes", "local_classes_write_admin" },
                   { "media", "media_select_public" }, { "media", "media_write_admin" },
                   { "objects", "objects_select_public" }, { "objects", "objects_write_own" } }),
    -- step 10: "Verify triggers are active" (tgenabled 'O': fires in origin mode)
    expect.query([[SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE '%local_class%'
                   ORDER BY 1]],
                 { { "assign_local_class_sort_order", "O" }, { "set_local_classes_updated_at", "O" } }),
    expect.query("SELECT count(*) FROM supabase_migrations.schema_migrations", 24),
  },

  -- step 14: the completion report (Markdown, and JSON beside it)
  report = "../reports/baseline.md",
}
