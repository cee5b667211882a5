---@meta migrun
-- Definitions of migrun's playbook language for the Lua language server (LuaLS): an editor
-- completes `expect.` and checks a playbook's arguments and option tables. migrun never
-- loads this file; `migrun new` writes a .luarc.json whose workspace.library points at this
-- directory. tests/docs/meta_spec.lua holds its names and option fields to the runtime's.
-- The reference (migrun help TOPIC, docs/reference/) says what each one does.
-- luacheck: allow defined top, ignore 131 241, no unused args

---@alias migrun.Duration string A duration: "400ms", "2s", "5m", "1m30s", "1.5h".
---@alias migrun.Budget migrun.Duration|{ [1]: migrun.Duration, warn?: boolean }
---@alias migrun.Count integer|{ min?: integer, max?: integer } A number, or a range.
---@alias migrun.Table string A table as SQL names it: "orders", "shop.orders", '"Order Items"'.

---@class migrun.Expectation
local Expectation = {}

---Names the expectation in plans and reports.
---@param label string
---@return migrun.Expectation
function Expectation:as(label) end

---@class migrun.Step
---@class migrun.Phase
---@class migrun.Gate
---@class migrun.Watch
---@class migrun.Playbook
---@class migrun.BackupSpec
---@class migrun.Null

---A credential: "***" wherever it is shown, its text only in the request that carries it.
---@class migrun.Secret

---@alias migrun.Text string|migrun.Secret

---A query's result: rows by position (`res[1].n`), NULL as nil.
---@class migrun.Result
---@field columns string[]
---@field ncols integer
---@field n integer
---@field [integer] table<string, any>

