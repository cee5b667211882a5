--- migrun.db: PostgreSQL connections (policy layer over migrun.core.db, engine/l_db.c).
-- The C methods: query, exec, rows, copy_out, copy_in, cancel, quote_ident, quote_literal,
-- server_version, status, backend_pid, info, notices, close. This file adds the ones that
-- are policy: begin/tx (savepoints when nested), script (file:line:col errors), set, get.
local core = require "migrun.core.db"
local errors = require "migrun.errors"
local sqlsplit = require "migrun.sqlsplit"

local M = {}
local methods = core.methods

-- keywords a connection string may override (processed before it, see l_db_connect)
-- TCP keepalives and tcp_user_timeout: a server (or network) that stops answering is noticed
-- in tens of seconds instead of the kernel's two hours (a Unix socket ignores them)
M.defaults = {
  client_encoding = "UTF8",
  connect_timeout = "10",
  fallback_application_name = "migrun",
  keepalives = "1",
  keepalives_idle = "10",
  keepalives_interval = "5",
  keepalives_count = "3",
  tcp_user_timeout = "30000",
}

--- db.connect([url_or_conninfo [, {async = true}]]) -> conn; no argument: libpq's defaults
-- (PG*, pgpass). async: return at once, the server starting its backend while the caller goes
-- on; the first use of conn finishes connecting (and raises there when that fails)
function M.connect(conninfo, o)
  return core.connect(conninfo, M.defaults, o and o.async)
end

--- db.redact(s) -> s with any password replaced by ***
M.redact = core.redact

--- conn:set(name, value): a session setting, e.g. conn:set("lock_timeout", "2s")
function methods:set(name, value)
  self:query("SELECT set_config($1, $2, false)", name, tostring(value))
end

--- conn:get(name) -> the current value of a setting
function methods:get(name)
  return self:query("SELECT current_setting($1) AS v", name)[1].v
end

-- savepoint depth per connection (weak: a closed connection takes its entry with it)
local depth = setmetatable({}, { __mode = "k" })

local tx_methods = {}
local tx_mt = { __index = tx_methods, __name = "migrun.tx" }

-- `head; tail` as one simple-protocol message: one round trip
local function with(head, tail)
  return tail and (head .. "; " .. tail) or head
end

--- conn:begin([setup]) -> tx, a to-be-closed value: BEGIN, or a SAVEPOINT when already in one.
-- setup (trusted SQL such as "SET LOCAL lock_timeout = 2000") runs in the same round trip.
-- tx:commit() commits (or releases the savepoint); closing it without commit rolls back.
-- With {lazy = true} nothing is sent yet: tx:prefix() hands the BEGIN (and setup) to the
-- caller, who sends it in the same round trip as its first statement; tx:flush() sends it on
-- its own (before a call that cannot carry it).
function methods:begin(setup, o)
  local status = self:status()
  local tx = setmetatable({ db = self, open = true }, tx_mt)
  local head
  if status == "idle" then
    depth[self] = 0                                  -- whatever an abandoned tx left behind
    head = with("BEGIN", setup)
  elseif status == "intrans" then
    local d = (depth[self] or 0) + 1
    depth[self] = d
    tx.savepoint = "migrun_sp_" .. d
    head = with("SAVEPOINT " .. tx.savepoint, setup)
  else
    errors.raise("usage", "cannot begin a transaction: the connection is " .. status ..
      (status == "inerror" and " (an earlier statement failed; roll back first)" or ""))
  end
  if o and o.lazy then tx.pending = head else self:exec(head) end
  return tx
end

--- tx:prefix() -> the BEGIN a lazy transaction has not sent yet (once), or nil
function tx_methods:prefix()
  local p = self.pending
  self.pending = nil
  return p
end

--- tx:flush(): send a lazy transaction's BEGIN now, if it has not gone yet
function tx_methods:flush()
  local p = self:prefix()
  if p then self.db:exec(p) end
end

local function finish(tx)
  tx.open = false
  if tx.savepoint then depth[tx.db] = (depth[tx.db] or 1) - 1 end
end

-- PostgreSQL answers COMMIT in a failed transaction with ROLLBACK, and no error: a caller
-- that caught an SQL error inside tx() would believe its work was saved. Raise instead.
local function aborted()
  errors.raise("sql", "the transaction was rolled back, not committed: a statement in it " ..
    "failed earlier", { sqlstate = "25P02", severity = "ERROR",
    hint = "an error caught inside the transaction still aborts it; use a nested tx() " ..
           "(a savepoint) around statements that may fail" }, 3)
end

