--- migrun.command: what every verb shares (policy layer): the output, the target (--db, the
-- playbook's database, DATABASE_URL, libpq's PG*; or --sandbox), --load, loading the
-- playbook, and running a playbook with its report and closing summary — one implementation
-- for the command line and the REPL.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local pg = require "migrun.pg"
local status = require "migrun.run.status"

local M = {}

local Ctx = {}
Ctx.__index = Ctx

--- command.new(opts) -> ctx; opts are the parsed command line
function M.new(opts)
  local out = require("migrun.output").new({ json = opts.json, quiet = opts.quiet,
    verbose = opts.verbose, no_color = opts.no_color })
  return setmetatable({ opts = opts, out = out }, Ctx)
end

--- ctx:conninfo() -> the target's connection string (starts the sandbox on first use)
function Ctx:conninfo()
  if self.opts.sandbox then
    if not self.sandbox then self.sandbox = require("migrun.sandbox").start() end
    return self.sandbox:conninfo()
  end
  return self.opts.db or (self.pb and self.pb.database) or os.getenv("DATABASE_URL")
end

--- load.file(conninfo, path): an SQL file the way psql -1 -f runs it (COPY data, pg_dump's
-- \restrict lines), in one transaction, on a connection of its own: settings the file makes
-- (search_path, statement_timeout) never reach the run
function M.load_file(conninfo, path)
  local body, err = require("migrun.text").readfile(path)
  if not body then errors.raise("usage", "--load: " .. err) end
  local c <close> = require("migrun.db").connect(conninfo)
  c:tx(function() c:script(body, { name = path, psql = true }) end)
end

--- ctx:connect([{async = true}]) -> the target's connection (--load files loaded first, once)
function Ctx:connect(o)
  if not self.db then
    M.password_hint(self.out, self.opts.db)        -- every verb that connects with --db
    local conninfo = self:conninfo()
    for _, file in ipairs(self.opts.load or {}) do M.load_file(conninfo, file) end
    self.db = require("migrun.db").connect(conninfo, o)
    self.conninfo = conninfo
  end
  return self.db
end

--- ctx:preconnect(): with --db (which names the target whatever the playbook says), start
-- connecting now, without waiting: the server starts its backend while the playbook loads,
-- and the first use of ctx:connect()'s connection finishes it (a failure raises there)
function Ctx:preconnect()
  local o = self.opts
  if o.db and not o.sandbox and #(o.load or {}) == 0 then self:connect({ async = true }) end
end

--- ctx:playbook([{script = true}]) -> the playbook of opts.file; with script = true a file
-- that declares no playbook runs as a Lua script (`db` connects on first use) and nil returns
function Ctx:playbook(o)
  local opts = self.opts
  local index
  if o and o.script then
    index = function(t, k)
      if k == "db" then
        local c = self:connect()
        rawset(t, "db", c)
        return c
      end
      return _G[k]
    end
  end
  local pb = require("migrun.dsl").load(opts.file, { vars = opts.vars, args = opts.args,
    globals = { arg = { [0] = opts.file, table.unpack(opts.args or {}) } }, index = index,
    playbook = not (o and o.script) })
  if not pb and not (o and o.script) then
    errors.raise("usage", opts.file .. " declares no playbook (a file with playbook \"name\" { ... })")
  end
  self.pb = pb
  return pb
end

--- ctx:close(): the connection and the sandbox go
function Ctx:close()
  if self.db then self.db:close() end
  if self.sandbox then self.sandbox:stop() end
end

