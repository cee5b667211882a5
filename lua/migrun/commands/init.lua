--- migrun.commands: the table of verbs (policy layer). Each entry is the whole contract of a
-- verb: its name, one-line summary, usage, the positional arguments it takes and the options
-- it accepts; the module `migrun.commands.<file>` implements it as run(opts, ctx) -> exit.
-- cli.lua generates the help, the option parsing and the dispatch from this table, so a new
-- verb is one entry here and one file beside this one.
local M = {}

--- commands.OPTIONS: every option. kind: "flag" | "value" | "list" (repeatable)
M.OPTIONS = {
  db = { kind = "value", arg = "URL", help = "the target (else the playbook's `database`, else " ..
         "DATABASE_URL, else libpq's PG* variables); keep its password in ~/.pgpass, PGPASSFILE or a " ..
         "service file" },
  sandbox = { kind = "flag", help = "a throwaway local PostgreSQL cluster, started and removed by migrun" },
  load = { kind = "list", arg = "FILE.sql", help = "load an SQL file (psql-style: plain pg_dump output works) " ..
           "into the target first, in one transaction, on a connection of its own (repeatable)" },
  yes = { kind = "flag", help = "answer gates and confirmations yes (needed where there is no terminal)" },
  set = { kind = "list", arg = "K=V", help = "a playbook variable, read as var.K (repeatable)" },
  from = { kind = "value", arg = "PHASE", help = "start at this phase" },
  only = { kind = "value", arg = "PHASE", help = "run just this phase" },
  to = { kind = "value", arg = "PHASE", help = "stop after this phase" },
  ["allow-drift"] = { kind = "flag", help = "run although applied steps changed, and record the playbook's " ..
                      "current version of them" },
  ["dry-run"] = { kind = "flag", help = "run the transactional phases inside one transaction, then ROLLBACK" },
  report = { kind = "value", arg = "FILE.md", help = "write the Markdown report here (and FILE.json beside it); " ..
             "by default the playbook's `report` path, with the run id in the name" },
  json = { kind = "flag", help = "one JSON object per line on stdout; the last one is " ..
           "{\"event\": \"result\", \"exit\": N}" },
  quiet = { kind = "flag", help = "print only failures" },
  verbose = { kind = "flag", help = "also print passed expectations, and tracebacks of errors" },
  ["no-color"] = { kind = "flag", help = "no colours (also NO_COLOR=1)" },
  help = { kind = "flag", help = "this help" },
  version = { kind = "flag", help = "print the version" },
  rollback = { kind = "flag", help = "show what a rollback would undo, and the rows it would lose" },
  out = { kind = "value", arg = "FILE", help = "where to write it: backup's dump (default: " ..
          "./migrun-DB-STAMP.dump), import's playbook (default: DIR/playbook.lua)" },
  into = { kind = "value", arg = "NEWDB", help = "restore into a new database of this name" },
  clean = { kind = "flag", help = "replace the target with the backup (asks first): restored into a new " ..
            "database that then takes the target's name; the replaced one is kept, renamed" },
  ["other-database"] = { kind = "flag", help = "restore --clean although the backup was taken of " ..
                         "another database" },
  note = { kind = "value", arg = "TEXT", help = "why, recorded in the ledger" },
  ["prove-rollbacks"] = { kind = "flag", help = "on the clone, apply each phase, then its rollback, " ..
                          "compare with the state before the phase (schema and content), apply it again" },
  adopt = { kind = "flag", help = "also read the tool's history table on the target and record the migrations it " ..
            "lists as applied in migrun's ledger, without running them" },
  ["env-file"] = { kind = "value", arg = "FILE", help = "the sandbox's PG* settings, for the test harness" },
  format = { kind = "value", arg = "text|json|sarif|github", help = "lint's output: gcc-style text (the " ..
             "default), JSON, SARIF 2.1.0 for code scanning, or GitHub workflow annotations" },
  ["pg-version"] = { kind = "value", arg = "N", help = "lint for this PostgreSQL version (default: the " ..
                     "server's when connected, else 15)" },
  e = { kind = "value", arg = "CODE", short = true, help = "run a Lua chunk with migrun's modules and `db`" },
  fleet = { kind = "value", arg = "FILE.lua", help = "every target of this fleet file, in waves: a child " ..
            "migrun per target (docs/fleet.md)" },
}

local COMMON = { "json", "quiet", "verbose", "no-color", "help" }
local TARGET = { "db", "sandbox", "load" }

