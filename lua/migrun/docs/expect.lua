--- The reference of the expectations, as data (lua/migrun/docs/init.lua says how an entry
-- reads). A new expectation is one entry here; the suite loads each example in a verify list.
return {
  name = "expect",
  title = "Expectations",
  file = "expect.md",
  intro = [[
An expectation describes itself (for plans and reports) and checks itself against the
database, giving ok, actual and expected. They go in a playbook's `preflight` and `verify`
and in a phase's `verify`. Each constructor checks its arguments when the playbook loads.

A table is named as SQL would: `"orders"` (found on the search_path), `"shop.orders"`, or
`'"Order Items"'` (quoted: case kept). An expectation on a missing table fails with actual
"missing".]],
  entries = {
    {
      name = "expect",
      usage = { "expect.KIND(...)", "expect.KIND(...):as(LABEL)" },
      summary = "The expectations: each checks one fact about the database.",
      text = [[
`:as(LABEL)` names an expectation in plans and reports (a runbook's "Q1.1 tables remain").
A count is a number, or a range `{ min = N, max = N }` (either bound may be left out).
Checks that are one read-only statement are sent together in one round trip; `expect.query`
and `expect.that` run the playbook's own code, under a savepoint.]],
      index_of = "expect.",
      context = "verify",
      example = [[expect.count("orders", { min = 1 }):as("orders survive")]],
      see = { "phase.verify", "playbook.preflight", "playbook.verify" },
    },
    {
      name = "expect.query",
      usage = "expect.query(SQL, EXPECTED)",
      summary = "The first column of the first row equals EXPECTED.",
      text = [[
EXPECTED is a number, string, boolean or `expect.NULL`; or a range `{ min = N, max = N }`;
or a `function(actual) -> boolean`; or a list of rows, compared in order (`{ { 1, "a" }, { 2,
"b" } }`; an item that is not a table is a one-column row).]],
      context = "verify",
      example = [[
expect.query("SELECT count(*) FROM agent_trust_scores WHERE workspace_id IS NULL", 0),
expect.query("SELECT count(*) FROM pg_stat_activity", { max = 50 }),
expect.query("SELECT id, name FROM plans ORDER BY id", { { 1, "free" }, { 2, "pro" } })]],
      see = { "expect.NULL", "expect.that" },
    },
    {
      name = "expect.count",
      usage = "expect.count(TABLE, N [, WHERE])",
      summary = "TABLE has N rows (or a number in a range); WHERE narrows them with an SQL condition.",
      context = "verify",
      example = [[
expect.count("tools", 150),
expect.count("orders", { min = 1 }, "status = 'open'")]],
      see = { "expect.delta" },
    },
    {
      name = "expect.delta",
      usage = "expect.delta(TABLE, N)",
      summary = "TABLE's rows now minus its rows at the start of the run equal N (or are in a range).",
      text = [[
N may be negative. A table the run created started at 0. It needs the run-start snapshot, so
it belongs in a phase's `verify` or the final `verify`, not in the preflight.]],
      context = "verify",
      example = [[expect.delta("tools", 150)]],
      see = { "expect.count", "expect.unchanged" },
    },
    {
      name = "expect.unchanged",
      usage = "expect.unchanged(TABLE)",
      summary = "TABLE's row count and content fingerprint are as at the start of the run.",
      context = "verify",
      example = [[expect.unchanged "prompts"]],
      see = { "playbook.protect" },
    },
    {
      name = "expect.tables",
      usage = "expect.tables { schema = SCHEMA, count = N }",
      summary = "SCHEMA (default \"public\") holds N tables (ordinary and partitioned).",
      context = "verify",
      example = [[expect.tables { schema = "public", count = 43 }]],
    },
    {
      name = "expect.exists",
      usage = { "expect.exists(NAME)", "expect.exists { NAME, ... }" },
      summary = "Each relation exists: a table, view, sequence, index, ...",
      context = "verify",
      example = [[expect.exists { "tools", "tools_name_idx" }]],
      see = { "expect.absent" },
    },
    {
      name = "expect.absent",
      usage = { "expect.absent(NAME)", "expect.absent { NAME, ... }" },
      summary = "None of the relations exists.",
      context = "verify",
      example = [[expect.absent { "quests", "quest_moves", "notifications" }]],
      see = { "expect.exists" },
    },
    {
      name = "expect.columns",
      usage = "expect.columns(TABLE, { COLUMN, ... })",
      summary = "TABLE has (at least) these columns.",
      context = "verify",
      example = [[expect.columns("agent_recommendations", { "workspace_id", "outcome_status" })]],
      see = { "expect.column_type" },
    },
    {
      name = "expect.column_type",
      usage = "expect.column_type(TABLE, COLUMN, TYPE)",
      summary = "The column's type is TYPE, as the server names it.",
      text = [[
Aliases match (`int` is `integer`, `timestamptz` is `timestamp with time zone`). A type
written without a modifier matches any (`varchar` matches `varchar(255)`); one written with
it must match.]],
      context = "verify",
      example = [[expect.column_type("orders", "total", "numeric(12,2)")]],
    },
    {
      name = "expect.foreign_keys",
      usage = "expect.foreign_keys { count = N [, table = TABLE] }",
      summary = "The number of foreign keys in the user's schemas, or on one table.",
      text = [[
pg_catalog, information_schema and migrun are left out; a partition's copy of its parent's
foreign key is not counted again.]],
      context = "verify",
      example = [[expect.foreign_keys { count = 1, table = "orders" }]],
      see = { "expect.no_orphans" },
    },
    {
      name = "expect.policies",
      usage = "expect.policies { count = N [, table = TABLE] }",
      summary = "The number of row-level security policies in the user's schemas, or on one table.",
      context = "verify",
      example = [[expect.policies { count = 18 }]],
      see = { "expect.rls" },
    },
    {
      name = "expect.no_orphans",
      usage = 'expect.no_orphans "CHILD.COLUMN -> PARENT.COLUMN"',
      summary = "Every non-NULL CHILD.COLUMN has its row in PARENT.",
      text = [[
Either side may be `schema.table.column`. Before a foreign key is added, it says whether
the key would validate.]],
      context = "verify",
      example = [[expect.no_orphans "tasks.workflow_id -> workflows.id"]],
      see = { "expect.foreign_keys" },
    },
    {
      name = "expect.rls",
      usage = "expect.rls(TABLE [, ENABLED])",
      summary = "Row-level security is enabled on TABLE (disabled, with ENABLED = false).",
      context = "verify",
      example = [[expect.rls "documents"]],
      see = { "expect.policies" },
    },
    {
      name = "expect.index",
      usage = "expect.index(TABLE, { COLUMN, ... })",
      summary = "TABLE has an index whose key columns are exactly these, in this order.",
      context = "verify",
      example = [[expect.index("orders", { "customer_id", "created_at" })]],
    },
    {
      name = "expect.function_exists",
      usage = "expect.function_exists(NAME)",
      summary = "A function or procedure NAME (on the search_path, or schema.name) exists, whatever " ..
                "its arguments.",
      context = "verify",
      example = [[expect.function_exists "public.touch_updated_at"]],
    },
    {
      name = "expect.trigger",
      usage = "expect.trigger(TABLE, NAME)",
      summary = "TABLE has a trigger NAME (one of the user's, not a constraint's).",
      context = "verify",
      example = [[expect.trigger("documents", "documents_touch")]],
    },
    {
      name = "expect.schema",
      usage = "expect.schema(FILE [, { privileges = false }])",
      summary = "The committed schema equals the one in FILE; a failure shows the diff.",
      text = [[
The schema is `pg_dump --schema-only` of the target, normalised: comments, SET lines, psql
meta-commands, OWNER TO, blank lines and the migrun schema are left out, on both sides.
`privileges = false` also leaves out GRANT and REVOKE. FILE is relative to the playbook.
pg_dump cannot see an open transaction's changes, so it belongs in the final `verify`;
inside a phase that wrote it fails as not checked (a dry run reports it skipped).]],
      context = "verify",
      example = [[expect.schema("schema/after.sql", { privileges = false })]],
    },
    {
      name = "expect.that",
      usage = { "expect.that(DESCRIPTION, function(db, ctx) return OK, ACTUAL, EXPECTED end)",
                "expect.that(DESCRIPTION, FUNCTION, { tables = { TABLE, ... } })" },
      summary = "Your own check, in Lua.",
      text = [[
The function gets the run's connection (inside the phase's transaction, under a savepoint)
and returns whether it holds, what it saw and what it wanted; the last two go to the report.
`tables` names the tables it reads, for the report's before / after row counts.]],
      context = "verify",
      example = [[
expect.that("every invoice has a positive total", function(db)
  local n = db:query("SELECT count(*) AS n FROM invoices WHERE total <= 0")[1].n
  return n == 0, n .. " invoices", "0 invoices"
end, { tables = { "invoices" } })]],
      see = { "expect.query", "step" },
    },
    {
      name = "expect.NULL",
      usage = "expect.NULL",
      summary = "SQL NULL, in the expected value or rows of expect.query (nil cannot sit in a list).",
      context = "verify",
      example = [[expect.query("SELECT id, deleted_at FROM users WHERE id = 1", { { 1, expect.NULL } })]],
      see = { "expect.query" },
    },
  },
}
