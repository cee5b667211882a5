--- The reference of the playbook language, as data (lua/migrun/docs/init.lua says how an
-- entry reads). A new DSL name is one entry here; an option is one line in its entry's
-- `options`. The suite loads every example with the DSL and runs the ones marked `run`.
return {
  name = "language",
  title = "The playbook language",
  file = "language.md",
  intro = [[
A playbook is a Lua file that declares one `playbook`. The names of the language are globals
in its environment: `playbook`, `phase`, `step`, `sql`, `gate`, `backfill`, `watch`, `expect`,
`backup`, `http`, `var` and `env` (and the rest of Lua). Paths in it (`sql "x.sql"`, `report`,
`backup.dump { dir = }`, `expect.schema`, `expect.pgtap`) are relative to the playbook file.

Everything is checked when the file loads, before a database is touched: an unknown key, a
misspelt name (`phsae`, `expect.cuont`), a wrong type, a budget that does not parse, a
missing `.sql` file or two phases of one name is an error naming the file and line, with
"did you mean" (exit 2).

A duration is a string of numbers with units: `400ms`, `2s`, `5m`, `1m30s`, `1.5h` (units
ns, us, ms, s, m or min, h).]],
  -- the examples of options are fields of these entries' tables, or whole steps
  option_context = { phase = "phase", sql = "phase", step = "phase", backfill = "steps" },
  entries = {
    {
      name = "playbook",
      usage = 'playbook "NAME" { OPTION = VALUE, ..., PHASE | GATE | WATCH, ... }',
      summary = "Declares the playbook of this file: its options, then its phases and gates in the " ..
                "order they run.",
      text = [[
A run takes the advisory lock (one run per database at a time), checks the `preflight` on a
fresh start, snapshots the row counts of the tables it touches or protects, takes the
`backup`, then runs each phase and asks each gate in order, skipping what the ledger says is
applied. Once every phase is applied it checks `verify` and the `protect` tables, and writes
the report. When something fails, `on_failure` decides what happens to the phases this run
applied.

Around the database work, `hooks` call the application (maintenance mode on before the first
phase, off again whatever happens) and `notify` tells a channel; a `watch` written among the
phases keeps the run open once it has succeeded, and acts on what it sees.]],
      options = {
        { "description", "TEXT", "One line for plans and reports.", 'description = "orders get a status"' },
        { "database", "URL", "The target when there is no --db; else DATABASE_URL, else libpq's PG* " ..
          "variables. Keep its password in ~/.pgpass or a service file.", 'database = "postgresql:///shop"' },
        { "budget", "DURATION | { DURATION, warn = true }", "The time the whole run may take, counted " ..
          "from the first phase; time waiting at a gate is reported apart and never counts. An over-run " ..
          "fails the run, or only warns with warn = true.", 'budget = "5m"' },
        { "lock_timeout", "DURATION", "How long a statement waits for a lock (default 2s). A phase " ..
          "that hits it (55P03), a deadlock (40P01) or a serialization failure (40001) is rolled back " ..
          "and retried whole, with backoff: nothing queues behind migrun for longer.", 'lock_timeout = "2s"' },
        { "statement_timeout", "DURATION", "The longest any statement may run; budgets set a tighter " ..
          "one from what is left of them.", 'statement_timeout = "10m"' },
        { "retries", "N", "How many times a phase is retried after a lock timeout, deadlock or " ..
          "serialization failure (default 5).", "retries = 3" },
        { "on_failure", '"rollback" | "stop" | "restore"', "What a failure does (default \"rollback\"): " ..
          "rollback rolls the failed phase back, then runs the rollback of each phase this run applied, " ..
          "newest first; stop leaves applied phases as they are; restore restores the backup this run " ..
          "took (a dump into a new database that takes the target's name, the failed one kept as " ..
          "<db>_failed_<stamp>).", 'on_failure = "stop"' },
        { "preflight", "{ EXPECTATION, ... }", "The state the playbook was written for, checked on a " ..
          "fresh start before anything changes; a failure stops the run with nothing touched (exit 1).",
          'preflight = { expect.tables { schema = "public", count = 2 } }' },
        { "backup", "BACKUP", "Taken after the preflight, before the first phase: backup.dump { ... } " ..
          "or backup.tables { ... }. on_failure = \"restore\" needs one that can restore itself.",
          'backup = backup.dump { dir = "backups", keep = 5 }' },
        { "protect", '{ TABLE, ... } | { TABLE = "same" | "grow" }', "Tables whose every row must " ..
          "survive: their row count and a content fingerprint are taken at the start and compared at " ..
          "the end; \"grow\" allows new rows only.", 'protect = { "orders", customers = "grow" }' },
        { "verify", "{ EXPECTATION, ... }", "The final suite, checked once every phase is applied.",
          "verify = { expect.foreign_keys { count = 1 } }" },
        { "report", "FILE", "The report's path (FILE.md, or FILE.html), relative to the playbook; the " ..
          "run id goes into the name (reports/x-run-12.md), so a later run never overwrites it, and " ..
          "the JSON goes beside it.", 'report = "reports/orders.md"' },
        { "snapshot", "{ TABLE, ... }", "More tables for the report's before / after row counts.",
          'snapshot = { "audit_log" }' },
        { "lint", '{ ["RULE"] = "off" | "warn" | "error" }', "This playbook's level of lint rules " ..
          "(migrun lint; docs/lint/).", 'lint = { ["ban-drop-column"] = "warn" }' },
        { "rehearse", "{ prove_rollbacks = BOOLEAN }", "What migrun rehearse does by default: with " ..
          "prove_rollbacks, each phase is applied, rolled back and compared with the state before it, " ..
          "then applied again.", "rehearse = { prove_rollbacks = true }" },
        { "hooks", "{ before =, after =, on_failure =, always = HOOK | { HOOK, ... } }", "What the run " ..
          "does outside the database. A HOOK is a function(hook) or a request written http.post { ... } " ..
          "(any http.METHOD), sent later; a list runs in order and stops at the first that fails, and a " ..
          "request fails on anything but a 2xx answer. before: after the backup, right before the first " ..
          "phase; one that fails fails the run with nothing changed. after: once the final verify " ..
          "passed; one that fails fails the run like a failed verify (on_failure undoes the phases). " ..
          "on_failure: after the failure policy did its work, on any outcome but success (a declined " ..
          "gate and Ctrl-C included). always: last, whatever the outcome (a watch window opens after it, and " ..
          "a breach that ends the run calls on_failure then). on_failure and always run only " ..
          "when before had its turn, and cannot change what happened: one that fails is an error, and " ..
          "the exit code is at least 1. A function gets `hook`: event, playbook, target (no password), " ..
          "run_id, vars, dir, db (the run's connection, outside any transaction), outcome (the run's " ..
          "status: succeeded, rolled_back, ...), phase and error (for on_failure and always) and " ..
          "log(message). Hooks never run in a dry run, a rehearsal or a run with nothing to do. Every " ..
          "call is printed, kept in ledger.calls and listed in the report.",
          'hooks = { before = http.post "https://app.example.com/admin/maintenance-mode",\n' ..
          '          always = http.delete "https://app.example.com/admin/maintenance-mode",\n' ..
          '          on_failure = function(hook) hook.log("page on-call: " .. hook.error) end }' },
        { "notify", "{ webhook = URL, on = { EVENT, ... }, format =, timeout =, headers = } | { CHANNEL, ... }",
          "Tell a channel what the run does: a POST to webhook at each event of `on` (default: all of " ..
          "them): start, gate (someone is asked; not with `--yes`), success, failure, watch (a watch " ..
          "window's breach). format = \"slack\" (the default: a {\"text\": ...} message) or \"json\" (the " ..
          "fields event, playbook, target, run_id, phase, gate, outcome, error, report, at, host, " ..
          "migrun_version); timeout (default 5s) and headers go to the request, retried once. The webhook " ..
          "is a secret (shown as its origin and /***). A notification that fails is a warning, never a " ..
          "failed run; a webhook that is nil (its environment variable unset) is said once and nothing " ..
          "is sent. Not in a dry run nor a rehearsal.",
          'notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure" } }' },
      },
      context = "file",
      run = true,
      setup = [[
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, 1 + g % 100, g * 1.5 FROM generate_series(1, 1000) g;]],
      example = [=[
playbook "orders-status" {
  description = "orders get a status, then an index on it",
  budget = "1m",
  on_failure = "rollback",
  preflight = {
    expect.tables { schema = "public", count = 2 },
    expect.no_orphans "orders.customer_id -> customers.id",
  },
  protect = { "customers" },

  phase "add orders.status" {
    sql [[ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'open']],
    verify = { expect.columns("orders", { "status" }) },
    rollback = sql [[ALTER TABLE orders DROP COLUMN status]],
  },

  gate "go/no-go" { "Does the application know orders.status?" },

  phase "index orders.status" {
    transaction = false,
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status)]],
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx]],
  },

  verify = {
    expect.index("orders", { "status" }),
    expect.count("orders", 1000),
  },
}]=],
      see = { "phase", "gate", "watch", "expect", "backup.dump", "http", "run" },
    },
    {
      name = "phase",
      usage = 'phase "NAME" { STEP, ..., OPTION = VALUE, ... }',
      summary = "A unit of work: its steps in order, checked by its verify, undone by its rollback.",
      text = [[
By default a phase runs in one transaction and its `verify` is checked inside it, before
COMMIT: a failed step or expectation rolls the whole phase back. Every applied step is
recorded in the ledger in the same transaction as its work, with the checksum of its SQL or
code: a second run skips it, and a step changed since it was applied is drift, refused (exit
2) unless `--allow-drift`.

`transaction = false` runs the statements one by one, each committed on its own: for `CREATE
INDEX CONCURRENTLY`, `VACUUM` and backfills. Its `rollback` is then the only way back.

A phase's name is unique in its playbook and is how `--from`, `--only`, `--to` and the ledger
know it.]],
      options = {
        { "description", "TEXT", "One line for plans and reports.", 'description = "adds orders.note"' },
        { "budget", "DURATION | { DURATION, warn = true }", "The time the phase may take: over it, the " ..
          "phase fails (or only warns with warn = true). Each statement gets a statement_timeout from " ..
          "what is left.", 'budget = { "400ms", warn = true }' },
        { "verify", "{ EXPECTATION, ... }", "Checked after the steps, inside the phase's transaction " ..
          "(after each statement is committed when transaction = false).",
          'verify = { expect.columns("orders", { "note" }) }' },
        { "rollback", "STEP | function(db, run)", "What undoes the phase once it committed: sql, a step, a " ..
          "function or a backfill. migrun rollback and on_failure = \"rollback\" run it.",
          "rollback = sql [[ALTER TABLE orders DROP COLUMN note]]" },
        { "transaction", "BOOLEAN", "false: each statement commits on its own (default true).",
          "transaction = false" },
        { "lock_timeout", "DURATION", "The playbook's lock_timeout, for this phase.", 'lock_timeout = "5s"' },
        { "statement_timeout", "DURATION", "The playbook's statement_timeout, for this phase.",
          'statement_timeout = "30m"' },
        { "retries", "N", "The playbook's retries, for this phase.", "retries = 10" },
      },
      example = [=[
phase "add orders.note" {
  sql [[ALTER TABLE orders ADD COLUMN note text]],
  budget = "10s",
  verify = { expect.columns("orders", { "note" }) },
  rollback = sql [[ALTER TABLE orders DROP COLUMN note]],
}]=],
      see = { "sql", "step", "backfill", "expect", "rollback" },
    },
    {
      name = "sql",
      usage = { 'sql "FILE.sql"', "sql [[SQL]]", 'sql("FILE.sql" | SQL, { OPTION = VALUE, ... })' },
      summary = "An SQL step: a file, or inline SQL.",
      text = [[
A string ending in `.sql` with no white space is a file, relative to the playbook; any other
string is SQL. A file may hold many statements; they run one by one, and an error names the
file, line and column.

The `--set` variables expand as psql's do: `:name`, `:'name'` (a literal) and `:"name"` (an
identifier). The step's checksum is of the SQL that runs, so a changed file, or another
value, is drift.]],
      options = {
        { "budget", "DURATION | { DURATION, warn = true }", "The time this step may take, over all its " ..
          "statements: each gets a statement_timeout from what is left.",
          'sql("SELECT pg_sleep(0.1)", { budget = "1s" })' },
        { "name", "TEXT", "Its name in plans, reports and the ledger (default: the file, else " ..
          "\"sql #N\", N its place in the phase).",
          [[sql("DELETE FROM sessions WHERE expires < now()", { name = "old sessions" })]] },
      },
      context = "phase",
      example = [=[
sql "sql/011_fix_conflicts.sql",
sql [[UPDATE orders SET total = 0 WHERE total < 0]],]=],
      see = { "phase", "step" },
    },
    {
      name = "step",
      usage = { 'step "NAME" (function(db, run) ... end)',
                'step "NAME" (function(db, run) ... end, { OPTION = VALUE })' },
      summary = "A Lua step: code with the connection, for what SQL alone cannot say.",
      text = [[
`db` is the run's connection, inside the phase's transaction: `db:query(sql, ...)` returns the
rows, `db:exec(sql, ...)` the number of rows affected (values travel as $1, $2, ...
parameters). A step that returns an integer reports it as its rows.

`run` holds `run.vars` (the `--set` variables), `run.log(msg)` (printed, and kept in the
report), `run.before` (the run-start snapshot: `run.before.count("tools")`), `run.id`,
`run.dry_run`, `run.dir` (the playbook's directory) and `run.conninfo` (for a second
connection).

The checksum is of the function's source text. A budget stops the function when it runs out.]],
      options = {
        { "budget", "DURATION | { DURATION, warn = true }", "The time this step may take.",
          'step "count" (function(db) return db:exec("SELECT 1") end, { budget = "1s" })' },
      },
      context = "phase",
      example = [[
step "copy dh_tool" (function(db, run)
  local n = db:exec [=[INSERT INTO tools (id, name) SELECT id, name FROM dh_tool
                      ON CONFLICT (id) DO NOTHING]=]
  run.log(n .. " tools copied")
  return n
end)]],
      see = { "phase", "sql", "expect.that" },
    },
    {
      name = "gate",
      usage = 'gate "NAME" { "QUESTION", ... }',
      summary = "A checklist a person answers before the run goes on.",
      text = [[
On a terminal each question is asked in turn; without one the run needs `--yes`, else it is
refused before anything runs (exit 4). A "no" stops the run at the gate (exit 4): what ran
before stays applied. The answers (who, when, each question and answer, how long it took)
go to the ledger (`migrun.gates`) and the report. A gate after which nothing is left to do
(the phases after it already applied) is not asked; one after the last phase would never be,
and the playbook is refused when it loads.]],
      example = [[gate "go/no-go" { "Staging passed?", "Team notified?" }]],
      see = { "playbook", "run" },
    },
    {
      name = "backfill",
      usage = { 'backfill "TABLE" { set = "COL = EXPR", where = "CONDITION", OPTION = VALUE, ... }',
                'backfill "TABLE" { from = "SOURCE", select = "EXPRS", OPTION = VALUE, ... }' },
      summary = "A batched, resumable, throttled update (or copy) of a big table, as a step.",
      text = [[
Batches walk the key (the primary key unless `key` names one). A single integer key
(smallint, integer, bigint) is walked in key ranges: each batch updates (or copies) the rows
whose key lies in the next range and still match `where`. Any other key (composite, text,
uuid...) is walked in keyset batches: each picks the next rows after the last key that match
`where` (never OFFSET). Either way each batch is one statement, its own short transaction
under the lock timeout, that also moves the checkpoint (`migrun.backfill`, the last key done).
After kill -9, Ctrl-C or a lost connection, a rerun goes on from the checkpoint, never
repeating a batch nor skipping one: the batches done, and the phases before, are kept
whatever `on_failure` says. A batch that fails on its own (an error in `set`, say) leaves its
phase partly applied, and `on_failure` applies; a phase's rollback also drops its backfill's
checkpoint, so the next run starts from the first key.

The batch size (for key ranges: the width of a range, in keys) tunes itself so a batch takes
about 70% of `target`, and none runs past it: a batch still running at the target is cancelled
by its statement_timeout, rolls back with its checkpoint and is tried again at half the size
(the report counts them). A batch that meets a lock timeout is retried after a backoff, and
the session holding the lock is named: one holding a table lock that conflicts, else the open
transactions that wrote to the table. Ranges skip gaps in the keys and stretches already done with one read each,
and a tuned range touches 200,000 rows at most. Rows inserted during the run with keys past
the largest one there was at the start are done too if they match `where`; rows inserted
behind the batches are not (in both forms). `max_rate`, `max_replica_lag` and `pause_if` slow
it down. Throughput, pauses and batches cut at the target go to the report.

A backfill commits batch by batch: its phase needs `transaction = false`. The update form
needs `where`, the condition of rows still to do, so a rerun skips the ones done. The copy
form (`from`, `select`) inserts into TABLE the rows of SOURCE.]],
      options = {
        { "set", "TEXT", "The update: SET's list of assignments.",
          'backfill "accounts" { set = "email = lower(email)", where = "email <> lower(email)" }' },
        { "where", "TEXT", "The rows still to do (update form: required).",
          'backfill "accounts" { set = "flag = true", where = "flag IS NULL" }' },
        { "key", "COLUMN | { COLUMN, ... }", "The columns the batches walk (default: the primary key); " ..
          "unique and indexed.", 'backfill "events" { set = "v = 1", where = "v IS NULL", key = "event_id" }' },
        { "batch", '"auto" | N', "Rows per batch (for key ranges: keys per range) as a fixed number, " ..
          "or auto (the default), tuned to target.",
          'backfill "t" { set = "v = 1", where = "v IS NULL", batch = 5000 }' },
        { "target", "DURATION", "How long a batch may take (default 200ms). The batch size tunes itself " ..
          "to about 70% of it, and it is a hard limit: a batch still running at the target is cancelled " ..
          "(its rows and checkpoint roll back) and tried again at half the size, so no batch holds its row " ..
          "locks longer. Its lock_timeout is half the target at most: a batch waiting for a lock is " ..
          "retried at the same size, as a lock timeout is. A single row or key that takes longer than the " ..
          "target is retried the same way, then fails the step. With batch = N, or where the playbook's " ..
          "statement_timeout or what a budget leaves is tighter, a batch runs under that instead, and one " ..
          "past it fails the step, as an SQL statement would.",
          'backfill "t" { set = "v = 1", where = "v IS NULL", target = "100ms" }' },
        { "max_rate", "N | \"Nk/s\"", "At most this many rows per second (2000, \"50k/s\").",
          'backfill "t" { set = "v = 1", where = "v IS NULL", max_rate = "50k/s" }' },
        { "max_replica_lag", "DURATION", "Pause while the slowest standby replays further behind than " ..
          "this (a stuck standby counts).",
          'backfill "t" { set = "v = 1", where = "v IS NULL", max_replica_lag = "5s" }' },
        { "pause_if", "function(db) -> BOOLEAN", "Asked between batches: true pauses.",
          'backfill "t" { set = "v = 1", where = "v IS NULL",\n' ..
          '  pause_if = function(db)\n' ..
          '    return db:query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")[1].n > 0\n' ..
          '  end }' },
        { "from", "TABLE", "Copy form: the table whose rows are copied into TABLE.",
          'backfill "tools" { from = "dh_tool", select = "id, name" }' },
        { "select", "TEXT", "Copy form: the select list of what is inserted, over `from`.",
          'backfill "tools" { from = "dh_tool", select = "id, upper(name)" }' },
        { "columns", "{ COLUMN, ... }", "Copy form: the columns of TABLE the select list fills.",
          'backfill "tools" { from = "dh_tool", select = "id, name", columns = { "id", "label" } }' },
        { "on_conflict", "TEXT", "Copy form: what follows ON CONFLICT in the INSERT.",
          'backfill "tools" { from = "dh_tool", select = "id, name", on_conflict = "(id) DO NOTHING" }' },
        { "name", "TEXT", "The step's name (default \"backfill TABLE\").",
          'backfill "t" { set = "v = 1", where = "v IS NULL", name = "fill v" }' },
        { "budget", "DURATION | { DURATION, warn = true }", "The time this step may take, over all " ..
          "its batches: once it has run out the backfill stops before its next batch (the batches done " ..
          "are kept, the step is partly applied and on_failure applies).",
          'backfill "t" { set = "v = 1", where = "v IS NULL", budget = "2h" }' },
      },
      context = "steps",
      example = [[
backfill "accounts" {
  set = "email_normalized = lower(trim(email))",
  where = "email_normalized IS NULL",
  target = "200ms",
  max_replica_lag = "10s",
}]],
      see = { "phase", "ledger.backfill" },
    },
    {
      name = "watch",
      usage = 'watch "NAME" { duration = DURATION, OPTION = VALUE, ..., EXPECTATION, ... }',
      summary = "A window after the release: the database's figures compared with what they were " ..
                "before the first phase, every few seconds, and a breach acted on.",
      text = [[
Written among the playbook's phases and gates (where does not matter), it opens once the run
has succeeded: every phase applied, the final verify and `protect` passed, the `after` and
`always` hooks called. The run stays open for `duration`, its advisory lock held; every
`every` it samples the database in one statement and judges the figures against the
thresholds: commits and rollbacks (`pg_stat_database`), deadlocks and bytes of temporary
files since the window opened, client sessions and sessions waiting on a lock now
(`pg_stat_activity`), and with `slower` each query's mean time (`pg_stat_statements`).
migrun's own work is left out. Its expectations are checked at every tick. The baseline is
taken right after the preflight, before the backup and the first phase.

A breach is a figure past its threshold, a failed expectation, or a tick that could not
sample. `on_breach` says what it does: "stop" closes the window and the run ends failed (exit
1) with nothing undone; "rollback" undoes the phases this run applied with their rollbacks,
newest first, whatever `on_failure` says (exit 1; 5 when a rollback fails); "alert" prints each
breach once, sends it to the `notify` channels that listen to "watch", and the window goes on.
A breach that ends the run then calls `hooks.on_failure` (`always` ran before the window).

Several watches open one after another, in the order written, against the same baseline; one
that ends the run leaves the later ones unopened. A dry run does not watch, and `migrun
rehearse` samples once, `every` after the last phase. Ctrl-C closes the window: the run is
interrupted (exit 130) and the migration stays applied. Each tick goes to
`ledger.watch_samples`, the report and, with `--json`, a `watch_sample` event. docs/watch.md
tells more.]],
      options = {
        { "duration", "DURATION", "How long the window stays open (required). For a test, shorten it " ..
          "with a variable, every with it: duration = var(\"watch_for\", \"30m\"), every = " ..
          "var(\"watch_every\", \"15s\").", 'watch "after release" { duration = "30m" }' },
        { "every", "DURATION", "The time between two samples (default 15s, or the whole window when it is " ..
          "shorter); it may not be longer than duration.",
          'watch "after release" { duration = "30m", every = "30s" }' },
        { "slower", '"N%" | { queries = "N%", min_calls = N }', "A breach when a query's mean execution " ..
          "time in the window is more than N% above its mean before the migration. Compared are the " ..
          "queries (by queryid, summed over users) called at least min_calls times (default 100) both " ..
          "before the migration and in the window; the breach names the query, both means and both call " ..
          "counts. It needs pg_stat_statements (PostgreSQL 13 or later, in shared_preload_libraries, the " ..
          "extension created in the database, pg_read_all_stats to see other users' queries): a run that " ..
          "cannot read it is refused before anything is touched (exit 3), with the fix.",
          'watch "after release" { duration = "30m", slower = { queries = "50%", min_calls = 100 } }' },
        { "rollback_rate", '"N%" | { max = "N%" }', "A breach when rollbacks / (commits + rollbacks) of " ..
          "the database since the window opened exceed N%.",
          'watch "after release" { duration = "30m", rollback_rate = "2%" }' },
        { "deadlocks", "N | { max = N }", "A breach at more than N deadlocks since the window opened " ..
          "(0: any deadlock).", 'watch "after release" { duration = "30m", deadlocks = 0 }' },
        { "temp_bytes", 'BYTES | "SIZE" | { max = SIZE }', "A breach when more than this was written to " ..
          "temporary files since the window opened: bytes, or a size in kB, MB, GB or TB (1024-based, " ..
          "as PostgreSQL writes them).", 'watch "after release" { duration = "30m", temp_bytes = "1GB" }' },
        { "connections", "N | { max = N, min = N }", "Client sessions on the database now, migrun's own " ..
          "left out: a breach above max (N alone is max), or below min.",
          'watch "after release" { duration = "30m", connections = { max = 200 } }' },
        { "lock_waits", "N | { max = N, min = N }", "Sessions of the database waiting on a lock now: a " ..
          "breach above max (N alone is max), or below min.",
          'watch "after release" { duration = "30m", lock_waits = 5 }' },
        { "expect", "{ EXPECTATION, ... }", "Checked at every tick (expect.http for the application, the " ..
          "health expectations for the server); one that fails is a breach. They may also be written in " ..
          "the watch's list part.",
          'watch "after release" { duration = "30m",\n' ..
          '  expect = { expect.http { url = "https://app.example.com/health", status = 200 } } }' },
        { "on_breach", '"stop" | "rollback" | "alert"', "What a breach does (default \"stop\"): stop closes " ..
          "the window and fails the run, nothing undone (`migrun rollback` undoes it when you decide to); " ..
          "rollback also undoes the phases this run applied, and a playbook with a phase it would undo " ..
          "that has no rollback is refused before anything runs (exit 2); alert reports each breach once " ..
          "and watches on (the run succeeds).",
          'watch "after release" { duration = "30m", deadlocks = 0, on_breach = "rollback" }' },
      },
      example = [[
watch "after release" {
  duration = "30m", every = "15s",
  slower = { queries = "50%", min_calls = 100 },
  rollback_rate = "2%", deadlocks = 0, temp_bytes = "1GB",
  connections = { max = 200 }, lock_waits = { max = 5 },
  expect.http { url = "https://app.example.com/health", status = 200 },
  on_breach = "rollback",
}]],
      see = { "playbook", "playbook.notify", "expect.http", "ledger.watch_samples" },
    },
    {
      name = "var",
      usage = { "var.NAME", 'var("NAME", DEFAULT)' },
      summary = "A playbook variable, from --set NAME=VALUE (a string; nil when unset).",
      text = [[
`var("NAME", DEFAULT)` gives DEFAULT when it is unset. Variables are read-only. The run's
variables go to the ledger and the report; in SQL they expand as `:NAME` (see `sql`).]],
      context = "phase",
      example = [[sql("DELETE FROM sessions WHERE created < now() - interval '" .. var("keep", "30 days") .. "'")]],
      see = { "env", "sql" },
    },
    {
      name = "env",
      usage = { "env.NAME", 'env("NAME", DEFAULT)' },
      summary = "An environment variable of the migrun process (nil when unset).",
      text = [[
`env("NAME", DEFAULT)` gives DEFAULT when it is unset. A variable whose name says it holds a
credential (it contains TOKEN, SECRET, PASSWORD, PASSWD, KEY, WEBHOOK, AUTH or CREDENTIAL)
gives a secret: "***" wherever it is shown, its text only in the request that carries it (see
`http.secret`).]],
      example = [[report = "reports/" .. env("DEPLOY_ENV", "staging") .. ".md"]],
      see = { "var", "http.secret" },
    },
  },
}
