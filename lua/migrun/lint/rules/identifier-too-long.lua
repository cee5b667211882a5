--- identifier-too-long: PostgreSQL truncates identifiers to 63 bytes (with only a NOTICE):
-- two long names can become one, and the name in the catalog is not the one in the code.
-- The parser has already truncated them; a 63-byte name whose source runs on was longer.
local ast = require "migrun.lint.ast"

local ID = "identifier-too-long"

-- names of 60 to 63 bytes (PostgreSQL cuts at a character boundary): maybe truncated
local function long(n)
  return type(n) == "string" and #n >= 60 and #n <= 63
end

-- out with n added when it is long (out made on the first)
local function add(out, n)
  if not long(n) then return out end
  out = out or {}
  out[#out + 1] = n
  return out
end

-- the names a statement gives to new objects that may have been truncated (nil: none; most
-- statements, so nothing is allocated for them)
local function long_names(t)
  local tag, out = t.tag, nil
  if tag == "CreateStmt" then
    local any = long(t.relation and t.relation.relname)
    for _, el in ipairs(ast.list(t.tableElts)) do
      any = any or long(el.colname) or long(el.conname)
    end
    if not any then return nil end
    out = add(out, t.relation and t.relation.relname)
    for _, el in ipairs(ast.list(t.tableElts)) do out = add(add(out, el.colname), el.conname) end
  elseif tag == "AlterTableStmt" then
    local any = false
    for _, cmd in ipairs(ast.list(t.cmds)) do
      local d = cmd.def
      any = any or (d and (long(d.colname) or long(d.conname)))
    end
    if not any then return nil end
    for _, cmd in ipairs(ast.list(t.cmds)) do
      if cmd.def then out = add(add(out, cmd.def.colname), cmd.def.conname) end
    end
  else
    local n
    if tag == "IndexStmt" then n = t.idxname
    elseif tag == "RenameStmt" then n = t.newname
    elseif tag == "ViewStmt" then n = t.view and t.view.relname
    elseif tag == "CreateTableAsStmt" then n = t.into and t.into.rel and t.into.rel.relname
    elseif tag == "CreateSchemaStmt" then n = t.schemaname
    elseif tag == "CreateSeqStmt" then n = t.sequence and t.sequence.relname
    elseif tag == "CreateTrigStmt" then n = t.trigname
    elseif tag == "CreateEnumStmt" then n = ast.last(t.typeName)
    elseif tag == "CreateDomainStmt" then n = ast.last(t.domainname)
    end
    if long(n) then return { n } end
  end
  return out
end

return {
  id = ID, severity = "warning",
  summary = "an identifier longer than 63 bytes is silently truncated",
  tags = { "CreateStmt", "IndexStmt", "AlterTableStmt", "RenameStmt", "ViewStmt",
           "CreateTableAsStmt", "CreateSchemaStmt", "CreateSeqStmt", "CreateTrigStmt",
           "CreateEnumStmt", "CreateDomainStmt" },
  check = function(stmt, u)
    local names = long_names(stmt.tree)
    if not names then return end
    local sql = u:text(stmt)
    local lower = sql:lower()
    for _, v in ipairs(names) do
      local at = sql:find(v, 1, true) or lower:find(v, 1, true)
      if at then
        local nextc = sql:sub(at + #v, at + #v)
        local quoted = sql:sub(at - 1, at - 1) == '"'
        if (quoted and nextc ~= '"' and nextc ~= "") or (not quoted and nextc:match("[%w_$\128-\255]")) then
          v = v:gsub("[\192-\255][\128-\191]*$", function(tail)   -- drop a cut-off character
            return utf8.len(tail) and tail or ""
          end)
          u:report(stmt, ID, { effect = "none",
            message = string.format("an identifier longer than 63 bytes is truncated to %s", v),
            fix = "a name of at most 63 bytes (PostgreSQL's NAMEDATALEN - 1)" })
        end
      end
    end
  end,
}
