--- The reference of the fleet file, as data (lua/migrun/docs/init.lua says how an entry reads):
-- `fleet { ... }` as migrun.fleet.dsl reads it. Its examples load with that module (the
-- context "fleet"); docs/fleet.md tells how a fleet runs.
return {
  name = "fleet",
  title = "The fleet file",
  file = "fleet.md",
  intro = [[
`migrun run PLAYBOOK.lua --fleet FILE` runs a playbook on every database a fleet file lists,
a canary first and then in widening waves; `rollback`, `check`, `plan` and `status` take
`--fleet` too. Each target runs as `migrun run PLAYBOOK.lua --db TARGET` would, in a child
migrun of its own: its own advisory lock, ledger, backup, failure policy and report. docs/fleet.md
tells the rest: the output, the reports, Ctrl-C and the exit codes.]],
  option_context = { fleet = "fleet" },
  entries = {
    {
      name = "fleet",
      usage = "fleet { targets = { URL, ... } | function(db) ... end, OPTION = VALUE, ... }",
      summary = "Declares the fleet of this file: its targets, and how they are rolled out.",
      text = [[
A fleet file is a Lua file that declares one `fleet`. `var.NAME` reads a `--set` value and
`env.NAME` an environment variable (plain text here: a target's password is handled apart).
The file is checked before any target is touched: an unknown key or name, a bad connection
string, a bad wave size or the same database twice is an error naming the file and line
(exit 2); a catalog that cannot be reached exits 3.

A wave starts once every target of the previous one has finished, and only while fewer than
`max_failures` targets have failed; within a wave, `concurrency` targets run at a time. A
failure is any outcome but success or "already applied". A target's password is taken out of
its connection string and given to its child in PGPASSWORD, never on a command line; the
output and the reports show a target as user@host:port/dbname, or as its name. A playbook's
gates are asked once, before any target starts, and answered for every target.]],
      options = {
        { "targets", "{ URL | { db = URL, name = LABEL }, ... } | function(db) -> LIST", "The databases " ..
          "(required), in the order the waves take them: connection strings (URLs or key=value), or " ..
          "tables whose name labels the target in the output and reports; or a function that gets a " ..
          "connection to catalog and returns such a list (a query result with the columns db and name " ..
          "works as it is).",
          'fleet { targets = { "postgresql://app@db1.internal/shop",\n' ..
          '                    { db = "postgresql://app@db2.internal/shop", name = "shop (us)" } } }' },
        { "catalog", "URL", "The database a targets function queries: required with one, refused with a " ..
          "list. Keep its password out of the file: env.CATALOG_URL, ~/.pgpass or a service file.",
          'fleet {\n' ..
          '  catalog = env.CATALOG_URL,\n' ..
          '  targets = function(db)     -- every database of the catalog\'s cluster\n' ..
          '    return db:query [[SELECT \'dbname=\' || datname AS db FROM pg_database\n' ..
          '                      WHERE datallowconn AND NOT datistemplate ORDER BY datname]]\n' ..
          '  end,\n' ..
          '}' },
        { "concurrency", "N", "How many targets of a wave run at the same time (default 4).",
          'fleet { targets = { "postgresql://db1.internal/shop" }, concurrency = 8 }' },
        { "waves", '{ N | "N%" | "rest", ... }', "Wave sizes, in order: a count, a percentage of all the " ..
          "targets (rounded down, at least 1) or \"rest\" (every target left; last only). When the list " ..
          "runs out its last size repeats: { 1, 10 } is a canary, then waves of ten (default { \"rest\" }: " ..
          "one wave).", 'fleet { targets = { "postgresql://db1.internal/shop" }, waves = { 1, "10%", "rest" } }' },
        { "max_failures", "N | math.huge", "Once this many targets have failed, no new target starts; " ..
          "those running finish, and those never started are listed (default 1; math.huge never stops).",
          'fleet { targets = { "postgresql://db1.internal/shop" }, max_failures = 3 }' },
        { "name", "TEXT", "The fleet's name in the output and the reports' names (default: the file's name).",
          'fleet { targets = { "postgresql://db1.internal/shop" }, name = "shops" }' },
        { "report", "FILE", "The aggregated report (Markdown, and its JSON), relative to the fleet file; " ..
          "the verb and a stamp go into its name (reports/shops-run-20261201T022321Z.md) and the " ..
          "targets' own reports and logs into a directory beside it (default reports/NAME.md beside the " ..
          "fleet file; `--report FILE` is used as it is).",
          'fleet { targets = { "postgresql://db1.internal/shop" }, report = "reports/shops.md" }' },
      },
      context = "fleet",
      example = [[
fleet {
  name = "tenants",
  targets = {
    { db = "postgresql://app@db1.internal/tenant_01", name = "tenant 01 (eu)" },
    { db = "postgresql://app@db2.internal/tenant_02", name = "tenant 02 (us)" },
    { db = "postgresql://app@db2.internal/tenant_03", name = "tenant 03 (us)" },
    { db = "postgresql://app@db1.internal/tenant_04", name = "tenant 04 (eu)" },
  },
  concurrency = 4,
  waves = { 1, "50%", "rest" },   -- a canary, then two tenants, then the last one
  max_failures = 1,               -- the first failure stops the rollout
}]],
      see = { "run", "rollback", "check", "plan", "status" },
    },
  },
}
