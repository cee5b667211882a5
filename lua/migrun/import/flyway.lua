--- migrun.import.flyway: a Flyway folder (policy layer). Versioned `V<version>__<desc>.sql`
-- (with `U<version>__<desc>.sql` as its undo and `<file>.conf` for executeInTransaction),
-- repeatable `R__<desc>.sql` after them; `${name}` placeholders become psql variables.
-- history() reads flyway_schema_history the way Flyway's own `info` does.
local digest = require "migrun.import.digest"
local errors = require "migrun.errors"
local fs = require "migrun.import.fs"
local sqlvars = require "migrun.sqlvars"

local M = { name = "flyway", title = "Flyway", table = "flyway_schema_history" }

-- the callbacks Flyway runs around a migrate (not migrations: nothing to translate them to)
local CALLBACKS = { "beforeMigrate", "beforeEachMigrate", "afterEachMigrate", "afterMigrate",
                    "afterMigrateApplied", "afterVersioned", "afterMigrateError", "beforeRepair",
                    "beforeClean", "afterClean", "beforeValidate", "afterValidate", "beforeBaseline",
                    "beforeInfo", "beforeUndo", "beforeEachUndo", "afterUndo", "beforeConnect",
                    "afterConnect", "beforeEachMigrateStatement", "afterEachMigrateStatement" }

