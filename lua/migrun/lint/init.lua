--- migrun.lint: the linter engine (policy layer). Parses SQL with PostgreSQL's own parser
-- (migrun.core.pgquery), walks the statements in order with what a file linter cannot know
-- (which tables are new, whether a statement runs in a transaction, the effective
-- lock_timeout, the server's table sizes), and runs the rules of lint/rules/ on them.
--
--   lint.sql(text, opts) -> findings           lint.playbook(pb, opts) -> findings
--   lint.files(paths, opts) -> findings, parse_errors
--   lint.render(findings, format, opts) -> text   lint.write(file, findings, format, opts)
--   lint.exit_code(findings, parse_errors) -> 0|1|2
local ast = require "migrun.lint.ast"
local errors = require "migrun.errors"
local pgquery = require "migrun.core.pgquery"
local text = require "migrun.text"

local M = {}

--- The rules, in the order of docs/lint/README.md; each is lua/migrun/lint/rules/<id>.lua.
M.RULE_IDS = {
  -- locks and rewrites
  "require-concurrent-index", "require-concurrent-drop-index", "require-concurrent-reindex",
  "concurrently-in-transaction", "constraint-missing-not-valid", "validate-in-same-transaction",
  "require-unique-using-index", "set-not-null", "changing-column-type",
  "adding-field-with-default", "adding-serial-column", "exclusion-constraint",
  "require-concurrent-detach", "table-rewrite", "multiple-alter-table",
  "more-work-after-access-exclusive", "require-lock-timeout",
  -- breaking running code, losing data
  "ban-drop-table", "ban-drop-column", "ban-drop-database", "ban-drop-schema",
  "ban-drop-not-null", "renaming-table", "renaming-column", "renaming-schema",
  "renaming-enum-value", "ban-truncate-cascade", "adding-required-field", "whole-table-dml",
  -- types
  "prefer-jsonb", "ban-char-field", "prefer-text-field", "prefer-bigint-over-int",
  "prefer-timestamptz", "prefer-identity", "identifier-too-long",
  -- transactions
  "transaction-nesting", "ban-uncommitted-transaction",
  -- playbooks
  "phase-without-rollback", "rollback-undoes-nothing", "concurrent-index-if-not-exists",
  -- suppressions
  "allow-without-reason", "allow-unknown-rule",
}

-- Where the rule pages (docs/lint/<id>.md) are on this machine, as a finding names them: in
-- the source tree beside lua/ (a build: share/migrun/lua links to it), else installed under
-- share/doc/migrun; relative to the working directory when under it; else as in the repo.
local function docs_dir()
  local lfs = require "lfs"
  local here = package.searchpath("migrun.lint", package.path) or ""
  local lua_dir = here:match("^(.*)/migrun/lint/init%.lua$")
  if not lua_dir then return "docs/lint/" end
  local source = lfs.symlinkattributes(lua_dir, "target")
  local candidates = {
    (source or lua_dir):match("^(.*)/lua$") and ((source or lua_dir):match("^(.*)/lua$") .. "/docs/lint"),
    lua_dir:match("^(.*)/migrun/lua$") and (lua_dir:match("^(.*)/migrun/lua$") .. "/doc/migrun/docs/lint"),
  }
  for _, dir in ipairs(candidates) do
    dir = dir:gsub("/[^/]+/%.%./", "/")              -- bin/../share
    if lfs.attributes(dir, "mode") == "directory" then
      local cwd = lfs.currentdir()
      if cwd and dir:sub(1, #cwd + 1) == cwd .. "/" then dir = dir:sub(#cwd + 2) end
      return dir .. "/"
    end
  end
  return "docs/lint/"
end
M.DEFAULT_PG_VERSION = 150000
M.DEFAULT_LOCK_TIMEOUT_MS = 2000     -- what migrun sets when the playbook does not say

-- Statement tags no rule reads beyond their tag: libpg_query's JSON for them is skipped, not
-- decoded (a seed file of INSERTs is most of its bytes).
-- A SELECT matters only when it is SELECT ... INTO (it creates a table): those are parsed again
-- in full (see lint_text).
local SKIP = { InsertStmt = true, CopyStmt = true, CreateFunctionStmt = true, DoStmt = true,
               CreatePolicyStmt = true, GrantStmt = true, CommentStmt = true,
               GrantRoleStmt = true, AlterDefaultPrivilegesStmt = true, SelectStmt = true,
               ExplainStmt = true, VariableShowStmt = true }

-- A rule module: {id, severity, summary, tags = {statement tags, "*" for all}, check(stmt, u)}
-- and/or {cmds = {AlterTableCmd subtypes}, check_cmd(stmt, u, cmd, i)} (called once per
-- ALTER TABLE action of those subtypes, on tables that are not new), and/or {types = {type
-- names}, check_column(stmt, u, c)} (each column a CREATE TABLE, ADD COLUMN or ALTER ... TYPE
-- gives one of those types, c from ast.columns), finish(u) at the end of a file or phase.
local rules, by_tag, by_cmd, by_type, finishers
local function load_rules()
  if rules then return end
  rules, by_tag, by_cmd, by_type, finishers = {}, {}, {}, {}, {}
  for _, id in ipairs(M.RULE_IDS) do
    local r = require("migrun.lint.rules." .. id)
    assert(r.id == id, "lint rule file " .. id .. " declares " .. tostring(r.id))
    M.DOCS = M.DOCS or docs_dir()
    r.url = M.DOCS .. id .. ".md"
    rules[id] = r
    for _, tag in ipairs(r.tags or {}) do
      by_tag[tag] = by_tag[tag] or {}
      table.insert(by_tag[tag], r)
    end
    for _, st in ipairs(r.cmds or {}) do
      by_cmd[st] = by_cmd[st] or {}
      table.insert(by_cmd[st], r)
    end
    for _, ty in ipairs(r.types or {}) do
      by_type[ty] = by_type[ty] or {}
      table.insert(by_type[ty], r)
    end
    if r.finish then finishers[#finishers + 1] = r end
  end
end

--- lint.rules() -> {id = rule}: every rule module (id, severity, summary, url, ...)
function M.rules()
  load_rules()
  return rules
end

-- Names other linters give these rules, so their reviewed suppressions keep working:
-- `-- squawk-ignore NAME[, NAME]`, `-- squawk-ignore-file ...` and `-- eugene: ignore ID`.
local FOREIGN = {
  ["adding-foreign-key-constraint"] = { "constraint-missing-not-valid" },
  ["adding-not-nullable-field"] = { "set-not-null" },
  ["adding-serial-primary-key-field"] = { "require-unique-using-index" },
  ["ban-alter-domain-with-add-constraint"] = { "constraint-missing-not-valid" },
  ["ban-concurrent-index-creation-in-transaction"] = { "concurrently-in-transaction" },
  ["constraint-missing-not-valid"] = { "constraint-missing-not-valid", "validate-in-same-transaction" },
  ["disallowed-unique-constraint"] = { "require-unique-using-index" },
  ["prefer-big-int"] = { "prefer-bigint-over-int" },
  ["prefer-bigint-over-smallint"] = { "prefer-bigint-over-int" },
  ["require-concurrent-index-creation"] = { "require-concurrent-index" },
  ["require-concurrent-index-deletion"] = { "require-concurrent-drop-index" },
  ["require-concurrent-partition-detach"] = { "require-concurrent-detach" },
  ["require-timeout-settings"] = { "require-lock-timeout" },
  ["prefer-repack"] = { "table-rewrite" },
  E1 = { "constraint-missing-not-valid" }, E2 = { "set-not-null" }, E3 = { "prefer-jsonb" },
  E4 = { "more-work-after-access-exclusive" }, E5 = { "changing-column-type" },
  E6 = { "require-concurrent-index" }, E7 = { "require-unique-using-index" },
  E8 = { "exclusion-constraint" }, E9 = { "require-lock-timeout" },
  E10 = { "more-work-after-access-exclusive" },
  E11 = { "adding-serial-column", "adding-field-with-default" },
  W12 = { "multiple-alter-table" }, W14 = { "set-not-null" },
  -- atlas analyzers and codes (`-- atlas:nolint destructive DS102`)
  destructive = { "ban-drop-table", "ban-drop-column", "ban-drop-schema" },
  data_depend = { "adding-required-field", "set-not-null" },
  incompatible = { "renaming-table", "renaming-column" },
  DS101 = { "ban-drop-schema" }, DS102 = { "ban-drop-table" }, DS103 = { "ban-drop-column" },
  MF103 = { "adding-required-field" }, MF104 = { "set-not-null" },
  BC101 = { "renaming-table" }, BC102 = { "renaming-column" },
}

local function foreign_rules(name, into)
  name = name:match("^%s*(.-)%s*$")
  if name == "" then return end
  local mapped = FOREIGN[name] or FOREIGN[name:upper()]
  if mapped then
    for _, id in ipairs(mapped) do into[id] = true end
  elseif rules[name] then
    into[name] = true
  end
end

-- ---------------------------------------------------------------------------------------
-- Positions

local function line_index(src)
  local starts, n = { 1 }, 1
  local i = 1
  while true do
    local nl = src:find("\n", i, true)
    if not nl then break end
    n = n + 1
    starts[n] = nl + 1
    i = nl + 1
  end
  return starts
end

-- the line of byte pos: findings come in order, so walk on from the last answer a little,
-- else bisect
local function line_of(u, pos)
  local starts = u.lines
  local n = #starts
  local l = u.last_line or 1
  if starts[l] <= pos then
    local limit = math.min(n, l + 32)
    while l < limit and starts[l + 1] <= pos do l = l + 1 end
    if l == n or starts[l + 1] > pos then
      u.last_line = l
      return l
    end
  end
  local lo, hi = 1, n
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if starts[mid] <= pos then lo = mid else hi = mid - 1 end
  end
  u.last_line = lo
  return lo
end

-- 1-based line and character column of byte pos in src
local function locate(u, pos)
  local l = line_of(u, pos)
  local start = u.lines[l]
  local col = utf8.len(u.src, start, pos - 1) or (pos - start)
  return l, col + 1
end

-- the file line and column a finding shows for byte pos of a unit's text
local function file_position(u, pos)
  local line, col = locate(u, pos)
  if line == 1 then col = col + (u.col_offset or 0) end
  return line + (u.line_offset or 0), col
end

-- ---------------------------------------------------------------------------------------
-- Sizes (connected): severity rises with the table

local function human_bytes(b)
  local units = { "bytes", "kB", "MB", "GB", "TB" }
  local i = 1
  while b >= 1024 and i < #units do b = b / 1024; i = i + 1 end
  if i == 1 then return string.format("%d bytes", b) end
  return string.format(b < 10 and "%.1f %s" or "%.0f %s", b, units[i])
end

local function human_rows(n)
  if n >= 1e9 then return string.format("%.1fG", n / 1e9) end
  if n >= 1e7 then return string.format("%.0fM", n / 1e6) end
  if n >= 1e6 then return string.format("%.1fM", n / 1e6) end
  if n >= 1e4 then return string.format("%.0fk", n / 1e3) end
  return tostring(math.floor(n))
end

-- bytes per second each kind of work gets through, roughly (for "holds it for minutes")
-- (a rewrite also rebuilds every index and writes it all to WAL)
local RATE = { rewrite = 15e6, scan = 200e6, build = 30e6, validate = 100e6, update = 20e6 }

local function duration_words(seconds)
  if seconds < 1 then return "under a second" end
  if seconds < 90 then return string.format("about %d s", math.ceil(seconds)) end
  if seconds < 5400 then return "minutes" end
  return "hours"
end

M.SMALL_ROWS, M.SMALL_BYTES = 10000, 16 * 1024 * 1024
M.BIG_ROWS, M.BIG_BYTES = 1000000, 1024 * 1024 * 1024

-- severity and message suffix for a finding on a table the server knows
local function sized(f, info, effect, lock)
  local rows = info.rows
  local bytes = info.bytes or 0
  local rows_text = rows and rows >= 0 and (human_rows(rows) .. " rows, ") or ""
  local what = string.format("%s has %s%s", f.table, rows_text, human_bytes(bytes))
  local small = (rows == nil or rows < M.SMALL_ROWS) and bytes < M.SMALL_BYTES
  local big = (rows and rows >= M.BIG_ROWS) or bytes >= M.BIG_BYTES
  if small then
    if f.severity == "error" then f.severity = "warning" end
    f.message = f.message .. string.format(" (%s: small, so brief)", what)
  else
    if big then f.severity = "error" end
    local rate = RATE[effect]
    if rate then
      local verb = ({ rewrite = "this rewrite", scan = "this scan", build = "this build",
                      validate = "this validation", update = "this update" })[effect]
      f.message = f.message .. string.format(" (%s: %s holds %s for %s)", what, verb,
        lock and ast.LOCK_NAME[lock] or "its lock", duration_words(bytes / rate))
    else
      f.message = f.message .. string.format(" (%s)", what)
    end
  end
end

-- ---------------------------------------------------------------------------------------
-- The context of a run of statements (a file, a phase, a rollback)

--- lint.version_num(v) -> 150000 for 15, "15", "15.4", 150004 (nil for nil)
function M.version_num(v)
  if v == nil then return nil end
  local major, minor = tostring(v):match("^(%d+)%.?(%d*)$")
  major = tonumber(major)
  if not major then error(string.format("lint: not a PostgreSQL version: %s", tostring(v)), 2) end
  if major >= 10000 then return major end
  if major >= 10 then return major * 10000 + (tonumber(minor) or 0) end
  return major * 10000 + (tonumber(minor) or 0) * 100     -- 9.6 -> 90600
end

local Unit = {}
Unit.__index = Unit

local function new_shared(opts)
  local server = opts.server       -- what lint/server.lua answers (a stand-in in specs)
  if not server and opts.db then server = require("migrun.lint.server").new(opts.db) end
  local pg_version = M.version_num(opts.pg_version)
  if not pg_version and server then pg_version = server:version() end
  return {
    pg_version = pg_version or M.DEFAULT_PG_VERSION,
    server = server,
    levels = opts.levels or {},
    findings = opts.findings or {},
    new_tables = {}, new_indexes = {}, new_columns = {}, new_constraints = {},
    new_schemas = {}, new_types = {},
    catalog = {},                 -- tables whose columns the script declared or changed
    indexes = {},                 -- indexes the script created: {table, columns, unique}
    seen = {},                    -- file:line:col:rule already reported (a file in two phases)
  }
end

local function new_unit(shared, opts, src)
  local u = setmetatable({
    shared = shared, src = src, file = opts.file or "<sql>",
    line_offset = opts.line_offset or 0, col_offset = opts.col_offset or 0,
    in_transaction = opts.in_transaction, playbook = opts.playbook, phase = opts.phase,
    rollback = opts.rollback,
    lock_timeout_ms = opts.lock_timeout_ms,
    pg_version = shared.pg_version,
  }, Unit)
  u.lines = line_index(src)
  for k in pairs(opts.known_new or {}) do
    shared.new_tables[type(k) == "string" and k or opts.known_new[k]] = true
  end
  return u
end

--- u:is_new(table) -> true when the table was created earlier in this file, phase or
-- playbook (new and empty: its locks block nobody)
function Unit:is_new(name)
  return name ~= nil and self.shared.new_tables[name] == true
end

--- u:table(name) -> what is known of a table: {columns = {col = {type=, notnull=}},
-- checks = {conname = {column=, validated=}}, partitioned=} from the script, else the server
local function column_info(coldef, t)
  local info = { type = t or ast.type(coldef.typeName), notnull = false }
  for _, c in ipairs(ast.constraints(coldef)) do
    if c.contype == "CONSTR_NOTNULL" or c.contype == "CONSTR_PRIMARY" then info.notnull = true end
  end
  return info
end

-- the catalog entry of a table a CREATE TABLE of the script declared: its columns, built
-- from the statement at once (keeping the statement's tree for later would hold every
-- CREATE TABLE of a long file in memory)
local function created_table(stmt)
  local t = { columns = {}, checks = {}, from_script = true, partitioned = stmt.tree.partspec ~= nil }
  for _, c in ipairs(ast.columns(stmt)) do t.columns[c.col] = column_info(c.node, c.type) end
  for _, el in ipairs(ast.list(stmt.tree.tableElts)) do
    if el.tag == "Constraint" and el.contype == "CONSTR_PRIMARY" then
      for _, k in ipairs(ast.list(el.keys)) do
        if t.columns[k] then t.columns[k].notnull = true end
      end
    end
  end
  return t
end

function Unit:table(name)
  if not name then return nil end
  local t = self.shared.catalog[name]
  if t then return t end
  if self.shared.server then
    t = self.shared.server:table(name)
    if t then self.shared.catalog[name] = t end
  end
  return t
end

-- the catalog entry for a table the script changes, created on first use
function Unit:table_entry(name)
  local t = self:table(name)
  if not t then
    t = { columns = {}, checks = {}, from_script = true }
    self.shared.catalog[name] = t
  end
  return t
end

--- u:index_table(index) -> the table an index belongs to (created in the script, or on the
-- server), or nil
function Unit:index_table(name)
  local ix = self.shared.new_indexes[name]
  if ix then return ix.table end
  if self.shared.server then return self.shared.server:index_table(name) end
  return nil
end

--- u:line(stmt) -> the line of the statement in its file (for messages: "at line 12")
function Unit:line(stmt)
  return (file_position(self, stmt.pos))
end

--- u:text(stmt) -> the statement's SQL as written
function Unit:text(stmt)
  return self.src:sub(stmt.pos, stmt.stop)
end

--- u:volatility(expr) -> "stable" | "volatile" | "unknown", culprit (server-aware)
function Unit:volatility(expr)
  local server = self.shared.server
  return ast.volatility(expr, server and function(name, nargs)
    return server:volatility(name, nargs)
  end)
end

--- u:report(stmt, rule_id, f): a finding at the statement. f: message (required), fix,
-- table, severity (else the rule's), effect ("rewrite", "scan", "build", "validate",
-- "update": sized with the server's figures), lock (the lock it holds), pos (a byte inside
-- the statement to point at, else its start)
function Unit:report(stmt, id, f)
  local rule = rules[id]
  local level = self.shared.levels[id]
  if level == "off" then return end
  if stmt and stmt.ignore and (stmt.ignore.all or stmt.ignore[id]) then return end
  if self.file_ignore and (self.file_ignore.all or self.file_ignore[id]) then return end
  local allow = stmt and stmt.allow and stmt.allow[id]
  if allow then
    allow.used = true
    return
  end
  local pos = (stmt and (f.pos or stmt.pos)) or 1
  local line, col = file_position(self, pos)
  if f.line then line, col = f.line, f.col or 1 end
  local finding = {
    rule = id, severity = f.severity or rule.severity, file = f.file or self.file,
    line = line, col = col, message = f.message, fix = f.fix, url = rule.url,
    table = f.table, phase = self.phase,
  }
  if stmt then
    local nl = self.src:find("\n", stmt.pos, true)
    local last = math.min(stmt.stop, nl and nl - 1 or stmt.stop, stmt.pos + 119)
    finding.statement = self.src:sub(stmt.pos, last)
  end
  if f.table and f.effect ~= "none" and self.shared.server and not self:is_new(f.table) then
    local info = self.shared.server:size(f.table)
    if info then sized(finding, info, f.effect, f.lock) end
  end
  if level == "warn" then finding.severity = "warning" end
  if level == "error" then finding.severity = "error" end
  if self.playbook then           -- one .sql file can be a step of two phases
    local key = string.format("%s:%d:%d:%s", finding.file, finding.line, finding.col, id)
    if self.shared.seen[key] then return end
    self.shared.seen[key] = true
  end
  local list = self.shared.findings
  list[#list + 1] = finding
end

-- ---------------------------------------------------------------------------------------
-- Comments: suppressions, foreign ignores, file markers

local function comment_body(c)
  if c:sub(1, 2) == "--" then return c:sub(3) end
  return c:sub(3, -3)
end

-- which statement each comment belongs to: inside it, trailing on its last line, or the
-- next statement's leading comments
-- which statement each comment belongs to: inside it, trailing on its last line, or the
-- next statement's leading comments. d: {pos = {}, stop = {}} of the statements; fills
-- d.comments[i] and d.leading[i]
local function attach_comments(u, d, comments)
  local pos, stop, n = d.pos, d.stop, d.n
  local si = 1
  local all, leading = {}, {}
  for _, c in ipairs(comments) do
    while si <= n and stop[si] < c.pos do si = si + 1 end
    local target
    if si <= n and c.pos >= pos[si] then
      target = si
    elseif si > 1 and (u.src:find("\n", stop[si - 1], true) or c.pos) >= c.pos then
      target = si - 1                      -- no newline between the statement's end and it
    elseif si <= n then
      target = si
      leading[si] = leading[si] or {}
      table.insert(leading[si], c)
    end
    if target then
      all[target] = all[target] or {}
      table.insert(all[target], c)
    end
  end
  d.comments, d.leading = all, leading
end

local function parse_directives(u, stmt)
  for _, c in ipairs(stmt.comments or {}) do
    local body = comment_body(u.src:sub(c.pos, c.stop))
    local allow = body:match("^%s*migrun:allow%s*(.*)$")
    if allow then
      local names, reason = allow:match("^([%w%-_,]+)%s*(.*)$")
      stmt.allow = stmt.allow or {}
      local entry = { reason = reason ~= "" and reason or nil, comment = c }
      for name in (names or ""):gmatch("[^,]+") do
        if not rules[name] then
          u:report(stmt, "allow-unknown-rule", { pos = c.pos,
            message = string.format("migrun:allow names %s, which is not a lint rule%s", name,
              text.did_you_mean(name, M.RULE_IDS)),
            fix = "-- migrun:allow " .. (text.suggest(name, M.RULE_IDS) or "RULE-ID") .. " <why it is safe here>" })
        else
          stmt.allow[name] = entry
        end
      end
      if not names then
        u:report(stmt, "allow-without-reason", { pos = c.pos,
          message = "migrun:allow without a rule and a reason suppresses nothing",
          fix = "-- migrun:allow RULE-ID <why it is safe here>" })
      elseif not entry.reason then
        u:report(stmt, "allow-without-reason", { pos = c.pos,
          message = string.format("migrun:allow %s gives no reason: say why it is safe here", names),
          fix = "-- migrun:allow " .. names .. " <why it is safe here>" })
      end
    end
    local sq_file, sq = body:match("^%s*squawk%-ignore(%-?f?i?l?e?)%s*(.*)$")
    if sq then
      local into
      if sq_file == "-file" then
        u.file_ignore = u.file_ignore or {}
        into = u.file_ignore
      else
        stmt.ignore = stmt.ignore or {}
        into = stmt.ignore
      end
      sq = sq:gsub("%-%-.*$", "")
      if sq:match("^%s*$") then into.all = true end
      for name in sq:gmatch("[^,%s]+") do foreign_rules(name, into) end
    end
    local nolint = body:match("^%s*atlas:nolint%s*(.*)$")
    if nolint then
      -- followed by a blank line, atlas applies it to the whole file
      local after = u.src:sub(c.stop + 1, stmt.pos - 1)
      local into
      if after:find("\n%s*\n") then
        u.file_ignore = u.file_ignore or {}
        into = u.file_ignore
      else
        stmt.ignore = stmt.ignore or {}
        into = stmt.ignore
      end
      if nolint:match("^%s*$") then into.all = true end
      for name in nolint:gmatch("[^,%s]+") do foreign_rules(name, into) end
    end
    local eu = body:match("^%s*eugene:%s*ignore%s*(.*)$")
    if eu then
      stmt.ignore = stmt.ignore or {}
      if eu:match("^%s*$") then stmt.ignore.all = true end
      for name in eu:gmatch("[^,%s]+") do foreign_rules(name, stmt.ignore) end
    end
  end
end

-- a `-- 2.sql` or `-- file: 2.sql` line among a statement's leading comments: concatenated
-- migration files; tables created before it are no longer new
local function starts_file(u, leading)
  for _, c in ipairs(leading or {}) do
    local s = u.src:sub(c.pos, c.stop)
    if s:match("^%-%-%s*file:%s*[^%s;:]+%.sql%s*$") or s:match("^%-%-%s*[^%s;:]+%.sql%s*$") then
      return true
    end
  end
  return false
end

-- ---------------------------------------------------------------------------------------
-- What a statement changes in the context (after the rules have seen it)

local function new_tx(explicit)
  return { explicit = explicit, ae = {}, altered = {}, not_valid = {}, lock_timeout_ms = nil,
           reported = {}, work_after = {} }
end

local CREATES = { CreateStmt = true, CreateTableAsStmt = true, ViewStmt = true,
                  CreateForeignTableStmt = true }


local function track(u, stmt)
  local tree = stmt.tree
  local tag = tree.tag
  local sh = u.shared
  if tag == "CreateStmt" or tag == "CreateForeignTableStmt" then
    local name = ast.relname(tree.relation)
    sh.new_tables[name] = true
    sh.catalog[name] = created_table(stmt)
  elseif CREATES[tag] then
    local rel = tree.into and tree.into.rel or tree.view
    if rel then sh.new_tables[rel.relname] = true end
  elseif tag == "SelectStmt" and tree.intoClause then
    sh.new_tables[tree.intoClause.rel.relname] = true
  elseif tag == "IndexStmt" then
    if tree.idxname then
      local cols = {}
      for _, p in ipairs(ast.list(tree.indexParams)) do cols[#cols + 1] = p.name end
      local ix = { table = ast.relname(tree.relation), columns = cols, unique = tree.unique }
      sh.new_indexes[tree.idxname], sh.indexes[tree.idxname] = ix, ix
    end
  elseif tag == "CreateSchemaStmt" then
    if tree.schemaname then sh.new_schemas[tree.schemaname] = true end
  elseif tag == "CreateEnumStmt" then
    sh.new_types[ast.last(tree.typeName)] = true
  elseif tag == "CreateDomainStmt" then
    sh.new_types[ast.last(tree.domainname)] = true
  elseif tag == "CompositeTypeStmt" and tree.typevar then
    sh.new_types[tree.typevar.relname] = true
  elseif tag == "RenameStmt" then
    if tree.renameType == "OBJECT_TABLE" and tree.relation then
      local old = tree.relation.relname
      if sh.new_tables[old] then sh.new_tables[tree.newname] = true end
      sh.catalog[tree.newname] = sh.catalog[old]
    elseif tree.renameType == "OBJECT_COLUMN" and tree.relation then
      local t = sh.catalog[tree.relation.relname] and u:table(tree.relation.relname)
      if t and t.columns[tree.subname] then
        t.columns[tree.newname], t.columns[tree.subname] = t.columns[tree.subname], nil
      end
    end
  elseif tag == "DropStmt" and tree.removeType == "OBJECT_TABLE" then
    for _, o in ipairs(ast.list(tree.objects)) do
      local name = ast.last(o.items or o)
      sh.catalog[name] = nil
    end
  elseif tag == "AlterTableStmt" and tree.relation then
    local name = tree.relation.relname
    for _, cmd in ipairs(ast.list(tree.cmds)) do
      local st, def = cmd.subtype, cmd.def
      if st == "AT_AddColumn" and def then
        sh.new_columns[name .. "." .. def.colname] = true
        u:table_entry(name).columns[def.colname] = column_info(def)
      elseif st == "AT_AlterColumnType" and def then
        local t = u:table(name)
        if t and t.columns[cmd.name] then t.columns[cmd.name].type = ast.type(def.typeName) end
      elseif st == "AT_SetNotNull" then
        local t = u:table(name)
        if t and t.columns[cmd.name] then t.columns[cmd.name].notnull = true end
      elseif st == "AT_DropNotNull" then
        local t = u:table(name)
        if t and t.columns[cmd.name] then t.columns[cmd.name].notnull = false end
      elseif st == "AT_DropColumn" then
        local t = u:table(name)
        if t then t.columns[cmd.name] = nil end
      elseif st == "AT_AddConstraint" and def and def.tag == "Constraint" then
        if def.conname then sh.new_constraints[def.conname] = name end
        if def.contype == "CONSTR_CHECK" then
          local col = ast.not_null_column(def.raw_expr)
          if col then
            u:table_entry(name).checks[def.conname or ("?" .. col)] =
              { column = col, validated = not def.skip_validation }
          end
        end
      elseif st == "AT_ValidateConstraint" then
        local t = u:table_entry(name)
        local c = t.checks[cmd.name]
        if c then c.validated = true else t.validated_unknown = true end
      end
    end
  end
end

local NOT_WORK = { TransactionStmt = true, VariableSetStmt = true, VariableShowStmt = true }

-- the statements track() reads
local TRACKED = { CreateStmt = true, CreateForeignTableStmt = true, CreateTableAsStmt = true,
                  ViewStmt = true, SelectStmt = true, IndexStmt = true, CreateSchemaStmt = true,
                  CreateEnumStmt = true, CreateDomainStmt = true, CompositeTypeStmt = true,
                  RenameStmt = true, DropStmt = true, AlterTableStmt = true }

-- transaction bookkeeping once the rules have run
local function track_tx(u, stmt)
  local tree = stmt.tree
  local tx = u.tx
  if not tx then return end
  if tree.tag == "VariableSetStmt" then return end
  local locks = ast.locks(tree)
  -- (a table being dropped has no readers left to block)
  if tree.tag ~= "DropStmt" then
    for rel, lock in pairs(locks) do
      if lock == "AccessExclusive" and not u:is_new(rel) and not tx.ae[rel] then
        tx.ae[rel] = stmt
      end
    end
  end
  if tree.tag == "AlterTableStmt" and tree.relation then
    local rel = tree.relation.relname
    tx.altered[rel] = stmt
    tx.work_after[rel] = nil
    for _, cmd in ipairs(ast.list(tree.cmds)) do
      if cmd.subtype == "AT_AddConstraint" and cmd.def and cmd.def.skip_validation and cmd.def.conname then
        tx.not_valid[cmd.def.conname] = { table = rel, stmt = stmt }
      end
    end
  elseif not NOT_WORK[tree.tag] then
    -- a statement between two ALTERs of a table: they cannot simply be merged
    for rel in pairs(tx.altered) do tx.work_after[rel] = true end
  end
end

-- ---------------------------------------------------------------------------------------
-- The walk

local function set_lock_timeout(u, stmt)
  local tree = stmt.tree
  if tree.tag ~= "VariableSetStmt" or tree.name ~= "lock_timeout" then return end
  local value
  if tree.kind == "VAR_SET_VALUE" then
    value = ast.duration_ms((tree.args or ast.EMPTY)[1])
  else
    value = u.default_lock_timeout_ms
  end
  if tree.is_local then
    if u.tx then u.tx.lock_timeout_ms = value end
  else
    u.lock_timeout_ms = value
    if u.tx then u.tx.lock_timeout_ms = nil end
  end
end

--- u:lock_timeout() -> the lock_timeout in force for the next statement, in ms (0 = none)
function Unit:lock_timeout()
  if self.tx and self.tx.lock_timeout_ms then return self.tx.lock_timeout_ms end
  return self.lock_timeout_ms
end

local function run_rules(u, stmt)
  local tree = stmt.tree
  local list = by_tag[tree.tag]
  if list then
    for i = 1, #list do list[i].check(stmt, u) end
  end
  if tree.tag == "CreateStmt" or tree.tag == "AlterTableStmt" then
    local cols = ast.columns(stmt)
    for i = 1, #cols do
      local c = cols[i]
      local l = c.type and by_type[c.type.name]
      if l then
        for k = 1, #l do l[k].check_column(stmt, u, c) end
      end
    end
  end
  if tree.tag == "AlterTableStmt" and not stmt.rel_new then
    local cmds = tree.cmds
    for i = 1, #(cmds or ast.EMPTY) do
      local cmd = cmds[i]
      local l = by_cmd[cmd.subtype]
      if l then
        for k = 1, #l do l[k].check_cmd(stmt, u, cmd, i) end
      end
    end
  end
  local any = by_tag["*"]
  if any then
    for i = 1, #any do any[i].check(stmt, u) end
  end
end

local function finish_segment(u)
  for _, r in ipairs(finishers) do r.finish(u) end
end

-- does the file (from statement `from` to the next file marker) use SET LOCAL without a
-- BEGIN of its own? Then whatever runs it wraps it in a transaction.
local function segment_in_tx(d, from)
  local set_local = false
  for i = from, d.n do
    if i > from and d.starts_file[i] then break end
    local tag = d.tag[i]
    if tag == "VariableSetStmt" and d.doc:stmt(i).tree.is_local then set_local = true end
    if tag == "TransactionStmt" and ast.tx_kind(d.doc:stmt(i).tree) == "begin" then return false end
  end
  return set_local
end

local function begin_segment(u, d, i)
  local in_tx = u.in_transaction
  if in_tx == nil then in_tx = segment_in_tx(d, i) end
  u.base_in_tx = in_tx
  u.tx = in_tx and new_tx(false) or nil
  u.explicit_begin = nil
  u.lock_timeout_ms = u.default_lock_timeout_ms
end

-- a migrun.error{kind="parse"} with the file position of the parser's cursor
local function parse_error(u, e)
  if not errors.is(e) then error(e, 0) end
  local fields = { file = u.file }
  if e.position then fields.line, fields.col = file_position(u, e.position) end
  fields.position = e.position
  return errors.new("parse", e.message or "syntax error", fields)
end

local INTO = "%f[%w_][Ii][Nn][Tt][Oo]%f[^%w_]"

-- Lint u.src statement by statement. Trees are decoded one at a time from the parse (doc)
-- and dropped after their statement, and the parse releases each statement's JSON once it is
-- linted: a 10k-statement file never has all its trees in memory, as JSON or as tables.
local function lint_text(u)
  local ok, doc = pcall(pgquery.open, u.src)
  if not ok then error(parse_error(u, doc), 0) end
  local n = doc:count()
  local d = { doc = doc, n = n, tag = {}, pos = {}, stop = {}, starts_file = {} }
  for i = 1, n do d.tag[i], d.pos[i], d.stop[i] = doc:info(i) end
  local comments = doc:comments()
  if #comments > 0 and not u.playbook then
    -- a file that manages its own transactions (squawk's directive, honoured for migrations
    -- that carry it): infer from its BEGIN/COMMIT instead of assuming one transaction
    for _, c in ipairs(comments) do
      if u.src:sub(c.pos, c.stop):find("squawk-disable-assume-in-transaction", 1, true) then
        u.in_transaction = nil
      end
    end
  end
  if #comments > 0 then
    attach_comments(u, d, comments)
    for i in pairs(d.leading) do
      if i > 1 and starts_file(u, d.leading[i]) then d.starts_file[i] = true end
    end
  end
  u.tags, u.into, u.first_stmt = d.tag, {}, nil
  if u.default_lock_timeout_ms == nil then
    u.default_lock_timeout_ms = u.lock_timeout_ms or M.DEFAULT_LOCK_TIMEOUT_MS
  end
  begin_segment(u, d, 1)
  for i = 1, n do
    local tag = d.tag[i]
    local stmt
    if tag == "SelectStmt" and u.src:sub(d.pos[i], d.stop[i]):find(INTO) then
      stmt = doc:stmt(i)                   -- SELECT ... INTO creates a table: read it in full
      if stmt.tree.intoClause then u.into[i] = true end
    else
      stmt = doc:stmt(i, SKIP)
    end
    stmt.index, stmt.tag = i, tag
    stmt.comments = d.comments and d.comments[i]
    if i == 1 then u.first_stmt = stmt end
    if d.starts_file[i] then
      finish_segment(u)
      local sh = u.shared
      sh.new_tables, sh.new_indexes, sh.new_columns, sh.new_constraints = {}, {}, {}, {}
      sh.new_schemas, sh.new_types = {}, {}
      u.file_ignore = nil
      begin_segment(u, d, i)
    end
    if stmt.comments then parse_directives(u, stmt) end
    stmt.in_tx = u.tx ~= nil
    stmt.explicit_tx = u.tx ~= nil and u.tx.explicit
    local rv = stmt.tree.relation
    if rv then
      stmt.rel = rv.relname
      stmt.rel_new = u.shared.new_tables[rv.relname] == true
    end
    run_rules(u, stmt)
    -- the context after this statement
    local kind = tag == "TransactionStmt" and ast.tx_kind(stmt.tree)
    if kind == "begin" then
      if not u.tx then u.tx = new_tx(true) end
      if not u.explicit_begin then u.explicit_begin = stmt end
      u.tx.explicit = true
    elseif kind == "commit" or kind == "rollback" then
      u.tx, u.explicit_begin = nil, nil
    else
      if tag == "VariableSetStmt" then set_lock_timeout(u, stmt) end
      if u.tx then track_tx(u, stmt) end
      if TRACKED[tag] then track(u, stmt) end
    end
    doc:release(i)
  end
  finish_segment(u)
  doc:close()
end

-- "playbooks/../sql/x.sql" -> "sql/x.sql": the file as a person would name it
local function tidy_path(path)
  if not path:find("%.%./") and not path:find("/%./") then return path end
  local abs = path:sub(1, 1) == "/"
  local out = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #out > 0 and out[#out] ~= ".." then
      out[#out] = nil
    elseif part ~= "." then
      out[#out + 1] = part
    end
  end
  return (abs and "/" or "") .. table.concat(out, "/")
end
M.tidy_path = tidy_path

local function make_opts(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  return o
end

local function ms_of_ns(ns)
  return ns and ns // 1000000 or nil
end

--- lint.sql(text, opts) -> findings. opts: file, line_offset (lines before the text's first
-- line in its file), col_offset, in_transaction (true: runs inside one transaction, as a
-- migrun phase; false: each statement on its own, as psql; nil: inferred, SET LOCAL means a
-- transaction), pg_version (150000), db (a connection: sizes, types, volatility),
-- known_new = {table = true} (created before this text), lock_timeout_ms (in force; default
-- migrun's 2000), levels = {rule = "off"|"warn"|"error"}, playbook (linting a playbook's
-- step). Raises migrun.error{kind="parse", file, line, col} on SQL the parser rejects.
function M.sql(sql, opts)
  load_rules()
  opts = make_opts(opts)
  local shared = opts.shared or new_shared(opts)
  local u = new_unit(shared, opts, sql)
  lint_text(u)
  return shared.findings
end

-- the line and column where inline SQL starts inside the playbook source: step.line is a
-- line of the `sql [[...]]` call (Lua gives the line the call ends on), so look for the
-- text's first line around it
local function inline_position(src_lines, step)
  local sql = step.text
  local first = sql:match("^[^\n]*")
  local skip = 0
  local probe = first:match("^%s*(.-)%s*$")
  if probe == "" then                      -- the text starts on the line after its opening
    local rest = sql:match("^%s*\n(.*)$") or ""
    skip = select(2, sql:sub(1, #sql - #rest):gsub("\n", ""))
    first = rest:match("^[^\n]*")
    probe = first:match("^%s*(.-)%s*$")
  end
  if probe == "" then return step.line or 1, 0 end
  local nlines = select(2, sql:gsub("\n", "")) + 1
  local line = step.line or 1
  local order = {}
  for l = line, math.max(1, line - nlines - 1), -1 do order[#order + 1] = l end
  for l = line + 1, math.min(#src_lines, line + 2) do order[#order + 1] = l end
  for _, l in ipairs(order) do
    local at = src_lines[l] and src_lines[l]:find(probe, 1, true)
    if at then
      local lead = first:find(probe, 1, true) - 1
      if skip > 0 then return l - skip, 0 end
      return l, at - 1 - lead
    end
  end
  return line, 0
end

local function read_lines(path)
  local src = text.readfile(path)
  if not src then return {} end
  local lines = {}
  for l in (src .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  return lines
end

local READ_ONLY = { SelectStmt = true, VariableSetStmt = true, TransactionStmt = true,
                    VariableShowStmt = true, ExplainStmt = true }

local function is_noop_rollback(u)
  for i, tag in ipairs(u.tags) do
    if not READ_ONLY[tag] or u.into[i] then return false end
  end
  return true
end

--- lint.playbook(pb, opts) -> findings: every SQL step of every phase in order, with the
-- phase's transaction mode and lock_timeout, tables created by earlier phases known as new;
-- then each phase's rollback (everything the playbook creates is new to it); then the
-- playbook rules. opts: pg_version, db, findings (append to). pb.lint sets rule levels.
function M.playbook(pb, opts)
  load_rules()
  opts = make_opts(opts)
  opts.levels = pb.lint or {}
  local shared = new_shared(opts)
  local src_lines                      -- the playbook's lines, read for its first inline step
  local pb_file = pb.path

  for name in pairs(opts.levels) do
    if not rules[name] then
      local u = new_unit(shared, { file = pb_file }, "")
      u:report(nil, "allow-unknown-rule", { line = pb.line or 1, col = 1,
        message = string.format("lint = { [%q] = ... } names no lint rule%s", name,
          text.did_you_mean(name, M.RULE_IDS)) })
    end
  end

  local function lint_step(step, ph, extra)
    if step.kind ~= "sql" then return nil end
    local o = { shared = shared, in_transaction = ph.transaction ~= false, playbook = true,
                phase = ph.name, lock_timeout_ms = ms_of_ns(ph.lock_timeout or pb.lock_timeout) }
    for k, v in pairs(extra or {}) do o[k] = v end
    if step.file then
      o.file = tidy_path(step.path or step.file)
    else
      o.file = pb_file
      src_lines = src_lines or read_lines(pb.path)
      o.line_offset, o.col_offset = inline_position(src_lines, step)
      o.line_offset = o.line_offset - 1
    end
    local u = new_unit(shared, o, step.text)
    lint_text(u)
    return u
  end

  local phases = {}
  for _, item in ipairs(pb.items or {}) do
    if item.kind == "phase" then phases[#phases + 1] = item end
  end
  for _, ph in ipairs(phases) do
    for _, step in ipairs(ph.steps or {}) do lint_step(step, ph) end
  end
  -- rollbacks undo what the playbook did: the tables, columns and indexes it created are new
  for _, ph in ipairs(phases) do
    local rb = ph.rollback
    local anchor = new_unit(shared, { file = ph.file or pb_file, phase = ph.name, playbook = true }, "")
    if not rb then
      anchor:report(nil, "phase-without-rollback", { line = ph.line or 1, col = 1,
        message = string.format("phase '%s' has no rollback: if a later phase fails, migrun " ..
          "stops here and the database needs a human", ph.name),
        fix = "rollback = sql [[ <statements that undo this phase> ]]" })
    elseif rb.kind == "sql" then
      local u = lint_step(rb, ph, { rollback = true })
      if u and is_noop_rollback(u) then
        -- reported at its first statement, where `-- migrun:allow` may say why that is right
        local first = u.first_stmt
        local at = first and u or anchor
        at:report(first, "rollback-undoes-nothing", { line = not first and (u.line_offset or 0) + 1 or nil,
          col = not first and 1 or nil, file = not first and u.file or nil,
          message = string.format("the rollback of phase '%s' changes nothing: it only reads; " ..
            "a failed run would be reported as rolled back while the phase's changes stay",
            ph.name),
          fix = "write the statements that undo the phase, or remove `rollback` so migrun stops for a human" })
      end
    end
  end
  return shared.findings
end

--- lint.files(paths, opts) -> findings, parse_errors: .sql files (each statement on its own
-- unless the file says otherwise) and playbooks (.lua, loaded through migrun.dsl).
-- parse_errors: migrun.errors of kind "parse" or "playbook" (file, line, col, message).
function M.files(paths, opts)
  load_rules()
  opts = opts or {}
  local findings, parse_errors = {}, {}
  local seen = {}
  for _, path in ipairs(paths) do
    local ok, err = pcall(function()
      if path:match("%.lua$") then
        local pb = require("migrun.dsl").load(path, { vars = opts.vars or {} })
        if not pb then
          errors.raise("playbook", path .. " declares no playbook", { file = path })
        end
        M.playbook(pb, { pg_version = opts.pg_version, db = opts.db, findings = findings })
      else
        local src, e = text.readfile(path)
        if not src then errors.raise("usage", string.format("cannot read %s: %s", path, e)) end
        local o = make_opts(opts)
        o.file, o.findings = path, findings
        M.sql(src, o)
      end
    end)
    if not ok then
      if errors.is(err) and (err.kind == "parse" or err.kind == "playbook" or err.kind == "usage") then
        parse_errors[#parse_errors + 1] = err
      else
        error(err, 0)
      end
    end
  end
  -- a file linted twice (in two playbooks, or named too) reports once; in the order of file,
  -- line, column and rule, which keys with the numbers zero-padded (and the file before a NUL,
  -- which Lua compares apart) have as strings: sorted without a comparator called in Lua
  local keys = {}
  for _, f in ipairs(findings) do
    local key = string.format("%s\0%010d:%010d:%s", f.file, f.line, f.col, f.rule)
    if not seen[key] then
      seen[key] = f
      keys[#keys + 1] = key
    end
  end
  table.sort(keys)
  local out = {}
  for i, key in ipairs(keys) do out[i] = seen[key] end
  return out, parse_errors
end

--- lint.render(findings, format, opts) -> text: "text" (gcc style, colour with opts.color),
-- "json", "sarif" (2.1.0) or "github" (workflow annotations); opts.parse_errors too
function M.render(findings, format, opts)
  load_rules()
  return require("migrun.lint.format").render(findings, format or "text", opts or {}, rules)
end

--- lint.write(file, findings, format, opts): what render returns, written to file (a long
-- JSON report a finding at a time)
function M.write(file, findings, format, opts)
  load_rules()
  require("migrun.lint.format").write(file, findings, format or "text", opts or {}, rules)
end

--- lint.exit_code(findings, parse_errors) -> 0 clean (or warnings only), 1 an error-level
-- finding, 2 input the parser rejects
function M.exit_code(findings, parse_errors)
  if parse_errors and #parse_errors > 0 then return 2 end
  for _, f in ipairs(findings or {}) do
    if f.severity == "error" then return 1 end
  end
  return 0
end

--- lint.counts(findings) -> errors, warnings
function M.counts(findings)
  local e, w = 0, 0
  for _, f in ipairs(findings) do
    if f.severity == "error" then e = e + 1 else w = w + 1 end
  end
  return e, w
end

return M
