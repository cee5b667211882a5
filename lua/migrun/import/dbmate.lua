--- migrun.import.dbmate: a dbmate folder (policy layer). `<version>_<name>.sql` files, in
-- file-name order, each with a `-- migrate:up` and a `-- migrate:down` section (options on
-- the directive line: `transaction:false`). history() reads dbmate's schema_migrations.
local errors = require "migrun.errors"
local fs = require "migrun.import.fs"

local M = { name = "dbmate", title = "dbmate", table = "schema_migrations" }

-- the directive lines of a file: {{kind = "up"|"down", first, after, options}} where first
-- is the byte the line starts at and after the byte after its end
local function directives(body)
  local list, pos = {}, 1
  for line, nxt in body:gmatch("([^\n]*)\n?()") do
    if pos > #body then break end
    local kind, rest = line:match("^%-%-%s*migrate:(%a+)(.*)$")
    if (kind == "up" or kind == "down") and (rest == "" or rest:find("^%s")) then
      local options = {}
      for k, v in rest:gmatch("(%S+):(%S+)") do options[k] = v end
      list[#list + 1] = { kind = kind, first = pos, after = nxt, options = options }
    end
    pos = nxt
  end
  return list
end

--- dbmate.sections(body, file) -> {{up = {text, line}, down = {text, line} | nil,
-- up_options, down_options}, ...}: dbmate's parse (a file may hold several up/down pairs).
-- Raises kind="usage" where dbmate itself refuses the file.
function M.sections(body, file)
  local d = directives(body)
  local function refuse(msg) errors.raise("usage", string.format("dbmate: %s: %s", file, msg)) end
  if #d == 0 or d[1].kind ~= "up" then
    if #d > 0 then refuse("'-- migrate:down' comes before '-- migrate:up'") end
    refuse("no '-- migrate:up' section")
  end
  for line in body:sub(1, d[1].first - 1):gmatch("[^\n]+") do
    if not line:find("^%s*$") and not line:find("^%s*%-%-") then
      refuse("statements before the '-- migrate:up' section (dbmate refuses them too)")
    end
  end
  local out = {}
  for i, di in ipairs(d) do
    local stop = d[i + 1] and d[i + 1].first or (#body + 1)
    local sec = { text = body:sub(di.after, stop - 1),
                  line = select(2, body:sub(1, di.after - 1):gsub("\n", "")) + 1 }
    if di.kind == "up" then
      out[#out + 1] = { up = sec, up_options = di.options }
    else
      local cur = out[#out]
      if cur.down then refuse("two '-- migrate:down' sections after one '-- migrate:up'") end
      cur.down, cur.down_options = sec, di.options
    end
  end
  return out
end

--- dbmate.detect(dir) -> how many files hold a '-- migrate:up' section
function M.detect(dir)
  local n = 0
  for _, f in ipairs(fs.list(dir, false)) do
    if f:match("^%d+.*%.sql$") then
      local body = fs.read(fs.join(dir, f))
      if body:find("^%-%-%s*migrate:up") or body:find("\n%-%-%s*migrate:up") then n = n + 1 end
    end
  end
  return n
end

local function section_script(file, stem, role, sec, count, i)
  local what = count > 1 and string.format("section %d's '-- migrate:%s'", i, role)
               or string.format("'-- migrate:%s' section", role)
  local header = string.format("-- migrun import: the %s of %s (line %d there is line 2 here)\n",
                               what, file, sec.line)
  return { file = file, raw = nil, text = header .. sec.text, line = sec.line,
           copy = stem .. (count > 1 and ("." .. i) or "") .. "." .. role .. ".sql",
           why = "dbmate keeps up and down in one file" }
end

--- dbmate.read(dir) -> project {migrations, warnings}
function M.read(dir)
  local project = { migrations = {}, vars = {}, defaults = {}, warnings = {} }
  local seen = {}
  for _, f in ipairs(fs.list(dir, false)) do
    local version = f:match("^(%d+).*%.sql$")
    if version then
      if seen[version] then
        errors.raise("usage", string.format("dbmate: two migrations with version %s: %s and %s", version,
                     seen[version], f))
      end
      seen[version] = f
      local stem = f:gsub("%.sql$", "")
      local name = stem:gsub("^%d+_?", ""):gsub("_", " ")
      local secs = M.sections(fs.read(fs.join(dir, f)), f)
      local m = { key = version, version = version, name = name, file = f,
                  phase = version .. (name ~= "" and (" " .. name) or "") }
      -- several sections run one after the other: steps of one phase; their downs undo in
      -- reverse order, as one rollback
      m.ups, m.downs = {}, {}
      for i, s in ipairs(secs) do
        m.ups[#m.ups + 1] = section_script(f, stem, "up", s.up, #secs, i)
        if (s.up_options.transaction or "") == "false" then
          m.transaction, m.no_tx_why = false, "-- migrate:up transaction:false"
        end
        if s.down and s.down.text:find("%S") then
          m.downs[#m.downs + 1] = section_script(f, stem, "down", s.down, #secs, i)
          if (s.down_options.transaction or "") == "false" and m.transaction ~= false then
            m.transaction, m.no_tx_why = false, "-- migrate:down transaction:false"
          end
        end
      end
      m.up = m.ups[1]
      if #m.downs == 1 then
        m.down = m.downs[1]
      elseif #m.downs > 1 then
        local parts = {}
        for i = #m.downs, 1, -1 do parts[#parts + 1] = m.downs[i].text end
        m.down = { file = f, text = table.concat(parts, "\n"), copy = stem .. ".down.sql",
                   why = "dbmate keeps up and down in one file" }
      end
      project.migrations[#project.migrations + 1] = m
    end
  end
  return project
end

-- dbmate's table: schema_migrations (version varchar) where the search path finds it, else
-- the only one in the database (dbmate --migrations-table puts it in another schema); the
-- one golang-migrate makes has a `dirty` column and is not dbmate's
local function find_table(db)
  local rows = db:query([[
    SELECT format('%I.%I', n.nspname, c.relname) AS t,
           c.oid = to_regclass('schema_migrations') AS visible
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relname = 'schema_migrations'
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'version')
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'dirty'
                      AND NOT a.attisdropped)
    ORDER BY 2 DESC, 1]])
  if rows.n == 0 then return nil end
  if rows[1].visible or rows.n == 1 then return rows[1].t end
  local names = {}
  for i = 1, rows.n do names[#names + 1] = rows[i].t end
  errors.raise("usage", "more than one dbmate schema_migrations table: " .. table.concat(names, ", "),
    { hint = "put the schema of the one to adopt first in the search path (options=-csearch_path=...)" })
end

--- dbmate.history(db, project) -> {table, applied = {version = true}, failed, unknown}
function M.history(db, project)
  local tbl = find_table(db)
  if not tbl then return nil end
  local rows = db:query(string.format("SELECT version::text AS version FROM %s ORDER BY version", tbl))
  local known, applied, unknown = {}, {}, {}
  for _, m in ipairs(project.migrations) do known[m.key] = true end
  for i = 1, rows.n do
    local v = rows[i].version
    if known[v] then applied[v] = true else unknown[#unknown + 1] = "version " .. v end
  end
  return { table = tbl, applied = applied, failed = {}, unknown = unknown, changed = {} }
end

return M