--- flyway.version_key(v) -> Flyway's version as a comparable key: "1_01.0" -> "1.1"
-- (underscores are dots, leading zeros and trailing zero parts do not count)
function M.version_key(v)
  local parts = {}
  for p in v:gsub("_", "."):gmatch("[^.]+") do parts[#parts + 1] = p:gsub("^0+(%d)", "%1") end
  while #parts > 1 and parts[#parts] == "0" do parts[#parts] = nil end
  return table.concat(parts, ".")
end

local function version_less(a, b)
  local pa, pb = {}, {}
  for p in a:gmatch("[^.]+") do pa[#pa + 1] = p end
  for p in b:gmatch("[^.]+") do pb[#pb + 1] = p end
  for i = 1, math.max(#pa, #pb) do
    local x, y = pa[i] or "0", pb[i] or "0"
    if #x ~= #y then return #x < #y end
    if x ~= y then return x < y end
  end
  return false
end

-- key=value lines (flyway.conf, a script's .conf); `#` starts a comment
local function read_properties(body)
  local t = {}
  for line in (body .. "\n"):gmatch("([^\n]*)\n") do
    local k, v = line:match("^%s*([^#=%s][^=]-)%s*=%s*(.-)%s*$")
    if k then t[k] = v end
  end
  return t
end

-- flyway.toml: the [flyway] and [flyway.placeholders] tables (the subset imports need)
local function read_toml(body)
  local t, section = {}, ""
  for line in (body .. "\n"):gmatch("([^\n]*)\n") do
    local s = line:match("^%s*%[%s*([^%]]-)%s*%]%s*$")
    if s then
      section = s
    else
      local k, v = line:match("^%s*([%w_.%-]+)%s*=%s*(.-)%s*$")
      if k then
        v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
        if section == "flyway" then
          t["flyway." .. k] = v
        elseif section == "flyway.placeholders" then
          t["flyway.placeholders." .. k] = v
        elseif section:match("^environments%.[^.]+%.flyway%.placeholders$") then
          t["flyway.placeholders." .. k] = t["flyway.placeholders." .. k] or v
        end
      end
    end
  end
  return t
end

-- the configuration Flyway would read beside the folder: flyway.conf / flyway.toml in it or
-- in the folders above it (up to three)
local function read_config(dir)
  local conf, found = {}, {}
  local d = fs.absolute(dir)
  for _ = 1, 4 do
    for _, f in ipairs({ "flyway.conf", "conf/flyway.conf", "flyway.toml" }) do
      local p = fs.join(d, f)
      if fs.is_file(p) then
        local t = f:find("%.toml$") and read_toml(fs.read(p)) or read_properties(fs.read(p))
        for k, v in pairs(t) do if conf[k] == nil then conf[k] = v end end
        found[#found + 1] = p
      end
    end
    if d == "/" then break end
    d = fs.dirname(d)
    if d == "" then d = "/" end
  end
  return conf, found
end

--- flyway.var_name(placeholder) -> the psql variable it becomes: flyway:defaultSchema ->
-- flyway_defaultSchema (a psql name holds letters, digits and _ only)
function M.var_name(p)
  return (p:gsub("[^%w_]", "_"))
end

--- flyway.placeholders(text, file, o) -> text, vars, problems: ${name} written as a psql
-- variable where psql can say the same: in SQL as :name, a whole '${name}' literal as
-- :'name', a whole "${name}" identifier as :"name". Inside a longer string or identifier, a
-- dollar-quoted body, or glued to a name after it, psql cannot substitute: those stay as
-- they are and are listed in problems ({line, col, message}). Comments are left alone.
-- o.prefix / o.suffix: Flyway's placeholderPrefix / placeholderSuffix ("${", "}")
function M.placeholders(body, o)
  o = o or {}
  local pre, suf = o.prefix or "${", o.suffix or "}"
  if not body:find(pre, 1, true) then return body, {}, {} end
  local vars, problems, out = {}, {}, {}
  local pat = pre:gsub("%p", "%%%0") .. "(.-)" .. suf:gsub("%p", "%%%0")
  local function problem(at, name, why)
    local line, col = require("migrun.sqlsplit").position(body, at)
    problems[#problems + 1] = { line = line, col = col, message = string.format(
      "placeholder %s%s%s %s: psql variables cannot say that; left as it is", pre, name, suf, why) }
  end
  for _, seg in ipairs(sqlvars.segments(body)) do
    local s = body:sub(seg.first, seg.last)
    if seg.kind == "code" then
      local pos, parts = 1, {}
      while true do
        local a, b, name = s:find(pat, pos)
        if not a then break end
        parts[#parts + 1] = s:sub(pos, a - 1)
        if s:sub(b + 1, b + 1):find("^[%w_\128-\255]") then
          problem(seg.first + a - 1, name, "is followed by more of a name")
          parts[#parts + 1] = s:sub(a, b)
        else
          local v = M.var_name(name)
          vars[v] = name
          parts[#parts + 1] = ":" .. v
        end
        pos = b + 1
      end
      parts[#parts + 1] = s:sub(pos)
      out[#out + 1] = table.concat(parts)
    elseif seg.kind == "comment" or not s:find(pre, 1, true) then
      out[#out + 1] = s
    else
      local whole = (seg.kind == "string" or seg.kind == "ident") and
        s:match("^" .. (seg.kind == "string" and "'" or '"') .. pat .. (seg.kind == "string" and "'" or '"') .. "$")
      if whole then
        local v = M.var_name(whole)
        vars[v] = whole
        out[#out + 1] = ":" .. s:sub(1, 1) .. v .. s:sub(1, 1)
      else
        local where = ({ string = "is inside a longer string", ident = "is inside a longer quoted name",
                         estring = "is inside an E'' string", dollar = "is inside a dollar-quoted body" })[seg.kind]
        local a, _, name = s:find(pat)
        problem(seg.first + a - 1, name, where)
        out[#out + 1] = s
      end
    end
  end
  return table.concat(out), vars, problems
end

--- flyway.detect(dir) -> how many files look like Flyway's (0: none)
function M.detect(dir)
  local n = 0
  for _, f in ipairs(fs.list(dir, true)) do
    if fs.basename(f):match("^V%d[%d._]*__.*%.sql$") then n = n + 1 end
  end
  return n
end

--- flyway.read(dir) -> project {migrations, vars, warnings, config}
function M.read(dir)
  local conf, conf_files = read_config(dir)
  local replace = (conf["flyway.placeholderReplacement"] or "true"):lower() ~= "false"
  local ph = { prefix = conf["flyway.placeholderPrefix"], suffix = conf["flyway.placeholderSuffix"] }
  local defaults = {}
  for k, v in pairs(conf) do
    local name = k:match("^flyway%.placeholders%.(.+)$")
    if name then defaults[M.var_name(name)] = v end
  end
  local project = { migrations = {}, vars = {}, defaults = defaults, warnings = {}, config = conf_files }
  local function warn(file, msg, line, col)
    project.warnings[#project.warnings + 1] = { file = file, line = line, col = col, message = msg }
  end
  local function script(rel)
    local raw = fs.read(fs.join(dir, rel))
    local s = { file = rel, raw = raw, text = raw, copy = fs.dirname(rel) == "." and ("_" .. rel)
                or (fs.dirname(rel) .. "/_" .. fs.basename(rel)) }
    if replace then
      local body, vars, problems = M.placeholders(raw, ph)
      if body ~= raw then s.text, s.why = body, "Flyway placeholders written as psql variables" end
      for v, orig in pairs(vars) do project.vars[v] = orig end
      for _, p in ipairs(problems) do warn(rel, p.message, p.line, p.col) end
    end
    return s
  end
  local versioned, undo, repeatable = {}, {}, {}
  for _, rel in ipairs(fs.list(dir, true)) do
    local base = fs.basename(rel)
    local kind, ver, desc = base:match("^([VUB])(%d[%d._]*)__(.-)%.sql$")
    local rdesc = base:match("^R__(.-)%.sql$")
    if kind == "V" then
      local key = M.version_key(ver)
      if versioned[key] then
        errors.raise("usage", string.format("Flyway: two migrations with version %s: %s and %s", key,
                     versioned[key].up.file, rel), { hint = "Flyway refuses this folder too" })
      end
      local m = { key = key, version = ver, name = desc:gsub("_", " "), up = script(rel) }
      m.phase = "V" .. ver .. (m.name ~= "" and (" " .. m.name) or "")
      m.checksum = digest.flyway(m.up.raw)
      local cfg = fs.join(dir, rel .. ".conf")
      if fs.is_file(cfg) then
        local c = read_properties(fs.read(cfg))
        if (c.executeInTransaction or ""):lower() == "false" then
          m.transaction, m.no_tx_why = false, "executeInTransaction=false in " .. rel .. ".conf"
        end
      end
      versioned[key] = m
    elseif kind == "U" then
      undo[M.version_key(ver)] = rel
    elseif kind == "B" then
      warn(rel, "a Flyway baseline migration (B prefix, for empty databases only): not imported; " ..
           "the V migrations it stands for are")
    elseif rdesc then
      local m = { key = "R:" .. rdesc:gsub("_", " "), name = rdesc:gsub("_", " "), up = script(rel),
                  repeatable = true }
      m.phase = "R " .. m.name
      m.checksum = digest.flyway(m.up.raw)
      repeatable[#repeatable + 1] = m
    elseif base:find("%.sql$") then
      local cb
      for _, c in ipairs(CALLBACKS) do
        if base == c .. ".sql" or base:find("^" .. c .. "__") then cb = c end
      end
      if cb then
        warn(rel, string.format("a Flyway callback (%s): not a migration, not imported", cb))
      else
        warn(rel, "not a Flyway migration name (V<version>__<description>.sql): Flyway skips it, " ..
             "and so does the import")
      end
    end
  end
  local list = {}
  for _, m in pairs(versioned) do list[#list + 1] = m end
  table.sort(list, function(a, b) return version_less(a.key, b.key) end)
  for key, rel in pairs(undo) do
    if versioned[key] then
      versioned[key].down = script(rel)
    else
      warn(rel, "an undo script without its versioned migration: not imported")
    end
  end
  table.sort(repeatable, function(a, b) return a.name < b.name end)
  for _, m in ipairs(repeatable) do list[#list + 1] = m end
  project.migrations = list
  if not replace then project.notes = { "flyway.placeholderReplacement=false: ${...} left as it is" } end
  return project
end

-- the history table: flyway_schema_history where the search path finds it, else the only
-- one in the database (the table of Flyway before 5 was schema_version)
local function find_table(db)
  for _, name in ipairs({ "flyway_schema_history", "schema_version" }) do
    local r = db:query("SELECT to_regclass($1)::text AS t", name)[1]
    if r.t then return r.t end
  end
  local rows = db:query([[
    SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relname IN ('flyway_schema_history', 'schema_version')
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'installed_rank')
    ORDER BY 1]])
  if rows.n == 1 then return rows[1].t end
  if rows.n > 1 then
    local names = {}
    for i = 1, rows.n do names[#names + 1] = rows[i].t end
    errors.raise("usage", "more than one Flyway history table: " .. table.concat(names, ", "),
      { hint = "put the schema of the one to adopt first in the search path (options=-csearch_path=...)" })
  end
  return nil
end

--- flyway.history(db, project) -> {table, applied = {key = true}, failed, unknown, changed}:
-- what Flyway's `info` would call applied. A BASELINE row stands for every version up to
-- it; an UNDO_SQL or DELETE row takes its version back; a repeatable counts as applied
-- when its last run was of the script as it is now (else Flyway would run it again).
function M.history(db, project)
  local tbl = find_table(db)
  if not tbl then return nil end
  local rows = db:query(string.format([[SELECT installed_rank, version, description, type, script,
    checksum, success FROM %s ORDER BY installed_rank]], tbl))
  local by_key, applied, failed, unknown, changed = {}, {}, {}, {}, {}
  for _, m in ipairs(project.migrations) do by_key[m.key] = m end
  local state, checks, baseline = {}, {}, nil
  for i = 1, rows.n do
    local r = rows[i]
    local key = r.version and M.version_key(r.version) or ("R:" .. r.description)
    if r.type == "SCHEMA" or r.type == "TABLE" then        -- luacheck: ignore 542
      -- "<< Flyway Schema Creation >>": not a migration
    elseif not r.success then
      failed[#failed + 1] = string.format("%s (%s, rank %d)", r.version and ("version " .. r.version)
                                          or r.description, r.script, r.installed_rank)
    elseif r.type == "BASELINE" then
      baseline = key
    elseif r.type == "UNDO_SQL" or r.type == "UNDO_JDBC" or r.type == "DELETE" then
      state[key] = nil
    else
      state[key] = true
      checks[key] = r.checksum
    end
  end
  for key in pairs(state) do
    local m = by_key[key]
    if not m then
      if not key:find("^R:") then unknown[#unknown + 1] = "version " .. key end
    elseif m.repeatable then
      if checks[key] == m.checksum then applied[key] = true end
    else
      applied[key] = true
      if checks[key] and checks[key] ~= m.checksum then changed[#changed + 1] = m.phase end
    end
  end
  if baseline then
    for _, m in ipairs(project.migrations) do
      if not m.repeatable and not version_less(baseline, m.key) then applied[m.key] = true end
    end
  end
  table.sort(unknown)
  return { table = tbl, applied = applied, failed = failed, unknown = unknown, changed = changed,
           dirty_hint = "fix the failed migration and run `flyway repair` first" }
end

M.version_less = version_less
return M
