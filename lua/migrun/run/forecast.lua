--- migrun.run.forecast: what a rehearsal learns about locks (policy layer). On the clone,
-- after every statement of a transactional phase, the locks the transaction now holds on
-- relations (pg_locks) are read: the new ones belong to that statement and are held until the
-- phase commits. A statement outside a transaction holds its locks while it runs, so they are
-- read while it runs (migrun.run.watch's looks) and held for its duration. A relation whose
-- relfilenode changed was rewritten. The report turns this into "blocks writes to orders for
-- 1.8 s".
local clock = require "migrun.clock"

local M = {}

-- what each lock mode stops other sessions from doing (PostgreSQL's conflict table)
M.BLOCKS = {
  AccessShareLock = "ALTER/DROP (ACCESS EXCLUSIVE)",
  RowShareLock = "EXCLUSIVE and ACCESS EXCLUSIVE locks",
  RowExclusiveLock = "CREATE INDEX, REFRESH, DDL taking SHARE or stronger",
  ShareUpdateExclusiveLock = "VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, other DDL",
  ShareLock = "writes (INSERT, UPDATE, DELETE) and DDL",
  ShareRowExclusiveLock = "writes (INSERT, UPDATE, DELETE) and DDL",
  ExclusiveLock = "writes and SELECT ... FOR UPDATE (plain reads go on)",
  AccessExclusiveLock = "everything: reads, writes and DDL",
}

local LOCKS = [[
SELECT l.relation::regclass::text AS rel, l.mode, c.relkind::text AS kind, c.relfilenode::int8 AS filenode,
       c.oid::int8 AS oid
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrun') AND n.nspname NOT LIKE 'pg\_toast%']]

local FILENODES = [[
SELECT c.oid::int8 AS oid, c.relfilenode::int8 AS filenode FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'i', 'p', 'I') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrun')
  AND n.nspname NOT LIKE 'pg\_toast%']]

--- forecast.begin_phase(run, ph): remember the relations' files before the phase
function M.begin_phase(run, ph)
  local files = {}
  for _, r in ipairs(run.db:query(FILENODES)) do files[r.oid] = r.filenode end
  run.forecast = run.forecast or {}
  run.forecast_phase = { phase = ph.name, files = files, seen = {}, locks = {}, t0 = clock.now() }
end

local function note(fp, r, statement, t, autocommit)
  local key = r.rel .. "\0" .. r.mode
  if fp.seen[key] then return end
  fp.seen[key] = true
  fp.locks[#fp.locks + 1] = { relation = r.rel, mode = r.mode, statement = statement, acquired = t,
                              autocommit = autocommit,
                              rewritten = fp.files[r.oid] ~= nil and r.filenode ~= fp.files[r.oid] or nil }
end

--- forecast.after_statement(run, statement): in a transaction, the locks it took
function M.after_statement(run, statement)
  local fp = run.forecast_phase
  if not fp then return end
  local now = clock.now()
  for _, r in ipairs(run.db:query(LOCKS, run.db:backend_pid())) do note(fp, r, statement, now) end
end

--- forecast.seen_running(run, pid, statement): outside a transaction, what it holds now
function M.seen_running(run, monitor, pid, statement, started)
  local fp = run.forecast_phase
  if not fp then return end
  local ok, rows = pcall(monitor.query, monitor, LOCKS, pid)
  if not ok then return end
  for _, r in ipairs(rows) do note(fp, r, statement, started, true) end
end

--- forecast.end_statement(run, started): an autocommit statement's locks are released now
function M.end_statement(run, started)
  local fp = run.forecast_phase
  if not fp then return end
  local now = clock.now()
  for _, l in ipairs(fp.locks) do
    if l.autocommit and l.acquired == started and not l.released then l.released = now end
  end
end

--- forecast.end_phase(run): a phase's locks go at its COMMIT (or rollback)
function M.end_phase(run)
  local fp = run.forecast_phase
  if not fp then return end
  run.forecast_phase = nil
  local now = clock.now()
  local rewritten = {}
  for _, r in ipairs(run.db:query(FILENODES)) do
    if fp.files[r.oid] and fp.files[r.oid] ~= r.filenode then rewritten[r.oid] = true end
  end
  local rows = {}
  for _, l in ipairs(fp.locks) do
    rows[#rows + 1] = { phase = fp.phase, relation = l.relation, mode = l.mode, blocks = M.BLOCKS[l.mode] or "",
                        held_ms = ((l.released or now) - l.acquired) / 1e6, statement = l.statement,
                        rewritten = l.rewritten or false }
  end
  -- a rewrite seen only at the end (a later statement rewrote the table) is marked too
  local oids = {}
  for oid in pairs(rewritten) do oids[#oids + 1] = tostring(oid) end
  if #oids > 0 then
    local names = {}
    for _, r in ipairs(run.db:query("SELECT oid::regclass::text AS rel FROM pg_class WHERE oid = ANY($1::oid[])",
                                    "{" .. table.concat(oids, ",") .. "}")) do
      names[r.rel] = true
    end
    for _, row in ipairs(rows) do
      if names[row.relation] then row.rewritten = true end
    end
  end
  for _, row in ipairs(rows) do run.forecast[#run.forecast + 1] = row end
end

return M
