--- The reference of the expectations, as data (lua/migrun/docs/init.lua says how an entry
-- reads). A new expectation is one entry here; the suite loads each example in a verify list.
return {
  name = "expect",
  title = "Expectations",
  file = "expect.md",
  intro = [[
An expectation describes itself (for plans and reports) and checks itself against the
database, giving ok, actual and expected. They go in a playbook's `preflight` and `verify`,
in a phase's `verify` and in a `watch`. Each constructor checks its arguments when the
playbook loads.

A table is named as SQL would: `"orders"` (found on the search_path), `"shop.orders"`, or
`'"Order Items"'` (quoted: case kept). An expectation on a missing table fails with actual
"missing".]],
  option_context = { ["expect.http"] = "verify" },
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
      name = "expect.pgtap",
      usage = { 'expect.pgtap "GLOB"', 'expect.pgtap(GLOB, { schema = SCHEMA })' },
      summary = "The pgTAP test files GLOB names (a file or a glob, relative to the playbook) pass.",
      text = [[
Each file runs statement by statement on the run's connection, inside the phase's
transaction (a failing test rolls the phase back) or in the final verify, under a savepoint
that is rolled back: what a test creates leaves nothing behind, nor does the pgtap extension,
which is created for the tests when the database does not have it and the server does
(`schema`: where to create it; an installed pgtap is used where it is). A file's own BEGIN, COMMIT and
ROLLBACK are left out, and so are psql's `\set`, `\pset`, `\unset`, `\timing`, `\echo` and
`\qecho`; any other psql meta-command is an error. It passes when every test passed (a TODO
test may fail), each file ran as many tests as it planned, and no statement failed (named by
file, line and column); the report lists every assertion with its description. A glob that
matches no file in a playbook's verify or preflight refuses the playbook when it loads (exit 2,
its file and line), before any phase runs.]],
      context = "verify",
      example = [[expect.pgtap "tests/db/*.sql"]],
      see = { "expect.that" },
    },
    {
      name = "expect.http",
      usage = "expect.http { url = URL, status = STATUS, OPTION = VALUE, ... }",
      summary = "An endpoint of the application answers as it should: its status, and what its body holds.",
      text = [[
One request, not retried (a watch repeats its checks itself). A timeout, a refused
connection or a wrong answer is a failed check, never an error: actual says what came back
(the status and the start of the body, secrets as "***"), or "200 in 35ms". The application
cannot see an open transaction's work, so in a phase's `verify` it is asked before the phase
commits: it belongs in the final `verify`, a `preflight` or a `watch`. Redirects are not
followed.]],
      options = {
        { "url", "URL", "The endpoint: http:// or https:// (required).",
          'expect.http { url = "https://app.example.com/health" }' },
        { "status", 'N | { N, ... } | "Nxx"', "The statuses that pass (default \"2xx\").",
          'expect.http { url = "https://app.example.com/health", status = { 200, 204 } }' },
        { "body_contains", "TEXT", "The body holds this text.",
          'expect.http { url = "https://app.example.com/health", body_contains = "ok" }' },
        { "json", '{ ["PATH"] = VALUE, ... }', "The body is JSON and each dotted path in it (\"db.connected\"; " ..
          "in a list, \"items.1.name\" counts from 1) holds the value (tables compare deeply).",
          'expect.http { url = "https://app.example.com/health", json = { status = "ok", ["db.connected"] = true } }' },
        { "within", "DURATION", "The request's timeout, and the slowest answer that passes (default: no " ..
          "limit but the 10s timeout of every request).",
          'expect.http { url = "https://app.example.com/health", within = "2s" }' },
        { "method", "METHOD", "The request's method (default GET).",
          'expect.http { url = "https://app.example.com/api/ping", method = "POST" }' },
        { "headers", "{ [NAME] = TEXT | NUMBER | SECRET }", "Request headers; those that carry credentials " ..
          "(Authorization, Cookie, X-Api-Key, ...) are secrets whatever their origin.",
          'expect.http { url = "https://app.example.com/admin/health", headers = { Authorization = env.APP_TOKEN } }' },
        { "body", "TEXT | SECRET", "A request body (not with json_body).",
          'expect.http { url = "https://app.example.com/api/echo", method = "POST", body = "ping" }' },
        { "json_body", "VALUE", "A request body encoded as JSON (not with body); `json` is what the " ..
          "answer must hold.", 'expect.http { url = "https://app.example.com/api/search", method = "POST", ' ..
          'json_body = { q = "x" }, status = 200 }' },
        { "verify", "BOOLEAN", "Check the server's TLS certificate and host name (default true).",
          'expect.http { url = "https://staging.example.com/health", verify = false }' },
        { "cafile", "PATH", "The CA certificates to check the server with; a relative path is taken from " ..
          "the playbook's directory, like an sql file's. It must be readable when the playbook loads.",
          'expect.http { url = "https://app.internal/health", cafile = "certs/internal-ca.pem" }' },
      },
      context = "verify",
      example = [[
expect.http { url = "https://app.example.com/api/health", status = 200,
              json = { status = "ok", ["db.connected"] = true }, within = "2s" }]],
      see = { "http.request", "watch" },
    },
    {
      name = "expect.no_long_transactions",
      usage = "expect.no_long_transactions { max = DURATION [, all_databases = true] }",
      summary = "No transaction of the database has been open longer than max.",
      text = [[
A migration's DDL waits for the locks a long transaction holds, and everything queues behind
it: in a `preflight` this refuses to start into that. A failure names each transaction (at
most five, then how many more): pid, user, application, client, for how long, its query.
Sessions are the database's client backends, this run's own connection left out;
`all_databases = true` looks at the whole cluster.]],
      context = "verify",
      example = [[expect.no_long_transactions { max = "5m" }]],
      see = { "expect.idle_in_transaction", "expect.no_blocked_sessions" },
    },
    {
      name = "expect.idle_in_transaction",
      usage = "expect.idle_in_transaction { max = DURATION [, all_databases = true] }",
      summary = "No session has sat idle in a transaction (or an aborted one) longer than max.",
      text = [[
A failure names each session (at most five): pid, user, application, client, for how long,
and the last query it ran. Sessions as for `expect.no_long_transactions`.]],
      context = "verify",
      example = [[expect.idle_in_transaction { max = "1m" }]],
      see = { "expect.no_long_transactions" },
    },
    {
      name = "expect.connections",
      usage = 'expect.connections { max = N, min = N [, state = "active" | "idle" | "idle in transaction"] ' ..
              "[, all_databases = true] }",
      summary = "The number of client sessions (in that state, if given) is at most max and at least min.",
      text = [[
Give max, min or both. The actual value is the count, then the sessions by application,
the biggest five first (`412 (api 380, worker 30, psql 2)`). Sessions as for
`expect.no_long_transactions`.]],
      context = "verify",
      example = [[expect.connections { max = 200 }]],
      see = { "watch.connections" },
    },
    {
      name = "expect.no_blocked_sessions",
      usage = { "expect.no_blocked_sessions()",
                "expect.no_blocked_sessions { min_wait = DURATION [, all_databases = true] }" },
      summary = "No session waits for a lock (for min_wait or longer, default 0s).",
      text = [[
A failure names each waiting session (at most five), its query and the pids that block it
(`pg_blocking_pids`). The time is how long it has waited for the lock (`pg_locks.waitstart`),
not how long its statement has run. Sessions as for `expect.no_long_transactions`.]],
      context = "verify",
      example = [[expect.no_blocked_sessions { min_wait = "1s" }]],
      see = { "expect.no_long_transactions", "watch.lock_waits" },
    },
    {
      name = "expect.replication_lag",
      usage = "expect.replication_lag { max = DURATION [, standbys = N] }",
      summary = "Every standby has replayed to within max, and at least `standbys` (default 1) are connected.",
      text = [[
On a primary, each standby of `pg_stat_replication`: none when it has replayed everything,
else its replay lag (its write lag when that is empty). On a standby, the time since the last
transaction it replayed, unless it has replayed all it received. With fewer standbys
connected than `standbys` (1 unless given) it fails: a replica that dropped off is not "no
lag". `standbys = 0` lets a server without replicas pass. The actual value names each standby
(at most five) with its lag in time and bytes.]],
      context = "verify",
      example = [[expect.replication_lag { max = "10s", standbys = 1 }]],
      see = { "backfill.max_replica_lag" },
    },
    {
      name = "expect.extension",
      usage = { "expect.extension(NAME)", 'expect.extension(NAME, { version = "X.Y" })' },
      summary = "The extension NAME is installed in the database (at that version).",
      text = [[
pg_stat_statements, pg_cron, timescaledb, pg_squeeze and the others whose library must be
loaded at server start must also be in `shared_preload_libraries`. A failure says what to do:
the version it is at, `CREATE EXTENSION NAME` when the server has it, or that the server does
not.]],
      context = "verify",
      example = [[expect.extension("pg_trgm", { version = "1.6" })]],
      see = { "expect.schema" },
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