--- command.lint(out, pb, db) -> findings: lint guards every verb that runs or plans a
-- playbook. Connected, a finding's severity follows the table's size. An error-level finding
-- (after the playbook's own `lint = {...}` levels and `-- migrun:allow RULE reason`) stops
-- it before anything is touched (exit 2); warnings are printed and go to the report.
function M.lint(out, pb, db)
  local lint = require "migrun.lint"
  -- its catalog reads (table sizes) never queue behind a lock longer than the playbook's
  -- lock_timeout: a table held by someone else is waited for and retried, as the preflight does
  if db then
    db:exec(string.format("SET lock_timeout = %d; SET statement_timeout = 30000", pb.lock_timeout // 1000000))
  end
  local ok, findings = pcall(require("migrun.run.executor").retry,
    { attempts = pb.retries + 1, what = "lint (reading table sizes)", out = out },
    function() return lint.playbook(pb, { db = db }) end)
  if db then pcall(db.exec, db, "RESET lock_timeout; RESET statement_timeout") end
  if not ok then error(findings, 0) end
  local n_err, n_warn = lint.counts(findings)
  for _, f in ipairs(findings) do
    local e = {}
    for k, v in pairs(f) do e[k] = v end
    if not out:event("lint", e) and (f.severity == "error" or not out.quiet) then
      local line = string.format("%s:%d:%d: %s: %s [%s]", f.file, f.line, f.col, f.severity, f.message, f.rule)
      if f.severity == "error" then out.err:write(line, "\n") else out:warn("lint: " .. line) end
    end
  end
  if n_err > 0 then
    errors.raise("playbook", string.format("lint found %d error(s) in %s: nothing was run", n_err, pb.path),
      { hint = "fix them (the safe form is in `migrun lint " .. pb.path .. "`), or allow one with a " ..
               "reason: `-- migrun:allow RULE why` on the statement, or lint = { [\"RULE\"] = \"warn\" } " ..
               "in the playbook" })
  end
  if n_warn > 0 and not out.json then
    out:info(string.format("lint: %d warning(s); `migrun lint %s` explains them", n_warn, pb.path))
  end
  return findings
end

--- command.report_path(explicit, pb, doc) -> where this run's report goes, or nil: an
-- explicit --report as given; else the playbook's `report`, made unique to the run
function M.report_path(explicit, pb, doc)
  if explicit then return explicit end
  if pb.report then return require("migrun.report").default_path(pb.report, doc) end
end

--- command.finish(out, pb, result): print the closing summary and, when it failed, what
-- became of each phase, in run order
function M.finish(out, pb, result)
  if result.error and not result.error_shown then out:error(result.error) end
  out:summary(string.format("%s: %s in %s", pb.name, status.text(status.run, result.status),
              clock.format(math.floor((result.duration_ms or 0) * 1e6))), result.exit == 0)
  if result.exit ~= 0 then
    for _, item in ipairs(pb.items) do
      local code = item.kind == "phase" and result.states[item.name]
      if code then out:info(string.format("  %s: %s", item.name, status.text(status.phase, code))) end
    end
  end
  if result.kept then out:info("  the failed database is kept as " .. result.kept) end
end

--- command.run_playbook{out, db, conninfo, pb, report = path|nil, backup_dir, run = {...}} ->
-- result: runner.run, then the report (a run that did nothing writes none unless asked), then
-- the summary. The CLI's run and rehearse verbs and the REPL's pb:run all come here.
function M.run_playbook(a)
  local report = require "migrun.report"
  local r = a.run or {}
  local findings = M.lint(a.out, a.pb, a.db)
  local opts = { db = a.db, target = a.db:target(), conninfo = a.conninfo, out = a.out, env = a.env, lint = findings,
                 yes = r.yes, dry_run = r.dry_run, from = r.from, only = r.only, to = r.to,
                 allow_drift = r.allow_drift, rehearsal = r.rehearsal, backup_dir = a.backup_dir,
                 prove_rollbacks = r.prove_rollbacks }
  local result = require("migrun.runner").run(a.pb, opts)
  local path
  if result.run_id and (result.status ~= "nothing_to_do" or a.report) then
    path = a.report or (a.default_report ~= false and M.report_path(nil, a.pb,
      { run = { id = result.run_id, dry_run = result.dry_run, rehearsal = result.rehearsal } })) or nil
  end
  if result.run.announced then
    -- before the report is written, so the report lists this call too
    require("migrun.hooks").notify(result.run, result.exit == 0 and "success" or "failure",
      { phase = result.failed_phase, outcome = status.text(status.run, result.status),
        error = result.error and errors.text(result.error):match("[^\n]*"), report = path })
  end
  if result.run_id and (result.status ~= "nothing_to_do" or a.report) then
    local doc = (result.dry_run or result.rehearsal or result.db:status() ~= "idle")
      and report.from_result(result) or report.data(result.db, result.run_id)
    if a.rehearsal_clone then doc.run.rehearsal_clone = a.rehearsal_clone end
    if path then
      local ok, err = pcall(report.write, doc, path)
      if ok then
        result.report = path
        a.out:info(string.format("report: %s and %s", path, report.json_path(path)))
      else
        result.report_error = err
        a.out:error(err)
        if result.exit == 0 then result.exit = errors.exit_code(err) end
      end
    end
  end
  M.finish(a.out, a.pb, result)
  return result
end

--- command.password_hint(out, conninfo): a password on the command line is visible to every
-- user of the machine while migrun runs (it is blanked from our own argv, but not from the
-- shell's history): say where it belongs
function M.password_hint(out, conninfo)
  if conninfo and pg.has_password(conninfo) then
    out:warn("the --db value holds a password; keep it in ~/.pgpass, PGPASSFILE or a service " ..
             "file (PGSERVICE) instead of the command line")
  end
end

return M
