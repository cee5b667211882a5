--- require-unique-using-index: ADD UNIQUE / PRIMARY KEY builds its index under ACCESS
-- EXCLUSIVE; build the index CONCURRENTLY first and attach it with USING INDEX.
local ast = require "migrun.lint.ast"

local ID = "require-unique-using-index"

local function fix_for(u, t, kind, name, cols)
  local rel = ast.rel_sql(t.relation)
  local idx = name or (ast.relname(t.relation) .. "_" .. table.concat(cols, "_") ..
                       (kind == "PRIMARY KEY" and "_pkey" or "_key"))
  local colsql = {}
  for i, c in ipairs(cols) do colsql[i] = ast.ident(c) end
  return string.format("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s);%s\n" ..
    "ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s;", ast.ident(idx), rel,
    table.concat(colsql, ", "), u.playbook and "  -- a phase with transaction = false" or "",
    rel, ast.ident(idx), kind, ast.ident(idx))
end

return {
  id = ID, severity = "error",
  summary = "UNIQUE or PRIMARY KEY constraint built in place instead of USING INDEX",
  cmds = { "AT_AddConstraint", "AT_AddColumn" },
  check_cmd = function(stmt, u, cmd)
    local t = stmt.tree
    local rel = stmt.rel
    local def = cmd.def
    if not def then return end
    if cmd.subtype == "AT_AddConstraint" then
      if not (def.contype == "CONSTR_UNIQUE" or def.contype == "CONSTR_PRIMARY") or def.indexname then
        return
      end
      local kind = def.contype == "CONSTR_PRIMARY" and "PRIMARY KEY" or "UNIQUE"
      local cols = {}
      for k, key in ipairs(ast.list(def.keys)) do cols[k] = key end
      u:report(stmt, ID, { table = rel, effect = "build", lock = "AccessExclusive",
        message = string.format("ADD %s (%s) on %s builds its index under ACCESS EXCLUSIVE: " ..
          "reads and writes of %s wait for the whole build", kind, table.concat(cols, ", "), rel, rel),
        fix = fix_for(u, t, kind, def.conname, cols) })
      return
    end
    for _, c in ipairs(ast.constraints(def)) do
      if c.contype == "CONSTR_UNIQUE" or c.contype == "CONSTR_PRIMARY" then
        local kind = c.contype == "CONSTR_PRIMARY" and "PRIMARY KEY" or "UNIQUE"
        u:report(stmt, ID, { table = rel, effect = "build", lock = "AccessExclusive",
          message = string.format("ADD COLUMN %s %s on %s builds the index under ACCESS " ..
            "EXCLUSIVE: reads and writes of %s wait for the whole build", def.colname, kind, rel, rel),
          fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;\n", ast.rel_sql(t.relation),
            ast.ident(def.colname), (ast.type(def.typeName) or { text = "?" }).text) ..
            fix_for(u, t, kind, c.conname, { def.colname }) })
      end
    end
  end,
}
