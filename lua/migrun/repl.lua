--- migrun.repl: `migrun repl`, a Lua prompt with `db` connected (policy layer).
-- On a terminal it reads through migrun.core.readline (editing, history in ~/.migrun_history,
-- completion, Ctrl-C discards the line or cancels the running query, Ctrl-D leaves); without
-- one it reads chunks from stdin, so it can be scripted. A chunk runs as soon as it is
-- complete; an expression's values are printed (query results as psql-like tables); an error
-- prints as the CLI prints it and the session goes on.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local sqlsplit = require "migrun.sqlsplit"
local text = require "migrun.text"
local sys = require "migrun.core.sys"
local term = require "migrun.core.term"

local M = {}

M.HISTORY_MAX = 1000       -- entries kept in ~/.migrun_history
M.MAX_ROWS = 500           -- rows a result table shows (the result keeps them all)
M.CELL_WIDTH = 40          -- a wider cell is cut (narrower when the terminal is narrow)

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local IS_KEYWORD = {}
for _, k in ipairs(KEYWORDS) do IS_KEYWORD[k] = true end

local NUMERIC = { int2 = true, int4 = true, int8 = true, float4 = true, float8 = true,
                  numeric = true, oid = true }

-- ---------------------------------------------------------------------------------------
-- Showing values

local function width(s)
  return utf8.len(s) or #s
end

-- the first n characters of s (bytes when s is not UTF-8)
local function head(s, n)
  if not utf8.len(s) then return s:sub(1, n) end
  local stop = utf8.offset(s, n + 1)
  return stop and s:sub(1, stop - 1) or s
end

local function cut(s, w)
  if width(s) <= w then return s end
  return head(s, w - 1) .. "…"
end

local function pad(s, w, align)
  local gap = w - width(s)
  if gap <= 0 then return s end
  if align == "right" then return (" "):rep(gap) .. s end
  if align == "center" then
    local left = gap // 2
    return (" "):rep(left) .. s .. (" "):rep(gap - left)
  end
  return s .. (" "):rep(gap)
end

-- one cell as text: NULL shown, line breaks and control characters made visible
local function cell(v)
  if v == nil then return "NULL" end
  local s = type(v) == "string" and v or tostring(v)
  s = s:gsub("\r\n", "\n"):gsub("\n", "↵"):gsub("\t", "  "):gsub("[%z\1-\31\127]", "?")
  return s
end

--- repl.is_result(v) -> true for what db:query returns (columns, ncols, n, rows)
function M.is_result(v)
  return type(v) == "table" and getmetatable(v) == nil and type(rawget(v, "columns")) == "table"
    and math.type(rawget(v, "ncols")) == "integer" and math.type(rawget(v, "n")) == "integer"
end

local function plural(n, one, many)
  return string.format("%d %s", n, n == 1 and one or many)
end