---A connection (a Lua step's `db`).
---@class migrun.db
local db = {}
---Rows of a query; values travel as $1, $2, ... parameters.
---@param sql string
---@param ... any
---@return migrun.Result
function db:query(sql, ...) end
---Runs a statement; the number of rows it affected.
---@param sql string
---@param ... any
---@return integer
function db:exec(sql, ...) end
---@param name string
---@return string
function db:quote_ident(name) end
---@param value string
---@return string
function db:quote_literal(value) end
---Runs many statements (a script); errors name the line.
---@param sql string
---@param opts? { name?: string }
function db:script(sql, opts) end
---@return "idle"|"intrans"|"inerror"|"active"|"unknown"
function db:status() end

---The `run` argument of a Lua step.
---@class migrun.Run
---@field vars table<string, string> The --set variables.
---@field log fun(msg: any) Printed, and kept in the report.
---@field before migrun.Snapshot The run-start snapshot.
---@field id integer The run's id in the ledger.
---@field dry_run boolean
---@field dir string The playbook's directory.
---@field conninfo string For a second connection.

---@class migrun.Snapshot
---@field count fun(table: migrun.Table): integer? Rows at the start of the run.

---@alias migrun.StepFunction fun(db: migrun.db, run: migrun.Run): integer?

---The options of an HTTP request (http.request; the other http.METHOD take them too).
---@class migrun.HttpOptions
---@field url migrun.Text http:// or https://.
---@field method? string Default "GET".
---@field headers? table<string, string|number|migrun.Secret>
---@field body? migrun.Text Not with json.
---@field json? any A body encoded as JSON (not with body).
---@field query? table<string, string|number|boolean|migrun.Secret> Appended to the URL, encoded.
---@field timeout? migrun.Duration An attempt, all of it (default "10s").
---@field connect_timeout? migrun.Duration
---@field retries? integer 0..20; default 2 for GET, HEAD, PUT, DELETE, OPTIONS, else 0.
---@field backoff? migrun.Duration Before the first retry (default "200ms"), doubled each time.
---@field verify? boolean Check the TLS certificate and host name (default true).
---@field cafile? string
---@field max_body? integer Bytes (default 16 MiB).

---A request built while the playbook loads, sent later (a hook).
---@class migrun.HttpSpec
---@field method string
local HttpSpec = {}
---Sends it now, with its retries.
---@return migrun.HttpResponse
function HttpSpec:send() end
---"POST https://app/admin/maintenance-mode [Authorization: ***]"
---@return string
function HttpSpec:describe() end

---A response (any status: a 5xx was retried first).
---@class migrun.HttpResponse
---@field status integer
---@field ok boolean A 2xx status.
---@field headers table<string, string> Read in any case.
---@field body string
---@field json any? Decoded when the Content-Type is JSON.
---@field json_error string? Why a JSON body did not decode.
---@field seconds number Of the last attempt.
---@field attempts integer
---@field method string
---@field url string As it may be shown.

---What a hook function gets.
---@class migrun.Hook
---@field event "before"|"after"|"on_failure"|"always"
---@field playbook string
---@field target string The target, without its password.
---@field run_id integer
---@field vars table<string, string> The --set variables.
---@field dir string The playbook's directory.
---@field db migrun.db The run's connection, outside any transaction.
---@field outcome string? The run's status (on_failure, always): "succeeded", "rolled_back", ...
---@field phase string? The phase that failed.
---@field error string? The error, secrets removed.
---@field log fun(msg: any) Printed, and kept in the report.

---@alias migrun.HookItem fun(hook: migrun.Hook)|migrun.HttpSpec

---@class migrun.Hooks
---@field before? migrun.HookItem|migrun.HookItem[] After the backup, before the first phase.
---@field after? migrun.HookItem|migrun.HookItem[] Once the final verify passed.
---@field on_failure? migrun.HookItem|migrun.HookItem[] After the failure policy did its work.
---@field always? migrun.HookItem|migrun.HookItem[] Last, whatever the outcome.

---@alias migrun.NotifyEvent "start"|"gate"|"success"|"failure"|"watch"

---@class migrun.NotifyChannel
---@field webhook? migrun.Text A secret; nil (its variable unset): said once, nothing sent.
---@field on? migrun.NotifyEvent[] Default: every event.
---@field format? "slack"|"json" Default "slack".
---@field timeout? migrun.Duration Default "5s".
---@field headers? table<string, string|number|migrun.Secret>

---@class migrun.PlaybookOptions
---@field [integer] migrun.Phase|migrun.Gate|migrun.Watch
---@field description? string One line for plans and reports.
---@field database? string The target when there is no --db.
---@field budget? migrun.Budget The whole run.
---@field lock_timeout? migrun.Duration Default "2s".
---@field statement_timeout? migrun.Duration
---@field retries? integer Default 5.
---@field on_failure? "rollback"|"stop"|"restore"
---@field preflight? migrun.Expectation[]
---@field backup? migrun.BackupSpec
---@field protect? migrun.Table[]|table<string, "same"|"grow">
---@field verify? migrun.Expectation[] The final suite.
---@field report? string FILE.md or FILE.html, relative to the playbook.
---@field snapshot? migrun.Table[]
---@field lint? table<string, "off"|"warn"|"error">
---@field rehearse? { prove_rollbacks?: boolean }
---@field hooks? migrun.Hooks What the run does outside the database.
---@field notify? migrun.NotifyChannel|migrun.NotifyChannel[]

---@class migrun.PhaseOptions
---@field [integer] migrun.Step
---@field description? string
---@field budget? migrun.Budget
---@field verify? migrun.Expectation[]
---@field rollback? migrun.Step|migrun.StepFunction
---@field transaction? boolean Default true.
---@field lock_timeout? migrun.Duration
---@field statement_timeout? migrun.Duration
---@field retries? integer

---@class migrun.StepOptions
---@field budget? migrun.Budget
---@field name? string

---@class migrun.BackfillOptions
---@field set? string The update: SET's assignments.
---@field where? string The rows still to do.
---@field key? string|string[] Default: the primary key.
---@field batch? "auto"|integer
---@field target? migrun.Duration Default "200ms".
---@field max_rate? integer|string 2000, "50k/s".
---@field max_replica_lag? migrun.Duration
---@field pause_if? fun(db: migrun.db): boolean
---@field from? migrun.Table Copy form: the source.
---@field select? string Copy form: the select list.
---@field columns? string[] Copy form: the target's columns.
---@field on_conflict? string Copy form: after ON CONFLICT.
---@field name? string
---@field budget? migrun.Budget

---@alias migrun.Limit integer|{ max?: integer, min?: integer } N alone is max.

---@class migrun.WatchOptions
---@field [integer] migrun.Expectation
---@field duration migrun.Duration How long the window stays open (required).
---@field every? migrun.Duration Between two samples (default "15s").
---@field slower? string|{ queries: string, min_calls?: integer } "50%": a query that much slower.
---@field rollback_rate? string|{ max: string } "2%" of the transactions since the window opened.
---@field deadlocks? integer|{ max: integer } Since the window opened.
---@field temp_bytes? integer|string|{ max: integer|string } Bytes, or "1GB", "500MB", "64kB".
---@field connections? migrun.Limit Client sessions now.
---@field lock_waits? migrun.Limit Sessions waiting on a lock now.
---@field expect? migrun.Expectation[] Checked at every tick.
---@field on_breach? "stop"|"rollback"|"alert" Default "stop".

---@class migrun.ExpectHttpOptions
---@field url migrun.Text http:// or https://.
---@field status? integer|integer[]|string Default "2xx".
---@field body_contains? string
---@field json? table<string, any> Dotted paths ("db.connected", "items.1.name") and their values.
---@field within? migrun.Duration The timeout, and the slowest answer that passes.
---@field method? string Default "GET".
---@field headers? table<string, string|number|migrun.Secret>
---@field body? migrun.Text
---@field json_body? any A request body encoded as JSON.
---@field verify? boolean
---@field cafile? string

---@alias migrun.FleetTarget string|{ db: string, name?: string }

---@class migrun.FleetOptions
---@field targets migrun.FleetTarget[]|fun(db: migrun.db): migrun.FleetTarget[]|migrun.Result
---@field catalog? string The database a targets function queries.
---@field concurrency? integer Default 4.
---@field waves? (integer|string)[] 1, "10%", "rest"; default { "rest" }.
---@field max_failures? integer Default 1; math.huge never stops.
---@field name? string Default: the file's name.
---@field report? string Relative to the fleet file.

---@class migrun.DumpOptions
---@field dir? string Relative to the playbook.
---@field file? string
---@field keep? integer
---@field compress? integer 0..9
---@field counts? "exact"|"estimate"|false
---@field prove? boolean
---@field progress? boolean
---@field quiet? boolean
---@field jobs? 1
---@field pg_dump? string
---@field pg_restore? string
---@field pg_dump_args? string[]

---@class migrun.TablesOptions
---@field [integer] migrun.Table
---@field dir? string
---@field fsync? boolean
---@field progress? boolean
---@field quiet? boolean

---Declares the playbook of this file: `playbook "name" { ... }`.
---@param name string
---@return fun(t: migrun.PlaybookOptions): migrun.Playbook
function playbook(name) end

---A phase: `phase "name" { steps..., verify = {...}, rollback = ... }`.
---@param name string
---@return fun(t: migrun.PhaseOptions): migrun.Phase
function phase(name) end

---An SQL step: a file (a string ending in .sql), or inline SQL.
---@param sql string
---@param opts? migrun.StepOptions
---@return migrun.Step
function sql(sql, opts) end

---A Lua step: `step "name" (function(db, run) ... end)`.
---@param name string
---@param opts? migrun.StepOptions
---@return fun(fn: migrun.StepFunction, opts?: migrun.StepOptions): migrun.Step
function step(name, opts) end

---A gate: `gate "name" { "question", ... }`.
---@param name string
---@return fun(questions: string[]): migrun.Gate
function gate(name) end

---A batched, resumable update or copy: `backfill "table" { set = ..., where = ... }`.
---@param table migrun.Table
---@return fun(t: migrun.BackfillOptions): migrun.Step
function backfill(table) end

---A window after the release: `watch "name" { duration = "30m", thresholds..., on_breach = ... }`.
---@param name string
---@return fun(t: migrun.WatchOptions): migrun.Watch
function watch(name) end

---The fleet file's declaration (a fleet file, not a playbook): `fleet { targets = {...} }`.
---@param t migrun.FleetOptions
function fleet(t) end

---A playbook variable from --set NAME=VALUE: `var.NAME`, `var("NAME", default)`.
---@class migrun.Vars
---@field [string] string?
---@overload fun(name: string, default?: string): string?
var = {}

---An environment variable: `env.NAME`, `env("NAME", default)`; a secret when NAME says it
---holds a credential (TOKEN, SECRET, PASSWORD, KEY, WEBHOOK, AUTH, ...).
---@class migrun.Env
---@field [string] string|migrun.Secret?
---@overload fun(name: string, default?: string): string|migrun.Secret?
env = {}

---The expectations.
expect = {}

---SQL NULL, in expect.query's expected value or rows.
---@type migrun.Null
expect.NULL = {}

---The first column of the first row equals `expected` (a value, a range, a function, or rows).
---@param sql string
---@param expected number|string|boolean|migrun.Null|{ min?: number, max?: number }|fun(actual: any): boolean|any[]
---@return migrun.Expectation
function expect.query(sql, expected) end

---TABLE has N rows; `where` narrows them.
---@param table migrun.Table
---@param n migrun.Count
---@param where? string
---@return migrun.Expectation
function expect.count(table, n, where) end

---Rows now minus rows at the start of the run.
---@param table migrun.Table
---@param n integer|{ min?: integer, max?: integer }
---@return migrun.Expectation
function expect.delta(table, n) end

---Row count and content fingerprint as at the start of the run.
---@param table migrun.Table
---@return migrun.Expectation
function expect.unchanged(table) end

---The schema holds N tables.
---@param opts { schema?: string, count: migrun.Count }
---@return migrun.Expectation
function expect.tables(opts) end

---Each relation exists.
---@param names migrun.Table|migrun.Table[]
---@return migrun.Expectation
function expect.exists(names) end

---None of the relations exists.
---@param names migrun.Table|migrun.Table[]
---@return migrun.Expectation
function expect.absent(names) end

---The table has (at least) these columns.
---@param table migrun.Table
---@param columns string|string[]
---@return migrun.Expectation
function expect.columns(table, columns) end

---The column's type, as the server names it.
---@param table migrun.Table
---@param column string
---@param type string
---@return migrun.Expectation
function expect.column_type(table, column, type) end

---Foreign keys in the user's schemas, or on one table.
---@param opts { count: migrun.Count, table?: migrun.Table }
---@return migrun.Expectation
function expect.foreign_keys(opts) end

---Row-level security policies in the user's schemas, or on one table.
---@param opts { count: migrun.Count, table?: migrun.Table }
---@return migrun.Expectation
function expect.policies(opts) end

---Every non-NULL child column has its parent row: "child.col -> parent.col".
---@param reference string
---@return migrun.Expectation
function expect.no_orphans(reference) end

---Row-level security is enabled (or disabled, with enabled = false).
---@param table migrun.Table
---@param enabled? boolean
---@return migrun.Expectation
function expect.rls(table, enabled) end

---An index whose key columns are exactly these, in order.
---@param table migrun.Table
---@param columns string|string[]
---@return migrun.Expectation
function expect.index(table, columns) end

---A function or procedure of that name exists.
---@param name string
---@return migrun.Expectation
function expect.function_exists(name) end

---The table has a trigger of that name.
---@param table migrun.Table
---@param name string
---@return migrun.Expectation
function expect.trigger(table, name) end

---The committed schema equals the one in FILE (relative to the playbook).
---@param file string
---@param opts? { privileges?: boolean }
---@return migrun.Expectation
function expect.schema(file, opts) end

---Your own check: returns ok, actual, expected.
---@param description string
---@param fn fun(db: migrun.db, ctx: table): boolean, any?, any?
---@param opts? { tables?: migrun.Table[] }
---@return migrun.Expectation
function expect.that(description, fn, opts) end

---pgTAP test files (a file or a glob, relative to the playbook) pass.
---@param glob string
---@param opts? { schema?: string }
---@return migrun.Expectation
function expect.pgtap(glob, opts) end

---An endpoint of the application answers as it should.
---@param opts migrun.ExpectHttpOptions
---@return migrun.Expectation
function expect.http(opts) end

---No transaction has been open longer than max.
---@param opts { max: migrun.Duration, all_databases?: boolean }
---@return migrun.Expectation
function expect.no_long_transactions(opts) end

---No session has sat idle in a transaction longer than max.
---@param opts { max: migrun.Duration, all_databases?: boolean }
---@return migrun.Expectation
function expect.idle_in_transaction(opts) end

---Client sessions (in that state) at most max and at least min.
---@param opts { max?: integer, min?: integer, state?: "active"|"idle"|"idle in transaction", all_databases?: boolean }
---@return migrun.Expectation
function expect.connections(opts) end

---No session waits for a lock (for min_wait or longer).
---@param opts? { min_wait?: migrun.Duration, all_databases?: boolean }
---@return migrun.Expectation
function expect.no_blocked_sessions(opts) end

---Every standby has replayed to within max; at least `standbys` (default 1; 0: none is fine) connected.
---@param opts { max: migrun.Duration, standbys?: integer }
---@return migrun.Expectation
function expect.replication_lag(opts) end

---The extension is installed (at that version), and loaded when it must be.
---@param name string
---@param opts? { version?: string }
---@return migrun.Expectation
function expect.extension(name, opts) end

---The backup kinds.
backup = {}

---A verified pg_dump of the whole database.
---@param opts migrun.DumpOptions
---@return migrun.BackupSpec
function backup.dump(opts) end

---Binary COPY snapshots of the named tables (a Lua step may take one now, with a connection).
---@overload fun(conn: migrun.db, names: migrun.Table[], opts?: migrun.TablesOptions): table
---@param opts migrun.TablesOptions
---@return migrun.BackupSpec
function backup.tables(opts) end

---HTTP: while the playbook loads, a request to send later (a hook); at run time (a step, a
---hook function), the request performed, and its response.
http = {}

---A request of any method (default GET).
---@param opts migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.request(opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.get(url, opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.post(url, opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.put(url, opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.patch(url, opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.delete(url, opts) end

---@overload fun(opts: migrun.HttpOptions): migrun.HttpResponse|migrun.HttpSpec
---@param url migrun.Text
---@param opts? migrun.HttpOptions
---@return migrun.HttpResponse|migrun.HttpSpec
function http.head(url, opts) end

---A string (or number) as a secret.
---@param value string|number|migrun.Secret
---@return migrun.Secret
function http.secret(value) end

---True for a secret.
---@param value any
---@return boolean
function http.is_secret(value) end

---A request as it may be shown, secrets as "***".
---@param req migrun.HttpOptions|migrun.HttpSpec
---@return string
function http.describe(req) end