local function opts(...)
  local list = {}
  for _, group in ipairs({ ... }) do
    for _, o in ipairs(group) do list[#list + 1] = o end
  end
  return list
end

--- commands.VERBS: in the order `migrun --help` lists them
M.VERBS = {
  { name = "run", file = "run", args = { "PLAYBOOK.lua" },
    summary = "run a playbook: backup, phases, verify, rollback of what failed, report",
    options = opts(TARGET, { "yes", "set", "from", "only", "to", "allow-drift", "dry-run", "report", "fleet" },
                   COMMON) },
  { name = "plan", file = "plan", args = { "PLAYBOOK.lua" },
    summary = "phases and steps, applied / pending / drifted, budgets; exit 2 on drift, 3 without the target",
    options = opts(TARGET, { "set", "rollback", "to", "fleet" }, COMMON) },
  { name = "check", file = "check", args = { "PLAYBOOK.lua" },
    summary = "read-only: the preflight if nothing is applied, the final verify if all is, else the applied " ..
              "phases' verify",
    options = opts(TARGET, { "set", "fleet" }, COMMON) },
  { name = "status", file = "status", args = { "[PLAYBOOK.lua]" },
    summary = "the ledger: runs, phases, timings, state",
    options = opts(TARGET, { "set", "fleet" }, COMMON) },
  { name = "report", file = "report", args = { "[RUN_ID]" },
    summary = "the report of a run, rebuilt from the ledger (latest by default)",
    options = opts(TARGET, { "report" }, COMMON) },
  { name = "rollback", file = "rollback", args = { "PLAYBOOK.lua" },
    summary = "undo applied phases, newest first, across runs (shows the loss, asks, backs up first)",
    options = opts(TARGET, { "yes", "set", "to", "report", "fleet" }, COMMON) },
  { name = "rehearse", file = "rehearse", args = { "PLAYBOOK.lua" },
    summary = "run on a throwaway clone of the target; the report is the forecast",
    options = opts(TARGET, { "set", "from", "only", "to", "allow-drift", "report", "prove-rollbacks" },
                   COMMON) },
  { name = "baseline", file = "baseline", args = { "PLAYBOOK.lua" },
    summary = "record the phases up to --to as applied without running them (who, when, why)",
    options = opts(TARGET, { "set", "to", "yes", "note" }, COMMON) },
  { name = "accept-drift", file = "accept_drift", args = { "PLAYBOOK.lua" },
    summary = "show the diff of changed applied steps, then record their new versions",
    options = opts(TARGET, { "set", "yes", "note" }, COMMON) },
  { name = "lint", file = "lint", args = { "PLAYBOOK.lua|FILE.sql", "[...]" }, variadic = true,
    summary = "flag dangerous DDL (locks, rewrites, data loss) with PostgreSQL's own parser; exit 1 on " ..
              "an error-level finding, 2 on input it cannot parse",
    options = opts({ "db", "sandbox", "load", "set", "format", "pg-version" }, COMMON) },
  { name = "import", file = "import", args = { "DIR" },
    summary = "a playbook from a Flyway, dbmate, golang-migrate or Sqitch folder (one phase per migration); " ..
              "--adopt records what the tool's history says is applied",
    options = opts(TARGET, { "adopt", "out", "yes", "set" }, COMMON) },
  { name = "backup", file = "backup", args = {},
    summary = "a verified backup of the target (pg_dump -Fc, sha256, read back in full)",
    options = opts(TARGET, { "out" }, COMMON) },
  { name = "restore", file = "restore", args = { "FILE" },
    summary = "restore a verified backup into a new database (--into) or over the target (--clean)",
    options = opts({ "db", "sandbox", "into", "clean", "other-database", "yes" }, COMMON) },
  { name = "repl", file = "repl", args = {}, extra_hint = 'load a playbook inside it: pb = load "%s"',
    summary = "interactive Lua with `db` connected; reads stdin when there is no terminal",
    options = opts(TARGET, { "verbose", "no-color", "help" }) },
  { name = "new", file = "new", args = { "NAME" },
    summary = "scaffold a playbook project (fixture, SQL, rollback, spec) that runs as it is",
    options = opts(COMMON) },
  { name = "test", file = "test", args = { "[DIR|busted options...]" }, passthrough = true,
    summary = "run busted specs inside migrun's VM (require \"migrun.testing\" to run playbooks on a sandbox)",
    options = { "help" } },
  { name = "sandbox", file = "sandbox", args = { "start|stop" },
    summary = "start a sandbox cluster that outlives this command (the test harness), or stop one",
    options = opts({ "env-file" }, COMMON) },
  { name = "help", file = "help", args = { "[TOPIC]" },
    summary = "the reference: a verb, a name of the playbook language, an expectation, a ledger table " ..
              "(the same text as the man pages); without a topic, the list of topics", options = opts(COMMON) },
}

M.by_name = {}
for _, v in ipairs(M.VERBS) do M.by_name[v.name] = v end

--- the form without a verb: a playbook to run, or a Lua script with its arguments, or -e CODE
M.SCRIPT = { name = "run", file = "run", script = true, args = { "PLAYBOOK.lua | SCRIPT.lua [ARGS...]" },
             options = opts(TARGET, { "yes", "set", "from", "only", "to", "allow-drift", "dry-run", "report",
                                      "e", "version" }, COMMON) }

return M
