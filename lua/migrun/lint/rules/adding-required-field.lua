--- adding-required-field: ADD COLUMN ... NOT NULL without a DEFAULT fails on a table with
-- rows, and breaks running code that inserts without the column.
local ast = require "migrun.lint.ast"

local ID = "adding-required-field"

local SERIAL = { serial = true, serial2 = true, serial4 = true, serial8 = true, smallserial = true,
                 bigserial = true }

return {
  id = ID, severity = "error",
  summary = "ADD COLUMN NOT NULL without a DEFAULT",
  cmds = { "AT_AddColumn" },
  check_cmd = function(stmt, u, cmd)
    local def = cmd.def
    if not def then return end
    local notnull, default, generated = false, false, false
    for _, c in ipairs(ast.constraints(def)) do
      local ct = c.contype
      if ct == "CONSTR_NOTNULL" or ct == "CONSTR_PRIMARY" then notnull = true end
      if ct == "CONSTR_DEFAULT" and not (c.raw_expr and c.raw_expr.tag == "A_Const" and c.raw_expr.isnull) then
        default = true
      end
      if ct == "CONSTR_GENERATED" or ct == "CONSTR_IDENTITY" then generated = true end
    end
    if not notnull or default or generated then return end
    local ty = ast.type(def.typeName) or { name = "?", text = "?" }
    if SERIAL[ty.name] then return end
    local rel = stmt.rel
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("ADD COLUMN %s %s NOT NULL without a DEFAULT: it fails if %s " ..
        "has rows, and inserts from running code that does not set %s fail", def.colname,
        ty.text, rel, def.colname),
      fix = string.format("ALTER TABLE %s ADD COLUMN %s %s DEFAULT <value> NOT NULL;  -- a " ..
        "constant default is free from PostgreSQL 11\n-- or: add it nullable, backfill, then " ..
        "a CHECK (%s IS NOT NULL) NOT VALID + VALIDATE + SET NOT NULL", ast.rel_sql(stmt.tree.relation),
        ast.ident(def.colname), ty.text, ast.ident(def.colname)) })
  end,
}
