--- set-not-null: SET NOT NULL scans the whole table under ACCESS EXCLUSIVE, unless (from
-- PostgreSQL 12) a validated CHECK (col IS NOT NULL) already proves it. ADD PRIMARY KEY
-- USING INDEX on a nullable column sets NOT NULL implicitly, with the same scan.
local ast = require "migrun.lint.ast"

local ID = "set-not-null"

local proven = ast.not_null_proven

local function fix_for(u, t, col)
  local rel = ast.rel_sql(t.relation)
  local name = ast.ident(ast.relname(t.relation) .. "_" .. col .. "_not_null")
  if u.pg_version < 120000 then
    return string.format("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID;\n" ..
      "ALTER TABLE %s VALIDATE CONSTRAINT %s;  -- own transaction; keep the CHECK instead of " ..
      "NOT NULL before PostgreSQL 12", rel, name, ast.ident(col), rel, name)
  end
  return string.format("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID;\n" ..
    "%s\nALTER TABLE %s VALIDATE CONSTRAINT %s;\nALTER TABLE %s ALTER COLUMN %s SET NOT NULL;  " ..
    "-- uses the validated CHECK: no scan\nALTER TABLE %s DROP CONSTRAINT %s;", rel, name,
    ast.ident(col), u.playbook and "-- next phase:" or "-- then, in its own transaction:",
    rel, name, rel, ast.ident(col), rel, name)
end

return {
  id = ID, severity = "error",
  summary = "SET NOT NULL without a validated CHECK scans the table under ACCESS EXCLUSIVE",
  cmds = { "AT_SetNotNull", "AT_AddConstraint" },
  check_cmd = function(stmt, u, cmd)
    local t = stmt.tree
    local rel = stmt.rel
    local info = u:table(rel)
    if cmd.subtype == "AT_SetNotNull" then
      local col = cmd.name
      local known = info and info.columns and info.columns[col]
      if (known and known.notnull) or proven(u, info, col) then return end
      u:report(stmt, ID, { table = rel, effect = "scan", lock = "AccessExclusive",
        message = string.format("SET NOT NULL on %s.%s scans every row of %s under ACCESS " ..
          "EXCLUSIVE: reads and writes wait%s", rel, col, rel,
          u.pg_version < 120000 and " (before PostgreSQL 12 even a validated CHECK does not help)" or ""),
        fix = fix_for(u, t, col) })
      return
    end
    local def = cmd.def
    if not (def and def.contype == "CONSTR_PRIMARY" and def.indexname) then return end
    local ix = u.shared.indexes[def.indexname]
    for _, col in ipairs(ix and ix.columns or {}) do
      local known = info and info.columns and info.columns[col]
      if known and not known.notnull and not proven(u, info, col) then
        u:report(stmt, ID, { table = rel, effect = "scan", lock = "AccessExclusive",
          message = string.format("PRIMARY KEY USING INDEX %s makes %s.%s NOT NULL: that " ..
            "scans every row of %s under ACCESS EXCLUSIVE", def.indexname, rel, col, rel),
          fix = fix_for(u, t, col) .. "\n-- then the PRIMARY KEY USING INDEX" })
        return
      end
    end
  end,
}