--- repl.format_result(res [, opts]) -> text: an aligned table like psql's, NULL shown, wide
-- cells cut, the row count and (opts.ns) the time under it. opts.width: the terminal's.
-- res.title goes above, res.footer (lines) below, res.hide_count drops the row count.
function M.format_result(res, opts)
  opts = opts or {}
  local lines = {}
  if res.title then lines[#lines + 1] = res.title end
  if res.ncols == 0 then
    lines[#lines + 1] = (res.command and res.command ~= "") and res.command or "(no columns)"
  else
    local shown = math.min(res.n, opts.max_rows or M.MAX_ROWS)
    local cols, w, align, cells = {}, {}, {}, {}
    for c = 1, res.ncols do
      cols[c] = cell(res.columns[c])
      w[c] = width(cols[c])
      align[c] = NUMERIC[res.types and res.types[c] or ""] and "right" or "left"
    end
    for i = 1, shown do
      local row, out = res[i], {}
      for c = 1, res.ncols do
        out[c] = cell(row[res.columns[c]])
        w[c] = math.max(w[c], width(out[c]))
      end
      cells[i] = out
    end
    -- the widest cell allowed: CELL_WIDTH, less when the table would overflow the terminal
    local maxw = opts.cell_width or M.CELL_WIDTH
    local function total(limit)
      local t = 3 * res.ncols - 1
      for c = 1, res.ncols do t = t + math.min(w[c], limit) end
      return t
    end
    if opts.width then
      while maxw > 8 and total(maxw) > opts.width do maxw = maxw - 1 end
    end
    for c = 1, res.ncols do w[c] = math.min(w[c], maxw) end
    local function line(values, how)
      local parts = {}
      for c = 1, res.ncols do parts[c] = " " .. pad(cut(values[c], w[c]), w[c], how or align[c]) .. " " end
      return (table.concat(parts, "|"):gsub("%s+$", ""))
    end
    lines[#lines + 1] = line(cols, "center")
    local rule = {}
    for c = 1, res.ncols do rule[c] = ("-"):rep(w[c] + 2) end
    lines[#lines + 1] = table.concat(rule, "+")
    for i = 1, shown do lines[#lines + 1] = line(cells[i]) end
    if not res.hide_count then
      local count = "(" .. plural(res.n, "row", "rows")
      if shown < res.n then count = count .. string.format(", the first %d shown", shown) end
      lines[#lines + 1] = count .. ")"
    end
  end
  for _, f in ipairs(res.footer or {}) do lines[#lines + 1] = f end
  if opts.ns and not res.hide_count then lines[#lines + 1] = "Time: " .. clock.format(opts.ns) end
  return table.concat(lines, "\n")
end

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local TYPE_ORDER = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
  local ta, tb = TYPE_ORDER[type(a)] or 4, TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta <= 2 then return a < b end
  return tostring(a) < tostring(b)
end

local function is_ident(k)
  return type(k) == "string" and k:find("^[%a_][%w_]*$") ~= nil and not IS_KEYWORD[k]
end

--- repl.pretty(v [, opts]) -> text: nested tables, keys sorted, cycles marked, long output
-- cut at opts.max_items (default 1000) items; no metamethod runs but __tostring and __name.
function M.pretty(v, opts)
  opts = opts or {}
  local budget = opts.max_items or 1000
  local on_path = {}
  local function fmt(x, indent, depth)
    local t = type(x)
    if t == "string" then return quote(x) end
    if t ~= "table" then return tostring(x) end
    local mt = getmetatable(x)
    if mt and (rawget(mt, "__tostring") or rawget(mt, "__name")) then return tostring(x) end
    if M.is_result(x) then
      local cols = {}
      for c = 1, x.ncols do cols[c] = tostring(x.columns[c]) end
      return string.format("<query result: %s (%s)>", plural(x.n, "row", "rows"), table.concat(cols, ", "))
    end
    if on_path[x] then return "<cycle: " .. tostring(x) .. ">" end
    if depth >= (opts.max_depth or 12) then return "{…}" end
    on_path[x] = true
    local items, n = {}, 0
    while rawget(x, n + 1) ~= nil do n = n + 1 end
    local inner = indent .. "  "
    for i = 1, n do
      if budget <= 0 then break end
      budget = budget - 1
      items[#items + 1] = fmt(rawget(x, i), inner, depth + 1)
    end
    local keys = {}
    for k in next, x do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, key_less)
    for _, k in ipairs(keys) do
      if budget <= 0 then break end
      budget = budget - 1
      local ks = is_ident(k) and k or "[" .. (type(k) == "string" and quote(k) or tostring(k)) .. "]"
      items[#items + 1] = ks .. " = " .. fmt(rawget(x, k), inner, depth + 1)
    end
    if budget <= 0 and #items < n + #keys then items[#items + 1] = "…" end
    on_path[x] = nil
    if #items == 0 then return "{}" end
    local flat = "{ " .. table.concat(items, ", ") .. " }"
    if not flat:find("\n") and #indent + #flat <= (opts.width or 100) then return flat end
    return "{\n" .. inner .. table.concat(items, ",\n" .. inner) .. ",\n" .. indent .. "}"
  end
  return fmt(v, "", 0)
end

-- ---------------------------------------------------------------------------------------
-- Reading and compiling chunks

local INCOMPLETE = {}

--- repl.compile(src, env [, name [, first_line]]) -> fn | nil, INCOMPLETE | nil, message.
-- An expression is compiled as `return <src>` so its values are printed; a chunk cut short
-- (Lua reports "near <eof>") is incomplete: more lines are needed. Line numbers in messages
-- count from first_line.
function M.compile(src, env, name, first_line)
  local lead = ("\n"):rep((first_line or 1) - 1)
  name = name or "=repl"
  local fn = load(lead .. "return " .. src, name, "t", env)
  if fn then return fn end
  local err
  fn, err = load(lead .. src, name, "t", env)
  if fn then return fn end
  -- a quoted string cannot go on past its line (but "a\<newline>b" can): that error is final
  local open_string = err:find("unfinished string", 1, true) and not src:find("\\$")
  if err:sub(-5) == "<eof>" and not open_string then return nil, INCOMPLETE end
  return nil, err
end
M.INCOMPLETE = INCOMPLETE

-- ---------------------------------------------------------------------------------------
-- The session

local Repl = {}
Repl.__index = Repl

local function cancelled(e)
  return errors.is(e, "interrupted") or errors.is_sql(e, "57014")
end

-- connection state of the session's db: "idle", "intrans", "inerror", "broken", "closed"
function Repl:status()
  local d = rawget(self.env, "db")
  if type(d) ~= "userdata" then return nil end
  local ok, st = pcall(d.status, d)
  return ok and st or nil
end

function Repl:db()
  local d = rawget(self.env, "db")
  if type(d) ~= "userdata" then errors.raise("usage", "`db` is not a connection any more: reconnect() opens one") end
  if d:status() == "closed" then errors.raise("usage", "the connection is closed: reconnect() opens a new one") end
  return d
end

function Repl:out(s)
  self.stdout:write(s, "\n")
end

function Repl:err(s)
  self.stdout:flush()
  self.stderr:write(s, "\n")
  self.stderr:flush()
end

-- an error as the CLI prints it: "migrun: " and the error's own text (R5); -> true when it
-- was Ctrl-C (printed as "cancelled")
function Repl:report(e, tb)
  -- Ctrl-C: the interrupt itself, or the query it cancelled (a statement_timeout cancels
  -- with the same SQLSTATE, and is reported as the error it is)
  if errors.is(e, "interrupted") or (errors.is_sql(e, "57014") and sys.interrupted(true)) then
    self:err(self.interactive and "\ncancelled" or "cancelled")   -- after the terminal's ^C
    return true
  end
  local msg
  if type(e) == "table" and not errors.is(e) and getmetatable(e) == nil then
    msg = M.pretty(e)
  else
    msg = tostring(e)
  end
  self:err("migrun: " .. msg)
  if tb and self.verbose then self:err(tb) end
  return false
end

-- After every chunk: say when the transaction was aborted or the connection lost, once.
function Repl:check_state()
  local st = self:status()
  if st ~= self.last_status then
    if st == "inerror" then
      self:err("migrun: the transaction is aborted: every statement fails until it is rolled " ..
               "back (sql \"ROLLBACK\")")
    elseif st == "broken" then
      self:err("migrun: the connection to the database is lost: reconnect() opens a new one")
    elseif st == "closed" then
      self:err("migrun: the connection is closed: reconnect() opens a new one")
    end
  end
  self.last_status = st
end

function Repl:width()
  return self.interactive and term.width(1) or nil
end

--- show one value: results as tables (with the time of the query that made them), strings
-- as they are, anything else pretty-printed
function Repl:show(v, ns)
  if M.is_result(v) then
    if ns and not self.times[v] then self.times[v] = ns end
    self:out(M.format_result(v, { width = self:width(), ns = self.times[v] }))
    return true
  elseif type(v) == "string" then
    self:out((v:gsub("\n$", "")))
  else
    self:out(M.pretty(v, { width = self:width() }))
  end
  return false
end

-- Run one compiled chunk, print its values or its error. -> ok, cancelled (by Ctrl-C)
function Repl:eval(fn)
  local tb
  local t0 = clock.now()
  local res
  if self.verbose then
    res = table.pack(xpcall(fn, function(e)
      tb = debug.traceback(nil, 2)
      return e
    end))
  else
    res = table.pack(pcall(fn))
  end
  local ns = clock.since(t0)
  if not res[1] then
    self.failures = self.failures + 1
    local e = res[2]
    if not self.interactive and errors.is(e) and not e.file and not cancelled(e) then
      e.file, e.line = "stdin", self.chunk_line       -- where in the script it happened
    end
    return false, self:report(e, tb)
  end
  local timed = false
  for i = 2, res.n do
    if self:show(res[i], ns) then timed = true end
  end
  if res.n >= 2 then rawset(self.env, "_", res[2]) end
  if self.timing and not timed then self:out("Time: " .. clock.format(ns)) end
  return true
end

function Repl:prompt()
  local st = self:status()
  return st == "inerror" and "migrun!> " or st == "intrans" and "migrun*> " or "migrun> "
end

local CONTINUE = "    ...> "

function Repl:remember(src)
  if not self.history then return end
  if src == self.last_entry or not src:find("%S") then return end
  self.rl.add_history(src)
  self.last_entry = src
  self.added = self.added + 1
end

-- the next complete chunk from the terminal: src, fn | nil at end of input | nil, "terminated"
function Repl:read_terminal()
  local lines = {}
  while true do
    local ok, line, why = pcall(self.rl.readline, #lines == 0 and self:prompt() or CONTINUE, self.completer)
    if not ok then                                   -- the terminal failed: the session ends
      if errors.is(line, "interrupted") then         -- (or a late Ctrl-C: drop the chunk)
        line, why = false, "interrupt"
      else
        self.failures = self.failures + 1
        self:report(line)
        return nil
      end
    end
    if line == nil then                              -- Ctrl-D
      if #lines == 0 then return nil end
      local src = table.concat(lines, "\n")
      self:remember(src)
      local _, err = M.compile(src, self.env)
      self:report(err == INCOMPLETE and "repl: the chunk is incomplete (unexpected end of input)" or err)
      return nil
    elseif line == false then                        -- Ctrl-C: the chunk is dropped
      if why == "terminate" then return nil, "terminated" end
      lines = {}
    elseif #lines > 0 or line:find("%S") then        -- (an empty line: a fresh prompt)
      lines[#lines + 1] = line
      local src = table.concat(lines, "\n")
      local fn, err = M.compile(src, self.env)
      if err ~= INCOMPLETE then
        self:remember(src)
        if fn then return src, fn end
        self.failures = self.failures + 1
        self:report(err)
        lines = {}
      end
    end
  end
end

-- the next complete chunk from stdin (no terminal): src, fn | nil at end of input
function Repl:read_stream()
  local lines, first = {}, nil
  while true do
    local line = self.stdin:read("l")
    if line == nil then
      if #lines == 0 then return nil end
      self.failures = self.failures + 1
      self:report(string.format("stdin:%d: the chunk starting here is incomplete at the end of input", first))
      return nil
    end
    self.lineno = self.lineno + 1
    if #lines == 0 and line:find("^#!") then line = "" end   -- a shebang line
    if #lines > 0 or line:find("%S") then
      first = first or self.lineno
      lines[#lines + 1] = line
      local src = table.concat(lines, "\n")
      local fn, err = M.compile(src, self.env, "=stdin", first)
      if err ~= INCOMPLETE then
        self.chunk_line = first
        if fn then return src, fn end
        self.failures = self.failures + 1
        self:report(err)
        lines, first = {}, nil
      end
    end
  end
end

-- The loop proper; runs protected by Repl:run, which catches what escapes it (an interrupt
-- that fires between two chunks) and starts it again.
function Repl:loop()
  while true do
    local src, fn
    if self.interactive then
      src, fn = self:read_terminal()
    else
      src, fn = self:read_stream()
    end
    if not src then return fn end
    self.chunks = self.chunks + 1
    local ok, by_ctrl_c = self:eval(fn)
    if not ok and by_ctrl_c and not self.interactive then return "interrupted" end
    self:check_state()
    self.stdout:flush()
  end
end

function Repl:load_history()
  local home = os.getenv("HOME")
  if not home or home == "" then return end
  self.history = home .. "/.migrun_history"
  self.rl.stifle_history(M.HISTORY_MAX)
  local ok, _, code = self.rl.read_history(self.history)
  self.history_exists = ok or code ~= 2             -- 2: ENOENT
  -- the file grows by appends; cut it back to the newest entries once it is full
  if ok and self.rl.history_length() >= M.HISTORY_MAX then self.rl.write_history(self.history) end
end

function Repl:save_history()
  if not self.history or self.added == 0 then return end
  local ok, msg
  if self.history_exists then
    ok, msg = self.rl.append_history(self.history, math.min(self.added, M.HISTORY_MAX))
  else
    ok, msg = self.rl.write_history(self.history)
  end
  if not ok then self:err("migrun: could not save the history: " .. tostring(msg)) end
end

-- ---------------------------------------------------------------------------------------
-- Helpers in the REPL's environment

local function make_result(columns, types, rows)
  local res = { columns = columns, types = types, ncols = #columns, n = #rows }
  for i, r in ipairs(rows) do res[i] = r end
  return res
end
M.result = make_result

local USER_SCHEMAS = [[n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%']]

-- relations a name may refer to, as describe accepts them (visible ones bare)
local NAMES_SQL = [[
  SELECT CASE WHEN pg_table_is_visible(c.oid) THEN c.relname ELSE n.nspname || '.' || c.relname END AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ]] .. USER_SCHEMAS .. [[ ORDER BY 1]]

function Repl:relation_names()
  local names = {}
  for _, r in ipairs(self:db():query(NAMES_SQL)) do names[#names + 1] = r.name end
  return names
end

-- the oid of a table or view named like psql's \d takes it: name, schema.name, "Quoted"
function Repl:resolve(name)
  local bare = name:match('^"(.*)"$') or name
  local r = self:db():query([[
    SELECT coalesce(
      (SELECT c.oid FROM pg_class c WHERE c.relname = $1 AND pg_table_is_visible(c.oid)
         AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 1),
      (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 1),
      (SELECT c.oid FROM pg_class c WHERE c.relname = lower($1) AND pg_table_is_visible(c.oid)
         AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 1)) AS oid]], bare)[1]
  return r and r.oid
end

local function sql_error_at(e, src, stmt, name)
  if not errors.is_sql(e) or e.file then return e end
  local byte = stmt.start
  if e.position then byte = stmt.start + (utf8.offset(stmt.sql, e.position) or e.position) - 1 end
  e.file = name
  e.line, e.col = sqlsplit.position(src, byte)
  return e
end

local Playbook = {}
Playbook.__index = Playbook
Playbook.__name = "migrun.playbook"
Playbook.__tostring = function(p)
  local n = 0
  for _, item in ipairs(p.decl.items) do if item.kind == "phase" then n = n + 1 end end
  return string.format("playbook %s (%s, %s)", p.name, p.path, plural(n, "phase", "phases"))
end

local RUN_KEYS = { only = true, from = true, to = true, yes = true, dry_run = true, allow_drift = true,
                   report = true }

function Repl:idle_db(what)
  local d = self:db()
  local st = d:status()
  if st ~= "idle" then
    errors.raise("usage", string.format("%s needs a connection outside a transaction (it is %s)", what, st),
      { hint = "finish the open transaction first: sql \"COMMIT\" or sql \"ROLLBACK\"" })
  end
  return d
end

--- pb:plan() -> text: phases, steps (applied, pending or drifted), budgets, expectations
function Playbook:plan()
  local plan = require "migrun.plan"
  return plan.render(plan.build(self.decl, self._repl:db()))
end

--- pb:check() -> true when what the ledger's state calls for passes (read only)
function Playbook:check()
  local r = self._repl
  local d = r:idle_db("pb:check()")
  return require("migrun.plan").check(self.decl, d, r:output(), r.conninfo)
end

local function summary_of(result)
  local status = require "migrun.run.status"
  result.run = nil
  return setmetatable(result, { __tostring = function(res)
    return string.format("%s: %s in %s%s", res.playbook, status.text(status.run, res.status),
      clock.format(math.floor((res.duration_ms or 0) * 1e6)), res.run_id and (" (run " .. res.run_id .. ")") or "")
  end })
end

-- run a runner verb with the REPL's connection, then put its session settings back
function Repl:with_settings(d, fn)
  local saved = {}
  for _, k in ipairs({ "lock_timeout", "statement_timeout", "application_name",
                       "client_connection_check_interval" }) do
    local ok, v = pcall(d.get, d, k)                 -- (the last one is PostgreSQL 14+)
    if ok then saved[k] = v end
  end
  local res = table.pack(pcall(fn))
  local now = rawget(self.env, "db")
  if type(now) == "userdata" and now:status() == "idle" then
    for k, v in pairs(saved) do pcall(now.set, now, k, v) end
  end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

function Repl:adopt(d)
  local old = rawget(self.env, "db")
  rawset(self.env, "db", d)
  if self.ctx then self.ctx.db = d end
  if old ~= d and type(old) == "userdata" then pcall(old.close, old) end
  self.last_status = self:status()
end

--- pb:run { only =, from =, to =, yes =, dry_run =, allow_drift =, report = } -> the run's
-- result (prints like `migrun run`, through the same command layer; a restore that
-- reconnected makes `db` the new connection)
function Playbook:run(o)
  o = o or {}
  if type(o) ~= "table" then errors.raise("usage", "pb:run { only = \"phase\", ... } takes a table") end
  for k in pairs(o) do
    if not RUN_KEYS[k] then
      local keys = {}
      for name in pairs(RUN_KEYS) do keys[#keys + 1] = name end
      table.sort(keys)
      errors.raise("usage", "pb:run: unknown option '" .. tostring(k) .. "'" .. text.did_you_mean(tostring(k), keys))
    end
  end
  local r = self._repl
  local d = r:idle_db("pb:run()")
  local result = r:with_settings(d, function()
    local res = require("migrun.command").run_playbook({ out = r:output(), db = d, conninfo = r.conninfo,
      pb = self.decl, report = o.report,
      run = { yes = o.yes, dry_run = o.dry_run, from = o.from, only = o.only, to = o.to,
              allow_drift = o.allow_drift } })
    if res.db and res.db ~= d then r:adopt(res.db) end
    return res
  end)
  return summary_of(result)
end

--- pb:rollback { to = "phase", yes = true } -> the rollback's result
function Playbook:rollback(o)
  o = o or {}
  local r = self._repl
  local d = r:idle_db("pb:rollback()")
  local out = r:output()
  local result = r:with_settings(d, function()
    return require("migrun.runner").rollback(self.decl, { db = d, out = out, to = o.to,
      target = d:target(), conninfo = r.conninfo })
  end)
  if result.error and not errors.is(result.error, "recovery") then out:error(result.error) end
  return summary_of(result)
end

function Repl:output()
  return require("migrun.output").new({ verbose = self.verbose, no_color = self.no_color or not self.interactive })
end

local HELP = [==[
db                      the connection (db:query, db:exec, db:tx, db:script, db:rows, ...)
sql [[SELECT ...]]      run SQL (several statements: one result each); sql "f.sql" runs a file
tables([schema])        tables and views with their sizes
describe "t"            columns, indexes, constraints and references of a table
counts([schema])        exact row counts of every table
pb = load "x.lua"       a playbook: pb:plan(), pb:check(), pb:run { only = "phase" },
                        pb:rollback { to = "phase" }   (Lua's own load is _G.load)
timing(true|false)      print how long every chunk took
reconnect()             a new connection to the same target
_                       the last value printed
Ctrl-C cancels the running query (or drops the line); Ctrl-D leaves.]==]

function Repl:make_env()
  local env = setmetatable({}, { __index = _G })
  local repl = self

  --- sql(text | "file.sql" [, params...]) -> a result per statement
  env.sql = function(src, ...)
    if type(src) ~= "string" then errors.raise("usage", "sql: expects SQL text or a file name", nil, 2) end
    local d = repl:db()
    local name = "sql"
    if select("#", ...) > 0 then                     -- one statement with $1.. parameters
      local t0 = clock.now()
      local res = d:query(src, ...)
      repl.times[res] = clock.since(t0)
      return res
    end
    if src:sub(-4):lower() == ".sql" and not src:find("%s") then
      local body, err = text.readfile(src)
      if not body then errors.raise("usage", "sql: " .. err, nil, 2) end
      name, src = src, body
    end
    local out = {}
    for _, stmt in ipairs(sqlsplit.split(src, name)) do
      local t0 = clock.now()
      local ok, res = pcall(d.query, d, stmt.sql)
      if not ok then error(sql_error_at(res, src, stmt, name), 0) end
      repl.times[res] = clock.since(t0)
      out[#out + 1] = res
    end
    return table.unpack(out)
  end

  --- tables([schema]) -> tables and views with kind and size
  env.tables = function(schema)
    local res = repl:db():query([[
      SELECT n.nspname AS schema, c.relname AS name,
             CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                            WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS kind,
             pg_size_pretty(pg_total_relation_size(c.oid)) AS size
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ]] .. USER_SCHEMAS .. [[
        AND CASE WHEN $1::text IS NULL THEN n.nspname <> 'migrun' ELSE n.nspname = $1 END
      ORDER BY 1, 2]], schema)
    return res
  end

  --- describe "t" -> its columns; indexes, constraints, references and triggers under them
  env.describe = function(name)
    if type(name) ~= "string" then errors.raise("usage", "describe \"table\": expects a table name", nil, 2) end
    local d = repl:db()
    local oid = repl:resolve(name)
    if not oid then
      errors.raise("usage", string.format("no table or view named '%s'%s", name,
        text.did_you_mean(name, repl:relation_names())), nil, 2)
    end
    local res = d:query([[
      SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
             CASE WHEN a.attnotnull THEN 'not null' ELSE '' END AS nullable,
             coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') AS default
      FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum]], oid)
    local info = d:query([[
      SELECT n.nspname || '.' || c.relname AS name, c.relkind AS kind, c.relrowsecurity AS rls
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid]], oid)[1]
    local kinds = { r = "Table", p = "Partitioned table", v = "View", m = "Materialized view", f = "Foreign table" }
    res.title = string.format("%s %s", kinds[info.kind] or "Relation", info.name)
    res.hide_count = true
    local footer = {}
    local function section(title, sql)
      local rows = d:query(sql, oid)
      if rows.n == 0 then return end
      footer[#footer + 1] = title
      for _, r in ipairs(rows) do footer[#footer + 1] = "    " .. r.line end
    end
    section("Indexes:", [[
      SELECT c2.relname || CASE WHEN i.indisprimary THEN ' PRIMARY KEY' WHEN i.indisunique THEN ' UNIQUE' ELSE '' END
             || ' ' || regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') AS line
      FROM pg_index i JOIN pg_class c2 ON c2.oid = i.indexrelid
      WHERE i.indrelid = $1::oid ORDER BY NOT i.indisprimary, c2.relname]])
    section("Constraints:", [[
      SELECT conname || ' ' || pg_get_constraintdef(oid) AS line FROM pg_constraint
      WHERE conrelid = $1::oid AND contype IN ('f', 'c', 'x') ORDER BY contype, conname]])
    section("Referenced by:", [[
      SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS line
      FROM pg_constraint WHERE confrelid = $1::oid AND contype = 'f' ORDER BY 1]])
    section("Triggers:", [[
      SELECT tgname || ' ' || regexp_replace(pg_get_triggerdef(oid), '^.* TRIGGER \S+ ', '') AS line
      FROM pg_trigger WHERE tgrelid = $1::oid AND NOT tgisinternal ORDER BY tgname]])
    if info.rls then footer[#footer + 1] = "Row level security is enabled." end
    res.footer = footer
    return res
  end

  --- counts([schema]) -> the exact row count of every table
  env.counts = function(schema)
    local d = repl:db()
    local list = d:query([[
      SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS q
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ]] .. USER_SCHEMAS .. [[
        AND CASE WHEN $1::text IS NULL THEN n.nspname <> 'migrun' ELSE n.nspname = $1 END
      ORDER BY n.nspname <> 'public', 1, 2]], schema)
    local rows = {}
    for _, t in ipairs(list) do
      local n = d:query("SELECT count(*) AS n FROM " .. t.q)[1].n
      rows[#rows + 1] = { table = t.schema == "public" and t.name or (t.schema .. "." .. t.name), rows = n }
    end
    return make_result({ "table", "rows" }, { "text", "int8" }, rows)
  end

  --- timing(on) -> on: print how long each chunk took; timing() tells
  env.timing = function(on)
    if on ~= nil then repl.timing = on and true or false end
    return repl.timing
  end

  --- load "playbook.lua" [, vars] -> a playbook with :plan(), :check(), :run{}, :rollback{}
  env.load = function(path, vars)
    if type(path) ~= "string" then
      errors.raise("usage", "load \"playbook.lua\": expects a file name (Lua's own load is _G.load)", nil, 2)
    end
    if path:sub(-4):lower() == ".sql" then
      errors.raise("usage", "load takes a playbook (.lua); run an SQL file with sql \"" .. path .. "\"", nil, 2)
    end
    local dsl = require "migrun.dsl"
    local decl = dsl.load(path, { vars = vars or {}, args = {}, globals = { arg = { [0] = path } } })
    if not decl then errors.raise("usage", path .. " declares no playbook (it ran as a plain script)", nil, 2) end
    return setmetatable({ decl = decl, name = decl.name, path = path, _repl = repl }, Playbook)
  end

  --- reconnect() -> a new connection to the same target, as `db`
  env.reconnect = function()
    local d = require("migrun.db").connect(repl.conninfo)
    repl:adopt(d)
    return d
  end

  env.help = function()
    repl:out(HELP)
  end

  env.db = self.db0
  return env
end

-- ---------------------------------------------------------------------------------------
-- Completion

local function filter(list, prefix, into)
  into = into or {}
  for _, s in ipairs(list) do
    if s:sub(1, #prefix) == prefix then into[#into + 1] = s end
  end
  return into
end

-- the value at v[k] without running __index functions (only __index tables are followed)
local function peek(v, k)
  for _ = 1, 8 do
    local t = type(v)
    if t == "string" then return string[k] end
    if t == "table" then
      local x = rawget(v, k)
      if x ~= nil then return x end
    elseif t ~= "userdata" then
      return nil
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    if type(idx) ~= "table" then return nil end
    v = idx
  end
  return nil
end

-- the identifier keys reachable from v (its own, then its __index tables')
local function fields(v, methods_only)
  local seen, names = {}, {}
  if type(v) == "string" then v = string end
  for _ = 1, 8 do
    if type(v) == "table" then
      for k, x in next, v do
        if is_ident(k) and not seen[k] and (not methods_only or type(x) == "function") then
          seen[k] = true
          names[#names + 1] = k
        end
      end
    elseif type(v) ~= "userdata" then
      break
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    if type(idx) ~= "table" then break end
    v = idx
  end
  table.sort(names)
  return names
end

local function files(word, pattern)
  local lfs = require "lfs"
  local dir, base = word:match("^(.*/)([^/]*)$")
  dir, base = dir or "", base or word
  local out = {}
  local ok = pcall(function()
    for entry in lfs.dir(dir == "" and "." or dir) do
      if entry ~= "." and entry ~= ".." and entry:sub(1, #base) == base
         and (base ~= "" or entry:sub(1, 1) ~= ".") then
        local mode = lfs.attributes(dir .. entry, "mode")
        if mode == "directory" then
          out[#out + 1] = dir .. entry .. "/"
        elseif entry:find(pattern) then
          out[#out + 1] = dir .. entry
        end
      end
    end
  end)
  if not ok then return nil end
  table.sort(out)
  if #out == 1 and out[1]:sub(-1) == "/" then out.open = true end   -- go on into it
  return out
end

--- repl:complete(line, first, last) -> the strings that may replace line:sub(first, last)
function Repl:complete(line, first, last)
  local word = line:sub(first, last)
  local before = line:sub(1, first - 1)
  local q = before:sub(-1)
  -- table names for describe "..., and in SQL: sql "SELECT ... FROM ... and sql [[ ...
  local function relations(prefix)
    local st = self:status()
    if st ~= "idle" and st ~= "intrans" then return nil end   -- never a query that would fail
    return filter(self:relation_names(), prefix)
  end
  local function in_sql(sqltext)
    local lead, ident = sqltext:match("^(.-)([%w_.]*)$")
    local out = {}
    for _, n in ipairs(relations(ident) or {}) do out[#out + 1] = lead .. n end
    out.open = true
    return out
  end
  if q == '"' or q == "'" then
    local fname = before:sub(1, -2):match("([%a_][%w_]*)%s*%(?%s*$")
    if fname == "describe" then
      return relations(word)
    elseif fname == "load" then
      return files(word, "%.lua$")
    elseif fname == "sql" then
      if word:find("%s") then return in_sql(word) end
      return files(word, "%.sql$")
    end
    return nil
  end
  local _, opened = before:gsub("%[%[", "")
  local _, closed = before:gsub("%]%]", "")
  if opened > closed then return in_sql(word) end
  local path, sep, part = word:match("^(.*)([.:])([%w_]*)$")
  if not path then
    if not word:find("^[%a_]?[%w_]*$") then return nil end
    local out = {}
    filter(fields(self.env), word, out)                -- its own names, then _G's
    filter(KEYWORDS, word, out)
    return out
  end
  local v
  for name in (path .. "."):gmatch("([^.]*)%.") do
    if not is_ident(name) then return nil end
    v = v == nil and peek(self.env, name) or peek(v, name)
    if v == nil then return nil end
  end
  local out = {}
  for _, k in ipairs(filter(fields(v, sep == ":"), part)) do
    if k:sub(1, 2) ~= "__" or part:sub(1, 2) == "__" then out[#out + 1] = path .. sep .. k end
  end
  return out
end

-- ---------------------------------------------------------------------------------------

--- repl.new{db=, conninfo=, verbose=, no_color=, ctx=, interactive=, stdin=, stdout=, stderr=}
-- -> a session (its env holds `db` and the helpers); interactive defaults to "stdin and stdout
-- are terminals"
function M.new(opts)
  local self = setmetatable({
    db0 = opts.db, conninfo = opts.conninfo, verbose = opts.verbose, no_color = opts.no_color,
    ctx = opts.ctx, stdin = opts.stdin or io.stdin, stdout = opts.stdout or io.stdout,
    stderr = opts.stderr or io.stderr, failures = 0, added = 0, lineno = 0, timing = false, chunks = 0,
    times = setmetatable({}, { __mode = "k" }),
  }, Repl)
  self.interactive = opts.interactive
  if self.interactive == nil then self.interactive = term.isatty(0) and term.isatty(1) end
  self.env = self:make_env()
  self.last_status = self:status()
  return self
end

--- repl.run(opts) -> exit code: 0; without a terminal 1 when a chunk failed, 130 when
-- interrupted (opts as for repl.new)
function M.run(opts)
  return M.new(opts):run()
end

--- session:run() -> exit code (see repl.run)
function Repl:run()
  if self.interactive then
    self.rl = require "migrun.core.readline"
    self.completer = function(line, first, last) return self:complete(line, first, last) end
    self:load_history()
    self:out(string.format("migrun %s on %s: Lua with `db` connected; help() lists the helpers, Ctrl-D leaves",
      require("migrun").VERSION, self.db0:target()))
  end
  local outcome
  local faults, at = 0, -1
  while true do
    local ok, res = pcall(self.loop, self)
    if ok then
      outcome = res
      break
    end
    -- an interrupt that fired outside a chunk, or a fault of the REPL itself: report, go on
    -- (but not round and round: a fault that comes back before any chunk ran ends it)
    self.failures = self.failures + 1
    if self:report(res) then
      if not self.interactive then
        outcome = "interrupted"
        break
      end
    else
      faults = at == self.chunks and faults + 1 or 1
      at = self.chunks
      if faults >= 3 then
        outcome = "fault"
        break
      end
    end
    self:check_state()
  end
  if self.interactive then self:save_history() end
  local st = self:status()
  if st == "intrans" or st == "inerror" then
    self:err("migrun: the open transaction was rolled back (it was never committed)")
  end
  self.stdout:flush()
  if outcome == "interrupted" or outcome == "terminated" then return 130 end
  if outcome == "fault" or (not self.interactive and self.failures > 0) then return 1 end
  return 0
end

return M
