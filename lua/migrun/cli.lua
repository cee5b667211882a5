--- migrun.cli: the command line. main(argv) returns the exit code (DESIGN.md):
-- 0 ok · 1 failed, database in a known state · 2 usage or playbook error · 3 environment
-- (connect, lock, missing tool) · 4 declined at a gate · 5 recovery failed too.
local errors = require "migrun.errors"
local text = require "migrun.text"

local M = {}

local HELP = [[
migrun — run a PostgreSQL production migration as a program

usage:
  migrun PLAYBOOK.lua [options]    run it (same as `migrun run PLAYBOOK.lua`)
  migrun plan PLAYBOOK.lua         phases and steps, applied or pending, budgets, expectations
  migrun check PLAYBOOK.lua        preflight and final verify only, read-only; exit 1 if one fails
  migrun status [PLAYBOOK.lua]     the ledger: runs, phases, timings, outcome
  migrun run --dry-run PLAYBOOK.lua
                                   every transactional phase inside one transaction, then
                                   ROLLBACK; the report is marked DRY RUN
  migrun report [RUN_ID] [--json]  the report of a run from the ledger (latest by default)
  migrun rollback PLAYBOOK.lua [--to PHASE]
                                   undo applied phases, newest first, from the ledger (across
                                   runs); stops at a phase that has no rollback
  migrun rehearse PLAYBOOK.lua     run on a throwaway clone of the target (gates answered yes),
                                   write the report as the forecast, drop the clone
  migrun backup [--out FILE]       a verified backup of the target (pg_dump -Fc, sha256, read back)
  migrun restore FILE [--into DBNAME | --clean]
                                   restore a verified backup into a new database, or over the
                                   target (--clean, after a confirmation); refuses a corrupt file
  migrun plan --rollback PLAYBOOK.lua [--to PHASE]
                                   what that would undo, and the rows it would lose
  migrun SCRIPT.lua [args]         a file that declares no playbook runs as a Lua script
                                   (`db` connects to the target on first use)
  migrun -e CODE                   run a Lua chunk the same way
  migrun repl [--db URL | --sandbox] [--load FILE.sql]
                                   interactive Lua with `db` connected (help() lists the
                                   helpers); reads stdin when there is no terminal
  migrun new NAME                  scaffold a playbook project (fixture, SQL, rollback, README)
  migrun test [DIR|busted options] run busted specs inside migrun's VM
  migrun sandbox start|stop --env-file FILE
                                   start a sandbox cluster that outlives this command
                                   (the test harness), or stop one

options:
  --db URL        target (else the playbook's `database`, else DATABASE_URL, else libpq's
                  PG* variables and defaults)
  --sandbox       a throwaway local PostgreSQL cluster, started and removed by migrun
  --load FILE.sql load SQL into the target first (repeatable)
  --yes           answer gates yes (needed where there is no terminal)
  --set K=V       playbook variable, read as var.K (repeatable)
  --from PHASE    start at this phase;  --only PHASE  run just this phase
  --allow-drift   run although an applied step's file changed since
  --dry-run       run inside one transaction and roll it back (run verb)
  --report FILE   write the Markdown report to FILE and its JSON twin beside it
  --json          one JSON object per event on stdout
  --no-color, --quiet
  --verbose       passed expectations, and tracebacks on errors
  --version       print the version
  --help          this text

exit codes: 0 ok · 1 failed (database in a known state) · 2 usage or playbook error ·
3 environment error (cannot connect, lock held, tool missing) · 4 declined at a gate ·
5 failed and recovery failed: needs a human · 130 interrupted
]]

-- option name -> "value" | "list" | "flag"
local OPTIONS = {
  ["--db"] = "value", ["--load"] = "list", ["-e"] = "value", ["--env-file"] = "value",
  ["--set"] = "list", ["--from"] = "value", ["--only"] = "value",
  ["--sandbox"] = "flag", ["--verbose"] = "flag", ["--version"] = "flag", ["--help"] = "flag",
  ["--quiet"] = "flag", ["--no-color"] = "flag", ["--yes"] = "flag", ["--json"] = "flag",
  ["--allow-drift"] = "flag", ["--dry-run"] = "flag", ["--report"] = "value",
  ["--to"] = "value", ["--rollback"] = "flag", ["--out"] = "value", ["--into"] = "value",
  ["--clean"] = "flag",
}

