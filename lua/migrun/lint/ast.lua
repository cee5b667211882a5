--- migrun.lint.ast: reading libpg_query parse trees (policy layer, used by the lint rules).
-- Trees come from migrun.core.pgquery: a node is a table with `tag` (its PostgreSQL node
-- name) and the node's fields; String nodes are plain Lua strings. Nothing here reports.
local M = {}

local pgcatalog                 -- loaded when a DEFAULT needs it (26 kB of function names)

local EMPTY = {}
M.EMPTY = EMPTY

--- ast.list(v) -> v when it is a list, else an empty table (absent lists read as empty)
function M.list(v)
  return v or EMPTY
end

--- ast.relname(rangevar) -> "name" (no schema), or nil
function M.relname(rv)
  return rv and rv.relname
end

--- ast.qualname(rangevar) -> "schema.name" or "name"
function M.qualname(rv)
  if not rv then return nil end
  if rv.schemaname then return rv.schemaname .. "." .. rv.relname end
  return rv.relname
end

--- ast.names(list of strings) -> "a.b" (a qualified name as written)
function M.names(list)
  if type(list) == "string" then return list end
  local parts = {}
  for i, s in ipairs(list or EMPTY) do
    parts[i] = type(s) == "string" and s or "?"
  end
  return table.concat(parts, ".")
end