--- tx:commit([last]): COMMIT (or RELEASE the savepoint); raises kind="sql" 25P02 when a
-- statement in it had failed, after rolling it back. `last` (trusted SQL, say the ledger's
-- rows) runs just before it in the same round trip; a failure there rolls it all back.
function tx_methods:commit(last)
  assert(self.open, "transaction already finished")
  self:flush()
  if self.db:status() == "inerror" then
    self:rollback()
    aborted()
  end
  if self.savepoint then
    self.db:exec(last and with(last, "RELEASE SAVEPOINT " .. self.savepoint)
                 or "RELEASE SAVEPOINT " .. self.savepoint)
    finish(self)
  else
    local command = self.db:query(last and (last .. "; COMMIT") or "COMMIT").command
    finish(self)
    if command == "ROLLBACK" then aborted() end
  end
end

--- tx:rollback(): ROLLBACK (or back to the savepoint); a no-op once finished
function tx_methods:rollback()
  if not self.open then return end
  finish(self)
  if self.pending then                               -- never sent: nothing to roll back
    self.pending = nil
    return
  end
  if self.savepoint then
    self.db:exec("ROLLBACK TO SAVEPOINT " .. self.savepoint .. "; RELEASE SAVEPOINT " .. self.savepoint)
  else
    self.db:exec("ROLLBACK")
  end
end

-- __close must not raise (it would replace the error being propagated): a broken
-- connection rolls back by itself on the server.
tx_mt.__close = function(tx)
  if tx.open then pcall(tx.rollback, tx) end
end

--- conn:tx(fn, ...) -> fn's results; BEGIN, fn(conn, ...), COMMIT; ROLLBACK and re-raise
-- if fn raises. Nested calls use savepoints.
function methods:tx(fn, ...)
  if type(fn) ~= "function" then error("conn:tx(fn): fn must be a function", 2) end
  local tx <close> = self:begin()
  local res = table.pack(fn(self, ...))
  tx:commit()
  return table.unpack(res, 1, res.n)
end

-- Put file:line:col on an SQL error raised by one statement of a script.
local function locate(err, text, stmt, name)
  err.file = name
  local byte = stmt.start
  if err.position then
    -- the server counts characters from 1 within the statement it was sent
    byte = stmt.start + (utf8.offset(stmt.sql, err.position) or err.position) - 1
  end
  err.line, err.col = sqlsplit.position(text, byte)
  err.statement = stmt.sql
  return err
end

-- a COPY ... FROM stdin statement of a psql-style script, its data sent from memory; an error
-- in a data row names the row's line in the file
local function copy_in(self, stmt, name)
  local sent = false
  local ok, res = pcall(self.copy_in, self, stmt.sql, function()
    if sent then return nil end
    sent = true
    return stmt.copy_data
  end)
  if ok then return res end
  if errors.is_sql(res) then
    local n = tonumber((res.context or res.where or ""):match("^COPY [^,]+, line (%d+)"))
    if n then
      res.file, res.line, res.col = name, stmt.data_line + n - 1, 1
      res.located = true
    end
  end
  error(res, 0)
end

--- conn:script(text [, {name = "file.sql", before_each = fn, exec = fn, psql = true}]) ->
-- {statements = n, rows = affected}. Runs each statement in turn, like psql -f; an SQL error
-- gets file, line and col. before_each() may return trusted SQL (a SET LOCAL) sent in the same
-- round trip as the statement that follows; error positions still point into the statement.
-- exec(sql, i, n) -> rows runs each statement (the i-th of n) instead of conn:exec (the
-- runner watches them).
-- psql = true also runs COPY ... FROM stdin with its data (pg_dump's plain format), as psql does.
function methods:script(text, opts)
  local name = opts and opts.name or "script"
  local before = opts and opts.before_each
  local stmts = sqlsplit.split(text, name, opts and opts.psql and { psql = true })
  local rows = 0
  for i, stmt in ipairs(stmts) do
    local prefix = before and before(stmt)
    local sql = prefix and (prefix .. "; " .. stmt.sql) or stmt.sql
    local ok, res
    if stmt.copy_data then
      ok, res = pcall(copy_in, self, stmt, name)
    elseif opts and opts.exec then
      ok, res = pcall(opts.exec, sql, i, #stmts)
    else
      ok, res = pcall(self.exec, self, sql)
    end
    if not ok then
      if errors.is_sql(res) and not res.located then
        if prefix and res.position then
          res.position = res.position - utf8.len(prefix) - 2
          if res.position < 1 then res.position = nil end
        end
        res = locate(res, text, stmt, name)
      end
      error(res, 0)
    end
    rows = rows + res
  end
  return { statements = #stmts, rows = rows }
end

--- conn:target() -> "user@host:port/dbname" (never a password)
function methods:target()
  local i = self:info()
  return string.format("%s@%s:%s/%s", i.user, i.host, i.port, i.dbname)
end

return M
