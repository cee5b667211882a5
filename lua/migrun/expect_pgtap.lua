--- migrun.expect_pgtap: expect.pgtap(GLOB), the pgTAP test files a team already has, as one
-- expectation (policy layer, over migrun.db and migrun.sqlsplit). migrun.expect plugs it in.
--
--   expect.pgtap "tests/db/*.sql"          -- relative to the playbook's directory
--   expect.pgtap("tests/db/*.sql", { schema = "tap" })   -- where pgtap's functions live
--
-- Each file runs statement by statement on the run's connection, inside the caller's
-- transaction (a phase's verify: a failing test rolls the phase back; the final verify), under
-- a savepoint that is rolled back afterwards: what a test file creates, and the pgtap
-- extension itself when the database did not have it, leaves nothing behind. Outside a
-- transaction the files get one of their own, rolled back. A file's own transaction control
-- (BEGIN, ROLLBACK, COMMIT) and psql's display settings (\set, \pset, \unset, \timing,
-- \echo) are left out; any other psql meta-command is an error.
--
-- Every assertion is reported with its TAP description (the result's `details`): the check
-- passes when every test passed (a TODO test may fail), each file ran as many tests as it
-- planned, and no statement failed. A failed statement names its file, line and column.
local errors = require "migrun.errors"
local sqlsplit = require "migrun.sqlsplit"
local text = require "migrun.text"

local M = {}

local HARMLESS_META = { set = true, pset = true, unset = true, timing = true, echo = true, qecho = true }
local TX_CONTROL = { begin = true, start = true, commit = true, ["end"] = true, rollback = true, abort = true }

--- expect_pgtap.new(at, glob [, opts]) -> the fields of an expect.pgtap expectation
function M.new(at, glob, opts)
  local function bad(fmt, ...)
    errors.raise("playbook", string.format("expect.pgtap: " .. fmt, ...), { file = at.file, line = at.line })
  end
  if type(glob) ~= "string" or glob == "" then
    bad("the first argument is a file or a glob, like \"tests/db/*.sql\"")
  end
  if opts ~= nil then
    if type(opts) ~= "table" then bad("options must be a table { schema = ... }") end
    for k in pairs(opts) do
      if k ~= "schema" then bad("unknown option %s%s", tostring(k), text.did_you_mean(tostring(k), { "schema" })) end
    end
    if opts.schema ~= nil and (type(opts.schema) ~= "string" or not opts.schema:find("^[%a_][%w_]*$")) then
      bad("schema must be a plain schema name")
    end
  end
  return { glob = glob, schema = opts and opts.schema, dir = at.file and at.file:match("^(.*)/[^/]*$") or "." }
end

-- the files a glob names, sorted; a name without wildcards is one file
local function files_of(dir, glob)
  local path = glob:sub(1, 1) == "/" and glob or (dir .. "/" .. glob)
  local folder, pattern = path:match("^(.*)/([^/]*)$")
  if not pattern:find("[%*%?%[]") then
    local f = io.open(path, "rb")
    if f then f:close() return { path } end
    return {}
  end
  local lua_pattern = "^" .. pattern:gsub("[%^%$%(%)%%%.%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  local ok, lfs = pcall(require, "lfs")
  if not ok then errors.raise("environment", "expect.pgtap needs LuaFileSystem (lua-filesystem) for a glob") end
  local out = {}
  local dok, iter, state = pcall(lfs.dir, folder)
  if not dok then return out end
  for name in iter, state do
    if name:find(lua_pattern) and lfs.attributes(folder .. "/" .. name, "mode") == "file" then
      out[#out + 1] = folder .. "/" .. name
    end
  end
  table.sort(out)
  return out
end

-- the file's text with psql's harmless meta-commands blanked (offsets kept for positions)
local function without_meta(path, src)
  local lines, n = {}, 0
  for line in (src .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local cmd = line:match("^%s*\\(%a+)")
    if cmd then
      if not HARMLESS_META[cmd] then
        errors.raise("usage", string.format("psql's \\%s is not SQL: expect.pgtap runs the file's SQL itself", cmd),
                     { file = path, line = n, col = 1 })
      end
      line = line:gsub("[^\r]", " ")
    end
    lines[n] = line
  end
  lines[n] = nil                                     -- the "\n" appended above
  return table.concat(lines, "\n")
end

-- a statement without its leading white space and comments, in lower case
local function head_of(sql)
  local s = sql:lower():gsub("^%s+", "")
  while s:find("^%-%-") or s:find("^/%*") do
    if s:find("^%-%-") then s = s:gsub("^%-%-[^\n]*\n?%s*", "") else s = s:gsub("^/%*.-%*/%s*", "") end
  end
  return s
end

-- BEGIN, COMMIT, ROLLBACK (not ROLLBACK TO a savepoint): the file's own transaction, which
-- here is the caller's
local function is_tx_control(sql)
  local s = head_of(sql)
  local w = s:match("^(%a+)") or ""
  if not TX_CONTROL[w] then return false end
  return not ((w == "rollback" or w == "abort") and s:find("^%a+%s+to%s"))
end

-- TAP lines of one file -> tests {n, ok, todo, skip, description, diagnostics}, planned
local function parse_tap(lines)
  local tests, planned = {}, nil
  for _, line in ipairs(lines) do
    local nots, num, rest = line:match("^(n?o?t? ?)ok (%d+)(.*)$")
    if num then
      local desc, directive = rest:match("^%s*%-?%s*(.-)%s*#%s*(.*)$")
      desc = desc or rest:match("^%s*%-?%s*(.-)%s*$")
      local t = { n = tonumber(num), ok = nots == "", description = desc }
      if directive then
        if directive:upper():find("^TODO") then t.todo = directive end
        if directive:upper():find("^SKIP") then t.skip = directive end
      end
      tests[#tests + 1] = t
    elseif line:match("^1%.%.(%d+)") then
      planned = tonumber(line:match("^1%.%.(%d+)"))
    elseif line:match("^%s*#") and #tests > 0 and not line:find("^#%s*Looks like you") then
      local t = tests[#tests]
      t.diagnostics = (t.diagnostics and t.diagnostics .. "\n" or "") .. line:gsub("^%s*#%s?", "")
    end
  end
  return tests, planned
end

-- one file's statements: the TAP lines they returned, or the error (with file:line:col)
local function run_file(db, path, sql)
  local lines = {}
  for _, st in ipairs(sqlsplit.split(sql, path)) do
    if not is_tx_control(st.sql) then
      local ok, res = pcall(db.query, db, st.sql)
      if not ok then
        if errors.is_sql(res) then
          local byte = st.start
          if res.position then byte = st.start + (utf8.offset(st.sql, res.position) or res.position) - 1 end
          res.file = path
          res.line, res.col = sqlsplit.position(sql, byte)
        end
        return lines, res
      end
      for _, row in ipairs(res) do
        local v = row[res.columns[1]]
        if type(v) == "string" then
          for l in (v .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
        end
      end
    end
  end
  return lines
end

local function ensure_pgtap(db, schema)
  local r = db:query([[SELECT (SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension
                                WHERE extname = 'pgtap') AS installed,
                              EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pgtap')
                                AS available]])[1]
  if r.installed then return r.installed end
  if not r.available then
    return nil, "pgTAP is not installed on this server (Debian: apt install postgresql-15-pgtap)"
  end
  -- made for the tests, under their savepoint, and gone with it
  db:exec("CREATE EXTENSION pgtap" .. (schema and (" SCHEMA " .. db:quote_ident(schema)) or ""))
  return schema or "public"
end

local function shown(t)
  return string.format("%d %s", t.n, t.description ~= "" and t.description or "(no description)")
end

M.kind = {
  may_write = true,               -- test files may write: always under a savepoint, rolled back
  describe = function(e) return "pgTAP " .. e.glob end,
  missing_files = function(e, dir)
    dir = dir or e.dir
    if #files_of(dir, e.glob) == 0 then return "no file matches " .. e.glob .. " (in " .. dir .. ")" end
  end,
  expected = function() return "every test passes" end,

  --- check(e, ctx) -> ok, actual, expected, details = {{file, n, ok, description, todo,
  -- skip, diagnostics} | {file, error}, ...}
  check = function(e, ctx)
    local db = ctx.db
    local dir = ctx.dir or e.dir
    local files = files_of(dir, e.glob)
    if #files == 0 then return false, "no file matches " .. e.glob .. " (in " .. dir .. ")", "every test passes" end
    local own
    if db:status() == "idle" then own = db:begin() end
    local sp = db:begin()                            -- a savepoint inside the transaction
    local details, passed, failed, problems = {}, 0, 0, {}
    local ok_all = true
    local ok, err = pcall(function()
      local schema, why = ensure_pgtap(db, e.schema)
      if not schema then
        ok_all = false
        problems[#problems + 1] = why
        return
      end
      db:exec("SET LOCAL search_path TO " .. db:quote_ident(schema) .. ", " ..
              db:query("SELECT current_setting('search_path') AS p")[1].p)
      for _, path in ipairs(files) do
        local name = path:sub(#dir + 2)
        local src = without_meta(path, assert(text.readfile(path), "cannot read " .. path))
        db:exec("SAVEPOINT migrun_pgtap_file")
        local lines, ferr = run_file(db, path, src)
        db:exec("ROLLBACK TO SAVEPOINT migrun_pgtap_file")
        local tests, planned = parse_tap(lines)
        for _, t in ipairs(tests) do
          t.file = name
          details[#details + 1] = t
          if t.ok or t.todo then passed = passed + 1 else
            failed = failed + 1
            ok_all = false
            if #problems < 5 then problems[#problems + 1] = string.format("%s: not ok %s", name, shown(t)) end
          end
        end
        if ferr then
          ok_all = false
          local where = ferr.line and string.format("%s:%d:%d", name, ferr.line, ferr.col or 1) or name
          local msg = string.format("%s: %s%s", where, (tostring(ferr.message or errors.text(ferr)):match("[^\n]*")),
                                    ferr.sqlstate and (" (SQLSTATE " .. ferr.sqlstate .. ")") or "")
          details[#details + 1] = { file = name, error = msg }
          problems[#problems + 1] = msg
        elseif planned and planned ~= #tests then
          ok_all = false
          problems[#problems + 1] = string.format("%s: planned %d tests, ran %d", name, planned, #tests)
        elseif #tests == 0 then
          ok_all = false
          problems[#problems + 1] = name .. ": no test ran (is it a pgTAP file?)"
        end
      end
    end)
    pcall(sp.rollback, sp)
    if own then pcall(own.rollback, own) end
    if not ok then error(err, 0) end
    local actual = string.format("%d of %d passed in %d file(s)", passed, passed + failed, #files)
    if #problems > 0 then actual = actual .. ": " .. table.concat(problems, "; ") end
    return ok_all, actual, "every test passes", details
  end,
}

return M
