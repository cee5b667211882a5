--- helper: what the specs share. The harness's PostgreSQL comes from the env file that
-- `migrun sandbox start --env-file F` wrote (ctest's pg_up fixture); each spec file gets
-- its own fresh database so specs never see each other's tables.
local db = require "migrun.db"
local proc = require "migrun.proc"
local sandbox = require "migrun.sandbox"
local clock = require "migrun.clock"

local H = {}

H.bin = os.getenv("MIGRUN_BIN") or "build/bin/migrun"
H.source = os.getenv("MIGRUN_SOURCE_DIR") or "."

local pgenv
--- H.pgenv() -> {PGHOST, PGPORT, PGUSER, PGDATABASE} of the harness cluster
function H.pgenv()
  if not pgenv then
    local path = os.getenv("MIGRUN_TEST_PGENV")
    pgenv = path and sandbox.read_env(path)
    assert(pgenv, "no test cluster: run the pg suites through ctest (pg_up fixture), " ..
                  "or set MIGRUN_TEST_PGENV")
  end
  return pgenv
end

--- H.conninfo([dbname]) -> conninfo for the harness cluster
function H.conninfo(dbname)
  local e = H.pgenv()
  return string.format("host=%s port=%s user=%s dbname=%s", e.PGHOST, e.PGPORT, e.PGUSER,
                       dbname or e.PGDATABASE)
end

--- H.connect([dbname]) -> a migrun.db connection
function H.connect(dbname)
  return db.connect(H.conninfo(dbname))
end

local counter = 0
--- H.fresh_db([prefix]) -> name of a new empty database (dropped first if it exists)
function H.fresh_db(prefix)
  counter = counter + 1
  local name = string.format("%s_%d_%d", prefix or "t", require("migrun.core.sys").getpid(),
                             counter)
  local admin <close> = H.connect()
  admin:exec("DROP DATABASE IF EXISTS " .. admin:quote_ident(name) .. " WITH (FORCE)")
  admin:exec("CREATE DATABASE " .. admin:quote_ident(name))
  return name
end

--- H.drop_db(name)
function H.drop_db(name)
  local admin <close> = H.connect()
  admin:exec("DROP DATABASE IF EXISTS " .. admin:quote_ident(name) .. " WITH (FORCE)")
end

--- H.migrun(args [, opts]) -> {status, stdout, stderr, ...}: run the binary, PG* set to the
-- harness cluster (opts.env adds or removes variables, opts.stdin feeds data)
function H.migrun(args, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(H.pgenv()) do env[k] = v end
  env.NO_COLOR = "1"
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local argv = { H.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.run(argv, { env = env, cwd = opts.cwd, timeout = opts.timeout or "120s",
                          stdin = opts.stdin and { data = opts.stdin } or "null" })
end

--- H.spawn_migrun(args [, opts]) -> a migrun.proc handle of the binary, PG* set to the harness
-- cluster; stdout and stderr go to opts.stdout / opts.stderr files (default: /dev/null)
function H.spawn_migrun(args, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(H.pgenv()) do env[k] = v end
  env.NO_COLOR = "1"
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local argv = { H.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.spawn(argv, { env = env, stdin = "null",
    stdout = opts.stdout and { file = opts.stdout } or "null",
    stderr = opts.stderr and { file = opts.stderr } or "null" })
end

--- H.eventually(fn [, timeout_ms]) -> fn's first true result; polls fn until it returns a
-- true value, or fails the spec after timeout_ms (default 10 s). Specs never sleep: they wait
-- for what they expect (the server's view of a backend, a process's exit) through this.
function H.eventually(fn, timeout_ms)
  local deadline = clock.now() + (timeout_ms or 10000) * 1000000
  while true do
    local v = fn()
    if v then return v end
    if clock.now() > deadline then
      error(string.format("condition not met within %d ms", timeout_ms or 10000), 2)
    end
    clock.sleep(10)
  end
end

--- H.elapsed(fn) -> seconds fn took, then fn's results
function H.elapsed(fn)
  local t = clock.now()
  local res = table.pack(fn())
  return clock.since(t) / 1e9, table.unpack(res, 1, res.n)
end

--- H.backend_alive(admin, pid) -> true while pg_stat_activity lists backend pid
function H.backend_alive(admin, pid)
  return admin:query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid).n > 0
end

--- H.tmpdir() -> a new private temp dir (removed by H.rmtree)
-- every temp dir a spec makes is removed when the VM closes (busted exits through
-- os.exit(code, true), which runs __gc), whether the spec removed it or not
local made = setmetatable({}, { __gc = function(dirs)
  for _, d in ipairs(dirs) do pcall(sandbox.rmtree, d) end
end })

function H.tmpdir()
  local d = assert(require("migrun.core.sys").mkdtemp("/tmp/migrun-spec-"))
  made[#made + 1] = d
  return d
end

H.rmtree = sandbox.rmtree

--- H.write(path, text) -> path
function H.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

--- H.read(path) -> text
function H.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- H.state(dbname) -> {schema = normalised pg_dump --schema-only (migrun's schema left out),
-- tables = {name = {count, fingerprint}}}: what "the database is exactly as before" compares
function H.state(dbname)
  local env = {}
  for k, v in pairs(H.pgenv()) do env[k] = v end
  env.PGDATABASE = dbname
  local r = proc.run({ "pg_dump", "--schema-only", "--no-owner", "-N", "migrun" }, { env = env })
  assert(r.ok, r.stderr)
  local lines = {}
  for line in r.stdout:gmatch("[^\n]+") do
    -- pg_dump >= 15.14 writes a random \restrict key: not part of the schema
    if not line:find("^\\restrict") and not line:find("^\\unrestrict") and not line:find("^%-%-") then
      lines[#lines + 1] = line
    end
  end
  local c <close> = H.connect(dbname)
  local tables = {}
  for _, t in ipairs(c:query([[SELECT format('%I.%I', schemaname, tablename) AS q, tablename AS name
                               FROM pg_tables WHERE schemaname = 'public' ORDER BY 1]])) do
    local row = c:query(string.format([[SELECT count(*) AS n,
        coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS fp
        FROM (SELECT md5(t::text) AS h FROM %s t) s]], t.q))[1]
    tables[t.name] = { count = row.n, fingerprint = row.fp }
  end
  return { schema = table.concat(lines, "\n"), tables = tables }
end

--- H.load(dbname, file): run an SQL file into a database through migrun's own script()
function H.load(dbname, file)
  local c <close> = H.connect(dbname)
  c:script(H.read(file), { name = file })
end

--- H.copy_tree(src, dst): copy a fixture directory (files only, one level of subdirs)
function H.copy_tree(src, dst)
  local lfs = require "lfs"
  lfs.mkdir(dst)
  for entry in lfs.dir(src) do
    if entry ~= "." and entry ~= ".." then
      local s, d = src .. "/" .. entry, dst .. "/" .. entry
      if lfs.attributes(s, "mode") == "directory" then
        H.copy_tree(s, d)
      else
        H.write(d, H.read(s))
      end
    end
  end
end

--- H.timed(label, fn) -> fn(); prints "[timing] label: 1.23s" to stderr (for closing notes)
function H.timed(label, fn)
  local t = clock.now()
  local r = fn()
  io.stderr:write(string.format("[timing] %s: %s\n", label, clock.format(clock.since(t))))
  return r
end

--- H.run_db(dbname, args) -> result of `migrun --db <harness dbname> args...` run from the repo
function H.run_db(name, args)
  local argv = { "--db", H.conninfo(name) }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return H.migrun(argv, { cwd = H.source })
end

--- H.one(dbname, sql) -> the first column of the first row
function H.one(name, sql)
  local c <close> = H.connect(name)
  local res = c:query(sql)
  return res[1][res.columns[1]]
end

--- H.expectation(doc, phase, description) -> that expectation of a JSON report, or raise
function H.expectation(doc, phase, description)
  for _, e in ipairs(doc.expectations) do
    if e.phase == phase and e.description == description then return e end
  end
  error("no expectation " .. phase .. " / " .. description)
end

--- H.seed_db(prefix, fixture [, extra_sql]) -> a fresh database loaded with a fixture (a path
-- from the repository root), then extra_sql (a deliberate defect) if given
function H.seed_db(prefix, fixture, extra_sql)
  local name = H.fresh_db(prefix)
  H.load(name, H.source .. "/" .. fixture)
  if extra_sql then
    local c <close> = H.connect(name)
    c:script(extra_sql, { name = "defect" })
  end
  return name
end

--- H.seed_copy(playbook, seed, file, edit) -> a temp dir laid out like the repository (the
-- playbook and sql/<seed>/), with edit(text) -> text [, n] applied to `file` (n = 0 fails)
function H.seed_copy(playbook, seed, file, edit)
  local lfs = require "lfs"
  local dir = H.tmpdir()
  lfs.mkdir(dir .. "/playbooks")
  lfs.mkdir(dir .. "/sql")
  H.write(dir .. "/" .. playbook, H.read(H.source .. "/" .. playbook))
  H.copy_tree(H.source .. "/sql/" .. seed, dir .. "/sql/" .. seed)
  local path = dir .. "/" .. file
  local text, n = edit(H.read(path))
  assert(n == nil or n > 0, "the edit changed nothing in " .. file)
  H.write(path, text)
  return dir
end

--- H.seed_green(fixture, playbook, dir) -> result of the runbook's green run as the issue
-- states it: `migrun --sandbox --load FIXTURE PLAYBOOK --yes`, reporting into dir/r.md and
-- backing up into dir/backups (paths from the repository root)
function H.seed_green(fixture, playbook, dir)
  return H.migrun({ "--sandbox", "--load", fixture, playbook, "--yes", "--report", dir .. "/r.md",
                    "--set", "backup_dir=" .. dir .. "/backups" }, { cwd = H.source, timeout = "300s" })
end

--- H.pty(argv, steps [, {env, cwd, wait}]) -> the pty driver's result (ok, error, status,
-- output, marks): argv run in a pseudo-terminal, PG* set to the harness cluster, driven by
-- steps (see tests/harness/pty_driver.py); pending when python3 is missing
function H.pty(argv, steps, opts)
  opts = opts or {}
  local python = proc.which("python3")
  if not python then pending("python3 is needed to drive a terminal") return nil end
  local home = H.tmpdir()
  local env = { TERM = "dumb", INPUTRC = "/dev/null", HOME = home, NO_COLOR = "1" }
  for k, v in pairs(H.pgenv()) do env[k] = v end
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local path = home .. "/scenario.json"
  H.write(path, require("cjson").encode({ argv = argv, env = env, cwd = opts.cwd or H.source, steps = steps,
                                          wait = opts.wait or 30, cols = 120 }))
  local r = proc.run({ python, H.source .. "/tests/harness/pty_driver.py", path }, { timeout = "180s" })
  local ok, res = pcall(require("cjson").decode, r.stdout)
  assert(ok, "the pty driver printed no result: " .. tostring(r.stdout) .. tostring(r.stderr))
  return res
end

--- H.line_of(text, needle) -> the number of the first line holding needle, or nil
function H.line_of(text, needle)
  local n = 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(needle, 1, true) then return n end
  end
  return nil
end

return H
