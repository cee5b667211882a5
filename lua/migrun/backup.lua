--- migrun.backup: verified backups (policy layer over migrun.core.backup: engine/l_backup.c and
-- engine/backup.c). This file decides which programs run, how files are named, what a failure
-- means and what is pruned; the bytes stream in C and never pass through Lua.
--
-- Whole-database dumps, pg_dump's custom format:
--   backup.dump(target, opts) -> info        take one now
--   backup.dump(opts) -> spec                the declarative form (playbook DSL):
--     spec:take(target [, opts]) -> info, spec:describe() -> text
--   target: a URL or conninfo string (its password reaches pg_dump as PGPASSWORD, never in
--     argv), a migrun.db connection (then pg_dump authenticates through PGPASSWORD or pgpass),
--     nil (libpq's PG* defaults), or the runner's context {conninfo =, db =, dir =, env =}
--   opts: dir = "." (or file = PATH), keep = N (prune older dumps of this database in dir),
--     compress = 0..9, counts = "exact" | "estimate" | false (row counts in the manifest),
--     progress = true | false (default: stderr is a terminal), pg_dump = PATH,
--     pg_restore = PATH, pg_dump_args = {...}, jobs = 1
--   info: {file, size, sha256, seconds, verified = true, database, server_version, tables,
--     checksum_file, manifest, snapshot_consistent, pruned = {file...}}
--   One pass: pg_dump writes into a pipe; C writes the bytes to a hidden temp file, hashes them
--   and feeds them to a concurrent `pg_restore -f /dev/null`, which reads every byte back
--   (--list alone accepts truncated and bit-flipped dumps). Only when both succeeded does the
--   file get its name, beside FILE.sha256 (sha256sum format) and FILE.json (the manifest), so
--   a failure or a full disk leaves nothing that looks like a backup.
--   jobs > 1 is refused: pg_dump runs in parallel only into directory format, many files that
--   could not be hashed and read back while they stream, so it would cost a second pass.
--   Restore is parallel all the same: backup.restore(file, {jobs = N}).
--   Row counts are taken in the snapshot pg_dump used (an exported snapshot), so they describe
--   exactly the rows in the dump (counts = "estimate" spares a huge database a second scan).
--   Like `pg_dump -Fc > file`, a streamed archive has no data offsets in its TOC: pg_restore
--   reads it sequentially, and still restores it with --jobs.
-- backup.verify(file) -> true, {file, size, sha256} | false, err   the checksum in FILE.sha256,
--   then a full read by pg_restore (in the same pass; a checksum mismatch is the error reported)
-- backup.restore(file, {into = NEWDB [, target = server]}) -> info: CREATE DATABASE, restore
-- backup.restore(file, {target = T, clean = true}) -> info: restore over T (--clean --if-exists;
--   no target: libpq's default database)
--   more opts: jobs = N, no_owner = true, no_privileges = true, progress, pg_restore = PATH,
--   checked = SHA256 (the caller has just checked the checksum: not read a second time).
--   jobs defaults to the machine's processors when restoring into a new database (a failure
--   drops it, so nothing half-restored is left), and to 1 over an existing one with clean =
--   true (one transaction: all or nothing).
--   The checksum is checked first: nothing is touched for a corrupt or truncated file.
-- backup.checksum(file) -> sha256, manifest: the checksum alone (raises kind="environment"
--   when it does not match); a dump migrun took was read back in full when it was written
-- backup.list(dir [, dbname]) -> {info...} newest first
--
-- Table snapshots, COPY in binary format (fast partial rollback):
--   backup.tables(conn, names [, opts]) -> snapshot     names as migrun.ident reads them:
--     "t", "schema.t", '"My.Schema"."T"' (taken literally: "Orders" is not orders)
--   backup.tables {names..., dir = ...} -> spec; spec:take(conn_or_ctx) -> snapshot
--   opts: dir (the snapshot is a new directory in it; default $TMPDIR), fsync, progress
--   snapshot: {dir, database, taken_at, tables = {{schema, name, file, rows, bytes, sha256,
--     columns}}}; the directory holds snapshot.json and SHA256SUMS
--   backup.restore_tables(conn, snapshot | dir) -> {tables, rows, seconds}: checksums first,
--     then TRUNCATE and COPY FROM in one transaction (parents before children). A table that
--     another table references must be in the same snapshot (else TRUNCATE fails, 0A000);
--     user triggers fire; generated columns are recomputed. Snapshot files are fsync'd only
--     with fsync = true: they serve this run's rollback, the dump is the durable backup.
--   backup.load_snapshot(dir) -> snapshot; backup.remove_snapshot(snapshot)
--
-- Errors are migrun.errors. A backup that can't be trusted, or a dump that failed, is
-- kind="environment" (nothing was touched; exit 3) with reason = "missing" | "no_checksum" |
-- "corrupt" | "truncated" | "unreadable" | "pg_dump_failed" | "verify_failed" | "io" |
-- "missing_tool" | "restore_failed"; misuse is kind="usage"; Ctrl-C is kind="interrupted".
local core = require "migrun.core.backup"
local term = require "migrun.core.term"
local sys = require "migrun.core.sys"
local cjson = require "cjson"
local json = require "migrun.json"
local lfs = require "lfs"
local clock = require "migrun.clock"
local db = require "migrun.db"
local errors = require "migrun.errors"
local hash = require "migrun.hash"
local ident = require "migrun.ident"
local pg = require "migrun.pg"
local proc = require "migrun.proc"

local M = {}

local DB_MT = "migrun.db"

-- ---------------------------------------------------------------------------------------
-- small helpers

local function is_conn(x)
  local mt = getmetatable(x)
  return type(x) == "userdata" and type(mt) == "table" and mt.__name == DB_MT
end

local function usage(msg, level)
  errors.raise("usage", msg, nil, (level or 1) + 1)
end

local function env_error(reason, msg, fields)
  fields = fields or {}
  fields.reason = reason
  errors.raise("environment", msg, fields, 2)
end

local function basename(path)
  return path:match("([^/]+)$") or path
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function join(dir, name)
  if dir == "" or dir == "." then return name end
  return (dir:gsub("/$", "")) .. "/" .. name
end

local function exists(path)
  return lfs.symlinkattributes(path, "mode") ~= nil
end

local function mkdir_p(dir)
  if lfs.attributes(dir, "mode") == "directory" then return end
  local parent = dirname(dir)
  if parent ~= dir and parent ~= "" and parent ~= "." and parent ~= "/" then mkdir_p(parent) end
  local ok, err = lfs.mkdir(dir)
  if not ok and lfs.attributes(dir, "mode") ~= "directory" then
    env_error("io", string.format("cannot create the backup directory %s: %s", dir, err))
  end
end

local readfile = require("migrun.text").readfile

local rmtree = require("migrun.sandbox").rmtree

-- a to-be-closed value that removes paths unless disarmed (g.keep = true)
local function remover(paths)
  return setmetatable({ paths = paths or {} }, { __close = function(g)
    if g.keep then return end
    for _, p in ipairs(g.paths) do rmtree(p) end
  end })
end

local function round(x, digits)
  local m = 10 ^ (digits or 3)
  return math.floor(x * m + 0.5) / m
end

local function utc_stamp(t)
  return os.date("!%Y%m%dT%H%M%SZ", t)
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

local list, encode = json.array, json.encode

-- the first lines of a program's stderr, for a message (secrets masked)
local function first_lines(s, secret, max)
  s = (s or ""):gsub("%s+$", "")
  if secret and secret ~= "" then s = s:gsub(secret:gsub("%p", "%%%0"), "***") end
  local lines = {}
  for line in s:gmatch("[^\n]+") do
    lines[#lines + 1] = line
    if #lines >= (max or 6) then break end
  end
  return table.concat(lines, "\n")
end

local function want_progress(opts)
  if opts.progress ~= nil then return opts.progress and true or false end
  return term.isatty(2) and not opts.quiet
end

-- ---------------------------------------------------------------------------------------
-- targets: conninfo strings without the password, the password in the environment

-- {conninfo, env, map, secret} for the programs, from what the caller gave
local function program_target(target, conn)
  if type(target) == "string" then
    local conninfo, env, map = pg.split_password(target)
    return { conninfo = conninfo, env = env, map = map, secret = env.PGPASSWORD }
  end
  if conn then
    -- a connection tells us where, not its password: pg_dump finds it in PGPASSWORD or pgpass
    local conninfo = pg.conninfo_of(conn)
    return { conninfo = conninfo, env = {}, map = pg.parse(conninfo) }
  end
  return { conninfo = "", env = {}, map = {} }
end

--- backup.dump_argv(conninfo, opts) -> argv of pg_dump (pure). The conninfo must hold no
-- password (see split_target); opts: pg_dump, snapshot, compress, args.
function M.dump_argv(conninfo, o)
  o = o or {}
  local argv = { o.pg_dump or "pg_dump", "--format=custom", "--no-password" }
  if conninfo and conninfo ~= "" then argv[#argv + 1] = "--dbname=" .. conninfo end
  if o.snapshot then argv[#argv + 1] = "--snapshot=" .. o.snapshot end
  if o.compress then argv[#argv + 1] = "--compress=" .. math.tointeger(o.compress) end
  for _, a in ipairs(o.args or {}) do argv[#argv + 1] = a end
  return argv
end

--- backup.dump_command(target, opts) -> argv, env: what backup.dump would run for a target
-- string (no connection made; for tests and `migrun plan`)
function M.dump_command(target, o)
  local conninfo, env = pg.split_password(target)
  return M.dump_argv(conninfo, o), env
end

--- backup.restore_argv(conninfo, opts) -> argv of pg_restore into a database (pure)
function M.restore_argv(conninfo, o)
  o = o or {}
  local argv = { o.pg_restore or "pg_restore", "--no-password", "--exit-on-error" }
  if conninfo and conninfo ~= "" then argv[#argv + 1] = "--dbname=" .. conninfo end
  if o.clean then
    argv[#argv + 1] = "--clean"
    argv[#argv + 1] = "--if-exists"
  end
  if o.no_owner then argv[#argv + 1] = "--no-owner" end
  if o.no_privileges then argv[#argv + 1] = "--no-privileges" end
  if o.jobs and o.jobs > 1 then
    argv[#argv + 1] = "--jobs=" .. math.tointeger(o.jobs)
  else
    argv[#argv + 1] = "--single-transaction"
  end
  if o.file then argv[#argv + 1] = o.file end
  return argv
end

-- ---------------------------------------------------------------------------------------
-- connections

-- conn, owned, ctx from a target: a connection, a string, nil, or the runner's context table
local function open_target(target)
  local ctx = {}
  if type(target) == "table" and not is_conn(target) then
    ctx = target
    if ctx.db then return ctx.db, false, ctx, ctx.conninfo end
    target = ctx.conninfo
  end
  if is_conn(target) then return target, false, ctx, nil end
  if target ~= nil and type(target) ~= "string" then
    usage("backup: the target must be a URL or conninfo string, a migrun.db connection or nil", 3)
  end
  return db.connect(target), true, ctx, target
end

local function with_ctx_env(env, ctx)
  for k, v in pairs(ctx.env or {}) do
    if env[k] == nil then env[k] = v end
  end
  return env
end

-- ---------------------------------------------------------------------------------------
-- dumps

local DUMP_PATTERN = "^migrun%-(.+)%-(%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ)(%-?%d*)%.dump$"

local function safe_name(s)
  s = s:gsub("[^%w_.%-]", "_")
  if s:sub(1, 1) == "." then s = "_" .. s:sub(2) end
  return s
end

--- backup.parse_name(basename) -> {db, stamp, seq} for a file migrun named, else nil
function M.parse_name(name)
  local dbname, stamp, seq = name:match(DUMP_PATTERN)
  if not dbname then return nil end
  return { db = dbname, stamp = stamp, seq = tonumber(seq:sub(2)) or 1 }
end

local function check_dump_opts(opts, level)
  level = (level or 1) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then usage("backup.dump: options must be a table", level) end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local known = { dir = "string", file = "string", keep = "number", jobs = "number",
                  compress = "number", counts = "any", progress = "boolean", quiet = "boolean",
                  pg_dump = "string", pg_restore = "string", pg_dump_args = "table", prove = "boolean" }
  for k, v in pairs(o) do
    local want = known[k]
    if not want then
      usage(string.format("backup.dump: unknown option %q", tostring(k)), level)
    elseif want ~= "any" and type(v) ~= want then
      usage(string.format("backup.dump: %s must be a %s, not a %s", k, want, type(v)), level)
    end
  end
  if o.jobs and o.jobs ~= 1 then
    usage("backup.dump: jobs must be 1: a parallel pg_dump writes directory format, which " ..
          "can't be hashed and read back while it streams (restore may use jobs)", level)
  end
  if o.keep and (math.type(o.keep) ~= "integer" or o.keep < 1) then
    usage("backup.dump: keep must be an integer >= 1", level)
  end
  if o.compress and (math.type(o.compress) ~= "integer" or o.compress < 0 or o.compress > 9) then
    usage("backup.dump: compress must be an integer from 0 to 9", level)
  end
  if o.counts == nil or o.prove then o.counts = "exact" end   -- a proof compares exact counts
  if o.counts ~= "exact" and o.counts ~= "estimate" and o.counts ~= false then
    usage('backup.dump: counts must be "exact", "estimate" or false', level)
  end
  if o.file and o.dir then usage("backup.dump: give dir or file, not both", level) end
  return o
end

-- pick the final name: dir/migrun-DB-STAMP[-N].dump, never one that exists (with sidecars)
local function dump_name(dir, dbname)
  local base = "migrun-" .. safe_name(dbname) .. "-" .. utc_stamp()
  for n = 1, 1000 do
    local file = join(dir, base .. (n > 1 and "-" .. n or "") .. ".dump")
    if not exists(file) and not exists(file .. ".sha256") and not exists(file .. ".json") then
      return file
    end
  end
  env_error("io", "no free backup file name in " .. dir)
end

local function table_counts(conn, how)
  if not how then return list() end
  local rows = conn:query([[
    SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint AS estimate
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\_%'
    ORDER BY 1, 2]])
  local out = list()
  for i = 1, rows.n do
    local r = rows[i]
    local n = r.estimate
    if how == "exact" then
      n = conn:query("SELECT count(*) AS n FROM " .. conn:quote_ident(r.schema) .. "." ..
                     conn:quote_ident(r.name))[1].n
    elseif n < 0 then
      n = nil                                        -- never analyzed
    end
    out[#out + 1] = { schema = r.schema, name = r.name, rows = n }
  end
  return out
end

local function tool_version(path)
  local r = proc.run({ path, "--version" }, { timeout = "10s" })
  return r.ok and (r.stdout or ""):gsub("%s+$", "") or nil
end

-- raise the right error for a failed tee of pg_dump
local function dump_failed(r, t)
  if r.interrupted then errors.raise("interrupted", "backup interrupted: nothing was kept", nil, 3) end
  if r.error then
    env_error("io", "backup failed: " .. r.error .. " (nothing was kept)", { errno = r.errno })
  end
  if not r.src.ok then
    env_error("pg_dump_failed", string.format("pg_dump failed (exit %s): %s", tostring(r.src.status),
      first_lines(r.src.stderr, t.secret)), { stderr = first_lines(r.src.stderr, t.secret, 50) })
  end
  env_error("verify_failed", string.format("the dump did not read back (pg_restore exit %s): %s",
    tostring(r.sink.status), first_lines(r.sink.stderr, t.secret)),
    { stderr = first_lines(r.sink.stderr, t.secret, 50) })
end

-- temp files of a migrun that was killed (SIGKILL, OOM, power): hidden, named after our
-- pattern, their process gone; they would only eat the disk the next backup needs
local function remove_stale(dir)
  for e in lfs.dir(dir) do
    local name, pid = e:match("^%.(migrun%-.+%.dump[%.%w]*)%.partial%-(%d+)$")
    if name and M.parse_name((name:gsub("%.sha256$", ""):gsub("%.json$", "")))
       and not lfs.attributes("/proc/" .. pid) then
      os.remove(join(dir, e))
    end
  end
end

local function prune(dir, dbname, keep, except)
  remove_stale(dir)
  if not keep then return list() end
  local mine = {}
  for e in lfs.dir(dir) do
    local p = M.parse_name(e)
    if p and p.db == safe_name(dbname) and lfs.symlinkattributes(join(dir, e), "mode") == "file" then
      p.file = join(dir, e)
      mine[#mine + 1] = p
    end
  end
  table.sort(mine, function(a, b)
    if a.stamp ~= b.stamp then return a.stamp > b.stamp end
    return a.seq > b.seq
  end)
  local removed = list()
  local kept = 0
  for _, p in ipairs(mine) do
    if p.file == except or kept < keep then
      kept = kept + 1
    else
      os.remove(p.file .. ".json")
      os.remove(p.file .. ".sha256")
      os.remove(p.file)
      removed[#removed + 1] = p.file
    end
  end
  return removed
end

local function do_dump(conn, t, opts, ctx, t0)
  local facts = conn:query([[SELECT current_database() AS db,
                                    current_setting('server_version') AS version,
                                    current_setting('server_version_num')::int AS num]])[1]
  local major = pg.major(facts.num)
  local pg_dump = pg.tool("pg_dump", { major = major, override = opts.pg_dump })
  local pg_restore = pg.tool("pg_restore", { major = major, override = opts.pg_restore })

  local final
  if opts.file then
    final = opts.file
    mkdir_p(dirname(final))
    if exists(final) then usage("backup.dump: " .. final .. " already exists", 4) end
  else
    local dir = opts.dir or "."
    if ctx.dir and dir:sub(1, 1) ~= "/" then dir = join(ctx.dir, dir) end
    mkdir_p(dir)
    final = dump_name(dir, facts.db)
  end
  local dir, base = dirname(final), basename(final)
  local suffix = ".partial-" .. sys.getpid()
  local tmp = join(dir, "." .. base .. suffix)
  local tmp_sha, tmp_json = join(dir, "." .. base .. ".sha256" .. suffix),
                            join(dir, "." .. base .. ".json" .. suffix)
  local cleanup <close> = remover({ tmp, tmp_sha, tmp_json })

  -- one snapshot for pg_dump and the row counts, when the connection is ours to use
  local tx <close> = conn:status() == "idle" and conn:begin() or nil
  local snapshot
  if tx then
    conn:exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    local ok, s = pcall(conn.query, conn, "SELECT pg_export_snapshot() AS s")
    if ok then snapshot = s[1].s else tx:rollback() end   -- e.g. an old standby: no snapshot
  end

  local env = with_ctx_env(t.env, ctx)
  local argv = M.dump_argv(t.conninfo, { pg_dump = pg_dump, snapshot = snapshot,
                                         compress = opts.compress, args = opts.pg_dump_args })
  local td = clock.now()
  local r = core.tee {
    src = argv, sink = { pg_restore, "--file=/dev/null" }, env = env, out = tmp, fsync = true,
    progress = want_progress(opts) and { label = "pg_dump " .. facts.db } or nil,
  }
  local dump_seconds = clock.since(td) / 1e9
  if not r.ok then dump_failed(r, t) end

  local tables = table_counts(conn, opts.counts)
  if tx then tx:rollback() end                      -- read only: nothing to keep

  local seconds = clock.since(t0) / 1e9
  local manifest = {
    format = "migrun.backup/1", file = base, database = facts.db,
    server_version = facts.version, server_version_num = facts.num,
    pg_dump = pg_dump, pg_dump_version = tool_version(pg_dump),
    size = r.bytes, sha256 = r.sha256, created_at = iso(), seconds = round(seconds),
    dump_seconds = round(dump_seconds), verified = true, snapshot_consistent = snapshot ~= nil,
    counts = opts.counts or false, tables = tables, compress = opts.compress,
    target = t.conninfo ~= "" and db.redact(t.conninfo) or nil,
  }
  local ok, err = core.write_new(tmp_sha, r.sha256 .. "  " .. base .. "\n")
  if ok then ok, err = core.write_new(tmp_json, encode(manifest) .. "\n") end
  if not ok then env_error("io", "backup failed: " .. err .. " (nothing was kept)") end
  -- sidecars first, the dump last: once FILE exists, its checksum and manifest do too
  local published = {}
  for _, pair in ipairs({ { tmp_sha, final .. ".sha256" }, { tmp_json, final .. ".json" },
                          { tmp, final } }) do
    ok, err = core.publish(pair[1], pair[2])
    if not ok then
      for _, p in ipairs(published) do os.remove(p) end
      env_error("io", "backup failed: " .. err .. " (nothing was kept)")
    end
    published[#published + 1] = pair[2]
  end
  cleanup.keep = true

  local info = {}
  for k, v in pairs(manifest) do info[k] = v end
  info.file, info.checksum_file, info.manifest = final, final .. ".sha256", final .. ".json"
  info.seconds = round(clock.since(t0) / 1e9)
  info.pruned = prune(dir, facts.db, opts.keep, final)
  if opts.prove then info.proven = M.prove(info, conn, ctx) end
  return info
end

--- backup.prove(info, conn [, ctx]) -> {database, tables, rows, seconds}: a full read proves
-- the file is whole; only a restore proves it restores. Restores the dump into a scratch
-- database, compares the row count of every table with the source's at the dump's snapshot
-- (the manifest's exact counts), then drops it. Raises kind="environment",
-- reason="prove_failed" naming the tables that differ.
function M.prove(info, conn, ctx)
  local t0 = clock.now()
  local scratch = string.format("%s_prove_%d", info.database, sys.getpid()):sub(1, 63)
  local admin_conninfo = ctx and ctx.conninfo and pg.with_dbname(ctx.conninfo, "postgres") or nil
  local admin <close> = admin_conninfo and db.connect(admin_conninfo) or nil
  local target = admin or conn
  local _dropper <close> = setmetatable({}, { __close = function()  -- luacheck: ignore 211
    pcall(target.exec, target, "DROP DATABASE IF EXISTS " .. target:quote_ident(scratch) .. " WITH (FORCE)")
  end })
  M.restore(info.file, { into = scratch, target = admin_conninfo or conn, progress = false })
  local map = pg.parse(admin_conninfo or pg.conninfo_of(conn))
  map.dbname = scratch
  local c <close> = db.connect(pg.build(map))
  local rows, bad = 0, {}
  for _, t in ipairs(info.tables or {}) do
    local q = c:quote_ident(t.schema) .. "." .. c:quote_ident(t.name)
    local n = c:query("SELECT count(*) AS n FROM " .. q)[1].n
    rows = rows + n
    if n ~= t.rows then bad[#bad + 1] = string.format("%s.%s: %d rows restored, %s in the source", t.schema,
                                                         t.name, n, tostring(t.rows)) end
  end
  c:close()
  if #bad > 0 then
    env_error("prove_failed", "the dump did not restore what it holds: " .. table.concat(bad, "; "))
  end
  return { database = scratch, tables = #(info.tables or {}), rows = rows,
           seconds = round(clock.since(t0) / 1e9) }
end

local function take_dump(target, opts, level)
  opts = check_dump_opts(opts, (level or 1) + 1)
  local t0 = clock.now()
  local conn, owned, ctx, target_string = open_target(target)
  local _conn <close> = owned and conn or nil  -- luacheck: ignore 211
  local t = program_target(target_string, conn)
  return do_dump(conn, t, opts, ctx, t0)
end

local DumpSpec = { __name = "migrun.backup.dump" }
DumpSpec.__index = DumpSpec

--- spec:take(target [, opts]) -> info: take the dump this spec describes
function DumpSpec:take(target, more)
  local o = {}
  for k, v in pairs(self.opts) do o[k] = v end
  for k, v in pairs(more or {}) do o[k] = v end
  return take_dump(target, o, 2)
end

--- spec:describe() -> one line for plans and reports
function DumpSpec:describe()
  local o = self.opts
  local where = o.file or ((o.dir or ".") .. "/")
  return string.format("pg_dump -Fc to %s, sha256, read back by pg_restore%s%s", where,
                       o.prove and ", proven by a restore into a scratch database" or "",
                       o.keep and string.format(", keep %d", o.keep) or "")
end

--- backup.swap_restore(file, {conninfo =, release = fn, label = "failed"}) -> {kept, message}:
-- put a database back as a dump has it. pg_restore --clean cannot do that in place (it does
-- not know the objects created since the dump; a new foreign key blocks the drop of the key it
-- references; partitioned tables refuse the drop of inherited constraints), so: restore into
-- a new database, end the target's sessions, then swap names. The database it replaces is
-- kept, renamed <db>_<label>_<stamp>, so nothing is lost. release() lets go of the caller's
-- own connection to the target first.
function M.swap_restore(file, o)
  local target <close> = db.connect(o.conninfo)
  local dbname = target:query("SELECT current_database() AS d")[1].d
  target:close()
  local maintenance = dbname == "postgres" and "template1" or "postgres"
  local admin_conninfo = pg.with_dbname(o.conninfo, maintenance)
  local admin <close> = db.connect(admin_conninfo)
  local stamp = os.date("!%Y%m%d%H%M%S")
  local fresh = (dbname .. "_restored_" .. stamp):sub(1, 63)
  local kept = (dbname .. "_" .. (o.label or "replaced") .. "_" .. stamp):sub(1, 63)
  local info = M.restore(file, { into = fresh, target = admin_conninfo, jobs = o.jobs, checked = o.checked })
  if o.release then o.release() end
  local q = function(n) return admin:quote_ident(n) end
  admin:query([[SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = $1 AND pid <> pg_backend_pid()]], dbname)
  admin:exec(string.format("ALTER DATABASE %s RENAME TO %s", q(dbname), q(kept)))
  admin:exec(string.format("ALTER DATABASE %s RENAME TO %s", q(fresh), q(dbname)))
  return { kept = kept, database = dbname, seconds = info.seconds,
           message = string.format("the %s database is kept as %s (drop it once you are done with it)",
                                   o.label or "replaced", kept) }
end

--- spec:restore(ctx, info) -> {kept, reconnect}: this run's dump put back by swap_restore;
-- the failed database is kept. ctx = {conninfo, db, release = fn() (let go of ctx.db)}.
function DumpSpec.restore(_, ctx, info)
  if not (info and info.file) then usage("backup.dump: restore needs the info of a dump taken", 2) end
  local r = M.swap_restore(info.file, { conninfo = ctx.conninfo, release = ctx.release, label = "failed" })
  r.reconnect = true
  return r
end

--- backup.is_spec(x) -> true | false, what it lacks: a backup spec takes itself (take),
-- describes itself (describe) and, to serve on_failure = "restore", restores itself (restore)
function M.is_spec(x)
  if type(x) ~= "table" then return false, "take, describe or restore (it is a " .. type(x) .. ")" end
  for _, m in ipairs({ "take", "describe" }) do
    if type(x[m]) ~= "function" then return false, m end
  end
  return true
end

--- backup.dump(target, opts) -> info; backup.dump(opts) -> spec (see the file header)
function M.dump(...)
  local n, a, b = select("#", ...), ...
  if n == 1 and type(a) == "table" and not is_conn(a) then
    return setmetatable({ kind = "dump", opts = check_dump_opts(a, 2) }, DumpSpec)
  end
  return take_dump(a, b, 2)
end

-- ---------------------------------------------------------------------------------------
-- verify and restore

local function read_checksum(file)
  local text = readfile(file .. ".sha256")
  if not text then return nil end
  return text:match("^(%x+)%s")
end

local function read_manifest(file)
  local text = readfile(file .. ".json")
  if not text then return nil end
  local ok, m = pcall(cjson.decode, text)
  return ok and type(m) == "table" and m or nil
end

local function mismatch(file, actual_size, manifest)
  local expected = manifest and tonumber(manifest.size)
  if expected and actual_size < expected then
    return "truncated", string.format("%s is truncated: %d bytes of %d; refusing it", file,
                                      actual_size, expected)
  end
  return "corrupt", string.format("%s does not match its checksum (%s.sha256): it is corrupt; " ..
                                  "refusing it", file, file)
end

local function check_present(file)
  if type(file) ~= "string" then usage("backup: the backup file must be a path", 3) end
  local size = lfs.attributes(file, "size")
  if not size or lfs.attributes(file, "mode") ~= "file" then
    env_error("missing", file .. ": no such backup file", { file = file })
  end
  local want = read_checksum(file)
  if not want then
    env_error("no_checksum", string.format("%s has no checksum file (%s.sha256): it can't be " ..
      "verified, so it is refused", file, file), { file = file })
  end
  return size, want, read_manifest(file)
end

local function verify_or_raise(file, opts)
  local size, want, manifest = check_present(file)
  local major = manifest and tonumber(manifest.server_version_num)
  major = major and pg.major(major)
  local pg_restore = pg.tool("pg_restore", { major = major, override = opts.pg_restore })
  local r = core.tee {
    src_file = file, sink = { pg_restore, "--file=/dev/null" },
    progress = want_progress(opts) and { label = "verify " .. basename(file), total = size } or nil,
  }
  if r.interrupted then errors.raise("interrupted", "verification interrupted", nil, 3) end
  if r.error then env_error("io", "cannot read " .. file .. ": " .. r.error, { file = file }) end
  if r.sha256 ~= want then
    local reason, msg = mismatch(file, r.bytes, manifest)
    env_error(reason, msg, { file = file })
  end
  if not r.sink.ok then
    env_error("unreadable", string.format("%s matches its checksum but pg_restore can't read it " ..
      "(exit %s): %s", file, tostring(r.sink.status), first_lines(r.sink.stderr)),
      { file = file })
  end
  return { file = file, size = r.bytes, sha256 = r.sha256 }
end

--- backup.manifest(file) -> the dump's manifest (source database, server, counts), or {}
function M.manifest(file)
  return read_manifest(file) or {}
end

--- backup.verify(file [, opts]) -> true, info | false, err (a migrun.error with reason)
function M.verify(file, opts)
  local ok, res = pcall(verify_or_raise, file, opts or {})
  if ok then return true, res end
  if errors.is(res, "environment") then return false, res end
  error(res, 0)                                      -- misuse and Ctrl-C are not answers
end

local function check_checksum(file)
  local size, want, manifest = check_present(file)
  local got, err = hash.sha256_file(file)
  if not got then env_error("io", "cannot read " .. err, { file = file }) end
  if got ~= want then
    local reason, msg = mismatch(file, size, manifest)
    env_error(reason, msg, { file = file })
  end
  return want, manifest
end

--- backup.checksum(file) -> sha256, manifest; raises kind="environment" for a missing,
-- unchecked or corrupt file
function M.checksum(file)
  return check_checksum(file)
end

local function check_restore_opts(opts)
  if type(opts) ~= "table" then usage("backup.restore: options must be a table", 3) end
  local known = { into = "string", target = "any", clean = "boolean", jobs = "number",
                  no_owner = "boolean", no_privileges = "boolean", progress = "boolean",
                  quiet = "boolean", pg_restore = "string", checked = "string" }
  for k, v in pairs(opts) do
    if not known[k] then usage(string.format("backup.restore: unknown option %q", tostring(k)), 3) end
    if known[k] ~= "any" and type(v) ~= known[k] then
      usage(string.format("backup.restore: %s must be a %s", k, known[k]), 3)
    end
  end
  if not opts.into and opts.target == nil and not opts.clean then
    usage("backup.restore needs into = NEWDB (a new database), or target = T and/or " ..
          "clean = true (over an existing one; no target: libpq's default database)", 3)
  end
  if opts.into and opts.clean then
    usage("backup.restore: clean is for restoring over an existing target, not into a new database", 3)
  end
  if opts.jobs and (math.type(opts.jobs) ~= "integer" or opts.jobs < 1) then
    usage("backup.restore: jobs must be an integer >= 1", 3)
  end
end

--- backup.restore(file, opts) -> {file, database, seconds, sha256}; see the file header
function M.restore(file, opts)
  opts = opts or {}
  check_restore_opts(opts)
  local t0 = clock.now()
  local sha, manifest                                -- before anything is touched
  if opts.checked and opts.checked == read_checksum(file) then
    sha, manifest = opts.checked, read_manifest(file)
  else
    sha, manifest = check_checksum(file)
  end

  local conn, owned, ctx, target_string = open_target(opts.target)
  local _conn <close> = owned and conn or nil  -- luacheck: ignore 211
  local t = program_target(target_string, conn)
  local major = pg.major(conn:server_version())
  local pg_restore = pg.tool("pg_restore", { major = major, override = opts.pg_restore })
  local map = {}
  for k, v in pairs(t.map) do map[k] = v end
  local dbname = conn:query("SELECT current_database() AS d")[1].d

  local created = setmetatable({}, { __close = function(c)
    if c.name and not c.keep then
      pcall(conn.exec, conn, "DROP DATABASE IF EXISTS " .. conn:quote_ident(c.name))
    end
  end })
  local _dropper <close> = created  -- luacheck: ignore 211
  if opts.into then
    if conn:query("SELECT 1 FROM pg_database WHERE datname = $1", opts.into).n > 0 then
      usage(string.format("backup.restore: database %q already exists (restore into a new " ..
                          "one, or use target = ..., clean = true)", opts.into), 2)
    end
    conn:exec("CREATE DATABASE " .. conn:quote_ident(opts.into) .. " TEMPLATE template0")
    created.name = opts.into
    dbname = opts.into
  end
  map.dbname = dbname
  local conninfo = pg.build(map)
  local env = with_ctx_env(t.env, ctx)
  -- parallel by default into a new database (dropped if the restore fails); over an existing
  -- one, one transaction (pg_restore --jobs cannot run in one)
  local jobs = opts.jobs or (opts.into and math.min(sys.cpus(), 8)) or 1
  local argv = M.restore_argv(conninfo, { pg_restore = pg_restore, clean = opts.clean,
    no_owner = opts.no_owner, no_privileges = opts.no_privileges, jobs = jobs,
    file = jobs > 1 and file or nil })
  local ok, status, stderr, interrupted
  if jobs > 1 then
    local r = proc.run(argv, { env = env, stdin = "null", stdout = "capture", stderr = "capture" })
    ok, status, stderr, interrupted = r.ok, r.status, r.stderr, r.interrupted
  else
    -- pg_restore reads the file through the tee: a progress line for free
    local size = lfs.attributes(file, "size")
    local r = core.tee { src_file = file, sink = argv, env = env,
      progress = want_progress(opts) and { label = "restore " .. dbname, total = size } or nil }
    ok, status, interrupted = r.ok, r.sink and r.sink.status, r.interrupted
    stderr = r.error or (r.sink and r.sink.stderr)
  end
  if interrupted then errors.raise("interrupted", "restore interrupted", nil, 2) end
  if not ok then
    env_error("restore_failed", string.format("pg_restore into %s failed (exit %s)%s: %s", dbname,
      tostring(status), created.name and "; the new database was dropped" or
      (jobs > 1 and "" or "; the transaction was rolled back"), first_lines(stderr, t.secret)),
      { stderr = first_lines(stderr, t.secret, 50) })
  end
  created.keep = true
  return { file = file, database = dbname, sha256 = sha, seconds = round(clock.since(t0) / 1e9),
           created = opts.into ~= nil, tables = manifest and manifest.tables or nil }
end

--- backup.list(dir [, dbname]) -> {info...}: migrun's dumps in dir (of that database),
-- with their manifests, newest first
function M.list(dir, dbname)
  local out = {}
  if lfs.attributes(dir, "mode") ~= "directory" then return out end
  for e in lfs.dir(dir) do
    local p = M.parse_name(e)
    if p and (dbname == nil or p.db == safe_name(dbname)) then
      local file = join(dir, e)
      local info = read_manifest(file) or {}
      info.file, info.stamp, info.seq = file, p.stamp, p.seq
      info.size = info.size or lfs.attributes(file, "size")
      out[#out + 1] = info
    end
  end
  table.sort(out, function(a, b)
    if a.stamp ~= b.stamp then return a.stamp > b.stamp end
    return a.seq > b.seq
  end)
  return out
end

-- ---------------------------------------------------------------------------------------
-- table snapshots

local function resolve(conn, name)
  local p, err = ident.check(name)
  if not p then usage("backup.tables: " .. err, 4) end
  local quoted = ident.quote(conn, p)
  local row = conn:query([[
    SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = to_regclass($1)]], quoted)[1]
  if not row then usage(string.format("backup.tables: no table %s", ident.display(p)), 4) end
  if row.kind ~= "r" and row.kind ~= "p" then
    usage(string.format("backup.tables: %s is not a table", ident.display(p)), 4)
  end
  row.quoted = conn:quote_ident(row.schema) .. "." .. conn:quote_ident(row.name)
  return row
end

local function columns(conn, oid)
  local generated = conn:server_version() >= 120000 and "AND attgenerated = ''" or ""
  local rows = conn:query([[SELECT attname FROM pg_attribute
    WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ]] .. generated ..
    " ORDER BY attnum", oid)
  local cols = list()
  for i = 1, rows.n do cols[#cols + 1] = rows[i].attname end
  return cols
end

local function column_list(conn, cols)
  local q = {}
  for i, c in ipairs(cols) do q[i] = conn:quote_ident(c) end
  return table.concat(q, ", ")
end

local function check_tables_opts(names, opts, level)
  if type(names) ~= "table" then usage("backup.tables: give a list of table names", level + 1) end
  local list_ = {}
  for i, v in ipairs(names) do list_[i] = v end
  if #list_ == 0 then usage("backup.tables: the list of tables is empty", level + 1) end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  for k, v in pairs(names) do
    if math.type(k) ~= "integer" then o[k] = v end
  end
  local known = { dir = "string", fsync = "boolean", progress = "boolean", quiet = "boolean" }
  for k, v in pairs(o) do
    if not known[k] then usage(string.format("backup.tables: unknown option %q", tostring(k)), level + 1) end
    if type(v) ~= known[k] then usage(string.format("backup.tables: %s must be a %s", k, known[k]), level + 1) end
  end
  for _, n in ipairs(list_) do
    local ok, err = ident.check(n)
    if not ok then usage("backup.tables: " .. err, level + 1) end
  end
  return list_, o
end

local function take_tables(target, names, opts)
  local t0 = clock.now()
  local conn, owned, ctx = open_target(target)
  local _conn <close> = owned and conn or nil  -- luacheck: ignore 211
  local resolved, seen = {}, {}
  for _, n in ipairs(names) do
    local row = resolve(conn, n)
    if not seen[row.oid] then
      seen[row.oid] = true
      row.columns = columns(conn, row.oid)
      resolved[#resolved + 1] = row
    end
  end
  local dbname = conn:query("SELECT current_database() AS d")[1].d
  local parent = opts.dir or os.getenv("TMPDIR") or "/tmp"
  if ctx.dir and opts.dir and parent:sub(1, 1) ~= "/" then parent = join(ctx.dir, parent) end
  mkdir_p(parent)
  local work = assert(sys.mkdtemp(join(parent, ".migrun-tables-partial-")))
  local cleanup <close> = remover({ work })

  -- one snapshot for all the tables (inside the caller's transaction if one is open)
  local tx <close> = conn:status() == "idle" and conn:begin() or nil
  if tx then conn:exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY") end
  local taken_at = iso()
  local tables, sums = list(), {}
  for i, t in ipairs(resolved) do
    local file = string.format("%02d-%s.copy", i, safe_name(t.schema .. "." .. t.name))
    local cols = column_list(conn, t.columns)
    local sql = t.kind == "p"
      and string.format("COPY (SELECT %s FROM %s) TO STDOUT (FORMAT binary)", cols, t.quoted)
      or string.format("COPY %s (%s) TO STDOUT (FORMAT binary)", t.quoted, cols)
    local r = core.copy_out(conn, sql, join(work, file), { fsync = opts.fsync,
      progress = want_progress(opts) and { label = "COPY " .. t.schema .. "." .. t.name } or nil })
    tables[#tables + 1] = { schema = t.schema, name = t.name, kind = t.kind, file = file,
                            rows = r.rows, bytes = r.bytes, sha256 = r.sha256,
                            columns = t.columns }
    sums[#sums + 1] = r.sha256 .. "  " .. file .. "\n"
  end
  if tx then tx:rollback() end                      -- read only

  local manifest = { format = "migrun.tables/1", database = dbname, taken_at = taken_at,
                     server_version_num = conn:server_version(), tables = tables }
  local ok, err = core.write_new(join(work, "SHA256SUMS"), table.concat(sums))
  if ok then ok, err = core.write_new(join(work, "snapshot.json"), encode(manifest) .. "\n") end
  if not ok then env_error("io", "table snapshot failed: " .. err) end
  local final
  for n = 1, 1000 do
    final = join(parent, string.format("migrun-tables-%s-%s%s", safe_name(dbname), utc_stamp(),
                                       n > 1 and "-" .. n or ""))
    ok, err = core.publish(work, final)
    if ok then break end
    if not exists(final) then env_error("io", "table snapshot failed: " .. err) end
  end
  if not ok then env_error("io", "table snapshot failed: " .. err) end
  cleanup.keep = true
  manifest.dir = final
  manifest.seconds = round(clock.since(t0) / 1e9)
  return manifest
end

local TablesSpec = { __name = "migrun.backup.tables" }
TablesSpec.__index = TablesSpec

--- spec:take(conn_or_ctx [, opts]) -> snapshot
function TablesSpec:take(target, more)
  local o = {}
  for k, v in pairs(self.opts) do o[k] = v end
  for k, v in pairs(more or {}) do o[k] = v end
  return take_tables(target, self.names, o)
end

--- spec:restore(ctx, snapshot) -> {tables, rows, seconds, message}: the rows of the
-- snapshot's tables put back in one transaction (schema changes made since stay)
function TablesSpec.restore(_, ctx, snapshot)
  local r = M.restore_tables(is_conn(ctx) and ctx or ctx.db, snapshot)
  r.message = string.format("%d row(s) of %d table(s) restored from the snapshot %s; schema " ..
                            "changes made since stay", r.rows, r.tables, snapshot.dir)
  r.rows_only = true
  return r
end

--- spec:describe() -> one line for plans and reports
function TablesSpec:describe()
  local names = {}
  for i, n in ipairs(self.names) do names[i] = ident.display(n) end
  return "COPY snapshots of " .. table.concat(names, ", ")
end

--- backup.tables(conn, names [, opts]) -> snapshot; backup.tables {names..., opts} -> spec
function M.tables(a, b, c)
  if type(a) == "table" and not is_conn(a) and b == nil then
    local names, o = check_tables_opts(a, nil, 2)
    return setmetatable({ kind = "tables", names = names, opts = o }, TablesSpec)
  end
  local names, o = check_tables_opts(b, c, 2)
  return take_tables(a, names, o)
end

--- backup.load_snapshot(dir) -> snapshot (as backup.tables returned it)
function M.load_snapshot(dir)
  if type(dir) ~= "string" then usage("backup.load_snapshot: give the snapshot's directory", 2) end
  local text = readfile(join(dir, "snapshot.json"))
  if not text then env_error("missing", dir .. ": no table snapshot here (snapshot.json)") end
  local ok, m = pcall(cjson.decode, text)
  if not ok or type(m) ~= "table" or m.format ~= "migrun.tables/1" then
    env_error("corrupt", dir .. "/snapshot.json is not a migrun table snapshot")
  end
  m.dir = dir
  return m
end

--- backup.remove_snapshot(snapshot | dir): delete a table snapshot's directory
function M.remove_snapshot(snap)
  local dir = type(snap) == "table" and snap.dir or snap
  if type(dir) ~= "string" or not exists(join(dir, "snapshot.json")) then
    usage("backup.remove_snapshot: not a table snapshot", 2)
  end
  rmtree(dir)
end

-- order tables so that a referenced table is filled before the tables referencing it
local function fk_order(conn, tables)
  local oids = {}
  for i, t in ipairs(tables) do oids[i] = tostring(t.oid) end
  local deps = conn:query([[SELECT conrelid::bigint AS child, confrelid::bigint AS parent
    FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid
      AND conrelid = ANY($1::oid[]) AND confrelid = ANY($1::oid[])]],
    "{" .. table.concat(oids, ",") .. "}")
  local waiting = {}
  for i = 1, deps.n do
    local d = deps[i]
    waiting[d.child] = waiting[d.child] or {}
    waiting[d.child][d.parent] = true
  end
  local order, done = {}, {}
  local progress = true
  while #order < #tables and progress do
    progress = false
    for _, t in ipairs(tables) do
      if not done[t.oid] then
        local ready = true
        for p in pairs(waiting[t.oid] or {}) do
          if not done[p] then ready = false end
        end
        if ready then
          order[#order + 1], done[t.oid], progress = t, true, true
        end
      end
    end
  end
  for _, t in ipairs(tables) do                     -- a cycle: the given order for the rest
    if not done[t.oid] then order[#order + 1] = t end
  end
  return order
end

--- backup.restore_tables(conn, snapshot | dir) -> {tables, rows, seconds}
function M.restore_tables(conn, snap)
  if not is_conn(conn) then usage("backup.restore_tables: the first argument is a connection", 2) end
  if type(snap) == "string" then snap = M.load_snapshot(snap) end
  if type(snap) ~= "table" or type(snap.tables) ~= "table" or type(snap.dir) ~= "string" then
    usage("backup.restore_tables: give a snapshot from backup.tables (or its directory)", 2)
  end
  local t0 = clock.now()
  -- every file checked before anything is touched
  for _, t in ipairs(snap.tables) do
    local path = join(snap.dir, t.file)
    local size = lfs.attributes(path, "size")
    if not size then env_error("missing", path .. ": the snapshot file is missing", { file = path }) end
    local got = hash.sha256_file(path)
    if got ~= t.sha256 then
      if size < (t.bytes or 0) then
        env_error("truncated", string.format("%s is truncated (%d bytes of %d); nothing restored",
          path, size, t.bytes), { file = path })
      end
      env_error("corrupt", path .. " does not match its checksum; nothing restored", { file = path })
    end
  end
  local targets = {}
  for i, t in ipairs(snap.tables) do
    local quoted = conn:quote_ident(t.schema) .. "." .. conn:quote_ident(t.name)
    local row = conn:query([[SELECT c.oid, c.relkind::text AS kind FROM pg_class c
                             WHERE c.oid = to_regclass($1)]], quoted)[1]
    if not row then
      usage(string.format("backup.restore_tables: table %s.%s no longer exists", t.schema, t.name), 2)
    end
    targets[i] = { oid = row.oid, kind = row.kind, quoted = quoted, snap = t }
  end
  local tx <close> = conn:begin()
  local trunc = {}
  for i, t in ipairs(targets) do trunc[i] = (t.kind == "p" and "" or "ONLY ") .. t.quoted end
  conn:exec("TRUNCATE " .. table.concat(trunc, ", "))
  local rows = 0
  for _, t in ipairs(fk_order(conn, targets)) do
    local n = conn:copy_in(string.format("COPY %s (%s) FROM STDIN (FORMAT binary)", t.quoted,
      column_list(conn, t.snap.columns)), join(snap.dir, t.snap.file))
    if t.snap.rows and n ~= t.snap.rows then
      env_error("corrupt", string.format("%s: restored %d rows, the snapshot had %d", t.quoted, n,
                                         t.snap.rows))
    end
    rows = rows + n
  end
  tx:commit()
  return { tables = #targets, rows = rows, seconds = round(clock.since(t0) / 1e9) }
end

return M
