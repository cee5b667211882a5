--- constraint-missing-not-valid: ADD CONSTRAINT ... CHECK / FOREIGN KEY without NOT VALID
-- checks every existing row while holding the lock (ACCESS EXCLUSIVE for CHECK, SHARE ROW
-- EXCLUSIVE on both tables for a foreign key). So does a CHECK or REFERENCES written on ADD
-- COLUMN, and ALTER DOMAIN ADD CONSTRAINT (every column of the domain, in every table).
local ast = require "migrun.lint.ast"

local ID = "constraint-missing-not-valid"

local KIND = { CONSTR_CHECK = "CHECK", CONSTR_FOREIGN = "FOREIGN KEY" }

local function two_step(u, rel, name, def_sql)
  local later = u.playbook and "-- in the next phase (its own transaction):"
                            or "-- then, in its own transaction:"
  return string.format("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID;\n%s\nALTER TABLE %s " ..
    "VALIDATE CONSTRAINT %s;", rel, name, def_sql, later, rel, name)
end

-- the constraint's own text (from its location to the end of the statement when it is the
-- last command), else a placeholder
local function constraint_sql(u, stmt, def, last)
  if last and def.location then
    local from = stmt.base + def.location + 1
    local s = u.src:sub(from, stmt.stop):gsub("%s*;?%s*$", "")
    s = s:gsub("^[Cc][Oo][Nn][Ss][Tt][Rr][Aa][Ii][Nn][Tt]%s+%S+%s+", "")
    if s:match("^[CcFf]") then return s end
  end
  return KIND[def.contype] .. " (...)"
end

return {
  id = ID, severity = "error",
  summary = "CHECK or FOREIGN KEY added without NOT VALID scans the table under lock",
  tags = { "AlterDomainStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    local d = t.def
    if t.subtype ~= "C" or not d or d.contype ~= "CONSTR_CHECK" or d.skip_validation then return end
    if u.shared.new_types[ast.last(t.typeName)] then return end
    local dom = ast.names(t.typeName)
    u:report(stmt, ID, { effect = "none",
      message = string.format("ALTER DOMAIN %s ADD CONSTRAINT checks every column of type %s " ..
        "in every table, holding locks on each while it scans", dom, dom),
      fix = string.format("ALTER DOMAIN %s ADD CONSTRAINT %s CHECK (...) NOT VALID;\n" ..
        "ALTER DOMAIN %s VALIDATE CONSTRAINT %s;  -- in its own transaction", dom,
        d.conname or "<name>", dom, d.conname or "<name>") })
  end,
  cmds = { "AT_AddConstraint", "AT_AddColumn" },
  check_cmd = function(stmt, u, cmd, i)
    local t = stmt.tree
    local rel = stmt.rel
    local relsql = ast.rel_sql(t.relation)
    local def = cmd.def
    if not def then return end
    if cmd.subtype == "AT_AddConstraint" then
      if not KIND[def.contype] or def.skip_validation then return end
      local fk = def.contype == "CONSTR_FOREIGN"
      local name = def.conname or (fk and (rel .. "_fkey") or (rel .. "_check"))
      local msg
      if fk then
        msg = string.format("ADD CONSTRAINT %s FOREIGN KEY on %s checks every row of %s while " ..
          "holding SHARE ROW EXCLUSIVE on %s and %s: writes to both wait", def.conname or "",
          rel, rel, rel, ast.relname(def.pktable) or "the referenced table")
      else
        msg = string.format("ADD CONSTRAINT %s CHECK on %s scans every row of %s under ACCESS " ..
          "EXCLUSIVE: reads and writes wait", def.conname or "", rel, rel)
      end
      u:report(stmt, ID, { table = rel, effect = "validate",
        lock = fk and "ShareRowExclusive" or "AccessExclusive",
        message = (msg:gsub("  ", " ")),
        fix = two_step(u, relsql, ast.ident(name), constraint_sql(u, stmt, def, i == #t.cmds)) })
      return
    end
    for _, c in ipairs(ast.constraints(def)) do
      if KIND[c.contype] and not c.skip_validation then
        local fk = c.contype == "CONSTR_FOREIGN"
        local tsql = (ast.type(def.typeName) or { text = "?" }).text
        local body = fk and string.format("FOREIGN KEY (%s) REFERENCES %s%s", ast.ident(def.colname),
            ast.rel_sql(c.pktable), c.pk_attrs and ("(" .. table.concat(c.pk_attrs, ", ") .. ")") or "")
          or "CHECK (...)"
        u:report(stmt, ID, { table = rel, effect = "validate",
          lock = fk and "ShareRowExclusive" or "AccessExclusive",
          message = string.format("ADD COLUMN %s with %s on %s validates it against every row " ..
            "of %s while holding the lock", def.colname, KIND[c.contype], rel, rel),
          fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;\n", relsql, ast.ident(def.colname), tsql) ..
            two_step(u, relsql, ast.ident(c.conname or (rel .. "_" .. def.colname ..
              (fk and "_fkey" or "_check"))), body) })
      end
    end
  end,
}