--- ast.last(list of strings) -> the last element (the unqualified name)
function M.last(list)
  if type(list) == "string" then return list end
  list = list or EMPTY
  return list[#list]
end

--- ast.int(node) -> the integer of an A_Const / Integer node, or nil
function M.int(node)
  if type(node) ~= "table" then return nil end
  if node.tag == "A_Const" then
    if node.ival then return node.ival.ival or 0 end
    return nil
  end
  if node.tag == "Integer" then return node.ival or 0 end
  return nil
end

--- ast.str(node) -> the string of an A_Const / String node, or nil
function M.str(node)
  if type(node) == "string" then return node end
  if type(node) == "table" and node.tag == "A_Const" and node.sval then
    return node.sval.sval or ""
  end
  return nil
end

-- type names as the parser spells them, for messages
local DISPLAY = {
  int2 = "smallint", int4 = "integer", int8 = "bigint", float4 = "real",
  float8 = "double precision", bool = "boolean", bpchar = "char", varchar = "varchar",
  timestamptz = "timestamptz", timestamp = "timestamp", timetz = "timetz", varbit = "varbit",
}

-- a type's display text ("varchar(255)", "integer[]"), built on first use
local TYPE_MT = { __index = function(t, k)
  if k ~= "text" then return nil end
  local name = t.name
  local shown = DISPLAY[name] or name
  if name == "bpchar" and t.schema == nil then shown = "bpchar" end
  local mods = t.mods
  if #mods > 0 and name ~= "interval" then
    local ms = {}
    for i, m in ipairs(mods) do ms[i] = tostring(m) end
    shown = shown .. "(" .. table.concat(ms, ",") .. ")"
  end
  shown = shown .. (t.array and "[]" or "")
  rawset(t, "text", shown)
  return shown
end }

--- ast.type(typeName) -> {name = "varchar", mods = {255}, array = bool, schema = "pg_catalog"|nil,
-- text = "varchar(255)"}; nil for a missing type
function M.type(tn)
  if not tn then return nil end
  local names = tn.names
  if not names then return nil end
  local n = #names
  local mods = EMPTY
  local typmods = tn.typmods
  if typmods then
    mods = {}
    for i, m in ipairs(typmods) do mods[i] = M.int(m) or M.str(m) or "?" end
  end
  return setmetatable({ name = names[n], schema = n > 1 and names[1] or nil, mods = mods,
                        array = tn.arrayBounds ~= nil }, TYPE_MT)
end

--- ast.colname(ColumnRef) -> "col" for a plain (possibly table-qualified) column reference
function M.colname(node)
  if type(node) ~= "table" or node.tag ~= "ColumnRef" then return nil end
  local f = node.fields or EMPTY
  local last = f[#f]
  return type(last) == "string" and last or nil
end

--- ast.not_null_column(expr) -> col when expr is `col IS NOT NULL` (a CHECK that makes SET NOT
-- NULL scan-free from PostgreSQL 12)
function M.not_null_column(expr)
  if type(expr) ~= "table" then return nil end
  if expr.tag == "NullTest" and expr.nulltesttype == "IS_NOT_NULL" then
    return M.colname(expr.arg)
  end
  return nil
end

--- ast.constraints(coldef) -> the Constraint nodes of a ColumnDef
function M.constraints(coldef)
  return M.list(coldef and coldef.constraints)
end

--- ast.find_constraint(coldef, contype) -> the first constraint of that type, or nil
function M.find_constraint(coldef, contype)
  for _, c in ipairs(M.constraints(coldef)) do
    if c.contype == contype then return c end
  end
  return nil
end

-- ---------------------------------------------------------------------------------------
-- Expressions: does evaluating a DEFAULT once per row give one value (no rewrite needed)?

local STABLE_SQLVALUE = true   -- CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_USER, LOCALTIME...

--- ast.volatility(expr, lookup) -> "stable" | "volatile" | "unknown", culprit
-- "stable" covers constants, immutable and stable functions (evaluated once by ADD COLUMN).
-- lookup(name, nargs) may answer for functions the built-in list does not know (a server).
function M.volatility(expr, lookup)
  local worst, culprit = "stable", nil
  local function note(v, who)
    if v == "volatile" or (v == "unknown" and worst == "stable") then
      worst, culprit = v, who
    end
  end
  local function walk(e)
    if worst == "volatile" or type(e) ~= "table" then return end
    local tag = e.tag
    if tag == "A_Const" or tag == "ParamRef" then return end
    if tag == "SQLValueFunction" then
      if not STABLE_SQLVALUE then note("volatile", "CURRENT_*") end
      return
    end
    if tag == "FuncCall" then
      local fname = e.funcname
      local name = M.last(fname)
      local qualified = #fname > 1 and fname[1] ~= "pg_catalog"
      local args = M.list(e.args)
      pgcatalog = pgcatalog or require "migrun.lint.pgcatalog"
      local v = not qualified and pgcatalog.volatility(name, #args) or nil
      if v == nil and lookup then v = lookup(M.names(fname), #args) end
      note(v or "unknown", M.names(fname) .. "()")
      for _, a in ipairs(args) do walk(a) end
      return
    end
    if tag == "TypeCast" then return walk(e.arg) end
    if tag == "CollateClause" then return walk(e.arg) end
    if tag == "A_Expr" then walk(e.lexpr); walk(e.rexpr); return end
    if tag == "BoolExpr" or tag == "CoalesceExpr" or tag == "MinMaxExpr" then
      for _, a in ipairs(M.list(e.args)) do walk(a) end
      return
    end
    if tag == "A_ArrayExpr" then
      for _, a in ipairs(M.list(e.elements)) do walk(a) end
      return
    end
    if tag == "NullTest" or tag == "BooleanTest" then return walk(e.arg) end
    if tag == "CaseExpr" then
      walk(e.arg); walk(e.defresult)
      for _, w in ipairs(M.list(e.args)) do walk(w.expr); walk(w.result) end
      return
    end
    if tag == "RowExpr" then
      for _, a in ipairs(M.list(e.args)) do walk(a) end
      return
    end
    note("unknown", tag)   -- a sub-select, a column: not something a DEFAULT evaluates once
  end
  walk(expr)
  return worst, culprit
end

-- ---------------------------------------------------------------------------------------
-- Locks: the table-level lock a statement takes, as PostgreSQL 15 documents it.

local LEVEL = { AccessShare = 1, RowShare = 2, RowExclusive = 3, ShareUpdateExclusive = 4,
                Share = 5, ShareRowExclusive = 6, Exclusive = 7, AccessExclusive = 8 }
M.LEVEL = LEVEL

M.LOCK_NAME = {
  AccessShare = "ACCESS SHARE", RowShare = "ROW SHARE", RowExclusive = "ROW EXCLUSIVE",
  ShareUpdateExclusive = "SHARE UPDATE EXCLUSIVE", Share = "SHARE",
  ShareRowExclusive = "SHARE ROW EXCLUSIVE", Exclusive = "EXCLUSIVE",
  AccessExclusive = "ACCESS EXCLUSIVE",
}

local SUE_CMDS = { AT_SetStatistics = true, AT_ClusterOn = true, AT_DropCluster = true,
  AT_SetRelOptions = true, AT_ResetRelOptions = true, AT_ReplaceRelOptions = true,
  AT_SetOptions = true, AT_ResetOptions = true, AT_ValidateConstraint = true,
  AT_ValidateConstraintRecurse = true, AT_DetachPartitionFinalize = true, AT_AttachPartition = true }
local SRE_CMDS = { AT_EnableTrig = true, AT_EnableAlwaysTrig = true, AT_EnableReplicaTrig = true,
  AT_DisableTrig = true, AT_EnableTrigAll = true, AT_DisableTrigAll = true,
  AT_EnableTrigUser = true, AT_DisableTrigUser = true }

--- ast.cmd_lock(AlterTableCmd) -> lock name
function M.cmd_lock(cmd)
  local st = cmd.subtype
  if SUE_CMDS[st] then return "ShareUpdateExclusive" end
  if SRE_CMDS[st] then return "ShareRowExclusive" end
  if st == "AT_DetachPartition" and cmd.def and cmd.def.concurrent then
    return "ShareUpdateExclusive"
  end
  if (st == "AT_AddConstraint" or st == "AT_AddConstraintRecurse") and cmd.def and
     cmd.def.contype == "CONSTR_FOREIGN" then
    return "ShareRowExclusive"
  end
  return "AccessExclusive"
end

local function max_lock(a, b)
  if not a then return b end
  if not b then return a end
  return LEVEL[a] >= LEVEL[b] and a or b
end

--- ast.locks(tree) -> {table = lock}, strongest lock: the tables a statement locks (named as
-- written, unqualified) and how strongly; only the locks that matter to other sessions
function M.locks(tree)
  local tag = tree.tag
  local out, strongest = {}, nil
  local function add(rel, lock)
    if not rel then return end
    out[rel] = max_lock(out[rel], lock)
    strongest = max_lock(strongest, lock)
  end
  if tag == "AlterTableStmt" then
    if tree.objtype == "OBJECT_TABLE" or tree.objtype == "OBJECT_MATVIEW" then
      for _, cmd in ipairs(M.list(tree.cmds)) do
        add(M.relname(tree.relation), M.cmd_lock(cmd))
        if cmd.def and cmd.def.tag == "Constraint" and cmd.def.contype == "CONSTR_FOREIGN" then
          add(M.relname(cmd.def.pktable), "ShareRowExclusive")
        end
      end
    elseif tree.objtype == "OBJECT_INDEX" then
      add(M.relname(tree.relation), "AccessExclusive")
    end
  elseif tag == "IndexStmt" then
    add(M.relname(tree.relation), tree.concurrent and "ShareUpdateExclusive" or "Share")
  elseif tag == "DropStmt" then
    if tree.removeType == "OBJECT_TABLE" or tree.removeType == "OBJECT_MATVIEW" then
      for _, o in ipairs(M.list(tree.objects)) do add(M.last(o.items or o), "AccessExclusive") end
    end
  elseif tag == "TruncateStmt" then
    for _, r in ipairs(M.list(tree.relations)) do add(M.relname(r), "AccessExclusive") end
  elseif tag == "RenameStmt" then
    if tree.relation then add(M.relname(tree.relation), "AccessExclusive") end
  elseif tag == "VacuumStmt" then
    if M.vacuum_full(tree) then
      for _, r in ipairs(M.list(tree.rels)) do add(M.relname(r.relation), "AccessExclusive") end
    end
  elseif tag == "ClusterStmt" then
    add(M.relname(tree.relation), "AccessExclusive")
  elseif tag == "LockStmt" then
    local mode = ({ [1] = "AccessShare", [2] = "RowShare", [3] = "RowExclusive",
      [4] = "ShareUpdateExclusive", [5] = "Share", [6] = "ShareRowExclusive", [7] = "Exclusive",
      [8] = "AccessExclusive" })[tree.mode or 8] or "AccessExclusive"
    for _, r in ipairs(M.list(tree.relations)) do add(M.relname(r), mode) end
  elseif tag == "ReindexStmt" then
    if not M.reindex_concurrent(tree) and tree.relation then
      add(M.relname(tree.relation), tree.kind == "REINDEX_OBJECT_TABLE" and "Share" or "AccessExclusive")
    end
  elseif tag == "CreateTrigStmt" then
    add(M.relname(tree.relation), "ShareRowExclusive")
  elseif tag == "RefreshMatViewStmt" then
    add(M.relname(tree.relation), tree.concurrent and "Exclusive" or "AccessExclusive")
  end
  return out, strongest
end

local function truthy_option(d)
  local a = d.arg
  if a == nil then return true end
  local s = M.str(a)
  if s then s = s:lower() return not (s == "false" or s == "off" or s == "0" or s == "no") end
  local i = M.int(a)
  if i then return i ~= 0 end
  if type(a) == "table" and a.tag == "Boolean" then return a.boolval == true end
  return true
end

--- ast.option(list of DefElem, name) -> true when the option is on
function M.option(defs, name)
  for _, d in ipairs(M.list(defs)) do
    if d.defname == name then return truthy_option(d) end
  end
  return false
end

--- ast.vacuum_full(VacuumStmt) -> true for VACUUM FULL (a rewrite)
function M.vacuum_full(tree)
  return tree.is_vacuumcmd and M.option(tree.options, "full")
end

--- ast.reindex_concurrent(ReindexStmt) -> true with CONCURRENTLY
function M.reindex_concurrent(tree)
  return tree.concurrent or M.option(tree.params, "concurrently")
end

--- ast.tx_kind(tree) -> "begin" | "commit" | "rollback" | nil
function M.tx_kind(tree)
  if tree.tag ~= "TransactionStmt" then return nil end
  local k = tree.kind
  if k == "TRANS_STMT_BEGIN" or k == "TRANS_STMT_START" then return "begin" end
  if k == "TRANS_STMT_COMMIT" or k == "TRANS_STMT_COMMIT_PREPARED" or k == "TRANS_STMT_PREPARE" then
    return "commit"
  end
  if k == "TRANS_STMT_ROLLBACK" or k == "TRANS_STMT_ROLLBACK_PREPARED" then return "rollback" end
  return nil
end

--- ast.duration_ms(node) -> milliseconds of a setting value (2000, '2s', '1min'), or nil
function M.duration_ms(node)
  local i = M.int(node)
  if i then return i end
  local s = M.str(node)
  if not s then return nil end
  local n, unit = s:lower():match("^%s*([%d%.]+)%s*(%a*)%s*$")
  n = tonumber(n)
  if not n then return nil end
  local mult = ({ [""] = 1, ms = 1, s = 1000, min = 60000, h = 3600000, d = 86400000,
                  us = 0.001 })[unit]
  return mult and n * mult or nil
end

-- ---------------------------------------------------------------------------------------
-- Columns a statement declares: CREATE TABLE, ADD COLUMN, ALTER COLUMN ... TYPE

local function is_key_name(name)
  return name == "id" or name:sub(-3) == "_id"
end

--- ast.columns(stmt) -> {{col, type, key, rel, how = "create"|"add"|"alter", node}}: the
-- columns the statement gives a type; key = a one-column primary key, a foreign key column,
-- or a column named id / *_id.
-- Cached on the statement.
function M.columns(stmt)
  if stmt.columns then return stmt.columns end
  local out = {}
  local t = stmt.tree
  if t.tag == "CreateStmt" then
    local keys = {}
    for _, el in ipairs(M.list(t.tableElts)) do
      if el.tag == "Constraint" then
        -- a one-column primary key is an id; in a composite one (invoice_id, line_no) only
        -- the id-like columns are (a line number stays small)
        if el.contype == "CONSTR_PRIMARY" and #M.list(el.keys) == 1 then
          keys[el.keys[1]] = true
        elseif el.contype == "CONSTR_FOREIGN" then
          for _, k in ipairs(M.list(el.fk_attrs)) do keys[k] = true end
        end
      end
    end
    local rel = M.relname(t.relation)
    for _, el in ipairs(M.list(t.tableElts)) do
      if el.tag == "ColumnDef" and el.typeName then
        local key = keys[el.colname] or is_key_name(el.colname)
        for _, c in ipairs(M.constraints(el)) do
          if c.contype == "CONSTR_PRIMARY" or c.contype == "CONSTR_FOREIGN" then key = true end
        end
        out[#out + 1] = { col = el.colname, type = M.type(el.typeName), key = key, rel = rel,
                          how = "create", node = el }
      end
    end
  elseif t.tag == "AlterTableStmt" then
    local rel = M.relname(t.relation)
    local any = false
    for _, cmd in ipairs(M.list(t.cmds)) do
      local st = cmd.subtype
      if st == "AT_AddColumn" or st == "AT_AlterColumnType" then any = true end
    end
    if not any then
      stmt.columns = EMPTY
      return EMPTY
    end
    for _, cmd in ipairs(M.list(t.cmds)) do
      local def = cmd.def
      if cmd.subtype == "AT_AddColumn" and def and def.typeName then
        local key = is_key_name(def.colname)
        for _, c in ipairs(M.constraints(def)) do
          if c.contype == "CONSTR_PRIMARY" or c.contype == "CONSTR_FOREIGN" then key = true end
        end
        out[#out + 1] = { col = def.colname, type = M.type(def.typeName), key = key, rel = rel,
                          how = "add", node = def }
      elseif cmd.subtype == "AT_AlterColumnType" and def and def.typeName then
        out[#out + 1] = { col = cmd.name, type = M.type(def.typeName), key = is_key_name(cmd.name),
                          rel = rel, how = "alter", node = def }
      end
    end
  end
  stmt.columns = out
  return out
end

--- ast.column_sql(c, typesql) -> the column as SQL with another type, for a fix
function M.column_fix(c, typesql)
  if c.how == "alter" then
    return string.format("ALTER TABLE %s ALTER COLUMN %s TYPE %s", M.ident(c.rel), M.ident(c.col), typesql)
  end
  return string.format("%s %s", M.ident(c.col), typesql)
end

--- ast.alter_reads_rows(AlterTableStmt, u) -> true when the ALTER TABLE reads or rewrites every
-- row (a type change, SET NOT NULL, a validated constraint, an index, a volatile default...)
--- ast.not_null_proven(u, info, col) -> true when SET NOT NULL on col needs no scan: from
-- PostgreSQL 12 a validated CHECK (col IS NOT NULL) proves it (info = u:table(rel))
function M.not_null_proven(u, info, col)
  if u.pg_version < 120000 or not info then return false end
  for _, c in pairs(info.checks or {}) do
    if c.column == col and c.validated then return true end
  end
  return info.validated_unknown == true   -- VALIDATE of a check added by an earlier migration
end

function M.alter_reads_rows(tree, u)
  for _, cmd in ipairs(M.list(tree.cmds)) do
    local st, def = cmd.subtype, cmd.def
    if st == "AT_SetNotNull" then
      if not M.not_null_proven(u, u:table(M.relname(tree.relation)), cmd.name) then return true end
    elseif st == "AT_AlterColumnType" or st == "AT_SetLogged" or
       st == "AT_SetUnLogged" or st == "AT_SetTableSpace" or st == "AT_SetAccessMethod" or
       st == "AT_ValidateConstraint" then
      return true
    end
    if st == "AT_AddConstraint" and def and def.tag == "Constraint" then
      local ct = def.contype
      if (ct == "CONSTR_CHECK" or ct == "CONSTR_FOREIGN") and not def.skip_validation then return true end
      if (ct == "CONSTR_UNIQUE" or ct == "CONSTR_PRIMARY") and not def.indexname then return true end
      if ct == "CONSTR_EXCLUSION" then return true end
    end
    if st == "AT_AddColumn" and def then
      for _, c in ipairs(M.constraints(def)) do
        local ct = c.contype
        if ct == "CONSTR_GENERATED" or ct == "CONSTR_IDENTITY" or
           ((ct == "CONSTR_CHECK" or ct == "CONSTR_FOREIGN") and not c.skip_validation) then
          return true
        end
        if ct == "CONSTR_DEFAULT" and c.raw_expr and u:volatility(c.raw_expr) ~= "stable" then
          return true
        end
      end
      local ty = M.type(def.typeName)
      if ty and ty.name:match("serial") then return true end
    end
  end
  return false
end

-- ---------------------------------------------------------------------------------------
-- Writing the safe alternative

local RESERVED = { all = 1, ["and"] = 1, any = 1, array = 1, as = 1, asc = 1, both = 1, case = 1,
  cast = 1, check = 1, collate = 1, column = 1, constraint = 1, create = 1, default = 1,
  desc = 1, distinct = 1, ["do"] = 1, ["else"] = 1, ["end"] = 1, except = 1, ["false"] = 1,
  fetch = 1, ["for"] = 1, foreign = 1, from = 1, grant = 1, group = 1, having = 1, ["in"] = 1,
  into = 1, limit = 1, ["not"] = 1, null = 1, offset = 1, on = 1, only = 1, ["or"] = 1,
  order = 1, primary = 1, references = 1, select = 1, table = 1, ["then"] = 1, to = 1,
  ["true"] = 1, union = 1, unique = 1, user = 1, using = 1, when = 1, where = 1, with = 1 }

--- ast.ident(name) -> name quoted for SQL when it needs quotes
function M.ident(name)
  if name == nil then return "?" end
  if name:match("^[a-z_][a-z0-9_$]*$") and not RESERVED[name] then return name end
  return '"' .. name:gsub('"', '""') .. '"'
end

--- ast.rel_sql(rangevar) -> the table as SQL ("schema.name", quoted where needed)
function M.rel_sql(rv)
  if not rv then return "?" end
  if rv.schemaname then return M.ident(rv.schemaname) .. "." .. M.ident(rv.relname) end
  return M.ident(rv.relname)
end

--- ast.insert_after(sql, keyword, words) -> sql with words inserted after the first keyword
-- (matched as a whole word, any case); nil when the keyword is not there
local KEYWORD_PATTERNS = {}

function M.insert_after(sql, keyword, words)
  local pat = KEYWORD_PATTERNS[keyword]
  if not pat then
    pat = "%f[%w_]" .. keyword:gsub("%a", function(c)
      return "[" .. c:upper() .. c:lower() .. "]"
    end) .. "%f[^%w_]"
    KEYWORD_PATTERNS[keyword] = pat
  end
  local _, e = sql:find(pat)
  if not e then return nil end
  return sql:sub(1, e) .. " " .. words .. sql:sub(e + 1)
end

--- ast.stmt_sql(u, stmt) -> the statement's text with its terminating semicolon
function M.stmt_sql(u, stmt)
  return (u:text(stmt):gsub("%s*;?%s*$", "")) .. ";"
end

return M