local VERBS = { test = true, sandbox = true, run = true, plan = true, check = true, status = true,
                report = true, rollback = true, rehearse = true, backup = true, restore = true,
                repl = true, new = true }

local function usage(msg, hint)
  errors.raise("usage", msg, { hint = hint or "see migrun --help" })
end

local function option_names()
  local names = {}
  for k in pairs(OPTIONS) do names[#names + 1] = k end
  table.sort(names)
  return names
end

--- cli.parse(argv) -> opts {verb, file, args, db, load = {...}, ...}; raises kind="usage"
function M.parse(argv)
  local opts = { load = {}, args = {} }
  local i, n = 1, #argv
  local positional = {}
  while i <= n do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, n do opts.args[#opts.args + 1] = argv[j] end
      break
    end
    local name, inline = a:match("^(%-%-?[%w-]+)=(.*)$")
    name = name or a
    local kind = OPTIONS[name]
    if positional[1] == "test" then
      opts.args[#opts.args + 1] = a                  -- busted's own options and paths
    elseif kind then
      local key = name:gsub("^%-+", ""):gsub("-", "_")
      if kind == "flag" then
        if inline then usage(name .. " takes no value") end
        opts[key] = true
      else
        local v = inline
        if not v then
          i = i + 1
          v = argv[i]
          if v == nil then usage(name .. " needs a value") end
        end
        if kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], v)
        else
          opts[key] = v
        end
      end
    elseif a:sub(1, 1) == "-" and #a > 1 and not opts.file then
      usage("unknown option " .. name .. text.did_you_mean(name, option_names()))
    elseif opts.file then
      opts.args[#opts.args + 1] = a                  -- the script's own arguments
    else
      positional[#positional + 1] = a
      local verb = VERBS[positional[1]] and positional[1]
      if verb == "sandbox" or verb == "report" or verb == "restore" or verb == "new" then
        if #positional == 2 then opts.action = a end
      elseif not verb or #positional == 2 then
        opts.file = a
      end
    end
    i = i + 1
  end
  opts.verb = VERBS[positional[1]] and positional[1] or nil
  opts.vars = {}
  for _, kv in ipairs(opts.set or {}) do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then usage("--set needs K=V, got " .. kv) end
    opts.vars[k] = v
  end
  local needs_file = { plan = true, check = true, run = true, rollback = true, rehearse = true }
  if needs_file[opts.verb] and not opts.file then
    usage("migrun " .. opts.verb .. " needs a playbook file")
  end
  return opts
end

-- The connection target for this invocation, and the sandbox it may need.
local function target(opts, ctx)
  if opts.sandbox then
    if not ctx.sandbox then
      ctx.sandbox = require("migrun.sandbox").start()
    end
    return ctx.sandbox:conninfo()
  end
  return opts.db or (ctx.pb and ctx.pb.database) or os.getenv("DATABASE_URL")
end

local function connect(opts, ctx)
  if not ctx.db then
    local dbmod = require "migrun.db"
    ctx.conninfo = target(opts, ctx)
    ctx.db = dbmod.connect(ctx.conninfo)
    for _, file in ipairs(opts.load) do
      local sql, err = text.readfile(file)
      if not sql then errors.raise("usage", "--load: " .. err) end
      -- one transaction per file: a fixture that fails half-way leaves nothing behind
      ctx.db:tx(function() ctx.db:script(sql, { name = file }) end)
    end
  end
  return ctx.db
end

-- A plain Lua script: migrun's modules on the path, `db` connected on first use.
local function run_chunk(chunk, opts, ctx, env)
  setmetatable(env, { __index = function(t, k)
    if k == "db" then
      local c = connect(opts, ctx)
      rawset(t, "db", c)
      return c
    end
    return _G[k]
  end })
  if #opts.load > 0 then env.db = connect(opts, ctx) end
  chunk(table.unpack(opts.args))
  return 0
end

-- the environment's lazy `db` for plain scripts (a playbook connects after it loads)
local function lazy_index(opts, ctx)
  return function(t, k)
    if k == "db" then
      local c = connect(opts, ctx)
      rawset(t, "db", c)
      return c
    end
    return _G[k]
  end
end

local function load_playbook(opts, ctx, as_script)
  local dsl = require "migrun.dsl"
  local pb = dsl.load(opts.file, { vars = opts.vars, args = opts.args,
    globals = { arg = { [0] = opts.file, table.unpack(opts.args) } },
    index = as_script and lazy_index(opts, ctx) or nil })
  ctx.pb = pb
  return pb
end

local function make_out(opts)
  return require("migrun.output").new({ json = opts.json, quiet = opts.quiet,
    verbose = opts.verbose, no_color = opts.no_color })
end

local function run_playbook(opts, ctx)
  -- an explicit target connects (and --load runs) before the file loads
  if opts.sandbox or opts.db or #opts.load > 0 then connect(opts, ctx) end
  local pb = load_playbook(opts, ctx, true)
  if not pb then return 0 end                       -- a plain script: it has run
  local db = connect(opts, ctx)
  local out = make_out(opts)
  local result = require("migrun.runner").run(pb, { db = db, target = tostring(db):match("%((.*)%)"),
    conninfo = ctx.conninfo, out = out, yes = opts.yes, from = opts.from, only = opts.only,
    allow_drift = opts.allow_drift, dry_run = opts.dry_run })
  ctx.result = result
  if result.db ~= db then                            -- a restore reconnected
    ctx.db, db = result.db, result.db
  end
  local report_path = opts.report or pb.report
  if report_path and result.run_id then
    local report = require "migrun.report"
    local doc = opts.dry_run and report.from_result(result) or report.data(db, result.run_id)
    local md, json = report.write(doc, report_path)
    out:info(string.format("report: %s and %s", md, json))
  end
  if result.error and not result.error_shown then out:error(result.error) end
  local ok = result.exit == 0
  out:summary(string.format("%s: %s in %s", pb.name, result.status,
                            require("migrun.clock").format(math.floor((result.duration_ms or 0) * 1e6))),
              ok, { status = result.status, exit = result.exit, run_id = result.run_id })
  for _, name in ipairs((function()
      local n = {}
      for k in pairs(result.states) do n[#n + 1] = k end
      table.sort(n)
      return n
    end)()) do
    if result.exit ~= 0 then out:info(string.format("  %s: %s", name, result.states[name])) end
  end
  return result.exit
end

local function plan_playbook(opts, ctx)
  local pb = load_playbook(opts, ctx, false)
  if not pb then usage(opts.file .. " declares no playbook") end
  local ok, db = pcall(connect, opts, ctx)
  local plan = require "migrun.plan"
  if opts.rollback then
    if not ok then error(db, 0) end
    io.stdout:write(plan.rollback(pb, db, opts.to))
    return 0
  end
  if not ok then
    io.stderr:write("migrun: could not read the ledger (", tostring(db), "): showing the plan without state\n")
    db = nil
  end
  io.stdout:write(plan.render(pb, db))
  return 0
end

local function check_playbook(opts, ctx)
  local pb = load_playbook(opts, ctx, false)
  if not pb then usage(opts.file .. " declares no playbook") end
  local db = connect(opts, ctx)
  return require("migrun.plan").check(pb, db, make_out(opts), ctx.conninfo)
end

local function run_rollback(opts, ctx)
  local pb = load_playbook(opts, ctx, false)
  if not pb then usage(opts.file .. " declares no playbook") end
  local db = connect(opts, ctx)
  local out = make_out(opts)
  local result = require("migrun.runner").rollback(pb, { db = db, out = out, to = opts.to,
    target = tostring(db):match("%((.*)%)"), conninfo = ctx.conninfo })
  if result.error and not errors.is(result.error, "recovery") then out:error(result.error) end
  out:summary(string.format("%s: %s", pb.name, result.status), result.exit == 0,
              { status = result.status, exit = result.exit })
  local names = {}
  for k in pairs(result.states) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do out:info(string.format("  %s: %s", k, result.states[k])) end
  return result.exit
end

local function run_rehearsal(opts, ctx)
  local pb = load_playbook(opts, ctx, false)
  if not pb then usage(opts.file .. " declares no playbook") end
  if #opts.load > 0 then                             -- load the fixture, then let go of the target
    connect(opts, ctx)
    ctx.db:close()
    ctx.db = nil
  end
  local conninfo = target(opts, ctx)
  local out = make_out(opts)
  local rehearse = require "migrun.rehearse"
  local backup_dir = pb.backup and pb.backup.opts and pb.backup.opts.dir
  if backup_dir and backup_dir:sub(1, 1) ~= "/" then backup_dir = pb.dir .. "/" .. backup_dir end
  local clone = rehearse.clone(conninfo, { dumps = backup_dir })
  out:info(string.format("rehearsal: %s cloned into %s by %s in %.2fs", clone.source, clone.name,
                         clone.method, clone.seconds))
  local ok, res = pcall(function()
    local cdb <close> = require("migrun.db").connect(clone.conninfo)
    local result = require("migrun.runner").run(pb, { db = cdb, out = out, yes = true,
      target = tostring(cdb):match("%((.*)%)"), conninfo = clone.conninfo, from = opts.from,
      only = opts.only, allow_drift = opts.allow_drift, rehearsal = true })
    if result.error and not result.error_shown then out:error(result.error) end
    local report_path = opts.report or pb.report
    if report_path then
      local report = require "migrun.report"
      local doc = report.from_result(result)
      doc.run.rehearsal = { source = clone.source, clone = clone.name, method = clone.method,
                            clone_seconds = clone.seconds }
      local md, json = report.write(doc, report_path)
      out:info(string.format("report (forecast): %s and %s", md, json))
    end
    return result
  end)
  clone.drop()
  if not ok then error(res, 0) end
  out:summary(string.format("%s: rehearsal %s in %s (the target %s was not touched)", pb.name, res.status,
              require("migrun.clock").format(math.floor((res.duration_ms or 0) * 1e6)), clone.source),
              res.exit == 0, { status = res.status, exit = res.exit })
  return res.exit
end

local function take_backup(opts, ctx)
  local backup = require "migrun.backup"
  local info = backup.dump(target(opts, ctx), { file = opts.out, dir = not opts.out and "." or nil })
  io.stdout:write(string.format("backup %s\n  %d bytes, sha256 %s, %.1fs, verified by a full read\n",
                                info.file, info.size, info.sha256, info.seconds))
  return 0
end

local function run_restore(opts, ctx)
  local backup = require "migrun.backup"
  if not opts.action then usage("migrun restore FILE [--into NEWDB | --clean]") end
  if not opts.into and not opts.clean then
    usage("migrun restore FILE needs --into NEWDB (a new database) or --clean (over the target)")
  end
  local ok, err = backup.verify(opts.action)
  if not ok then
    errors.raise("environment", "refusing to restore: " .. (errors.is(err) and err.message or tostring(err)))
  end
  local conninfo = target(opts, ctx)
  if opts.clean then
    local dbmod = require "migrun.db"
    local c <close> = dbmod.connect(conninfo)
    local where = tostring(c):match("%((.*)%)")
    c:close()
    local run = { opts = opts, out = make_out(opts) }
    local yes, why = require("migrun.runner").ask(run, { name = "restore over the target",
      items = { "Restore " .. opts.action .. " over " .. where .. "? Objects in the dump are dropped and " ..
                "recreated; rows written since the dump are lost." } })
    if not yes then errors.raise("declined", why) end
  end
  local info = backup.restore(opts.action, { into = opts.into, target = conninfo, clean = opts.clean })
  io.stdout:write(string.format("restored %s into %s in %.1fs\n", opts.action,
                                opts.into or "the target", info.seconds or 0))
  return 0
end

local function show_report(opts, ctx)
  local id
  if opts.action then
    id = math.tointeger(tonumber(opts.action))
    if not id then usage("migrun report [RUN_ID] [--json]: RUN_ID is a number, got " .. opts.action) end
  end
  local db = connect(opts, ctx)
  local report = require "migrun.report"
  local doc = report.data(db, id)
  if not doc then
    errors.raise("usage", id and ("no run " .. id .. " in the ledger") or "no runs in the ledger")
  end
  if opts.report then
    report.write(doc, opts.report)
  else
    io.stdout:write(opts.json and report.json(doc) or report.markdown(doc))
  end
  return 0
end

local function show_status(opts, ctx)
  local name
  if opts.file then
    local pb = load_playbook(opts, ctx, false)
    name = pb and pb.name
  end
  local db = connect(opts, ctx)
  io.stdout:write(require("migrun.plan").status(db, name))
  return 0
end

local function run_code(opts, ctx)
  local env = { arg = { [0] = "-e", table.unpack(opts.args) } }
  local chunk, err = load(opts.e, "=(command line)", "t", env)
  if not chunk then errors.raise("usage", err) end
  return run_chunk(chunk, opts, ctx, env)
end

local function run_repl(opts, ctx)
  if opts.file then
    usage("migrun repl takes no file", "load a playbook inside it: pb = load \"" .. opts.file .. "\"")
  end
  local db = connect(opts, ctx)
  return require("migrun.repl").run({ db = db, conninfo = ctx.conninfo, ctx = ctx,
                                      verbose = opts.verbose, no_color = opts.no_color })
end

local function run_tests(opts)
  _G.arg = { [0] = "migrun test", table.unpack(opts.args) }
  require("busted.runner")({ standalone = false })
  return 0
end

local function run_sandbox(opts)
  local sandbox = require "migrun.sandbox"
  if not opts.env_file then usage("migrun sandbox " .. tostring(opts.action) .. " needs --env-file FILE") end
  if opts.action == "start" then
    local sb = sandbox.start()
    sandbox.write_env(sb, opts.env_file)
    sb:detach()                                      -- outlive this process
    io.stdout:write("sandbox ready: ", sb:conninfo(), "\n")
    return 0
  elseif opts.action == "stop" then
    if not sandbox.stop_env(opts.env_file) then
      io.stderr:write("migrun: no sandbox described by ", opts.env_file, "\n")
    end
    return 0
  end
  usage("migrun sandbox start|stop --env-file FILE")
end

local function dispatch(opts, ctx)
  if opts.help then
    io.stdout:write(HELP)
    return 0
  end
  if opts.version then
    io.stdout:write("migrun ", require("migrun").VERSION, " (", _VERSION, ")\n")
    return 0
  end
  if opts.verb == "test" then return run_tests(opts) end
  if opts.verb == "sandbox" then return run_sandbox(opts) end
  if opts.verb == "plan" then return plan_playbook(opts, ctx) end
  if opts.verb == "check" then return check_playbook(opts, ctx) end
  if opts.verb == "status" then return show_status(opts, ctx) end
  if opts.verb == "report" then return show_report(opts, ctx) end
  if opts.verb == "rollback" then return run_rollback(opts, ctx) end
  if opts.verb == "rehearse" then return run_rehearsal(opts, ctx) end
  if opts.verb == "new" then
    if not opts.action then usage("migrun new NAME") end
    for _, f in ipairs(require("migrun.scaffold").new(opts.action)) do io.stdout:write("created ", f, "\n") end
    io.stdout:write("try it: migrun --sandbox --load ", opts.action, "/before.sql ", opts.action,
                    "/playbook.lua --yes\n")
    return 0
  end
  if opts.verb == "backup" then return take_backup(opts, ctx) end
  if opts.verb == "restore" then return run_restore(opts, ctx) end
  if opts.verb == "repl" then return run_repl(opts, ctx) end
  if opts.e then return run_code(opts, ctx) end
  if opts.file then return run_playbook(opts, ctx) end
  usage("nothing to run", "migrun SCRIPT.lua, migrun -e CODE, or migrun --help")
end

local function report(e, verbose, tb)
  local msg = errors.is(e) and tostring(e) or tostring(e)
  io.stderr:write("migrun: ", msg, "\n")
  if verbose and tb then io.stderr:write(tb, "\n") end
end

--- cli.main(argv) -> exit code
function M.main(argv)
  local ctx = {}
  local opts
  local tb
  local ok, res = xpcall(function()
    opts = M.parse(argv)
    return dispatch(opts, ctx)
  end, function(e)
    tb = debug.traceback("", 2)
    return e
  end)
  if ctx.db then ctx.db:close() end
  if ctx.sandbox then ctx.sandbox:stop() end
  if ok then return res end
  report(res, opts and opts.verbose, tb)
  return errors.exit_code(res)
end

return M
