--- The reference of the command line. Each verb's usage, summary and options come from
-- migrun.commands (the table the command line is parsed with); this page adds what a table
-- cannot say: a description and examples per verb. A new verb is one entry in PROSE (the
-- suite fails until it has one), and every example line is parsed as the command line would.
local commands = require "migrun.commands"

local PROSE = {
  run = {
    text = [[
`migrun PLAYBOOK.lua` is the same. The run takes the advisory lock, lints the playbook (an
error-level finding stops it, exit 2), checks the preflight, snapshots the tables it touches,
takes the backup, runs the phases and gates in order, checks the final verify and the
protected tables, and writes the report. Applied steps are skipped; a step changed since it
was applied is refused unless `--allow-drift`.

`--dry-run` runs every transactional phase inside one transaction that is rolled back; it stops
before a `transaction = false` phase, which cannot be undone (`migrun rehearse` runs everything
on a clone). `--fleet FILE` runs the playbook on every target of a fleet file, in waves.

A file that declares no playbook runs as a Lua script with migrun's modules, `db` connected
on first use; `migrun -e CODE` runs a chunk.]],
    example = [[
migrun --sandbox --load examples/quickstart/before.sql examples/quickstart/playbook.lua --yes
migrun run playbook.lua --db postgresql://deploy@db1/shop --set batch=500 --report reports/shop.md
migrun run --dry-run playbook.lua --to "012 remove unused features"
migrun -e "print(db:query('SELECT version()')[1].version)"]],
    see = { "playbook", "plan", "rehearse", "fleet", "exit-codes" },
  },
  plan = {
    text = [[
Connects, reads the ledger and prints each phase and step: applied, pending or drifted, with
budgets, expectations and gates. Nothing changes. `--rollback` shows what `migrun rollback`
would undo, in order, and the rows each table would lose.]],
    example = [[
migrun plan playbook.lua
migrun plan --rollback playbook.lua --to "011 fix migration conflicts"]],
  },
  check = {
    text = [[
Read-only, in a READ ONLY transaction: the preflight when no phase is applied, the final
verify and the protected tables when every phase is, else the verify of each applied phase.
Exit 1 when an expectation fails.]],
    example = "migrun check playbook.lua --db \"$DATABASE_URL\"",
  },
  status = {
    text = [[
The latest runs of the ledger, newest first, with their phases, timings and outcome; with a
playbook, only its runs.]],
    example = [[
migrun status
migrun status playbook.lua --json]],
    see = { "ledger", "report" },
  },
  report = {
    text = [[
Prints a run's report as Markdown, rebuilt from the ledger, or writes it (and its JSON) with
`--report`. `--json` prints it as one JSON event.]],
    example = [[
migrun report
migrun report 12 --report reports/run-12.md]],
    see = { "ledger", "playbook.report" },
  },
  rollback = {
    text = [[
Undoes applied phases, newest first, across runs, each with its `rollback` in its own
transaction; with `--to PHASE`, only the phases after PHASE. It shows what will be undone and
the rows each table will lose, asks (a terminal, or `--yes`), and takes the playbook's backup
first. It stops before a phase without a rollback (exit 1); a rollback that fails exits 5.]],
    example = [[
migrun rollback playbook.lua --to "012 remove unused features"
migrun rollback playbook.lua --yes]],
  },
  rehearse = {
    text = [[
Clones the target into a throwaway database (from a fresh dump), runs the playbook on the
clone with its gates answered yes, and drops it; the target is untouched. The report is the
forecast: each phase's time, and the locks each statement took and for how long.
`--prove-rollbacks` also applies each phase, runs its rollback, compares the schema and content
with the state before the phase, and applies it again.]],
    example = "migrun rehearse playbook.lua --prove-rollbacks --report reports/forecast.md",
  },
  baseline = {
    text = [[
For a database that already has the changes (migrated by hand, or by another tool): records
the phases up to `--to PHASE` as applied without running them, with who, when and `--note`.
Asks first.]],
    example = [[migrun baseline playbook.lua --to "011 fix migration conflicts" --note "applied by hand in March"]],
  },
  ["accept-drift"] = {
    text = [[
Shows the diff of each applied step whose SQL or code changed since it was applied, asks, and
records the new versions in the ledger (with `--note`), so later runs go on.]],
    example = [[migrun accept-drift playbook.lua --note "comment-only change in 011"]],
  },
  lint = {
    text = [[
One rule per page in docs/lint/. It knows what a file linter cannot: tables created
earlier in the playbook, a phase's transaction mode, migrun's lock_timeout, and (connected)
each table's size, which sets the severity. A finding is allowed with a reason by
`-- migrun:allow RULE why` on the statement, or by the playbook's `lint` levels. Exit 0 clean,
1 on an error-level finding, 2 on input it cannot parse.]],
    example = [[
migrun lint playbook.lua
migrun lint sql/week1/*.sql --format sarif
migrun lint playbook.lua --db "$DATABASE_URL"]],
    see = { "playbook.lint", "exit-codes" },
  },
  import = {
    text = [[
Writes a playbook with one phase per migration of a Flyway, dbmate, golang-migrate or Sqitch
folder, with their rollbacks where the tool has them (docs/import.md). `--adopt` also reads
the tool's history table on the target and records the migrations it lists as applied.]],
    example = [[
migrun import db/migrations --out playbook.lua
migrun import db/migrations --adopt --db "$DATABASE_URL" --yes]],
  },
  backup = {
    text = [[
The same dump a playbook's `backup.dump` takes: pg_dump custom format streamed to a hidden
file, its sha256 computed and every byte read back by pg_restore in the same pass, renamed
only once verified, with FILE.sha256 and a JSON manifest beside it.]],
    example = "migrun backup --db \"$DATABASE_URL\" --out backups/shop.dump",
    see = { "backup.dump", "restore", "exit-codes" },
  },
  restore = {
    text = [[
Checks the checksum before anything is touched (migrun read every byte of the dump back when
it took it); a corrupt or truncated file is refused (exit 3). `--into NEWDB` restores into a
new database, with as many pg_restore jobs as the machine has processors; a restore that fails
drops it. `--clean` replaces the target: restored into a new database which then takes the
target's name, the replaced one kept, renamed; it asks first, and refuses a backup of another
database unless `--other-database`.]],
    example = [[
migrun restore backups/shop.dump --into shop_copy
migrun restore backups/shop.dump --clean --db "$DATABASE_URL"]],
    see = { "backup", "backup.dump", "exit-codes" },
  },
  repl = {
    text = [=[
A Lua 5.4 prompt with line editing and history, `db` connected. An expression's value is
printed; query results print as aligned tables. Helpers: `tables()`, `describe "t"`,
`counts()`, `sql [[...]]`, and `pb = load "x.lua"` with `pb:plan()`, `pb:check()`,
`pb:run { only = "phase" }`. Errors print and the session goes on.]=],
    example = "migrun repl --sandbox --load examples/quickstart/before.sql",
  },
  new = {
    text = [[
A new directory NAME holding a playbook that runs as it is: its SQL and rollback, a fixture
of the "before" state (before.sql), a spec (spec/playbook_spec.lua), a README and a
`.luarc.json` that points an editor's Lua language server at migrun's definitions, so it
completes `expect.` and checks a playbook's arguments.]],
    example = [[
migrun new add-status
migrun --sandbox --load add-status/before.sql add-status/playbook.lua --yes]],
    see = { "test", "playbook" },
  },
  test = {
    text = [[
Runs busted specs inside migrun's VM (DIR, else the `.busted` file's default). `require
"migrun.testing"` loads a playbook and runs it on a throwaway sandbox cluster. Every other
argument goes to busted.]],
    example = [[
migrun test spec
migrun test --run=lua]],
  },
  sandbox = {
    text = [[
`start` creates a throwaway cluster (its own socket directory, a free loopback port, fsync
off) that outlives the command and writes its PG* settings to `--env-file`; `stop` removes it.
The test suite's fixture; `--sandbox` on other verbs makes one for the command's own use.]],
    example = [[
migrun sandbox start --env-file /tmp/pg.env
migrun sandbox stop --env-file /tmp/pg.env]],
  },
  help = {
    text = [[
Without a topic it lists the topics. A topic is a verb, a name of the playbook language
(`phase`, `backup.dump`), an option of one (`phase.budget`), an expectation
(`expect.no_orphans`) or a ledger table (`ledger.runs`). An unknown topic exits 2 with the
closest one.]],
    example = [[
migrun help expect.no_orphans
migrun help phase.transaction]],
    see = { "options", "exit-codes", "environment" },
  },
}

local EXIT_CODES = [[
- 0: success.
- 1: a step or expectation failed and the database was returned to a known state (rolled
back or restored).
- 2: usage or playbook error (an unknown option, a typo in the playbook, drift, a lint
error): nothing was touched.
- 3: environment error (cannot connect, the lock is held by another run, pg_dump missing, a
corrupt backup): nothing was touched.
- 4: declined at a gate or a confirmation.
- 5: failed, and the automatic recovery failed too: it needs a human.
- 130: interrupted (Ctrl-C) outside a run.]]

local ENVIRONMENT = [[
- DATABASE_URL: the target when there is no --db and the playbook names no `database`.
- PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE, PGPASSFILE, ...: libpq's own, used last; keep
passwords in ~/.pgpass, PGPASSFILE or a service file, not on the command line.
- MIGRUN_LUA_PATH: where migrun's Lua layer is, a Lua path template in which ;; stands for the
default (next to the binary: ../share/migrun/lua).
- NO_COLOR: no colours.]]

local M = {
  name = "commands",
  title = "Commands",
  file = "commands.md",
  prose = PROSE,
  intro = [[
`migrun PLAYBOOK.lua [options]` runs a playbook; every other verb is `migrun VERB`. Each verb
takes only its own options: an unknown option, one of another verb, or an extra argument is
an error (exit 2, with "did you mean"), never ignored. Every verb takes `--help`, and
`--json` makes it print one JSON object per line on stdout, the `result` event (with `exit`)
last.]],
}

local function flag(name)
  local o = commands.OPTIONS[name]
  return { (o.short and "-" or "--") .. name, o.arg, o.help }
end

local function usage(v)
  local u = { "migrun " .. v.name .. (#v.args > 0 and (" " .. table.concat(v.args, " ")) or "") }
  if v.name == "run" then u[2] = "migrun PLAYBOOK.lua [OPTION...]" end
  return u
end

--- page.build() -> the page with its entries: the verbs of migrun.commands with their prose,
-- then every option, the exit codes and the environment
function M.build()
  local entries = {}
  for _, v in ipairs(commands.VERBS) do
    local p = PROSE[v.name] or {}
    local opts = {}
    for _, o in ipairs(v.options) do opts[#opts + 1] = flag(o) end
    entries[#entries + 1] = { name = v.name, verb = true, usage = usage(v), summary = v.summary,
                              text = p.text, options = opts, example = p.example, context = "shell",
                              see = p.see or { "exit-codes" } }
  end
  -- every option, with the verbs that take it
  local takers, names = {}, {}
  for name in pairs(commands.OPTIONS) do names[#names + 1] = name; takers[name] = {} end
  table.sort(names)
  for _, v in ipairs(commands.VERBS) do
    for _, o in ipairs(v.options) do table.insert(takers[o], v.name) end
  end
  for _, o in ipairs(commands.SCRIPT.options) do
    if #takers[o] == 0 then takers[o][1] = "migrun FILE.lua, migrun -e CODE" end
  end
  local all = {}
  for _, name in ipairs(names) do
    local f = flag(name)
    f[3] = f[3] .. " (" .. table.concat(takers[name], ", ") .. ")"
    all[#all + 1] = f
  end
  entries[#entries + 1] = { name = "options", verb = true, usage = "migrun [VERB] OPTION...",
    summary = "Every option, and the verbs that take it.", options = all, man_section = "OPTIONS" }
  entries[#entries + 1] = { name = "exit-codes", usage = "exit status",
    summary = "What migrun's exit status means, for every verb.", text = EXIT_CODES,
    man_section = "EXIT STATUS" }
  entries[#entries + 1] = { name = "environment", usage = "environment variables",
    summary = "What migrun reads from its environment.", text = ENVIRONMENT, man_section = "ENVIRONMENT" }
  return { name = M.name, title = M.title, file = M.file, intro = M.intro, entries = entries }
end

return M
