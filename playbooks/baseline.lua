-- Production migration procedure: the consolidated baseline (20250906200000) of the tea
-- ceremony catalogue, applied to the production database that already has every table.
-- Replaces the runbook's 14 steps: backup and its verification (steps 3-4), final system
-- checks (step 5), maintenance mode on (step 6) and off (step 11), the push (step 6),
-- completion and schema diff (step 8), data integrity (step 9: counts and content as before
-- the run, RLS tried as Supabase's real roles), function and trigger validation (step 10),
-- the endpoint tests (step 11), the team's Slack channel (communication plan), the production
-- monitoring of T+60 to T+120 (step 12, a watch window) and the completion report (step 14).
--
--   SLACK_WEBHOOK=https://hooks.slack.com/... \
--   migrun playbooks/baseline.lua --db "$PROD_DB_URL" --set app=https://your-app.com
--   migrun --sandbox --load sql/baseline/before.sql playbooks/baseline.lua --yes \
--          --set app=none --set watch_for=10s --set watch_every=2s
--
-- The application: --set app=URL is its base URL. Maintenance mode goes on (POST
-- /admin/maintenance-mode) right before the push and comes off (DELETE) whatever happened:
-- success, a failed phase rolled back, a declined gate, Ctrl-C. The endpoint checks run in the
-- final verify, while the application is still in maintenance mode (the runbook takes it out
-- first): a failure then rolls the baseline back before users come back to a broken site, so
-- the application must answer /api/health, /api/objects and /api/chakai in maintenance mode
-- (as the usual maintenance modes do for health and API probes). Once users are back the
-- watch window asks /api/health again, every tick. A run without --set app is refused at
-- preflight, before anything is touched; --set app=none runs without an application (a
-- sandbox) and says so.
-- Variables: app, backup_dir (default ../backups, i.e. backups/ at the repository root),
-- drain (seconds the application's sessions get to finish once maintenance mode is on, 30),
-- watch_for (1h), watch_every (15s). RLS is tried as anon and authenticated: the migrating
-- user must be allowed to SET ROLE to them (Supabase's postgres is).
--
-- Still with people, and why: the users' maintenance notice and the status page (T-90) are
-- messages to customers, not calls migrun can verify; "verify authentication still works"
-- and the user acceptance of T+90 (log in, browse objects, admin classes, chakai, media
-- uploads) are a person's walk through the site; the API log and its error rates (`supabase
-- logs`) are the platform's, outside the database. The go/no-go gate asks for them.

local BASELINE = "../sql/baseline/20250906200000_consolidated_baseline.sql"

-- step 9, "Verify data counts match pre-migration": the five data tables of the completion
-- report, compared with the run start (whatever their size: this is production, not a fixture)
local DATA = { "objects", "media", "accounts", "chakai", "local_classes" }

-- the application: a URL, "none" (run without it, and say so), or unset (refused at preflight)
local APP = var.app
local WITH_APP = APP ~= nil and APP ~= "none"

local app_given = expect.that("the application: --set app=URL (or app=none to run without it)", function()
  if APP == nil then return false, "not set", "--set app=URL, or --set app=none" end
  return true, WITH_APP and APP or "none: no maintenance mode, the endpoint checks are skipped",
         "--set app=URL, or --set app=none"
end)

-- list, plus the application's checks when there is an application
local function with_app(list, checks)
  if WITH_APP then
    for _, e in ipairs(checks()) do list[#list + 1] = e end
  end
  return list
end

-- step 11: curl -f https://your-app.com/api/health, /api/objects?limit=1, /api/chakai?limit=1
local function endpoints()
  return {
    expect.http { url = APP .. "/api/health", within = "5s" },
    expect.http { url = APP .. "/api/objects?limit=1", within = "5s" },
    expect.http { url = APP .. "/api/chakai?limit=1", within = "5s" },
  }
end

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

---------------------------------------------------------------------------------------------
-- Step 9, "Verify RLS policies", and the success criterion "RLS policies functioning
-- correctly", for real: SET ROLE to Supabase's anon and authenticated roles with the request's
-- user set as PostgREST sets it, inside a savepoint rolled back afterwards (role, settings and
-- test rows go with it). What each role should see is computed as the owner (RLS bypassed)
-- from the rows there are, so the check holds on any data, not only the fixture's.

local function as_role(db, role, user_id, fn)
  local sp <close> = db:begin()
  db:exec("SET LOCAL ROLE " .. db:quote_ident(role))
  db:query([[SELECT set_config('request.jwt.claim.sub', $1, true),
                    set_config('request.jwt.claims', $2, true)]],
           user_id or "", user_id and string.format('{"sub":"%s","role":"%s"}', user_id, role) or "")
  local res = table.pack(pcall(fn))
  sp:rollback()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- one statement under a savepoint always rolled back: "ok" (with the rows it touched when that
-- is what matters), or "refused (SQLSTATE)"
local function try(db, statement, ...)
  local sp <close> = db:begin()
  local ok, res = pcall(db.exec, db, statement, ...)
  sp:rollback()
  if ok then return "ok", res end
  return "refused (" .. tostring(type(res) == "table" and res.sqlstate or res) .. ")"
end

-- what a role sees of the five tables, as one line
local SEEN = [[
  SELECT (SELECT count(*) FROM public.objects) AS objects, (SELECT count(*) FROM public.media) AS media,
         (SELECT count(*) FROM public.accounts) AS accounts, (SELECT count(*) FROM public.chakai) AS chakai,
         (SELECT count(*) FROM public.chakai_objects) AS chakai_objects,
         (SELECT count(*) FROM public.local_classes) AS local_classes]]
local function seen_text(r)
  return string.format("sees objects %d, media %d, accounts %d, chakai %d, chakai_objects %d, local_classes %d",
                       r.objects, r.media, r.accounts, r.chakai, r.chakai_objects, r.local_classes)
end

-- the same counts as the policies should give them to a user (nil: a visitor), computed as
-- the owner
local function should_see(db, user_id, admin)
  return db:query([[
    WITH obj AS (SELECT * FROM public.objects WHERE is_public OR owner_id = $1::uuid OR $2),
         ch AS (SELECT * FROM public.chakai
                WHERE visibility = 'public' OR (visibility = 'members' AND $1::uuid IS NOT NULL)
                   OR host_id = $1::uuid)
    SELECT (SELECT count(*) FROM obj) AS objects,
           (SELECT count(*) FROM public.media m
            WHERE EXISTS (SELECT 1 FROM obj WHERE obj.id = m.object_id)) AS media,
           (SELECT count(*) FROM public.accounts
            WHERE $1::uuid IS NOT NULL AND (id = $1::uuid OR $2)) AS accounts,
           (SELECT count(*) FROM ch) AS chakai,
           (SELECT count(*) FROM public.chakai_objects co
            WHERE EXISTS (SELECT 1 FROM ch WHERE ch.id = co.chakai_id)) AS chakai_objects,
           (SELECT count(*) FROM public.local_classes) AS local_classes]], user_id, admin == true)[1]
end

-- two classes to reorder (the admin screen's move up / move down)
local function two_classes(db)
  local r = db:query("SELECT id::text FROM public.local_classes ORDER BY sort_order LIMIT 2")
  return r[1] and r[1].id, r[2] and r[2].id
end

local NEW_CLASS = "INSERT INTO public.local_classes (title) VALUES ('rls check')"
local REORDER = "SELECT public.swap_local_class_sort_order($1::uuid, $2::uuid)"

local rls_anon = expect.that("RLS as anon (a visitor): public rows only, no account, no writes, no reordering",
  function(db)
    local a, b = two_classes(db)
    local expected = seen_text(should_see(db, nil)) .. "; insert a class refused (42501); reorder refused (42501)"
    local actual = as_role(db, "anon", nil, function()
      return string.format("%s; insert a class %s; reorder %s", seen_text(db:query(SEEN)[1]), try(db, NEW_CLASS),
                           try(db, REORDER, a, b))
    end)
    return actual == expected, actual, expected
  end)

local rls_member = expect.that("RLS as authenticated (a member): own account and objects, writes only to own " ..
                               "objects, no classes", function(db)
  -- a member who owns a private object, so "own rows" means something (any member otherwise)
  local who = db:query([[
    SELECT a.id::text AS id,
           (SELECT o.id FROM public.objects o WHERE o.owner_id IS DISTINCT FROM a.id ORDER BY o.id LIMIT 1) AS other
    FROM public.accounts a WHERE a.role = 'member'
    ORDER BY EXISTS (SELECT 1 FROM public.objects o WHERE o.owner_id = a.id AND NOT o.is_public) DESC,
             a.created_at, a.id LIMIT 1]])[1]
  if not who then return false, "no member account", "a member to try" end
  local a, b = two_classes(db)
  local expected = seen_text(should_see(db, who.id)) .. "; insert own object ok, someone else's refused (42501); " ..
    "update someone else's object: 0 rows; insert a class refused (42501); insert media refused (42501); " ..
    "reorder refused (42501)"
  local actual = as_role(db, "authenticated", who.id, function()
    local insert = "INSERT INTO public.objects (owner_id, name, category) VALUES ($1::uuid, 'rls check', 'chawan')"
    local other_owner = db:query("SELECT owner_id::text AS o FROM public.objects WHERE id = $1", who.other)
    local _, touched = try(db, "UPDATE public.objects SET name = name || '' WHERE id = $1", who.other)
    return string.format("%s; insert own object %s, someone else's %s; update someone else's object: %s rows; " ..
      "insert a class %s; insert media %s; reorder %s", seen_text(db:query(SEEN)[1]), try(db, insert, who.id),
      try(db, insert, other_owner[1] and other_owner[1].o or "00000000-0000-0000-0000-000000000000"),
      tostring(touched), try(db, NEW_CLASS),
      try(db, [[INSERT INTO public.media (object_id, storage_path, mime_type)
                VALUES ((SELECT min(id) FROM public.objects), 'rls-check/1', 'image/jpeg')]]),
      try(db, REORDER, a, b))
  end)
  return actual == expected, actual, expected
end)

local rls_admin = expect.that("RLS as authenticated (an admin): every account, classes written and reordered",
  function(db)
    local admin = db:query([[SELECT id::text AS id FROM public.accounts WHERE role = 'admin'
                             ORDER BY created_at, id LIMIT 1]])[1]
    if not admin then return false, "no admin account", "an admin to try" end
    local a, b = two_classes(db)
    local expected = seen_text(should_see(db, admin.id, true)) .. "; insert a class ok; reorder ok"
    local actual = as_role(db, "authenticated", admin.id, function()
      return string.format("%s; insert a class %s; reorder %s", seen_text(db:query(SEEN)[1]),
                           (try(db, NEW_CLASS)), (try(db, REORDER, a, b)))
    end)
    return actual == expected, actual, expected
  end)

-- Step 6 after maintenance mode: the application's requests in flight finish before the push
-- takes its locks. Inside the phase's transaction, which holds no lock yet: polled (the
-- statistics snapshot cleared each time) for `drain` seconds, then the phase fails and is
-- rolled back, maintenance mode comes off, the team is told.
local DRAIN = tonumber(var("drain", "30"))
local quiet = step "the application is quiet (maintenance mode on)" (function(db, run)
  local clock = require "migrun.clock"
  local deadline = clock.now() + DRAIN * 1e9
  while true do
    db:query("SELECT pg_stat_clear_snapshot()")
    local busy = db:query([[SELECT count(*) AS n, string_agg(DISTINCT coalesce(nullif(application_name, ''), usename),
                                   ', ') AS who
                            FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                              AND backend_type = 'client backend' AND state <> 'idle']])[1]
    if busy.n == 0 then return 0 end
    if clock.now() > deadline then
      error(string.format("%d other session(s) still busy after %gs of maintenance mode (%s): the application " ..
                          "is not quiet", busy.n, DRAIN, busy.who or "?"), 0)
    end
    run.log(string.format("waiting for %d busy session(s) to finish (%s)", busy.n, busy.who or "?"))
    clock.sleep(500)
  end
end)

playbook "baseline" {
  description = "Consolidated baseline 20250906200000 on a database that already has the objects",
  budget = "3h",                      -- "Total Estimated Time: 2-3 hours including verification"
  lock_timeout = "2s",

  -- Step 5, final system checks, and what can make the push fail half-way ("Migration Fails
  -- Due to Constraint Conflict"): found here, before the backup and the downtime start.
  preflight = {
    app_given,
    -- `supabase migration list`: the incremental migrations are there, the baseline is not
    expect.query("SELECT count(*) FROM supabase_migrations.schema_migrations", { min = 1 }),
    expect.query([[SELECT count(*) FROM supabase_migrations.schema_migrations
                   WHERE version = '20250906200000']], 0),
    -- "Existing tables will show 'already exists, skipping'": the six tables are there
    expect.exists { "accounts", "objects", "media", "chakai", "chakai_objects", "local_classes" },
    -- the foreign key and unique constraint the baseline adds must not meet conflicting rows
    expect.no_orphans "media.object_id -> objects.id",
    expect.query([[SELECT count(*) FROM (SELECT sort_order FROM local_classes
                   GROUP BY sort_order HAVING count(*) > 1) AS d]], 0),
    -- nothing the push would queue behind: a long transaction, one idle in a transaction, a
    -- session already waiting on a lock (the in-flight requests are waited for in the phase,
    -- once maintenance mode is on)
    expect.no_long_transactions { max = "1m" },
    expect.idle_in_transaction { max = "1m" },
    expect.no_blocked_sessions(),
  },

  -- Steps 3-4: a full pg_dump (custom format), sha256 beside it, read back in full by
  -- pg_restore before the push starts (an empty or truncated file is refused).
  backup = backup.dump { dir = var("backup_dir", "../backups") },

  -- step 9: every row of the data tables survives, byte for byte; the migrations table gains
  -- the baseline's row
  protect = { "objects", "media", "accounts", "chakai", "local_classes",
              ["supabase_migrations.schema_migrations"] = "grow" },

  -- Communication plan: "real-time updates to team Slack channel", "immediate notification of
  -- any issues", "success confirmation to all stakeholders". Without SLACK_WEBHOOK in the
  -- environment the run warns once and sends nothing.
  notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure", "watch" } },

  -- Step 6, "Set maintenance mode", and step 11, "Remove maintenance mode": on right before the
  -- push, off whatever happened (it always runs). Without an application, the run says so.
  hooks = WITH_APP and {
    before = http.post { url = APP .. "/admin/maintenance-mode" },
    always = http.delete { url = APP .. "/admin/maintenance-mode" },
  } or {
    before = function(hook)
      hook.log("warning: no application (--set app=none): no maintenance mode, and /api/health, /api/objects " ..
               "and /api/chakai are not checked")
    end,
  },

  gate "go/no-go (T-0)" {
    "Downtime window scheduled and communicated to users; status page updated",
    "Consolidated migration tested on a local copy; staging passed",
    "Team in the Slack channel; emergency contacts available",
    "Rollback ready: `migrun rollback playbooks/baseline.lua`, or `migrun restore` of the backup above",
  },

  -- Step 6: `supabase db push`. One transaction: the application's sessions drained, the file,
  -- then the migrations-table row the CLI records. Steps 7-8 give it until T+15.
  phase "apply consolidated baseline" {
    quiet,
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
      -- (the baseline's own: an extension's functions in public, pg_stat_statements' say, are
      -- the extension's business)
      expect.query([[SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
                     AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c
                                     WHERE c LIKE 'search_path=%')
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                     AND d.objid = p.oid AND d.deptype = 'e')]], 0),
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

      -- step 9, "Verify RLS policies", as the roles the API uses, before COMMIT: a policy
      -- that leaks or locks out rolls the baseline back
      rls_anon, rls_member, rls_admin,
    },
    -- puts the pre-baseline schema back and keeps every row (sql/baseline/rollback.sql)
    rollback = sql "../sql/baseline/rollback.sql",
  },

  -- Steps 8-10 after COMMIT: the final suite, and the numbers of the completion report; then
  -- step 11's endpoint tests (maintenance mode still on: a failure rolls back first)
  verify = with_app({
    -- step 8: "diff consolidated_schema.sql post_migration_schema.sql" (pg_dump runs on its
    -- own connection: first in this list, before anything else touches the transaction)
    expect.schema "../sql/baseline/consolidated_schema.sql",
    -- step 9: data counts match pre-migration (and every row's content, too)
    expect.unchanged(DATA[1]), expect.unchanged(DATA[2]), expect.unchanged(DATA[3]),
    expect.unchanged(DATA[4]), expect.unchanged(DATA[5]),
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
    -- step 8: the migration list gained the baseline, and only it
    expect.delta("supabase_migrations.schema_migrations", 1),
  }, endpoints),

  -- step 14: the completion report (Markdown, and JSON beside it)
  report = "../reports/baseline.md",

  -- Step 12, T+60 to T+120, "Production Monitoring": once users are back, the database's
  -- figures against what they were before the push. "Check error rates": the share of
  -- transactions rolled back; "monitor application performance": a query called at least 100
  -- times whose mean time grows by half, a deadlock; and /api/health every tick. A breach
  -- tells the team and the window goes on: the runbook's answer to application issues keeps
  -- the consolidated schema ("Partial Rollback ... Database schema remains consolidated"), and
  -- its full rollback is for critical database issues, a person's call (`migrun rollback`).
  watch "production monitoring (T+60 to T+120)" (with_app({
    duration = var("watch_for", "1h"),
    every = var("watch_every", "15s"),
    slower = { queries = "50%", min_calls = 100 },
    rollback_rate = "2%",
    deadlocks = 0,
    on_breach = "alert",
  }, function() return { expect.http { url = APP .. "/api/health", within = "5s" } } end)),
}
