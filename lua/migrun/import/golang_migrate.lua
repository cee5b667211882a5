--- migrun.import.golang_migrate: a golang-migrate folder (policy layer). `<N>_<name>.up.sql`
-- and `<N>_<name>.down.sql`, in numeric order of N. history() reads its schema_migrations:
-- one row, the version the database is at, and `dirty` when the last migration failed
-- halfway.
local errors = require "migrun.errors"
local fs = require "migrun.import.fs"

local M = { name = "golang-migrate", title = "golang-migrate", table = "schema_migrations" }

local PATTERN = "^(%d+)_(.*)%.(%a+)%.([^.]+)$"

--- golang_migrate.detect(dir) -> how many files are named like its migrations
function M.detect(dir)
  local n = 0
  for _, f in ipairs(fs.list(dir, false)) do
    local _, _, dir_ = f:match(PATTERN)
    if dir_ == "up" or dir_ == "down" then n = n + 1 end
  end
  return n
end

--- golang_migrate.read(dir) -> project {migrations, warnings}
function M.read(dir)
  local project = { migrations = {}, vars = {}, defaults = {}, warnings = {} }
  local by_version = {}
  for _, f in ipairs(fs.list(dir, false)) do
    local v, ident, direction, ext = f:match(PATTERN)
    if v and (direction == "up" or direction == "down") then
      local n = math.tointeger(tonumber(v))
      if not n then errors.raise("usage", "golang-migrate: version " .. v .. " of " .. f .. " is too large") end
      local m = by_version[n] or { key = n, version = v, name = ident:gsub("_", " ") }
      by_version[n] = m
      if m[direction] then
        errors.raise("usage", string.format("golang-migrate: two %s migrations with version %d: %s and %s",
                     direction, n, m[direction].file, f), { hint = "golang-migrate refuses this folder too" })
      end
      local raw = fs.read(fs.join(dir, f))
      m[direction] = { file = f, raw = raw, text = raw, copy = f }
      if ext ~= "sql" then
        -- the playbook's sql "file" needs the .sql suffix
        m[direction].copy = f:gsub("%.[^.]+$", ".sql")
        m[direction].why = "a migration file must end in .sql in a playbook"
        m[direction].raw = nil
      end
      if direction == "up" then m.phase = v .. (m.name ~= "" and (" " .. m.name) or "") end
    end
  end
  local list = {}
  for _, m in pairs(by_version) do
    if m.up then
      list[#list + 1] = m
    else
      project.warnings[#project.warnings + 1] = { file = m.down.file, message = "a down migration " ..
        "without its up migration: not imported" }
    end
  end
  table.sort(list, function(a, b) return a.key < b.key end)
  project.migrations = list
  return project
end

-- golang-migrate's table: schema_migrations (version bigint, dirty boolean) in the current
-- schema, else the only such table in the database (x-migrations-table names another)
local function find_table(db)
  local rows = db:query([[
    SELECT format('%I.%I', n.nspname, c.relname) AS t,
           c.oid = to_regclass('schema_migrations') AS visible
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'version'
                  AND a.atttypid = 'int8'::regtype)
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'dirty'
                  AND NOT a.attisdropped)
    ORDER BY 2 DESC, c.relname <> 'schema_migrations', 1]])
  if rows.n == 0 then return nil end
  if rows[1].visible or rows.n == 1 then return rows[1].t end
  local names = {}
  for i = 1, rows.n do names[#names + 1] = rows[i].t end
  errors.raise("usage", "more than one golang-migrate table: " .. table.concat(names, ", "),
    { hint = "put the schema of the one to adopt first in the search path (options=-csearch_path=...)" })
end

--- golang_migrate.history(db, project) -> {table, applied, failed, unknown}: every migration
-- up to the recorded version is applied; dirty = true is a failed one
function M.history(db, project)
  local tbl = find_table(db)
  if not tbl then return nil end
  local rows = db:query(string.format("SELECT version, dirty FROM %s", tbl))
  local res = { table = tbl, applied = {}, failed = {}, unknown = {}, changed = {},
                dirty_hint = "golang-migrate marks a migration that failed halfway dirty: repair the " ..
                             "database by hand, then `migrate force N`" }
  if rows.n == 0 then return res end
  if rows.n > 1 then
    errors.raise("usage", string.format("%s holds %d rows; golang-migrate keeps exactly one", tbl, rows.n))
  end
  local v, dirty = rows[1].version, rows[1].dirty
  if dirty then res.failed[1] = string.format("version %d (dirty = true)", v) end
  local found = false
  for _, m in ipairs(project.migrations) do
    if m.key <= v then res.applied[m.key] = true end
    if m.key == v then found = true end
  end
  if v >= 0 and not found then res.unknown[1] = "version " .. v end
  return res
end

return M
