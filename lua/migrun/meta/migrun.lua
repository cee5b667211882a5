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
---@class migrun.Playbook
---@class migrun.BackupSpec
---@class migrun.Null

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

---@class migrun.PlaybookOptions
---@field [integer] migrun.Phase|migrun.Gate
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

---A playbook variable from --set NAME=VALUE: `var.NAME`, `var("NAME", default)`.
---@class migrun.Vars
---@field [string] string?
---@overload fun(name: string, default?: string): string?
var = {}

---An environment variable: `env.NAME`, `env("NAME", default)`.
---@class migrun.Env
---@field [string] string?
---@overload fun(name: string, default?: string): string?
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
