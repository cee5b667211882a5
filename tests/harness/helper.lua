--- helper: what the specs share. The harness's PostgreSQL comes from the env file that
-- `migrun sandbox start --env-file F` wrote (ctest's pg_up fixture); each spec file gets
-- its own fresh database so specs never see each other's tables.
local db = require "migrun.db"
local proc = require "migrun.proc"
local sandbox = require "migrun.sandbox"

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

--- H.tmpdir() -> a new private temp dir (removed by H.rmtree)
function H.tmpdir()
  return assert(require("migrun.core.sys").mkdtemp("/tmp/migrun-spec-"))
end

H.rmtree = sandbox.rmtree

--- H.write(path, text)
function H.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- H.read(path) -> text
function H.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

return H
