--- prefer-text-field: varchar(n) stores the same as text; raising the limit later is an
-- ALTER under ACCESS EXCLUSIVE, and shortening it a rewrite. text with a CHECK is changed
-- with NOT VALID + VALIDATE instead.
local ast = require "migrun.lint.ast"

local ID = "prefer-text-field"

return {
  id = ID, severity = "warning",
  summary = "varchar(n): use text with a CHECK",
  types = { "varchar" },
  check_column = function(stmt, u, c)
    local ty = c.type
    if ty and ty.name == "varchar" and #ty.mods > 0 then
      u:report(stmt, ID, { table = c.rel, effect = "none",
        message = string.format("%s.%s is %s: the limit is the only difference from text, and " ..
          "changing it later takes ACCESS EXCLUSIVE (shortening it rewrites the table)", c.rel,
          c.col, ty.text),
        fix = ast.column_fix(c, "text") .. string.format(", CONSTRAINT %s CHECK (length(%s) <= %s)",
          ast.ident(c.rel .. "_" .. c.col .. "_length"), ast.ident(c.col), tostring(ty.mods[1])) })
    end
  end,
}
